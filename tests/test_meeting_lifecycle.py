"""Meetings that calendars keep right (issue 15; issue 18 fault 5), through the real CLI and a
real SMTP server (aiosmtpd on loopback). Every calendar part is read by two independent
parsers: icalendar (which builds them) and vobject.

SPEC "Meetings in calendars (RFC 5545/5546)": one UID per occurrence for life, SEQUENCE raised
by each significant change and sent at the next run to everyone already invited, whatever the
stages; cancellations as METHOD:CANCEL, then nothing more; invitations name the organizer and
their one reader.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
import vobject
from conftest import Project, body_text
from icalendar import Calendar
from smtpserver import ReceivedMessage, SmtpTestServer
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from test_postgres import pg_database

__all__ = ["pg_database"]  # the fixture, shared with test_postgres.py

CONTACTS = """
[[contact]]
id = "cn-lead"
name = "Somchai China Lead"
email = "cn-lead@example.org"
language = "th"
role = "lead"

[[contact]]
id = "kr-lead"
name = "Jane Korea Lead"
email = "kr-lead@example.org"
language = "en"
role = "lead"

[[contact]]
id = "staff"
name = "Malee Staff"
email = "staff@example.org"
language = "en"
role = "staff"

[[contact]]
id = "cn-consulate"
name = "Consulate-General of China"
email = "cn-consulate@example.org"
language = "en"
role = "consulate"

[[working_group]]
id = "china"
name = "China"
name_th = "จีน"
lead = "cn-lead"
countries = ["CN"]

[[working_group]]
id = "korea"
name = "Korea"
name_th = "เกาหลี"
lead = "kr-lead"
countries = ["KR"]

[[consulate]]
country = "CN"
contact = "cn-consulate"

[[partner]]
id = "chengdu"
name = "Chengdu"
name_th = "เฉิงตู"
country = "CN"

  [[partner.agreement]]
  kind = "sister-city"
  signed_on = 2015-03-30

[[partner]]
id = "seongnam"
name = "Seongnam"
name_th = "ซ็องนัม"
country = "KR"

  [[partner.agreement]]
  kind = "loi"
  signed_on = 2014-03-23
"""

EVERYONE = ["cn-consulate@example.org", "cn-lead@example.org", "kr-lead@example.org",
            "staff@example.org"]


def one_off(starts_at: str = "2017-11-15T09:30:00", location: str = "Provincial Hall",
            extra: str = "") -> str:
    return f"""
[[meeting]]
id = "summary"
title = "Working groups: summary meeting"
title_th = "ประชุมสรุปคณะทำงาน"
starts_at = {starts_at}
duration_minutes = 120
location = "{location}"
{extra}
"""


def yearly(changes: str = "") -> str:
    return f"""
[[meeting]]
id = "yearly"
title = "Yearly review"
title_th = "ประชุมทบทวนประจำปี"
dtstart = 2017-11-15T09:30:00
rrule = "FREQ=YEARLY"
duration_minutes = 60
location = "Provincial Hall"
{changes}
"""


@dataclass
class Seen:
    """One calendar part as both parsers read it, and the email around it."""

    rcpt: str
    subject: str
    text: str
    method: str
    uid: str
    sequence: int
    start: dt.datetime
    status: str
    location: str
    attendees: list[str]
    organizer: str


def _seen(received: ReceivedMessage) -> Seen:
    msg: EmailMessage = received.message
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "exactly one calendar per message"
    assert not [p for p in msg.walk() if p.get_content_type() == "application/ics"]
    assert received.data.count(b"BEGIN:VCALENDAR") <= 1
    part = parts[0]
    raw = part.get_content()
    # icalendar
    cal = Calendar.from_ical(raw)
    (event,) = cal.walk("VEVENT")
    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    # vobject, an independent parser: it must agree on every field we check
    vcal: Any = vobject.readOne(raw)
    vevent = vcal.vevent
    assert vcal.method.value == str(cal["METHOD"]) == part.get_param("method")
    assert vevent.uid.value == str(event["UID"])
    assert int(vevent.sequence.value) == int(event["SEQUENCE"])
    assert vevent.dtstart.value == event.decoded("DTSTART")
    assert vevent.dtstart.value.utcoffset() == dt.timedelta(0)  # times in UTC (…Z)
    assert sorted(a.value for a in vevent.attendee_list) == sorted(str(a) for a in attendees)
    assert vevent.organizer.value == str(event["ORGANIZER"])
    assert vevent.dtstamp.value is not None
    for attendee in vevent.attendee_list:
        assert attendee.params["RSVP"] == ["TRUE"]
    return Seen(
        rcpt=received.rcpt_tos[0], subject=str(msg["Subject"]), text=body_text(msg),
        method=str(cal["METHOD"]), uid=str(event["UID"]), sequence=int(event["SEQUENCE"]),
        start=event.decoded("DTSTART"), status=str(event["STATUS"]),
        location=str(event.get("LOCATION", "")), attendees=[str(a) for a in attendees],
        organizer=str(event["ORGANIZER"]),
    )


class Office:
    """The project with a dataset file that a test rewrites and loads, and the SMTP server."""

    def __init__(self, project: Project, server: SmtpTestServer, meetings: str,
                 url: str | None = None) -> None:
        self.project, self.server = project, server
        self.data = project.root / "data.toml"
        self.data.write_text(CONTACTS + meetings, encoding="utf-8")
        self.url = url or f"sqlite:///{project.db_path}"
        project.write_config(data={"files": [str(self.data)]}, email={"transport": "smtp"},
                             smtp={"host": server.host, "port": server.port},
                             database={"url": self.url})
        self.seen = 0

    def change(self, meetings: str) -> None:
        self.data.write_text(CONTACTS + meetings, encoding="utf-8")
        loaded = self.project.cli("load", str(self.data))
        assert loaded.exit_code == 0, loaded.output

    def run(self, as_of: str) -> list[Seen]:
        """Run meeting-agendas as of `as_of`; the messages it sent, by recipient."""
        result = self.project.cli("run", "meeting-agendas", "--as-of", as_of)
        assert result.exit_code == 0, result.output
        new = self.server.messages[self.seen:]
        self.seen = len(self.server.messages)
        return sorted((_seen(m) for m in new), key=lambda s: s.rcpt)

    def sequences(self) -> list[tuple[str, str, int, int]]:
        engine = create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return [(r[0], str(r[1]), int(r[2]), int(r[3])) for r in conn.execute(text(
                    "SELECT meeting_id, occurrence, sequence, cancelled "
                    "FROM meeting_occurrences ORDER BY meeting_id, occurrence"))]
        finally:
            engine.dispose()

    def run_concurrently(self, as_of: str, processes: int = 2) -> None:
        """`run meeting-agendas` in several processes at once (as beside a daemon)."""
        command = [sys.executable, "-m", "scheduler", "--config", str(self.project.config),
                   "run", "meeting-agendas", "--as-of", as_of]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        runs = [subprocess.Popen(command, cwd=self.project.root, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(processes)]
        for process in runs:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()


@pytest.fixture
def office(project: Project, smtp_server: SmtpTestServer) -> Office:
    return Office(project, smtp_server, one_off())


UID = "summary-20171115@example.org"


def test_first_invitation_names_the_organizer_and_its_reader_only(office: Office) -> None:
    """Issue 18, fault 5: no invitee sees another's address; one calendar per message."""
    sent = office.run("2017-11-01")
    assert [s.rcpt for s in sent] == EVERYONE
    for s in sent:
        assert s.method == "REQUEST" and s.uid == UID and s.sequence == 0
        assert s.attendees == [f"mailto:{s.rcpt}"]
        assert s.organizer == "mailto:intl@example.org"
    consulate = next(m for m in office.server.messages
                     if m.rcpt_tos == ("cn-consulate@example.org",))
    decoded = "\n".join(str(p.get_content()) for p in consulate.message.walk()
                        if p.get_content_maintype() == "text")
    assert "staff@example.org" not in decoded  # nowhere: not in the calendar, not in the text
    (calendar,) = [str(p.get_content()) for p in consulate.message.walk()
                   if p.get_content_type() == "text/calendar"]
    for address in ("staff@example.org", "kr-lead@example.org", "cn-lead@example.org"):
        assert address not in calendar
    assert len(consulate.data) < 40_000  # one copy of the calendar, not two
    assert office.sequences() == [("summary", "2017-11-15", 0, 0)]


def test_a_moved_time_is_sent_at_the_next_run_with_a_higher_sequence(office: Office) -> None:
    """Fault 1 and 4: the update goes out the next day (no stage due), says old → new; reruns
    send nothing more; the 1-day stage repeats the invitation with the same UID and SEQUENCE."""
    office.run("2017-11-01")
    office.change(one_off(starts_at="2017-11-15T13:30:00"))
    updates = office.run("2017-11-02")
    assert [s.rcpt for s in updates] == EVERYONE
    for s in updates:
        assert (s.method, s.uid, s.sequence) == ("REQUEST", UID, 1)
        assert s.start == dt.datetime(2017, 11, 15, 6, 30, tzinfo=dt.UTC)
        assert s.attendees == [f"mailto:{s.rcpt}"]
    english = next(s for s in updates if s.rcpt == "kr-lead@example.org")
    assert english.subject.startswith("Updated: Agenda: Working groups: summary meeting")
    assert "The meeting below has changed (update 1)" in english.text
    assert ("When: Wednesday 15 Nov 2017 09:30–11:30 → Wednesday 15 Nov 2017 13:30–15:30"
            in " ".join(english.text.split()))
    thai = next(s for s in updates if s.rcpt == "cn-lead@example.org")
    assert thai.subject.startswith("เปลี่ยนแปลง: วาระการประชุม:")
    assert "09:30–11:30 น. → วันพุธ 15 พ.ย. 2560 13:30–15:30 น." in " ".join(thai.text.split())
    assert office.sequences() == [("summary", "2017-11-15", 1, 0)]

    assert office.run("2017-11-02") == []  # once: a rerun sends nothing
    assert office.run("2017-11-03") == []  # no change, no stage due

    reminders = office.run("2017-11-14")
    assert [s.rcpt for s in reminders] == EVERYONE
    for s in reminders:
        assert (s.method, s.uid, s.sequence) == ("REQUEST", UID, 1)  # same event, same version
        assert not s.subject.startswith(("Updated", "เปลี่ยนแปลง"))
    assert office.run("2017-11-14") == []


def test_a_move_to_another_day_keeps_the_uid(office: Office) -> None:
    """Fault 2: moved from 15 to 16 Nov after the first invitation, the same event moves."""
    office.run("2017-11-01")
    office.change(one_off(starts_at="2017-11-16T09:30:00"))
    updates = office.run("2017-11-02")
    assert {(s.uid, s.sequence, s.start) for s in updates} == {
        (UID, 1, dt.datetime(2017, 11, 16, 2, 30, tzinfo=dt.UTC))}
    english = next(s for s in updates if s.rcpt == "kr-lead@example.org")
    assert "Wednesday 15 Nov 2017 09:30–11:30 → Thursday 16 Nov 2017 09:30–11:30" in \
        " ".join(english.text.split())
    reminders = office.run("2017-11-15")  # the 1-day stage of the 16th
    assert [s.rcpt for s in reminders] == EVERYONE
    assert {(s.uid, s.sequence) for s in reminders} == {(UID, 1)}
    uids = {_seen(m).uid for m in office.server.messages}
    assert uids == {UID}  # never a second event


def test_a_change_after_the_last_stage_is_still_sent(office: Office) -> None:
    office.run("2017-11-01")
    office.run("2017-11-14")  # the last stage
    office.change(one_off(location="Operations room"))
    updates = office.run("2017-11-15")  # the meeting's own day
    assert [s.rcpt for s in updates] == EVERYONE
    assert {(s.uid, s.sequence, s.location) for s in updates} == {(UID, 1, "Operations room")}
    english = next(s for s in updates if s.rcpt == "kr-lead@example.org")
    assert "Where: Provincial Hall → Operations room" in english.text
    assert office.run("2017-11-15") == []


def _assert_cancelled(sent: list[Seen], uid: str, sequence: int) -> None:
    assert [s.rcpt for s in sent] == EVERYONE
    for s in sent:
        assert (s.method, s.status, s.uid, s.sequence) == ("CANCEL", "CANCELLED", uid, sequence)
        assert s.attendees == [f"mailto:{s.rcpt}"]
        assert "AGENDA" not in s.text and "วาระการประชุม" not in s.text.split("\n", 3)[-1]
    english = next(s for s in sent if s.rcpt == "kr-lead@example.org")
    assert english.subject.startswith("Cancelled: Agenda: Working groups:") or \
        english.subject.startswith("Cancelled: Agenda: Yearly review")
    assert "is cancelled" in english.text
    thai = next(s for s in sent if s.rcpt == "cn-lead@example.org")
    assert thai.subject.startswith("ยกเลิก: ")
    assert "ขอแจ้งยกเลิกการประชุม" in thai.text


def test_cancelled_in_the_dataset_then_nothing_more(office: Office) -> None:
    office.run("2017-11-01")
    office.change(one_off(extra="cancelled = true"))
    _assert_cancelled(office.run("2017-11-02"), UID, 1)
    assert office.sequences() == [("summary", "2017-11-15", 1, 1)]
    for day in ("2017-11-02", "2017-11-03", "2017-11-14", "2017-11-15"):
        assert office.run(day) == []  # no stage, no second cancellation


def test_meeting_cancel_command(office: Office) -> None:
    office.run("2017-11-01")
    cancelled = office.project.cli("meeting", "cancel", "summary")
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled meeting summary" in cancelled.output
    _assert_cancelled(office.run("2017-11-02"), UID, 1)
    assert office.run("2017-11-14") == []
    engine = create_engine(office.url, poolclass=NullPool)
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(text("SELECT who, action, target FROM audit"))] \
            == [("cli", "cancel-meeting", "summary")]
    engine.dispose()

    unknown = office.project.cli("meeting", "cancel", "nope")
    assert unknown.exit_code == 2
    assert 'unknown meeting "nope" (meetings: summary)' in unknown.stderr
    wrong_day = office.project.cli("meeting", "cancel", "summary", "--occurrence", "2017-11-16")
    assert wrong_day.exit_code == 2
    assert 'meeting "summary" has no occurrence on 2017-11-16' in wrong_day.stderr


def test_a_cancelled_meeting_never_invited_sends_nothing(office: Office) -> None:
    office.change(one_off(extra="cancelled = true"))
    assert office.run("2017-11-01") == []
    assert office.run("2017-11-14") == []


YEARLY_UID = "yearly-20181115@example.org"


def test_one_occurrence_of_a_recurring_meeting_moved_then_cancelled(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    office = Office(project, smtp_server, yearly())
    first = office.run("2018-11-01")
    assert {(s.uid, s.sequence) for s in first} == {(YEARLY_UID, 0)}
    office.change(yearly("""
  [[meeting.change]]
  occurrence = 2018-11-15
  starts_at = 2018-11-16T13:30:00
  location = "Operations room"
"""))
    moved = office.run("2018-11-02")
    assert [s.rcpt for s in moved] == EVERYONE
    assert {(s.uid, s.sequence, s.start, s.location) for s in moved} == {
        (YEARLY_UID, 1, dt.datetime(2018, 11, 16, 6, 30, tzinfo=dt.UTC), "Operations room")}
    assert office.run("2018-11-02") == []

    cancelled = project.cli("meeting", "cancel", "yearly", "--occurrence", "2018-11-15")
    assert cancelled.exit_code == 0, cancelled.output
    _assert_cancelled(office.run("2018-11-03"), YEARLY_UID, 2)
    assert office.run("2018-11-15") == []
    # the next year's occurrence is its own event, untouched
    next_year = office.run("2019-11-01")
    assert {(s.method, s.uid, s.sequence) for s in next_year} == {
        ("REQUEST", "yearly-20191115@example.org", 0)}
    assert office.sequences() == [("yearly", "2018-11-15", 2, 1), ("yearly", "2019-11-15", 0, 0)]


def test_a_change_of_an_occurrence_the_rule_does_not_give_is_refused(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    office = Office(project, smtp_server, yearly())
    office.run("2018-11-01")
    office.data.write_text(CONTACTS + yearly("""
  [[meeting.change]]
  occurrence = 2018-11-15
  cancelled = true

  [[meeting.change]]
  occurrence = 2018-11-16
  starts_at = 2018-11-17T09:30:00
"""), encoding="utf-8")
    refused = project.cli("load", str(office.data))
    assert refused.exit_code == 2
    assert ("data.toml: meeting[0].change[1].occurrence: the meeting has no occurrence on "
            "2018-11-16") in refused.stderr
    assert "Traceback" not in refused.output
    assert office.run("2018-11-02") == []  # nothing was loaded: nothing cancelled


def test_dry_run_changes_nothing(office: Office) -> None:
    office.run("2017-11-01")
    office.change(one_off(starts_at="2017-11-15T13:30:00"))
    dry = office.project.cli("run", "meeting-agendas", "--as-of", "2017-11-02", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Updated: Agenda" in dry.output
    assert office.sequences() == [("summary", "2017-11-15", 0, 0)]
    outbox = json.loads(office.project.cli("outbox", "--json").stdout)
    assert len(outbox) == 4


def test_an_update_due_with_a_stage_is_one_email(office: Office) -> None:
    """Changed the day before the 1-day stage: that run sends each reader one email, the
    update, which also stands for the stage (nothing follows on the meeting's day)."""
    office.run("2017-11-01")
    office.change(one_off(starts_at="2017-11-15T13:30:00"))
    both = office.run("2017-11-14")
    assert [s.rcpt for s in both] == EVERYONE
    assert {(s.uid, s.sequence) for s in both} == {(UID, 1)}
    assert all(s.subject.startswith(("Updated:", "เปลี่ยนแปลง:")) for s in both)
    assert office.run("2017-11-14") == []
    assert office.run("2017-11-15") == []


def test_concurrent_runs_send_an_update_once(office: Office) -> None:
    """Two `run` processes at once (as beside a daemon): the notice key holds the SEQUENCE,
    so each reader gets the update once."""
    office.run("2017-11-01")
    office.change(one_off(location="Operations room"))
    office.run_concurrently("2017-11-02")
    updates = office.run("2017-11-02")  # also collects what the two processes sent
    assert sorted(s.rcpt for s in updates) == EVERYONE
    assert {(s.sequence, s.location) for s in updates} == {(1, "Operations room")}


def test_agenda_command_shows_the_occurrence_as_changed(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    Office(project, smtp_server, yearly("""
  [[meeting.change]]
  occurrence = 2018-11-15
  cancelled = true

  [[meeting.change]]
  occurrence = 2019-11-15
  starts_at = 2019-11-18T13:30:00
"""))
    shown = project.cli("agenda", "yearly", "--as-of", "2018-11-01")
    assert shown.exit_code == 0, shown.output
    assert "18 Nov 2019 13:30" in shown.output  # 2018 cancelled; 2019 moved
    assert "15 Nov 2018" not in shown.output


def test_on_postgresql_concurrent_runs_send_each_change_once(
    project: Project, smtp_server: SmtpTestServer, pg_database: str
) -> None:
    """The same rules on PostgreSQL (SISTERCITY_TEST_PG_URL): an update and then a
    cancellation, each planned by two processes at once, reach each reader once."""
    office = Office(project, smtp_server, one_off(), url=pg_database)
    assert [s.rcpt for s in office.run("2017-11-01")] == EVERYONE
    office.change(one_off(starts_at="2017-11-15T13:30:00"))
    office.run_concurrently("2017-11-02")
    updates = office.run("2017-11-02")
    assert [s.rcpt for s in updates] == EVERYONE
    assert {(s.method, s.uid, s.sequence) for s in updates} == {("REQUEST", UID, 1)}
    assert project.cli("meeting", "cancel", "summary").exit_code == 0
    office.run_concurrently("2017-11-03")
    _assert_cancelled(office.run("2017-11-03"), UID, 2)
    assert office.run("2017-11-14") == []
    assert office.sequences() == [("summary", "2017-11-15", 2, 1)]


def test_an_invited_occurrence_the_rule_no_longer_gives_is_cancelled(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    office = Office(project, smtp_server, yearly())
    office.run("2018-11-01")
    office.change(yearly().replace('rrule = "FREQ=YEARLY"',
                                   'rrule = "FREQ=YEARLY;UNTIL=20171231T000000"'))
    _assert_cancelled(office.run("2018-11-02"), YEARLY_UID, 1)
    assert office.run("2018-11-14") == []
