"""What `sistercity status` reports: schedules, next and last runs, outbox counts, daemons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from jobs import JOB_NAMES
from scheduler.config import Settings
from scheduler.db.database import Database
from scheduler.db.models import DaemonRow, MessageRow, RunRow
from scheduler.services.jsonable import jsonable
from scheduler.services.states import STATES

# A daemon whose heartbeat is older than this is taken for dead.
DAEMON_STALE_SECONDS = 90


def active_daemon(db: Database, now: dt.datetime) -> DaemonRow | None:
    """The active daemon whose heartbeat is at most DAEMON_STALE_SECONDS older than `now`
    (UTC), the most recent first; None when there is none."""
    cutoff = now - dt.timedelta(seconds=DAEMON_STALE_SECONDS)
    with db.read() as session:
        return session.scalars(
            select(DaemonRow)
            .where(
                DaemonRow.active.is_(True),
                DaemonRow.stopped_at.is_(None),
                DaemonRow.heartbeat_at >= cutoff,
            )
            .order_by(DaemonRow.heartbeat_at.desc())
        ).first()


@dataclass(frozen=True)
class JobStatus:
    """One job: its crontab line, the next run the active daemon planned (None without one)
    and the start of its last run; times aware, in the configured zone."""

    name: str
    schedule: str
    next_run: dt.datetime | None
    last_run: dt.datetime | None


@dataclass(frozen=True)
class DaemonStatus:
    """The active daemon: its id, host and pid, when it started and last said it was alive."""

    id: str
    host: str
    pid: int
    started_at: dt.datetime
    heartbeat_at: dt.datetime


@dataclass(frozen=True)
class Status:
    """What `sistercity status` reports: every job, message counts by state (every state, 0
    when none), the active daemon or None, and the IANA zone the times are in."""

    jobs: tuple[JobStatus, ...]
    outbox: Mapping[str, int]
    daemon: DaemonStatus | None
    timezone: str

    def to_json(self) -> dict[str, Any]:
        """The SPEC's `status --json` document; times ISO 8601 with their offset."""
        result: dict[str, Any] = jsonable(self)
        return result


def collect_status(db: Database, settings: Settings, now: dt.datetime) -> Status:
    """Schedules, next and last runs, outbox counts and the active daemon as of `now` (UTC)."""
    tz = settings.tz
    daemon = active_daemon(db, now)
    with db.read() as session:
        last_runs: dict[str, dt.datetime] = {
            job: when
            for job, when in session.execute(
                select(RunRow.job, func.max(RunRow.started_at)).group_by(RunRow.job)
            )
        }
        counts: dict[str, int] = {
            state: n
            for state, n in session.execute(
                select(MessageRow.state, func.count()).group_by(MessageRow.state)
            )
        }
    jobs = []
    for name in JOB_NAMES:
        last = last_runs.get(name)
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        next_run = daemon.next_runs.get(name) if daemon else None
        jobs.append(JobStatus(
            name=name,
            schedule=settings.schedule[name],
            next_run=dt.datetime.fromisoformat(next_run).astimezone(tz) if next_run else None,
            last_run=last.astimezone(tz) if last else None,
        ))
    return Status(
        jobs=tuple(jobs),
        outbox={state: int(counts.get(state, 0)) for state in STATES},
        daemon=None if daemon is None else DaemonStatus(
            daemon.id, daemon.host, daemon.pid, daemon.started_at.astimezone(tz),
            daemon.heartbeat_at.astimezone(tz),
        ),
        timezone=settings.timezone,
    )
