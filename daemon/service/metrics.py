"""Prometheus metrics of the running daemon (``metrics.port`` in rules.yaml)."""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping
from datetime import datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from daemon.domain.apierrors import ApiErrorCode
from daemon.domain.decisions import Decision
from daemon.domain.orders import Closure
from daemon.engine import passresult
from daemon.engine.side_effects import ActionResult
from rules.context import RestaurantLoad


class MetricsUnavailable(Exception):
    """The metrics endpoint cannot listen where rules.yaml says."""


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._server: WSGIServer | None = None
        self.decisions = Counter(
            "autocancel_decisions",
            "Decisions by rule, reason, outcome and mode",
            ["rule", "reason_id", "outcome", "mode"],
            registry=self.registry,
        )
        self.held = Counter(
            "autocancel_held", "Cancellations held by a safety limit", registry=self.registry
        )
        self.api_errors = Counter(
            "autocancel_api_errors",
            "Failed API calls after retries, by kind of error (its code)",
            ["kind"],
            registry=self.registry,
        )
        self.pass_duration = Histogram(
            "autocancel_pass_duration_seconds",
            "Duration of one evaluation pass",
            registry=self.registry,
        )
        self.cancel_delay = Histogram(
            "autocancel_cancel_delay_seconds",
            "From an order's last change in the store (the POS's updated_at, else created_at) "
            "to the platform confirming its cancellation: the reaction time",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=self.registry,
        )
        self.pass_failures = Counter(
            "autocancel_pass_failures", "Passes that could not run", registry=self.registry
        )
        self.last_success = Gauge(
            "autocancel_last_successful_pass_timestamp_seconds",
            "Unix time of the last pass that ran",
            registry=self.registry,
        )
        self.restaurants_closed = Counter(
            "autocancel_restaurants_closed",
            "Restaurants closed for congestion",
            registry=self.registry,
        )
        self.staff_reopens = Counter(
            "autocancel_staff_reopens",
            "Restaurants staff opened on Dükkango while the daemon held them closed: the "
            "closure was ended, not fought",
            registry=self.registry,
        )
        self.foods_reactivated = Counter(
            "autocancel_foods_reactivated",
            "Foods autocancel put back on sale, by trigger: back_in_stock or snooze "
            "(food-reactivate by hand is a command of its own, counted in audit)",
            ["trigger"],
            registry=self.registry,
        )
        self.passes = Counter(
            "autocancel_passes",
            "Passes that ran, by scope: full, or incremental (the restaurants changes touched)",
            ["scope"],
            registry=self.registry,
        )
        self.last_pass_result = Gauge(
            "autocancel_last_pass_result",
            "1 for the result of the last pass (ok, degraded, failed, crashed), 0 for the others",
            ["result"],
            registry=self.registry,
        )
        self.circuit_open = Gauge(
            "autocancel_circuit_open",
            "1 while the Dükkango API circuit is open (calls paused after repeated failures)",
            registry=self.registry,
        )
        self.circuit_open_since = Gauge(
            "autocancel_circuit_open_since_timestamp_seconds",
            "Unix time the API circuit opened; 0 while it is closed",
            registry=self.registry,
        )
        self.brakes = Counter(
            "autocancel_brake_fired",
            "Passes in which a safety brake held cancellations, by brake "
            "(max_cancellations_per_hour, max_cancel_ratio)",
            ["brake"],
            registry=self.registry,
        )
        self.closures_active = Gauge(
            "autocancel_closures_active",
            "Restaurants this daemon holds closed",
            registry=self.registry,
        )
        self.closed_since = Gauge(
            "autocancel_restaurant_closed_since_timestamp_seconds",
            "Unix time this daemon closed the restaurant (only restaurants it holds closed)",
            ["restaurant_id"],
            registry=self.registry,
        )
        self.drift = Counter(
            "autocancel_incremental_drift_restaurants",
            "Restaurants a full pass found other than the change log left them "
            "(a write that bypassed the triggers); should stay 0",
            registry=self.registry,
        )

        self.pauses_active = Gauge(
            "autocancel_pauses_active",
            "Pauses in force at the last pass (autocancel pause); each ends by itself",
            registry=self.registry,
        )
        self.pending_intents = Gauge(
            "autocancel_pending_intents",
            "Live cancellations committed as intents with no known outcome yet: in flight, "
            "or parked after a lost answer until a pass re-judges and resends them",
            registry=self.registry,
        )
        self.stale_orders = Gauge(
            "autocancel_stale_orders",
            "Active orders older than safety.max_order_age_minutes at the last pass "
            "(never cancelled, not counted as load): the POS may have stopped updating them",
            registry=self.registry,
        )
        self._stale_by_restaurant: dict[str, int] = {}
        self.notifications_delivered = Counter(
            "autocancel_notifications_delivered",
            "Notifications every routed channel took, by event",
            ["event"],
            registry=self.registry,
        )
        self.notifications_given_up = Counter(
            "autocancel_notifications_given_up",
            "Notifications given up after delivery.give_up_after_minutes, by event",
            ["event"],
            registry=self.registry,
        )

        self.outbox_pending = Gauge(
            "autocancel_outbox_pending",
            "Notifications in the outbox not yet delivered (waiting for a retry, or not yet "
            "tried); a number that only grows is a channel that does not take them",
            registry=self.registry,
        )
        self.outbox_oldest_pending_age = Gauge(
            "autocancel_outbox_oldest_pending_age_seconds",
            "Age of the oldest notification not yet delivered; 0 when none waits",
            registry=self.registry,
        )

    def record_outbox(self, *, pending: int, oldest_age_seconds: float | None) -> None:
        """The outbox's backlog, as the store holds it (every replica's events)."""
        self.outbox_pending.set(pending)
        self.outbox_oldest_pending_age.set(max(0.0, oldest_age_seconds or 0.0))

    def serve(self, *, port: int, address: str) -> None:
        """Raises :class:`MetricsUnavailable` (one line, with a hint) when it cannot listen."""
        self.stop()
        try:
            self._server, _thread = start_http_server(port, addr=address, registry=self.registry)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise MetricsUnavailable(
                    f"metrics.port {port} on {address} is already in use (another autocancel "
                    "running?): stop that process, or choose another metrics.port in rules.yaml"
                ) from None
            raise MetricsUnavailable(
                f"cannot serve metrics on {address}:{port}: {exc.strerror or exc}; check "
                "metrics.port and metrics.address in rules.yaml"
            ) from None

    def stop(self) -> None:
        """Stop listening, so a reload can free the old port or turn metrics off."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def last_pass_result_is(self, result: str) -> None:
        for known in passresult.RESULTS:
            self.last_pass_result.labels(known).set(1 if known == result else 0)

    def record_state(
        self,
        *,
        result: str,
        circuit_open_since: datetime | None,
        closures: Mapping[str, Closure],
    ) -> None:
        """The gauges of what holds after a pass: its result, the circuit, the closures."""
        self.last_pass_result_is(result)
        self.circuit_open.set(0 if circuit_open_since is None else 1)
        self.circuit_open_since.set(
            0 if circuit_open_since is None else circuit_open_since.timestamp()
        )
        self.closures_active.set(len(closures))
        self.closed_since.clear()  # a reopened restaurant's series ends
        for restaurant_id, closure in closures.items():
            self.closed_since.labels(restaurant_id).set(closure.closed_at.timestamp())

    def record_loads(self, loads: Mapping[str, RestaurantLoad], *, full: bool) -> None:
        """The stale orders of the restaurants a pass judged; a full pass judged them all.

        An incremental pass judges only the restaurants that changed (or whose
        orders grew stale since), so the others keep the count of their last pass.
        """
        if full:
            self._stale_by_restaurant.clear()
        for restaurant_id, load in loads.items():
            self._stale_by_restaurant[restaurant_id] = len(load.stale)
        self.stale_orders.set(sum(self._stale_by_restaurant.values()))

    def record_pass(
        self,
        decisions: Iterable[Decision],
        actions: Iterable[ActionResult],
        *,
        seconds: float,
        finished_at: float,
        scope: str = "full",
    ) -> None:
        self.pass_duration.observe(seconds)
        self.passes.labels(scope).inc()
        brakes: set[str] = set()
        self.last_success.set(finished_at)
        for decision in decisions:
            self.decisions.labels(
                decision.rule, str(decision.reason_id), decision.outcome, decision.mode
            ).inc()
            if decision.outcome == "cancelled" and decision.mode == "live":
                changed = decision.order.updated_at or decision.order.created_at
                if changed is not None:
                    self.cancel_delay.observe(max(0.0, finished_at - changed.timestamp()))
            if decision.outcome == "held":
                self.held.inc()
                brakes.add(str(decision.evidence.get("held_because", "unknown")))
            if decision.outcome == "failed":
                self.api_errors.labels(_kind(decision.error_code)).inc()
        for brake in brakes:
            self.brakes.labels(brake).inc()
        for action in actions:
            if action.action == "close_restaurant" and action.outcome == "done":
                self.restaurants_closed.inc()
            if action.action == "staff_reopened":
                self.staff_reopens.inc()
            if action.action == "reactivate_food" and action.outcome == "done":
                self.foods_reactivated.labels(action.trigger).inc()
            if action.outcome == "failed":
                self.api_errors.labels(_kind(action.error_code)).inc()


# The label values dashboards already know, from before errors carried codes;
# codes without an old spelling (unreadable, circuit_open, not_sent, ...) are
# shown as themselves.
_LEGACY_KINDS: dict[ApiErrorCode, str] = {
    ApiErrorCode.BAD_REQUEST: "400",
    ApiErrorCode.UNAUTHORIZED: "401",
    ApiErrorCode.FORBIDDEN: "403",
    ApiErrorCode.NOT_FOUND: "404",
    ApiErrorCode.RATE_LIMITED: "429",
    ApiErrorCode.SERVER_ERROR: "5xx",
    ApiErrorCode.CONNECTION: "transport",
}


def _kind(code: ApiErrorCode | None) -> str:
    """The ``kind`` label, from the error's code (never from its words)."""
    if code is None:
        return "unknown"
    return _LEGACY_KINDS.get(code, code.value)
