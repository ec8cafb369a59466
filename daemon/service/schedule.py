"""The daemon's jobs on APScheduler 3, by name: the pass, the rules-file watch, sync, watchdog.

Every job is coalesced and never runs twice at once (``max_instances=1``);
the next run is scheduled before the work starts, so a job that fails never
stops the schedule. A job still running when due again simply runs next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import undefined

# The daemon's own lines: the journal knows them by its name, as before the split.
log = logging.getLogger("daemon.service.daemon")


def quiet_scheduler() -> None:
    """APScheduler's own warnings are nothing an operator can act on.

    Its only WARNINGs are "maximum number of running instances reached" (a
    pass outlasting its interval: by design the next one waits, coalesced)
    and a failing job store (ours is in memory). Errors still show.
    """
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


def _still_running(event: JobSubmissionEvent) -> None:
    # Replaces APScheduler's WARNING (see quiet_scheduler), for -v only.
    log.debug(
        "job %s still running when due again; it runs next once it is done (never two at once)",
        event.job_id,
    )


class Schedule:
    def __init__(self) -> None:
        self._scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        self._scheduler.add_listener(_still_running, EVENT_JOB_MAX_INSTANCES)

    def every(
        self, job_id: str, job: Callable[[], None], *, seconds: float, now: bool = False
    ) -> None:
        """Run ``job`` every ``seconds``; ``now``: the first run at once, not after a period."""
        self._scheduler.add_job(
            job,
            IntervalTrigger(seconds=seconds),
            id=job_id,
            # undefined: APScheduler's own default, one period from now.
            next_run_time=datetime.now(UTC) if now else undefined,
        )

    def once_at(self, job_id: str, job: Callable[[], None], when: datetime) -> None:
        """Run ``job`` once at ``when`` (aware); a job of that id still waiting is replaced."""
        self._scheduler.add_job(job, DateTrigger(run_date=when), id=job_id, replace_existing=True)

    def reschedule(self, job_id: str, *, seconds: float) -> None:
        self._scheduler.reschedule_job(job_id, trigger=IntervalTrigger(seconds=seconds))

    def run_now(self, job_id: str) -> None:
        self._scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))

    def remove(self, job_id: str) -> None:
        self._scheduler.remove_job(job_id)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop scheduling, and wait for the jobs in flight (the pass) to finish."""
        self._scheduler.shutdown(wait=True)
