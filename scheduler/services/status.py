"""What `sistercity status` reports: schedules, next and last runs, outbox counts, daemons."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from scheduler.config import JOB_NAMES, Settings
from scheduler.db.database import Database
from scheduler.db.models import DaemonRow, MessageRow, RunRow
from scheduler.db.states import MessageState

# A daemon whose heartbeat is older than this is taken for dead.
DAEMON_STALE_SECONDS = 90


def active_daemon(db: Database, now: dt.datetime) -> DaemonRow | None:
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


def collect_status(
    db: Database, settings: Settings, now: dt.datetime | None = None
) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
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
        jobs.append(
            {
                "name": name,
                "schedule": settings.schedule[name],
                "next_run": (
                    dt.datetime.fromisoformat(next_run).astimezone(tz).isoformat()
                    if next_run
                    else None
                ),
                "last_run": last.astimezone(tz).isoformat() if last else None,
            }
        )
    return {
        "jobs": jobs,
        "outbox": {
            state.value: int(counts.get(state, 0)) for state in MessageState
        },
        "daemon": None
        if daemon is None
        else {
            "id": daemon.id,
            "host": daemon.host,
            "pid": daemon.pid,
            "started_at": daemon.started_at.astimezone(tz).isoformat(),
            "heartbeat_at": daemon.heartbeat_at.astimezone(tz).isoformat(),
        },
        "timezone": settings.timezone,
    }
