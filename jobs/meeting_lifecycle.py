"""A meeting occurrence's life in its invitees' calendars (SPEC "Meetings in calendars",
RFC 5545/5546), planned by the meeting-agendas job.

- **Key and UID.** An occurrence is keyed by its meeting and the date its rule gives (a one-off
  meeting: the date of its first invitation, remembered in `meeting_occurrences`), so moving
  it, also to another day, keeps its notices and its UID (`event_uid(meeting, key)`).
- **What applies.** The meeting's own values, then its `[[meeting.change]]` for that date;
  `cancelled` on the meeting cancels every occurrence. An occurrence already invited to that
  the rule no longer gives is cancelled too.
- **Changes.** A run compares each invited occurrence with what was last sent
  (`PlanContext.sent_meetings`): a different start, end or location, or a cancellation,
  raises SEQUENCE by one and sends an update (METHOD:REQUEST) or a cancellation
  (METHOD:CANCEL) to everyone already invited, whatever the stages, under the notice item
  `<meeting>/seq<N>`: a rerun, the daemon or a second daemon finds it queued and sends
  nothing twice (DESIGN "Calendars"). After a cancellation nothing more is sent about it.

Pure, like every planner; `save` (the job's memory) is the one writer, in the run's
transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from scheduler.planning import (
    History,
    JobMemory,
    Notice,
    PlanContext,
    Recipient,
    already_covered,
    due_stage,
    occurrences,
    search_window,
    staged,
)
from scheduler.registry.domain import Meeting, Registry, SentOccurrence
from scheduler.registry.occurrences import load_sent, save_sent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# How far from its rule date an occurrence may be moved and still be found by a run that looks
# at the dates around it (one already invited to is always found, through what was sent).
MOVE_MARGIN_DAYS = 31


@dataclass(frozen=True)
class Occurrence:
    """One occurrence as it now stands: the meeting with its change applied (duration,
    location), its key date, start and end (local wall time, naive) and whether it is
    cancelled."""

    meeting: Meeting
    key: dt.date
    starts_at: dt.datetime
    cancelled: bool

    @property
    def ends_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(minutes=self.meeting.duration_minutes)

    def sent(self, sequence: int) -> SentOccurrence:
        """What its invitees are sent now, at `sequence`."""
        return SentOccurrence(self.meeting.id, self.key, sequence, self.starts_at, self.ends_at,
                              self.meeting.location, self.cancelled)


def occurrence(meeting: Meeting, key: dt.date, rule_start: dt.datetime | None) -> Occurrence:
    """The occurrence keyed `key` whose rule gives `rule_start` (None: the rule no longer gives
    it, so it is cancelled; it keeps its change's start, else its key date at the time of the
    meeting's dtstart)."""
    change = meeting.change_of(key)
    start = rule_start or dt.datetime.combine(key, meeting.recurrence.dtstart.time())
    if change is None:
        return Occurrence(meeting, key, start, meeting.cancelled or rule_start is None)
    applied = replace(
        meeting,
        duration_minutes=change.duration_minutes or meeting.duration_minutes,
        location=meeting.location if change.location is None else change.location,
        location_th=meeting.location_th if change.location_th is None else change.location_th,
    )
    cancelled = meeting.cancelled or change.cancelled or rule_start is None
    return Occurrence(applied, key, change.starts_at or start, cancelled)


def meeting_occurrences(
    meeting: Meeting, sent: Mapping[tuple[str, dt.date], SentOccurrence],
    start: dt.date, end: dt.date,
) -> list[Occurrence]:
    """The meeting's occurrences a run from `start` to `end` may have to send about: those the
    rule gives within MOVE_MARGIN_DAYS of [start, end], and every one already invited to
    (`sent`) whose start, before or after a change, is on or after `start`. In key order."""
    mine = {key: s for (mid, key), s in sent.items() if mid == meeting.id}
    rec = meeting.recurrence
    if not rec.rrule:
        # One-off: one occurrence, keyed by the date of its first invitation for life.
        key = max(mine) if mine else rec.dtstart.date()
        found = [occurrence(meeting, key, rec.dtstart)]
    else:
        margin = dt.timedelta(days=MOVE_MARGIN_DAYS)
        starts: dict[dt.date, dt.datetime | None] = {
            w.date(): w for w in occurrences(rec, start - margin, end + margin)}
        for key in mine.keys() - starts.keys():
            given = occurrences(rec, key, key)
            starts[key] = given[0] if given else None
        found = [occurrence(meeting, key, starts[key]) for key in sorted(starts)]
    return [o for o in found
            if o.starts_at.date() >= start
            or (o.key in mine and mine[o.key].starts_at.date() >= start)]


def invited(history: History) -> Callable[[str, dt.date], list[str]]:
    """A lookup (meeting id, occurrence key) → the addresses already sent anything about it
    (an invitation, a reminder, an update), built once per run from the job's history."""
    index: dict[tuple[str, dt.date], list[str]] = {}
    for item, day, address in history.entries:
        index.setdefault((item.partition("/")[0], day), []).append(address)

    def lookup(meeting_id: str, key: dt.date) -> list[str]:
        return sorted(set(index.get((meeting_id, key), ())))

    return lookup


def change_item(meeting_id: str, sequence: int) -> str:
    """The notice item of the update or cancellation that raised SEQUENCE to `sequence`."""
    return f"{meeting_id}/seq{sequence}"


def change_view(before: SentOccurrence, now: Occurrence, sequence: int) -> dict[str, Any]:
    """What the update or cancellation email says changed, old → new (template
    `_meeting_change.j2`): start, end, location, each with a flag."""
    return {
        "cancelled": now.cancelled,
        "sequence": sequence,
        "old_starts_at": before.starts_at, "new_starts_at": now.starts_at,
        "old_ends_at": before.ends_at, "new_ends_at": now.ends_at,
        "old_location": before.location, "new_location": now.meeting.location,
        # Only the English location of what was sent is kept: its Thai twin is the meeting's
        # when that location is still the meeting's (SPEC "Every free text ... a `_th` twin").
        "old_location_th": (now.meeting.location_th or before.location
                            if before.location == now.meeting.location else before.location),
        "new_location_th": now.meeting.location_th or now.meeting.location,
        "day": before.starts_at.date() != now.starts_at.date(),
        "start": before.starts_at != now.starts_at,
        "end": before.ends_at != now.ends_at,
        "location": before.location != now.meeting.location,
    }


def calendar_view(occ: Occurrence, sequence: int, uid: str) -> dict[str, Any]:
    """The calendar part's identity for one email: UID, SEQUENCE, method, and the state the
    save step records."""
    return {"uid": uid, "sequence": sequence,
            "method": "CANCEL" if occ.cancelled else "REQUEST", "state": occ.sent(sequence)}


def plan_change(
    ctx: PlanContext, job: str, occ: Occurrence, invitees: Sequence[Recipient],
    build: Callable[[int, dict[str, Any] | None], dict[str, Any]],
) -> tuple[int, list[Notice]]:
    """The SEQUENCE an occurrence is sent at in this run, and the update or cancellation
    notices to everyone already invited (`invitees`) when it changed since it was last sent.
    `build(sequence, change)` gives the notice context. Nothing for an occurrence never invited
    to, already cancelled, or wholly past."""
    before = ctx.sent_meetings.get((occ.meeting.id, occ.key))
    if before is None:
        return 0, []
    now = occ.sent(before.sequence)
    if before.cancelled or now == before:
        return before.sequence, []
    if max(before.starts_at.date(), occ.starts_at.date()) < ctx.as_of:
        return before.sequence, []  # all in the past: nothing left to put right
    sequence = before.sequence + 1
    item = change_item(occ.meeting.id, sequence)
    context = build(sequence, change_view(before, occ, sequence))
    return sequence, [
        Notice(job, item, occ.key, 0, r, context) for r in invitees
        if ctx.history.get(item, occ.key, r.address) is None
    ]


def invitees(registry: Registry, recipients: Iterable[Recipient],
             addresses: Iterable[str]) -> list[Recipient]:
    """The recipients at `addresses` (those already invited): as the current recipient list
    has them, else as the registry's contacts do, else by address alone (English)."""
    current = {r.address: r for r in recipients}
    contacts = {c.address: c for c in registry.contacts.values()}
    found: list[Recipient] = []
    for address in addresses:
        if address in current:
            found.append(current[address])
        elif address in contacts:
            c = contacts[address]
            found.append(Recipient(address, c.name, c.language, (c.role.value,)))
        else:
            found.append(Recipient(address, "", "en", ()))
    return found


def plan_meeting(
    ctx: PlanContext,
    job: str,
    meeting: Meeting,
    recipients: Sequence[Recipient],
    agenda: Callable[[Occurrence], dict[str, Any]],
    uid: Callable[[dt.date], str],
    invited_to: Callable[[str, dt.date], list[str]],
) -> list[Notice]:
    """The notices of one meeting in this run: for each occurrence, the update or cancellation
    to everyone already invited when it changed (`plan_change`), then the stage due to
    `recipients` (SPEC "Stages"; none for a cancelled occurrence) carrying the SEQUENCE it now
    has. A reader who gets both in one run gets one email: the update (same `email_item`).
    `agenda(occ)` gives the email's template context; `uid(key)` the occurrence's UID;
    `invited_to` is `invited(ctx.history)`."""
    lead_days = ctx.settings.meeting_lead_days
    start, end = search_window(ctx.as_of, lead_days)
    notices: list[Notice] = []
    for occ in meeting_occurrences(meeting, ctx.sent_meetings, start, end):
        day = occ.starts_at.date()
        stage = None if occ.cancelled else due_stage(day, ctx.as_of, lead_days)
        before = ctx.sent_meetings.get((meeting.id, occ.key))
        may_change = before is not None and not before.cancelled \
            and before != occ.sent(before.sequence)
        if not may_change and (stage is None or all(
                already_covered(ctx.history, meeting.id, occ.key, r.address, stage)
                for r in recipients)):
            continue  # nothing to send: spare building the agenda
        base = {**agenda(occ), "email_item": meeting.id, "stage": stage or 0,
                "days_until": (day - ctx.as_of).days}

        def build(sequence: int, change: dict[str, Any] | None,
                  occ: Occurrence = occ, base: dict[str, Any] = base) -> dict[str, Any]:
            return {**base, "calendar": calendar_view(occ, sequence, uid(occ.key)),
                    "change": change}

        people = invitees(ctx.registry, recipients, invited_to(meeting.id, occ.key))
        sequence, updates = plan_change(ctx, job, occ, people, build)
        notices.extend(updates)
        if stage is None:
            continue
        merged = {n.recipient.address: n.context for n in updates}
        for n in staged(ctx, job, meeting.id, occ.key, lead_days, recipients,
                        build(sequence, None), counted_from=day):
            notices.append(replace(n, context={**merged[n.recipient.address], "stage": n.stage})
                           if n.recipient.address in merged else n)
    return notices


def save(session: Session, notices: Sequence[Notice]) -> None:
    """Record what the queued notices carried of each occurrence (SEQUENCE, start, end,
    location, cancelled), in the run's transaction."""
    save_sent(session, (n.context["calendar"]["state"] for n in notices
                        if "calendar" in n.context))


MEMORY = JobMemory(load=load_sent, save=save)


def sequence_now(occ: Occurrence, sent: Mapping[tuple[str, dt.date], SentOccurrence]) -> int:
    """The SEQUENCE the occurrence has as it now stands: what was last sent, plus one when it
    changed since (the next run sends that update); 0 when never sent. The calendar feed
    shows it, so that a subscriber's calendar agrees with the invitations."""
    before = sent.get((occ.meeting.id, occ.key))
    if before is None:
        return 0
    unchanged = before.cancelled or occ.sent(before.sequence) == before
    return before.sequence if unchanged else before.sequence + 1
