"""Which items escalated to the heads, read back from the outbox (SPEC "The way back"; the
staff's page of acknowledgements and escalations shows them).

An escalation is a notice at stage `ESCALATION_STAGE` (jobs/escalation.py): one per (job, item,
occurrence, head). This groups them per (job, item, occurrence) with the heads told and the
reminders that came before: who was told (name, address) and on which run date.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from jobs.common import fill_title
from scheduler.db.database import Database
from scheduler.db.models import BudgetDeadlineRow, ContactRow, MessageRow, NoticeRow, PartnerRow
from scheduler.planning import ESCALATION_STAGE

DORMANT = "dormant-partners"


@dataclass(frozen=True)
class Escalation:
    """One item occurrence escalated to the heads.

    `job` is the job that noticed it ("dormant-partners" | "budget-deadlines"); `item` and
    `occurrence` as in its notices (partner id and the day its silence began; deadline id and
    due date); `item_name` the partner's name or the deadline's title (English, fiscal years
    filled), or the id when the item is gone; `queued_at` (aware UTC) when the first head's
    email was queued; `heads` the addresses told, in order; `told` the reminders before it,
    (name, address, run date) in date then address order (the name is the address when no
    contact has it any more).
    """

    job: str
    item: str
    item_name: str
    occurrence: dt.date
    queued_at: dt.datetime
    heads: tuple[str, ...]
    told: tuple[tuple[str, str, dt.date], ...]


def escalations(db: Database, *, limit: int = 200) -> list[Escalation]:
    """The latest `limit` escalations (≥ 1), newest first (by `queued_at`, then job and
    item). One read transaction; cost grows with the escalations shown, not the outbox."""
    with db.read() as session:
        rows = session.execute(
            select(NoticeRow.job, NoticeRow.item, NoticeRow.occurrence, NoticeRow.recipient,
                   NoticeRow.as_of, MessageRow.created_at)
            .join(MessageRow, MessageRow.id == NoticeRow.message_id)
            .where(NoticeRow.stage == ESCALATION_STAGE)
        ).all()
        found: dict[tuple[str, str, dt.date], list[tuple[str, dt.date, dt.datetime]]] = (
            defaultdict(list))
        for job, item, occurrence, recipient, as_of, created in rows:
            found[(job, item, occurrence)].append((recipient, as_of, created))
        newest = sorted(found.items(), key=lambda kv: (
            -max(c for _, _, c in kv[1]).timestamp(), kv[0][0], kv[0][1]))[:max(limit, 1)]
        names = {email.lower(): name for name, email in
                 session.execute(select(ContactRow.name, ContactRow.email))}
        partner_ids = {item for (job, item, _), _ in newest if job == DORMANT}
        deadline_ids = {item for (job, item, _), _ in newest if job != DORMANT}
        partners: dict[str, str] = {pid: name for pid, name in session.execute(
            select(PartnerRow.id, PartnerRow.name).where(PartnerRow.id.in_(partner_ids)))}
        deadlines: dict[str, str] = {did: title for did, title in session.execute(
            select(BudgetDeadlineRow.id, BudgetDeadlineRow.title)
            .where(BudgetDeadlineRow.id.in_(deadline_ids)))}
        result = []
        for (job, item, occurrence), heads in newest:
            last = max(as_of for _, as_of, _ in heads)
            query = select(NoticeRow.recipient, NoticeRow.as_of).where(
                NoticeRow.job == job, NoticeRow.item == item, NoticeRow.stage >= 0,
                NoticeRow.as_of <= last)
            # A dormant spell's notices all have occurrences on or after its first day (older
            # versions keyed them by the day the silence reached after_days); a deadline's are
            # the one occurrence.
            query = query.where(NoticeRow.occurrence >= occurrence if job == DORMANT
                                else NoticeRow.occurrence == occurrence)
            told = sorted({(names.get(r.lower(), r), r, day)
                           for r, day in session.execute(query)},
                          key=lambda t: (t[2], t[1]))
            if job == DORMANT:
                name = partners.get(item, item)
            else:
                title = deadlines.get(item)
                name = fill_title(title, occurrence) if title else item
            result.append(Escalation(
                job=job, item=item, item_name=name, occurrence=occurrence,
                queued_at=min(c for _, _, c in heads),
                heads=tuple(dict.fromkeys(r for r, _, _ in sorted(heads, key=lambda h: h[0]))),
                told=tuple(told),
            ))
    return result
