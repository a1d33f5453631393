"""The office web app for every reader (issue 16 review): a signed-in user's language choice,
codes shown in the reader's words, page titles, the 404 page, the email on its own page, and
(with Debian's Chromium) every page in Thai and English at 375 px with nothing scrolling
sideways. The browser tests skip, with the reason, where /usr/bin/chromium or playwright is
missing."""

from __future__ import annotations

import html as htmllib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from test_spreadsheets import row, write_csv
from webfixtures import START, WebEnv, csrf_of, make_web, sign_in

from scheduler.errors import UserError
from scheduler.services.audit import Actor
from scheduler.services.users import get_user, set_language
from scheduler.web.i18n import country_name, describe_schedule

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def web(project: Project) -> WebEnv:
    return make_web(project)


def main_text(page: str) -> str:
    """What a reader sees in <main>: tags dropped, entities decoded, spaces collapsed."""
    found = re.search(r"<main[^>]*>(.*)</main>", page, re.S)
    assert found, "the page has a <main>"
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def title_of(page: str) -> str:
    found = re.search(r"<title>(.*?)</title>", page, re.S)
    assert found, "the page has a <title>"
    return htmllib.unescape(found.group(1)).strip()


def language_of(web: WebEnv, email: str) -> str:
    [(language,)] = web.rows(f"SELECT language FROM accounts WHERE email = '{email}'")
    return str(language)


# -- the language of a signed-in account -------------------------------------------------------
def test_a_signed_in_user_switches_to_thai_from_any_page_and_it_is_stored(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    partner = client.get("/partners/osaka").text
    assert '<html lang="en">' in partner
    assert re.search(r'<form method="post" action="/language"', partner), "a switch on the page"
    done = client.post("/language", data={"csrf": token, "language": "th",
                                          "next": "/partners/osaka"})
    assert done.status_code == 303 and done.headers["location"] == "/partners/osaka"
    assert language_of(web, "staff@example.org") == "th"
    again = client.get("/partners/osaka").text
    assert '<html lang="th">' in again
    assert '<label for="date">วันที่' in again and ">บันทึก<" in again
    assert web.rows("SELECT who, action, target FROM audit WHERE action = 'set-language'") == [
        ("staff@example.org", "set-language", "staff@example.org")]
    # back to English: the switch now offers English, and a POST result page goes back to
    # its section, never to a POST-only address
    assert "English</span></button>" in again
    client.post("/language", data={"csrf": token, "language": "en", "next": "/jobs"})
    assert '<html lang="en">' in client.get("/").text
    assert language_of(web, "staff@example.org") == "en"


def test_a_viewer_may_choose_the_language_of_its_own_pages(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "viewer@example.org")
    done = client.post("/language", data={"csrf": token, "language": "th", "next": "/audit"})
    assert done.status_code == 303
    assert language_of(web, "viewer@example.org") == "th"


def test_a_get_changes_no_account_and_a_post_without_csrf_is_refused(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    assert client.get("/lang/th").status_code == 303
    assert language_of(web, "staff@example.org") == "en"
    assert '<html lang="en">' in client.get("/").text
    forged = client.post("/language", data={"language": "th", "next": "/"})
    assert forged.status_code == 403 and "location" not in forged.headers
    bad = client.post("/language", data={"csrf": token, "language": "fr", "next": "/"})
    assert bad.status_code == 400 and "th" in main_text(bad.text)
    assert language_of(web, "staff@example.org") == "en"
    assert web.rows("SELECT count(*) FROM audit WHERE action = 'set-language'") == [(0,)]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "partners",
                                    "/\\evil.example"])
def test_the_switch_never_sends_the_reader_to_another_site(web: WebEnv, target: str) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    done = client.post("/language", data={"csrf": token, "language": "th", "next": target})
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_signed_out_the_choice_stays_in_the_session(web: WebEnv) -> None:
    client = web.client()
    token = csrf_of(client.get("/").text)
    done = client.post("/language", data={"csrf": token, "language": "th", "next": "/"})
    assert done.status_code == 303
    page = client.get("/").text
    assert '<html lang="th">' in page and '<label for="email">อีเมล' in page
    assert language_of(web, "staff@example.org") == "en"


def test_set_language_refuses_an_unknown_language_or_account(web: WebEnv) -> None:
    db = web.app.state.web.db
    by = Actor("cli", START)
    with pytest.raises(UserError, match="--language"):
        set_language(db, "staff@example.org", "fr", by=by)
    with pytest.raises(UserError, match="no such account"):
        set_language(db, "nobody@example.org", "th", by=by)
    account = set_language(db, "Staff@Example.org", "th", by=by)
    assert account.language == "th" and get_user(db, "staff@example.org") == account
    set_language(db, "staff@example.org", "th", by=by)  # the same again: no second entry
    assert web.rows("SELECT count(*) FROM audit WHERE action = 'set-language'") == [(1,)]


# -- codes in the reader's words ---------------------------------------------------------------
def test_a_thai_partner_page_names_country_group_and_kinds_in_thai(web: WebEnv) -> None:
    client = web.client()
    sign_in(client, "thai@example.org")
    page = client.get("/partners/osaka").text
    text = main_text(page)
    assert "ประเทศ ญี่ปุ่น" in text and "คณะทำงาน ญี่ปุ่นและเกาหลี" in text
    assert "หนังสือแสดงเจตจำนง (LOI)" in text  # the agreement kind, not "loi"
    assert '<span class="tag">กิจกรรม</span>' in page  # the activity's kind, not "event"
    assert '<span class="tag">event</span>' not in page
    assert " JP " not in f" {text} " and "japan-korea" not in text
    assert re.search(r"\d{1,2} [ก-๙.]+ 25\d\d", text), "dates in the Buddhist Era"
    english = web.client()
    sign_in(english, "staff@example.org")
    text = main_text(english.get("/partners/osaka").text)
    assert "Country Osaka, Japan" in text or "Country Japan" in text
    assert "Group Japan" in text


def test_the_local_party_is_named_in_thai_on_a_thai_page(web: WebEnv, tmp_path: Path) -> None:
    parties = tmp_path / "parties.toml"
    parties.write_text('[[local_party]]\nid = "cm"\nname = "Chiang Mai Province"\n'
                       'name_th = "จังหวัดเชียงใหม่"\n', encoding="utf-8")
    loaded = web.project.cli("load", str(parties))
    assert loaded.exit_code == 0, loaded.output
    thai, english = web.client(), web.client()
    sign_in(thai, "thai@example.org")
    sign_in(english, "staff@example.org")
    assert "ผู้ลงนาม จังหวัดเชียงใหม่" in main_text(thai.get("/partners/osaka").text)
    assert "Signed by Chiang Mai Province" in main_text(english.get("/partners/osaka").text)
    # the correction form offers the Thai name, and saving it unchanged changes nothing
    page = thai.get("/partners/osaka").text
    assert re.search(r'name="local_party" type="text" value="จังหวัดเชียงใหม่"', page)
    ref = re.search(r'action="/partners/osaka/agreement/([^"/]+)"', page)
    assert ref is not None
    saved = thai.post(f"/partners/osaka/agreement/{ref.group(1)}", data={
        "csrf": csrf_of(page), "local_party": "จังหวัดเชียงใหม่", "signed_on": "20/05/2557"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("nothing_changed")
    assert web.rows("SELECT local_party, signed_on FROM agreements WHERE partner_id = 'osaka'"
                    ) == [("Chiang Mai Province", "2014-05-20")]


def test_thai_office_pages_show_no_codes(web: WebEnv, tmp_path: Path) -> None:
    web.project.cli("run", "anniversaries", "--as-of", "2026-03-02")
    client = web.client()
    token = sign_in(client, "thai@example.org")
    jobs = main_text(client.get("/jobs").text)
    assert "แจ้งวันครบรอบ" in jobs and "anniversaries" not in jobs
    assert "วันจันทร์ถึงวันศุกร์ เวลา 08:00 น." in jobs and "1-5" not in jobs
    outbox = main_text(client.get("/outbox").text)
    assert "แจ้งวันครบรอบ" in outbox and "anniversaries" not in outbox
    assert "ส่งแล้ว" in outbox and " sent " not in f" {outbox} "
    message = main_text(client.get("/outbox/1").text)
    assert "งาน แจ้งวันครบรอบ" in message
    audit = main_text(client.get("/audit").text)
    assert "เพิ่มบัญชีผู้ใช้" in audit and "add-account" not in audit
    assert "บรรทัดคำสั่ง (cli)" in audit and "ภาษา: ไทย" in audit
    data = write_csv(tmp_path / "up.csv", [row(name="Osaka University")]).read_bytes()
    report = client.post("/import", data={"csrf": token},
                         files={"file": ("agreements.csv", data, "text/csv")})
    shown = main_text(report.text)
    assert "ญี่ปุ่น" in shown and "เมืองใหม่ osaka-university" in shown
    assert "ญี่ปุ่นและเกาหลี" in shown and "ข้อตกลงใหม่" in shown and "dry run" not in shown
    assert "22 ส.ค. 2560" in shown


def test_an_admin_sees_account_languages_by_name(web: WebEnv) -> None:
    client = web.client()
    sign_in(client, "admin@example.org")
    text = main_text(client.get("/accounts").text)
    assert "Thai" in text and "English" in text
    assert not re.search(r"\b(th|en)\b", text)


@pytest.mark.parametrize(("expression", "en", "th"), [
    ("0 8 * * *", "every day at 08:00", "ทุกวัน เวลา 08:00 น."),
    ("0 8 * * 1-5", "Monday to Friday at 08:00", "วันจันทร์ถึงวันศุกร์ เวลา 08:00 น."),
    ("30 9 * * 1", "every Monday at 09:30", "ทุกวันจันทร์ เวลา 09:30 น."),
    ("0 7 * * 0,7", "every Sunday at 07:00", "ทุกวันอาทิตย์ เวลา 07:00 น."),
    ("*/5 * * * *", "*/5 * * * *", "*/5 * * * *"),  # not an office's form: as written
    ("0 8 1 * *", "0 8 1 * *", "0 8 1 * *"),
])
def test_a_schedule_in_words(expression: str, en: str, th: str) -> None:
    assert describe_schedule(expression, "en") == en
    assert describe_schedule(expression, "th") == th


def test_country_names_come_from_cldr_in_the_page_language() -> None:
    assert country_name("MM", "th") == "เมียนมา (พม่า)"
    assert country_name("MM", "en") == "Myanmar (Burma)"
    assert country_name("XQ", "th") == "XQ"  # unknown to CLDR: the code as stored


# -- titles, the 404 page, the email alone -----------------------------------------------------
PAGES = {"/": "Dashboard", "/partners": "Partners", "/partners/osaka": "Osaka",
         "/outbox": "Outbox", "/jobs": "Jobs", "/import": "Import", "/audit": "Audit log",
         "/accounts": "Accounts", "/contacts": "Contacts", "/groups": "Working groups",
         "/deadlines": "Budget deadlines", "/meetings": "Meetings"}


def test_every_page_has_its_own_title(web: WebEnv) -> None:
    client = web.client()
    sign_in(client, "admin@example.org")
    titles = {path: title_of(client.get(path).text) for path in PAGES}
    for path, name in PAGES.items():
        assert titles[path].startswith(name), (path, titles[path])
    assert len(set(titles.values())) == len(titles)


def test_an_unknown_address_gets_the_404_page_in_the_readers_language(web: WebEnv) -> None:
    client = web.client()
    sign_in(client, "thai@example.org")
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert title_of(missing.text).startswith("ไม่พบหน้าที่ต้องการ")
    assert missing.headers["x-frame-options"] == "DENY"
    signed_out = web.client().get("/nothing-here", headers={"accept-language": "en"})
    assert signed_out.status_code == 404 and title_of(signed_out.text).startswith("Not found")


def test_the_email_alone_is_sandboxed_and_linked_from_its_message(web: WebEnv) -> None:
    web.project.cli("run", "anniversaries", "--as-of", "2026-03-02")
    client = web.client()
    sign_in(client, "viewer@example.org")
    assert 'href="/outbox/1/html"' in client.get("/outbox/1").text
    alone = client.get("/outbox/1/html")
    assert alone.status_code == 200 and alone.headers["content-type"].startswith("text/html")
    csp = alone.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "script-src" not in csp and "default-src 'none'" in csp
    assert "<table" in alone.text
    assert client.get("/outbox/999/html").status_code == 404
    assert web.client().get("/outbox/1/html").status_code == 303  # signed out: sign in first


# -- in a real browser ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing: pip install '.[test]'")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def served(web: WebEnv) -> Iterator[Any]:
    from test_web_browser import Served

    with Served(web) as s:
        yield s


def browser_sign_in(page: Any, email: str) -> None:
    from webfixtures import PASSWORD

    page.goto("/")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button").click()
    page.wait_for_url("**/")


PHONE_PAGES = ("/", "/partners", "/partners/osaka", "/contacts", "/groups", "/deadlines",
               "/meetings", "/outbox", "/outbox/1", "/jobs", "/import", "/audit", "/accounts",
               "/no-such-page", "/partners/nobody")


@pytest.mark.parametrize("email", ["admin@example.org", "thai@example.org"])
def test_no_page_scrolls_sideways_at_375_px(web: WebEnv, browser: Any, served: Any,
                                            email: str, tmp_path: Path) -> None:
    # playwright's sync API runs an event loop in this thread; the job's delivery runs its own
    worker = threading.Thread(target=web.project.cli,
                              args=("run", "anniversaries", "--as-of", "2026-03-02"))
    worker.start()
    worker.join()
    assert web.rows("SELECT count(*) FROM messages")[0][0] > 0
    context = browser.new_context(base_url=served.url, viewport={"width": 375, "height": 800})
    page = context.new_page()
    browser_sign_in(page, email)
    for path in PHONE_PAGES:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width} px wide at 375 px"
        assert page.title().strip(" ·"), path
    # the email as its reader sees it fits the phone too, inside its frame
    page.goto("/outbox/1")
    frame = page.locator("iframe.mail")
    box = frame.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert box["height"] >= 400, "tall enough to read"
    inner = page.frames[1].evaluate("document.documentElement.scrollWidth")
    assert inner <= box["width"], f"the email is {inner} px wide in a {box['width']} px frame"
    # the dry-run report and a job preview
    upload = write_csv(tmp_path / "agreements.csv", [row(name="Osaka University")])
    page.goto("/import")
    page.locator("#file").set_input_files(str(upload))
    page.locator("form[enctype] button").click()
    page.wait_for_selector("#h-report")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "import report"
    page.goto("/jobs")
    page.locator("#as_of").fill("2026-03-02")
    page.locator("button[name=preview]").click()
    page.wait_for_selector("#h-result")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "job preview"
    context.close()


def test_the_language_switch_in_the_browser_keeps_the_page(web: WebEnv, browser: Any,
                                                           served: Any) -> None:
    context = browser.new_context(base_url=served.url, locale="en-US")
    page = context.new_page()
    browser_sign_in(page, "staff@example.org")
    page.goto("/partners/osaka")
    page.get_by_role("button", name="ภาษาไทย").click()
    page.wait_for_url("**/partners/osaka")
    assert page.locator("html").get_attribute("lang") == "th"
    assert page.get_by_label("วันที่", exact=True).is_visible()
    assert language_of(web, "staff@example.org") == "th"
    # the focus ring is visible: keyboard focus on a button draws an outline
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    context.close()
