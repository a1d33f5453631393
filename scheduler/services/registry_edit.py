"""Editing the registry's contacts, working groups, budget deadlines and meetings one record at
a time (SPEC "The office web app": forms to edit contacts, groups, deadlines and meetings; the
CLI may call these too).

Each operation turns what the user gave into the table a dataset file would hold
(`[[contact]]`, `[[working_group]]`, `[[budget_deadline]]`, `[[meeting]]`), reads it with the
dataset reader itself (scheduler.registry.dataset, on top of scheduler.registry.validate: slugs,
emails, control characters, Buddhist-Era years, RRULE bounds, known ids), then writes it with
the store's upsert, with an audit entry holding what changed (before/after), in one
transaction. Nothing is written when anything is refused: `FormProblems` lists every problem,
each naming its field.

A meeting whose start, length or location changes is sent as an update (SEQUENCE raised) at the
next meeting-agendas run: jobs.meeting_lifecycle compares each occurrence with what its
invitees were last sent, so nothing here touches the sent state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db.database import Database
from scheduler.db.models import (
    BudgetDeadlineRow,
    ConsulateRow,
    ContactRow,
    MeetingRow,
    MetaRow,
    WorkingGroupRow,
)
from scheduler.errors import UserError
from scheduler.problems import Problems

# The dataset reader's own record reader and reference check: a form's record is read exactly
# as the same record in a dataset file (dataset.py is at the 500-line limit of a module, so its
# reader is called here rather than wrapped there).
from scheduler.registry.dataset import Batch, Origin, _check_references, _File
from scheduler.registry.store import MFA_KEY, known_ids, upsert_batch
from scheduler.services.audit import Actor, AuditAction, record
from scheduler.services.jsonable import jsonable


class Kind(StrEnum):
    """The kinds of record edited here, as the dataset file's tables name them."""

    CONTACT = "contact"
    GROUP = "working_group"
    DEADLINE = "budget_deadline"
    MEETING = "meeting"


class FormProblems(UserError):
    """A record refused whole: `problems` is every (field, what is wrong) found, the field as
    the dataset file's key ("email", "due_on"…, "" for the record as a whole)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{k}: {t}" if k else t for k, t in problems))


@dataclass(frozen=True)
class ContactFields:
    """A contact as a form gives it (SPEC `[[contact]]`): `language` "th" | "en", `role` a
    value of scheduler.registry.domain.Role."""

    id: str
    name: str
    email: str
    language: str
    role: str


@dataclass(frozen=True)
class GroupFields:
    """A working group (SPEC `[[working_group]]`): `lead` a contact id ("" for none),
    `countries` ISO 3166-1 alpha-2 codes."""

    id: str
    name: str
    name_th: str = ""
    lead: str = ""
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeadlineFields:
    """A budget deadline (SPEC `[[budget_deadline]]`): `rrule` empty: one deadline due on
    `due_on`; else `due_on` is its DTSTART and `rrule` its RFC 5545 rule. `working_groups`
    empty: every group."""

    id: str
    title: str
    due_on: dt.date | None
    rrule: str = ""
    title_th: str = ""
    working_groups: tuple[str, ...] = ()
    notes: str = ""
    notes_th: str = ""


@dataclass(frozen=True)
class MeetingFields:
    """What a meeting's form changes (SPEC `[[meeting]]`): `starts_at` is local wall time
    (naive, scheduler.timezone), the one start of a one-off meeting or the DTSTART of a
    recurring one (its RRULE is kept); `duration_minutes` 1–1440."""

    title: str
    starts_at: dt.datetime | None
    duration_minutes: int
    title_th: str = ""
    location: str = ""
    location_th: str = ""
    working_groups: tuple[str, ...] = ()
    invite_consulates: bool = True


@dataclass(frozen=True)
class Saved:
    """What an operation stored: the kind, the record's id, whether it is new, and the fields
    that changed as {field: [before, after]} (JSON values; empty: nothing changed, and no
    audit entry was written)."""

    kind: Kind
    id: str
    created: bool
    changes: Mapping[str, Any]


def save_contact(db: Database, fields: ContactFields, *, by: Actor, new: bool) -> Saved:
    """Add (`new`) or edit the contact `fields.id`.

    Raises:
        FormProblems: a field is refused as in a dataset file (id not a slug, bad email,
            control characters, unknown language or role), or the id is taken (`new`).
        UserError: editing a contact that does not exist.
    """
    table = {"id": fields.id, "name": fields.name, "email": fields.email,
             "language": fields.language, "role": fields.role}
    return _save(db, Kind.CONTACT, table, by=by, new=new)


def save_group(db: Database, fields: GroupFields, *, by: Actor, new: bool) -> Saved:
    """Add (`new`) or edit the working group `fields.id`; an empty lead clears it.

    Raises:
        FormProblems: as in a dataset file (an unknown lead contact, a country that is no ISO
            3166-1 alpha-2 code…), or the id is taken (`new`).
        UserError: editing a group that does not exist.
    """
    table = {"id": fields.id, "name": fields.name, "name_th": fields.name_th,
             "lead": fields.lead, "countries": list(fields.countries)}
    return _save(db, Kind.GROUP, table, by=by, new=new)


def save_deadline(db: Database, fields: DeadlineFields, *, by: Actor, new: bool) -> Saved:
    """Add (`new`) or edit the budget deadline `fields.id`.

    Raises:
        FormProblems: as in a dataset file (a Buddhist-Era year, an RRULE refused by its
            bounds, an unknown working group…), or the id is taken (`new`).
        UserError: editing a deadline that does not exist.
    """
    table: dict[str, Any] = {"id": fields.id, "title": fields.title, "title_th": fields.title_th,
                             "working_groups": list(fields.working_groups),
                             "notes": fields.notes, "notes_th": fields.notes_th}
    if fields.due_on is not None:
        if fields.rrule:
            table.update(dtstart=fields.due_on, rrule=fields.rrule)
        else:
            table["due_on"] = fields.due_on
    return _save(db, Kind.DEADLINE, table, by=by, new=new)


def edit_meeting(db: Database, meeting: str, fields: MeetingFields, *, by: Actor) -> Saved:
    """Edit the meeting `meeting`: its rule, cancellation and [[meeting.change]]s are kept
    (and checked again against the new start).

    Raises:
        FormProblems: as in a dataset file (a Buddhist-Era year, a duration out of 1–1440,
            an unknown working group, a stored change no longer on the rule's dates…).
        UserError: no meeting has that id.
    """
    table: dict[str, Any] = {
        "id": meeting, "title": fields.title, "title_th": fields.title_th,
        "duration_minutes": fields.duration_minutes, "location": fields.location,
        "location_th": fields.location_th, "working_groups": list(fields.working_groups),
        "invite_consulates": fields.invite_consulates,
    }

    def keep_stored(session: Session) -> None:
        """What the form does not change, read in the writing transaction: the rule, the
        cancellation and the changes of single occurrences."""
        row = session.get(MeetingRow, meeting)
        assert row is not None  # _save checked that it exists
        table.update(cancelled=bool(row.cancelled),
                     change=[_change_table(c) for c in row.changes or ()])
        if fields.starts_at is not None and row.rrule:
            table.update(dtstart=fields.starts_at, rrule=row.rrule)
        elif fields.starts_at is not None:
            table["starts_at"] = fields.starts_at

    return _save(db, Kind.MEETING, table, by=by, new=False, complete=keep_stored)


def remove_contact(db: Database, contact: str, *, by: Actor) -> Saved:
    """Remove the contact `contact` when nothing refers to it.

    Raises:
        UserError: no such contact, or a working group (lead), a consulate or the MFA entry
            names it; the message lists each of them.
    """
    with db.write(lock="registry") as session:
        row = session.get(ContactRow, contact)
        if row is None:
            raise _unknown(session, Kind.CONTACT, contact)
        users = [f'working group "{g}" (lead)' for g in session.scalars(
            select(WorkingGroupRow.id).where(WorkingGroupRow.lead == contact))]
        users += [f"the consulate of {c}" for c in session.scalars(
            select(ConsulateRow.country).where(ConsulateRow.contact == contact))]
        mfa = session.get(MetaRow, MFA_KEY)
        if mfa is not None and mfa.value == contact:
            users.append("the MFA contact ([mfa])")
        if users:
            raise UserError(f'contact "{contact}" is still named by {", ".join(users)}: '
                            "change those first; nothing was removed")
        before = _stored(session, Kind.CONTACT, contact)
        session.delete(row)
        record(session, by, AuditAction.REMOVE_CONTACT, contact, {"before": before})
    return Saved(Kind.CONTACT, contact, False, {k: [v, None] for k, v in before.items()})


# -- the shared path: read as a dataset file does, then upsert with an audit entry.

_MODELS: dict[Kind, Any] = {Kind.CONTACT: ContactRow, Kind.GROUP: WorkingGroupRow,
                            Kind.DEADLINE: BudgetDeadlineRow, Kind.MEETING: MeetingRow}
_ACTIONS = {
    (Kind.CONTACT, True): AuditAction.ADD_CONTACT, (Kind.CONTACT, False): AuditAction.EDIT_CONTACT,
    (Kind.GROUP, True): AuditAction.ADD_GROUP, (Kind.GROUP, False): AuditAction.EDIT_GROUP,
    (Kind.DEADLINE, True): AuditAction.ADD_DEADLINE,
    (Kind.DEADLINE, False): AuditAction.EDIT_DEADLINE,
    (Kind.MEETING, False): AuditAction.EDIT_MEETING,
}
_NAMES = {Kind.CONTACT: "contact", Kind.GROUP: "working group",
          Kind.DEADLINE: "budget deadline", Kind.MEETING: "meeting"}


def _save(db: Database, kind: Kind, table: dict[str, Any], *, by: Actor, new: bool,
          complete: Callable[[Session], None] | None = None) -> Saved:
    """Check `table` (plus what `complete` adds to it from the stored record) as a dataset
    file's, upsert it, and audit what changed, in one transaction."""
    ident = str(table["id"])
    with db.write(lock="registry") as session:
        exists = bool(ident) and session.get(_MODELS[kind], ident) is not None
        if not new and not exists:
            raise _unknown(session, kind, ident)
        if complete is not None:
            complete(session)
        batch = _read(session, kind, table)
        if new and exists:
            raise FormProblems([("id", f'a {_NAMES[kind]} "{ident}" exists already')])
        before = _stored(session, kind, ident) if exists else {}
        upsert_batch(session, batch)
        session.flush()
        after = _stored(session, kind, ident)
        changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
        if changes:
            after_only = {"after": {k: a for k, (_, a) in changes.items()}}
            details = after_only if new else {
                "before": {k: b for k, (b, _) in changes.items()}, **after_only}
            record(session, by, _ACTIONS[(kind, new)], ident, details)
    return Saved(kind, ident, new, changes)


def _read(session: Session, kind: Kind, table: dict[str, Any]) -> Batch:
    """`table` read as the one `[[kind]]` table of a dataset file, its ids checked against the
    stored ones. Raises FormProblems naming each field refused."""
    problems = Problems("")
    batch, origins = Batch(), dict[tuple[str, str], Origin]()
    _File(problems, "", origins).read({kind.value: [table]}, batch)
    _check_references(batch, known_ids(session), origins, problems)
    if problems:
        prefix = f"{kind.value}[0]"
        found = []
        for p in problems:
            key = p.key.removeprefix(prefix).removeprefix(".")
            found.append((key, p.text))
        raise FormProblems(found)
    return batch


def _stored(session: Session, kind: Kind, ident: str) -> dict[str, Any]:
    """The row `ident` of `kind` as stored now, as JSON values (for the audit entry)."""
    table = _MODELS[kind].__table__
    row = session.execute(select(table).where(table.c.id == ident)).mappings().one()
    return {k: jsonable(v) for k, v in row.items()}


def _unknown(session: Session, kind: Kind, ident: str) -> UserError:
    model = _MODELS[kind]
    known = ", ".join(session.scalars(select(model.id).order_by(model.id)))
    return UserError(f'unknown {_NAMES[kind]} "{ident}" ({_NAMES[kind]}s: {known or "none"})')


def _change_table(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored [[meeting.change]] (ISO texts) as the TOML table it was read from."""
    table: dict[str, Any] = {"occurrence": dt.date.fromisoformat(stored["occurrence"]),
                             "cancelled": bool(stored.get("cancelled"))}
    if stored.get("starts_at"):
        table["starts_at"] = dt.datetime.fromisoformat(stored["starts_at"])
    for key in ("duration_minutes", "location", "location_th"):
        if stored.get(key) is not None:
            table[key] = stored[key]
    return table
