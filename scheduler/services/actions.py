"""What a reader does from an email's link (SPEC "The way back"): see the item a link names,
and act on it once.

A link's claim (scheduler.links.ActionClaim) names a recipient, an item as the planners name
it (job, item id, occurrence) and an action. `describe` says what the link's page shows;
`perform` acts, in the registry (RECORD adds an activity) and in the `acknowledgements` table,
which the planners read through `load_acknowledgements` (PlanContext.acknowledgements):

- dormant-partners, RECORD: an activity is recorded (the spell ends for everyone); SNOOZE: no
  notice of that partner to that recipient before `jobs.dormant-partners.repeat_days` after
  the snooze;
- anniversaries, RECORD: an activity (what was done or planned); the later stages of that
  anniversary stop for every internal reader; NO_ACTION: they stop for that reader;
- budget-deadlines, DONE: no further stage of that occurrence to anyone (and no escalation).

Nothing here reads the clock: `now` (aware) comes from the caller. Each perform writes one
audit entry whose actor names the recipient ("lead@example.org (email link)").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jobs.common import fill_title
from scheduler.config import Settings
from scheduler.dates.thaidate import WorkingCalendar, parse_date
from scheduler.db.database import Database
from scheduler.db.models import AcknowledgementRow, ActivityRow
from scheduler.errors import UserError
from scheduler.links import ActionClaim, LinkAction
from scheduler.planning import Acknowledgements
from scheduler.registry.domain import Agreement, Partner, Registry
from scheduler.registry.store import load_registry
from scheduler.registry.validate import implausible_record_date, unsafe_text
from scheduler.services.audit import Actor, AuditAction, record
from scheduler.services.partners import record_activity

DORMANT = "dormant-partners"
ANNIVERSARIES = "anniversaries"
DEADLINES = "budget-deadlines"

# The actions each job's links offer (SPEC "The way back").
OFFERED: dict[str, tuple[LinkAction, ...]] = {
    DORMANT: (LinkAction.RECORD, LinkAction.SNOOZE),
    ANNIVERSARIES: (LinkAction.RECORD, LinkAction.NO_ACTION),
    DEADLINES: (LinkAction.DONE,),
}
_KIND = {DORMANT: "dormant", ANNIVERSARIES: "anniversary", DEADLINES: "deadline"}
# Actions that settle the item for everyone; the others settle it for their reader only.
_FOR_ALL = frozenset({LinkAction.RECORD, LinkAction.DONE})


@dataclass(frozen=True)
class Acknowledgement:
    """One action taken from a link: its row id, who (`recipient`, lower-cased address), on
    what (`job`, `item`, `occurrence`; `item_name` in English, as it read then), what
    (`action`) and when (`at`, aware UTC); a snooze's `until` (no repeat to this recipient
    before this local date) and a RECORD's `activity_id` (the activity's id within its
    partner), else None."""

    id: int
    recipient: str
    job: str
    item: str
    item_name: str
    occurrence: dt.date
    action: LinkAction
    at: dt.datetime
    until: dt.date | None
    activity_id: str | None


@dataclass(frozen=True)
class ActionView:
    """What a link's page shows: the claim, the recipient's language ("th"/"en"; "en" when
    unknown), the kind of item ("dormant" | "anniversary" | "deadline"), its name in that
    language (the partner; "<partner>: <agreement kind>"; the deadline's title filled in), the
    date the email printed for it (silence start / anniversary / act-by date), the partner's
    id (None for a deadline), and the acknowledgement already made (this item and occurrence
    by anyone for RECORD and DONE, by this recipient for SNOOZE and NO_ACTION), or None."""

    claim: ActionClaim
    language: str
    kind: str
    name: str
    date: dt.date
    partner_id: str | None
    done: Acknowledgement | None


def describe(db: Database, settings: Settings, claim: ActionClaim, *,
             now: dt.datetime, registry: Registry | None = None) -> ActionView:
    """The page of `claim` as of `now` (aware). UserError when the item no longer exists
    (the partner, agreement or deadline was removed) or the job does not offer the action.
    `registry`: the registry as stored now, when the caller has it (the web app's cache);
    else it is read."""
    with db.read() as session:
        registry = registry if registry is not None else load_registry(session)
        done = _done(session, claim)
    language = _language(registry, claim.recipient)
    name, date, partner_id = _item(registry, settings, claim, language)
    return ActionView(claim, language, _KIND[claim.job], name, date, partner_id, done)


def perform(db: Database, settings: Settings, claim: ActionClaim, *, now: dt.datetime,
            date: str = "", title: str = "", kind: str = "",
            registry: Registry | None = None) -> Acknowledgement:
    """Do what `claim` grants, once, as of `now` (aware), and return its acknowledgement.

    RECORD needs `date` (any form the CLI accepts: SPEC "Commands") and `title`; `kind` is
    optional ("other"). A second perform of the same claim (or a RECORD/DONE on an item
    someone already settled) returns the acknowledgement already made and changes nothing.
    Raises UserError naming the field ("date: …", "title: …", "kind: …") or saying the item
    is gone; nothing is changed then. `registry` as for `describe`."""
    with db.read() as session:
        registry = registry if registry is not None else load_registry(session)
        done = _done(session, claim)
    if done is not None:
        return done
    name, _date, partner_id = _item(registry, settings, claim, "en")
    by = Actor(f"{claim.recipient} (email link)", now)
    local_today = now.astimezone(ZoneInfo(settings.timezone)).date()
    until: dt.date | None = None
    activity_id: str | None = None
    audited = False
    if claim.action is LinkAction.RECORD:
        assert partner_id is not None
        day, text, sort = _activity_fields(date, title, kind, local_today)
        try:
            made = record_activity(db, partner_id, day=day, title=text, kind=sort, by=by,
                                   today=local_today)
        except UserError as exc:  # the CLI's option names → the form's field names
            raise UserError(exc.message.removeprefix("--")) from None
        audited = made.created
        activity_id = _activity_ref(db, partner_id, day, text)
    elif claim.action is LinkAction.SNOOZE:
        until = local_today + dt.timedelta(days=settings.jobs.dormant_repeat_days)
    row = AcknowledgementRow(
        recipient=claim.recipient, job=claim.job, item=claim.item, item_name=name,
        occurrence=claim.occurrence, action=claim.action.value, at=now, until=until,
        activity_id=activity_id)
    try:
        with db.write() as session:
            session.add(row)
            session.flush()
            if not audited:
                record(session, by, _AUDIT[claim.action], f"{claim.job}/{claim.item}",
                       {"occurrence": claim.occurrence.isoformat(), "name": name,
                        **({"until": until.isoformat()} if until else {}),
                        **({"activity": activity_id} if activity_id else {})})
            made_ack = _acknowledgement(row)
    except IntegrityError:  # the same link used twice at once: the other one acted
        with db.read() as session:
            again = _done(session, claim)
        if again is None:
            raise
        return again
    return made_ack


_AUDIT = {LinkAction.RECORD: AuditAction.ACKNOWLEDGE, LinkAction.SNOOZE: AuditAction.SNOOZE,
          LinkAction.NO_ACTION: AuditAction.NO_ACTION, LinkAction.DONE: AuditAction.DONE}


def acknowledgements(db: Database, *, limit: int = 200) -> list[Acknowledgement]:
    """The latest `limit` acknowledgements, newest first."""
    with db.read() as session:
        rows = session.scalars(select(AcknowledgementRow).order_by(
            AcknowledgementRow.at.desc(), AcknowledgementRow.id.desc()).limit(limit))
        return [_acknowledgement(r) for r in rows]


def load_acknowledgements(session: Session, job: str) -> Acknowledgements:
    """What the planner of `job` must honour (PlanContext.acknowledgements), read in the run's
    transaction: the (item, occurrence) settled for everyone (RECORD, DONE), those settled for
    one reader (NO_ACTION; a RECORD on an anniversary, which the planner applies to internal
    readers only, is in `for_all`), and each (item, reader)'s latest snooze end."""
    for_all: set[tuple[str, dt.date]] = set()
    for_one: set[tuple[str, dt.date, str]] = set()
    snoozed: dict[tuple[str, str], dt.date] = defaultdict(lambda: dt.date.min)
    query = select(AcknowledgementRow.item, AcknowledgementRow.occurrence,
                   AcknowledgementRow.recipient, AcknowledgementRow.action,
                   AcknowledgementRow.until).where(AcknowledgementRow.job == job)
    for item, occurrence, recipient, action, until in session.execute(query):
        if action in _FOR_ALL:
            for_all.add((item, occurrence))
        elif action == LinkAction.SNOOZE and until is not None:
            key = (item, recipient)
            snoozed[key] = max(snoozed[key], until)
        else:
            for_one.add((item, occurrence, recipient))
    return Acknowledgements(frozenset(for_all), frozenset(for_one), dict(snoozed))


# ---- helpers --------------------------------------------------------------------------


def _acknowledgement(row: AcknowledgementRow) -> Acknowledgement:
    return Acknowledgement(row.id, row.recipient, row.job, row.item, row.item_name,
                           row.occurrence, LinkAction(row.action), row.at, row.until,
                           row.activity_id)


def _done(session: Session, claim: ActionClaim) -> Acknowledgement | None:
    """The acknowledgement that already settles `claim`, if any (see ActionView.done)."""
    query = select(AcknowledgementRow).where(
        AcknowledgementRow.job == claim.job, AcknowledgementRow.item == claim.item,
        AcknowledgementRow.occurrence == claim.occurrence,
        AcknowledgementRow.action == claim.action.value)
    if claim.action not in _FOR_ALL:
        query = query.where(AcknowledgementRow.recipient == claim.recipient)
    row = session.scalars(query.order_by(AcknowledgementRow.id).limit(1)).first()
    return None if row is None else _acknowledgement(row)


def _language(registry: Registry, address: str) -> str:
    for contact in registry.contacts.values():
        if contact.address == address:
            return contact.language if contact.language in ("th", "en") else "en"
    return "en"


def _gone(claim: ActionClaim) -> UserError:
    return UserError(f"{claim.job} {claim.item}: this item no longer exists")


def _partner_name(partner: Partner, language: str) -> str:
    return (partner.name_th or partner.name) if language == "th" else partner.name


def _item(registry: Registry, settings: Settings, claim: ActionClaim,
          language: str) -> tuple[str, dt.date, str | None]:
    """(name in `language`, date the email printed, partner id) of the claim's item.
    UserError when it is gone, or the job does not offer the claim's action."""
    if claim.action not in OFFERED.get(claim.job, ()):
        raise UserError(f"{claim.job}: no such action on this item ({claim.action.value})")
    name = item_name(registry, claim.job, claim.item, claim.occurrence, language)
    if name is None:
        raise _gone(claim)
    if claim.job == DORMANT:
        return name, claim.occurrence, claim.item
    if claim.job == ANNIVERSARIES:
        return name, claim.occurrence, claim.item.rsplit("/", 3)[0]
    calendar = WorkingCalendar(settings.extra_holidays, settings.extra_working_days)
    return name, calendar.act_by(claim.occurrence), None


def _agreement_of(registry: Registry, item: str) -> tuple[Partner, Agreement] | None:
    from jobs.anniversaries import agreement_item  # the planner's own naming

    partner = registry.partners.get(item.rsplit("/", 3)[0])
    if partner is not None:
        for agreement in partner.agreements:
            if agreement_item(partner, agreement) == item:
                return partner, agreement
    return None


def item_name(registry: Registry, job: str, item: str, occurrence: dt.date,
              language: str) -> str | None:
    """The name of a notice's item in `language` ("th" or "en") as the /act page gives it:
    a dormant partner's name (name_th in Thai when it has one), "<partner>: <agreement kind>"
    for an anniversary, a deadline's title (title_th in Thai) with the fiscal years of
    `occurrence` filled in; None when the item is gone from `registry`. For pages that list
    stored acknowledgements and escalations (their stored names are English)."""
    if job == DORMANT:
        partner = registry.partners.get(item)
        return None if partner is None else _partner_name(partner, language)
    if job == ANNIVERSARIES:
        found = _agreement_of(registry, item)
        if found is None:
            return None
        return f"{_partner_name(found[0], language)}: {found[1].kind.name_in(language)}"
    deadline = registry.budget_deadlines.get(item)
    if deadline is None:
        return None
    title = deadline.title_th or deadline.title if language == "th" else deadline.title
    return fill_title(title, occurrence)


def _activity_fields(date: str, title: str, kind: str,
                     today: dt.date) -> tuple[dt.date, str, str]:
    """The RECORD form's fields checked: (date, title stripped, kind or "other"). UserError
    naming the field."""
    if not date.strip():
        raise UserError("date: must not be empty")
    try:
        day = parse_date(date)
    except ValueError as exc:
        raise UserError(f"date: {exc}") from None
    typo = implausible_record_date(day, today)
    if typo:
        raise UserError(f"date: {typo}")
    for field, value in (("title", title), ("kind", kind)):
        reason = unsafe_text(value)
        if reason:
            raise UserError(f"{field}: {reason}")
    if not title.strip():
        raise UserError("title: must not be empty")
    return day, title.strip(), kind.strip() or "other"


def _activity_ref(db: Database, partner_id: str, day: dt.date, title: str) -> str | None:
    with db.read() as session:
        return session.scalars(select(ActivityRow.ref).where(
            ActivityRow.partner_id == partner_id, ActivityRow.date == day,
            ActivityRow.title == title)).first()
