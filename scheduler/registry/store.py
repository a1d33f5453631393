"""The registry in the database: bulk upsert of a validated batch, and the snapshot read.

Both work table by table in bulk (a handful of statements, whatever the size), never per
partner: the planning benchmark runs over 10,000 partners.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from scheduler.db.models import (
    ActivityRow,
    AgreementRow,
    BudgetDeadlineRow,
    ConsulateRow,
    ContactRow,
    LocalPartyRow,
    MeetingRow,
    MetaRow,
    PartnerRow,
    WorkingGroupRow,
)
from scheduler.errors import DataError

# Qualified (domain.Partner) so that a domain value and its row (PartnerRow) never look alike.
from scheduler.registry import domain
from scheduler.registry.dataset import Batch, Known

MFA_KEY = "mfa_contact"
# Set once the configured dataset was loaded (or a `load` made the registry): SPEC "Install
# and run", the first command loads the dataset files once. Migration 0005 writes it too.
LOADED_KEY = "dataset_loaded"


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


def was_loaded(session: Session) -> bool:
    """Whether the registry was loaded once already (then no command loads data.files)."""
    return session.get(MetaRow, LOADED_KEY) is not None


def mark_loaded(session: Session, how: str) -> None:
    """Remember that the registry was loaded (`how`: what loaded it, for people reading)."""
    if not was_loaded(session):
        session.add(MetaRow(key=LOADED_KEY, value=how))


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
    "change": ("changes",),  # a meeting's [[meeting.change]] tables, kept whole
}
_PARTNER_COLUMNS = ("id", "name", "name_th", "country", "city", "working_group", "ended_on",
                    "end_reason", "end_reason_th")
# Agreement's fields in order, each stored in the agreements column of the same name; its
# `id` is the column `ref` (the column `id` is the row's number).
_AGREEMENT_FIELDS = tuple(f.name for f in fields(domain.Agreement) if f.name != "id")

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


def _party_values(p: domain.LocalParty) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "name_th": p.name_th}


def _partner_values(p: domain.Partner) -> dict[str, Any]:
    return {k: getattr(p, k) for k in _PARTNER_COLUMNS}


def _scheduled_values(item: domain.BudgetDeadline | domain.Meeting) -> dict[str, Any]:
    """The columns budget deadlines and meetings share."""
    return {"id": item.id, "title": item.title, "title_th": item.title_th,
            "dtstart": item.recurrence.dtstart, "rrule": item.recurrence.rrule,
            "working_groups": list(item.working_groups)}


def _deadline_values(d: domain.BudgetDeadline) -> dict[str, Any]:
    return {**_scheduled_values(d), "notes": d.notes, "notes_th": d.notes_th}


def _meeting_values(m: domain.Meeting) -> dict[str, Any]:
    return {**_scheduled_values(m), "duration_minutes": m.duration_minutes,
            "location": m.location, "invite_consulates": m.invite_consulates,
            "location_th": m.location_th, "cancelled": m.cancelled,
            "changes": [change_json(c) for c in m.changes]}


def change_json(c: domain.MeetingChange) -> dict[str, Any]:
    """One [[meeting.change]] as the meetings.changes column keeps it (dates ISO)."""
    return {"occurrence": c.occurrence.isoformat(),
            "starts_at": c.starts_at.isoformat() if c.starts_at else None,
            "duration_minutes": c.duration_minutes, "location": c.location,
            "location_th": c.location_th, "cancelled": c.cancelled}


def _change(stored: Mapping[str, Any]) -> domain.MeetingChange:
    starts_at = stored.get("starts_at")
    return domain.MeetingChange(
        occurrence=dt.date.fromisoformat(stored["occurrence"]),
        starts_at=dt.datetime.fromisoformat(starts_at) if starts_at else None,
        duration_minutes=stored.get("duration_minutes"), location=stored.get("location"),
        location_th=stored.get("location_th"), cancelled=bool(stored.get("cancelled")))


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
    result["local parties"] = _upsert_records(session, LocalPartyRow, batch.local_parties,
                                              _party_values)
    result["partners"] = _upsert_records(session, PartnerRow, batch.partners, _partner_values)
    partners = [p for p, _ in batch.partners.values()]
    result["agreements"] = upsert_agreements(
        session, [(p.id, a) for p in partners for a in p.agreements]
    )
    result["activities"] = upsert_activities(
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


def _activity_values(partner_id: str, a: domain.Activity) -> dict[str, Any]:
    return {"partner_id": partner_id, "date": a.date, "title": a.title, "kind": a.kind}


@dataclass(frozen=True)
class _Records:
    """How one table of partner records (agreements or activities) is matched and stored."""

    model: Any
    key_columns: tuple[str, ...]  # the identity without an id (after partner_id)
    values: Callable[[str, Any], dict[str, Any]]
    id_base: Callable[[Any], str]


_AGREEMENTS = _Records(AgreementRow, ("kind", "signed_on", "local_party"), _agreement_values,
                       domain.agreement_id_base)
_ACTIVITIES = _Records(ActivityRow, ("date", "title"), _activity_values,
                       domain.activity_id_base)


def upsert_agreements(session: Session, items: list[tuple[str, domain.Agreement]]) -> UpsertCounts:
    """Match each (partner id, agreement) by its id when it has one, else by (partner, kind,
    signing date, local party) — the local party by either of its names (SPEC "Dataset
    file"); fill in what is new or changed. Optional fields that are empty in the source
    never erase what is stored. A new agreement without an id is given one (kind-date)."""
    parties = list(_local_parties(session).values())
    items = [(pid, replace(a, local_party=domain.canonical_party(a.local_party, parties)))
             for pid, a in items]

    def canonical(row: Mapping[str, Any]) -> tuple[Any, ...]:
        # Rows stored before their party was declared may name it in Thai.
        return (row["partner_id"], row["kind"], row["signed_on"],
                domain.canonical_party(row["local_party"], parties))

    return _upsert_partner_records(session, _AGREEMENTS, items, canonical)


def upsert_activities(session: Session, items: list[tuple[str, domain.Activity]]) -> UpsertCounts:
    """Match each (partner id, activity) by its id when it has one, else by (partner, date,
    title); store the new ones (with an id derived from kind and date when none is given)."""
    return _upsert_partner_records(session, _ACTIVITIES, items)


def _upsert_partner_records(
    session: Session, spec: _Records, items: list[tuple[str, Any]],
    key_of: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None,
) -> UpsertCounts:
    """Upsert (partner id, record) pairs of one kind: matched by id when the record has one
    (else by `key_of` its stored values: partner and spec.key_columns by default)."""
    key_of = key_of or (lambda row: (row["partner_id"], *(row[c] for c in spec.key_columns)))
    counts = UpsertCounts()
    by_ref: dict[tuple[str, str], dict[str, Any]] = {}
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    taken: dict[str, set[str]] = defaultdict(set)
    table = spec.model.__table__
    for chunk in _chunks(sorted({pid for pid, _ in items}), 500):
        for row in session.execute(select(table).where(table.c.partner_id.in_(chunk))).mappings():
            stored = dict(row)
            by_ref[(row["partner_id"], row["ref"])] = stored
            by_key[key_of(stored)] = stored
            taken[row["partner_id"]].add(row["ref"])
    new: list[dict[str, Any]] = []
    changed: dict[int, dict[str, Any]] = {}
    clashes: list[str] = []
    for pid, record in items:
        values = spec.values(pid, record)
        key = key_of(values)
        by_id = by_ref.get((pid, record.id)) if record.id else None
        found = by_id or by_key.get(key)
        twin = by_key.get(key)
        if by_id is not None and twin is not None and twin is not by_id:
            clashes.append(f'{pid}: "{record.id}" would become the same as "{twin["ref"]}" '
                           "(remove one of them with `sistercity remove`)")
            continue
        if found is None:
            ref = record.id if record.id else domain.derived_id(spec.id_base(record), taken[pid])
            taken[pid].add(ref)
            stored = {**values, "ref": ref}
            new.append(stored)
            by_ref[(pid, ref)] = by_key[key] = stored
            continue
        if record.id:
            values["ref"] = record.id
        if by_id is None:  # the same identity, perhaps spelt otherwise: keep it as stored
            values = {k: v for k, v in values.items() if k not in spec.key_columns}
        # Empty optional values in the source never erase what is stored.
        patch = {k: v for k, v in values.items() if v not in (None, "", []) and found[k] != v}
        found.update(patch)
        if not patch:
            counts.unchanged += 1
        elif found.get("id") is not None:  # None: a row this call inserts, listed twice
            changed.setdefault(found["id"], {"id": found["id"]}).update(patch)
    if clashes:
        raise DataError(clashes)
    return _write(session, spec.model, new, list(changed.values()), counts)


def _local_parties(session: Session) -> dict[str, domain.LocalParty]:
    return {r.id: domain.LocalParty(r.id, r.name, r.name_th)
            for r in session.scalars(select(LocalPartyRow))}


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
    query = select(t.partner_id, t.ref, *(t[name] for name in _AGREEMENT_FIELDS))
    for pid, ref, *columns in session.execute(query):
        stored = dict(zip(_AGREEMENT_FIELDS, columns, strict=True))
        stored.update(kind=kinds[stored["kind"]], areas=tuple(stored["areas"] or ()))
        agreements[pid].append(domain.Agreement(**stored, id=ref))
    activities: dict[str, list[domain.Activity]] = defaultdict(list)
    a = ActivityRow.__table__.c
    for pid_, day, title, kind, ref in session.execute(
        select(a.partner_id, a.date, a.title, a.kind, a.ref)
    ):
        activities[pid_].append(domain.Activity(day, title, kind, id=ref))

    partners = {}
    p = PartnerRow.__table__.c
    query = select(p.id, p.name, p.name_th, p.country, p.city, p.working_group, p.ended_on,
                   p.end_reason, p.end_reason_th)
    for pid, name, name_th, country, city, group, ended_on, reason, reason_th in session.execute(
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
            ended_on=ended_on,
            end_reason=reason or "",
            end_reason_th=reason_th or "",
        )
    deadlines = {
        r.id: domain.BudgetDeadline(**_scheduled_fields(r), notes=r.notes,
                                             notes_th=r.notes_th)
        for r in session.scalars(select(BudgetDeadlineRow))
    }
    meetings = {
        r.id: domain.Meeting(
            **_scheduled_fields(r),
            duration_minutes=r.duration_minutes,
            location=r.location,
            invite_consulates=r.invite_consulates,
            location_th=r.location_th or "",
            cancelled=bool(r.cancelled),
            changes=tuple(_change(c) for c in r.changes or ()),
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
        local_parties=_local_parties(session),
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
