"""The registry as plain values: what the planners read.

A dataset file is parsed into these, and the database is read back into them, so the planners
never see a session or a file. Everything here is frozen; lists are tuples.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Role(StrEnum):
    """A contact's role (SPEC `[[contact]]`). Heads are internal readers who get nothing but
    escalations (SPEC "The way back")."""

    LEAD = "lead"
    CONSULATE = "consulate"
    MFA = "mfa"
    STAFF = "staff"
    HEAD = "head"


class AgreementKind(StrEnum):
    SISTER_CITY = "sister-city"
    MOU = "mou"
    LOI = "loi"
    FRIENDSHIP = "friendship"

    @property
    def label(self) -> str:
        """The short name on spreadsheets and their drop-downs: "sister-city", "MOU", …"""
        return _KIND_LABELS[self]

    def name_in(self, language: str) -> str:
        """The name in running text (mail); `language` is "en" or "th". KeyError otherwise."""
        return _KIND_NAMES[language][self]


# The one table of how kinds are written: the short label, and the name in each language.
_KIND_LABELS = {AgreementKind.SISTER_CITY: "sister-city", AgreementKind.MOU: "MOU",
                AgreementKind.LOI: "LOI", AgreementKind.FRIENDSHIP: "friendship"}
_KIND_NAMES = {
    "en": {AgreementKind.SISTER_CITY: "sister-city agreement", AgreementKind.MOU: "MOU",
           AgreementKind.LOI: "letter of intent",
           AgreementKind.FRIENDSHIP: "friendship agreement"},
    "th": {AgreementKind.SISTER_CITY: "ความตกลงเมืองพี่เมืองน้อง",
           AgreementKind.MOU: "บันทึกความเข้าใจ (MOU)",
           AgreementKind.LOI: "หนังสือแสดงเจตจำนง (LOI)",
           AgreementKind.FRIENDSHIP: "ความตกลงฉันมิตร"},
}


class Level(StrEnum):
    PROVINCE_CITY = "province-city"
    CITY_CITY = "city-city"
    UNIVERSITY = "university-university"
    ORGANISATION = "organisation-organisation"


LANGUAGES = ("th", "en")


@dataclass(frozen=True)
class Named:
    """A record of the registry that readers see by name: its id (a lowercase slug, unique per
    kind) and its English name."""

    id: str
    name: str


@dataclass(frozen=True)
class Contact(Named):
    """Someone who gets emails: address, language ("th" or "en") and role (SPEC `[[contact]]`)."""

    email: str
    language: str = "en"
    role: Role = Role.STAFF

    @property
    def address(self) -> str:
        """The recipient key: one mailbox is one recipient, whatever its roles."""
        return self.email.lower()


@dataclass(frozen=True)
class WorkingGroup(Named):
    """One region's working group: its lead (a contact id) and the countries it covers."""

    name_th: str = ""
    lead: str | None = None  # contact id
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Consulate:
    country: str
    contact: str  # contact id


@dataclass(frozen=True)
class Agreement:
    kind: AgreementKind
    signed_on: dt.date
    local_party: str = "Chiang Mai Province"
    areas: tuple[str, ...] = ()
    expires_on: dt.date | None = None
    level: str | None = None
    title: str = ""
    contact_person: str = ""
    contact_email: str = ""
    notes: str = ""
    id: str = ""  # a slug unique within the partner; "" until stored (then derived)

    @property
    def key(self) -> tuple[str, dt.date, str]:
        """Identity within a partner (SPEC: kind, signing date, local party)."""
        return (self.kind.value, self.signed_on, self.local_party)


# Activity kinds the forms suggest, with their Thai words. SPEC leaves an activity's kind free
# text; a kind typed as one of these words (Thai or English, any case) is stored as its code,
# so that one kind is one value in lists, exports and filters.
ACTIVITY_KINDS = {"visit": "การเยือน", "meeting": "การประชุม", "event": "กิจกรรม",
                  "exchange": "การแลกเปลี่ยน", "letter": "หนังสือ", "other": "อื่น ๆ"}


def activity_kind_code(kind: str) -> str:
    """`kind` stripped, as its code when it names a suggested kind in English or Thai
    ("การประชุม" → "meeting", "Visit" → "visit", "อื่นๆ" → "other"); else as typed."""
    typed = kind.strip()
    squeezed = "".join(typed.split()).casefold()
    for code, thai in ACTIVITY_KINDS.items():
        if squeezed in (code, "".join(thai.split())):
            return code
    return typed


@dataclass(frozen=True)
class Activity:
    date: dt.date
    title: str
    kind: str = "other"
    id: str = ""  # a slug unique within the partner; "" until stored (then derived)

    @property
    def key(self) -> tuple[dt.date, str]:
        """Identity within a partner when there is no id (SPEC: date and title)."""
        return (self.date, self.title)


def derived_id(base: str, taken: set[str]) -> str:
    """A record id from `base` (e.g. "sister-city-2015-03-30"), with -2, -3… while it is in
    `taken`; the result is added to `taken` (SPEC: ids of agreements and activities)."""
    base = _NOT_SLUG.sub("-", base.lower()).strip("-")[:90].strip("-") or "record"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate)
    return candidate


def agreement_id_base(agreement: Agreement) -> str:
    """The id an agreement without one is given: its kind and signing date."""
    return f"{agreement.kind.value}-{agreement.signed_on.isoformat()}"


def activity_id_base(activity: Activity) -> str:
    """The id an activity without one is given: its kind and date."""
    return f"{activity.kind}-{activity.date.isoformat()}"


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class LocalParty(Named):
    """Who signs on this side (SPEC `[[local_party]]`): one party under either name."""

    name_th: str = ""


def party_key(text: str) -> str:
    """A local party's name as matched: case and spacing ignored."""
    return "".join(unicodedata.normalize("NFC", text).casefold().split())


def canonical_party(text: str, parties: Iterable[LocalParty]) -> str:
    """The English name of the party `text` names (by id, English or Thai name, case and
    spacing ignored), or `text` itself when it names none (SPEC: a local party is the same
    party under its English or Thai name)."""
    key = party_key(text)
    for party in parties:
        if key in {party_key(party.id), party_key(party.name), party_key(party.name_th)}:
            return party.name
    return text


@dataclass(frozen=True)
class Partner(Named):
    """A partner city or province: its country (ISO 3166-1 alpha-2), group, agreements,
    activities, and the end of the relation when it ended."""

    country: str
    name_th: str = ""
    city: str = ""
    working_group: str | None = None  # resolved group id (explicit, or by country)
    agreements: tuple[Agreement, ...] = ()
    activities: tuple[Activity, ...] = ()
    ended_on: dt.date | None = None  # the relation ended (SPEC `end`): no reminder from then
    end_reason: str = ""
    end_reason_th: str = ""

    def ended_by(self, as_of: dt.date) -> bool:
        """True when the relation ended on or before `as_of` (SPEC: no reminder of any job
        in a run as of a date on or after `ended_on`)."""
        return self.ended_on is not None and self.ended_on <= as_of

    def first_signed_on(self) -> dt.date | None:
        return min((a.signed_on for a in self.agreements), default=None)

    def last_activity_on(self, as_of: dt.date) -> dt.date | None:
        """The latest activity on or before `as_of` (later ones have not happened yet)."""
        return max((a.date for a in self.activities if a.date <= as_of), default=None)


# -- the dormancy rule: read by the dormant-partners job, meeting agendas, `partners` and the
# spreadsheet export, so it lives with the partner rather than in any one of them.
def quiet_since(partner: Partner, as_of: dt.date) -> dt.date | None:
    """The date silence is counted from (SPEC jobs table, dormant-partners): the latest
    activity or agreement signing on or before `as_of` (a new signing is life too); None when
    the partner has neither by then (such a partner is not dormant)."""
    signings = (a.signed_on for a in partner.agreements if a.signed_on <= as_of)
    latest_signing = max(signings, default=None)
    candidates = [d for d in (partner.last_activity_on(as_of), latest_signing) if d is not None]
    return max(candidates, default=None)


def spell_start(partner: Partner, as_of: dt.date, after_days: int) -> dt.date | None:
    """The first day of the current dormant spell (quiet since + `after_days` calendar days),
    or None when the partner is not dormant as of `as_of`."""
    since = quiet_since(partner, as_of)
    if since is None or (as_of - since).days < after_days:
        return None
    return since + dt.timedelta(days=after_days)


@dataclass(frozen=True)
class Recurrence:
    """Either one date (`rrule` empty) or `dtstart` plus an RFC 5545 RRULE."""

    dtstart: dt.datetime
    rrule: str = ""


@dataclass(frozen=True)
class Planned:
    """A dated item the office plans for: its id, title (with `{fiscal_year}` and
    `{next_fiscal_year}` filled per occurrence) and when it recurs."""

    id: str
    title: str
    recurrence: Recurrence


@dataclass(frozen=True)
class BudgetDeadline(Planned):
    """A budget deadline (SPEC `[[budget_deadline]]`); `working_groups` empty: every group."""

    title_th: str = ""
    working_groups: tuple[str, ...] = ()  # empty: every group
    notes: str = ""
    notes_th: str = ""


@dataclass(frozen=True)
class MeetingChange:
    """One occurrence of a meeting moved or cancelled (SPEC `[[meeting.change]]`):
    `occurrence` is its date as the rule gives it; None keeps the meeting's own value."""

    occurrence: dt.date
    starts_at: dt.datetime | None = None  # local wall time, naive
    duration_minutes: int | None = None
    location: str | None = None
    location_th: str | None = None
    cancelled: bool = False


@dataclass(frozen=True)
class Meeting(Planned):
    """A meeting (SPEC `[[meeting]]`); its recurrence is local wall time in
    scheduler.timezone; `working_groups` empty: every group. `cancelled`: every occurrence is
    cancelled; `changes`: single occurrences moved or cancelled."""

    duration_minutes: int = 120
    title_th: str = ""
    location: str = ""
    working_groups: tuple[str, ...] = ()  # empty: every group
    invite_consulates: bool = True
    location_th: str = ""
    cancelled: bool = False
    changes: tuple[MeetingChange, ...] = ()

    def change_of(self, occurrence: dt.date) -> MeetingChange | None:
        """The change of the occurrence the rule gives on `occurrence`, or None."""
        return next((c for c in self.changes if c.occurrence == occurrence), None)


@dataclass(frozen=True)
class SentOccurrence:
    """What the invitees of one meeting occurrence were last sent (SPEC "Meetings in
    calendars"): its key (the meeting id and the date the rule gives; for a one-off meeting the
    date of its first invitation), the SEQUENCE, start and end (local wall time, naive), the
    location, and whether it was cancelled."""

    meeting: str
    occurrence: dt.date
    sequence: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    location: str
    cancelled: bool = False


@dataclass(frozen=True)
class Registry:
    """A snapshot of everything the jobs plan from."""

    contacts: Mapping[str, Contact] = field(default_factory=dict)
    working_groups: Mapping[str, WorkingGroup] = field(default_factory=dict)
    consulates: Mapping[str, Consulate] = field(default_factory=dict)  # by country
    mfa_contact: str | None = None
    partners: Mapping[str, Partner] = field(default_factory=dict)
    budget_deadlines: Mapping[str, BudgetDeadline] = field(default_factory=dict)
    meetings: Mapping[str, Meeting] = field(default_factory=dict)
    local_parties: Mapping[str, LocalParty] = field(default_factory=dict)

    def active_on(self, as_of: dt.date) -> Registry:
        """The registry a run as of `as_of` plans from: partners whose relation ended on or
        before that date left out (SPEC "What is sent": no reminder of any job about them)."""
        if not any(p.ended_by(as_of) for p in self.partners.values()):
            return self
        kept = {pid: p for pid, p in self.partners.items() if not p.ended_by(as_of)}
        return replace(self, partners=kept)

    def staff(self) -> list[Contact]:
        return [c for c in self.contacts.values() if c.role is Role.STAFF]

    def heads(self) -> list[Contact]:
        """The `head` contacts, in file order: who escalations go to (SPEC "The way back")."""
        return [c for c in self.contacts.values() if c.role is Role.HEAD]

    def group_lead(self, group_id: str | None) -> Contact | None:
        group = self.working_groups.get(group_id) if group_id else None
        if group is None or group.lead is None:
            return None
        return self.contacts.get(group.lead)

    def country_contact(self, country: str) -> Contact | None:
        """The consulate contact of a country, else the MFA contact (SPEC)."""
        consulate = self.consulates.get(country)
        contact_id = consulate.contact if consulate else self.mfa_contact
        return self.contacts.get(contact_id) if contact_id else None

    def group_for_country(self, country: str) -> str | None:
        for group in self.working_groups.values():
            if country in group.countries:
                return group.id
        return None

    def groups_or_all(self, group_ids: tuple[str, ...]) -> list[WorkingGroup]:
        """The listed groups, or every group when none is listed."""
        if not group_ids:
            return list(self.working_groups.values())
        return [self.working_groups[g] for g in group_ids if g in self.working_groups]
