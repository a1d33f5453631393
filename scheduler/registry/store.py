"""The registry in the database: bulk upsert of a validated batch, and the snapshot read.

Both work table by table in bulk (a handful of statements, whatever the size), never per
partner: the planning benchmark runs over 10,000 partners.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from scheduler.db.models import (
    ActivityRow,
    AgreementRow,
    BudgetDeadlineRow,
    ConsulateRow,
    ContactRow,
    MeetingRow,
    MetaRow,
    PartnerRow,
    WorkingGroupRow,
)
from scheduler.registry.dataset import Batch, Known
from scheduler.registry.domain import (
    Activity,
    Agreement,
    AgreementKind,
    BudgetDeadline,
    Consulate,
    Contact,
    Meeting,
    Partner,
    Recurrence,
    Registry,
    Role,
    WorkingGroup,
)

MFA_KEY = "mfa_contact"


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def known_ids(session: Session) -> Known:
    return Known(
        contacts=frozenset(session.scalars(select(ContactRow.id))),
        groups=frozenset(session.scalars(select(WorkingGroupRow.id))),
    )


def partner_count(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(PartnerRow)) or 0)


def upsert_rows(
    session: Session,
    model: Any,
    key: str,
    rows: Iterable[tuple[dict[str, Any], frozenset[str]]],
) -> UpsertCounts:
    """Insert new rows; update existing ones, writing only the keys the file mentioned."""
    rows = list(rows)
    counts = UpsertCounts()
    if not rows:
        return counts
    column = getattr(model, key)
    existing: dict[Any, dict[str, Any]] = {}
    ids = [r[key] for r, _ in rows]
    for chunk in _chunks(ids, 500):
        for obj in session.scalars(select(model).where(column.in_(chunk))):
            columns = obj.__table__.columns
            existing[getattr(obj, key)] = {c.key: getattr(obj, c.key) for c in columns}
    new, changed = [], []
    for values, present in rows:
        old = existing.get(values[key])
        if old is None:
            new.append(values)
            continue
        patch = {k: v for k, v in values.items() if k == key or k in present}
        if any(old.get(k) != v for k, v in patch.items()):
            changed.append(patch)
        else:
            counts.unchanged += 1
    if new:
        session.execute(insert(model), new)
    if changed:
        session.execute(update(model), changed)
    counts.created, counts.updated = len(new), len(changed)
    return counts


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# Dataset keys whose column has another name.
_PARTNER_KEYS = {"id", "name", "name_th", "country", "city", "working_group"}
_RECURRENCE_KEYS = {
    "due_on": ("dtstart", "rrule"),
    "starts_at": ("dtstart", "rrule"),
    "dtstart": ("dtstart",),
    "rrule": ("rrule",),
}


def _recurrence_present(present: frozenset[str]) -> frozenset[str]:
    out = set(present)
    for key, columns in _RECURRENCE_KEYS.items():
        if key in present:
            out.update(columns)
    return frozenset(out)


def upsert_batch(session: Session, batch: Batch) -> dict[str, UpsertCounts]:
    """Write a validated batch. Never deletes."""
    result: dict[str, UpsertCounts] = {}
    result["contacts"] = upsert_rows(
        session,
        ContactRow,
        "id",
        (
            (
                {
                    "id": c.id,
                    "name": c.name,
                    "email": c.email,
                    "language": c.language,
                    "role": c.role.value,
                },
                present,
            )
            for c, present in batch.contacts.values()
        ),
    )
    result["working groups"] = upsert_rows(
        session,
        WorkingGroupRow,
        "id",
        (
            (
                {
                    "id": g.id,
                    "name": g.name,
                    "name_th": g.name_th,
                    "lead": g.lead,
                    "countries": list(g.countries),
                },
                present,
            )
            for g, present in batch.groups.values()
        ),
    )
    all_keys = frozenset({"country", "contact"})
    result["consulates"] = upsert_rows(
        session,
        ConsulateRow,
        "country",
        (
            ({"country": c.country, "contact": c.contact}, all_keys)
            for c in batch.consulates.values()
        ),
    )
    if batch.mfa_contact:
        upsert_rows(
            session,
            MetaRow,
            "key",
            [({"key": MFA_KEY, "value": batch.mfa_contact}, frozenset({"value"}))],
        )
    result["partners"] = upsert_rows(
        session,
        PartnerRow,
        "id",
        (
            ({k: getattr(p, k) for k in _PARTNER_KEYS}, present)
            for p, present in batch.partners.values()
        ),
    )
    partners = [p for p, _ in batch.partners.values()]
    result["agreements"] = upsert_agreements(
        session, [(p.id, a) for p in partners for a in p.agreements]
    )
    result["activities"] = add_activities(
        session, [(p.id, a) for p in partners for a in p.activities]
    )
    result["budget deadlines"] = upsert_rows(
        session,
        BudgetDeadlineRow,
        "id",
        (
            (
                {
                    "id": d.id,
                    "title": d.title,
                    "title_th": d.title_th,
                    "dtstart": d.recurrence.dtstart,
                    "rrule": d.recurrence.rrule,
                    "working_groups": list(d.working_groups),
                    "notes": d.notes,
                },
                _recurrence_present(present),
            )
            for d, present in batch.deadlines.values()
        ),
    )
    result["meetings"] = upsert_rows(
        session,
        MeetingRow,
        "id",
        (
            (
                {
                    "id": m.id,
                    "title": m.title,
                    "title_th": m.title_th,
                    "dtstart": m.recurrence.dtstart,
                    "rrule": m.recurrence.rrule,
                    "duration_minutes": m.duration_minutes,
                    "location": m.location,
                    "working_groups": list(m.working_groups),
                    "invite_consulates": m.invite_consulates,
                },
                _recurrence_present(present),
            )
            for m, present in batch.meetings.values()
        ),
    )
    return result


def _agreement_values(partner_id: str, a: Agreement) -> dict[str, Any]:
    return {
        "partner_id": partner_id,
        "kind": a.kind.value,
        "signed_on": a.signed_on,
        "local_party": a.local_party,
        "areas": list(a.areas),
        "expires_on": a.expires_on,
        "level": a.level,
        "title": a.title,
        "contact_person": a.contact_person,
        "contact_email": a.contact_email,
        "notes": a.notes,
    }


def upsert_agreements(session: Session, items: list[tuple[str, Agreement]]) -> UpsertCounts:
    """Match by (partner, kind, signing date, local party); fill in what is new or changed.
    Optional fields that are empty in the source never erase what is stored."""
    counts = UpsertCounts()
    # key -> (row id, or None for a row this call inserts; stored values)
    existing: dict[tuple[str, str, dt.date, str], tuple[int | None, dict[str, Any]]] = {}
    partner_ids = sorted({pid for pid, _ in items})
    table = AgreementRow.__table__
    for chunk in _chunks(partner_ids, 500):
        rows = session.execute(select(table).where(table.c.partner_id.in_(chunk))).mappings()
        for row in rows:
            key = (row["partner_id"], row["kind"], row["signed_on"], row["local_party"])
            existing[key] = (row["id"], dict(row))
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for pid, agreement in items:
        values = _agreement_values(pid, agreement)
        key = (pid, agreement.kind.value, agreement.signed_on, agreement.local_party)
        found = existing.get(key)
        if found is None:
            new.append(values)
            existing[key] = (None, values)
            continue
        row_id, stored = found
        patch = {k: v for k, v in values.items() if v not in (None, "", []) and stored[k] != v}
        if not patch:
            counts.unchanged += 1
        elif row_id is None:
            stored.update(patch)  # listed twice in this load: the later values win, once
        else:
            changed.append({"id": row_id, **patch})
    if new:
        session.execute(insert(AgreementRow), new)
    if changed:
        session.execute(update(AgreementRow), changed)
    counts.created, counts.updated = len(new), len(changed)
    return counts


def add_activities(session: Session, items: list[tuple[str, Activity]]) -> UpsertCounts:
    """Insert activities not yet recorded (matched by partner, date and title)."""
    counts = UpsertCounts()
    partner_ids = sorted({pid for pid, _ in items})
    existing: set[tuple[str, dt.date, str]] = set()
    for chunk in _chunks(partner_ids, 500):
        rows = session.execute(
            select(ActivityRow.partner_id, ActivityRow.date, ActivityRow.title).where(
                ActivityRow.partner_id.in_(chunk)
            )
        )
        existing.update((r[0], r[1], r[2]) for r in rows)
    new = []
    for pid, activity in items:
        key = (pid, activity.date, activity.title)
        if key in existing:
            counts.unchanged += 1
            continue
        existing.add(key)
        new.append(
            {
                "partner_id": pid,
                "date": activity.date,
                "title": activity.title,
                "kind": activity.kind,
            }
        )
    if new:
        session.execute(insert(ActivityRow), new)
    counts.created = len(new)
    return counts


def load_registry(session: Session) -> Registry:
    """Read the whole registry into frozen values (a fixed number of queries)."""
    contacts = {
        r.id: Contact(id=r.id, name=r.name, email=r.email, language=r.language, role=Role(r.role))
        for r in session.scalars(select(ContactRow))
    }
    groups = {
        r.id: WorkingGroup(
            id=r.id, name=r.name, name_th=r.name_th, lead=r.lead, countries=tuple(r.countries or ())
        )
        for r in session.scalars(select(WorkingGroupRow))
    }
    consulates = {
        r.country: Consulate(r.country, r.contact) for r in session.scalars(select(ConsulateRow))
    }
    mfa = session.get(MetaRow, MFA_KEY)
    by_country = _group_by_country(groups)

    # Plain column tuples, not ORM objects: this reads every row of the registry.
    kinds = {k.value: k for k in AgreementKind}
    agreements: dict[str, list[Agreement]] = defaultdict(list)
    t = AgreementRow.__table__.c
    for row in session.execute(
        select(
            t.partner_id,
            t.kind,
            t.signed_on,
            t.local_party,
            t.areas,
            t.expires_on,
            t.level,
            t.title,
            t.contact_person,
            t.contact_email,
            t.notes,
        )
    ):
        agreements[row[0]].append(
            Agreement(
                kinds[row[1]],
                row[2],
                row[3],
                tuple(row[4] or ()),
                row[5],
                row[6],
                row[7],
                row[8],
                row[9],
                row[10],
            )
        )
    activities: dict[str, list[Activity]] = defaultdict(list)
    for pid_, day, title, kind in session.execute(
        select(ActivityRow.partner_id, ActivityRow.date, ActivityRow.title, ActivityRow.kind)
    ):
        activities[pid_].append(Activity(day, title, kind))

    partners = {}
    p = PartnerRow.__table__.c
    query = select(p.id, p.name, p.name_th, p.country, p.city, p.working_group)
    for pid, name, name_th, country, city, group in session.execute(
        query.order_by(p.country, p.name)
    ):
        mine = agreements.get(pid, [])
        mine.sort(key=lambda a: a.signed_on)
        done = activities.get(pid, [])
        done.sort(key=lambda a: a.date)
        partners[pid] = Partner(
            id=pid,
            name=name,
            name_th=name_th,
            country=country,
            city=city,
            working_group=group or by_country.get(country),
            agreements=tuple(mine),
            activities=tuple(done),
        )
    deadlines = {
        r.id: BudgetDeadline(
            id=r.id,
            title=r.title,
            title_th=r.title_th,
            recurrence=Recurrence(r.dtstart, r.rrule),
            working_groups=tuple(r.working_groups or ()),
            notes=r.notes,
        )
        for r in session.scalars(select(BudgetDeadlineRow))
    }
    meetings = {
        r.id: Meeting(
            id=r.id,
            title=r.title,
            title_th=r.title_th,
            recurrence=Recurrence(r.dtstart, r.rrule),
            duration_minutes=r.duration_minutes,
            location=r.location,
            working_groups=tuple(r.working_groups or ()),
            invite_consulates=r.invite_consulates,
        )
        for r in session.scalars(select(MeetingRow))
    }
    return Registry(
        contacts=contacts,
        working_groups=groups,
        consulates=consulates,
        mfa_contact=mfa.value if mfa else None,
        partners=partners,
        budget_deadlines=deadlines,
        meetings=meetings,
    )


def _group_by_country(groups: Mapping[str, WorkingGroup]) -> dict[str, str]:
    out: dict[str, str] = {}
    for group in groups.values():
        for country in group.countries:
            out.setdefault(country, group.id)
    return out
