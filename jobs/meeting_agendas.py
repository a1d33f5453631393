"""Meeting agendas: for each meeting occurrence, one email per recipient carrying the agenda and
one calendar invitation.

Recipients: the leads of the meeting's groups (every group when none is listed); with
`invite_consulates`, the consulate contacts of those groups' countries (never the MFA: it is not
a party to the province's working-group meetings, its partners are an agenda item instead);
every staff contact. Staged by `lead_days` like every dated item.

The agenda is computed by `build_agenda` as of the run's date, for the meeting's groups only:
dormant partners, anniversaries and budget deadlines within the horizon, agreements to review,
partners handled through the MFA, and the roster. Each invitation names the organizer and
its reader only; its UID is stable per occurrence for life and its SEQUENCE rises with each
change (jobs.meeting_lifecycle), so every recipient and every reminder carry the same event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import jobs.meeting_lifecycle as lifecycle
from jobs.anniversaries import anniversaries_between, anniversary_view
from jobs.budget_deadlines import occurrence_view
from jobs.common import day_off_view, fill_title, partner_view
from scheduler.dates.recurrence import parse_rule
from scheduler.dates.thaidate import WorkingCalendar, years_between
from scheduler.mail.invitation import Attendee, build_invitation, event_uid
from scheduler.planning import (
    HistoryWindow,
    JobSettings,
    JobSpec,
    Notice,
    PlanContext,
    RecipientSet,
    occurrences,
    plan_items,
)
from scheduler.registry.domain import (
    Agreement,
    AgreementKind,
    Meeting,
    Partner,
    Registry,
    WorkingGroup,
    quiet_since,
    spell_start,
)

NAME = "meeting-agendas"

# An LOI or friendship agreement is followed up by one of these.
_FORMAL_KINDS = frozenset({AgreementKind.MOU, AgreementKind.SISTER_CITY})
_PRELIMINARY_KINDS = frozenset({AgreementKind.LOI, AgreementKind.FRIENDSHIP})

# The invitation's DESCRIPTION; the agenda itself is in the email.
_DESCRIPTION = {
    "en": ("Working groups: {groups}.", "The agenda is in the email that carries this invitation."),
    "th": ("คณะทำงาน: {groups}", "วาระการประชุมอยู่ในอีเมลที่แนบคำเชิญนี้"),
}


# -- the job ----------------------------------------------------------------------------------
def plan(ctx: PlanContext) -> list[Notice]:
    """Notices for every meeting occurrence whose stage (`meeting_lead_days` before it) is due
    as of `ctx.as_of` and not yet queued by every recipient, and the updates and cancellations
    of occurrences already invited to (jobs.meeting_lifecycle); the context carries the agenda
    (cut to EMAIL_ROWS), the invitation and the calendar part's UID and SEQUENCE."""
    registry = ctx.registry
    domain = parseaddr(ctx.sender)[1].rpartition("@")[2] or "sistercity.invalid"
    invited_to = lifecycle.invited(ctx.history)

    def plan_meeting(meeting: Meeting) -> list[Notice]:
        recipients = meeting_recipients(registry, meeting)

        def agenda(occ: lifecycle.Occurrence) -> dict[str, Any]:
            context = occurrence_context(
                registry, occ.meeting, occ.starts_at, as_of=ctx.as_of, settings=ctx.settings,
                calendar=ctx.calendar, timezone=ctx.timezone, sender=ctx.sender,
                recipients=recipients)
            return {**context, "agenda": limit_agenda(context["agenda"], EMAIL_ROWS)}

        return lifecycle.plan_meeting(ctx, NAME, meeting, list(recipients), agenda,
                                      lambda key: event_uid(meeting.id, key, domain), invited_to)

    return plan_items(ctx, NAME, registry.meetings.values(), lambda m: m.id, plan_meeting)


# An email agenda lists at most this many rows per section (and per group in the roster);
# the rest is counted, and `sistercity agenda` prints everything. A registry of thousands of
# partners would otherwise make emails of megabytes that mail servers refuse.
EMAIL_ROWS = 30
_LISTS = ("dormant", "anniversaries", "deadlines", "review", "expiring", "via_mfa")


def limit_agenda(agenda: Mapping[str, Any], rows: int) -> dict[str, Any]:
    """A copy of `agenda` with each list cut to `rows` and the roster to twice that in all;
    `more[section]` counts what was cut, and each roster group's `more` the partners left
    out."""
    limited = dict(agenda)
    limited["more"] = {key: max(0, len(agenda[key]) - rows) for key in _LISTS}
    for key in _LISTS:
        limited[key] = agenda[key][:rows]
    # The roster shares the same budget among its groups (at least a few partners each).
    per_group = max(2, 2 * rows // max(1, len(agenda["roster"])))
    limited["roster"] = [
        {**group, "partners": group["partners"][:per_group],
         "more": max(0, len(group["partners"]) - per_group)}
        for group in agenda["roster"]
    ]
    return limited


def message_extras(
    group: Sequence[Notice], all_notices: Sequence[Notice], now: dt.datetime
) -> tuple[Mapping[str, Any], bytes | None]:
    """Template variables `meeting` and `agenda`, and the invitation for one email.

    `group` holds the notices of one recipient for one occurrence (the job is not a digest): a
    stage, or an update with the stage it stands for, the update first. The calendar's
    UID, SEQUENCE and method come from its context; its one ATTENDEE is the reader.
    """
    notice = group[0]
    context = notice.context
    meeting: Mapping[str, Any] = context["meeting"]
    invitation: Mapping[str, Any] = context["invitation"]
    part: Mapping[str, Any] = context["calendar"]
    lang = "th" if notice.recipient.language == "th" else "en"
    groups = meeting["groups_th"] if lang == "th" else meeting["groups"]
    first, second = _DESCRIPTION[lang]
    ics = build_invitation(
        uid=part["uid"],
        summary=meeting["title_th"] if lang == "th" else meeting["title"],
        starts_at=meeting["starts_at"].replace(tzinfo=ZoneInfo(meeting["timezone"])),
        duration_minutes=meeting["duration_minutes"],
        location=(lang == "th" and meeting["location_th"]) or meeting["location"],
        description=f"{first.format(groups=', '.join(groups))}\n{second}",
        organizer_email=invitation["organizer_email"],
        organizer_name=invitation["organizer_name"],
        attendees=[Attendee(notice.recipient.address, notice.recipient.name)],  # the reader only
        sequence=part["sequence"], method=part["method"], stamp=now,
    )
    return {"meeting": meeting, "agenda": context["agenda"]}, ics


def meeting_recipients(registry: Registry, meeting: Meeting) -> RecipientSet:
    """Leads of the meeting's groups; their countries' consulates; staff (SPEC)."""
    groups = registry.groups_or_all(meeting.working_groups)
    recipients = RecipientSet()
    for group in groups:
        recipients.add(registry.group_lead(group.id), "lead")
    if meeting.invite_consulates:
        for country in _countries(registry, meeting, groups):
            consulate = registry.consulates.get(country)
            if consulate is not None:  # no consulate: the MFA is NOT invited in its place
                recipients.add(registry.contacts.get(consulate.contact), "consulate")
    for contact in registry.staff():
        recipients.add(contact, "staff")
    return recipients


def next_occurrence(meeting: Meeting, on_or_after: dt.date) -> dt.datetime | None:
    """The meeting's first occurrence (local wall time) on or after the given date."""
    rec = meeting.recurrence
    if not rec.rrule:
        return rec.dtstart if rec.dtstart.date() >= on_or_after else None
    rule = parse_rule(rec.rrule, rec.dtstart)
    found: dt.datetime | None = rule.after(dt.datetime.combine(on_or_after, dt.time.min),
                                           inc=True)
    return found


def occurrence_context(
    registry: Registry,
    meeting: Meeting,
    starts_at: dt.datetime,
    *,
    as_of: dt.date,
    settings: JobSettings,
    calendar: WorkingCalendar,
    timezone: str,
    sender: str,
    recipients: RecipientSet | None = None,
) -> dict[str, Any]:
    """Everything the templates and the invitation need for one occurrence, as plain values.
    Shared by the job and `sistercity agenda`."""
    if recipients is None:
        recipients = meeting_recipients(registry, meeting)
    organizer_name, organizer_email = parseaddr(sender)
    domain = organizer_email.rpartition("@")[2] or "sistercity.invalid"
    return {
        # A meeting on a day the offices are closed is flagged to staff (SPEC jobs table).
        "meeting": {
            **meeting_view(registry, meeting, starts_at, timezone),
            **day_off_view(starts_at.date(), calendar),
        },
        "agenda": build_agenda(registry, meeting, as_of, settings, calendar),
        "invitation": {
            "uid": event_uid(meeting.id, starts_at.date(), domain),
            "organizer_email": organizer_email or f"sistercity@{domain}",
            "organizer_name": organizer_name,
            "attendees": [{"email": r.address, "name": r.name, "roles": list(r.roles)}
                          for r in recipients],
        },
    }


def meeting_view(
    registry: Registry, meeting: Meeting, starts_at: dt.datetime, timezone: str
) -> dict[str, Any]:
    groups = registry.groups_or_all(meeting.working_groups)
    return {
        "id": meeting.id,
        "title": fill_title(meeting.title, starts_at.date()),
        "title_th": fill_title(meeting.title_th or meeting.title, starts_at.date()),
        "date": starts_at.date(),
        "starts_at": starts_at,  # local wall time in `timezone`, naive
        "ends_at": starts_at + dt.timedelta(minutes=meeting.duration_minutes),
        "duration_minutes": meeting.duration_minutes,
        "timezone": timezone,
        "location": meeting.location,
        "location_th": meeting.location_th,
        "all_groups": not meeting.working_groups,
        "groups": [g.name for g in groups],
        "groups_th": [g.name_th or g.name for g in groups],
        "invite_consulates": meeting.invite_consulates,
    }


# -- the agenda -------------------------------------------------------------------------------
def build_agenda(
    registry: Registry,
    meeting: Meeting,
    as_of: dt.date,
    settings: JobSettings,
    calendar: WorkingCalendar,
) -> dict[str, Any]:
    """The agenda of `meeting` as of `as_of`, covering the meeting's groups only.

    Sections: dormant partners; anniversaries and budget deadlines within
    [as_of, as_of + horizon_days]; agreements to review (LOI/friendship at least
    `loi_review_years` old and not followed by an MOU or sister-city agreement; agreements
    expiring within the horizon, or expired within the last `horizon_days` and not renewed);
    partners in countries with no consulate, handled through the
    MFA; the roster of each group. A meeting of every group also covers partners in no group.
    """
    groups = registry.groups_or_all(meeting.working_groups)
    partners = _partners_of(registry, meeting, groups)
    until = as_of + dt.timedelta(days=settings.meeting_horizon_days)
    since = as_of - dt.timedelta(days=settings.meeting_horizon_days)
    after = settings.dormant_after_days
    mfa = registry.contacts.get(registry.mfa_contact or "")
    return {
        "as_of": as_of,
        "until": until,
        "since": since,
        "horizon_days": settings.meeting_horizon_days,
        "dormant_after_days": after,
        "loi_review_years": settings.loi_review_years,
        "dormant": dormant_partners(registry, partners, as_of, after),
        "anniversaries": anniversaries(registry, partners, as_of, until),
        "deadlines": deadlines(registry, {g.id for g in groups}, as_of, until, calendar),
        "review": agreements_to_review(registry, partners, as_of, settings.loi_review_years),
        "expiring": expiring_agreements(registry, partners, as_of, until, since),
        "via_mfa": [partner_view(registry, p) for p in partners
                    if p.country not in registry.consulates],
        "mfa": {"name": mfa.name, "email": mfa.email} if mfa else None,
        "roster": roster(registry, groups, partners, as_of, after),
        "more": {},  # nothing left out (see limit_agenda)
    }


def dormant_partners(
    registry: Registry, partners: Iterable[Partner], as_of: dt.date, after_days: int
) -> list[dict[str, Any]]:
    """Dormant partners (the dormant-partners rule), the longest silent first."""
    rows: list[dict[str, Any]] = []
    for partner in partners:
        start = spell_start(partner, as_of, after_days)
        since = quiet_since(partner, as_of)
        if start is None or since is None:
            continue
        years = years_between(since, as_of)
        months = _months_between(since, as_of) - 12 * years
        rows.append({
            **_activity(partner, as_of),
            "partner": partner_view(registry, partner),
            "quiet_since": since,
            "quiet_days": (as_of - since).days,
            "quiet_years": years,
            "quiet_months": months,
            "spell_start": start,
            "first_signed_on": partner.first_signed_on(),
        })
    rows.sort(key=lambda r: (r["quiet_since"], r["partner"]["name"]))
    return rows


def anniversaries(
    registry: Registry, partners: Iterable[Partner], start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """Agreement anniversaries (from the first) whose date lies in [start, end]."""
    rows: list[dict[str, Any]] = []
    for partner in partners:
        view = partner_view(registry, partner)
        for agreement in partner.agreements:
            for day, years in anniversaries_between(agreement, start, end):
                rows.append(anniversary_view(view, agreement, day, years))
    rows.sort(key=lambda r: (r["date"], r["partner"]["name"]))
    return rows


def deadlines(
    registry: Registry,
    group_ids: set[str],
    start: dt.date,
    end: dt.date,
    calendar: WorkingCalendar,
) -> list[dict[str, Any]]:
    """Occurrences in [start, end] of the deadlines listing one of the groups, or none."""
    rows: list[dict[str, Any]] = []
    for deadline in registry.budget_deadlines.values():
        if deadline.working_groups and not group_ids.intersection(deadline.working_groups):
            continue
        listed = [registry.working_groups[g] for g in deadline.working_groups
                  if g in registry.working_groups]
        for when in occurrences(deadline.recurrence, start, end):
            rows.append(occurrence_view(deadline, when.date(), listed, calendar))
    rows.sort(key=lambda r: (r["date"], r["title"]))
    return rows


def agreements_to_review(
    registry: Registry, partners: Iterable[Partner], as_of: dt.date, review_years: int
) -> list[dict[str, Any]]:
    """LOIs and friendship agreements at least `review_years` old that no MOU or sister-city
    agreement with the same partner followed (signed the same day or later, up to `as_of`)."""
    rows: list[dict[str, Any]] = []
    for partner in partners:
        for agreement in partner.agreements:
            if agreement.kind not in _PRELIMINARY_KINDS or agreement.signed_on > as_of:
                continue
            age = years_between(agreement.signed_on, as_of)
            if age < review_years:
                continue
            if any(
                other.kind in _FORMAL_KINDS and agreement.signed_on <= other.signed_on <= as_of
                for other in partner.agreements
            ):
                continue
            rows.append({
                **_activity(partner, as_of),
                "partner": partner_view(registry, partner),
                "agreement_kind": agreement.kind.value,
                "signed_on": agreement.signed_on,
                "years": age,
                "local_party": agreement.local_party,
                "areas": list(agreement.areas),
            })
    rows.sort(key=lambda r: (r["signed_on"], r["partner"]["name"]))
    return rows


def _renewed(partner: Partner, agreement: Agreement, as_of: dt.date) -> bool:
    """True when a later agreement with the partner was signed by `as_of`."""
    return any(agreement.signed_on < a.signed_on <= as_of for a in partner.agreements)


def expiring_agreements(
    registry: Registry, partners: Iterable[Partner], as_of: dt.date, end: dt.date, since: dt.date
) -> list[dict[str, Any]]:
    """Agreements to review for their expiry, the soonest first: those expiring in
    [as_of, end], and those that expired in [since, as_of) with no later agreement signed with
    that partner by `as_of` (SPEC jobs table, meeting-agendas). `expired` marks the latter."""
    rows: list[dict[str, Any]] = [
        {
            "partner": partner_view(registry, partner),
            "agreement_kind": agreement.kind.value,
            "signed_on": agreement.signed_on,
            "expires_on": agreement.expires_on,
            "days_left": (agreement.expires_on - as_of).days,
            "expired": agreement.expires_on < as_of,
            "local_party": agreement.local_party,
        }
        for partner in partners
        for agreement in partner.agreements
        if agreement.expires_on is not None
        and since <= agreement.expires_on <= end
        and (agreement.expires_on >= as_of or not _renewed(partner, agreement, as_of))
    ]
    rows.sort(key=lambda r: (r["expires_on"], r["partner"]["name"]))
    return rows


def roster(
    registry: Registry,
    groups: Sequence[WorkingGroup],
    partners: Sequence[Partner],
    as_of: dt.date,
    after_days: int,
) -> list[dict[str, Any]]:
    """Each group with its lead and partners; a last entry (id None) for partners in no group."""
    ids = {g.id for g in groups}
    entries: list[tuple[str | None, WorkingGroup | None]] = [(g.id, g) for g in groups]
    if any(p.working_group not in ids for p in partners):
        entries.append((None, None))
    rows: list[dict[str, Any]] = []
    for group_id, group in entries:
        lead = registry.group_lead(group_id)
        members = [p for p in partners
                   if (p.working_group if p.working_group in ids else None) == group_id]
        rows.append({
            "id": group_id,
            "name": group.name if group else "",
            "name_th": (group.name_th or group.name) if group else "",
            "lead": {"name": lead.name, "email": lead.email} if lead else None,
            "partners": [_roster_partner(registry, p, as_of, after_days) for p in members],
            "more": 0,
        })
    return rows


def _roster_partner(
    registry: Registry, partner: Partner, as_of: dt.date, after_days: int
) -> dict[str, Any]:
    return {
        **_activity(partner, as_of),
        "partner": partner_view(registry, partner),
        "agreements": [
            {
                "kind": a.kind.value,
                "signed_on": a.signed_on,
                "years": years_between(a.signed_on, as_of) if a.signed_on <= as_of else None,
                "expires_on": a.expires_on,
                "local_party": a.local_party,
                "areas": list(a.areas),
            }
            for a in partner.agreements
        ],
        "dormant": spell_start(partner, as_of, after_days) is not None,
    }


# -- helpers ----------------------------------------------------------------------------------
def _countries(registry: Registry, meeting: Meeting, groups: Sequence[WorkingGroup]) -> list[str]:
    """The groups' countries, and those of their partners (a partner may be placed in a group
    that does not list its country)."""
    found = [c for g in groups for c in g.countries]
    found += [p.country for p in _partners_of(registry, meeting, groups)]
    return list(dict.fromkeys(found))


def _partners_of(
    registry: Registry, meeting: Meeting, groups: Sequence[WorkingGroup]
) -> list[Partner]:
    """The partners of the meeting's groups, in group order; a meeting of every group also
    covers partners in no (known) group, who would otherwise be on nobody's agenda."""
    ids = [g.id for g in groups]
    by_group = {g: [p for p in registry.partners.values() if p.working_group == g] for g in ids}
    found = [p for g in ids for p in by_group[g]]
    if not meeting.working_groups:
        found += [p for p in registry.partners.values() if p.working_group not in by_group]
    return found


def _activity(partner: Partner, as_of: dt.date) -> dict[str, Any]:
    last = partner.last_activity_on(as_of)
    title = next((a.title for a in reversed(partner.activities) if a.date == last), "")
    return {"last_activity": last, "last_activity_title": title}


def _months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from `start` to `end` (a month is complete on the same day of the month)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


# Not a digest: one email per meeting occurrence, so that each carries exactly one invitation.
# History: all of it, since an occurrence is keyed by its rule date, which a move may leave
# behind; memory: what each occurrence's invitees were last sent (its SEQUENCE).
SPEC = JobSpec(name=NAME, plan=plan, schedule="0 7 * * *", digest=False, extras=message_extras,
               history=HistoryWindow.ALL, memory=lifecycle.MEMORY)
