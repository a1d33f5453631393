"""The calendar feed (SPEC "Calendar feed"): one iCalendar object (``METHOD:PUBLISH``, RFC 5545
and RFC 5546 §3.2.1) with every anniversary, budget deadline and meeting occurrence in a
period, for every working group or one.

- Anniversaries: all-day on their date (none after the agreement's expiry, as the job).
- Budget deadlines: all-day on their act-by date (the last working day on or before the due
  date); the description gives the due date.
- Meeting occurrences: timed (UTC), with the UID and SEQUENCE of their invitations
  (jobs.meeting_lifecycle), changes applied. Cancelled occurrences are LEFT OUT: a subscribed
  calendar drops an event that leaves its feed, and an imported file has no event to remove.

`build_feed` is pure (the registry, what was sent and the clock are given), so the CLI writes
its bytes to a file and the web app can serve the same bytes at a secret URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from jobs.anniversaries import anniversaries_between
from jobs.common import fill_title
from jobs.meeting_lifecycle import meeting_occurrences, sequence_now
from scheduler.dates.thaidate import WorkingCalendar, format_date
from scheduler.mail.invitation import PRODID, calendar_address, event_uid, text_value
from scheduler.planning import occurrences
from scheduler.registry.domain import Registry, SentOccurrence


@dataclass(frozen=True)
class FeedScope:
    """What a feed covers: local dates [start, end], one working group's id or None for all,
    the office's name and address (ORGANIZER of the meetings; the UIDs' domain), the IANA
    time zone of the meetings' wall times, and the time of writing (aware; DTSTAMP)."""

    start: dt.date
    end: dt.date
    group: str | None
    organizer_name: str
    organizer_email: str
    timezone: str
    stamp: dt.datetime

    @property
    def domain(self) -> str:
        return self.organizer_email.rpartition("@")[2] or "sistercity.invalid"


@dataclass(frozen=True)
class Feed:
    """The feed's bytes (CRLF, folded) and how many events of each kind it holds."""

    data: bytes
    anniversaries: int
    deadlines: int
    meetings: int


def build_feed(
    registry: Registry,
    sent: Mapping[tuple[str, dt.date], SentOccurrence],
    calendar: WorkingCalendar,
    scope: FeedScope,
) -> Feed:
    """The feed of `scope` (see the module notes). `registry` is the whole registry (ended
    relations are left out here as of `scope.start`); `sent` what each meeting occurrence's
    invitees were last sent; `calendar` gives act-by dates. KeyError for an unknown group
    (callers check it)."""
    registry = registry.active_on(scope.start)
    group = registry.working_groups[scope.group] if scope.group else None
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    name = f"Sister-city relations: {group.name}" if group else "Sister-city relations"
    cal.add("x-wr-calname", text_value(name))
    counts = [
        _anniversaries(cal, registry, scope),
        _deadlines(cal, registry, calendar, scope),
        _meetings(cal, registry, sent, scope),
    ]
    data: bytes = cal.to_ical()
    return Feed(data, *counts)


def _all_day(uid: str, day: dt.date, summary: str, description: str,
             stamp: dt.datetime) -> Event:
    event = Event()
    event.add("uid", text_value(uid))
    event.add("dtstamp", stamp.astimezone(dt.UTC))
    event.add("dtstart", day)
    event.add("dtend", day + dt.timedelta(days=1))
    event.add("summary", text_value(summary))
    event.add("description", text_value(description))
    event.add("transp", "TRANSPARENT")  # a reminder, not a busy slot
    return event


def _anniversaries(cal: Calendar, registry: Registry, scope: FeedScope) -> int:
    count = 0
    for partner in registry.partners.values():
        if scope.group and partner.working_group != scope.group:
            continue
        thai = f" ({partner.name_th})" if partner.name_th else ""
        for agreement in partner.agreements:
            for day, years in anniversaries_between(agreement, scope.start, scope.end):
                kind = agreement.kind.name_in("en")
                plural = "s" if years != 1 else ""
                summary = f"{years} year{plural}: {kind} with {partner.name}{thai}"
                description = (f"{kind[:1].upper()}{kind[1:]} signed "
                               f"{format_date(agreement.signed_on, 'en')} by "
                               f"{agreement.local_party} and {partner.name}{thai}, "
                               f"{partner.country}.")
                uid = (f"anniversary-{partner.id}-{agreement.id or agreement.kind.value}-"
                       f"{day:%Y%m%d}@{scope.domain}")
                cal.add_component(_all_day(uid, day, summary, description, scope.stamp))
                count += 1
    return count


def _deadlines(cal: Calendar, registry: Registry, calendar: WorkingCalendar,
               scope: FeedScope) -> int:
    count = 0
    # A due date up to a fortnight after the period may have its act-by date within it.
    until = scope.end + dt.timedelta(days=14)
    for deadline in registry.budget_deadlines.values():
        if scope.group and deadline.working_groups and scope.group not in deadline.working_groups:
            continue
        for when in occurrences(deadline.recurrence, scope.start, until):
            due = when.date()
            act_by = calendar.act_by(due)
            if not scope.start <= act_by <= scope.end:
                continue
            title = fill_title(deadline.title, due)
            description = f"Due {format_date(due, 'en')}"
            if act_by != due:
                description += (f" (not a working day): act by {format_date(act_by, 'en')}")
            description += "." + (f"\n{deadline.notes}" if deadline.notes else "")
            uid = f"deadline-{deadline.id}-{due:%Y%m%d}@{scope.domain}"
            cal.add_component(_all_day(uid, act_by, title, description, scope.stamp))
            count += 1
    return count


def _meetings(cal: Calendar, registry: Registry,
              sent: Mapping[tuple[str, dt.date], SentOccurrence], scope: FeedScope) -> int:
    count = 0
    zone = ZoneInfo(scope.timezone)
    for meeting in registry.meetings.values():
        if scope.group and meeting.working_groups and scope.group not in meeting.working_groups:
            continue
        for occ in meeting_occurrences(meeting, sent, scope.start, scope.end):
            if occ.cancelled or not scope.start <= occ.starts_at.date() <= scope.end:
                continue
            event = Event()
            event.add("uid", text_value(event_uid(meeting.id, occ.key, scope.domain)))
            event.add("sequence", sequence_now(occ, sent))
            event.add("dtstamp", scope.stamp.astimezone(dt.UTC))
            event.add("dtstart", occ.starts_at.replace(tzinfo=zone).astimezone(dt.UTC))
            event.add("dtend", occ.ends_at.replace(tzinfo=zone).astimezone(dt.UTC))
            event.add("summary", text_value(fill_title(meeting.title, occ.starts_at.date())))
            event.add("location", text_value(occ.meeting.location))
            event.add("organizer", calendar_address(scope.organizer_email,
                                                    scope.organizer_name))
            event.add("status", "CONFIRMED")
            cal.add_component(event)
            count += 1
    return count
