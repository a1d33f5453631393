"""Dataset files (TOML, the SPEC's format) → one validated Batch, which the store then
upserts in one transaction (scheduler.registry.store).

Problems are collected, not raised one by one, so a user fixes a file in one pass:
`chiang-mai.toml: partner[2].agreement[0].signed_on: expected a TOML date, got "2019-02-30"`.
Each record keeps the keys its table gave, so that an upsert writes only those; what a single
value may be (safe text, slugs, emails, country codes) is decided in registry/validate.py.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scheduler.dates.recurrence import parse_rule
from scheduler.dates.thaidate import BE_OFFSET
from scheduler.errors import DataError
from scheduler.planning import occurrences
from scheduler.problems import MISSING, Problems, parse_toml, show
from scheduler.registry.domain import (
    LANGUAGES,
    Activity,
    Agreement,
    AgreementKind,
    BudgetDeadline,
    Consulate,
    Contact,
    Level,
    LocalParty,
    Meeting,
    MeetingChange,
    Partner,
    Recurrence,
    Role,
    WorkingGroup,
)
from scheduler.registry.validate import Record, implausible_record_date, valid_email


@dataclass(frozen=True)
class Origin:
    """Where a record was read: the file's name and the record's path in it."""

    file: str
    path: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}"


@dataclass
class Batch:
    """Everything read from the files of one `load`, with the keys each record mentioned."""

    contacts: dict[str, tuple[Contact, frozenset[str]]] = field(default_factory=dict)
    groups: dict[str, tuple[WorkingGroup, frozenset[str]]] = field(default_factory=dict)
    consulates: dict[str, Consulate] = field(default_factory=dict)
    mfa_contact: str | None = None
    mfa_origin: Origin = Origin("", "mfa")
    partners: dict[str, tuple[Partner, frozenset[str]]] = field(default_factory=dict)
    deadlines: dict[str, tuple[BudgetDeadline, frozenset[str]]] = field(default_factory=dict)
    meetings: dict[str, tuple[Meeting, frozenset[str]]] = field(default_factory=dict)
    local_parties: dict[str, tuple[LocalParty, frozenset[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Known:
    """Ids already in the database, so a file may refer to records loaded before."""

    contacts: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


def read_files(
    paths: Iterable[Path], known: Known = Known(), *, today: dt.date | None = None
) -> Batch:
    """Parse and validate dataset files (TOML, in the SPEC's format) into one batch; ids may
    refer to records of any of the files or to `known` ones already in the database.

    Dates are CE: a year >= 2400 is refused as a probable Buddhist-Era date (every date key).
    A signing or activity date before 1900, or more than a year after `today` (when given:
    the caller reads the clock), is refused as a probable typo (SPEC "Dataset file").

    Raises:
        DataError: every problem of every file, one per line (`file: key: what`), in the
            order found; nothing is returned then.
    """
    problems = Problems("")
    batch = Batch()
    origins: dict[tuple[str, str], Origin] = {}  # (kind, id) -> where first defined
    for path in paths:
        label = path.name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problems.add("", f"cannot read: {exc.strerror}", where=str(path))
            continue
        try:
            doc = parse_toml(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:  # before ValueError: it is one
            problems.add("", f"not UTF-8 text (byte {exc.start})", where=label)
            continue
        except ValueError as exc:
            problems.add("", f"not valid TOML: {exc}{_be_leap_day_hint(raw, exc)}", where=label)
            continue
        if not doc:
            problems.add("", "the file holds no records (an empty or wrong file?)", where=label)
            continue
        _File(problems, label, origins, today).read(doc, batch)
    _check_references(batch, known, origins, problems)
    if problems:
        raise DataError(problems.lines())
    return batch


_TOML_ERROR_LINE = re.compile(r"\(at line ([0-9]+), column [0-9]+\)")
_FEBRUARY_29 = re.compile(r"\b([0-9]{4})-02-29")


def _be_leap_day_hint(raw: bytes, error: Exception) -> str:
    """For a TOML error on a line holding a Buddhist-Era 29 February (2563-02-29 is no
    Gregorian date, so TOML itself refuses it): what to write instead; "" otherwise."""
    where = _TOML_ERROR_LINE.search(str(error))
    lines = raw.decode("utf-8").splitlines()
    if where is None or not 0 < int(where.group(1)) <= len(lines):
        return ""
    day = _FEBRUARY_29.search(lines[int(where.group(1)) - 1])
    if day is None or int(day.group(1)) < 2400:
        return ""
    ce_year = int(day.group(1)) - BE_OFFSET
    meant = f"write {ce_year}-02-29" if calendar.isleap(ce_year) else f"{ce_year} CE has none"
    return f"; {day.group()} looks like a Buddhist-Era date ({meant})"


_KNOWN_TABLES = (
    "contact",
    "working_group",
    "consulate",
    "mfa",
    "local_party",
    "partner",
    "budget_deadline",
    "meeting",
)

# A reader of one kind of record: the record and the keys its table gave.
_ReadRecord = Callable[[Record], tuple[Any, frozenset[str]]]


class _File:
    """One dataset file being read; its problems go to the load's shared list."""

    def __init__(
        self, problems: Problems, label: str, origins: dict[tuple[str, str], Origin],
        today: dt.date | None = None,
    ) -> None:
        self.problems, self.label, self.origins = problems, label, origins
        self.today = today

    def happened(self, rec: Record, key: str, day: dt.date) -> None:
        """`day` (of `key`) is a date something happened on: not a probable typo."""
        reason = implausible_record_date(day, self.today)
        if reason:
            rec.problem(key, reason)

    def problem(self, path: str, text: str) -> None:
        self.problems.add(path, text, where=self.label)

    def record(self, path: str, table: Mapping[str, Any]) -> Record:
        return Record(self.problems, path, table, where=self.label)

    def tables(self, doc: Mapping[str, Any], key: str) -> list[Record]:
        """The [[key]] tables of the file, as records (`key[i]`)."""
        value = doc.get(key, [])
        if not isinstance(value, list):
            self.problem(key, f"expected [[{key}]] tables, got {show(value)}")
            return []
        out: list[Record] = []
        for i, table in enumerate(value):
            if isinstance(table, dict):
                out.append(self.record(f"{key}[{i}]", table))
            else:
                self.problem(f"{key}[{i}]", f"expected a table, got {show(table)}")
        return out

    def claim(self, kind: str, ident: str, path: str) -> bool:
        """Whether `ident` is a new id of `kind` (a duplicate is a problem)."""
        if not ident:
            return False
        first = self.origins.get((kind, ident))
        if first is not None:
            self.problem(f"{path}.id", f'duplicate {kind} id "{ident}" (first at {first})')
            return False
        self.origins[(kind, ident)] = Origin(self.label, path)
        return True

    def read(self, doc: Mapping[str, Any], batch: Batch) -> None:
        """Every record of the file into `batch`."""
        for key in doc:
            if key not in _KNOWN_TABLES:
                self.problem(key, "unknown key")
        # (table, kind for messages, reader, where the records go)
        readers: list[tuple[str, str, _ReadRecord, dict[str, Any]]] = [
            ("contact", "contact", _read_contact, batch.contacts),
            ("working_group", "working group", _read_group, batch.groups),
            ("local_party", "local party", _read_party, batch.local_parties),
            ("partner", "partner", self._read_partner, batch.partners),
            ("budget_deadline", "budget deadline", _read_deadline, batch.deadlines),
            ("meeting", "meeting", self._read_meeting, batch.meetings),
        ]
        for table_name, kind, read, target in readers:
            for rec in self.tables(doc, table_name):
                record, present = read(rec)
                if self.claim(kind, record.id, rec.path):
                    target[record.id] = (record, present)
        for rec in self.tables(doc, "consulate"):
            consulate = Consulate(country=rec.country("country"), contact=rec.slug("contact"))
            rec.done()
            if self.claim("consulate", consulate.country, rec.path):
                batch.consulates[consulate.country] = consulate
        if "mfa" in doc:
            self._read_mfa(doc["mfa"], batch)

    def _read_mfa(self, mfa: Any, batch: Batch) -> None:
        if not isinstance(mfa, dict):
            self.problem("mfa", 'expected a table with contact = "…"')
            return
        rec = self.record("mfa", mfa)
        batch.mfa_contact = rec.slug("contact")
        batch.mfa_origin = Origin(self.label, "mfa")
        rec.done()

    def _subtables(self, rec: Record, key: str) -> list[Record]:
        """The [[partner.key]] (or [[meeting.key]]) tables of one record, as records
        (`partner[i].key[j]`)."""
        value = rec.raw(key)
        if value is MISSING:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            owner = rec.path.partition("[")[0]
            rec.problem(key, f"expected [[{owner}.{key}]] tables, got {show(value)}")
            return []
        return [self.record(f"{rec.path}.{key}[{i}]", sub) for i, sub in enumerate(value)]

    def _read_partner(self, rec: Record) -> tuple[Partner, frozenset[str]]:
        agreements: list[Agreement] = []
        keys: set[tuple[str, dt.date, str]] = set()
        ids: set[tuple[str, str]] = set()
        for sub in self._subtables(rec, "agreement"):
            agreement = _read_agreement(sub)
            if agreement is None or not _new_id(sub, "agreement", agreement.id, ids):
                continue
            self.happened(sub, "signed_on", agreement.signed_on)
            if agreement.key in keys:
                sub.problem("", "the same agreement (kind, signed_on, local_party) is listed twice")
            keys.add(agreement.key)
            agreements.append(agreement)
        activities: dict[tuple[dt.date, str], Activity] = {}
        for sub in self._subtables(rec, "activity"):
            activity = _read_activity(sub)
            if activity is not None and _new_id(sub, "activity", activity.id, ids):
                self.happened(sub, "date", activity.date)
                activities.setdefault(activity.key, activity)  # the first of a repeat counts
        ended_on = rec.date("ended_on")
        partner = Partner(
            id=rec.slug("id"),
            name=rec.text("name", required=True),
            name_th=rec.text("name_th"),
            country=rec.country("country"),
            city=rec.text("city"),
            working_group=rec.slug("working_group", required=False) or None,
            agreements=tuple(agreements),
            activities=tuple(activities.values()),
            ended_on=ended_on,
            end_reason=rec.text("end_reason"),
            end_reason_th=rec.text("end_reason_th"),
        )
        return partner, _done(rec)

    def _read_meeting(self, rec: Record) -> tuple[Meeting, frozenset[str]]:
        subs = self._subtables(rec, "change")
        changes = [_read_change(sub) for sub in subs]
        meeting = Meeting(
            **_scheduled(rec, "starts_at", single_is_date=False),
            duration_minutes=_duration(rec),
            location=rec.text("location"),
            location_th=rec.text("location_th"),
            working_groups=rec.texts("working_groups"),
            invite_consulates=rec.boolean("invite_consulates", True),
            cancelled=rec.boolean("cancelled", False),
        )
        kept: list[MeetingChange] = []
        for sub, change in zip(subs, changes, strict=True):
            if change is None:
                continue
            if any(c.occurrence == change.occurrence for c in kept):
                sub.problem("occurrence", f"{change.occurrence} is changed twice")
            elif not _occurs_on(meeting.recurrence, change.occurrence):
                sub.problem("occurrence", f"the meeting has no occurrence on "
                            f"{change.occurrence} (give the date its rule gives)")
            else:
                kept.append(change)
        return replace(meeting, changes=tuple(kept)), _done(rec)


def _new_id(rec: Record, kind: str, ident: str, seen: set[tuple[str, str]]) -> bool:
    """Whether a partner's agreement or activity id is not a repeat (a repeat is a problem);
    True for no id."""
    if ident and (kind, ident) in seen:
        rec.problem("id", f'duplicate {kind} id "{ident}" within this partner')
        return False
    seen.add((kind, ident))
    return True


def _read_party(rec: Record) -> tuple[LocalParty, frozenset[str]]:
    party = LocalParty(id=rec.slug("id"), name=rec.text("name", required=True),
                       name_th=rec.text("name_th"))
    return party, _done(rec)


def _done(rec: Record) -> frozenset[str]:
    """Close a record (its unread keys are unknown) and give the keys it had."""
    rec.done()
    return rec.present()


def _read_contact(rec: Record) -> tuple[Contact, frozenset[str]]:
    email = rec.text("email", required=True)
    if email and not valid_email(email):
        rec.problem("email", f'"{email}" is not an email address')
    contact = Contact(
        id=rec.slug("id"),
        name=rec.text("name", required=True),
        email=email,
        language=rec.one_of("language", LANGUAGES, default="th"),
        role=Role(rec.one_of("role", [r.value for r in Role])),
    )
    return contact, _done(rec)


def _read_group(rec: Record) -> tuple[WorkingGroup, frozenset[str]]:
    group = WorkingGroup(
        id=rec.slug("id"),
        name=rec.text("name", required=True),
        name_th=rec.text("name_th"),
        lead=rec.slug("lead", required=False) or None,
        countries=rec.countries("countries"),
    )
    return group, _done(rec)


def _read_activity(rec: Record) -> Activity | None:
    date = rec.date("date", required=True)
    title = rec.text("title", required=True)
    kind = rec.text("kind", default="other") or "other"
    ident = rec.slug("id", required=False)
    rec.done()
    if date is None or not title:
        return None
    return Activity(date=date, title=title, kind=kind, id=ident)


def _read_agreement(rec: Record) -> Agreement | None:
    kind = rec.one_of("kind", [k.value for k in AgreementKind])
    signed_on = rec.date("signed_on", required=True)
    expires_on = rec.date("expires_on")
    if signed_on and expires_on and expires_on < signed_on:
        rec.problem("expires_on", "is before signed_on")
    level = rec.text("level") or None
    if level and level not in {lv.value for lv in Level}:
        rec.problem(
            "level", f'expected one of {", ".join(lv.value for lv in Level)}, got "{level}"'
        )
    contact_email = rec.text("contact_email")
    if contact_email and not valid_email(contact_email):
        rec.problem("contact_email", f'"{contact_email}" is not an email address')
    agreement = Agreement(
        kind=AgreementKind(kind),
        signed_on=signed_on or dt.date.min,
        local_party=rec.text("local_party", default="Chiang Mai Province") or "Chiang Mai Province",
        areas=rec.texts("areas"),
        expires_on=expires_on,
        level=level,
        title=rec.text("title"),
        contact_person=rec.text("contact_person"),
        contact_email=contact_email,
        notes=rec.text("notes"),
        id=rec.slug("id", required=False),
    )
    rec.done()
    return agreement if signed_on else None


def _recurrence(rec: Record, single_key: str, single_is_date: bool) -> Recurrence:
    single = rec.date(single_key) if single_is_date else rec.local_datetime(single_key)
    dtstart = rec.local_datetime("dtstart")
    rule = rec.text("rrule")
    if single is not None and (dtstart is not None or rule):
        rec.problem(single_key, f"give either {single_key}, or dtstart and rrule, not both")
    if single is not None:
        start = (
            single if isinstance(single, dt.datetime) else dt.datetime.combine(single, dt.time())
        )
        return Recurrence(dtstart=start)
    if dtstart is None:
        # A dtstart given but refused (a Buddhist-Era year…) has its own problem already.
        if single_key not in rec.table and "dtstart" not in rec.table:
            rec.problem(single_key, f"missing (give {single_key}, or dtstart and rrule)")
        return Recurrence(dtstart=dt.datetime(1970, 1, 1))
    if rule:
        try:
            parse_rule(rule, dtstart)
        except ValueError as exc:
            rec.problem("rrule", str(exc))
            rule = ""
    return Recurrence(dtstart=dtstart, rrule=rule)


def _scheduled(rec: Record, single_key: str, *, single_is_date: bool) -> dict[str, Any]:
    """The fields budget deadlines and meetings share, read in the order of the SPEC."""
    return {
        "id": rec.slug("id"),
        "title": rec.text("title", required=True),
        "title_th": rec.text("title_th"),
        "recurrence": _recurrence(rec, single_key, single_is_date),
    }


def _read_deadline(rec: Record) -> tuple[BudgetDeadline, frozenset[str]]:
    deadline = BudgetDeadline(
        **_scheduled(rec, "due_on", single_is_date=True),
        working_groups=rec.texts("working_groups"),
        notes=rec.text("notes"),
        notes_th=rec.text("notes_th"),
    )
    return deadline, _done(rec)




def _check_references(
    batch: Batch, known: Known, origins: Mapping[tuple[str, str], Origin], problems: Problems
) -> None:
    """Every id a record refers to must exist, in these files or in the database."""
    contacts = set(batch.contacts) | known.contacts
    groups = set(batch.groups) | known.groups
    refs: list[tuple[Origin, str, str, set[str], str]] = []  # origin, key, value, ids, kind
    for gid, (group, _) in batch.groups.items():
        if group.lead:
            refs.append((origins[("working group", gid)], "lead", group.lead, contacts, "contact"))
    for country, consulate in batch.consulates.items():
        origin = origins[("consulate", country)]
        refs.append((origin, "contact", consulate.contact, contacts, "contact"))
    if batch.mfa_contact:
        refs.append((batch.mfa_origin, "contact", batch.mfa_contact, contacts, "contact"))
    for pid, (partner, _) in batch.partners.items():
        if partner.working_group:
            origin = origins[("partner", pid)]
            refs.append((origin, "working_group", partner.working_group, groups, "working group"))
    for kind, records in (("budget deadline", batch.deadlines), ("meeting", batch.meetings)):
        for rid, (record, _) in records.items():
            for g in record.working_groups:
                refs.append((origins[(kind, rid)], "working_groups", g, groups, "working group"))
    for origin, key, value, ids, what in refs:
        if value and value not in ids:
            problems.add(f"{origin.path}.{key}", f'unknown {what} "{value}"', where=origin.file)


def _duration(rec: Record) -> int:
    return rec.whole_number("duration_minutes", 120, 1, 24 * 60)


def _read_change(rec: Record) -> MeetingChange | None:
    """One [[meeting.change]]: the occurrence's date as the rule gives it, and what changed."""
    occurrence = rec.date("occurrence", required=True)
    change = MeetingChange(
        occurrence=occurrence or dt.date.min,
        starts_at=rec.local_datetime("starts_at"),
        duration_minutes=_duration(rec) if "duration_minutes" in rec.table else None,
        location=rec.text("location") if "location" in rec.table else None,
        location_th=rec.text("location_th") if "location_th" in rec.table else None,
        cancelled=rec.boolean("cancelled", False),
    )
    rec.done()
    return change if occurrence else None


def _occurs_on(recurrence: Recurrence, day: dt.date) -> bool:
    """Whether the meeting's rule (or its one date) gives an occurrence on `day`; False for a
    rule that was refused (it has its own problem)."""
    try:
        return bool(occurrences(recurrence, day, day))
    except ValueError:
        return False
