"""The registry pages at scale (issue 16): the per-process page cache never serves a page older
than the database — a change made through the CLI (its own Database object, as another process
would) shows on the next page view — and the partner list is paged, searchable and filterable
as a user sees it. Through Starlette's TestClient over the test project (tests/webfixtures.py)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from conftest import Project
from starlette.testclient import TestClient
from test_postgres import pg_database
from test_spreadsheets import row, write_csv
from webfixtures import SECRET, WebEnv, make_web, sign_in

from scheduler.config import load_settings
from scheduler.registry.bootstrap import open_database
from scheduler.web.app import create_app
from scheduler.web.cache import change_key

__all__ = ["pg_database"]  # the fixture, shared with test_postgres.py

# 120 more partners: "Alpha 001" … "Alpha 120", countries cycling JP, KR, FR. The even ones had
# an activity in January 2026 (not dormant on 2 March 2026), the odd ones never (dormant).
COUNTRIES = ("JP", "KR", "FR")
N = 120


def many_partners(path: Path) -> Path:
    lines = []
    for i in range(1, N + 1):
        lines += ["[[partner]]", f'id = "city-{i:03d}"', f'name = "Alpha {i:03d}"',
                  f'name_th = "เมืองทดสอบ {i:03d}"', f'country = "{COUNTRIES[i % 3]}"', "",
                  "  [[partner.agreement]]", '  kind = "mou"', "  signed_on = 2010-05-01",
                  '  local_party = "Chiang Mai Province"', ""]
        if i % 2 == 0:
            lines += ["  [[partner.activity]]", "  date = 2026-01-10",
                      '  title = "Video call"', "  kind = \"meeting\"", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def web(project: Project) -> WebEnv:
    env = make_web(project)
    done = project.cli("load", str(many_partners(project.root / "many.toml")))
    assert done.exit_code == 0, done.output
    return env


def viewer(web: WebEnv) -> TestClient:
    client = web.client()
    sign_in(client, "viewer@example.org")
    return client


def names(html: str) -> list[str]:
    """The partners a page of the list names, in order."""
    return re.findall(r'<td data-label="Partner"><a href="/partners/[^"]+">([^<]+)</a>', html)


def registry_order() -> list[str]:
    """Every partner as the list orders them: by country code, then name."""
    rows = [("CN", "Leap City"), ("KR", "Suwon"), ("JP", "Osaka")]
    rows += [(COUNTRIES[i % 3], f"Alpha {i:03d}") for i in range(1, N + 1)]
    return [name for _, name in sorted(rows)]


# -- never stale ---------------------------------------------------------------------------------
def test_a_cli_change_shows_on_the_next_page_view_and_nothing_reloads_without_one(
        web: WebEnv) -> None:
    client = viewer(web)
    cache = web.app.state.web.cache
    before = client.get("/partners?q=osaka").text
    assert names(before) == ["Osaka"] and "Dormant partners</span>" in before
    assert "(63, longest quiet first)" in client.get("/").text
    assert names(client.get("/partners?dormant=1&q=osaka").text) == ["Osaka"]
    loads = cache.loads
    for _ in range(3):  # nothing changed: the registry is not read again
        client.get("/")
        client.get("/partners?page=2")
    assert cache.loads == loads

    done = web.project.cli("activity", "add", "osaka", "--date", "2026-03-01", "--title",
                           "Consul's visit")
    assert done.exit_code == 0, done.output

    after = client.get("/partners?q=osaka").text
    assert "1 Mar 2026" in after and "Dormant partners</span>" not in after
    assert "(62, longest quiet first)" in client.get("/").text
    assert names(client.get("/partners?dormant=1&q=osaka").text) == []
    assert cache.loads == loads + 1


def test_every_cli_write_moves_the_change_key(web: WebEnv, tmp_path: Path) -> None:
    project = web.project
    settings = load_settings(str(project.config))
    other = open_database(settings, bootstrap=False, upgrade=False)  # as another process
    sheet = write_csv(tmp_path / "new.csv", [row(name="Brand New City", country="DE")])
    commands = [
        ("activity", "add", "suwon", "--date", "2026-02-01", "--title", "Letter"),
        ("remove", "activity", "osaka", "event-2016-01-10"),
        ("end", "leapcity", "--on", "2026-02-20", "--reason", "merged"),
        ("meeting", "cancel", "summary", "--occurrence", "2026-11-15"),
        ("import", str(sheet)),
        ("load", str(many_partners(tmp_path / "again.toml"))),  # nothing new, still audited
        ("user", "remove", "thai@example.org"),
    ]
    for command in commands:
        key = change_key(other)
        done = project.cli(*command)
        assert done.exit_code == 0, (command, done.output)
        assert change_key(other) != key, command


def test_a_removed_account_is_signed_out_at_its_next_request(web: WebEnv) -> None:
    client = viewer(web)
    assert client.get("/partners").status_code == 200
    assert web.project.cli("user", "remove", "viewer@example.org").exit_code == 0
    gone = client.get("/partners")
    assert gone.status_code == 303 and gone.headers["location"] == "/"


def test_an_old_session_does_not_open_an_account_removed_and_added_again(web: WebEnv) -> None:
    """The same email added again is another account (a successor, a new role): the removed
    account's session cookie, even unexpired, does not sign anyone in to it."""
    client = viewer(web)
    cookie = client.cookies.get("sistercity_session")
    assert cookie and client.get("/partners").status_code == 200
    assert web.project.cli("user", "remove", "viewer@example.org").exit_code == 0
    again = web.project.cli("user", "add", "viewer@example.org", "--name", "Successor",
                            "--role", "admin", input="another long password\n")
    assert again.exit_code == 0, again.output
    replayed = web.client()
    replayed.cookies.set("sistercity_session", cookie)
    for path in ("/accounts", "/partners"):
        refused = replayed.get(path)
        assert refused.status_code == 303 and refused.headers["location"] == "/", path
    # the successor signs in with their own password and is the admin
    fresh = web.client()
    sign_in(fresh, "viewer@example.org", "another long password")
    assert fresh.get("/accounts").status_code == 200


def test_a_change_made_through_the_web_shows_in_the_list_at_once(web: WebEnv) -> None:
    client = web.client()
    token = sign_in(client, "staff@example.org")
    assert "Dormant partners</span>" in client.get("/partners?q=city-001").text
    done = client.post("/partners/city-001/activities",
                       data={"csrf": token, "date": "2026-02-27", "title": "Workshop"})
    assert done.status_code == 303
    page = client.get("/partners?q=city-001").text
    assert "27 Feb 2026" in page and "Dormant partners</span>" not in page


def test_a_second_worker_sees_the_first_ones_change(web: WebEnv) -> None:
    first = viewer(web)
    second_env = make_web_again(web)
    second = second_env.client()
    token = sign_in(second, "staff@example.org")
    assert "Relation ended on" not in first.get("/partners?q=suwon").text
    second.post("/partners/suwon/end", data={"csrf": token, "end_on": "2026-02-28",
                                             "reason": "no longer active"})
    assert "Relation ended on 28 Feb 2026" in first.get("/partners?q=suwon").text


def make_web_again(web: WebEnv) -> WebEnv:
    """Another app (a second worker) over the same database, with its own Database object."""
    settings = load_settings(str(web.project.config))
    db = open_database(settings, bootstrap=False, upgrade=False)
    return WebEnv(web.project, create_app(settings, db, secret=SECRET, clock=web.clock),
                  web.clock)


# -- paging, search, filter ----------------------------------------------------------------------
def test_the_list_is_paged_fifty_a_page_with_prev_and_next_links(web: WebEnv) -> None:
    client = viewer(web)
    order = registry_order()
    first = client.get("/partners").text
    assert "Partners 1–50 of 123" in first and names(first) == order[:50]
    assert '<a rel="next" href="/partners?page=2">Next page</a>' in first
    assert 'rel="prev"' not in first
    second = client.get("/partners?page=2").text
    assert "Partners 51–100 of 123" in second and names(second) == order[50:100]
    assert '<a rel="prev" href="/partners">Previous page</a>' in second
    assert '<a rel="next" href="/partners?page=3">Next page</a>' in second
    last = client.get("/partners?page=3").text
    assert names(last) == order[100:] and len(names(last)) == 23 and 'rel="next"' not in last
    for odd in ("99", "0", "-1", "two", "9" * 40):  # past the end or unreadable: no error
        page = client.get(f"/partners?page={odd}")
        assert page.status_code == 200 and names(page.text)


def test_search_by_id_name_thai_name_or_country_keeps_the_search_across_pages(
        web: WebEnv) -> None:
    client = viewer(web)
    page = client.get("/partners")
    assert '<label for="q">Search</label>' in page.text
    assert '<label for="dormant" style="display:inline">Dormant partners only</label>' in page.text
    assert names(client.get("/partners?q=alpha+01").text) == [
        f"Alpha {i:03d}" for i in sorted(range(10, 20), key=lambda i: (COUNTRIES[i % 3], i))]
    assert names(client.get("/partners?q=CITY-007").text) == ["Alpha 007"]
    assert names(client.get("/partners?q=ซูวอน").text) == ["Suwon"]
    assert names(client.get("/partners?q=ทดสอบ 042").text) == ["Alpha 042"]
    japan = client.get("/partners?q=japan").text  # the country's name, not only its code
    assert "Partners 1–41 of 41" in japan and "Osaka" in names(japan)
    assert names(client.get("/partners?q=ญี่ปุ่น").text) == names(japan)
    korea = client.get("/partners?q=kr").text  # 40 + Suwon; "kr" is in no name
    assert "of 41" in korea
    alpha = client.get("/partners?q=alpha").text
    assert "Partners 1–50 of 120" in alpha
    assert '<a rel="next" href="/partners?q=alpha&amp;page=2">Next page</a>' in alpha
    assert 'value="alpha"' in alpha  # the box keeps what was typed
    nothing = client.get("/partners?q=atlantis").text
    assert "No partner matches." in nothing and names(nothing) == []
    odd = client.get("/partners", params={"q": '"><b>x', "page": "2"})
    assert odd.status_code == 200 and 'value="&#34;&gt;&lt;b&gt;x"' in odd.text


def test_the_dormant_filter_and_the_dashboards_more_link_agree(web: WebEnv) -> None:
    client = viewer(web)
    dormant = client.get("/partners?dormant=1").text
    # the three test-city partners and the 60 odd Alpha ones
    assert "Partners 1–50 of 63" in dormant and 'checked' in dormant
    assert "Alpha 002" not in names(dormant) and "Alpha 001" in names(dormant) + names(
        client.get("/partners?dormant=1&page=2").text)
    assert '<a rel="next" href="/partners?dormant=1&amp;page=2">' in dormant
    board = client.get("/").text
    section = board.split('id="h-dorm"')[1]
    assert "(63, longest quiet first)" in section
    assert section.count("<li>") == 10
    assert '<a href="/partners?dormant=1">53 more dormant partners</a>' in section
    both = client.get("/partners?dormant=1&q=jp").text  # filter and search together
    assert "of 21" in both  # Osaka and the 20 odd Alpha ones in JP


def test_thai_list_and_dashboard(web: WebEnv) -> None:
    client = web.client()
    sign_in(client, "thai@example.org")
    page = client.get("/partners?page=2").text
    assert '<label for="q">ค้นหา</label>' in page and "รายการที่ 51–100 จาก 123" in page
    assert "ดูอีก 53 แห่งที่ขาดการติดต่อ" in client.get("/").text
    english = viewer(web).get("/partners?page=2").text
    assert "Partners 51–100 of 123" in english  # each language rendered on its own


def test_signed_out_visitors_see_no_list(web: WebEnv) -> None:
    page = web.client().get("/partners?q=alpha")
    assert page.status_code == 303 and page.headers["location"] == "/"


def test_rows_added_past_the_audit_log_move_the_key_too(web: WebEnv) -> None:
    """An import called without `by` writes no audit entry: the partner count and the newest
    agreement and activity ids cover what it adds."""
    client = viewer(web)
    assert "No partner matches." in client.get("/partners?q=sideways").text
    with sqlite3.connect(web.project.db_path) as conn:
        conn.execute("INSERT INTO partners (id, name, name_th, country, city) "
                     "VALUES ('sideways', 'Sideways Town', '', 'JP', '')")
    assert names(client.get("/partners?q=sideways").text) == ["Sideways Town"]


def test_the_cache_keeps_a_bounded_number_of_searches(web: WebEnv) -> None:
    cache = web.app.state.web.cache
    key = cache.current()
    built: list[str] = []

    def build(q: str) -> str:
        built.append(q)
        return q.upper()

    for q in ("a", "b", "c", "a", "b", "c"):
        assert cache.get(key, "search", q, lambda q=q: build(q), limit=2) == q.upper()
    assert built == ["a", "b", "c", "c"]  # the third is built each time, never kept
    assert web.project.cli("end", "osaka", "--on", "2026-02-01").exit_code == 0
    assert cache.current() != key  # a change: everything is dropped, the limit starts again


@pytest.mark.postgres
def test_on_postgresql_a_cli_change_shows_on_the_next_view(project: Project,
                                                          pg_database: str) -> None:
    web = make_web(project, database={"url": pg_database})
    client = viewer(web)
    assert "Dormant partners</span>" in client.get("/partners?q=osaka").text
    client.get("/")
    done = project.cli("activity", "add", "osaka", "--date", "2026-03-01", "--title", "Forum")
    assert done.exit_code == 0, done.output
    page = client.get("/partners?q=osaka").text
    assert "1 Mar 2026" in page and "Dormant partners</span>" not in page
    web.app.state.web.db.dispose()
