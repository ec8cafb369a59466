"""What every rule shares: its common fields, its checks against the file, the registry.

rules.yaml's ``FILE:LINE`` rendering of these problems is tested in
tests/test_config.py; here is what each rule itself accepts and says.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from daemon.domain.problems import YamlPath
from rules import registry
from rules.base import Rule, describe_rule
from rules.congestion import CongestionRule
from rules.ordering import order_problems
from rules.out_of_stock import OutOfStockRule
from rules.payment_failed import PaymentFailedRule
from rules.registry import RuleRegistry
from rules.validation import ValidationContext
from rules.verdict import VerdictKind
from tests.unit.builders import OVERLOADED, PAYMENT, context, order

# --- the common fields ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "message"),
    [
        ([1, 5], "5 (delivered) orders are never cancelable; list only 1 (received), "
         "2 (confirmed), 16 (in delivery)"),
        ([6], "6 (canceled) orders are never cancelable"),
        ([3], "3 is not an order status; list only 1 (received)"),
        ([1, 2, 1, 2, 16], "lists 1, 2 more than once; list each status once"),
        ([], "at least 1 item"),
    ],
)  # fmt: skip
def test_statuses_may_list_only_cancelable_statuses_once(statuses: list[int], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        PaymentFailedRule.model_validate(
            {"name": "payment-failed", "reason_id": 7, "statuses": statuses}
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "must not be blank"),
        ({"kind": "congestion"}, "must be 'payment_failed' for PaymentFailedRule"),
        ({"reason_id": "7"}, "Input should be a valid integer"),  # the customer is told it
        ({"reason_id": 9}, "less than or equal to 8"),
        ({"reason_id": 0}, "greater than or equal to 1"),
        ({"surprise": True}, "Extra inputs are not permitted"),
    ],
)
def test_a_rule_refuses_what_it_cannot_mean(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PaymentFailedRule.model_validate({"name": "payment-failed", "reason_id": 7, **fields})


def test_a_rule_built_in_code_fills_in_its_kind_and_names_itself() -> None:
    assert (PAYMENT.kind, PAYMENT.label) == ("payment_failed", "payment-failed (payment_failed)")
    assert PAYMENT.statuses == (1, 2)
    assert PAYMENT.allows_status(2) and not PAYMENT.allows_status(16)


def test_a_kind_without_evaluate_says_so_instead_of_deciding() -> None:
    bare = Rule(name="bare", kind="bare", reason_id=5)

    with pytest.raises(NotImplementedError, match="Rule does not evaluate single orders"):
        bare.evaluate(order("x"), context([order("x")]))


def test_a_per_order_rule_judges_a_whole_load_order_by_order() -> None:
    orders = [order("failed", payment_status="failed"), order("paid")]

    verdicts = PAYMENT.evaluate_all(orders, context(orders), loads={})

    assert {key: v.kind for key, v in verdicts.items()} == {
        "failed": VerdictKind.MATCH,
        "paid": VerdictKind.NO_MATCH,
    }
    assert PAYMENT.side_effects(orders[0], verdicts["failed"]) == ()


# --- checks against the rest of the file ----------------------------------------------------

AT: YamlPath = ("rules", 2)


@pytest.mark.parametrize(
    ("reason_id", "why"),
    [
        (4, "the customer did not ask for this cancellation"),
        (8, "the platform asks integrations to send the specific reason"),
    ],
)
def test_reasons_4_and_8_on_an_automatic_rule_are_warnings(reason_id: int, why: str) -> None:
    rule = PaymentFailedRule(name="payment-failed", reason_id=reason_id)

    [warning] = rule.validate_against(ValidationContext(), at=AT)

    assert (warning.path, warning.severity) == (("rules", 2, "reason_id"), "warning")
    assert warning.message.startswith(f"rules[2] (payment-failed): reason_id {reason_id} (")
    assert why in warning.message
    disabled = rule.model_copy(update={"enabled": False})
    assert disabled.validate_against(ValidationContext(), at=AT) == []


def test_a_specific_reason_draws_no_warning() -> None:
    assert PAYMENT.validate_against(ValidationContext(), at=AT) == []


@pytest.mark.parametrize(
    ("at", "name", "described"),
    [
        (("rules", 2), "too-far", "rules[2] (too-far)"),
        (("rules", 2), "  ", "rules[2]"),
        (("rules", 2), None, "rules[2]"),
        ((), "too-far", "rule (too-far)"),
    ],
)
def test_messages_name_a_rule_by_its_place_and_usable_name(
    at: YamlPath, name: object, described: str
) -> None:
    assert describe_rule(at, name) == described


def test_a_load_rule_before_per_order_rules_is_a_warning() -> None:
    stock = OutOfStockRule(name="out-of-stock", reason_id=1)
    off = PaymentFailedRule(name="payment-off", reason_id=7, enabled=False)
    placed: list[tuple[YamlPath, Rule]] = [
        (("rules", 0), OVERLOADED),
        (("rules", 1), stock),
        (("rules", 2), off),
        (("rules", 3), PAYMENT),
    ]

    [warning] = order_problems(placed)

    assert (warning.path, warning.severity) == (("rules", 0), "warning")
    assert warning.message.startswith(
        "rules[0] (overloaded): this congestion rule comes before the per-order rules "
        "out-of-stock (rules[1]), payment-failed (rules[3]); "
    )
    assert "than reason 3 does: move it after them" in warning.message


def test_a_load_rule_last_or_disabled_is_in_its_place() -> None:
    disabled = OVERLOADED.model_copy(update={"enabled": False})

    assert order_problems([(("rules", 0), PAYMENT), (("rules", 1), OVERLOADED)]) == []
    assert order_problems([(("rules", 0), disabled), (("rules", 1), PAYMENT)]) == []


# --- the registry ---------------------------------------------------------------------------


def test_every_built_in_kind_is_registered_to_its_class() -> None:
    assert registry.kinds() == [
        "address_not_found",
        "congestion",
        "max_distance",
        "out_of_stock",
        "payment_failed",
    ]
    assert registry.get("congestion") is CongestionRule
    assert registry.get("nope") is None
    assert "payment_failed" in registry and "nope" not in registry
    assert list(registry) == registry.kinds() and len(registry) == 5
    assert repr(registry).startswith("<RuleRegistry rules: address_not_found, congestion")


def test_a_registry_refuses_bad_kinds_and_a_second_class_for_one_kind() -> None:
    kinds = RuleRegistry(name="test")

    class Late(Rule):
        pass

    class Other(Rule):
        pass

    assert kinds.register("late")(Late) is Late
    assert kinds.register("late")(Late) is Late  # registering the same class again is harmless
    assert Late.KIND == "late"
    with pytest.raises(ValueError, match=r"'late' is already registered to .*Late"):
        kinds.register("late")(Other)
    with pytest.raises(ValueError, match="must be a lower_case identifier"):
        kinds.register("no-dashes")(Other)
    with pytest.raises(TypeError, match=r"must subclass rules\.base\.Rule"):
        kinds.register("plain")(object)  # type: ignore[type-var]  # the point: not a Rule
    assert kinds.kinds() == ["late"]
