"""Safe YAML loading that remembers where every key and value came from.

Operators fix rules.yaml from our error messages, so every message must name a
line. PyYAML's constructors throw the node marks away; we walk the composed
node tree ourselves instead, building plain Python data (dicts, lists,
strings, numbers, booleans, None) and, beside it, a map from each value's
path -- ``("rules", 2, "max_km")`` -- to the 1-based lines of its key and value.

Nothing in the file is ever executed: only the plain YAML tags are accepted,
and anything else (``!!python/object/apply:os.system`` and friends) becomes an
error line without being constructed. Scalars are resolved by
:class:`yaml.SafeLoader`'s own constructors, so ``yes``, ``0x1F`` and ``1_000``
mean what YAML 1.1 says they mean.

Two composers feed the same builder. :func:`load_yaml` is the reference: PyYAML's
pure-Python parser, whose marks and syntax-error texts every message is
written against. :func:`load_yaml_fast` composes with libyaml (``CSafeLoader``'s
parser, about 10x faster on a 1,000-restaurant file) when PyYAML has it, and
gives up -- returns None -- whenever its answer might not be the reference's:
no libyaml, line breaks other than ``\n`` and ``\r\n``, or any error from
libyaml. Callers validate the fast document and, when validation finds an
error, parse again with :func:`load_yaml` to report it (see
:func:`daemon.config.load.parse_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from daemon.domain.problems import REJECTED, Anchor, Problem, YamlPath, _Rejected, describe_path

_TAG_PREFIX: Final = "tag:yaml.org,2002:"
_PLAIN_SCALAR_TAGS: Final = frozenset(
    _TAG_PREFIX + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_MAP_TAG: Final = _TAG_PREFIX + "map"
_SEQ_TAG: Final = _TAG_PREFIX + "seq"
_MERGE_TAG: Final = _TAG_PREFIX + "merge"

# Aliases can make a tiny file expand into billions of values ("billion
# laughs"); a real rules file has a few hundred.
MAX_VALUES: Final = 100_000


class YamlSyntaxError(Exception):
    """The text is not YAML at all; nothing else can be checked."""

    def __init__(self, *, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class YamlDocument:
    """Plain data plus where each piece of it came from."""

    data: Any
    key_lines: Mapping[YamlPath, int]
    value_lines: Mapping[YamlPath, int]
    # The scalar text as written ("05321234567", "yes"), for messages that must
    # show what the operator typed rather than what YAML 1.1 made of it.
    scalar_texts: Mapping[YamlPath, str]
    # Found while building (duplicate keys, refused tags); the data is still usable.
    problems: tuple[Problem, ...] = ()
    # Paths whose value was refused; validation findings at or below them are noise.
    rejected: frozenset[YamlPath] = field(default_factory=frozenset)

    def line_of(self, path: YamlPath, *, anchor: Anchor = "value") -> int:
        """The line of ``path``, or of its nearest ancestor the file mentions."""
        lines = self.key_lines if anchor == "key" else self.value_lines
        for end in range(len(path), -1, -1):
            line = lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def text_of(self, path: YamlPath) -> str | None:
        return self.scalar_texts.get(path)

    def is_rejected(self, path: YamlPath) -> bool:
        return any(path[: len(bad)] == bad for bad in self.rejected)

    def subdocument(self, at: YamlPath, data: Any) -> YamlDocument:
        """The part of this document at ``at`` (whose built value is ``data``), as a document.

        Paths are relative to ``at`` and lines stay those of the whole file, so
        a document embedded in another (a test file's ``config:``) is validated
        like a file of its own and reported at the lines where it was written.
        """
        size = len(at)

        def inside(lines: Mapping[YamlPath, Any]) -> dict[YamlPath, Any]:
            return {path[size:]: line for path, line in lines.items() if path[:size] == at}

        return YamlDocument(
            data=data,
            key_lines=inside(self.key_lines),
            value_lines=inside(self.value_lines),
            scalar_texts=inside(self.scalar_texts),
            problems=tuple(
                Problem(p.path[size:], p.message, p.severity, p.anchor)
                for p in self.problems
                if p.path[:size] == at
            ),
            rejected=frozenset(path[size:] for path in self.rejected if path[:size] == at),
        )


class _Loader(yaml.SafeLoader):
    """Our own subclass, so nothing we do can leak into the global SafeLoader."""


# libyaml's parser with SafeLoader's constructors; None when PyYAML was built without it.
_CLoader: type[yaml.CSafeLoader] | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _FastLoader(yaml.CSafeLoader):
        """Our own subclass, as :class:`_Loader`."""

    _CLoader = _FastLoader


def fast_loader_available() -> bool:
    """Whether :func:`load_yaml_fast` can answer at all (PyYAML built with libyaml)."""
    return _CLoader is not None


# Line breaks PyYAML's reader counts but whose handling by libyaml we do not
# rely on (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR; a lone \r is checked
# apart): text with any of them takes the reference loader.
_UNUSUAL_BREAKS: Final = ("\x85", "\u2028", "\u2029")


def load_yaml(text: str) -> YamlDocument:
    """Parse ``text`` safely. Raises :class:`YamlSyntaxError` if it is not YAML."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text) from None
    except yaml.YAMLError as exc:  # ReaderError: bytes YAML may not contain
        raise YamlSyntaxError(line=_reader_line(exc, text), message=str(exc)) from None
    except RecursionError:
        raise YamlSyntaxError(line=1, message="the document is nested too deeply") from None
    finally:
        loader.dispose()
    return _document(root, loader)


def load_yaml_fast(text: str) -> YamlDocument | None:
    """Parse ``text`` with libyaml; None when only :func:`load_yaml` can answer for it.

    The nodes libyaml composes carry the same marks, so the document (data, line
    maps, texts, problems) is the one :func:`load_yaml` builds. None -- use
    :func:`load_yaml` -- when libyaml is missing, the text has unusual line
    breaks, or libyaml raises anything at all: syntax errors are reported in
    the reference loader's words and lines, never in libyaml's.
    """
    if _CLoader is None or any(brk in text for brk in _UNUSUAL_BREAKS):
        return None
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None  # lone carriage returns (old Mac files): the reference loader
    loader = _CLoader(text)
    try:
        root = loader.get_single_node()
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    finally:
        loader.dispose()
    try:
        return _document(root, loader)
    except YamlSyntaxError:  # too many values, nested too deeply: in the reference's words
        return None


def _document(root: Node | None, loader: yaml.constructor.SafeConstructor) -> YamlDocument:
    if root is None:
        return YamlDocument(data=None, key_lines={}, value_lines={}, scalar_texts={})
    builder = _Builder(loader)
    try:
        data = builder.build(root, ())
    except RecursionError:
        raise YamlSyntaxError(
            line=root.start_mark.line + 1, message="the document is nested too deeply"
        ) from None
    return YamlDocument(
        data=data,
        key_lines=builder.key_lines,
        value_lines=builder.value_lines,
        scalar_texts=builder.scalar_texts,
        problems=tuple(builder.problems),
        rejected=frozenset(builder.rejected),
    )


def _syntax_error(exc: yaml.MarkedYAMLError, text: str) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = f"YAML syntax error: {exc.problem or exc.context or 'unreadable'}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    if "\\t" in message or "\t" in message:
        message += "; indent with spaces, YAML does not allow tabs"
    return YamlSyntaxError(line=line, message=message)


def _reader_line(exc: yaml.YAMLError, text: str) -> int:
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        return text.count("\n", 0, position) + 1
    return 1


class _Builder:
    """Turns a composed node tree into plain data plus line maps."""

    def __init__(self, loader: yaml.constructor.SafeConstructor) -> None:
        self._loader = loader
        self._budget = MAX_VALUES
        self._open: set[int] = set()  # nodes being built: an alias back to one is a loop
        self.key_lines: dict[YamlPath, int] = {}
        self.value_lines: dict[YamlPath, int] = {}
        self.scalar_texts: dict[YamlPath, str] = {}
        self.problems: list[Problem] = []
        self.rejected: set[YamlPath] = set()

    def build(self, node: Node, path: YamlPath) -> Any:
        self._budget -= 1
        if self._budget < 0:
            raise YamlSyntaxError(
                line=node.start_mark.line + 1,
                message=f"the document expands to more than {MAX_VALUES} values "
                "(aliases referring to aliases?)",
            )
        self.value_lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self._open:
            return self._reject(path, "an alias refers to the value that contains it")
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        self._open.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, path)
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
        finally:
            self._open.discard(id(node))
        return self._reject(path, f"unsupported YAML node {type(node).__name__}")

    def _reject(self, path: YamlPath, message: str) -> _Rejected:
        self.problems.append(Problem.error(path, message))
        self.rejected.add(path)
        return REJECTED

    def _reject_tag(self, node: Node, path: YamlPath) -> _Rejected:
        return self._reject(
            path,
            f"unsupported YAML tag '{short_tag(node.tag)}' at {describe_path(path)}: "
            "rules.yaml holds plain data only (text, numbers, true/false, lists, "
            "mappings); remove the tag",
        )

    def _scalar(self, node: ScalarNode, path: YamlPath) -> Any:
        if node.tag not in _PLAIN_SCALAR_TAGS:
            return self._reject_tag(node, path)
        self.scalar_texts[path] = node.value
        try:
            return self._loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:  # e.g. "!!int abc"
            return self._reject(path, f"{describe_path(path)}: cannot read {node.value!r}: {exc}")

    def _sequence(self, node: SequenceNode, path: YamlPath) -> Any:
        if node.tag != _SEQ_TAG:
            return self._reject_tag(node, path)
        items: list[Any] = []
        for index, child in enumerate(node.value):
            child_path = (*path, index)
            self.key_lines.setdefault(child_path, child.start_mark.line + 1)
            items.append(self.build(child, child_path))
        return items

    def _mapping(self, node: MappingNode, path: YamlPath) -> Any:
        if node.tag != _MAP_TAG:
            return self._reject_tag(node, path)
        result: dict[str, Any] = {}
        # Merged keys first, whatever their position, so the mapping's own keys
        # (values and lines) always override them.
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(value_node, path, result)
        own: dict[str, int] = {}  # key -> line, for duplicate detection
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag not in _PLAIN_SCALAR_TAGS:
                where = (*path, f"<key at line {key_node.start_mark.line + 1}>")
                self.key_lines[where] = self.value_lines[where] = key_node.start_mark.line + 1
                self.problems.append(
                    Problem.error(where, f"{describe_path(path)}: keys must be plain words")
                )
                continue
            # Keys are compared as written: rules.yaml keys are all words, and a
            # key like `on` must not silently turn into the boolean true.
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            child_path = (*path, key)
            if key in own:
                self.problems.append(
                    Problem.error(
                        child_path,
                        f"duplicate key '{key}' in {describe_path(path)} (first at line "
                        f"{own[key]}); YAML would silently keep only the last one, "
                        "so remove one of them",
                        anchor="key",
                    )
                )
            if key in result:  # a duplicate or a merged key: the later one wins, lines too
                self._forget(child_path)
            own[key] = line
            self.key_lines[child_path] = line
            result[key] = self.build(value_node, child_path)
        return result

    def _merge(self, value_node: Node, path: YamlPath, result: dict[str, Any]) -> None:
        """``<<: *defaults``: merged keys come first; the mapping's own keys override."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            merged = self.build(source, path) if isinstance(source, MappingNode) else None
            if not isinstance(merged, dict):
                self._reject(path, f"{describe_path(path)}: '<<' must merge a mapping")
                continue
            for key, value in merged.items():
                result.setdefault(key, value)

    def _forget(self, path: YamlPath) -> None:
        """Drop what an earlier (duplicate or merged) value recorded at or below ``path``."""
        for lines in (self.key_lines, self.value_lines, self.scalar_texts):
            for known in [p for p in lines if p[: len(path)] == path]:
                del lines[known]


def short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag
