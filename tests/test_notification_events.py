"""Every event the passes announce reaches a real receiver with the fields people act on.

In-process: a real pass (daemon.engine.passes.PassRunner) against the
simulator over HTTP, then one round of the real sender, delivering to a
signed webhook and an Apprise ``json://`` target on 127.0.0.1
(tests/receivers.py). The webhook's verified JSON shows the fields, the
chat message what a manager reads. The daemon's own events (started,
stopping, a reload rejected) need the process and its signals: see
tests/test_notifications_daemon.py.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from standardwebhooks import Webhook

from daemon.config.load import load_config
from daemon.dukkango.executor import CircuitBreaker
from daemon.engine.passes import PassRunner
from daemon.notify.sender import Sender
from daemon.service.runtime import ApiSession
from tests.receivers import Receiver
from tests.world import AKAT, HALASKARGAZI, PAYMENT_FAILED, World, run_sql

SECRET = "whsec_" + base64.b64encode(b"events-signing-key-0123456789abc").decode()
ENVIRON = {"HOOK_SECRET": SECRET}
ALL_EVENTS = (
    "[order_cancelled, order_cancel_failed, restaurant_closed, restaurant_reopened, "
    "food_deactivated, food_reactivated, cap_reached, pass_held, api_unreachable, "
    "api_recovered]"
)


def notifications(hook: Receiver, chat: Receiver) -> str:
    return (
        "notifications:\n  channels:\n"
        f"    hook:\n      webhook: {{url: '{hook.http_url}', secret_env: HOOK_SECRET}}\n"
        f"    chat:\n      urls: ['{chat.json_url}']\n"
        f"  routes:\n    - events: {ALL_EVENTS}\n      channels: [hook, chat]\n"
    )


class FakeClock:
    """A monotonic clock the test moves on: the circuit's minute passes at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Announced:
    """What one event looked like to its receivers."""

    id: str
    data: dict[str, Any]
    chat: dict[str, Any]  # the Apprise json:// body: title, message, type


class Harness:
    """A world whose passes run here, and whose outbox is delivered right after each."""

    def __init__(self, world: World, hook: Receiver, chat: Receiver) -> None:
        self.world, self.hook, self.chat = world, hook, chat
        self.clock = FakeClock()
        self._sessions: list[ApiSession] = []
        self.runner: PassRunner | None = None

    def configure(self, rules: str = PAYMENT_FAILED, **options: Any) -> None:
        """Write rules.yaml (World.configure's options) and build a runner and sender on it."""
        self.world.configure(rules, top_level=notifications(self.hook, self.chat), **options)
        self.reload()

    def reload(self) -> None:
        config = load_config(self.world.rules_path, environ=ENVIRON)
        breaker = CircuitBreaker(clock=self.clock)
        session = ApiSession(config, environ=self.world.env, breaker=breaker)
        self._sessions.append(session)
        self.runner = PassRunner(
            config=config,
            engine=self.world.engine,
            executor_factory=session.executor,
            breaker=breaker,
        )
        self.sender = Sender(
            engine=self.world.engine,
            settings=config.notifications,
            environ=ENVIRON,
            base_dir=self.world.folder,
            immediate_wait=0.01,
        )

    def run_pass(self) -> None:
        """One pass, then one round of the sender: what it announced, delivered."""
        assert self.runner is not None
        self.runner.run_once()
        tally = self.sender.deliver_due()
        assert tally.retried == tally.gave_up == 0, tally

    def announced(self, name: str) -> list[Announced]:
        """Every delivery of ``name``: the webhook's verified JSON beside the chat message."""
        chats = [r.json() for r in self.chat.requests()]
        found = []
        for request in self.hook.requests():
            event = Webhook(SECRET).verify(request.body, request.headers)
            if event["type"] != name:
                continue
            (chat,) = [c for c in chats if c["title"].startswith(_title(name))]
            found.append(Announced(event["id"], event["data"], chat))
        return found

    def names(self) -> list[str]:
        return [Webhook(SECRET).verify(r.body, r.headers)["type"] for r in self.hook.requests()]

    def close(self) -> None:
        for session in self._sessions:
            session.close()


def _title(name: str) -> str:
    return f"autocancel: {name.replace('_', ' ')}"


@pytest.fixture
def harness(world: World) -> Iterator[Harness]:
    hook, chat = Receiver().start(), Receiver().start()
    built = Harness(world, hook, chat)
    yield built
    built.close()
    hook.stop()
    chat.stop()


def test_order_cancel_failed_names_the_order_and_the_error(harness: Harness) -> None:
    harness.configure()
    harness.world.add_order("gone", payment_status="failed", on_platform=False)  # Dükkango: 404

    harness.run_pass()

    (failed,) = harness.announced("order_cancel_failed")
    assert failed.data["payment_key"] == "gone"
    assert failed.data["rule"] == "payment-failed"
    assert (failed.data["reason_id"], failed.data["reason_tr"], failed.data["reason_en"]) == (
        7,
        "Ödeme problemi",
        "payment problem",
    )
    assert failed.data["restaurant_name"] == "Halaskargazi Şube"
    assert "404" in failed.data["error"]
    assert failed.chat["type"] == "failure"
    assert "Halaskargazi Şube" in failed.chat["title"]
    assert harness.names() == ["order_cancel_failed"]


def test_cap_reached_is_critical_once_an_hour_and_names_the_held_orders(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.configure(max_per_hour=1)
    harness.world.add_order("first", payment_status="failed", minutes_ago=20)
    harness.world.add_order("second", payment_status="failed", minutes_ago=10)

    harness.run_pass()
    harness.world.add_order("third", payment_status="failed", minutes_ago=5)
    harness.run_pass()  # held again, the same incident: no second message

    assert [key for key, _ in harness.world.cancel_calls()] == ["first"]
    (cap,) = harness.announced("cap_reached")
    assert cap.data == {
        "held": 1,
        "held_because": "max_cancellations_per_hour",
        "restaurant_ids": [HALASKARGAZI],
        "payment_keys": ["second"],
    }
    assert cap.chat["type"] == "failure"
    assert sorted(harness.names()) == ["cap_reached", "order_cancelled"]
    # The journal says it at CRITICAL, every pass it holds; the channel hears it once.
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 2
    assert all("hourly cancellation cap reached" in r.getMessage() for r in critical)


def test_pass_held_by_the_ratio_brake_names_the_restaurant(harness: Harness) -> None:
    harness.configure()
    text = harness.world.rules_path.read_text()
    harness.world.rules_path.write_text(
        text.replace(
            "max_order_age_minutes: 180", "max_order_age_minutes: 180\n  max_cancel_ratio: 0.5"
        )
    )
    harness.reload()
    harness.world.add_order("a", payment_status="failed")
    harness.world.add_order("b", payment_status="failed")
    harness.world.add_order("fine")

    harness.run_pass()

    assert harness.world.cancel_calls() == []
    (held,) = harness.announced("pass_held")
    assert held.data == {
        "held": 2,
        "held_because": "max_cancel_ratio",
        "restaurant_ids": [HALASKARGAZI],
        "payment_keys": ["a", "b"],
    }
    assert held.chat["type"] == "warning"


def test_an_outage_is_announced_when_the_circuit_opens_and_again_when_it_closes(
    harness: Harness,
) -> None:
    harness.configure(max_attempts=1, api_extra={"concurrency": 1})
    for n in range(6):
        harness.world.add_order(f"outage-{n}", payment_status="failed")
    harness.world.simulator.inject_fault(
        "status", status=503, count=1000, path_prefix="orders/cancel/"
    )

    harness.run_pass()  # five 503s in a row: the circuit opens
    harness.run_pass()  # still open: no second message
    (down,) = harness.announced("api_unreachable")
    assert harness.announced("api_recovered") == []
    assert down.chat["type"] == "failure"

    harness.world.simulator.clear_faults()
    harness.clock.now += 60
    harness.run_pass()

    (up,) = harness.announced("api_recovered")
    assert up.data["unreachable_since"] == down.data["since"]
    assert up.data["host"] == down.data["host"]
    assert up.chat["type"] == "success"
    assert harness.names().count("api_unreachable") == 1


CLOSE_AT_TWO = (
    PAYMENT_FAILED
    + """\
  - name: overloaded
    kind: congestion
    max_active_orders: 2
    close_restaurant: true
    reopen_below: 1
    min_closed_minutes: 0
    reason_id: 3
"""
)


def test_a_closure_and_its_reopening_reach_the_managers(harness: Harness) -> None:
    harness.configure(CLOSE_AT_TWO)
    for n in range(3):
        harness.world.add_order(f"rush-{n}", restaurant_id=AKAT, minutes_ago=20 - n)

    harness.run_pass()

    (closed,) = harness.announced("restaurant_closed")
    assert harness.world.simulator.restaurant_status(AKAT) == "Closed"
    assert closed.data["restaurant_id"] == AKAT
    assert closed.data["restaurant_name"] == "Akat Şube"
    assert closed.data["rule"] == "overloaded"
    assert closed.data["evidence"]["active_orders"] == 3
    assert closed.chat["type"] == "warning"
    assert "Akat Şube" in closed.chat["title"]

    run_sql(harness.world, "UPDATE orders SET status_id = 5 WHERE restaurant_id = :r", r=AKAT)
    harness.run_pass()

    (reopened,) = harness.announced("restaurant_reopened")
    assert harness.world.simulator.restaurant_status(AKAT) == "Open"
    assert reopened.data["restaurant_id"] == AKAT
    assert reopened.data["rule"] == "overloaded"
    assert reopened.chat["type"] == "success"


OUT_OF_STOCK = """\
  - name: out-of-stock
    kind: out_of_stock
    reason_id: 1
    deactivate_food: true
"""


def test_a_food_switched_off_and_back_on_names_the_food(harness: Harness) -> None:
    harness.configure(OUT_OF_STOCK)
    harness.world.set_stock(2, available=False, quantity=0)
    harness.world.add_order("a", items=[(2, 1)])

    harness.run_pass()

    (off,) = harness.announced("food_deactivated")
    assert harness.world.simulator.food_active(2) is False
    assert off.data == {
        "food_id": 2,
        "food_name": "food 2",
        "restaurant_id": HALASKARGAZI,
        "restaurant_name": "Halaskargazi Şube",
        "rule": "out-of-stock",
    }
    assert "food 2" in off.chat["title"]

    harness.world.set_stock(2, available=True, quantity=5)
    harness.run_pass()

    (on,) = harness.announced("food_reactivated")
    assert harness.world.simulator.food_active(2) is True
    assert on.data["food_id"] == 2 and on.data["food_name"] == "food 2"
    assert on.chat["type"] == "success"
