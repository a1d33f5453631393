"""Editing contacts, working groups, budget deadlines and meetings in the office web app (SPEC
"The office web app": forms to edit contacts, groups, deadlines and meetings), through
Starlette's TestClient over the test project: what the lists show after an edit, what the CLI
and the database hold, the refusals naming their field with nothing changed, the roles, CSRF,
the audit log, and a moved meeting sent as an update to a real SMTP server at the next run."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import sqlite3
from typing import Any

import pytest
from conftest import Project
from icalendar import Calendar
from smtpserver import ReceivedMessage, SmtpTestServer
from starlette.testclient import TestClient
from test_postgres import pg_database
from webfixtures import WebEnv, make_web, sign_in

from scheduler.config import load_settings
from scheduler.errors import UserError
from scheduler.registry.bootstrap import open_database
from scheduler.services.audit import Actor, AuditAction, entries
from scheduler.services.registry_edit import (
    ContactFields,
    DeadlineFields,
    FormProblems,
    GroupFields,
    MeetingFields,
    edit_meeting,
    remove_contact,
    save_contact,
    save_deadline,
    save_group,
)

__all__ = ["pg_database"]  # the fixture, shared with test_postgres.py


@pytest.fixture
def web(project: Project) -> WebEnv:
    return make_web(project)


def staff(web: WebEnv) -> tuple[TestClient, str]:
    client = web.client()
    return client, sign_in(client, "staff@example.org")


def said(response: Any) -> str:
    """A page's text as a reader sees it (entities decoded)."""
    return html.unescape(str(response.text))


def contacts(web: WebEnv) -> list[tuple[object, ...]]:
    return web.rows("SELECT id, name, email, language, role FROM contacts ORDER BY id")


def snapshot(web: WebEnv) -> list[list[tuple[object, ...]]]:
    """Every registry table these forms change, and the audit log."""
    return [web.rows(f"SELECT * FROM {t} ORDER BY 1") for t in
            ("contacts", "working_groups", "budget_deadlines", "meetings", "audit")]


def test_staff_edit_a_contact_seen_in_the_list_the_cli_and_the_audit_log(web: WebEnv) -> None:
    client, token = staff(web)
    form = client.get("/contacts/jp-consulate/edit")
    assert form.status_code == 200
    for label in ('<label for="f-name">Name', '<label for="f-email">Email',
                  '<label for="f-language">Language', '<label for="f-role">Role'):
        assert label in form.text
    assert 'value="jp-consulate@example.org"' in form.text
    done = client.post("/contacts/jp-consulate/edit", data={
        "csrf": token, "name": "Consulate-General of Japan (Chiang Mai)",
        "email": "consul.jp@example.org", "language": "th", "role": "consulate"})
    assert done.status_code == 303
    listed = client.get(done.headers["location"]).text
    assert "Saved." in listed
    item = re.search(r'<li id="item-jp-consulate">(.*?)</li>', listed, re.S)
    assert item and "consul.jp@example.org" in item.group(1)
    assert "Consulate-General of Japan (Chiang Mai)" in item.group(1) and "Thai" in item.group(1)
    shown = web.project.cli("show", "osaka", "--as-of", "2026-03-02")
    assert "consul.jp@example.org" in shown.output
    assert ("jp-consulate", "Consulate-General of Japan (Chiang Mai)", "consul.jp@example.org",
            "th", "consulate") in contacts(web)
    [(who, details)] = web.rows("SELECT who, details FROM audit WHERE action = 'edit-contact'")
    assert who == "staff@example.org"
    assert json.loads(str(details)) == {
        "before": {"name": "Consulate-General of Japan", "email": "jp-consulate@example.org",
                   "language": "en"},
        "after": {"name": "Consulate-General of Japan (Chiang Mai)",
                  "email": "consul.jp@example.org", "language": "th"}}
    audit = client.get("/audit").text
    assert "edited a contact" in audit and "staff@example.org" in audit
    assert "consul.jp@example.org" in audit
    # the change in the reader's words, not a stored dict
    assert "{" not in audit and "Before: Name: Consulate-General of Japan; Email: " in audit
    assert "After: Name: Consulate-General of Japan (Chiang Mai)" in audit
    assert "Language: Thai" in audit
    again = client.post("/contacts/jp-consulate/edit", data={
        "csrf": token, "name": "Consulate-General of Japan (Chiang Mai)",
        "email": "consul.jp@example.org", "language": "th", "role": "consulate"})
    assert "Nothing changed." in client.get(again.headers["location"]).text
    assert web.rows("SELECT count(*) FROM audit WHERE action = 'edit-contact'") == [(1,)]


def test_a_bad_email_is_refused_naming_the_field_with_the_typed_values_kept(web: WebEnv) -> None:
    client, token = staff(web)
    before = snapshot(web)
    bad = client.post("/contacts/jp-consulate/edit", data={
        "csrf": token, "name": "Japan desk", "email": "jp-consulate at example.org",
        "language": "en", "role": "consulate"})
    assert bad.status_code == 400
    assert 'Email: "jp-consulate at example.org" is not an email address' in said(bad)
    assert 'value="Japan desk"' in said(bad)  # what was typed is shown again
    assert 'aria-invalid="true"' in said(bad)
    control = client.post("/contacts/add", data={
        "csrf": token, "id": "new-one", "name": "A\u202eB", "email": "a@example.org",
        "language": "en", "role": "staff"})
    assert control.status_code == 400
    assert "Name: contains a control character (U+202E)" in said(control)
    slug = client.post("/contacts/add", data={
        "csrf": token, "id": "New One", "name": "N", "email": "n@example.org",
        "language": "xx", "role": "boss"})
    assert slug.status_code == 400
    for words in ('Id: "New One" is not a lowercase slug', "Language: expected one of th, en",
                  "Role: expected one of lead, consulate, mfa, staff"):
        assert words in said(slug)
    taken = client.post("/contacts/add", data={
        "csrf": token, "id": "staff", "name": "N", "email": "n@example.org",
        "language": "en", "role": "staff"})
    assert taken.status_code == 400 and 'Id: a contact "staff" exists already' in said(taken)
    assert snapshot(web) == before


def test_add_a_contact_and_a_group_led_by_it_then_removal_is_refused_naming_the_group(
        web: WebEnv) -> None:
    client, token = staff(web)
    assert 'href="/contacts/add"' in client.get("/contacts").text
    added = client.post("/contacts/add", data={
        "csrf": token, "id": "eu-lead", "name": "Anna Europe Lead", "email": "eu@example.org",
        "language": "en", "role": "lead"})
    assert added.status_code == 303 and "Added." in client.get(added.headers["location"]).text
    unknown = client.post("/groups/add", data={
        "csrf": token, "id": "europe", "name": "Europe", "lead": "nobody",
        "countries": "FR, DE"})
    assert unknown.status_code == 400 and 'Lead: unknown contact "nobody"' in said(unknown)
    country = client.post("/groups/add", data={
        "csrf": token, "id": "europe", "name": "Europe", "lead": "eu-lead",
        "countries": "FR, XX"})
    assert country.status_code == 400
    assert 'Countries: "XX" is not an ISO 3166-1 alpha-2 country code' in said(country)
    assert web.rows("SELECT count(*) FROM working_groups WHERE id = 'europe'") == [(0,)]
    group = client.post("/groups/add", data={
        "csrf": token, "id": "europe", "name": "Europe", "name_th": "ยุโรป", "lead": "eu-lead",
        "countries": "fr de"})
    assert group.status_code == 303
    listed = client.get("/groups").text
    assert "Europe" in listed and "Anna Europe Lead" in listed and "France, Germany" in listed
    assert web.rows("SELECT lead, countries FROM working_groups WHERE id = 'europe'") == [
        ("eu-lead", '["FR", "DE"]')]
    refused = client.post("/contacts/eu-lead/remove", data={"csrf": token})
    assert refused.status_code == 409
    assert 'still named by working group "europe" (lead)' in said(refused)
    assert web.rows("SELECT count(*) FROM contacts WHERE id = 'eu-lead'") == [(1,)]
    # the lead is cleared, then the contact goes, audited with what it was
    cleared = client.post("/groups/europe/edit", data={
        "csrf": token, "name": "Europe", "name_th": "ยุโรป", "lead": "", "countries": "FR, DE"})
    assert cleared.status_code == 303
    assert web.rows("SELECT lead FROM working_groups WHERE id = 'europe'") == [(None,)]
    removed = client.post("/contacts/eu-lead/remove", data={"csrf": token})
    assert removed.status_code == 303 and "Removed." in client.get("/contacts?done=removed").text
    assert web.rows("SELECT count(*) FROM contacts WHERE id = 'eu-lead'") == [(0,)]
    assert [a for (a,) in web.rows("SELECT action FROM audit WHERE who = 'staff@example.org' "
                                   "ORDER BY id")] == [
        "add-contact", "add-group", "edit-group", "remove-contact"]
    consulate = client.post("/contacts/jp-consulate/remove", data={"csrf": token})
    assert consulate.status_code == 409 and "the consulate of JP" in said(consulate)
    mfa = client.post("/contacts/mfa/remove", data={"csrf": token})
    assert mfa.status_code == 409 and "the MFA contact" in said(mfa)


def test_add_and_edit_a_budget_deadline(web: WebEnv) -> None:
    client, token = staff(web)
    form = client.get("/deadlines/add").text
    for label in ('<label for="f-due_on">Due date', '<label for="f-rrule">Repeats (RRULE)',
                  '<legend>Working groups', '<label for="f-notes_th">Notes in Thai'):
        assert label in form
    before = snapshot(web)
    bad_date = client.post("/deadlines/add", data={
        "csrf": token, "id": "travel", "title": "Travel plan", "due_on": "2026-02-30"})
    assert bad_date.status_code == 400 and "Due date: 2026-02-30 is not a date" in said(bad_date)
    bad_rule = client.post("/deadlines/add", data={
        "csrf": token, "id": "travel", "title": "Travel plan", "due_on": "2026-06-01",
        "rrule": "FREQ=SECONDLY"})
    assert bad_rule.status_code == 400 and "Repeats (RRULE):" in said(bad_rule)
    assert 'value="FREQ=SECONDLY"' in said(bad_rule)
    bad_group = client.post("/deadlines/add", data={
        "csrf": token, "id": "travel", "title": "Travel plan", "due_on": "2026-06-01",
        "working_groups": "nowhere"})
    assert bad_group.status_code == 400
    assert 'Working groups: unknown working group "nowhere"' in said(bad_group)
    no_date = client.post("/deadlines/add", data={"csrf": token, "id": "travel",
                                                  "title": "Travel plan"})
    assert no_date.status_code == 400 and "Due date: missing" in said(no_date)
    assert snapshot(web) == before
    added = client.post("/deadlines/add", data={
        "csrf": token, "id": "travel", "title": "Travel plan FY{fiscal_year}",
        "title_th": "แผนเดินทาง", "due_on": "2026-06-01", "rrule": "FREQ=YEARLY",
        "working_groups": ["china", "japan-korea"], "notes": "Ask finance",
        "notes_th": "สอบถามการเงิน"})
    assert added.status_code == 303
    assert web.rows("SELECT title, dtstart, rrule, working_groups, notes_th FROM "
                    "budget_deadlines WHERE id = 'travel'") == [
        ("Travel plan FY{fiscal_year}", "2026-06-01 00:00:00.000000", "FREQ=YEARLY",
         '["china", "japan-korea"]', "สอบถามการเงิน")]
    listed = client.get("/deadlines").text
    assert "Travel plan FY{fiscal_year}" in listed and "1 Jun 2026" in listed
    edited = client.post("/deadlines/travel/edit", data={
        "csrf": token, "title": "Travel plan", "due_on": "15/07/2569", "rrule": "",
        "working_groups": "china"})
    assert edited.status_code == 303
    assert web.rows("SELECT dtstart, rrule, working_groups FROM budget_deadlines "
                    "WHERE id = 'travel'") == [("2026-07-15 00:00:00.000000", "", '["china"]')]
    calendar = web.project.cli("calendar", str(web.project.root / "c.ics"), "--as-of",
                               "2026-03-02")
    assert calendar.exit_code == 0, calendar.output
    ics = (web.project.root / "c.ics").read_text(encoding="utf-8")
    assert "Travel plan" in ics


def test_a_viewer_sees_the_lists_without_forms_and_gets_403(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "viewer@example.org")
    for path in ("/contacts", "/groups", "/deadlines", "/meetings"):
        page = client.get(path)
        assert page.status_code == 200 and "/edit" not in page.text and "/add" not in page.text
    assert client.get("/contacts/staff/edit").status_code == 403
    before = snapshot(web)
    for path, data in (
            ("/contacts/staff/edit", {"name": "X", "email": "x@example.org", "language": "en",
                                      "role": "staff"}),
            ("/contacts/add", {"id": "x", "name": "X", "email": "x@example.org"}),
            ("/contacts/staff/remove", {}),
            ("/groups/china/edit", {"name": "X"}),
            ("/deadlines/plan/edit", {"title": "X", "due_on": "2026-01-01"}),
            ("/meetings/summary/edit", {"title": "X"})):
        assert client.post(path, data={"csrf": token, **data}).status_code == 403, path
    assert snapshot(web) == before


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(web: WebEnv) -> None:
    client, _ = staff(web)
    before = snapshot(web)
    for data in ({}, {"csrf": "forged"}):
        refused = client.post("/contacts/staff/edit", data={
            **data, "name": "Forged", "email": "f@example.org", "language": "en",
            "role": "staff"})
        assert refused.status_code == 403 and "location" not in refused.headers
    assert client.post("/contacts/staff/remove", data={}).status_code == 403
    assert snapshot(web) == before


def test_unknown_records_are_404_and_signed_out_visitors_go_to_sign_in(web: WebEnv) -> None:
    client, _ = staff(web)
    assert client.get("/contacts/nobody/edit").status_code == 404
    assert client.get("/meetings/nothing/edit").status_code == 404
    assert web.client().get("/contacts/staff/edit").headers["location"] == "/"


def test_edit_a_meeting_in_thai_and_refusals_name_the_field(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "thai@example.org")
    form = client.get("/meetings/summary/edit").text
    for label in ('<label for="f-start_date">วันที่', '<label for="f-start_time">เวลาเริ่ม',
                  '<label for="f-location_th">สถานที่ภาษาไทย', ">ยืนยันการแก้ไข<"):
        assert label in form
    assert 'value="09:30"' in form and 'value="2018-11-15"' in form
    before = snapshot(web)
    base = {"csrf": token, "title": "Working groups: summary meeting",
            "start_date": "2018-11-15", "start_time": "09:30", "duration_minutes": "120",
            "location": "Provincial Hall", "invite_consulates": "yes"}
    for change, words in (({"start_time": "9h"}, "เวลาเริ่ม: ต้องเป็นเวลา"),
                          ({"duration_minutes": "2000"}, "ระยะเวลา (นาที): expected a whole "
                           "number 1–1440"),
                          ({"start_date": "31/02/2561"}, "วันที่:"),
                          ({"title": " "}, "หัวข้อ: must not be empty")):
        bad = client.post("/meetings/summary/edit", data={**base, **change})
        assert bad.status_code == 400 and words in said(bad), words
    assert snapshot(web) == before
    done = client.post("/meetings/summary/edit", data={
        **base, "start_time": "13:30", "location": "Room 2", "location_th": "ห้อง 2"})
    assert done.status_code == 303
    assert "บันทึกแล้ว" in client.get(done.headers["location"]).text
    assert web.rows("SELECT dtstart, rrule, location, location_th FROM meetings "
                    "WHERE id = 'summary'") == [
        ("2018-11-15 13:30:00.000000", "FREQ=YEARLY", "Room 2", "ห้อง 2")]
    listed = client.get("/meetings").text
    assert "13:30" in listed and "ห้อง 2" in listed and "ทุกปี" in listed


def test_a_meeting_edit_keeps_its_cancelled_occurrence(web: WebEnv) -> None:
    client, token = staff(web)
    assert client.post("/meetings/summary/cancel", data={
        "csrf": token, "occurrence": "2026-11-15"}).status_code == 303
    base = {"csrf": token, "title": "Summary", "start_date": "2018-11-15",
            "start_time": "10:00", "duration_minutes": "90", "location": "Provincial Hall"}
    before = snapshot(web)
    moved = client.post("/meetings/summary/edit", data={**base, "start_date": "2018-11-16"})
    assert moved.status_code == 400
    assert ("Date: an occurrence moved or cancelled on its own would be lost: the meeting has "
            "no occurrence on 2026-11-15") in said(moved)
    assert snapshot(web) == before
    done = client.post("/meetings/summary/edit", data=base)
    assert done.status_code == 303
    [(dtstart, duration, invite, changes)] = web.rows(
        "SELECT dtstart, duration_minutes, invite_consulates, changes FROM meetings "
        "WHERE id = 'summary'")
    assert (dtstart, duration, invite) == ("2018-11-15 10:00:00.000000", 90, 0)
    assert [(c["occurrence"], c["cancelled"]) for c in json.loads(str(changes))] == [
        ("2026-11-15", True)]
    assert "cancelled: 15 Nov 2026" in client.get("/meetings").text
    [(details,)] = web.rows("SELECT details FROM audit WHERE action = 'edit-meeting'")
    assert json.loads(str(details))["after"] == {
        "title": "Summary", "title_th": "", "dtstart": "2018-11-15T10:00:00",
        "duration_minutes": 90,
        "invite_consulates": False}


def test_the_service_checks_as_a_dataset_file_and_writes_all_or_nothing(
        project: Project) -> None:
    """The operations without the web: the dataset reader's words, keyed by field."""
    project.cli("status")
    settings = load_settings(str(project.config))
    db = open_database(settings, bootstrap=True, upgrade=False)
    by = Actor.on_cli(dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    with pytest.raises(FormProblems) as refused:
        save_contact(db, ContactFields("x", "", "bad", "en", "staff"), by=by, new=True)
    assert refused.value.problems == [("email", '"bad" is not an email address'),
                                      ("name", "must not be empty")]
    assert "x" not in {c["id"] for c in _contacts(project)}
    with pytest.raises(FormProblems) as lead:
        save_group(db, GroupFields("china", "China", lead="ghost", countries=("CN",)), by=by,
                   new=False)
    assert lead.value.problems == [("lead", 'unknown contact "ghost"')]
    with pytest.raises(UserError, match='unknown contact "ghost"'):
        remove_contact(db, "ghost", by=by)
    with pytest.raises(UserError, match='unknown working group "nowhere"'):
        save_group(db, GroupFields("nowhere", "N"), by=by, new=False)
    with pytest.raises(FormProblems) as era:
        save_deadline(db, DeadlineFields("plan", "Plan", dt.date(2569, 4, 13)), by=by, new=False)
    assert era.value.problems == [
        ("due_on", "2569-04-13 looks like a Buddhist-Era date; write 2026-04-13")]
    with pytest.raises(FormProblems) as rule:
        save_deadline(db, DeadlineFields("plan", "Plan", dt.date(2026, 4, 13), "FREQ=HOURLY"),
                      by=by, new=False)
    assert [key for key, _ in rule.value.problems] == ["rrule"]
    with pytest.raises(FormProblems) as minutes:
        edit_meeting(db, "summary", MeetingFields("Summary", dt.datetime(2026, 11, 15, 9), 0),
                     by=by)
    assert minutes.value.problems == [
        ("duration_minutes", "expected a whole number 1–1440, got 0")]
    with pytest.raises(UserError, match='unknown meeting "gone"'):
        edit_meeting(db, "gone", MeetingFields("X", None, 60), by=by)
    assert entries(db) == []  # nothing refused was written, not even to the audit log
    saved = save_group(db, GroupFields("china", "China", "จีน", "cn-lead", ("CN", "TW")), by=by,
                       new=False)
    assert saved.changes == {"countries": [["CN"], ["CN", "TW"]]}
    shown = json.loads(project.cli("partners", "--json").output)
    assert {p["id"]: p["working_group"] for p in shown}["leapcity"] == "china"
    assert next(e for e in entries(db) if e.action is AuditAction.EDIT_GROUP).details == {
        "before": {"countries": ["CN"]}, "after": {"countries": ["CN", "TW"]}}


def _contacts(project: Project) -> list[dict[str, str]]:
    with sqlite3.connect(project.db_path) as conn:
        return [{"id": r[0]} for r in conn.execute("SELECT id FROM contacts")]


@pytest.mark.postgres
def test_on_postgresql_edits_are_seen_by_the_cli_and_refusals_change_nothing(
        project: Project, pg_database: str) -> None:
    web = make_web(project, database={"url": pg_database})
    client, token = staff(web)
    fields = {"csrf": token, "name": "Japan desk", "language": "en", "role": "consulate"}
    bad = client.post("/contacts/jp-consulate/edit", data={**fields, "email": "jp@"})
    assert bad.status_code == 400 and 'Email: "jp@" is not an email address' in said(bad)
    assert "jp@" not in web.project.cli("show", "osaka", "--as-of", "2026-03-02").output
    done = client.post("/contacts/jp-consulate/edit",
                       data={**fields, "email": "desk.jp@example.org"})
    assert done.status_code == 303
    shown = web.project.cli("show", "osaka", "--as-of", "2026-03-02").output
    assert "Japan desk <desk.jp@example.org>" in shown
    audit = client.get("/audit").text
    assert "edited a contact" in audit and "staff@example.org" in audit
    web.app.state.web.db.dispose()


# -- a meeting moved on the web is sent as an update at the next run


MEETING = """
[[contact]]
id = "kr-lead"
name = "Jane Korea Lead"
email = "kr-lead@example.org"
language = "en"
role = "lead"

[[working_group]]
id = "korea"
name = "Korea"
lead = "kr-lead"
countries = ["KR"]

[[partner]]
id = "seongnam"
name = "Seongnam"
country = "KR"

  [[partner.agreement]]
  kind = "loi"
  signed_on = 2014-03-23

[[meeting]]
id = "summary"
title = "Working groups: summary meeting"
starts_at = 2026-03-20T09:30:00
duration_minutes = 120
location = "Provincial Hall"
"""


def event_of(received: ReceivedMessage) -> Any:
    """The one VEVENT of a received message's text/calendar part."""
    [part] = [p for p in received.message.walk() if p.get_content_type() == "text/calendar"]
    [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    return event


def test_a_meeting_moved_on_the_web_is_sent_as_an_update_at_the_next_run(
        project: Project, smtp_server: SmtpTestServer) -> None:
    data = project.root / "meeting.toml"
    data.write_text(MEETING, encoding="utf-8")
    web = make_web(project, data={"files": [str(data)]}, email={"transport": "smtp"},
                   smtp={"host": smtp_server.host, "port": smtp_server.port})
    first = project.cli("run", "meeting-agendas", "--as-of", "2026-03-06")
    assert first.exit_code == 0, first.output
    [invitation] = smtp_server.messages
    assert invitation.rcpt_tos == ("kr-lead@example.org",)
    assert event_of(invitation)["SEQUENCE"] == 0
    client, token = staff(web)
    moved = client.post("/meetings/summary/edit", data={
        "csrf": token, "title": "Working groups: summary meeting", "start_date": "2026-03-20",
        "start_time": "13:30", "duration_minutes": "120", "location": "Room 2"})
    assert moved.status_code == 303
    second = project.cli("run", "meeting-agendas", "--as-of", "2026-03-07")
    assert second.exit_code == 0, second.output
    [update] = smtp_server.messages[1:]
    assert update.rcpt_tos == ("kr-lead@example.org",)
    assert str(update.message["Subject"]).startswith("Updated: Working groups: summary meeting")
    event = event_of(update)
    assert (event["SEQUENCE"], str(event["LOCATION"])) == (1, "Room 2")
    assert event["UID"] == event_of(invitation)["UID"]
    assert event.decoded("DTSTART") == dt.datetime(2026, 3, 20, 6, 30, tzinfo=dt.UTC)
    assert project.cli("run", "meeting-agendas", "--as-of", "2026-03-07").exit_code == 0
    assert len(smtp_server.messages) == 2  # sent once
