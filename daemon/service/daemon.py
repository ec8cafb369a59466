"""``autocancel run``: the unattended daemon.

APScheduler 3 runs the evaluation pass every ``schedule.interval_seconds``
(coalesced, never two at once; the next run is scheduled before the work
starts, so a pass that fails never stops the schedule), the optional order
sync, a watch on rules.yaml and the systemd watchdog heartbeat
(:mod:`.schedule`, :mod:`.watchdog`). The main thread only waits
(:mod:`.wakeups`): SIGHUP (or a changed file) reloads the rules between
passes, SIGTERM/SIGINT stop after the pass in flight.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from daemon.config.credentials import (
    MissingCredentials,
    credentials_present,
    process_environ,
    require_credentials,
)
from daemon.config.load import ConfigError, load_config
from daemon.config.models import Config
from daemon.domain import exitcodes, redaction
from daemon.domain.events import EventName
from daemon.domain.pauses import Pause
from daemon.dukkango.executor import CircuitBreaker
from daemon.engine import decisionlog, passresult
from daemon.engine.passes import PassError, PassRunner
from daemon.service import notifications, notify, reloading
from daemon.service.changes import ChangeWatcher
from daemon.service.metrics import Metrics, MetricsUnavailable
from daemon.service.runtime import ApiSession, open_store, record_rules_load, warn_if_exposed
from daemon.service.schedule import Schedule, quiet_scheduler
from daemon.service.wakeups import CONFIG_POLL_SECONDS, Wakeups
from daemon.service.watchdog import PassProgress
from daemon.store import connect, ledger, rowcheck, storefile

log = logging.getLogger(__name__)

# How many of a rejected reload's problems its notification quotes (the journal has all).
REJECTED_SHOWN = 5


class Daemon:
    def __init__(
        self, *, config: Config, dry_run: bool = False, environ: Mapping[str, str] | None = None
    ) -> None:
        self._path = config.source
        self._force_dry_run = dry_run
        self._environ = process_environ() if environ is None else environ
        self._wakeups = Wakeups(self._path)
        self._stopping = self._wakeups.stopping
        # Shared by every pass: consecutive API failures pause calls (see executor).
        self._breaker = CircuitBreaker()
        # Held for a whole pass; a reload takes it to swap between passes.
        self._pass_lock = threading.Lock()
        # Held for a whole sync poll; a reload takes it too.
        self._sync_lock = threading.Lock()
        self._config = config
        self._engine = open_store(config)
        # One client, so one login, for every pass and sync poll (until the api section changes).
        self._api = self._api_session(config)
        self._runner = self._build_runner(config, self._engine, self._api)
        self._metrics = Metrics()
        self._sender_stop = threading.Event()
        self._sender = notifications.build_sender(
            config,
            self._engine,
            environ=self._environ,
            metrics=self._metrics,
            stop=self._sender_stop,
        )
        self._schedule = Schedule()
        self._progress = PassProgress()  # what the watchdog heartbeat goes by
        # Set by the change watcher; a pass clears it when it starts reading.
        self._changed = threading.Event()
        self._last_full_pass: float | None = None  # time.monotonic() at its start

    # --- building -----------------------------------------------------------------

    def _live(self, config: Config) -> bool:
        return not (self._force_dry_run or config.dry_run)

    def _api_session(self, config: Config) -> ApiSession:
        return ApiSession(config, environ=self._environ, stop=self._stopping, breaker=self._breaker)

    def _build_runner(self, config: Config, engine: sa.Engine, api: ApiSession) -> PassRunner:
        return PassRunner(
            config=config,
            engine=engine,
            executor_factory=api.executor,
            dry_run=self._force_dry_run,
            breaker=self._breaker,
            record_history=True,
        )

    # --- jobs ---------------------------------------------------------------------

    def _wake(self) -> None:
        """Orders changed: run a pass now, or right after the one in flight."""
        self._changed.set()
        if not self._progress.running and not self._stopping.is_set():
            self._schedule.run_now("pass")

    def _pass_job(self) -> None:
        with self._pass_lock:
            runner = self._runner
            self._progress.pass_started()
            self._changed.clear()
            report = None
            started = time.monotonic()
            try:
                report = runner.run_once(incremental=self._incremental_due(started))
            except PassError as exc:
                self._metrics.pass_failures.inc()
                self._metrics.last_pass_result_is(passresult.CRASHED)
                log.error("pass failed, no action taken: %s", exc)
            except Exception:
                self._metrics.pass_failures.inc()
                self._metrics.last_pass_result_is(passresult.CRASHED)
                log.exception("pass crashed, no further action this pass; the schedule goes on")
            finally:
                ran = self._progress.pass_finished()
            if report is not None:
                if report.scope.full:
                    self._last_full_pass = started
                self._metrics.record_pass(
                    report.decisions,
                    report.actions,
                    seconds=ran,
                    finished_at=time.time(),
                    scope=report.scope.name,
                )
                self._metrics.drift.inc(runner.judge.take_drift())
                if report.summary is not None:
                    self._metrics.record_state(
                        result=report.summary.result,
                        circuit_open_since=self._breaker.open_since,
                        closures=report.closures,
                    )
                if report.plan is not None:
                    self._metrics.record_loads(report.plan.loads, full=report.scope.full)
                self._record_pending_intents()
                in_force = () if report.plan is None else report.plan.pauses
                self._metrics.pauses_active.set(len(in_force))
                self._wake_when_a_pause_ends(in_force)
        if not self._stopping.is_set():
            self._schedule.run_now("notify")  # what the pass announced, told at once
        if self._changed.is_set():  # something changed while this pass ran
            self._wake()

    def _record_pending_intents(self) -> None:
        """The intents without an outcome, in this daemon or any replica sharing the store."""
        try:
            with self._engine.connect() as connection:
                self._metrics.pending_intents.set(ledger.count_pending_intents(connection))
        except sa.exc.SQLAlchemyError as exc:  # the gauge keeps its last value
            log.debug("could not count pending intents: %s", exc)

    def _wake_when_a_pause_ends(self, pauses: Sequence[Pause]) -> None:
        """A pass the moment the first pause in force ends, not up to an interval later.

        No row changes when a pause expires, so no change signal comes; the
        pass that runs then sees the pauses changed and judges everything.
        """
        if pauses and not self._stopping.is_set():
            self._schedule.once_at("pause-ends", self._wake, min(p.until for p in pauses))

    def _notify_job(self) -> None:
        """Deliver the outbox; a dry-run daemon tells nobody anything (a live replica will)."""
        if self._live(self._config):
            notifications.deliver(self._sender)
        # Read by a dry-run replica too: the backlog is the store's, not this process's.
        notifications.measure_backlog(self._engine, self._metrics)

    def _announce(self, name: EventName, **fields: Any) -> None:
        """An event of the daemon's own; none in dry-run."""
        if self._live(self._config):
            notifications.record(self._engine, name, **fields)

    def _reload_rejected(self, problems: Sequence[str]) -> None:
        """``reload_rejected``, with the first problems as the journal shows them."""
        self._announce(
            "reload_rejected",
            path=str(self._path),
            errors=len(problems),
            # The journal's own lines, secrets blanked as there: the channel is not the journal.
            problems=[redaction.REDACTOR.redact(line) for line in problems[:REJECTED_SHOWN]],
        )

    def _incremental_due(self, now: float) -> bool:
        """Whether this pass may re-judge only what changed (a full pass is not yet due)."""
        every = self._config.schedule.full_pass_seconds
        last = self._last_full_pass
        return every > 0 and last is not None and now - last < every

    def _sync_job(self) -> None:
        from daemon.service.sync import Syncer

        try:
            with self._sync_lock:  # the store and the client stay while it polls
                config = self._config
                report = Syncer(
                    engine=self._engine,
                    client=self._api.client(),
                    acknowledge=config.sync.acknowledge,
                    owns=config.sync.owns,
                ).poll()
        except Exception:
            log.exception("order sync crashed; it runs again at the next interval")
            return
        if report.error is None:
            log.info(
                "sync received=%d stored=%d acknowledged=%d vanished=%d malformed=%d conflicts=%d",
                report.received,
                report.stored,
                report.acknowledged,
                report.vanished,
                len(report.malformed),
                report.conflicts,
            )

    def _heartbeat(self) -> None:
        """WATCHDOG=1 only while passes make progress, so systemd restarts a hung loop."""
        stall = self._progress.stall(self._config)
        if stall is not None:
            log.critical("%s", stall)
            return
        notify.notify("WATCHDOG=1")

    # --- reload ---------------------------------------------------------------------

    def reload(self) -> bool:
        """Validate the file again; swap it in between passes, or keep the last good one."""
        self._wakeups.reloading()
        try:
            new = load_config(self._path, environ=self._environ)
        except ConfigError as exc:
            for line in exc.errors:
                log.error("%s", line)
            log.error("reload rejected: keeping the last good rules from %s", self._path)
            self._reload_rejected(exc.errors)
            return False
        if self._live(new) and not credentials_present(self._environ):
            log.error(
                "reload rejected: the new rules are live but no Dükkango credentials "
                "are set; keeping the last good rules"
            )
            self._reload_rejected(["the new rules are live but no Dükkango credentials are set"])
            return False
        old = self._config
        try:
            engine = self._engine if new.store.url == old.store.url else open_store(new)
        except connect.StoreError as exc:
            log.error("reload rejected: %s; keeping the last good rules", exc)
            self._reload_rejected([str(exc)])
            return False
        api = self._api if new.api == old.api else self._api_session(new)
        runner = self._build_runner(new, engine, api)
        # Between passes and sync polls, never in the middle of one.
        with self._pass_lock, self._sync_lock:
            previous_engine, previous_api = self._engine, self._api
            self._config, self._engine, self._api, self._runner = new, engine, api, runner
            # Inside the locks: no pass judges with the new rules before the row says so.
            record_rules_load(engine, new, event="reload")
        if engine is not previous_engine:
            previous_engine.dispose()
        if api is not previous_api:
            previous_api.close()
        changed = reloading.changes(old, new)
        for warning in new.warnings:
            log.warning("%s", warning)
        log.info(
            "rules reloaded from %s: %s",
            self._path,
            "; ".join(change.describe() for change in changed) or "no change",
        )
        # The new runner applies the rest; these live outside any one pass.
        if new.schedule.interval_seconds != old.schedule.interval_seconds:
            self._schedule.reschedule("pass", seconds=new.schedule.interval_seconds)
        if new.sync != old.sync:
            self._apply_sync(old, new)
        self._apply_services(old, new, store_moved=engine is not previous_engine)
        if new.dry_run != old.dry_run and self._force_dry_run:
            log.info(
                "dry_run is %s in the file, but this daemon was started with --dry-run "
                "and stays in dry-run",
                reloading.show(new.dry_run),
            )
        for change in reloading.needing_restart(changed):
            log.warning(
                "%s: not applied until a restart (systemctl restart autocancel)", change.describe()
            )
        return True

    def _apply_services(self, old: Config, new: Config, *, store_moved: bool) -> None:
        """The metrics server, and a new sender for new channels, routes or store."""
        if new.metrics != old.metrics:
            self._serve_metrics(new, moved=old.metrics.port is not None)
        if new.notifications != old.notifications or store_moved:
            # The sender's round in flight finishes with the old one.
            self._sender = notifications.build_sender(
                new,
                self._engine,
                environ=self._environ,
                metrics=self._metrics,
                stop=self._sender_stop,
            )
            self._schedule.reschedule("notify", seconds=new.notifications.delivery.poll_seconds)

    def _start_sync(self, config: Config) -> None:
        self._schedule.every("sync", self._sync_job, seconds=config.sync.interval_seconds, now=True)

    def _apply_sync(self, old: Config, new: Config) -> None:
        """Start, stop or reschedule the sync job (acknowledge is read by every poll)."""
        if old.sync.enabled and not new.sync.enabled:
            self._schedule.remove("sync")
            log.info("order sync stopped")
        elif new.sync.enabled and not old.sync.enabled:
            self._start_sync(new)
            log.info(
                "order sync started: get-current every %s s",
                reloading.show(new.sync.interval_seconds),
            )
        elif new.sync.enabled and new.sync.interval_seconds != old.sync.interval_seconds:
            self._schedule.reschedule("sync", seconds=new.sync.interval_seconds)
            log.info(
                "order sync rescheduled: get-current every %s s",
                reloading.show(new.sync.interval_seconds),
            )

    def _serve_metrics(self, config: Config, *, moved: bool = False) -> None:
        """Listen where ``config`` says (or stop); a port that is taken costs only metrics."""
        port, address = config.metrics.port, config.metrics.address
        if port is None:
            self._metrics.stop()
            if moved:
                log.info("metrics off")
            return
        try:
            self._metrics.serve(port=port, address=address)
        except MetricsUnavailable as exc:  # on reload: the daemon goes on without metrics
            log.error("%s", exc)
            return
        log.info("metrics %s http://%s:%d/metrics", "moved to" if moved else "on", address, port)

    # --- lifecycle -----------------------------------------------------------------------

    def run(self) -> int:
        config = self._config
        self._schedule.every(
            "pass", self._pass_job, seconds=config.schedule.interval_seconds, now=True
        )
        self._schedule.every("watch", self._wakeups.watch_rules_file, seconds=CONFIG_POLL_SECONDS)
        # Its own job: a channel that hangs never holds up a pass.
        self._schedule.every(
            "notify",
            self._notify_job,
            seconds=config.notifications.delivery.poll_seconds,
            now=True,
        )
        if config.sync.enabled:
            self._start_sync(config)
        heartbeat = notify.watchdog_interval()
        if heartbeat:
            self._schedule.every("watchdog", self._heartbeat, seconds=heartbeat)
        if config.metrics.port:
            try:
                self._metrics.serve(port=config.metrics.port, address=config.metrics.address)
            except MetricsUnavailable as exc:  # before anything started: nothing to undo
                log.error("%s", exc)
                self._engine.dispose()
                return exitcodes.RUNTIME_FAILURE
            log.info("metrics on http://%s:%d/metrics", config.metrics.address, config.metrics.port)
        record_rules_load(self._engine, config, event="start")
        self._wakeups.install_signal_handlers()
        self._schedule.start()
        ChangeWatcher(
            engine=lambda: self._engine, on_change=self._wake, stop=self._stopping
        ).start()
        mode = "live" if self._live(config) else "dry-run"
        log.info(
            "autocancel running (%s) with %s: %d rules, a pass every %s s",
            mode,
            self._path,
            len(config.enabled_rules),
            config.schedule.interval_seconds,
        )
        self._announce("daemon_started", mode=mode, path=str(self._path))
        notify.notify(f"READY=1\nSTATUS=running ({mode})")
        while self._wakeups.next_reload():
            self.reload()
        notify.notify("STOPPING=1")
        log.info("stopping: letting the pass in flight finish")
        self._announce("daemon_stopping", path=str(self._path))
        self._sender_stop.set()  # a round in flight stops after its current message
        self._schedule.shutdown()
        self._sender_stop.clear()
        if not self._sender.failing:  # the last word; a hanging channel never holds up a stop
            self._notify_job()
        self._metrics.stop()
        self._api.close()
        self._engine.dispose()
        log.info("stopped")
        return exitcodes.OK


# A row that stays broken, or a shadow match still waiting, is said again a
# day later: the journal may have rotated, the operator may have missed it.
REPEAT_UNCHANGED_AFTER = timedelta(days=1)


def run(config: Config, *, dry_run: bool) -> int:
    quiet_scheduler()
    rowcheck.REPORT.repeat_every(REPEAT_UNCHANGED_AFTER)
    decisionlog.repeat_every(REPEAT_UNCHANGED_AFTER)
    for warning in warn_if_exposed(config.source, os.environ.get("AUTOCANCEL_ENV_FILE")):
        log.warning("%s", warning)
    if (store_path := storefile.sqlite_file(config.store.url)) is not None:
        for warning in storefile.sharing_problems(store_path):
            log.warning("%s", warning)
    try:
        if not (dry_run or config.dry_run):
            require_credentials()
        daemon = Daemon(config=config, dry_run=dry_run)
    except (MissingCredentials, connect.StoreError) as exc:
        log.error("%s", exc)
        return exitcodes.RUNTIME_FAILURE
    return daemon.run()
