"""What the dashboard shows (SPEC "The office web app"): the next 90 days' anniversaries,
budget act-by dates and meeting occurrences, the dormant partners, and the outbox's health.

It reads through the same planners the jobs and meeting agendas use (jobs.meeting_agendas'
anniversaries, deadlines and dormant_partners; scheduler.planning.occurrences), so the
dashboard and the emails never disagree about a date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select

from jobs.meeting_agendas import anniversaries, deadlines, dormant_partners
from scheduler.db.database import Database
from scheduler.db.models import MessageRow
from scheduler.planning import occurrences
from scheduler.registry.domain import Registry
from scheduler.services.runs import Runner

HORIZON_DAYS = 90
_OUTBOX_COUNTS = select(MessageRow.state, func.count()).group_by(MessageRow.state)


@dataclass(frozen=True)
class Dashboard:
    """The dashboard as of `today`: rows for each list (dicts as the email templates get
    them: anniversary and deadline views; meetings as {"id", "title", "title_th", "starts",
    "location"}, cancelled occurrences left out and moved ones at their new time; dormant
    partner views) and message counts by state."""

    today: dt.date
    end: dt.date
    anniversaries: list[dict[str, Any]]
    deadlines: list[dict[str, Any]]
    meetings: list[dict[str, Any]]
    dormant: list[dict[str, Any]]
    outbox: Mapping[str, int]


def dashboard(runner: Runner, today: dt.date, registry: Registry | None = None) -> Dashboard:
    """The dashboard as of `today` (local date) for the next HORIZON_DAYS days, over the
    relations not ended by then: `plan` over `registry` (the whole registry, as
    load_registry reads it; read now when None) with the outbox counts read now."""
    whole = registry if registry is not None else runner.registry()
    return replace(plan(runner, whole, today), outbox=outbox_counts(runner.db))


def plan(runner: Runner, registry: Registry, today: dt.date) -> Dashboard:
    """What the dashboard shows about the registry (everything but the outbox counts, left
    at 0), as of `today` over `registry` (the whole registry; relations ended by then are left
    out here). A meeting or deadline whose rule cannot be expanded is left out, as the jobs
    skip it (and log why). Depends only on the registry and the date: the web app keeps it
    while the registry does not change (scheduler.web.cache)."""
    registry = registry.active_on(today)
    end = today + dt.timedelta(days=HORIZON_DAYS)
    partners = list(registry.partners.values())
    rows: list[dict[str, Any]] = []
    for meeting in registry.meetings.values():
        try:
            starts = [] if meeting.cancelled else occurrences(meeting.recurrence, today, end)
        except ValueError:
            continue
        for when in starts:
            change = meeting.change_of(when.date())
            if change is not None and change.cancelled:
                continue
            moved = change.starts_at if change is not None and change.starts_at else when
            rows.append({"id": meeting.id, "title": meeting.title,
                         "title_th": meeting.title_th or meeting.title, "starts": moved,
                         "location": meeting.location})
    rows.sort(key=lambda r: (r["starts"], r["title"]))
    try:
        due = deadlines(registry, set(registry.working_groups), today, end, runner.calendar)
    except ValueError:
        due = []
    return Dashboard(
        today=today, end=end,
        anniversaries=anniversaries(registry, partners, today, end),
        deadlines=due, meetings=rows,
        dormant=dormant_partners(registry, partners, today,
                                 runner.settings.jobs.dormant_after_days),
        outbox={"pending": 0, "failed": 0},
    )


def outbox_counts(db: Database) -> dict[str, int]:
    """How many messages are pending and failed now (one grouped count; not cached: the
    daemon changes them without touching the registry)."""
    with db.engine.connect() as conn:  # Core: a fifth of an ORM session's cost
        counts: dict[str, int] = {state: n for state, n in conn.execute(_OUTBOX_COUNTS)}
    return {state: int(counts.get(state, 0)) for state in ("pending", "failed")}
