"""What every planner shares: notices, recipients, the stage rule, occurrences, history.

Planners are pure: `plan(ctx) -> list[Notice]`, given a registry snapshot, a date and what was
already queued (History). No session, no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduler.config import JobSettings
from scheduler.dates.recurrence import parse_rule
from scheduler.dates.thaidate import WorkingCalendar
from scheduler.registry.domain import Contact, Recurrence, Registry


@dataclass(frozen=True)
class Recipient:
    """One mailbox. A person listed twice (a lead who is also staff) is one recipient."""

    address: str  # lower-cased
    name: str
    language: str
    roles: tuple[str, ...]  # why they get it, e.g. ("lead", "staff")


@dataclass(frozen=True)
class Notice:
    """One (job, item, occurrence, stage, recipient): delivered at most once."""

    job: str
    item: str
    occurrence: dt.date
    stage: int
    recipient: Recipient
    context: Mapping[str, Any] = field(hash=False, compare=False)

    @property
    def key(self) -> tuple[str, str, dt.date, int, str]:
        return (self.job, self.item, self.occurrence, self.stage, self.recipient.address)


@dataclass(frozen=True)
class Sent:
    """What was already queued for one (item, occurrence, recipient)."""

    min_stage: int
    last_as_of: dt.date


@dataclass(frozen=True)
class History:
    """Notices already queued for a job, keyed by (item, occurrence, recipient address)."""

    entries: Mapping[tuple[str, dt.date, str], Sent] = field(default_factory=dict)

    def get(self, item: str, occurrence: dt.date, address: str) -> Sent | None:
        return self.entries.get((item, occurrence, address))


@dataclass(frozen=True)
class PlanContext:
    registry: Registry
    as_of: dt.date
    settings: JobSettings
    calendar: WorkingCalendar
    timezone: str = "Asia/Bangkok"
    history: History = field(default_factory=History)
    sender: str = ""


class RecipientSet:
    """Collects recipients for one item, merging roles of the same address, in order."""

    def __init__(self) -> None:
        self._by_address: dict[str, Recipient] = {}

    def add(self, contact: Contact | None, role: str) -> None:
        if contact is None:
            return
        address = contact.address
        known = self._by_address.get(address)
        if known is None:
            self._by_address[address] = Recipient(address, contact.name, contact.language, (role,))
        elif role not in known.roles:
            self._by_address[address] = Recipient(
                address, known.name, known.language, (*known.roles, role)
            )

    def __iter__(self) -> Iterator[Recipient]:
        return iter(self._by_address.values())

    def names(self) -> list[str]:
        return [r.name for r in self._by_address.values()]


def due_stage(item_date: dt.date, as_of: dt.date, lead_days: Sequence[int]) -> int | None:
    """The latest stage already due as of `as_of`, or None.

    Stage d is due on item_date - d. Nothing is due after the item's date. Of the due stages
    only the latest (smallest d) counts: earlier ones that were missed are never sent late.
    """
    if as_of > item_date:
        return None
    days_left = (item_date - as_of).days
    due = [d for d in lead_days if d >= days_left]
    return min(due) if due else None


def already_covered(
    history: History, notice_item: str, occurrence: dt.date, address: str, stage: int
) -> bool:
    """True when this stage or a later one (smaller lead) was queued, in any state."""
    sent = history.get(notice_item, occurrence, address)
    return sent is not None and sent.min_stage <= stage


def staged(
    ctx: PlanContext,
    job: str,
    item: str,
    occurrence: dt.date,
    lead_days: Sequence[int],
    recipients: Iterable[Recipient],
    context: Mapping[str, Any],
) -> list[Notice]:
    """Notices for one dated item under the stage rule."""
    stage = due_stage(occurrence, ctx.as_of, lead_days)
    if stage is None:
        return []
    full = {**context, "stage": stage, "days_until": (occurrence - ctx.as_of).days}
    return [
        Notice(job, item, occurrence, stage, r, full)
        for r in recipients
        if not already_covered(ctx.history, item, occurrence, r.address, stage)
    ]


def occurrences(rec: Recurrence, start: dt.date, end: dt.date) -> list[dt.datetime]:
    """Occurrences (local wall time) whose date lies in [start, end]."""
    if not rec.rrule:
        return [rec.dtstart] if start <= rec.dtstart.date() <= end else []
    rule = parse_rule(rec.rrule, rec.dtstart)
    lo = dt.datetime.combine(start, dt.time.min)
    hi = dt.datetime.combine(end, dt.time.max)
    return list(rule.between(lo, hi, inc=True))


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def search_window(as_of: dt.date, lead_days: Sequence[int]) -> tuple[dt.date, dt.date]:
    """Dates whose stages may be due as of `as_of`: [as_of, as_of + the longest lead]."""
    return as_of, as_of + dt.timedelta(days=max(lead_days, default=0))
