"""SPEC "The way back" end to end: `sistercity run` with `web.base_url` set sends its emails
to a real SMTP server on loopback (aiosmtpd); the links are taken from the received messages'
text parts and opened in Debian's Chromium (Playwright) against the app served by uvicorn.
Opening a link changes nothing; its button does, once; the next runs honour it; a tampered
link fails; the lead's calendar-feed URL serves a calendar two parsers read.
Skipped, with the reason, where /usr/bin/chromium or playwright is missing."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

import pytest
import vobject
from click.testing import Result
from conftest import TEST_DATA, Project, body_text
from icalendar import Calendar
from smtpserver import SmtpTestServer
from test_web_browser import ARGS, CHROMIUM, Served
from test_web_links import osaka_loi
from webfixtures import PASSWORD, SECRET, WebEnv, make_web

from scheduler.links import ActionClaim, LinkAction, LinkSigner

sync_api = pytest.importorskip("playwright.sync_api")

SIGNER = LinkSigner(SECRET)
FIRST = "2026-03-02"  # the first run: Leap City, Osaka and Suwon are long silent
LATER = "2026-06-01"  # 91 days on: the dormant partners' notices are due again


@pytest.fixture
def web(project: Project) -> WebEnv:
    return make_web(project)


HEAD = """
[[contact]]
id = "governor"
name = "Prasert Head"
email = "head@example.org"
language = "en"
role = "head"
"""


@pytest.fixture
def served(web: WebEnv, project: Project, smtp_server: SmtpTestServer,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The app on a free port; the project's runs send through `smtp_server` with links to
    it (web.base_url) signed with the app's key. The registry also has a head of office
    (loaded with the next command: the web's database was loaded without it)."""
    monkeypatch.setenv("SISTERCITY_WEB_SECRET", SECRET)
    head = project.root / "head.toml"
    head.write_text(HEAD, encoding="utf-8")
    with Served(web) as s:
        project.write_config(email={"transport": "smtp"},
                             smtp={"host": smtp_server.host, "port": smtp_server.port},
                             web={"base_url": s.url},
                             data={"files": [str(TEST_DATA / "testcity.toml"), str(head)]})
        assert cli(project, "load", str(head)).exit_code == 0
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(base_url=served.url, locale="en-US")
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def cli(project: Project, *args: str) -> Result:
    """A `sistercity` command, in a thread of its own: Playwright's sync API keeps an event
    loop running in this one, and the CLI's delivery runs its own (asyncio.run)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(project.cli, *args).result()


def run(project: Project, server: SmtpTestServer, job: str, as_of: str) -> list[EmailMessage]:
    """`sistercity run JOB --as-of DATE`; the messages the SMTP server received for it."""
    before = len(server.messages)
    done = cli(project, "run", job, "--as-of", as_of)
    assert done.exit_code == 0, done.output
    return [m.message for m in server.messages[before:]]


def to(messages: list[EmailMessage], address: str) -> EmailMessage:
    [found] = [m for m in messages if m["To"].addresses[0].addr_spec == address]
    return found


def claim_of(url: str) -> ActionClaim:
    """What a link grants (read with the app's key, whatever its age)."""
    token = url.rsplit("/act/", 1)[1]
    return SIGNER.read_action(token, now=dt.datetime(1970, 1, 2, tzinfo=dt.UTC))


def link(message: EmailMessage, item: str, action: LinkAction) -> str:
    """The action link of `item` in the message's text part (the one a reader clicks)."""
    urls = re.findall(r"https?://\S+/act/[A-Za-z0-9_.\-]+", body_text(message))
    assert urls, "the email carries action links"
    found = [u for u in urls if (claim_of(u).item, claim_of(u).action) == (item, action)]
    assert len(found) == 1, (item, action, urls)
    return found[0]


def registry_state(web: WebEnv) -> list[list[tuple[object, ...]]]:
    return [web.rows("SELECT partner_id, date, title, kind FROM activities ORDER BY id"),
            web.rows("SELECT recipient, item, action, until FROM acknowledgements ORDER BY id"),
            web.rows("SELECT who, action, target FROM audit ORDER BY id")]


def mentions(message: EmailMessage, *names: str) -> bool:
    text = body_text(message)
    return any(name in text for name in names)


def at_issue(web: WebEnv, url: str) -> None:
    """The app's clock: one hour after the link was issued (the reader opens it soon)."""
    web.clock.now = claim_of(url).issued + dt.timedelta(hours=1)


def test_a_link_from_a_real_email_records_the_activity_and_the_reminders_stop(
        web: WebEnv, project: Project, smtp_server: SmtpTestServer, served: Served,
        page: Any) -> None:
    first = run(project, smtp_server, "dormant-partners", FIRST)
    lead = to(first, "cn-lead@example.org")  # Thai reader, lead of the China group
    url = link(lead, "leapcity", LinkAction.RECORD)
    assert url.startswith(f"{served.url}/act/")  # absolute, under web.base_url
    at_issue(web, url)
    before = registry_state(web)
    response = page.goto(url)
    assert response.status == 200
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text(
        "ไม่มีกิจกรรมกับ เมืองอธิกสุรทิน ตั้งแต่ 29 ก.พ. 2559")
    sync_api.expect(page.get_by_role("main")).to_contain_text("cn-lead@example.org")
    page.reload()  # a second GET, as a mail scanner and then the reader would
    assert registry_state(web) == before  # GET alone changes nothing
    page.get_by_label("วันที่", exact=True).fill("20/02/2569")
    page.get_by_label("หัวข้อ", exact=True).fill("Video call with the mayor")
    page.get_by_label("ประเภท", exact=True).fill("meeting")
    page.get_by_role("button", name="บันทึก", exact=True).click()
    sync_api.expect(page.get_by_role("heading", level=2)).to_have_text("บันทึกกิจกรรมแล้ว")
    sync_api.expect(page.get_by_role("status")).to_contain_text("ขอบคุณ")
    sync_api.expect(page.get_by_role("main")).to_contain_text("20 ก.พ. 2569")
    shown = json.loads(cli(project, "show", "leapcity", "--json", "--as-of", FIRST).output)
    assert shown["last_activity"] == "2026-02-20" and shown["dormant"] is False
    assert [a["what"] for a in shown["activities"]] == ["Video call with the mayor"]
    assert web.rows("SELECT who, action, target FROM audit WHERE who LIKE '%email link%'") == [
        ("cn-lead@example.org (email link)", "add-activity", "leapcity")]
    # The button again (back, then submit): already done, nothing new.
    page.go_back()
    page.reload()
    sync_api.expect(page.get_by_role("status")).to_contain_text("ดำเนินการไปแล้ว")
    assert web.rows("SELECT count(*) FROM activities WHERE partner_id = 'leapcity'") == [(1,)]
    # The next runs: Osaka and Suwon are reminded again; Leap City to no one.
    later = run(project, smtp_server, "dormant-partners", LATER)
    assert later and any(mentions(m, "Osaka", "โอซากา") for m in later)
    assert not any(mentions(m, "Leap City", "เมืองอธิกสุรทิน") for m in later)
    again = run(project, smtp_server, "dormant-partners", "2026-09-01")
    assert again and not any(mentions(m, "Leap City", "เมืองอธิกสุรทิน") for m in again)


def test_a_tampered_link_gets_the_4xx_page_and_changes_nothing(
        web: WebEnv, project: Project, smtp_server: SmtpTestServer, page: Any) -> None:
    first = run(project, smtp_server, "dormant-partners", FIRST)
    url = link(to(first, "cn-lead@example.org"), "leapcity", LinkAction.RECORD)
    at_issue(web, url)
    before = registry_state(web)
    token = url.rsplit("/", 1)[1]
    swapped = token[:-4] + token[-4:][::-1] if token[-4:] != token[-4:][::-1] else token[:-1]
    for bad in (url.rsplit("/", 1)[0] + "/" + swapped, url[:-10]):
        response = page.goto(bad)
        assert response.status == 400
        sync_api.expect(page.get_by_role("heading", level=1)).to_have_text(
            "This link is not valid")
        assert page.get_by_role("main").get_by_role("button").count() == 0
    web.clock.now = claim_of(url).expires
    assert page.goto(url).status == 410
    # the link names its (Thai) reader: the refusal is in Thai
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("ลิงก์นี้หมดอายุแล้ว")
    assert registry_state(web) == before


def test_snooze_silences_one_recipient_only(
        web: WebEnv, project: Project, smtp_server: SmtpTestServer, page: Any) -> None:
    first = run(project, smtp_server, "dormant-partners", FIRST)
    # Leap City goes to its lead and to staff; the lead snoozes it.
    assert mentions(to(first, "staff@example.org"), "เมืองอธิกสุรทิน")
    url = link(to(first, "cn-lead@example.org"), "leapcity", LinkAction.SNOOZE)
    at_issue(web, url)
    before = registry_state(web)
    page.goto(url)
    sync_api.expect(page.get_by_role("main")).to_contain_text("เมืองอธิกสุรทิน")
    assert registry_state(web) == before  # opening the link snoozed nothing
    page.get_by_role("button", name="เลื่อน", exact=True).click()
    sync_api.expect(page.get_by_role("heading", level=2)).to_have_text("เลื่อนแล้ว")
    assert web.rows("SELECT recipient, item, action FROM acknowledgements") == [
        ("cn-lead@example.org", "leapcity", "snooze")]
    later = run(project, smtp_server, "dormant-partners", LATER)
    assert mentions(to(later, "staff@example.org"), "เมืองอธิกสุรทิน")  # staff still told
    assert not any(mentions(m, "เมืองอธิกสุรทิน", "Leap City") for m in later
                   if m["To"].addresses[0].addr_spec == "cn-lead@example.org")
    # The partner is still dormant: the snooze recorded no activity.
    shown = json.loads(cli(project, "show", "leapcity", "--json", "--as-of", LATER).output)
    assert shown["dormant"] is True and shown["activities"] == []


def test_done_on_a_budget_deadline_stops_its_later_stages_for_everyone(
        web: WebEnv, project: Project, smtp_server: SmtpTestServer, page: Any) -> None:
    # China visit budget, due Fri 15 Jan 2027: the 60-day stage on 16 Nov 2026.
    first = run(project, smtp_server, "budget-deadlines", "2026-11-16")
    url = link(to(first, "cn-lead@example.org"), "china-visit", LinkAction.DONE)
    at_issue(web, url)
    page.goto(url)
    sync_api.expect(page.get_by_role("heading", level=1)).to_contain_text(
        "China visit budget FY2570")
    page.get_by_role("button", name="เสร็จแล้ว", exact=True).click()
    sync_api.expect(page.get_by_role("heading", level=2)).to_have_text("บันทึกว่าเสร็จแล้ว")
    for as_of in ("2026-12-16", "2027-01-08", "2027-01-14"):  # the 30-, 7- and 1-day stages
        assert not any(mentions(m, "China visit budget") for m in run(
            project, smtp_server, "budget-deadlines", as_of)), as_of


def test_the_leads_feed_url_serves_a_calendar_both_parsers_read(
        web: WebEnv, project: Project, smtp_server: SmtpTestServer, page: Any) -> None:
    first = run(project, smtp_server, "dormant-partners", FIRST)
    text = body_text(to(first, "cn-lead@example.org"))
    [feed] = re.findall(r"webcal://\S+/feed/\S+\.ics", text)
    assert not re.findall(r"webcal://\S+", body_text(to(first, "staff@example.org")))
    response = page.request.get("http://" + feed.removeprefix("webcal://"))
    assert response.status == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    data = response.body()
    cal = Calendar.from_ical(data)
    vcal: Any = vobject.readOne(data.decode("utf-8"))
    assert str(cal["METHOD"]) == "PUBLISH" == vcal.method.value
    ours = sorted(str(e["SUMMARY"]) for e in cal.walk("VEVENT"))
    assert ours == sorted(e.summary.value for e in vcal.vevent_list)
    assert any("Leap City" in s for s in ours) and not any("Osaka" in s for s in ours)


def test_escalation_reaches_the_head_at_the_second_notice_and_staff_see_it(
        web: WebEnv, project: Project, smtp_server: SmtpTestServer, page: Any) -> None:
    first = run(project, smtp_server, "dormant-partners", FIRST)
    assert "head@example.org" not in {m["To"].addresses[0].addr_spec for m in first}
    # Leap City's lead records an activity from the first email: it never escalates.
    url = link(to(first, "cn-lead@example.org"), "leapcity", LinkAction.RECORD)
    at_issue(web, url)
    page.goto(url)
    page.get_by_label("วันที่", exact=True).fill("2026-02-20")
    page.get_by_label("หัวข้อ", exact=True).fill("Video call")
    page.get_by_role("button", name="บันทึก", exact=True).click()
    sync_api.expect(page.get_by_role("heading", level=2)).to_have_text("บันทึกกิจกรรมแล้ว")
    # The second notice of Osaka's and Suwon's spells (after_notices = 2): the head is told.
    later = run(project, smtp_server, "dormant-partners", LATER)
    head = to(later, "head@example.org")
    assert mentions(head, "Osaka") and mentions(head, "Suwon")
    assert not mentions(head, "Leap City")
    assert "jk-lead@example.org" in body_text(head)  # who was told
    # Nothing more to the head at the third notice.
    third = run(project, smtp_server, "dormant-partners", "2026-09-01")
    assert "head@example.org" not in {m["To"].addresses[0].addr_spec for m in third}
    # Staff see the acknowledgement and the escalation.
    page.goto("/")
    page.get_by_label("Email").fill("staff@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation").get_by_role("link", name="Acknowledgements").click()
    tables = page.get_by_role("table")
    sync_api.expect(tables.first).to_contain_text("Leap City")
    sync_api.expect(tables.first).to_contain_text("recorded an activity")
    sync_api.expect(tables.first).to_contain_text("cn-lead@example.org")
    escalated = tables.nth(1)
    sync_api.expect(escalated.get_by_role("row")).to_have_count(3)  # header, Osaka, Suwon
    for name in ("Osaka", "Suwon"):
        row = escalated.get_by_role("row").filter(has_text=name)
        sync_api.expect(row).to_contain_text("head@example.org")
        sync_api.expect(row).to_contain_text("jk-lead@example.org")
        sync_api.expect(row).to_contain_text("2 Mar 2026")  # the first notice
    assert "Leap City" not in escalated.inner_text()


def test_recording_what_was_planned_for_an_anniversary_stops_its_internal_reminders(
        web: WebEnv, project: Project, smtp_server: SmtpTestServer, page: Any) -> None:
    # Osaka's LOI, signed 20 May 2014: its 12th anniversary's 30-day stage on 20 Apr 2026.
    first = run(project, smtp_server, "anniversaries", "2026-04-20")
    lead = to(first, "jk-lead@example.org")  # an English reader
    url = link(lead, claim_item(lead, "osaka/"), LinkAction.RECORD)
    assert link(lead, claim_of(url).item, LinkAction.NO_ACTION)  # the other button
    at_issue(web, url)
    before = registry_state(web)
    page.goto(url)
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text(
        "Anniversary: Osaka: letter of intent, 20 May 2026")
    assert registry_state(web) == before
    page.get_by_label("Date", exact=True).fill("2026-05-20")
    page.get_by_label("Title", exact=True).fill("Reception at the consulate")
    page.get_by_role("button", name="Record", exact=True).click()
    sync_api.expect(page.get_by_role("heading", level=2)).to_have_text("Activity recorded")
    sync_api.expect(page.get_by_role("main")).to_contain_text("Reception at the consulate")
    shown = json.loads(cli(project, "show", "osaka", "--json", "--as-of", "2026-05-20").output)
    assert "Reception at the consulate" in [a["what"] for a in shown["activities"]]
    for as_of in ("2026-05-13", "2026-05-20"):  # the 7- and 0-day stages
        later = run(project, smtp_server, "anniversaries", as_of)
        internal = [m for m in later
                    if m["To"].addresses[0].addr_spec.endswith("lead@example.org")
                    or m["To"].addresses[0].addr_spec == "staff@example.org"]
        assert not any(mentions(m, "Osaka", "โอซากา") for m in internal), as_of
        # the consulate's formal letter is not an internal reminder: it still goes
        assert mentions(to(later, "jp-consulate@example.org"), "Osaka"), as_of


def claim_item(message: EmailMessage, prefix: str) -> str:
    """The item of the first action link in `message` whose item starts with `prefix`."""
    urls = re.findall(r"https?://\S+/act/[A-Za-z0-9_.\-]+", body_text(message))
    return next(claim_of(u).item for u in urls if claim_of(u).item.startswith(prefix))


@pytest.mark.parametrize("action", list(LinkAction))
def test_the_link_pages_fit_a_375_px_phone(web: WebEnv, page: Any, action: LinkAction) -> None:
    job, item = {LinkAction.RECORD: ("dormant-partners", "leapcity"),
                 LinkAction.SNOOZE: ("dormant-partners", "osaka"),
                 LinkAction.NO_ACTION: ("budget-deadlines", "china-visit"),
                 LinkAction.DONE: ("budget-deadlines", "china-visit")}[action]
    if action is LinkAction.NO_ACTION:  # an anniversary: its item as the planner names it
        job, item = "anniversaries", osaka_loi(web)
    page.set_viewport_size({"width": 375, "height": 800})
    token = SIGNER.action_token(recipient="cn-lead@example.org", job=job, item=item,
                                occurrence=dt.date(2027, 1, 15), action=action,
                                issued=web.clock.now)
    for path in (f"/act/{token}", f"/act/{token[:-2]}", "/acknowledgements"):
        if path == "/acknowledgements":
            page.goto("/")
            page.get_by_label("Email").fill("viewer@example.org")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width} px wide at 375 px"
        for field in page.locator("input:not([type=hidden]), select").all():
            field_id = field.get_attribute("id")
            assert field_id and page.locator(f'label[for="{field_id}"]').count() == 1, path
        for button in page.locator("main button").all():
            assert (button.text_content() or "").strip(), path
    page.goto(f"/act/{token}")
    assert page.locator("main button").count() == 1  # one link, one button
