"""The office web app through Starlette's TestClient (SPEC "The office web app"): sign-in,
session cookie, CSRF, roles, rate limit, bad input, and the changes it makes through the
service layer (seen by the CLI and in the one audit log). tests/test_web_browser.py drives
the same app with a real browser."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
from pathlib import Path

import pytest
from conftest import Project
from test_postgres import pg_database
from test_spreadsheets import row, write_csv
from webfixtures import PASSWORD, SECRET, WebEnv, csrf_of, make_web, sign_in

from scheduler.web.session import LOGIN_FAILURES, LoginLimiter

__all__ = ["pg_database"]  # the fixture, shared with test_postgres.py


@pytest.fixture
def web(project: Project) -> WebEnv:
    return make_web(project)


def activities(web: WebEnv) -> list[tuple[object, ...]]:
    return web.rows("SELECT partner_id, date, title, kind FROM activities ORDER BY id")


def test_signed_out_root_shows_the_sign_in_form_and_a_safe_cookie(web: WebEnv) -> None:
    page = web.client().get("/")
    assert page.status_code == 200
    for words in ('<label for="email">Email', '<label for="password">Password',
                  '<button type="submit">Sign in', 'name="viewport"'):
        assert words in page.text
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # served over http here


def test_the_cookie_is_secure_when_the_app_is_served_over_https(project: Project) -> None:
    web = make_web(project, web={"base_url": "https://sistercity.example.org"})
    assert "; Secure" in web.client().get("/").headers["set-cookie"]


def test_thai_visitors_get_thai_labels(web: WebEnv) -> None:
    page = web.client().get("/", headers={"Accept-Language": "th-TH,th;q=0.9,en;q=0.5"})
    for words in ("อีเมล", "รหัสผ่าน", "เข้าสู่ระบบ", '<html lang="th">'):
        assert words in page.text


def test_wrong_password_shows_the_form_again_and_success_lands_on_the_dashboard(
        web: WebEnv) -> None:
    client = web.client()
    token = csrf_of(client.get("/").text)
    wrong = client.post("/login", data={"csrf": token, "email": "staff@example.org",
                                        "password": "nope"})
    assert wrong.status_code == 401
    assert "Wrong email or password" in wrong.text and 'value="staff@example.org"' in wrong.text
    sign_in(client, "staff@example.org")
    board = client.get("/")
    assert "Dashboard" in board.text
    for link in ('href="/partners"', 'href="/import"', 'href="/audit"', ">Audit log<"):
        assert link in board.text
    # partners are named as links to their pages (Leap City's anniversary is on 29 Feb/1 Mar;
    # Suwon's on 10 March, within 90 days of 2 March 2026)
    assert '<a href="/partners/suwon">Suwon</a>' in board.text


def test_sign_in_is_rate_limited_per_email_and_per_client(web: WebEnv) -> None:
    client = web.client()
    token = csrf_of(client.get("/").text)
    for _ in range(5):
        assert client.post("/login", data={"csrf": token, "email": "staff@example.org",
                                           "password": "bad"}).status_code == 401
    blocked = client.post("/login", data={"csrf": token, "email": "staff@example.org",
                                          "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    # the same client (an office behind one address), another account: not locked out by a
    # colleague's typos
    other = client.post("/login", data={"csrf": token, "email": "admin@example.org",
                                        "password": PASSWORD})
    assert other.status_code == 303
    client = web.client()  # signing in gave the admin a new CSRF token: start afresh
    token = csrf_of(client.get("/").text)
    assert client.post("/login", data={"csrf": token, "email": "staff@example.org",
                                       "password": PASSWORD}).status_code == 429
    web.clock.advance(minutes=15, seconds=1)
    assert client.post("/login", data={"csrf": token, "email": "staff@example.org",
                                       "password": PASSWORD}).status_code == 303


def test_one_client_trying_many_accounts_is_blocked_after_fifty_failures(web: WebEnv) -> None:
    client = web.client()
    token = csrf_of(client.get("/").text)
    for i in range(50):  # four tries each on many addresses: no single email reaches 5
        assert client.post("/login", data={"csrf": token, "email": f"guess{i // 4}@example.org",
                                           "password": "bad"}).status_code == 401
    blocked = client.post("/login", data={"csrf": token, "email": "viewer@example.org",
                                          "password": PASSWORD})
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    web.clock.advance(minutes=15, seconds=1)
    assert client.post("/login", data={"csrf": token, "email": "viewer@example.org",
                                       "password": PASSWORD}).status_code == 303


def test_a_session_expires_after_eight_hours(web: WebEnv) -> None:
    client = web.client()
    sign_in(client, "staff@example.org")
    web.clock.advance(hours=7, minutes=59)
    assert client.get("/partners").status_code == 200
    web.clock.advance(minutes=2)
    assert client.get("/partners").status_code == 303  # to the sign-in page
    assert "Sign in" in client.get("/").text


def test_a_tampered_cookie_is_not_a_session(web: WebEnv) -> None:
    client = web.client()
    sign_in(client, "admin@example.org")
    value = client.cookies["sistercity_session"]
    client.cookies.set("sistercity_session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert client.get("/accounts").status_code == 303


def test_staff_record_an_activity_seen_by_the_cli_and_audited_as_them(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    done = client.post("/partners/osaka/activities",
                       data={"csrf": token, "date": "2026-02-20", "title": "Sister-city forum",
                             "kind": "meeting"})
    assert done.status_code == 303
    assert "Recorded." in client.get(done.headers["location"]).text
    shown = json.loads(web.project.cli("show", "osaka", "--json", "--as-of", "2026-03-02").output)
    assert shown["last_activity"] == "2026-02-20"
    assert ("osaka", "2026-02-20", "Sister-city forum", "meeting") in activities(web)
    [(who, target)] = web.rows("SELECT who, target FROM audit WHERE action = 'add-activity'")
    assert (who, target) == ("staff@example.org", "osaka")
    assert "staff@example.org" in client.get("/audit").text


def test_a_thai_date_is_accepted(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "thai@example.org")
    page = client.get("/partners/osaka").text
    for words in ('<label for="date">วันที่', '<label for="title">หัวข้อ', ">บันทึก<"):
        assert words in page
    done = client.post("/partners/osaka/activities",
                       data={"csrf": token, "date": "20/02/2569", "title": "ประชุม"})
    assert done.status_code == 303
    assert ("osaka", "2026-02-20", "ประชุม", "other") in activities(web)


def test_bad_input_shows_the_form_again_naming_the_field(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    before = activities(web)
    bad_date = client.post("/partners/osaka/activities",
                           data={"csrf": token, "date": "2026-02-31", "title": "Forum"})
    assert bad_date.status_code == 400
    assert "Date:" in bad_date.text and 'value="Forum"' in bad_date.text
    no_title = client.post("/partners/osaka/activities",
                           data={"csrf": token, "date": "2026-02-20", "title": " "})
    assert no_title.status_code == 400 and "Title: must not be empty" in no_title.text
    far = client.post("/partners/osaka/activities",
                      data={"csrf": token, "date": "2036-02-20", "title": "Forum"})
    assert far.status_code == 400 and "Date:" in far.text
    bad_end = client.post("/partners/osaka/end", data={"csrf": token, "end_on": "soon"})
    assert bad_end.status_code == 400 and "Ended on:" in bad_end.text
    assert activities(web) == before
    assert web.rows("SELECT ended_on FROM partners WHERE id = 'osaka'") == [(None,)]


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    before = activities(web)
    for data in ({}, {"csrf": "forged"}, {"csrf": token[:-1]}):
        refused = client.post("/partners/osaka/activities",
                              data={**data, "date": "2026-02-20", "title": "Forged"})
        assert refused.status_code == 403 and "location" not in refused.headers
    assert activities(web) == before
    # a token of another session does not do either
    other = web.client()
    other_token = csrf_of(other.get("/").text)
    assert client.post("/partners/osaka/end", data={"csrf": other_token, "end_on": "2026-01-01"}
                       ).status_code == 403
    assert web.rows("SELECT ended_on FROM partners WHERE id = 'osaka'") == [(None,)]
    assert web.rows("SELECT count(*) FROM audit WHERE who != 'cli'") == [(0,)]


def test_a_viewer_sees_but_changes_nothing(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "viewer@example.org")
    page = client.get("/partners/osaka")
    assert page.status_code == 200 and "Record" not in page.text
    for path, data in (("/partners/osaka/activities", {"date": "2026-02-20", "title": "X"}),
                       ("/partners/osaka/end", {"end_on": "2026-02-20"}),
                       ("/partners/osaka/agreement/loi-2014-05-20/remove", {}),
                       ("/outbox/retry", {}), ("/jobs/run", {"job": "anniversaries"}),
                       ("/accounts", {"email": "x@example.org", "name": "X",
                                      "password": "pw"})):
        assert client.post(path, data={"csrf": token, **data}).status_code == 403, path
    assert web.rows("SELECT count(*) FROM audit WHERE who != 'cli'") == [(0,)]
    assert web.rows("SELECT count(*) FROM agreements WHERE partner_id = 'osaka'") == [(1,)]


def test_only_admins_manage_accounts(web: WebEnv) -> None:
    staff = web.client()
    token = sign_in(staff, "staff@example.org")
    assert staff.get("/accounts").status_code == 403
    assert staff.post("/accounts/remove", data={"csrf": token, "email": "viewer@example.org"}
                      ).status_code == 403
    admin = web.client()
    token = sign_in(admin, "admin@example.org")
    added = admin.post("/accounts", data={"csrf": token, "email": "new@example.org",
                                          "name": "New", "role": "viewer", "language": "th",
                                          "password": "pw"})
    assert added.status_code == 303
    bad = admin.post("/accounts", data={"csrf": token, "email": "nope", "name": "X",
                                        "role": "staff", "language": "th", "password": "pw"})
    assert bad.status_code == 400 and "Email:" in bad.text
    assert admin.post("/accounts/remove", data={"csrf": token, "email": "staff@example.org"}
                      ).status_code == 303
    # the removed account's session ends at its next request
    assert staff.get("/partners").status_code == 303
    assert web.rows("SELECT who, action, target FROM audit WHERE who = 'admin@example.org' "
                    "ORDER BY id") == [("admin@example.org", "add-account", "new@example.org"),
                                       ("admin@example.org", "remove-account",
                                        "staff@example.org")]


def test_correct_and_remove_an_agreement_and_end_the_relation(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    fixed = client.post("/partners/osaka/agreement/loi-2014-05-20",
                        data={"csrf": token, "kind": "mou", "signed_on": "2014-05-21"})
    assert fixed.status_code == 303
    assert web.rows("SELECT kind, signed_on FROM agreements WHERE partner_id = 'osaka'") == [
        ("mou", "2014-05-21")]
    gone = client.post("/partners/osaka/agreement/loi-2014-05-20/remove", data={"csrf": token})
    assert gone.status_code == 303
    assert web.rows("SELECT count(*) FROM agreements WHERE partner_id = 'osaka'") == [(0,)]
    ended = client.post("/partners/suwon/end", data={"csrf": token, "end_on": "2026-02-01",
                                                     "reason": "merged"})
    assert ended.status_code == 303
    assert web.rows("SELECT ended_on, end_reason FROM partners WHERE id = 'suwon'") == [
        ("2026-02-01", "merged")]
    actions = [r[0] for r in web.rows("SELECT action FROM audit WHERE who = 'staff@example.org'"
                                      " ORDER BY id")]
    assert actions == ["correct-agreement", "remove-agreement", "end-relation"]


def test_import_is_a_dry_run_then_a_confirmation(web: WebEnv, tmp_path: Path) -> None:
    data = write_csv(tmp_path / "up.csv", [row(name="Osaka University")]).read_bytes()
    client = web.client()
    token = sign_in(client, "staff@example.org")
    page = client.get("/import").text
    assert '<label for="file">Spreadsheet file' in page
    report = client.post("/import", data={"csrf": token},
                         files={"file": ("agreements.csv", data, "text/csv")})
    assert report.status_code == 200
    assert "new partner osaka-university" in report.text and ">Confirm<" in report.text
    assert web.rows("SELECT count(*) FROM partners WHERE id = 'osaka-university'") == [(0,)]
    upload = re.search(r'name="token" value="([^"]+)"', report.text)
    assert upload is not None
    confirm = client.post("/import/confirm", data={"csrf": token, "token": upload.group(1)})
    assert confirm.status_code == 200 and "Imported." in confirm.text
    assert web.rows("SELECT count(*) FROM partners WHERE id = 'osaka-university'") == [(1,)]
    assert web.rows("SELECT who FROM audit WHERE action = 'import'") == [("staff@example.org",)]
    bad = client.post("/import", data={"csrf": token},
                      files={"file": ("notes.txt", b"hello", "text/plain")})
    assert bad.status_code == 400 and "notes.txt" in bad.text


def test_no_page_shows_the_smtp_password_or_the_signing_key(web: WebEnv) -> None:
    web.project.monkeypatch.setenv("SISTERCITY_SMTP_PASSWORD", "smtp-pass-9f8e7d")
    client = web.client()
    sign_in(client, "admin@example.org")
    for path in ("/", "/partners", "/partners/osaka", "/outbox", "/jobs", "/import", "/audit",
                 "/accounts", "/contacts", "/groups", "/deadlines", "/meetings"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'name="viewport"' in page.text
        assert "smtp-pass-9f8e7d" not in page.text and SECRET not in page.text
        assert SECRET not in page.headers.get("set-cookie", "")


@pytest.mark.postgres
def test_on_postgresql_a_change_from_the_web_is_seen_by_the_cli(project: Project,
                                                                pg_database: str) -> None:
    web = make_web(project, database={"url": pg_database})
    client = web.client()
    token = sign_in(client, "staff@example.org")
    done = client.post("/partners/osaka/activities",
                       data={"csrf": token, "date": "2026-02-20", "title": "Forum"})
    assert done.status_code == 303
    shown = json.loads(web.project.cli("show", "osaka", "--json", "--as-of", "2026-03-02").output)
    assert shown["last_activity"] == "2026-02-20"
    assert "staff@example.org" in client.get("/audit").text
    web.app.state.web.db.dispose()


def test_preview_changes_nothing_then_run_now_sends_and_the_outbox_shows_it(
        web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    preview = client.post("/jobs/run", data={"csrf": token, "job": "anniversaries",
                                             "as_of": "2026-03-02", "preview": "1"})
    assert preview.status_code == 200 and "Would send: anniversaries" in preview.text
    assert "jk-lead@example.org" in preview.text
    assert web.rows("SELECT count(*) FROM messages") == [(0,)]
    bad = client.post("/jobs/run", data={"csrf": token, "job": "everything", "run": "1"})
    assert bad.status_code == 400 and "Job:" in bad.text
    ran = client.post("/jobs/run", data={"csrf": token, "job": "anniversaries",
                                         "as_of": "2026-03-02", "run": "1"})
    assert ran.status_code == 200 and "Ran: anniversaries" in ran.text
    # the result page's table shows the run just made as the job's last run
    row = re.search(r"<tr><td[^>]*>anniversaries</td>.*?</tr>", ran.text, re.S)
    assert row and "2 Mar 2026 09:00" in row.group(0), row
    sent = web.rows("SELECT id, recipient, state FROM messages ORDER BY id")
    assert sent and {r[2] for r in sent} == {"sent"}
    assert len(web.project.eml_files()) == len(sent)
    listing = client.get("/outbox?state=sent").text
    assert "jk-lead@example.org" in listing
    message = client.get(f"/outbox/{sent[0][0]}").text
    # the HTML as its reader sees it, in a sandboxed frame that runs no script; the text too
    assert '<iframe class="mail"' in message and 'sandbox=""' in message
    assert "Suwon" in message and "<pre class=\"mail\">" in message
    assert client.get("/outbox/999999").status_code == 404


def test_staff_requeue_a_failed_message(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    client.post("/jobs/run", data={"csrf": token, "job": "anniversaries",
                                   "as_of": "2026-03-02", "run": "1"})
    [(first,)] = web.rows("SELECT min(id) FROM messages")
    with sqlite3.connect(web.project.db_path) as conn:
        conn.execute("UPDATE messages SET state = 'failed', attempts = 8 WHERE id = ?", (first,))
    assert f'name="id" value="{first}"' in client.get("/outbox?state=failed").text
    done = client.post("/outbox/retry", data={"csrf": token, "id": str(first)})
    assert done.status_code == 303 and done.headers["location"] == "/outbox?requeued=1"
    assert web.rows(f"SELECT state, attempts FROM messages WHERE id = {first}") == [
        ("pending", 0)]


def test_the_partner_list_is_paged(web: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    from scheduler.web import pages_registry

    monkeypatch.setattr(pages_registry, "PAGE_SIZE", 2)
    client = web.client()
    sign_in(client, "viewer@example.org")
    first = client.get("/partners").text
    assert first.count('<a href="/partners/') == 2 and "Page 1 of 2 (3)" in first
    assert 'href="/partners?page=2">Next page' in first
    second = client.get("/partners?page=2").text
    assert second.count('<a href="/partners/') == 1 and "Previous page" in second
    assert client.get("/partners?page=99").status_code == 200


def test_staff_cancel_one_meeting_occurrence_through_the_meeting_service(web: WebEnv) -> None:
    viewer = web.client()
    assert viewer.post("/meetings/summary/cancel", data={
        "csrf": sign_in(viewer, "viewer@example.org"), "occurrence": "2026-11-15"}
    ).status_code == 403
    client = web.client()
    token = sign_in(client, "staff@example.org")
    page = client.get("/meetings").text
    assert '<label for="occurrence-summary">Occurrence date' in page and "Cancel meeting" in page
    bad = client.post("/meetings/summary/cancel", data={"csrf": token, "occurrence": "soon"})
    assert bad.status_code == 400 and "Occurrence date:" in bad.text
    wrong = client.post("/meetings/summary/cancel", data={"csrf": token,
                                                          "occurrence": "2026-11-16"})
    assert wrong.status_code == 400 and "has no occurrence on 2026-11-16" in wrong.text
    # an empty date does not cancel the whole series by one click: the box must say so
    blank = client.post("/meetings/summary/cancel", data={"csrf": token, "occurrence": ""})
    assert blank.status_code == 400 and "Cancel every occurrence of this meeting" in blank.text
    assert web.rows("SELECT cancelled FROM meetings WHERE id = 'summary'") in ([(0,)], [(False,)])
    assert web.rows("SELECT count(*) FROM audit WHERE action = 'cancel-meeting'") == [(0,)]
    done = client.post("/meetings/summary/cancel", data={"csrf": token,
                                                         "occurrence": "2026-11-15"})
    assert done.status_code == 303
    assert "cancelled: 15 Nov 2026" in client.get(done.headers["location"]).text
    [(changes,)] = web.rows("SELECT changes FROM meetings WHERE id = 'summary'")
    assert json.loads(str(changes))[0]["cancelled"] is True
    assert web.rows("SELECT who, target FROM audit WHERE action = 'cancel-meeting'") == [
        ("staff@example.org", "summary")]
    every = client.post("/meetings/summary/cancel", data={"csrf": token, "occurrence": "",
                                                          "every": "yes"})
    assert every.status_code == 303
    assert web.rows("SELECT cancelled FROM meetings WHERE id = 'summary'") in ([(1,)], [(True,)])


def test_sign_in_attempts_racing_each_other_cannot_pass_the_limit_together() -> None:
    """24 wrong passwords for one email at once (threads released together): the check and the
    count are one step, so exactly LOGIN_FAILURES of them reach the password check."""
    limiter = LoginLimiter()
    now = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
    start = threading.Barrier(24)
    passed: list[bool] = []

    def attempt(i: int) -> None:
        start.wait()
        passed.append(limiter.reserve(["email:admin@example.org", f"client:10.0.0.{i}"], now))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passed.count(True) == LOGIN_FAILURES == 5
    # a right password gives its attempt back: it does not count toward the limit
    other = LoginLimiter()
    for _ in range(10):
        assert other.reserve(["email:staff@example.org", "client:10.0.0.1"], now)
        other.forgive(["email:staff@example.org", "client:10.0.0.1"], now)


def test_a_post_body_over_12_mib_is_refused_before_it_is_read(web: WebEnv) -> None:
    """Signed out, no CSRF token: a huge upload gets 413 at once and changes nothing (the
    10 MB import limit has its own page, tested with the import)."""
    client = web.client()
    huge = b"x" * (12 * 1024 * 1024 + 1)
    response = client.post("/login", files={"file": ("big.xlsx", huge)})
    assert response.status_code == 413 and "too large" in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
