"""Registry operations a user asks for: list partners with their dormancy, show one, record an
activity, load dataset files, remove a record entered by mistake, end a relation.

The CLI and the web app call these; each takes the database (and settings or the date it needs,
passed in: nothing here reads the clock) and returns frozen values. Bad input raises UserError
(exit status 2 on the command line). Each operation that changes the registry is one
transaction that also writes its audit entry (scheduler.services.audit), with who made it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.dates.thaidate import anniversary
from scheduler.db.database import Database
from scheduler.db.models import ActivityRow, AgreementRow, PartnerRow
from scheduler.errors import UserError
from scheduler.registry.dataset import read_files
from scheduler.registry.domain import (
    Activity,
    AgreementKind,
    Partner,
    Registry,
    activity_kind_code,
    canonical_party,
    party_key,
    quiet_since,
    spell_start,
)
from scheduler.registry.store import (
    UpsertCounts,
    known_ids,
    load_registry,
    mark_loaded,
    upsert_activities,
    upsert_batch,
)
from scheduler.registry.validate import implausible_record_date, unsafe_text
from scheduler.services.audit import Actor, AuditAction, record
from scheduler.services.jsonable import jsonable


@dataclass(frozen=True)
class AgreementSummary:
    """One agreement as listed: kind (AgreementKind value), signing date, who signed here, and
    the expiry date or None."""

    kind: str
    signed_on: dt.date
    local_party: str
    expires_on: dt.date | None
    id: str = ""


@dataclass(frozen=True)
class PartnerSummary:
    """One partner as of a date: identity, working group id (or None), agreements, the last
    activity on or before that date, the date silence is counted from, and dormancy."""

    id: str
    name: str
    name_th: str
    country: str
    city: str
    working_group: str | None
    agreements: tuple[AgreementSummary, ...]
    last_activity: dt.date | None
    quiet_since: dt.date | None
    dormant: bool
    ended_on: dt.date | None = None

    def to_json(self) -> dict[str, Any]:
        """The SPEC's `partners --json` object: dates ISO (CE), null where absent."""
        result: dict[str, Any] = jsonable(self)
        return result


def summarise(partner: Partner, as_of: dt.date, dormant_after_days: int) -> PartnerSummary:
    """`partner` as of `as_of` (local date) under the dormancy rule of `dormant_after_days`."""
    return PartnerSummary(
        id=partner.id,
        name=partner.name,
        name_th=partner.name_th,
        country=partner.country,
        city=partner.city,
        working_group=partner.working_group,
        agreements=tuple(
            AgreementSummary(a.kind.value, a.signed_on, a.local_party, a.expires_on, a.id)
            for a in partner.agreements
        ),
        last_activity=partner.last_activity_on(as_of),
        quiet_since=quiet_since(partner, as_of),
        # An ended relation is over, not dormant: nobody is asked to revive it.
        dormant=(not partner.ended_by(as_of)
                 and spell_start(partner, as_of, dormant_after_days) is not None),
        ended_on=partner.ended_on,
    )


def list_partners(
    db: Database, *, as_of: dt.date, dormant_after_days: int
) -> list[PartnerSummary]:
    """Every partner in registry order, as of `as_of` (a local date), dormant when quiet for
    `dormant_after_days` calendar days or more."""
    with db.read() as session:
        registry = load_registry(session)
    return [summarise(p, as_of, dormant_after_days) for p in registry.partners.values()]


def find_partner(registry: Registry, text: str) -> Partner:
    """The partner `text` names: its id, or its English or Thai name, case and spacing ignored
    (SPEC `activity add`: PARTNER). UserError when none does, or several do."""
    exact = registry.partners.get(text)
    if exact is not None:
        return exact
    key = party_key(text)
    found = [p for p in registry.partners.values()
             if key in {party_key(p.id), party_key(p.name), party_key(p.name_th)}]
    if len(found) > 1:
        raise UserError(f'"{text}" names several partners: '
                        f"{', '.join(p.id for p in found)}; give one of these ids")
    if not found:
        raise UserError(f'unknown partner "{text}" (see `sistercity partners`)')
    return found[0]


def _find_partner(session: Session, text: str) -> Partner:
    """find_partner on the registry as `session` sees it."""
    return find_partner(load_registry(session), text)


@dataclass(frozen=True)
class ActivityRecorded:
    """The outcome of `record_activity`: what was stored, and False in `created` when the same
    (partner, date, title) was already recorded (nothing changed)."""

    partner_id: str
    date: dt.date
    title: str
    created: bool


def record_activity(
    db: Database, partner: str, *, day: dt.date, title: str, kind: str = "other", by: Actor,
    today: dt.date | None = None,
) -> ActivityRecorded:
    """Record an activity with a partner (id, or English or Thai name, any case) on `day`; it
    ends a dormant spell. `title` is stored stripped; the entry is audited as `by`'s.
    UserError for an empty or unsafe title or kind, an unknown partner, or a date that is
    probably a typo (before 1900, or more than a year after `today` when given: SPEC
    "Dataset file")."""
    typo = implausible_record_date(day, today)
    if typo:
        raise UserError(f"--date: {typo}")
    for option, value in (("--title", title), ("--kind", kind)):
        reason = unsafe_text(value)
        if reason or not value.strip():
            raise UserError(f"{option}: {reason or 'must not be empty'}")
    title, kind = title.strip(), activity_kind_code(kind)
    with db.write(lock="registry") as session:
        partner_id = _find_partner(session, partner).id
        counts = upsert_activities(session, [(partner_id, Activity(day, title, kind))])
        if counts.created:
            record(session, by, AuditAction.ADD_ACTIVITY, partner_id,
                   {"date": day.isoformat(), "title": title, "kind": kind})
    return ActivityRecorded(partner_id, day, title, created=bool(counts.created))


def load_dataset(
    db: Database, files: Sequence[Path], *, by: Actor, today: dt.date | None = None
) -> Mapping[str, UpsertCounts]:
    """Validate dataset `files`, then upsert them by id, all or nothing; the registry counts
    as loaded from then on (the configured files are not loaded over it). Returns the counts
    per record type (partners, contacts, …). DataError (a UserError) lists every problem;
    with `today`, that includes signing or activity dates far after it (`read_files`)."""
    with db.write(lock="registry") as session:
        batch = read_files(files, known_ids(session), today=today)
        counts = upsert_batch(session, batch)
        mark_loaded(session, "load")
        record(session, by, AuditAction.LOAD, ", ".join(f.name for f in files),
               {kind: [c.created, c.updated] for kind, c in counts.items()
                if c.created or c.updated})
        return counts


@dataclass(frozen=True)
class RecordView:
    """An agreement or activity as `show` lists it: its id, date (signing date or activity
    date), what it is (kind and local party, or title), and for an agreement its expiry and
    next anniversary on or after the as-of date (None when expired or ended by then)."""

    id: str
    date: dt.date
    kind: str
    what: str
    expires_on: dt.date | None = None
    next_anniversary: dt.date | None = None

    def to_json(self) -> dict[str, Any]:
        """Dates ISO (CE), null where absent."""
        result: dict[str, Any] = jsonable(self)
        return result


@dataclass(frozen=True)
class PartnerDetail:
    """`sistercity show`: the partner's summary, its group's name, the route to its country
    ("consulate" or "mfa") and that contact ("Name <email>" or None), agreements and
    activities with their ids, and the end of the relation, if any."""

    summary: PartnerSummary
    group_name: str
    route: str
    route_contact: str | None
    agreements: tuple[RecordView, ...]
    activities: tuple[RecordView, ...]
    ended_on: dt.date | None
    end_reason: str

    def to_json(self) -> dict[str, Any]:
        """The summary's keys, plus route, ids and the end of the relation."""
        fields: dict[str, Any] = jsonable(self)
        return {**fields.pop("summary"), **fields}


def partner_detail(db: Database, partner: str, *, as_of: dt.date,
                   dormant_after_days: int) -> PartnerDetail:
    """One partner (id or either name, any case) in full as of `as_of`. UserError when none."""
    with db.read() as session:
        registry = load_registry(session)
    return detail_of(registry, partner, as_of=as_of, dormant_after_days=dormant_after_days)


def detail_of(registry: Registry, partner: str, *, as_of: dt.date,
              dormant_after_days: int) -> PartnerDetail:
    """`partner_detail` from a registry already read (as load_registry gives it, ended
    relations included; the web's page cache keeps one). UserError when none."""
    p = find_partner(registry, partner)
    contact = registry.country_contact(p.country)
    group = registry.working_groups.get(p.working_group or "")
    live = not p.ended_by(as_of)

    def next_anniversary(signed_on: dt.date, expires_on: dt.date | None) -> dt.date | None:
        day = anniversary(signed_on, max(as_of.year, signed_on.year + 1))
        if day < as_of:
            day = anniversary(signed_on, day.year + 1)
        expired = expires_on is not None and expires_on < day
        return day if live and not expired else None

    return PartnerDetail(
        summary=summarise(p, as_of, dormant_after_days),
        group_name=group.name if group else "",
        route="consulate" if p.country in registry.consulates else "mfa",
        route_contact=f"{contact.name} <{contact.email}>" if contact else None,
        agreements=tuple(
            RecordView(a.id, a.signed_on, a.kind.value, a.local_party, a.expires_on,
                       next_anniversary(a.signed_on, a.expires_on))
            for a in p.agreements),
        activities=tuple(RecordView(a.id, a.date, a.kind, a.title) for a in p.activities),
        ended_on=p.ended_on,
        end_reason=p.end_reason,
    )


class RecordKind(StrEnum):
    """The records of a partner that `remove` takes away."""

    AGREEMENT = "agreement"
    ACTIVITY = "activity"


_REMOVALS: dict[RecordKind, tuple[type[AgreementRow] | type[ActivityRow], AuditAction]] = {
    RecordKind.AGREEMENT: (AgreementRow, AuditAction.REMOVE_AGREEMENT),
    RecordKind.ACTIVITY: (ActivityRow, AuditAction.REMOVE_ACTIVITY),
}


@dataclass(frozen=True)
class Removed:
    """What `remove_record` took away: the partner, the record's kind and id, and its values
    (as written to the audit log)."""

    partner_id: str
    kind: RecordKind
    id: str
    values: Mapping[str, Any]


def remove_record(db: Database, kind: RecordKind, partner: str, record_id: str, *,
                  by: Actor) -> Removed:
    """Remove one agreement or activity entered by mistake (SPEC `remove`): nothing more is
    planned about it; its values stay in the audit log. UserError when the partner or the
    record (by its id, see `show`) is unknown."""
    model, action = _REMOVALS[kind]
    with db.write(lock="registry") as session:
        partner_id = _find_partner(session, partner).id
        row = _stored_record(session, kind, partner_id, record_id)
        values = {c.key: _jsonable(getattr(row, c.key))
                  for c in model.__table__.columns if c.key != "id"}
        session.delete(row)
        record(session, by, action, f"{partner_id}/{record_id}", values)
    return Removed(partner_id, kind, record_id, values)


def _stored_record(session: Session, kind: RecordKind, partner_id: str,
                   record_id: str) -> AgreementRow | ActivityRow:
    """The stored agreement or activity of a partner by its id; UserError when none."""
    model = _REMOVALS[kind][0]
    row = cast("AgreementRow | ActivityRow | None", session.scalars(
        select(model).where(model.partner_id == partner_id, model.ref == record_id)
    ).first())
    if row is None:
        raise UserError(f'{partner_id} has no {kind.value} "{record_id}" '
                        f"(see `sistercity show {partner_id}`)")
    return row


@dataclass(frozen=True)
class AgreementCorrection:
    """What to change in an agreement: each field given (not None) replaces the stored one."""

    kind: AgreementKind | None = None
    signed_on: dt.date | None = None
    local_party: str | None = None
    expires_on: dt.date | None = None
    areas: tuple[str, ...] | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Corrected:
    """What `correct_agreement` changed: field → [old, new] (JSON-able; empty: nothing)."""

    partner_id: str
    id: str
    changes: Mapping[str, list[Any]]


def correct_agreement(db: Database, partner: str, agreement_id: str,
                      correction: AgreementCorrection, *, by: Actor) -> Corrected:
    """Correct one agreement in place, keeping its id, so that it stays one agreement (SPEC:
    the web app's "correct"); audited with the old and new values. UserError for an unknown
    partner or agreement, unsafe text, an expiry before the signing, or a correction that
    would make it the same as another agreement of the partner."""
    for name in ("local_party", "notes"):
        problem = unsafe_text(getattr(correction, name) or "")
        if problem:
            raise UserError(f"{name}: {problem}")
    with db.write(lock="registry") as session:
        registry = load_registry(session)
        partner_id = find_partner(registry, partner).id
        row = _stored_record(session, RecordKind.AGREEMENT, partner_id, agreement_id)
        assert isinstance(row, AgreementRow)
        new = {f.name: getattr(correction, f.name) for f in fields(correction)
               if getattr(correction, f.name) is not None}
        if "local_party" in new:
            new["local_party"] = canonical_party(new["local_party"],
                                                 registry.local_parties.values())
        new = {k: (v.value if isinstance(v, AgreementKind) else list(v) if k == "areas" else v)
               for k, v in new.items()}
        changes = {k: [_jsonable(getattr(row, k)), _jsonable(v)] for k, v in new.items()
                   if getattr(row, k) != v}
        after = {k: new.get(k, getattr(row, k))
                 for k in ("kind", "signed_on", "local_party", "expires_on")}
        if after["expires_on"] is not None and after["expires_on"] < after["signed_on"]:
            raise UserError("expires_on: is before signed_on")
        twin = session.scalars(select(AgreementRow.ref).where(
            AgreementRow.partner_id == partner_id, AgreementRow.id != row.id,
            AgreementRow.kind == after["kind"], AgreementRow.signed_on == after["signed_on"],
            AgreementRow.local_party == after["local_party"])).first()
        if twin is not None:
            raise UserError(f'the corrected agreement would be the same as "{twin}" of '
                            f"{partner_id}: remove one of them instead")
        for k in changes:
            setattr(row, k, new[k])
        if changes:
            record(session, by, AuditAction.CORRECT_AGREEMENT, f"{partner_id}/{agreement_id}",
                   changes)
    return Corrected(partner_id, agreement_id, changes)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


@dataclass(frozen=True)
class Ended:
    """What `end_relation` stored: the partner, the day the relation ended, and why."""

    partner_id: str
    ended_on: dt.date
    reason: str


def end_relation(db: Database, partner: str, *, on: dt.date, reason: str = "",
                 reason_th: str = "", by: Actor) -> Ended:
    """Record that the relation with a partner ended on `on` (SPEC `end`): no job reminds
    anyone about it in a run as of that date or later. UserError for an unknown partner or
    an unsafe reason."""
    for option, value in (("--reason", reason), ("--reason-th", reason_th)):
        problem = unsafe_text(value)
        if problem:
            raise UserError(f"{option}: {problem}")
    with db.write(lock="registry") as session:
        partner_id = _find_partner(session, partner).id
        row = session.get(PartnerRow, partner_id)
        assert row is not None  # found just now, in this transaction
        row.ended_on, row.end_reason, row.end_reason_th = on, reason.strip(), reason_th.strip()
        record(session, by, AuditAction.END_RELATION, partner_id,
               {"ended_on": on.isoformat(), "end_reason": row.end_reason,
                "end_reason_th": row.end_reason_th})
    return Ended(partner_id, on, reason.strip())
