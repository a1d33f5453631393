"""The daemon's schedule on APScheduler 3: one cron trigger per job (crontab meaning, via
scheduler.dates.cron), the catch-up pass and the delivery tick, and the next-run times that
`status` shows.

Every scheduled call reads the clock when the work starts and passes the time down; the work
itself is a `Worker` (the `Daemon`), so this module knows nothing of leadership or delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from jobs import JOB_NAMES
from scheduler.config import Settings
from scheduler.dates.cron import build_trigger
from scheduler.mail.delivery import Clock

CATCH_UP_ID = "catch-up"
DELIVERY_ID = "deliver"


def job_id(job: str) -> str:
    """The APScheduler id of `job`'s cron trigger."""
    return f"job:{job}"


@dataclass(frozen=True)
class Schedule:
    """The trigger of every job, in wall time of `tz` (scheduler.timezone)."""

    tz: dt.tzinfo
    triggers: Mapping[str, BaseTrigger]

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        """Triggers for every job of JOB_NAMES from [schedule] (already checked when the
        settings were loaded; CronError otherwise)."""
        return cls(settings.tz, {job: build_trigger(settings.schedule[job], settings.tz)
                                 for job in JOB_NAMES})

    def next_runs(self, now: dt.datetime) -> dict[str, str]:
        """Each job's next slot at or after the aware instant `now`, as ISO 8601 text with the
        offset of `tz` (what `status` shows while a daemon is active); a job whose trigger
        never fires again is left out."""
        local = now.astimezone(self.tz)
        runs: dict[str, str] = {}
        for job, trigger in self.triggers.items():
            fire = trigger.get_next_fire_time(None, local)
            if fire is not None:
                runs[job] = fire.astimezone(self.tz).isoformat()
        return runs


class Worker(Protocol):
    """What the schedule calls; each takes the aware UTC instant the call started."""

    def catch_up(self, now: dt.datetime) -> object:
        """Every job once as of `now`'s date, then delivery."""
        ...

    def run_scheduled(self, job: str, now: dt.datetime) -> object:
        """One job at its slot, then delivery."""
        ...

    def deliver(self, now: dt.datetime) -> object:
        """Send the queued messages due at `now`."""
        ...


def background_scheduler(tz: dt.tzinfo, misfire_grace_seconds: int) -> BackgroundScheduler:
    """A scheduler (not started) with a single worker thread: job runs and delivery rounds
    queue behind each other, never overlap. The misfire grace (seconds) lets a slot that waited
    behind a long round still run, once (APScheduler's default is 1 s)."""
    return BackgroundScheduler(
        timezone=tz,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": misfire_grace_seconds},
    )


def install(scheduler: BackgroundScheduler, schedule: Schedule, worker: Worker, clock: Clock,
            *, delivery_seconds: float) -> None:
    """Add the catch-up pass (at once), one cron job per trigger and the delivery tick every
    `delivery_seconds`; replaces what an earlier `install` added."""
    scheduler.add_job(_catch_up, args=[worker, clock], id=CATCH_UP_ID, name="catch-up",
                      replace_existing=True)
    for job, trigger in schedule.triggers.items():
        scheduler.add_job(_scheduled, trigger=trigger, args=[worker, job, clock],
                          id=job_id(job), name=job, replace_existing=True)
    scheduler.add_job(_delivery_tick, trigger="interval", args=[worker, clock],
                      seconds=delivery_seconds, id=DELIVERY_ID, name="delivery",
                      replace_existing=True)


def uninstall(scheduler: BackgroundScheduler) -> None:
    """Remove everything `install` added (a standby schedules nothing)."""
    scheduler.remove_all_jobs()


def _catch_up(worker: Worker, clock: Clock) -> None:
    worker.catch_up(clock())


def _scheduled(worker: Worker, job: str, clock: Clock) -> None:
    worker.run_scheduled(job, clock())


def _delivery_tick(worker: Worker, clock: Clock) -> None:
    worker.deliver(clock())
