"""What each meeting occurrence's invitees were last sent (SPEC "Meetings in calendars"): read
before the meeting-agendas job plans, written in the same transaction as the notices it queued.

The SEQUENCE of an occurrence lives here (DESIGN "Calendars"): a run that finds the meeting
changed since (start, end, location, cancellation) raises it by one and queues the update or the
cancellation under a notice key that includes it, so "once" still holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db.models import MeetingOccurrenceRow
from scheduler.registry.domain import SentOccurrence

SentKey = tuple[str, dt.date]


def load_sent(session: Session) -> dict[SentKey, SentOccurrence]:
    """Every occurrence ever invited to, by (meeting id, occurrence key date)."""
    return {
        (r.meeting_id, r.occurrence): SentOccurrence(
            r.meeting_id, r.occurrence, r.sequence, r.starts_at, r.ends_at, r.location,
            r.cancelled)
        for r in session.scalars(select(MeetingOccurrenceRow))
    }


def save_sent(session: Session, sent: Iterable[SentOccurrence]) -> None:
    """Insert or replace the rows of `sent` (one per occurrence; the last given wins)."""
    latest: Mapping[SentKey, SentOccurrence] = {(s.meeting, s.occurrence): s for s in sent}
    for (meeting, occurrence), s in latest.items():
        row = session.get(MeetingOccurrenceRow, (meeting, occurrence))
        if row is None:
            row = MeetingOccurrenceRow(meeting_id=meeting, occurrence=occurrence)
            session.add(row)
        row.sequence, row.starts_at, row.ends_at = s.sequence, s.starts_at, s.ends_at
        row.location, row.cancelled = s.location, s.cancelled
