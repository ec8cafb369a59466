"""What a reload of rules.yaml changed, setting by setting, and who applies it.

:func:`changes` compares two validated configurations and returns one
:class:`Change` per setting, with its old and new value, worded as an
operator reads it (``overloaded: min_closed_minutes 10 -> 0``,
``sync.enabled false -> true``, ``rule added: too-far``). Each change names
its top-level ``section``: the daemon decides by that code, never by the
wording, what to re-apply (a new pass runner, the sync job, the metrics
server), and logs a WARNING for any section that only a restart applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel

from daemon.config.models import Config, Restaurant
from daemon.domain.redaction import looks_secret
from daemon.store.connect import describe_url

# Read afresh by every pass: a new PassRunner (store engine, API client,
# rules, restaurants, geocoder, safety limits, time zone and quiet windows,
# mode) applies them.
APPLIED_BY_NEW_RUNNER: Final = frozenset(
    {
        "store",
        "api",
        "dry_run",
        "restaurants",
        "geocoder",
        "safety",
        "timezone",
        "quiet_windows",
        "rules",
        # The pass runner records the order history and prunes it.
        "history",
    }
)
# Applied by the daemon itself: the pass interval, the sync job, the metrics server.
APPLIED_BY_DAEMON: Final = frozenset({"schedule", "sync", "metrics", "notifications"})
# Sections read once at start. None today; a new section lands here (and is
# named at WARNING on reload) until the daemon learns to apply it.
NEEDS_RESTART: Final[frozenset[str]] = frozenset()

ChangeKind = Literal["changed", "added", "removed"]
HIDDEN: Final = "***"


@dataclass(frozen=True, kw_only=True)
class Change:
    section: str  # the top-level rules.yaml key: what the daemon acts on
    setting: str  # what the operator reads: "sync.enabled", "overloaded: min_closed_minutes"
    before: Any = None
    after: Any = None
    kind: ChangeKind = "changed"

    def describe(self) -> str:
        if self.kind == "added":
            return f"{self.setting} added: {show(self.after)}"
        if self.kind == "removed":
            return f"{self.setting} removed: {show(self.before)}"
        return f"{self.setting} {show(self.before)} -> {show(self.after)}"


def needing_restart(found: Iterable[Change]) -> list[Change]:
    """The changes this daemon cannot apply while it runs."""
    applied = APPLIED_BY_NEW_RUNNER | APPLIED_BY_DAEMON
    return [change for change in found if change.section not in applied]


_WORDS: Final[dict[Any, str]] = {None: "none", True: "true", False: "false", "": "''"}


def show(value: Any) -> str:
    """A value as it would be written in rules.yaml (true, none, 15, [1, 2])."""
    if isinstance(value, bool | str | None):
        return _WORDS.get(value, str(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple | frozenset | set):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {show(item)}" for key, item in value.items()) + "}"
    return str(value)


def _plain(value: Any) -> Any:
    """Models become dicts, tuples lists: values that compare and print the same way."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def _hide_secrets(value: Any) -> Any:
    """Values under secret-looking names (a geocoder's api_key) never reach the log."""
    if isinstance(value, Mapping):
        return {
            key: HIDDEN if looks_secret(str(key)) else _hide_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hide_secrets(item) for item in value]
    return value


def _leaf(setting: str) -> str:
    """The last name of a setting: "geocoder.options.api_key" -> "api_key"."""
    return re.split(r"\.|: ", setting)[-1]


def _displayed(setting: str, value: Any) -> Any:
    if value is not None and looks_secret(_leaf(setting)):
        return HIDDEN
    if setting.startswith("notifications.") and _leaf(setting) in ("urls", "url"):
        return HIDDEN  # a channel URL may hold a secret written in clear
    if setting == "store.url" and isinstance(value, str):
        return describe_url(value)  # never a password
    return _hide_secrets(value)


def _field_changes(
    section: str, setting: str, before: Any, after: Any, *, separator: str = "."
) -> list[Change]:
    """Changes of one value; mappings on both sides are compared key by key."""
    if before == after:
        return []
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        found = []
        for key in dict.fromkeys([*before, *after]):
            found += _field_changes(
                section, f"{setting}{separator}{key}", before.get(key), after.get(key)
            )
        return found
    return [
        Change(
            section=section,
            setting=setting,
            before=_displayed(setting, before),
            after=_displayed(setting, after),
        )
    ]


def _rule_changes(old: Config, new: Config) -> list[Change]:
    before = {rule.name: rule.model_dump() for rule in old.rules}
    after = {rule.name: rule.model_dump() for rule in new.rules}
    found = [
        Change(section="rules", setting="rule", after=name, kind="added")
        for name in after
        if name not in before
    ]
    found += [
        Change(section="rules", setting="rule", before=name, kind="removed")
        for name in before
        if name not in after
    ]
    for name, dump in after.items():
        if name in before:
            for key in dict.fromkeys([*before[name], *dump]):
                found += _field_changes(
                    "rules", f"{name}: {key}", before[name].get(key), dump.get(key)
                )
    # The first matching rule decides: the order of the rules kept is a setting too.
    kept_before = [name for name in before if name in after]
    kept_after = [name for name in after if name in before]
    if kept_before != kept_after:
        found.append(
            Change(section="rules", setting="rules order", before=kept_before, after=kept_after)
        )
    return found


def _restaurant_label(restaurant: Restaurant) -> str:
    return f"{restaurant.name} ({restaurant.id})" if restaurant.name else restaurant.id


def _restaurant_changes(old: Sequence[Restaurant], new: Sequence[Restaurant]) -> list[Change]:
    before = {r.id: r for r in old}
    after = {r.id: r for r in new}
    found = [
        Change(
            section="restaurants", setting="restaurant", after=_restaurant_label(r), kind="added"
        )
        for rid, r in after.items()
        if rid not in before
    ]
    found += [
        Change(
            section="restaurants", setting="restaurant", before=_restaurant_label(r), kind="removed"
        )
        for rid, r in before.items()
        if rid not in after
    ]
    for rid, restaurant in after.items():
        if rid in before:
            found += _field_changes(
                "restaurants",
                f"restaurant {restaurant.display_name}",
                before[rid].model_dump(),
                restaurant.model_dump(),
                separator=": ",
            )
    return found


def changes(old: Config, new: Config) -> list[Change]:
    """Every setting that differs between ``old`` and ``new``, in file order."""
    found: list[Change] = []
    for section in Config.model_fields:
        if section in ("source", "warnings", "digest"):
            continue
        if section == "rules":
            found += _rule_changes(old, new)
        elif section == "restaurants":
            found += _restaurant_changes(old.restaurants, new.restaurants)
        else:
            found += _field_changes(
                section, section, _plain(getattr(old, section)), _plain(getattr(new, section))
            )
    return found
