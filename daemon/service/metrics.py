"""Prometheus metrics of the running daemon (``metrics.port`` in rules.yaml)."""

from __future__ import annotations

import errno
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from daemon.domain.apierrors import ApiErrorCode
from daemon.domain.decisions import Decision
from daemon.engine.side_effects import ActionResult


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
        self.passes = Counter(
            "autocancel_passes",
            "Passes that ran, by scope: full, or incremental (the restaurants changes touched)",
            ["scope"],
            registry=self.registry,
        )
        self.drift = Counter(
            "autocancel_incremental_drift_restaurants",
            "Restaurants a full pass found other than the change log left them "
            "(a write that bypassed the triggers); should stay 0",
            registry=self.registry,
        )

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
        self.last_success.set(finished_at)
        for decision in decisions:
            self.decisions.labels(
                decision.rule, str(decision.reason_id), decision.outcome, decision.mode
            ).inc()
            if decision.outcome == "held":
                self.held.inc()
            if decision.outcome == "failed":
                self.api_errors.labels(_kind(decision.error_code)).inc()
        for action in actions:
            if action.action == "close_restaurant" and action.outcome == "done":
                self.restaurants_closed.inc()
            if action.action == "staff_reopened":
                self.staff_reopens.inc()
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
