"""The pages behind the links in emails (SPEC "The way back", "Calendar feed") through
Starlette's TestClient: the group's calendar feed at its secret URL, the action pages
(/act/{token}: GET shows, POST acts, CSRF, tampered and expired tokens) and the staff's
acknowledgements page. tests/test_web_links_browser.py drives them from a real email in a
real browser."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import vobject
from conftest import Project
from icalendar import Calendar
from starlette.testclient import TestClient
from webfixtures import SECRET, START, WebEnv, csrf_of, make_web, sign_in

from jobs.anniversaries import agreement_item
from scheduler.links import LinkAction, LinkSigner
from scheduler.registry.store import load_registry

SIGNER = LinkSigner(SECRET)
ISSUED = START - dt.timedelta(days=3)  # the email was sent three days before the app's now
LEAP_SPELL = dt.date(2016, 2, 29)  # Leap City: silent since its signing
OSAKA_SPELL = dt.date(2016, 1, 10)  # Osaka: silent since its tourism fair


@pytest.fixture
def web(project: Project) -> WebEnv:
    return make_web(project)


def _uids_both_parsers(data: bytes) -> dict[str, str]:
    """UID → SUMMARY, read by icalendar and by vobject (they must agree)."""
    cal = Calendar.from_ical(data)
    assert str(cal["METHOD"]) == "PUBLISH"
    vcal: Any = vobject.readOne(data.decode("utf-8"))
    assert vcal.method.value == "PUBLISH"
    ours = {str(e["UID"]): str(e["SUMMARY"]) for e in cal.walk("VEVENT")}
    theirs = {e.uid.value: e.summary.value for e in vcal.vevent_list}
    assert ours == theirs
    return ours


def test_the_feed_url_serves_the_groups_calendar_as_the_cli_writes_it(
        web: WebEnv, tmp_path: Path) -> None:
    response = web.client().get(f"/feed/{SIGNER.feed_token('china')}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "no-store" in response.headers["cache-control"]
    assert "private" in response.headers["cache-control"]
    assert "set-cookie" not in response.headers  # calendar programs keep no session
    served = _uids_both_parsers(response.content)
    out = tmp_path / "china.ics"
    done = web.project.cli("calendar", str(out), "--group", "china", "--as-of",
                           START.date().isoformat())
    assert done.exit_code == 0, done.output
    assert served == _uids_both_parsers(out.read_bytes())
    # The China group's items only: Leap City's anniversary, the China visit budget, and
    # the meeting of every group; nothing about Osaka or Suwon (Japan & Korea).
    summaries = " | ".join(sorted(served.values()))
    assert summaries == ("11 years: sister-city agreement with Leap City (เมืองอธิกสุรทิน) | "
                         "China visit budget FY2570 | Working groups: summary meeting")
    assert "Osaka" not in summaries and "Suwon" not in summaries
    other = _uids_both_parsers(
        web.client().get(f"/feed/{SIGNER.feed_token('japan-korea')}.ics").content)
    assert "Osaka" in " ".join(other.values()) and "China visit" not in " ".join(other.values())


@pytest.mark.parametrize("token", [
    SIGNER.feed_token("china")[:-2] + "xx",  # one signature byte changed
    LinkSigner("another key" * 4).feed_token("china"),  # a rotated key
    SIGNER.feed_token("atlantis"),  # genuine, but no such group
    SIGNER.action_token(recipient="cn-lead@example.org", job="dormant-partners",
                        item="osaka", occurrence=START.date(), action=LinkAction.RECORD,
                        issued=START),  # an action token is not a feed token
])
def test_a_feed_token_that_is_not_genuine_or_names_no_group_gets_the_404_page(
        web: WebEnv, token: str) -> None:
    response = web.client().get(f"/feed/{token}.ics")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "This calendar address is not valid" in response.text
    assert "BEGIN:VCALENDAR" not in response.text


# ---- /act/{token} ----------------------------------------------------------------------------


def token(job: str, item: str, occurrence: dt.date, action: LinkAction, recipient: str,
          issued: dt.datetime = ISSUED) -> str:
    return SIGNER.action_token(recipient=recipient, job=job, item=item, occurrence=occurrence,
                               action=action, issued=issued)


LEAP_RECORD = ("dormant-partners", "leapcity", LEAP_SPELL, LinkAction.RECORD,
               "cn-lead@example.org")  # a Thai reader


def state(web: WebEnv) -> list[list[tuple[object, ...]]]:
    """Everything a link may change: activities, acknowledgements, audit entries."""
    return [web.rows("SELECT partner_id, date, title, kind FROM activities ORDER BY id"),
            web.rows("SELECT recipient, job, item, occurrence, action, until "
                     "FROM acknowledgements ORDER BY id"),
            web.rows("SELECT who, action, target FROM audit ORDER BY id")]


def osaka_loi(web: WebEnv) -> str:
    """The anniversaries planner's item name of Osaka's LOI."""
    with web.app.state.web.db.read() as session:
        osaka = load_registry(session).partners["osaka"]
    return agreement_item(osaka, osaka.agreements[0])


def test_opening_a_link_shows_the_item_in_the_readers_language_and_changes_nothing(
        web: WebEnv) -> None:
    before = state(web)
    client = web.client()
    page = client.get(f"/act/{token(*LEAP_RECORD)}",
                      headers={"Accept-Language": "en"})  # the reader's language wins
    assert page.status_code == 200
    assert '<html lang="th">' in page.text
    # the date as printed in Thai, kept on one line (no-break spaces)
    assert "<h1>ไม่มีกิจกรรมกับ เมืองอธิกสุรทิน ตั้งแต่ 29\u00a0ก.พ.\u00a02559</h1>" in page.text
    assert "cn-lead@example.org" in page.text  # who the page acts as
    assert "ลิงก์นี้ใช้ได้ถึง" in page.text and "28 เม.ย. 2569" in page.text  # 27 Feb + 60 days
    for label in ("วันที่", "หัวข้อ", "ประเภท"):
        assert re.search(rf'<label for="\w+">{label}</label>', page.text), label
    assert '<button type="submit">บันทึก</button>' in page.text
    assert re.search(r'<form method="post" action="/act/[^"]+" class="card">', page.text)
    assert "no-store" in page.headers["cache-control"]
    assert page.headers["referrer-policy"] == "same-origin"
    client.head(f"/act/{token(*LEAP_RECORD)}")
    assert state(web) == before


def test_the_form_records_the_activity_once_as_the_reader(web: WebEnv) -> None:
    client = web.client()
    link = f"/act/{token(*LEAP_RECORD)}"
    csrf = csrf_of(client.get(link).text)
    done = client.post(link, data={"csrf": csrf, "date": "20/02/2569",
                                   "title": "Video call with the mayor", "kind": "meeting"})
    assert done.status_code == 303 and done.headers["location"] == f"{link}?done=1"
    shown = client.get(done.headers["location"])
    assert shown.status_code == 200
    assert "บันทึกกิจกรรมแล้ว" in shown.text and "ขอบคุณ" in shown.text
    assert "20 ก.พ. 2569" in shown.text and "Video call with the mayor" in shown.text
    assert "<form method=\"post\" action=\"/act/" not in shown.text
    cli = json.loads(web.project.cli("show", "leapcity", "--json", "--as-of",
                                     "2026-03-02").output)
    assert cli["last_activity"] == "2026-02-20" and cli["dormant"] is False
    assert [a["what"] for a in cli["activities"]] == ["Video call with the mayor"]
    assert web.rows("SELECT who, action, target FROM audit WHERE who LIKE '%email link%'") == [
        ("cn-lead@example.org (email link)", "add-activity", "leapcity")]
    after = state(web)
    # The same button again, and staff's own link for the same spell: already done, by whom
    # and when; nothing changes.
    again = client.post(link, data={"csrf": csrf, "date": "2026-02-21", "title": "Again"})
    assert again.status_code == 200
    assert "รายการนี้ดำเนินการไปแล้ว" in again.text and "cn-lead@example.org" in again.text
    staff_link = f"/act/{token(*LEAP_RECORD[:4], 'staff@example.org')}"
    other = web.client().get(staff_link)
    assert "cn-lead@example.org" in other.text and "2 มี.ค. 2569 09:00" in other.text
    assert "<button" not in other.text.split("<main")[1]
    assert state(web) == after


def test_a_cross_site_post_without_the_pages_token_is_refused_and_changes_nothing(
        web: WebEnv) -> None:
    before = state(web)
    link = f"/act/{token(*LEAP_RECORD)}"
    fields = {"date": "2026-02-20", "title": "Forged"}
    cold = web.client().post(link, data=fields)  # another site's form: no session, no token
    assert cold.status_code == 403 and "location" not in cold.headers
    client = web.client()
    client.get(link)  # a session, but the form does not carry its token
    assert client.post(link, data=fields).status_code == 403
    assert client.post(link, data={**fields, "csrf": "guessed"}).status_code == 403
    assert state(web) == before


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"date": "", "title": "Visit"}, 400, "วันที่: ต้องไม่เว้นว่าง"),
    ({"date": "31/02/2569", "title": "Visit"}, 400, "วันที่: "),
    ({"date": "2026-02-20", "title": "  "}, 400, "หัวข้อ: ต้องไม่เว้นว่าง"),
    ({"date": "2026-02-20", "title": "Visit", "kind": "x\u202e"}, 400, "ประเภท: "),
])
def test_a_bad_field_shows_the_form_again_naming_it(web: WebEnv, fields: dict[str, str],
                                                    status: int, message: str) -> None:
    before = state(web)
    client = web.client()
    link = f"/act/{token(*LEAP_RECORD)}"
    csrf = csrf_of(client.get(link).text)
    page = client.post(link, data={"csrf": csrf, **fields})
    assert page.status_code == status
    assert re.search(r'<p class="error" role="alert">กรุณาแก้ไข: ' + message, page.text)
    assert '<button type="submit">บันทึก</button>' in page.text
    assert f'value="{fields["date"]}"' in page.text  # what was typed is kept
    assert state(web) == before


def test_a_tampered_token_gets_400_and_an_expired_one_410_on_get_and_post(
        web: WebEnv) -> None:
    before = state(web)
    good = token(*LEAP_RECORD)
    client = web.client()
    csrf = csrf_of(client.get(f"/act/{good}").text)
    body = {"csrf": csrf, "date": "2026-02-20", "title": "Visit"}
    edited = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    other_key = LinkSigner("another key" * 4).action_token(
        recipient="cn-lead@example.org", job="dormant-partners", item="leapcity",
        occurrence=LEAP_SPELL, action=LinkAction.RECORD, issued=ISSUED)
    for bad in (edited, good[:20], other_key, SIGNER.feed_token("china")):
        for response in (client.get(f"/act/{bad}"), client.post(f"/act/{bad}", data=body)):
            assert response.status_code == 400, bad
            assert "This link is not valid" in response.text
            assert "Nothing was changed" in response.text
    thai = web.client().get(f"/act/{edited}", headers={"Accept-Language": "th"})
    assert thai.status_code == 400 and "ลิงก์นี้ไม่ถูกต้อง" in thai.text
    # Issued 60 days ago to the second: expired, on GET and POST.
    old = token(*LEAP_RECORD, issued=START - dt.timedelta(days=60))
    for response in (client.get(f"/act/{old}"), client.post(f"/act/{old}", data=body)):
        assert response.status_code == 410
        # a genuine link names its reader: the refusal is in their language (Thai here)
        assert "ลิงก์นี้หมดอายุแล้ว" in response.text and "This link" not in response.text
    english = SIGNER.action_token(recipient="jk-lead@example.org", job="dormant-partners",
                                  item="leapcity", occurrence=LEAP_SPELL,
                                  action=LinkAction.SNOOZE, issued=START - dt.timedelta(days=61))
    response = web.client().get(f"/act/{english}", headers={"Accept-Language": "th"})
    assert response.status_code == 410 and "This link has expired" in response.text
    # The same link one second younger still works; the clock moving past its age ends it.
    young = token(*LEAP_RECORD, issued=START - dt.timedelta(days=60) + dt.timedelta(seconds=1))
    assert client.get(f"/act/{young}").status_code == 200
    web.clock.advance(seconds=1)
    assert client.get(f"/act/{young}").status_code == 410
    assert state(web) == before


def test_a_link_to_an_item_no_longer_in_the_registry_gets_404(web: WebEnv) -> None:
    gone = token("dormant-partners", "atlantis", LEAP_SPELL, LinkAction.RECORD,
                 "cn-lead@example.org")
    not_offered = token("budget-deadlines", "china-visit", dt.date(2027, 1, 15),
                        LinkAction.SNOOZE, "cn-lead@example.org")
    client = web.client()
    for link in (gone, not_offered):
        assert client.get(f"/act/{link}").status_code == 404
    csrf = csrf_of(client.get("/").text)
    assert client.post(f"/act/{gone}", data={"csrf": csrf}).status_code == 404
    assert web.rows("SELECT count(*) FROM acknowledgements") == [(0,)]


@pytest.mark.parametrize(("claim", "heading", "button", "result"), [
    (("dormant-partners", "osaka", OSAKA_SPELL, LinkAction.SNOOZE, "jk-lead@example.org"),
     "No activity with Osaka since 10 Jan 2016", "Snooze", "Snoozed"),
    (("dormant-partners", "leapcity", LEAP_SPELL, LinkAction.SNOOZE, "cn-lead@example.org"),
     "ไม่มีกิจกรรมกับ เมืองอธิกสุรทิน ตั้งแต่ 29 ก.พ. 2559", "เลื่อน", "เลื่อนแล้ว"),
    (("anniversaries", "OSAKA_LOI", dt.date(2026, 5, 20), LinkAction.NO_ACTION,
      "jk-lead@example.org"), "Anniversary: Osaka: letter of intent, 20 May 2026", "No action",
     "No action recorded"),
    (("anniversaries", "OSAKA_LOI", dt.date(2026, 5, 20), LinkAction.NO_ACTION,
      "staff@example.org"), "วันครบรอบ: โอซากา: ", "ไม่ดำเนินการ", "บันทึกว่าไม่ดำเนินการแล้ว"),
    (("budget-deadlines", "china-visit", dt.date(2027, 1, 15), LinkAction.DONE,
      "cn-lead@example.org"), "กำหนดส่งงบประมาณ: China visit budget FY2570 ดำเนินการภายใน "
     "15 ม.ค. 2570", "เสร็จแล้ว", "บันทึกว่าเสร็จแล้ว"),
    (("budget-deadlines", "china-visit", dt.date(2027, 1, 15), LinkAction.DONE,
      "jk-lead@example.org"), "Budget deadline: China visit budget FY2570, act by 15 Jan 2027",
     "Done", "Marked done"),
])
def test_each_action_has_its_button_and_says_what_was_recorded(
        web: WebEnv, claim: tuple[Any, ...], heading: str, button: str, result: str) -> None:
    job, item, occurrence, action, recipient = claim
    item = osaka_loi(web) if item == "OSAKA_LOI" else item
    link = f"/act/{token(job, item, occurrence, action, recipient)}"
    client = web.client()
    page = client.get(link)
    assert page.status_code == 200 and heading in page.text.replace("\u00a0", " ")
    assert f'<button type="submit">{button}</button>' in page.text
    assert 'name="date"' not in page.text  # only RECORD asks for an activity
    assert web.rows("SELECT count(*) FROM acknowledgements") == [(0,)]
    done = client.post(link, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303
    shown = client.get(done.headers["location"]).text
    assert result in shown and recipient in shown
    assert web.rows("SELECT recipient, action FROM acknowledgements") == [
        (recipient, action.value)]
    assert web.rows("SELECT who FROM audit WHERE who LIKE '%email link%'") == [
        (f"{recipient} (email link)",)]
    if action is LinkAction.SNOOZE:  # 90 days (repeat_days) from the app's today
        assert web.rows("SELECT until FROM acknowledgements") == [("2026-05-31",)]
        assert ("31 May 2026" if recipient.startswith("jk") else "31 พ.ค. 2569") in shown


def test_a_signed_in_account_opening_a_link_acts_as_the_links_reader(web: WebEnv) -> None:
    client = web.client()
    sign_in(client, "admin@example.org")  # an English account
    page = client.get(f"/act/{token(*LEAP_RECORD)}")
    assert '<html lang="th">' in page.text and "cn-lead@example.org" in page.text
    client.post(f"/act/{token(*LEAP_RECORD)}", data={
        "csrf": csrf_of(page.text), "date": "2026-02-20", "title": "Visit"})
    assert web.rows("SELECT who FROM audit WHERE action = 'add-activity'") == [
        ("cn-lead@example.org (email link)",)]


# ---- /acknowledgements -------------------------------------------------------------------------


def _act(client: TestClient, link: str, **fields: str) -> None:
    page = client.get(link)
    assert client.post(link, data={"csrf": csrf_of(page.text), **fields}).status_code == 303


def test_staff_and_viewers_see_who_acted_when_and_a_signed_out_visitor_does_not(
        web: WebEnv) -> None:
    reader = web.client()
    _act(reader, f"/act/{token(*LEAP_RECORD)}", date="2026-02-20", title="Visit")
    web.clock.advance(hours=2)
    _act(reader, "/act/" + token("dormant-partners", "osaka", OSAKA_SPELL, LinkAction.SNOOZE,
                                 "jk-lead@example.org"))
    outsider = web.client().get("/acknowledgements")
    assert outsider.status_code == 303 and outsider.headers["location"] == "/"
    for email in ("viewer@example.org", "staff@example.org", "admin@example.org"):
        client = web.client()
        sign_in(client, email)
        assert '<a href="/acknowledgements">Acknowledgements</a>' in client.get("/").text
        page = client.get("/acknowledgements")
        assert page.status_code == 200, email
        body = page.text.split("<tbody>")[1]  # the acknowledgements' table
        rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
        text = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip() for r in rows]
        assert text[:2] == [
            "2 Mar 2026 11:00 Osaka dormant partner 10 Jan 2016 snoozed (until 31 May 2026) "
            "jk-lead@example.org",
            "2 Mar 2026 09:00 Leap City dormant partner 29 Feb 2016 recorded an activity "
            "cn-lead@example.org"]
        assert '<a href="/partners/leapcity">Leap City</a>' in page.text
    thai = web.client()
    sign_in(thai, "thai@example.org")
    assert "เลื่อน (จนถึง 31\u00a0พ.ค.\u00a02569)" in thai.get("/acknowledgements").text
