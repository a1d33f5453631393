"""The registry in the database: bulk upsert of a validated batch, and the snapshot read.

Both work table by table in bulk (a handful of statements, whatever the size), never per
partner: the planning benchmark runs over 10,000 partners.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
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

# Qualified (domain.Partner) so that a domain value and its row (PartnerRow) never look alike.
from scheduler.registry import domain
from scheduler.registry.dataset import Batch, Known

MFA_KEY = "mfa_contact"


@dataclass
class UpsertCounts:
    """How many rows of one kind an upsert inserted, changed, and found already as given."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


def known_ids(session: Session) -> Known:
    """The contact and working-group ids already stored (a file may refer to them)."""
    return Known(
        contacts=frozenset(session.scalars(select(ContactRow.id))),
        groups=frozenset(session.scalars(select(WorkingGroupRow.id))),
    )


def partner_count(session: Session) -> int:
    """How many partners are stored (0: the registry is empty and may be bootstrapped)."""
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
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
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
    return _write(session, model, new, changed, counts)


def _write(
    session: Session,
    model: Any,
    new: list[dict[str, Any]],
    changed: list[dict[str, Any]],
    counts: UpsertCounts,
) -> UpsertCounts:
    """Insert `new` and update `changed` (each holding its primary key) in bulk; `counts`
    gets their numbers."""
    if new:
        session.execute(insert(model), new)
    if changed:
        session.execute(update(model), changed)
    counts.created, counts.updated = len(new), len(changed)
    return counts


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# The stored columns each recurrence key of a dataset record stands for.
_RECURRENCE_KEYS = {
    "due_on": ("dtstart", "rrule"),
    "starts_at": ("dtstart", "rrule"),
    "dtstart": ("dtstart",),
    "rrule": ("rrule",),
}
_PARTNER_COLUMNS = ("id", "name", "name_th", "country", "city", "working_group")
# Agreement's fields in order, each stored in the agreements column of the same name.
_AGREEMENT_FIELDS = tuple(f.name for f in fields(domain.Agreement))

R = TypeVar("R")


def _recurrence_present(present: frozenset[str]) -> frozenset[str]:
    out = set(present)
    for key, columns in _RECURRENCE_KEYS.items():
        if key in present:
            out.update(columns)
    return frozenset(out)


def _same(present: frozenset[str]) -> frozenset[str]:
    return present


def _upsert_records(
    session: Session,
    model: Any,
    records: Mapping[str, tuple[R, frozenset[str]]],
    values: Callable[[R], dict[str, Any]],
    columns: Callable[[frozenset[str]], frozenset[str]] = _same,
) -> UpsertCounts:
    """upsert_rows for records keyed by id: `values` gives a record's row, `columns` turns
    the dataset keys a record gave into the columns that may be written."""
    rows = ((values(record), columns(present)) for record, present in records.values())
    return upsert_rows(session, model, "id", rows)


def _contact_values(c: domain.Contact) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "email": c.email, "language": c.language,
            "role": c.role.value}


def _group_values(g: domain.WorkingGroup) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "name_th": g.name_th, "lead": g.lead,
            "countries": list(g.countries)}


def _partner_values(p: domain.Partner) -> dict[str, Any]:
    return {k: getattr(p, k) for k in _PARTNER_COLUMNS}


def _scheduled_values(item: domain.BudgetDeadline | domain.Meeting) -> dict[str, Any]:
    """The columns budget deadlines and meetings share."""
    return {"id": item.id, "title": item.title, "title_th": item.title_th,
            "dtstart": item.recurrence.dtstart, "rrule": item.recurrence.rrule,
            "working_groups": list(item.working_groups)}


def _deadline_values(d: domain.BudgetDeadline) -> dict[str, Any]:
    return {**_scheduled_values(d), "notes": d.notes}


def _meeting_values(m: domain.Meeting) -> dict[str, Any]:
    return {**_scheduled_values(m), "duration_minutes": m.duration_minutes,
            "location": m.location, "invite_consulates": m.invite_consulates}


def upsert_batch(session: Session, batch: Batch) -> dict[str, UpsertCounts]:
    """Write a validated batch in one transaction's worth of bulk statements. Never deletes.

    Returns the created/updated/unchanged counts per kind ("contacts", "working groups",
    "consulates", "partners", "agreements", "activities", "budget deadlines", "meetings").
    """
    result: dict[str, UpsertCounts] = {}
    result["contacts"] = _upsert_records(session, ContactRow, batch.contacts, _contact_values)
    result["working groups"] = _upsert_records(session, WorkingGroupRow, batch.groups,
                                               _group_values)
    all_keys = frozenset({"country", "contact"})
    result["consulates"] = upsert_rows(
        session,
        ConsulateRow,
        "country",
        (({"country": c.country, "contact": c.contact}, all_keys)
         for c in batch.consulates.values()),
    )
    if batch.mfa_contact:
        upsert_rows(
            session,
            MetaRow,
            "key",
            [({"key": MFA_KEY, "value": batch.mfa_contact}, frozenset({"value"}))],
        )
    result["partners"] = _upsert_records(session, PartnerRow, batch.partners, _partner_values)
    partners = [p for p, _ in batch.partners.values()]
    result["agreements"] = upsert_agreements(
        session, [(p.id, a) for p in partners for a in p.agreements]
    )
    result["activities"] = add_activities(
        session, [(p.id, a) for p in partners for a in p.activities]
    )
    result["budget deadlines"] = _upsert_records(
        session, BudgetDeadlineRow, batch.deadlines, _deadline_values, _recurrence_present
    )
    result["meetings"] = _upsert_records(
        session, MeetingRow, batch.meetings, _meeting_values, _recurrence_present
    )
    return result


def _agreement_values(partner_id: str, a: domain.Agreement) -> dict[str, Any]:
    values = {name: getattr(a, name) for name in _AGREEMENT_FIELDS}
    return {"partner_id": partner_id, **values, "kind": a.kind.value, "areas": list(a.areas)}


def upsert_agreements(session: Session, items: list[tuple[str, domain.Agreement]]) -> UpsertCounts:
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
    return _write(session, AgreementRow, new, changed, counts)


def add_activities(session: Session, items: list[tuple[str, domain.Activity]]) -> UpsertCounts:
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


def load_registry(session: Session) -> domain.Registry:
    """Read the whole registry into frozen values (a fixed number of queries)."""
    contacts = {
        r.id: domain.Contact(
            id=r.id, name=r.name, email=r.email, language=r.language, role=domain.Role(r.role)
        )
        for r in session.scalars(select(ContactRow))
    }
    groups = {
        r.id: domain.WorkingGroup(
            id=r.id, name=r.name, name_th=r.name_th, lead=r.lead, countries=tuple(r.countries or ())
        )
        for r in session.scalars(select(WorkingGroupRow))
    }
    consulates = {
        r.country: domain.Consulate(r.country, r.contact)
        for r in session.scalars(select(ConsulateRow))
    }
    mfa = session.get(MetaRow, MFA_KEY)
    by_country = _group_by_country(groups)

    # Plain column tuples, not ORM objects: this reads every row of the registry.
    kinds = {k.value: k for k in domain.AgreementKind}
    agreements: dict[str, list[domain.Agreement]] = defaultdict(list)
    t = AgreementRow.__table__.c
    query = select(t.partner_id, *(t[name] for name in _AGREEMENT_FIELDS))
    for pid, kind, signed_on, local_party, areas, *rest in session.execute(query):
        agreements[pid].append(
            domain.Agreement(kinds[kind], signed_on, local_party, tuple(areas or ()), *rest)
        )
    activities: dict[str, list[domain.Activity]] = defaultdict(list)
    for pid_, day, title, kind in session.execute(
        select(ActivityRow.partner_id, ActivityRow.date, ActivityRow.title, ActivityRow.kind)
    ):
        activities[pid_].append(domain.Activity(day, title, kind))

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
        partners[pid] = domain.Partner(
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
        r.id: domain.BudgetDeadline(**_scheduled_fields(r), notes=r.notes)
        for r in session.scalars(select(BudgetDeadlineRow))
    }
    meetings = {
        r.id: domain.Meeting(
            **_scheduled_fields(r),
            duration_minutes=r.duration_minutes,
            location=r.location,
            invite_consulates=r.invite_consulates,
        )
        for r in session.scalars(select(MeetingRow))
    }
    return domain.Registry(
        contacts=contacts,
        working_groups=groups,
        consulates=consulates,
        mfa_contact=mfa.value if mfa else None,
        partners=partners,
        budget_deadlines=deadlines,
        meetings=meetings,
    )


def _scheduled_fields(r: BudgetDeadlineRow | MeetingRow) -> dict[str, Any]:
    """The fields budget deadlines and meetings share, from their stored row."""
    return {
        "id": r.id,
        "title": r.title,
        "title_th": r.title_th,
        "recurrence": domain.Recurrence(r.dtstart, r.rrule),
        "working_groups": tuple(r.working_groups or ()),
    }


def _group_by_country(groups: Mapping[str, domain.WorkingGroup]) -> dict[str, str]:
    out: dict[str, str] = {}
    for group in groups.values():
        for country in group.countries:
            out.setdefault(country, group.id)
    return out
