"""The pages behind the links in emails (SPEC "The way back", "Calendar feed") through
Starlette's TestClient: the group's calendar feed at its secret URL, the action pages
(/act/{token}: GET shows, POST acts, CSRF, tampered and expired tokens) and the staff's
acknowledgements page. tests/test_web_links_browser.py drives them from a real email in a
real browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import vobject
from conftest import Project
from icalendar import Calendar
from webfixtures import SECRET, START, WebEnv, make_web

from scheduler.links import LinkAction, LinkSigner

SIGNER = LinkSigner(SECRET)


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
