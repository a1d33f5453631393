"""Dataset files (TOML): validate everything, then upsert in one transaction.

Problems are collected, not raised one by one, so a user fixes a file in one pass:
`chiang-mai.toml: partner[2].agreement[0].signed_on: expected a TOML date, got "2019-02-30"`.
Upserts never delete; records match by id, agreements by (partner, kind, signing date, local
party), activities by (partner, date, title), and only the keys a file mentions are written.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.errors import DataError
from scheduler.registry.domain import (
    LANGUAGES,
    Activity,
    Agreement,
    AgreementKind,
    BudgetDeadline,
    Consulate,
    Contact,
    Level,
    Meeting,
    Partner,
    Recurrence,
    Role,
    WorkingGroup,
)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# A dot-atom local part (no leading, trailing or double dots) and a hostname with a dot.
EMAIL = re.compile(
    rf"^{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
MAX_TEXT = 2000
# Control characters break mail headers and files; bidi overrides make names lie on screen.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def unsafe_text(value: str) -> str | None:
    """Why `value` may not be stored as dataset text, or None when it may."""
    match = _FORBIDDEN.search(value)
    if match:
        return f"contains a control character (U+{ord(match.group()):04X})"
    if len(value) > MAX_TEXT:
        return f"is longer than {MAX_TEXT} characters"
    return None


@cache
def country_codes() -> frozenset[str]:
    from babel import Locale

    codes = {str(c) for c in Locale("en").territories if len(str(c)) == 2 and str(c).isalpha()}
    return frozenset(codes - {"ZZ", "EU", "EZ", "UN", "QO"})


def valid_email(value: str) -> bool:
    return len(value) <= 254 and EMAIL.match(value) is not None


@dataclass
class Batch:
    """Everything read from the files of one `load`, with the keys each record mentioned."""

    contacts: dict[str, tuple[Contact, frozenset[str]]] = field(default_factory=dict)
    groups: dict[str, tuple[WorkingGroup, frozenset[str]]] = field(default_factory=dict)
    consulates: dict[str, Consulate] = field(default_factory=dict)
    mfa_contact: str | None = None
    mfa_origin: str = "mfa"
    partners: dict[str, tuple[Partner, frozenset[str]]] = field(default_factory=dict)
    deadlines: dict[str, tuple[BudgetDeadline, frozenset[str]]] = field(default_factory=dict)
    meetings: dict[str, tuple[Meeting, frozenset[str]]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "contacts": len(self.contacts),
            "working groups": len(self.groups),
            "consulates": len(self.consulates),
            "partners": len(self.partners),
            "agreements": sum(len(p.agreements) for p, _ in self.partners.values()),
            "activities": sum(len(p.activities) for p, _ in self.partners.values()),
            "budget deadlines": len(self.deadlines),
            "meetings": len(self.meetings),
        }


@dataclass(frozen=True)
class Known:
    """Ids already in the database, so a file may refer to records loaded before."""

    contacts: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


_MISSING = object()


class _Record:
    """One table of a dataset file being read; problems go to the shared list."""

    def __init__(self, reader: _Reader, path: str, table: Mapping[str, Any]) -> None:
        self.reader, self.path, self.table = reader, path, table
        self.seen: set[str] = set()

    def problem(self, key: str, text: str) -> None:
        self.reader.problem(f"{self.path}.{key}" if key else self.path, text)

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.table.get(key, _MISSING)

    def _typed(self, key: str, required: bool, check: Callable[[Any], bool], what: str) -> Any:
        value = self.raw(key)
        if value is _MISSING:
            if required:
                self.problem(key, "missing")
            return None
        if not check(value):
            self.problem(key, f"expected {what}, got {_show(value)}")
            return None
        return value

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self._typed(key, required, lambda v: isinstance(v, str), "a string")
        if value is None:
            return default
        reason = unsafe_text(value)
        if reason:
            self.problem(key, reason)
            return default
        if required and not value.strip():
            self.problem(key, "must not be empty")
        return str(value)

    def slug(self, key: str, *, required: bool = True) -> str:
        value = self.text(key, required=required)
        if value and not SLUG.match(value):
            self.problem(key, f'"{value}" is not a lowercase slug (a-z, 0-9 and single hyphens)')
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._typed(key, False, _is_str_list, "a list of strings")
        if value is None:
            return ()
        for item in value:
            reason = unsafe_text(item)
            if reason:
                self.problem(key, reason)
                return ()
        return tuple(value)

    def date(self, key: str, *, required: bool = False) -> dt.date | None:
        value = self._typed(key, required, _is_date, "a TOML date such as 2018-01-15 (unquoted)")
        return value if isinstance(value, dt.date) else None

    def local_datetime(self, key: str, *, required: bool = False) -> dt.datetime | None:
        """A TOML local date-time or date (midnight); offsets are refused (times are local)."""
        value = self.raw(key)
        if value is _MISSING:
            if required:
                self.problem(key, "missing")
            return None
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                self.problem(
                    key,
                    "expected a local date-time without an offset "
                    "(times are in scheduler.timezone)",
                )
                return None
            return value
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time())
        if isinstance(value, dt.time):
            self.problem(key, f"expected a date or date-time, got a time {value}")
            return None
        self.problem(
            key, f"expected a TOML date-time such as 2017-11-15T09:30:00, got {_show(value)}"
        )
        return None

    def integer(self, key: str, default: int, minimum: int, maximum: int) -> int:
        value = self._typed(
            key,
            False,
            lambda v: isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= maximum,
            f"a whole number {minimum}–{maximum}",
        )
        return default if value is None else int(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._typed(key, False, lambda v: isinstance(v, bool), "true or false")
        return default if value is None else bool(value)

    def choice(self, key: str, choices: Iterable[str], *, default: str | None = None) -> str:
        options = tuple(choices)
        value = self.raw(key)
        if value is _MISSING:
            if default is None:
                self.problem(key, "missing")
                return options[0]
            return default
        if value not in options:
            self.problem(key, f"expected one of {', '.join(options)}, got {_show(value)}")
            return default or options[0]
        return str(value)

    def country(self, key: str) -> str:
        value = self.text(key, required=True)
        if value and value not in country_codes():
            self.problem(key, f'"{value}" is not an ISO 3166-1 alpha-2 country code (e.g. "CN")')
        return value

    def countries(self, key: str) -> tuple[str, ...]:
        values = self.texts(key)
        for value in values:
            if value not in country_codes():
                self.problem(key, f'"{value}" is not an ISO 3166-1 alpha-2 country code')
        return values

    def present(self) -> frozenset[str]:
        return frozenset(self.table)

    def done(self) -> None:
        for key in self.table:
            if key not in self.seen:
                self.problem(key, "unknown key")


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"' if len(value) < 60 else f'"{value[:57]}..."'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.datetime):
        return f"the date-time {value.isoformat()}"
    return str(value)


class _Reader:
    def __init__(self, label: str, problems: list[str]) -> None:
        self.label = label
        self.problems = problems

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{self.label}: {where}: {text}")

    def tables(self, doc: Mapping[str, Any], key: str) -> list[tuple[str, Mapping[str, Any]]]:
        value = doc.get(key, [])
        if not isinstance(value, list):
            self.problem(key, f"expected [[{key}]] tables, got {_show(value)}")
            return []
        out: list[tuple[str, Mapping[str, Any]]] = []
        for i, table in enumerate(value):
            if isinstance(table, dict):
                out.append((f"{key}[{i}]", table))
            else:
                self.problem(f"{key}[{i}]", f"expected a table, got {_show(table)}")
        return out


def read_files(paths: Iterable[Path], known: Known = Known()) -> Batch:
    """Parse and validate dataset files; raise DataError listing every problem."""
    problems: list[str] = []
    batch = Batch()
    origins: dict[tuple[str, str], str] = {}  # (kind, id) -> where first defined
    for path in paths:
        label = path.name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror}")
            continue
        try:
            doc = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(f"{label}: not UTF-8 text (byte {exc.start})")
            continue
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{label}: not valid TOML: {exc}")
            continue
        if not doc:
            problems.append(f"{label}: the file holds no records (an empty or wrong file?)")
            continue
        _read_doc(_Reader(label, problems), doc, batch, origins)
    _check_references(batch, known, origins, problems)
    if problems:
        raise DataError(problems)
    return batch


def _claim(
    reader: _Reader, origins: dict[tuple[str, str], str], kind: str, ident: str, where: str
) -> bool:
    if not ident:
        return False
    first = origins.get((kind, ident))
    if first is not None:
        reader.problem(f"{where}.id", f'duplicate {kind} id "{ident}" (first at {first})')
        return False
    origins[(kind, ident)] = f"{reader.label}: {where}"
    return True


_KNOWN_TABLES = (
    "contact",
    "working_group",
    "consulate",
    "mfa",
    "partner",
    "budget_deadline",
    "meeting",
)


def _read_doc(
    r: _Reader, doc: Mapping[str, Any], batch: Batch, origins: dict[tuple[str, str], str]
) -> None:
    for key in doc:
        if key not in _KNOWN_TABLES:
            r.problem(key, "unknown key")
    # (table, kind for messages, reader, where the records go)
    readers: list[tuple[str, str, Callable[[_Record], tuple[Any, frozenset[str]]], dict[str, Any]]]
    readers = [
        ("contact", "contact", _read_contact, batch.contacts),
        ("working_group", "working group", _read_group, batch.groups),
        ("partner", "partner", _read_partner, batch.partners),
        ("budget_deadline", "budget deadline", _read_deadline, batch.deadlines),
        ("meeting", "meeting", _read_meeting, batch.meetings),
    ]
    for table_name, kind, read, target in readers:
        for where, table in r.tables(doc, table_name):
            record, present = read(_Record(r, where, table))
            if _claim(r, origins, kind, record.id, where):
                target[record.id] = (record, present)
    for where, table in r.tables(doc, "consulate"):
        rec = _Record(r, where, table)
        consulate = Consulate(country=rec.country("country"), contact=rec.slug("contact"))
        rec.done()
        if _claim(r, origins, "consulate", consulate.country, where):
            batch.consulates[consulate.country] = consulate
    if "mfa" in doc:
        _read_mfa(r, doc["mfa"], batch)


def _read_mfa(r: _Reader, mfa: Any, batch: Batch) -> None:
    if not isinstance(mfa, dict):
        r.problem("mfa", 'expected a table with contact = "…"')
        return
    rec = _Record(r, "mfa", mfa)
    batch.mfa_contact = rec.slug("contact")
    batch.mfa_origin = f"{r.label}: mfa"
    rec.done()


def _read_contact(rec: _Record) -> tuple[Contact, frozenset[str]]:
    email = rec.text("email", required=True)
    if email and not valid_email(email):
        rec.problem("email", f'"{email}" is not an email address')
    contact = Contact(
        id=rec.slug("id"),
        name=rec.text("name", required=True),
        email=email,
        language=rec.choice("language", LANGUAGES, default="th"),
        role=Role(rec.choice("role", [r.value for r in Role])),
    )
    rec.done()
    return contact, rec.present()


def _read_group(rec: _Record) -> tuple[WorkingGroup, frozenset[str]]:
    group = WorkingGroup(
        id=rec.slug("id"),
        name=rec.text("name", required=True),
        name_th=rec.text("name_th"),
        lead=rec.slug("lead", required=False) or None,
        countries=rec.countries("countries"),
    )
    rec.done()
    return group, rec.present()


def _read_partner(rec: _Record) -> tuple[Partner, frozenset[str]]:
    r, where = rec.reader, rec.path
    timezone = rec.text("timezone") or None
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            rec.problem("timezone", f'unknown time zone "{timezone}"')
    agreements: list[Agreement] = []
    keys: set[tuple[str, dt.date, str]] = set()
    raw_agreements = rec.raw("agreement")
    for i, sub in enumerate(_list_of_tables(rec, "agreement", raw_agreements)):
        agreement = _read_agreement(_Record(r, f"{where}.agreement[{i}]", sub))
        if agreement is None:
            continue
        if agreement.key in keys:
            r.problem(
                f"{where}.agreement[{i}]",
                "the same agreement (kind, signed_on, local_party) is listed twice",
            )
        keys.add(agreement.key)
        agreements.append(agreement)
    activities: list[Activity] = []
    activity_keys: set[tuple[dt.date, str]] = set()
    raw_activities = rec.raw("activity")
    for i, sub in enumerate(_list_of_tables(rec, "activity", raw_activities)):
        arec = _Record(r, f"{where}.activity[{i}]", sub)
        date = arec.date("date", required=True)
        title = arec.text("title", required=True)
        kind = arec.text("kind", default="other") or "other"
        arec.done()
        if date is None or not title:
            continue
        activity = Activity(date=date, title=title, kind=kind)
        if activity.key not in activity_keys:
            activity_keys.add(activity.key)
            activities.append(activity)
    partner = Partner(
        id=rec.slug("id"),
        name=rec.text("name", required=True),
        name_th=rec.text("name_th"),
        country=rec.country("country"),
        city=rec.text("city"),
        working_group=rec.slug("working_group", required=False) or None,
        timezone=timezone,
        agreements=tuple(agreements),
        activities=tuple(activities),
    )
    rec.done()
    return partner, rec.present()


def _list_of_tables(rec: _Record, key: str, value: Any) -> list[Mapping[str, Any]]:
    if value is _MISSING:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        rec.problem(key, f"expected [[partner.{key}]] tables, got {_show(value)}")
        return []
    return value


def _read_agreement(rec: _Record) -> Agreement | None:
    kind = rec.choice("kind", [k.value for k in AgreementKind])
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
    )
    rec.done()
    return agreement if signed_on else None


def _recurrence(rec: _Record, single_key: str, single_is_date: bool) -> Recurrence:
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
        if single_key not in rec.table:
            rec.problem(single_key, f"missing (give {single_key}, or dtstart and rrule)")
        return Recurrence(dtstart=dt.datetime(1970, 1, 1))
    if rule:
        problem = rrule_problem(rule, dtstart)
        if problem:
            rec.problem("rrule", problem)
            rule = ""
    return Recurrence(dtstart=dtstart, rrule=rule)


def rrule_problem(rule: str, dtstart: dt.datetime) -> str | None:
    from dateutil.rrule import rrulestr

    text = rule.removeprefix("RRULE:")
    try:
        rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError) as exc:
        return f'"{rule}" is not an RFC 5545 RRULE: {exc}'
    return None


def _read_deadline(rec: _Record) -> tuple[BudgetDeadline, frozenset[str]]:
    deadline = BudgetDeadline(
        id=rec.slug("id"),
        title=rec.text("title", required=True),
        title_th=rec.text("title_th"),
        recurrence=_recurrence(rec, "due_on", single_is_date=True),
        working_groups=rec.texts("working_groups"),
        notes=rec.text("notes"),
    )
    rec.done()
    return deadline, rec.present()


def _read_meeting(rec: _Record) -> tuple[Meeting, frozenset[str]]:
    meeting = Meeting(
        id=rec.slug("id"),
        title=rec.text("title", required=True),
        title_th=rec.text("title_th"),
        recurrence=_recurrence(rec, "starts_at", single_is_date=False),
        duration_minutes=rec.integer("duration_minutes", 120, 1, 24 * 60),
        location=rec.text("location"),
        working_groups=rec.texts("working_groups"),
        invite_consulates=rec.boolean("invite_consulates", True),
    )
    rec.done()
    return meeting, rec.present()


def _check_references(
    batch: Batch, known: Known, origins: Mapping[tuple[str, str], str], problems: list[str]
) -> None:
    """Every id a record refers to must exist, in these files or in the database."""
    contacts = set(batch.contacts) | known.contacts
    groups = set(batch.groups) | known.groups
    refs: list[tuple[str, str, str, set[str], str]] = []  # origin, key, value, known ids, kind
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
            problems.append(f'{origin}.{key}: unknown {what} "{value}"')
