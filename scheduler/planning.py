"""What every planner shares: notices, recipients, the stage rule, occurrences, history, and
the `JobSpec` each job module exposes.

Planners are pure: `plan(ctx) -> list[Notice]`, given a registry snapshot, a date and what was
already queued (History). No session, no clock, no I/O; the one thing a planner writes is
`ctx.skipped`, the items it could not plan (see `plan_items`). This module holds only types and pure
rules, so that config (which validates job names), the jobs and the services can all import it
without a cycle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from scheduler.dates.recurrence import parse_rule
from scheduler.dates.thaidate import WorkingCalendar
from scheduler.registry.domain import Contact, Recurrence, Registry, SentOccurrence

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class JobSettings:
    """The `[jobs.*]` tables of config.toml, read by the planners. Days are calendar days."""

    anniversary_lead_days: tuple[int, ...] = (30, 7, 0)
    deadline_lead_days: tuple[int, ...] = (60, 30, 7, 1, 0)
    dormant_after_days: int = 365
    dormant_repeat_days: int = 90
    meeting_lead_days: tuple[int, ...] = (14, 1)
    meeting_horizon_days: int = 180
    loi_review_years: int = 2
    # `[jobs.escalation] after_notices`: the heads are told with the lead's n-th notice of a
    # dormant spell (SPEC "The way back"); an integer ≥ 1.
    escalation_after_notices: int = 2


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
    """What was already queued for one (item, occurrence, recipient): the smallest stage, the
    latest run date, and the run dates of its reminders (stage ≥ 0: escalations, stage
    `ESCALATION_STAGE`, left out) as the database aggregates them, "YYYY-MM-DD,…" in any
    order (parsed only when asked for: `days`)."""

    min_stage: int
    last_as_of: dt.date
    reminder_days: str = ""

    @property
    def days(self) -> tuple[dt.date, ...]:
        """The run dates (local) of the reminders queued, in order, once each."""
        if not self.reminder_days:
            return ()
        return tuple(sorted({dt.date.fromisoformat(d.strip()[:10])
                             for d in self.reminder_days.split(",") if d.strip()}))


@dataclass(frozen=True)
class History:
    """Notices already queued for a job, keyed by (item, occurrence, recipient address)."""

    entries: Mapping[tuple[str, dt.date, str], Sent] = field(default_factory=dict)

    def get(self, item: str, occurrence: dt.date, address: str) -> Sent | None:
        """What was queued for (item, occurrence, address), or None."""
        return self.entries.get((item, occurrence, address))

    def latest_since(self, item: str, first: dt.date, address: str) -> Sent | None:
        """The most recent notice of `item` to `address` with an occurrence on or after `first`,
        or None. Dormancy uses it so that notices keyed by an older rule (the occurrence was
        the day the spell reached `after_days`, before issue 13) still count for the spell
        that began on `first`: an upgrade never repeats a notice early."""
        found = [sent for day, sent in self._by_item.get((item, address), ()) if day >= first]
        return max(found, key=lambda s: s.last_as_of, default=None)

    def days_since(self, item: str, first: dt.date, address: str) -> tuple[dt.date, ...]:
        """The run dates of every reminder of `item` to `address` with an occurrence on or
        after `first`, in order: how many notices a dormant spell that began on `first` has
        had, and when (SPEC "The way back"; an older rule's occurrences count, as in
        `latest_since`). Escalations are not reminders and are left out."""
        days: set[dt.date] = set()
        for day, sent in self._by_item.get((item, address), ()):
            if day >= first:
                days.update(sent.days)
        return tuple(sorted(days))

    @cached_property
    def _by_item(self) -> Mapping[tuple[str, str], list[tuple[dt.date, Sent]]]:
        """(item, address) → [(occurrence, sent)], built once: a lookup per partner stays
        cheap at 10,000 partners."""
        index: dict[tuple[str, str], list[tuple[dt.date, Sent]]] = {}
        for (item, day, address), sent in self.entries.items():
            index.setdefault((item, address), []).append((day, sent))
        return index


@dataclass(frozen=True)
class SkippedItem:
    """One item a planner could not plan (SPEC "Delivery": reported and skipped, the rest of
    its job goes on): the job, the item's id, and why ("ExceptionType: message")."""

    job: str
    item: str
    reason: str


@dataclass(frozen=True)
class Acknowledgements:
    """What readers did from their emails' links for one job (SPEC "The way back"), as the
    runner loads it (scheduler.services.actions.load_acknowledgements): the (item,
    occurrence) pairs settled for everyone (a recorded activity, a deadline done), the (item,
    occurrence, address) settled for one reader (an anniversary with no action), and each
    (item, address)'s snooze: no notice before that local date."""

    for_all: frozenset[tuple[str, dt.date]] = frozenset()
    for_one: frozenset[tuple[str, dt.date, str]] = frozenset()
    snoozed: Mapping[tuple[str, str], dt.date] = field(default_factory=dict)

    def settled(self, item: str, occurrence: dt.date) -> bool:
        """True when someone settled this item's occurrence for everyone."""
        return (item, occurrence) in self.for_all

    def settled_for(self, item: str, occurrence: dt.date, address: str) -> bool:
        """True when `address` settled this item's occurrence for themselves."""
        return (item, occurrence, address) in self.for_one

    def snoozed_on(self, item: str, address: str, day: dt.date) -> bool:
        """True when `address` snoozed `item` and the snooze lasts past `day`."""
        until = self.snoozed.get((item, address))
        return until is not None and day < until


@dataclass(frozen=True)
class PlanContext:
    """Everything a planner may read: the registry snapshot, the run's date (local), the job
    settings, the working calendar, the IANA time zone, what was already queued and the
    sender's "Name <address>"."""

    registry: Registry
    as_of: dt.date
    settings: JobSettings
    calendar: WorkingCalendar
    timezone: str = "Asia/Bangkok"
    history: History = field(default_factory=History)
    sender: str = ""
    # What each meeting occurrence's invitees were last sent, by (meeting id, occurrence key):
    # loaded by the job's `JobMemory` (meeting-agendas only), inside the run's lock.
    sent_meetings: Mapping[tuple[str, dt.date], SentOccurrence] = field(default_factory=dict)
    # What readers did from their links (SPEC "The way back"): loaded by the runner for the
    # job, inside the run's transaction.
    acknowledgements: Acknowledgements = field(default_factory=Acknowledgements)
    # Filled by `plan_items` while planning; the runner reports them.
    skipped: list[SkippedItem] = field(default_factory=list, compare=False)


# (notices of one message, every notice of the run, now in UTC) → (template variables added
# to that message, an iCalendar attachment or None)
MessageExtras = Callable[
    [Sequence["Notice"], Sequence["Notice"], dt.datetime], tuple[Mapping[str, Any], bytes | None]
]


class HistoryWindow(Enum):
    """How far back a job must see what it already queued to decide what is new."""

    FROM_AS_OF = "from-as-of"  # staged jobs: only occurrences on or after the run's date
    ALL = "all"  # dormancy: a spell that started long ago is still the same occurrence

    def since(self, as_of: dt.date) -> dt.date | None:
        """The first occurrence date to load history for, or None for all of it."""
        return as_of if self is HistoryWindow.FROM_AS_OF else None


@dataclass(frozen=True)
class JobMemory:
    """What a job remembers beyond its notices (meeting-agendas: each occurrence's SEQUENCE and
    details as last sent). `load` reads it for the planner (`PlanContext.sent_meetings`), in
    the run's write transaction; `save` records what the queued notices carried, in the same
    transaction. A dry run loads and never saves."""

    load: Callable[[Session], Mapping[tuple[str, dt.date], SentOccurrence]]
    save: Callable[[Session, Sequence[Notice]], None]


@dataclass(frozen=True)
class JobSpec:
    """One job: everything the runner, the daemon, config and the templates need to know.

    `name` is the CLI/config name (also the template prefix and the outbox `job` column);
    `plan` is pure (see the module docstring); `digest` True groups all of a recipient's
    notices of one run into one email, False sends one email per (recipient, item, occurrence);
    `schedule` is the default crontab line of `[schedule]`; `extras`, when set, adds template
    variables and an attachment to each email.
    """

    name: str
    plan: Callable[[PlanContext], list[Notice]]
    schedule: str
    digest: bool = True
    history: HistoryWindow = HistoryWindow.FROM_AS_OF
    extras: MessageExtras | None = None
    memory: JobMemory | None = None


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

    def people(self) -> list[dict[str, str]]:
        """Everyone in the set as {"address", "name"}: a notice's `told`, from which each
        reader's "also sent to" is taken (SPEC "Text"), the reader left out by address."""
        return [{"address": r.address, "name": r.name} for r in self._by_address.values()]


# The stage of an escalation notice to a head (SPEC "The way back"): below every reminder
# stage (lead days and days of silence are ≥ 0), so that the queue's once-rule, keyed by
# (job, item, occurrence, stage, recipient), sends each escalation once per head.
ESCALATION_STAGE = -1


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
    counted_from: dt.date | None = None,
) -> list[Notice]:
    """Notices for one dated item under the stage rule (SPEC "Stages"). The stages count back
    from `counted_from` when given (a deadline's act-by date), else from `occurrence`, which
    stays the item's key either way."""
    target = occurrence if counted_from is None else counted_from
    stage = due_stage(target, ctx.as_of, lead_days)
    if stage is None:
        return []
    full = {**context, "stage": stage, "days_until": (target - ctx.as_of).days}
    return [
        Notice(job, item, occurrence, stage, r, full)
        for r in recipients
        if not already_covered(ctx.history, item, occurrence, r.address, stage)
    ]


def occurrences(rec: Recurrence, start: dt.date, end: dt.date) -> list[dt.datetime]:
    """Occurrences (local wall time) whose date lies in [start, end], in order.

    An item's notices are keyed by (item, date), so same-day occurrences must be one item
    (SPEC "Delivery"): `parse_rule` refuses any rule with more than one occurrence a day, also
    one stored by an older version (e.g. `FREQ=DAILY;BYHOUR=9,15`), which then raises
    ValueError here and is reported and skipped by `plan_items`.
    """
    if not rec.rrule:
        return [rec.dtstart] if start <= rec.dtstart.date() <= end else []
    rule = parse_rule(rec.rrule, rec.dtstart)
    lo = dt.datetime.combine(start, dt.time.min)
    hi = dt.datetime.combine(end, dt.time.max)
    return list(rule.between(lo, hi, inc=True))


Item = TypeVar("Item")


def plan_items(
    ctx: PlanContext,
    job: str,
    items: Iterable[Item],
    key: Callable[[Item], str],
    plan_one: Callable[[Item], Iterable[Notice]],
) -> list[Notice]:
    """The notices of each of `items` (`plan_one(item)`), in order. An item whose planning
    raises gives no notice at all and is recorded in `ctx.skipped` under `key(item)`; the
    others are planned as usual (SPEC "Delivery": one item that cannot be planned is reported
    and skipped, the rest of its job goes on)."""
    notices: list[Notice] = []
    for item in items:
        try:
            found = list(plan_one(item))  # whole or nothing: no half-planned item
        except Exception as exc:  # any fault of one item's data must not stop the job
            ctx.skipped.append(SkippedItem(job, key(item), f"{type(exc).__name__}: {exc}"))
            continue
        notices.extend(found)
    return notices


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def search_window(as_of: dt.date, lead_days: Sequence[int]) -> tuple[dt.date, dt.date]:
    """Dates whose stages may be due as of `as_of`: [as_of, as_of + the longest lead]."""
    return as_of, as_of + dt.timedelta(days=max(lead_days, default=0))
