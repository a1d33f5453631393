"""Notices → rendered, deduplicated messages in the outbox.

The notices table has a UNIQUE key per (job, item, occurrence, stage, recipient). Planning reads
the history and queueing inserts within one write transaction under a per-job lock, so two
runs cannot both decide to send the same notice; the unique key is the last line of defence (a
violation rolls the whole run back rather than sending twice).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, case, cast, func, insert, select
from sqlalchemy.orm import Session

from scheduler.db.models import MessageRow, NoticeRow
from scheduler.db.states import MessageState
from scheduler.db.tables import message_bodies
from scheduler.mail.render import Rendered, Renderer
from scheduler.planning import History, Notice, Recipient, Sent

# (notices of one message, every notice of the run) → (template extras, iCalendar or None)
ExtrasFn = Callable[
    [Sequence[Notice], Sequence[Notice], dt.datetime], tuple[Mapping[str, Any], bytes | None]
]


@dataclass(frozen=True)
class Draft:
    """One message as it would be queued: who, what, and which notices it carries."""

    recipient: Recipient
    notices: tuple[Notice, ...]
    rendered: Rendered


@dataclass
class QueueResult:
    """What `queue_drafts` inserted: notice and message counts, message ids in order."""

    notices: int = 0
    messages: int = 0
    message_ids: list[int] = field(default_factory=list)


def load_history(session: Session, job: str, since: dt.date | None) -> History:
    """What was already queued for `job`, one entry per (item, occurrence, recipient), with
    the run dates of its reminders (stage ≥ 0) aggregated by the database in the same pass
    (`group_concat` / `string_agg`): escalation counts a spell's notices from them."""
    reminder_day = case((NoticeRow.stage >= 0, cast(NoticeRow.as_of, String)))
    query = select(
        NoticeRow.item,
        NoticeRow.occurrence,
        NoticeRow.recipient,
        func.min(NoticeRow.stage),
        func.max(NoticeRow.as_of),
        func.aggregate_strings(reminder_day, ","),
    ).where(NoticeRow.job == job)
    if since is not None:
        query = query.where(NoticeRow.occurrence >= since)
    query = query.group_by(NoticeRow.item, NoticeRow.occurrence, NoticeRow.recipient)
    entries = {(r[0], r[1], r[2]): Sent(int(r[3]), r[4], r[5] or "")
               for r in session.execute(query)}
    return History(entries)


def group_notices(notices: Sequence[Notice], digest: bool) -> list[list[Notice]]:
    """One group per recipient (a digest), or per recipient and item occurrence; notices whose
    context names the same `email_item` share an email (a meeting's update and the stage it
    stands for)."""
    groups: dict[Hashable, list[Notice]] = defaultdict(list)
    for notice in notices:
        key: Hashable = notice.recipient.address
        if not digest:
            item = notice.context.get("email_item", notice.item)
            key = (notice.recipient.address, item, notice.occurrence)
        groups[key].append(notice)
    return list(groups.values())


def draft_messages(
    job: str,
    notices: Sequence[Notice],
    renderer: Renderer,
    *,
    digest: bool,
    as_of: dt.date,
    now: dt.datetime,
    extras: ExtrasFn | None = None,
    subject_only: bool = False,
) -> Iterator[Draft]:
    """Render one message per group of notices, lazily: a caller that stores or writes each
    as it comes holds one rendered message at a time, not a whole run's."""
    renderer.forget_shared()
    try:
        for group in group_notices(notices, digest):
            extra: Mapping[str, Any] = {}
            ics = None
            if extras is not None:
                extra, ics = extras(group, notices, now)
            # Readers of the same items share one rendering (see Renderer.render).
            share_key = tuple((n.item, n.occurrence, n.stage) for n in group)
            rendered = renderer.render(
                job, group[0].recipient, group, as_of=as_of, now=now, extra=extra, ics=ics,
                share_key=share_key, subject_only=subject_only,
            )
            yield Draft(group[0].recipient, tuple(group), rendered)
    finally:
        renderer.forget_shared()


QUEUE_BATCH = 200


def queue_drafts(
    session: Session,
    job: str,
    drafts: Iterable[Draft],
    *,
    sender: str,
    as_of: dt.date,
    now: dt.datetime,
    run_id: int | None,
) -> QueueResult:
    """Insert the messages and their notices, a batch at a time."""
    result = QueueResult()
    batch: list[Draft] = []
    for draft in drafts:
        batch.append(draft)
        if len(batch) >= QUEUE_BATCH:
            _insert(session, job, batch, sender, as_of, now, run_id, result)
            batch = []
    if batch:
        _insert(session, job, batch, sender, as_of, now, run_id, result)
    return result


def _insert(
    session: Session,
    job: str,
    drafts: Sequence[Draft],
    sender: str,
    as_of: dt.date,
    now: dt.datetime,
    run_id: int | None,
    result: QueueResult,
) -> None:
    rows = [
        {
            "job": job,
            "run_id": run_id,
            "recipient": d.recipient.address,
            "language": d.recipient.language,
            "subject": d.rendered.subject,
            "message_id": d.rendered.message_id,
            "sender": sender,
            "state": MessageState.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for d in drafts
    ]
    ids = list(
        session.scalars(
            insert(MessageRow).returning(MessageRow.id, sort_by_parameter_order=True), rows
        )
    )
    notice_rows = [
        {
            "job": n.job,
            "item": n.item,
            "occurrence": n.occurrence,
            "stage": n.stage,
            "recipient": n.recipient.address,
            "as_of": as_of,
            "message_id": message_id,
        }
        for message_id, d in zip(ids, drafts, strict=True)
        for n in d.notices
    ]
    bodies = [{"message_id": i, "data": d.rendered.data}
              for i, d in zip(ids, drafts, strict=True)]
    session.execute(insert(message_bodies), bodies)
    session.execute(insert(NoticeRow), notice_rows)
    result.messages += len(ids)
    result.notices += len(notice_rows)
    result.message_ids.extend(ids)
