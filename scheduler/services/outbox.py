"""Outbox operations a user asks for: list messages, requeue failed ones, deliver what is due,
and tell whether a command's messages are still waiting.

Each takes the database (and settings, `now` or the time zone it needs, passed in) and returns
frozen values. Requeueing is where audit entries will be written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from scheduler.config import Settings
from scheduler.db.database import Database
from scheduler.db.models import MessageRow
from scheduler.db.states import MessageState
from scheduler.errors import UserError
from scheduler.mail.delivery import Delivery, DeliveryReport
from scheduler.mail.transports import make_transport
from scheduler.services.jsonable import jsonable
from scheduler.services.states import REQUEUEABLE, WAITING


@dataclass(frozen=True)
class OutboxEntry:
    """One queued or sent message. Times are aware datetimes in the configured zone (None when
    not sent / not scheduled); `attempts` counts delivery tries so far."""

    id: int
    job: str
    recipient: str
    subject: str
    state: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        """The SPEC's `outbox --json` object; times ISO 8601 with their offset."""
        result: dict[str, Any] = jsonable(self)
        return result


def list_outbox(db: Database, tz: ZoneInfo, *, state: str | None = None) -> list[OutboxEntry]:
    """Every message by id (only those in `state`, one of STATES, when given), times in `tz`."""
    query = select(
        MessageRow.id, MessageRow.job, MessageRow.recipient, MessageRow.subject,
        MessageRow.state, MessageRow.attempts, MessageRow.last_error, MessageRow.created_at,
        MessageRow.sent_at, MessageRow.next_attempt_at,
    )
    if state:
        query = query.where(MessageRow.state == state)
    with db.read() as session:
        rows = list(session.execute(query.order_by(MessageRow.id)))

    def local(when: dt.datetime | None) -> dt.datetime | None:
        return when.astimezone(tz) if when else None

    return [
        OutboxEntry(r.id, r.job, r.recipient, r.subject, r.state, r.attempts, r.last_error,
                    r.created_at.astimezone(tz), local(r.sent_at), local(r.next_attempt_at))
        for r in rows
    ]


@dataclass(frozen=True)
class Requeued:
    """What `requeue` did: ids moved to pending (due now, attempts reset), and ids left alone
    because they were sent or being sent."""

    requeued: tuple[int, ...]
    skipped: tuple[int, ...]


def requeue(db: Database, ids: Collection[int], *, now: dt.datetime) -> Requeued:
    """Move the listed messages (or, with no ids, every failed one) back to pending, due at
    `now` (UTC) with their attempts reset. Pending ones are made due now too. UserError names
    any id that does not exist, and nothing is changed then."""
    with db.write() as session:
        query = select(MessageRow.id, MessageRow.state)
        query = (
            query.where(MessageRow.id.in_(ids)) if ids
            else query.where(MessageRow.state == MessageState.FAILED)
        )
        found = {r[0]: r[1] for r in session.execute(query)}
        missing = [i for i in ids if i not in found]
        if missing:
            raise UserError(f"no such message: {', '.join(map(str, missing))}")
        chosen = tuple(i for i, s in found.items() if s in REQUEUEABLE)
        if chosen:
            session.execute(
                update(MessageRow)
                .where(MessageRow.id.in_(chosen))
                .values(state=MessageState.PENDING, attempts=0, next_attempt_at=now)
            )
    return Requeued(chosen, tuple(sorted(set(found) - set(chosen))))


def deliver(
    db: Database,
    settings: Settings,
    *,
    only: Sequence[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DeliveryReport:
    """Send the messages that are due (only those listed, when given) through the configured
    transport, then return what happened to each. `progress` is called with the number of
    messages finished since its last call."""
    delivery = Delivery(db, settings, make_transport(settings), progress=progress)
    return asyncio.run(delivery.run(only))


def any_waiting(db: Database, ids: Collection[int]) -> bool:
    """True when any of these messages waits for a retry (pending) or failed: the command that
    queued or attempted them exits 1. A message another process is sending is not waiting."""
    if not ids:
        return False
    with db.read() as session:
        states = set(session.scalars(select(MessageRow.state).where(MessageRow.id.in_(ids))))
    return bool(states & WAITING)
