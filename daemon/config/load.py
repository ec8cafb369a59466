"""Reading rules.yaml into a :class:`Config`: :func:`load_config`, or :class:`ConfigError`.

Every command validates the whole file first (DESIGN.md). Validation never
stops at the first problem: each section and each rule is checked on its own
and everything wrong is reported at once, as ``FILE:LINE: message`` lines on
:class:`ConfigError`. The environment overrides (``AUTOCANCEL_STORE_URL``,
``DUKKANGO_BASE_URL``) are applied here, after the file validated.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from daemon.config.error_messages import describe_value, problems_from
from daemon.config.models import (
    YAML_KEYS,
    ApiSettings,
    Calendar,
    Config,
    GeocoderSettings,
    HistorySettings,
    MetricsSettings,
    Restaurant,
    SafetySettings,
    ScheduleSettings,
    StoreSettings,
    SyncSettings,
    check_base_url,
    check_store_url,
)
from daemon.config.notifications import (
    NotificationSettings,
    channel_problems,
    unknown_channel_problems,
)
from daemon.config.restaurants_section import build_restaurants
from daemon.config.rules_section import build_rules
from daemon.config.yamlsource import YamlDocument, YamlSyntaxError, load_yaml, load_yaml_fast
from daemon.domain.problems import REJECTED, Problem, Severity, YamlPath
from rules import registry
from rules.validation import RestaurantFacts, ValidationContext

STORE_URL_ENV: Final = "AUTOCANCEL_STORE_URL"
BASE_URL_ENV: Final = "DUKKANGO_BASE_URL"

# Which YAML parser reads the file; see parse_config.
YamlLoader = Literal["auto", "libyaml", "reference"]


class ConfigError(Exception):
    """rules.yaml is unusable; ``errors`` holds one ``FILE:LINE: message`` per problem.

    ``salvaged`` is what still validated (see :class:`Salvaged`), for the
    commands that only read the store; None when not even the store is known.
    """

    def __init__(self, errors: Sequence[str], *, salvaged: Salvaged | None = None) -> None:
        self.errors = list(errors)
        self.salvaged = salvaged
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True, kw_only=True)
class Salvaged:
    """The parts of an invalid rules file that validated: never used to act.

    ``config`` has the valid sections, restaurants and rules; defaults stand
    in for the sections named in ``broken``, which a reader must not trust.
    """

    config: Config
    broken: frozenset[str]


SectionT = TypeVar("SectionT", bound=BaseModel)


def load_config(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    *,
    loader: YamlLoader = "auto",
) -> Config:
    """Read and validate a rules file; raise :class:`ConfigError` listing every problem."""
    source = Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [
                f"{source}: no such file; pass -c PATH or set AUTOCANCEL_CONFIG "
                "(the default is ./rules.yaml)"
            ]
        ) from None
    except IsADirectoryError:
        raise ConfigError([f"{source}: is a directory, not a rules file"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([f"{source}:{line}: not UTF-8 text; save the file as UTF-8"]) from None
    config = parse_config(
        text, source=source, environ=os.environ if environ is None else environ, loader=loader
    )
    return config.model_copy(update={"digest": hashlib.sha256(raw).hexdigest()})


def parse_config(
    text: str,
    *,
    source: Path,
    environ: Mapping[str, str] | None = None,
    loader: YamlLoader = "auto",
) -> Config:
    """Validate rules.yaml ``text``; ``source`` is only used to name and locate things.

    ``loader="auto"`` (what every command uses) parses with libyaml
    (:func:`load_yaml_fast`); a file libyaml cannot take, or one whose
    validation finds an error, is parsed again with the line-tracking
    reference loader and validated again, so every error, its words and its
    line, is the reference loader's. ``"reference"`` uses only that loader;
    ``"libyaml"`` reports from the libyaml document without the second parse
    (for the tests that compare the two, and the bench). Text libyaml cannot
    take goes to the reference loader whatever ``loader`` says.
    """
    environ = environ or {}
    fast = load_yaml_fast(text) if loader != "reference" else None
    if fast is not None:
        try:
            return _Validation(fast, source=source, environ=environ).run()
        except ConfigError:
            if loader == "libyaml":
                raise
            # reported below, from the reference loader
    try:
        document = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError([f"{source}:{exc.line}: {exc.message}"]) from None
    return _Validation(document, source=source, environ=environ).run()


def config_from_document(document: YamlDocument, *, source: Path) -> Config:
    """Validate an already parsed rules document (one embedded in another file).

    Every problem is reported as ``SOURCE:LINE: message`` with the document's
    own lines. No environment override applies: the document says it all.
    """
    return _Validation(document, source=source, environ={}).run()


def resolve_sqlite_url(url: str, *, base_dir: Path) -> str:
    """Make a relative SQLite path absolute against ``base_dir``; leave other URLs alone."""
    match = re.match(r"^(?P<scheme>sqlite(?:\+\w+)?):///(?P<rest>.*)$", url, flags=re.DOTALL)
    if match is None:
        return url
    path, separator, query = match["rest"].partition("?")
    if not path or path == ":memory:" or path.startswith(("/", "file:")):
        return url
    return f"{match['scheme']}:///{os.path.abspath(base_dir / path)}{separator}{query}"


class _Validation:
    """One validation run: collects every problem, then builds the Config or fails."""

    def __init__(self, document: YamlDocument, *, source: Path, environ: Mapping[str, str]) -> None:
        self.document = document
        self.source = source
        self.environ = environ
        self.problems: list[Problem] = list(document.problems)
        self.environment_errors: list[str] = []
        # Paths whose value failed validation; cross-check findings there are noise.
        self.broken: set[YamlPath] = set()

    def run(self) -> Config:
        data = self.document.data
        if data is REJECTED:
            raise ConfigError(self._format("error"))
        if data is None:
            raise ConfigError(
                [
                    f"{self.source}:1: the file is empty; start from the shipped, commented "
                    "rules.yaml"
                ]
            )
        if not isinstance(data, dict):
            line = self.document.line_of(())
            raise ConfigError(
                [
                    f"{self.source}:{line}: the top level must be a mapping of sections "
                    f"({', '.join(YAML_KEYS)}); got {describe_value(data)}"
                ]
            )
        for key in data:
            if key not in YAML_KEYS:
                self.problems.append(
                    Problem.error(
                        (key,),
                        f"unknown key '{key}' at the top level; valid keys: "
                        f"{', '.join(sorted(YAML_KEYS))}",
                        anchor="key",
                    )
                )
        store = self._section(data, "store", StoreSettings)
        api = self._section(data, "api", ApiSettings)
        schedule = self._section(data, "schedule", ScheduleSettings)
        safety = self._section(data, "safety", SafetySettings)
        sync = self._section(data, "sync", SyncSettings)
        metrics = self._section(data, "metrics", MetricsSettings)
        history = self._section(data, "history", HistorySettings)
        geocoder = None
        if data.get("geocoder") is not None:
            geocoder = self._section(data, "geocoder", GeocoderSettings)
        dry_run = self._dry_run(data)
        notifications = self._notifications(data)
        calendar = self._calendar(data)
        restaurants = self._restaurants(data)
        store, api = self._environment_overrides(store, api)
        if store is not None:
            base_dir = Path(os.path.abspath(self.source)).parent
            store = store.model_copy(
                update={"url": resolve_sqlite_url(store.url, base_dir=base_dir)}
            )

        placed_rules, rule_problems = build_rules(
            data.get("rules"), document=self.document, registry=registry
        )
        self.problems += rule_problems
        if not placed_rules and not rule_problems:
            self.problems.append(
                Problem.warning(
                    ("rules",),
                    "no rules configured; autocancel will watch orders but never cancel any",
                    anchor="key",
                )
            )
        rules = tuple(rule for _, rule in placed_rules)
        fields: dict[str, Any] = {
            "source": self.source,
            "store": store or StoreSettings(),
            "api": api or ApiSettings(),
            "schedule": schedule or ScheduleSettings(),
            "dry_run": bool(dry_run),
            "restaurants": tuple(r for r in restaurants or () if r is not None),
            "geocoder": geocoder,
            "safety": safety or SafetySettings(),
            "sync": sync or SyncSettings(),
            "metrics": metrics or MetricsSettings(),
            "history": history or HistorySettings(),
            "timezone": (calendar or Calendar()).timezone,
            "quiet_windows": (calendar or Calendar()).quiet_windows,
            "rules": rules,
            "notifications": notifications or NotificationSettings(),
        }
        # Cross-checks see the best configuration we have. A broken restaurant
        # keeps its place (so indices match the file) as a stand-in with
        # coordinates; findings pointing into anything broken would only repeat
        # its own errors, so they are dropped.
        geocoder = fields.get("geocoder")
        safety_settings = fields["safety"]
        setting = ValidationContext(
            restaurants=tuple(
                RestaurantFacts(
                    index=i,
                    display_name=r.display_name if r else f"#{i}",
                    has_coordinates=r.has_coordinates if r else True,
                )
                for i, r in enumerate(restaurants or ())
            ),
            geocoder_configured=geocoder is not None,
            max_plausible_km=safety_settings.max_plausible_km,
        )
        for at, rule in placed_rules:
            for problem in rule.validate_against(setting, at=at):
                if not any(problem.path[: len(bad)] == bad for bad in self.broken):
                    self.problems.append(problem)

        errors = self._format("error") + self.environment_errors
        if errors:
            raise ConfigError(errors, salvaged=self._salvage(fields, store is not None))
        warnings = tuple(self._format("warning"))
        return Config(**fields, warnings=warnings)

    def _salvage(self, fields: dict[str, Any], store_known: bool) -> Salvaged | None:
        """What validated, for read-only commands; None when the store itself is unknown."""
        if not store_known or self.environment_errors:
            return None
        broken = frozenset(
            str(problem.path[0])
            for problem in self.problems
            if problem.severity == "error" and problem.path
        ) | frozenset(str(path[0]) for path in self.broken if path)
        return Salvaged(config=Config.model_construct(**fields, warnings=()), broken=broken)

    # --- sections -----------------------------------------------------------

    def _section(self, data: dict[str, Any], name: str, model: type[SectionT]) -> SectionT | None:
        value = data.get(name)
        if value is None:  # absent, or every key commented out: the defaults
            return model.model_validate({})
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            self._fail((name,), problems_from(exc, document=self.document, at=(name,), model=model))
            return None

    def _notifications(self, data: dict[str, Any]) -> NotificationSettings | None:
        """The section, its channel names cross-checked, its URLs expanded and parsed."""
        section = self._section(data, "notifications", NotificationSettings)
        if section is None:
            return None
        found = unknown_channel_problems(section) + channel_problems(
            section, self.environ, base_dir=Path(os.path.abspath(self.source)).parent
        )
        if found:
            self.broken.add(("notifications",))
            self.problems += found
        return section

    def _dry_run(self, data: dict[str, Any]) -> bool | None:
        try:
            return TypeAdapter(bool).validate_python(data.get("dry_run", False), strict=True)
        except ValidationError as exc:
            at = ("dry_run",)
            self._fail(at, problems_from(exc, document=self.document, at=at, model=None))
            return None

    def _calendar(self, data: dict[str, Any]) -> Calendar | None:
        """``timezone`` and ``quiet_windows``, problems named by their own paths."""
        keys = [name for name in Calendar.model_fields if name in data]
        given = {name: data[name] for name in keys}
        if given.get("quiet_windows", ()) is None:  # every entry commented out
            del given["quiet_windows"]
        try:
            return Calendar.model_validate(given)
        except ValidationError as exc:
            for name in keys:
                self.broken.add((name,))
            self.problems += problems_from(exc, document=self.document, at=(), model=Calendar)
            return None

    def _restaurants(self, data: dict[str, Any]) -> tuple[Restaurant | None, ...] | None:
        section = build_restaurants(data.get("restaurants"), document=self.document)
        self.problems += section.problems
        self.broken |= section.broken
        return section.restaurants

    def _environment_overrides(
        self, store: StoreSettings | None, api: ApiSettings | None
    ) -> tuple[StoreSettings | None, ApiSettings | None]:
        # An empty value counts as unset, as systemd EnvironmentFile lines often are.
        if store_url := self.environ.get(STORE_URL_ENV, "").strip():
            try:
                store = StoreSettings.model_construct(url=check_store_url(store_url))
            except ValueError as exc:
                self.environment_errors.append(f"{STORE_URL_ENV} (environment) {exc}")
        if base_url := self.environ.get(BASE_URL_ENV, "").strip():
            try:
                checked = check_base_url(base_url)
            except ValueError as exc:
                self.environment_errors.append(f"{BASE_URL_ENV} (environment) {exc}")
            else:
                if api is not None:
                    api = api.model_copy(update={"base_url": checked})
        return store, api

    def _fail(self, path: YamlPath, problems: list[Problem]) -> None:
        self.broken.add(path)
        self.problems += problems

    # --- output -------------------------------------------------------------

    def _format(self, severity: Severity) -> list[str]:
        """``FILE:LINE: message`` lines of one severity, in file order."""
        located: list[tuple[int, int, str]] = []
        for order, problem in enumerate(self.problems):
            if problem.severity == severity:
                line = self.document.line_of(problem.path, anchor=problem.anchor)
                located.append((line, order, f"{self.source}:{line}: {problem.message}"))
        return [text for _, _, text in sorted(located)]
