"""What became of a food deactivation or a restaurant closure: one ``ActionResult`` each.

Each result is logged as it is made, in one ``action=... target=... outcome=...``
line with the names an operator knows the target by; a dry-run note only the
first time it is news (see :mod:`daemon.engine.decisionlog`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from daemon.domain.actions import (
    CloseRestaurant,
    DeactivateFood,
    ReactivateFood,
    ReopenRestaurant,
    RestaurantAction,
)
from daemon.domain.apierrors import ApiErrorCode
from daemon.engine import decisionlog
from daemon.store.names import Names

if TYPE_CHECKING:  # a dry run reports actions without loading the HTTP client
    from daemon.dukkango.executor import Attempted

# The package's name, as in the journal before it was split (see __init__).
log = logging.getLogger(__package__)

# staff_reopened: the daemon noticed staff had opened a restaurant it held
# closed, and ended its closure (no call of ours; daemon.domain.overrides).
ActionKind = Literal[
    "close_restaurant", "reopen_restaurant", "deactivate_food", "reactivate_food", "staff_reopened"
]
# Every action a pass may take on the platform besides cancelling orders.
Action = DeactivateFood | ReactivateFood | RestaurantAction


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: ActionKind
    target: str
    rule: str
    mode: str
    outcome: str  # done, failed, would_do, skipped
    detail: str = ""
    # What the operator knows the target by: "Akat Şube (8f2b…)", "Ayran (food 3) at ...".
    label: str = ""
    error_code: ApiErrorCode | None = None  # why it failed, beside ``detail``'s words
    # Failed as far as we know, but the answer was lost and could not be read
    # back: the platform may have carried it out (never reported as done).
    uncertain: bool = False
    trigger: str = ""  # why a food goes back on sale: back_in_stock, snooze, manual

    @classmethod
    def dry_run(cls, action: Action, names: Names | None = None) -> ActionResult:
        names = names or Names()
        kind, target = _describe(action)
        if decisionlog.dry_run_is_news(kind, target, action.rule):
            log.info(
                "action=%s target=%s%s rule=%s%s mode=dry_run outcome=would_do",
                kind,
                target,
                _name_fields(action, names),
                action.rule,
                _trigger_field(action),
            )
        return cls(
            kind,
            target,
            action.rule,
            "dry_run",
            "would_do",
            label=_label(action, names),
            trigger=_trigger(action),
        )

    @classmethod
    def live(
        cls,
        action: Action,
        attempted: Attempted,
        names: Names,
        *,
        uncertain: bool = False,
    ) -> ActionResult:
        """The call was made: done or failed, as ``attempted`` says (``uncertain``: maybe done)."""
        kind, target = _describe(action)
        outcome = "done" if attempted.ok else "failed"
        # A closure stops every sale of the restaurant: it is never routine news.
        level = logging.WARNING if not attempted.ok or kind == "close_restaurant" else logging.INFO
        log.log(
            level,
            "action=%s target=%s%s rule=%s%s%s mode=live outcome=%s attempts=%d%s%s",
            kind,
            target,
            _name_fields(action, names),
            action.rule,
            _by_field(action),
            _trigger_field(action),
            outcome,
            attempted.attempts,
            f" error={attempted.error_text!r}" if attempted.error_text else "",
            " may_have_acted=true" if uncertain else "",
        )
        return cls(
            kind,
            target,
            action.rule,
            "live",
            outcome,
            attempted.error_text or "",
            label=_label(action, names),
            error_code=attempted.error_code,
            trigger=_trigger(action),
            uncertain=uncertain,
        )

    @classmethod
    def staff_reopened(cls, action: ReopenRestaurant, names: Names) -> ActionResult:
        """Staff opened the restaurant on Dükkango: our closure was ended (logged by the caller)."""
        return cls(
            "staff_reopened",
            action.restaurant_id,
            action.rule,
            "live",
            "done",
            "opened by staff on Dükkango; the closure is ended",
            label=_label(action, names),
        )

    @classmethod
    def settled(cls, action: ReopenRestaurant, why: str, names: Names) -> ActionResult:
        """A reopen whose answer was lost went through after all (a later read says so)."""
        return cls(
            "reopen_restaurant",
            action.restaurant_id,
            action.rule,
            "live",
            "done",
            why,
            label=_label(action, names),
        )

    @classmethod
    def skipped(cls, action: Action, why: str, names: Names) -> ActionResult:
        """No call made: the platform already shows the state the action wanted, or the
        re-check right before the call found it no longer wanted."""
        kind, target = _describe(action)
        return cls(
            kind,
            target,
            action.rule,
            "live",
            "skipped",
            why,
            label=_label(action, names),
            trigger=_trigger(action),
        )

    @property
    def shown_target(self) -> str:
        return self.label or self.target


def _describe(action: Action) -> tuple[ActionKind, str]:
    if isinstance(action, DeactivateFood):
        return "deactivate_food", str(action.food_id)
    if isinstance(action, ReactivateFood):
        return "reactivate_food", str(action.food_id)
    if isinstance(action, CloseRestaurant):
        return "close_restaurant", action.restaurant_id
    return "reopen_restaurant", action.restaurant_id


def _trigger(action: Action) -> str:
    return action.trigger if isinstance(action, ReactivateFood) else ""


def _trigger_field(action: Action) -> str:
    """`` trigger=back_in_stock`` for a reactivation's log line; "" otherwise."""
    trigger = _trigger(action)
    return f" trigger={trigger}" if trigger else ""


def _label(action: Action, names: Names) -> str:
    if isinstance(action, (DeactivateFood, ReactivateFood)):
        food = names.food(action.food_id)
        return f"{food} at {names.restaurant(action.restaurant_id)}"
    return names.restaurant(action.restaurant_id)


def _name_fields(action: Action, names: Names) -> str:
    """`` name='Akat Şube'`` (and the restaurant of a food) for a log line; "" when unknown."""
    fields = []
    if isinstance(action, (DeactivateFood, ReactivateFood)):
        fields.append(("name", names.food_name(action.food_id)))
        fields.append(("restaurant", names.restaurant_name(action.restaurant_id)))
    else:
        fields.append(("name", names.restaurant_name(action.restaurant_id)))
    return "".join(f" {key}={value!r}" for key, value in fields if value)


def _by_field(action: Action) -> str:
    """`` by='Ayşe'`` for an operator's reopen; "" for the rule's own actions."""
    by = action.by if isinstance(action, ReopenRestaurant) else None
    return f" by={by!r}" if by else ""
