"""Meeting operations a user asks for: cancel a meeting, or one occurrence of it (SPEC
`sistercity meeting cancel`, and the web app's form later).

Cancelling changes the registry only, in one transaction with its audit entry; the next run
of meeting-agendas finds the occurrence cancelled since it was last sent, raises its SEQUENCE
and sends METHOD:CANCEL to everyone invited (jobs.meeting_lifecycle). Bad input raises
UserError (exit status 2 on the command line).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from scheduler.db.database import Database
from scheduler.db.models import MeetingRow
from scheduler.errors import UserError
from scheduler.planning import occurrences
from scheduler.registry.domain import MeetingChange, Recurrence
from scheduler.registry.store import change_json
from scheduler.services.audit import Actor, AuditAction, record


@dataclass(frozen=True)
class Cancelled:
    """What `cancel_meeting` stored: the meeting, and the occurrence (the date its rule gives)
    or None for every occurrence."""

    meeting_id: str
    occurrence: dt.date | None


def cancel_meeting(db: Database, meeting: str, *, occurrence: dt.date | None = None,
                   by: Actor) -> Cancelled:
    """Cancel `meeting` (its id), or only its `occurrence` (the date its rule gives it), as
    `cancelled = true` or `[[meeting.change]] cancelled = true` in a dataset file would.

    Raises:
        UserError: no meeting has that id, or it has no occurrence on that date.
    """
    with db.write(lock="registry") as session:
        row = session.get(MeetingRow, meeting)
        if row is None:
            known = ", ".join(session.scalars(select(MeetingRow.id).order_by(MeetingRow.id)))
            raise UserError(f'unknown meeting "{meeting}" (meetings: {known or "none"})')
        if occurrence is None:
            row.cancelled = True
        else:
            if not occurrences(Recurrence(row.dtstart, row.rrule), occurrence, occurrence):
                raise UserError(f'meeting "{meeting}" has no occurrence on '
                                f"{occurrence.isoformat()} (give the date its rule gives)")
            changes = [dict(c) for c in row.changes or ()]
            mine = next((c for c in changes if c["occurrence"] == occurrence.isoformat()), None)
            if mine is None:
                changes.append(change_json(MeetingChange(occurrence, cancelled=True)))
            else:
                mine["cancelled"] = True
            row.changes = changes  # a new list, so that the JSON column is written
        record(session, by, AuditAction.CANCEL_MEETING, meeting,
               {"occurrence": occurrence.isoformat() if occurrence else None})
    return Cancelled(meeting, occurrence)
