"""The office web app in a real browser: Debian's Chromium driven by Playwright (never
`playwright install`), against the app served by uvicorn on a free loopback port. Skipped,
with the reason, where /usr/bin/chromium or the playwright package is missing (`.ci/run`
installs both)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from test_spreadsheets import row, write_csv
from webfixtures import PASSWORD, WebEnv, make_web

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the playwright package is missing: pip install '.[test]'")
uvicorn = pytest.importorskip("uvicorn")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = ("/", "/partners", "/partners/osaka", "/outbox", "/jobs", "/import", "/audit",
         "/accounts", "/contacts", "/groups", "/deadlines", "/meetings")


class Served:
    """The app served by uvicorn in a thread, on a port the OS picked."""

    def __init__(self, web: WebEnv) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(web.app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        ready = threading.Event()
        while not self.server.started and self.thread.is_alive():
            ready.wait(0.02)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture
def web(project: Project) -> WebEnv:
    return make_web(project)


@pytest.fixture
def served(web: WebEnv) -> Iterator[Served]:
    with Served(web) as s:
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


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_then_record_an_activity_seen_by_the_cli(web: WebEnv, page: Any) -> None:
    response = page.goto("/")
    cookie = response.all_headers()["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    [stored] = page.context.cookies()
    assert stored["httpOnly"] is True and stored["sameSite"] == "Lax"
    sign_in(page, "staff@example.org", "wrong")
    sync_api.expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    sync_api.expect(page.get_by_label("Password")).to_be_visible()
    sign_in(page, "staff@example.org")
    sync_api.expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="Partners").click()
    page.get_by_role("link", name="Osaka").click()
    page.get_by_label("Date").fill("2026-02-20")
    page.get_by_label("Title").fill("Sister-city forum")
    page.get_by_label("Kind").fill("meeting")
    page.get_by_role("button", name="Record").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("Recorded.")
    shown = json.loads(web.project.cli("show", "osaka", "--json", "--as-of", "2026-03-02").output)
    assert shown["last_activity"] == "2026-02-20"
    assert [a["what"] for a in shown["activities"]] == ["Tourism fair", "Sister-city forum"]
    assert web.rows("SELECT who, target FROM audit WHERE action = 'add-activity'") == [
        ("staff@example.org", "osaka")]
    page.get_by_role("link", name="Audit log").first.click()
    sync_api.expect(page.get_by_role("main")).to_contain_text("staff@example.org")


def test_sign_in_is_rate_limited(page: Any) -> None:
    for _ in range(5):
        sign_in(page, "admin@example.org", "wrong")
    sign_in(page, "admin@example.org")
    sync_api.expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")


def test_a_viewer_gets_403_and_a_post_without_csrf_changes_nothing(web: WebEnv,
                                                                  page: Any) -> None:
    sign_in(page, "viewer@example.org")
    page.goto("/partners/osaka")
    assert page.get_by_role("button", name="Record").count() == 0
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    before = web.rows("SELECT count(*) FROM activities")
    viewer = page.request.post("/partners/osaka/activities", form={
        "csrf": token, "date": "2026-02-20", "title": "By a viewer"}, max_redirects=0)
    assert viewer.status == 403
    page.context.clear_cookies()
    sign_in(page, "staff@example.org")
    forged = page.request.post("/partners/osaka/activities", form={
        "date": "2026-02-20", "title": "Forged"}, max_redirects=0)
    assert 400 <= forged.status < 500 and "location" not in forged.headers
    assert web.rows("SELECT count(*) FROM activities") == before


def test_thai_labels_for_a_thai_account(page: Any) -> None:
    sign_in(page, "thai@example.org")
    page.goto("/partners/osaka")
    for label in ("วันที่", "หัวข้อ", "ประเภท"):
        sync_api.expect(page.get_by_label(label, exact=True)).to_be_visible()
    sync_api.expect(page.get_by_role("button", name="บันทึก", exact=True)).to_be_visible()
    page.goto("/import")
    sync_api.expect(page.get_by_role("heading", name="นำเข้า")).to_be_visible()


def test_import_with_a_dry_run_then_confirm(web: WebEnv, page: Any, tmp_path: Path) -> None:
    upload = write_csv(tmp_path / "agreements.csv", [row(name="Osaka University")])
    sign_in(page, "staff@example.org")
    page.get_by_role("main").get_by_role("link", name="Import").click()
    page.get_by_label("Spreadsheet file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload").click()
    sync_api.expect(page.get_by_role("main")).to_contain_text("new partner osaka-university")
    assert web.rows("SELECT count(*) FROM partners WHERE id = 'osaka-university'") == [(0,)]
    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("Imported.")
    assert web.rows("SELECT count(*) FROM partners WHERE id = 'osaka-university'") == [(1,)]


@pytest.mark.parametrize("email", ["admin@example.org", "thai@example.org"])
def test_every_page_fits_a_375_px_phone(page: Any, email: str) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, email)
    for path in PAGES:
        if path == "/accounts" and not email.startswith("admin"):
            continue
        page.goto(path)
        assert page.locator('meta[name="viewport"]').count() == 1, path
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width} px wide at 375 px"
        for field in page.locator("input:not([type=hidden]), select").all():
            field_id = field.get_attribute("id")
            assert field_id and page.locator(f'label[for="{field_id}"]').count() == 1, path
        for button in page.locator("button").all():
            assert (button.text_content() or "").strip(), path
