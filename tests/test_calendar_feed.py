"""`sistercity calendar FILE.ics` (SPEC "Calendar feed"): a PUBLISH feed that two independent
parsers (icalendar and vobject) read, with the right events: anniversaries all-day on their
date, deadlines all-day on their act-by date, meetings timed with their invitations' UIDs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import vobject
from conftest import Project
from icalendar import Calendar
from smtpserver import SmtpTestServer
from test_meeting_lifecycle import CONTACTS, Office, one_off

DEADLINES = """
[[budget_deadline]]
id = "activity-plan"
title = "Submit the FY{next_fiscal_year} activity plan"
due_on = 2018-01-14
working_groups = ["china"]

[[budget_deadline]]
id = "report"
title = "Yearly report"
due_on = 2018-03-06
"""

KOREA_MEETING = """
[[meeting]]
id = "korea-only"
title = "Korea group"
starts_at = 2017-12-01T14:00:00
duration_minutes = 60
working_groups = ["korea"]
"""


def _events(path: Path) -> dict[str, dict[str, Any]]:
    """UID → what both parsers read of each VEVENT (they must agree)."""
    raw = path.read_bytes()
    cal = Calendar.from_ical(raw)
    assert str(cal["METHOD"]) == "PUBLISH"
    vcal: Any = vobject.readOne(raw.decode("utf-8"))
    assert vcal.method.value == "PUBLISH"
    ours = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    theirs = {e.uid.value: e for e in vcal.vevent_list}
    assert ours.keys() == theirs.keys()
    found: dict[str, dict[str, Any]] = {}
    for uid, event in ours.items():
        other = theirs[uid]
        start = event.decoded("DTSTART")
        assert other.dtstart.value == start
        assert other.summary.value == str(event["SUMMARY"])
        found[uid] = {"start": start, "end": event.decoded("DTEND"),
                      "summary": str(event["SUMMARY"]),
                      "description": str(event.get("DESCRIPTION", "")),
                      "sequence": int(event.get("SEQUENCE", 0))}
    return found


def test_feed_holds_the_right_events_and_parses_with_two_parsers(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    office = Office(project, smtp_server, one_off() + KOREA_MEETING + DEADLINES)
    office.run("2017-11-01")  # the summary meeting is invited to (SEQUENCE 0)
    office.change(one_off(starts_at="2017-11-16T13:30:00") + KOREA_MEETING + DEADLINES
                  + "\n" + '[[meeting]]\nid = "off"\ntitle = "Off"\n'
                  'starts_at = 2017-12-05T09:00:00\ncancelled = true\n')
    out = project.root / "feed.ics"
    wrote = project.cli("calendar", str(out), "--as-of", "2017-11-01", "--months", "6")
    assert wrote.exit_code == 0, wrote.output
    assert "2017-11-01 to 2018-04-30" in wrote.output
    events = _events(out)

    # meetings: timed, UTC, the invitation's UID (moved to the 16th: same UID, SEQUENCE 1
    # as the update the next run sends); a cancelled meeting is left out
    summary = events["summary-20171115@example.org"]
    assert summary["start"] == dt.datetime(2017, 11, 16, 6, 30, tzinfo=dt.UTC)
    assert summary["end"] == dt.datetime(2017, 11, 16, 8, 30, tzinfo=dt.UTC)
    assert summary["sequence"] == 1
    assert "korea-only-20171201@example.org" in events
    assert not [u for u in events if u.startswith("off-")]

    # deadlines: all-day on the act-by date (14 Jan 2018 is a Sunday: Friday the 12th)
    plan = events["deadline-activity-plan-20180114@example.org"]
    assert plan["start"] == dt.date(2018, 1, 12) and plan["end"] == dt.date(2018, 1, 13)
    assert "Due 14 Jan 2018" in plan["description"] and "act by 12 Jan 2018" in \
        plan["description"]
    assert plan["summary"] == "Submit the FY2562 activity plan"
    assert events["deadline-report-20180306@example.org"]["start"] == dt.date(2018, 3, 6)

    # anniversaries: all-day on their date
    chengdu = events["anniversary-chengdu-sister-city-2015-03-30-20180330@example.org"]
    assert chengdu["start"] == dt.date(2018, 3, 30)
    assert chengdu["summary"] == "3 years: sister-city agreement with Chengdu (เฉิงตู)"
    assert "anniversary-seongnam-loi-2014-03-23-20180323@example.org" in events
    assert len(events) == 6

    # one group: its partners, its deadlines and those of every group, its meetings and
    # those of every group
    korea = project.root / "korea.ics"
    assert project.cli("calendar", str(korea), "--group", "korea", "--as-of", "2017-11-01",
                       "--months", "6").exit_code == 0
    assert sorted(_events(korea)) == [
        "anniversary-seongnam-loi-2014-03-23-20180323@example.org",
        "deadline-report-20180306@example.org",
        "korea-only-20171201@example.org",
        "summary-20171115@example.org",
    ]


def test_feed_never_overwrites_and_refuses_an_unknown_group(project: Project) -> None:
    project.write_config(data={"files": [str(_data(project))]})
    out = project.root / "feed.ics"
    out.write_text("mine", encoding="utf-8")
    kept = project.cli("calendar", str(out))
    assert kept.exit_code == 2
    assert "the file exists; nothing was written (use --force" in kept.stderr
    assert out.read_text(encoding="utf-8") == "mine"

    unknown = project.cli("calendar", str(out), "--group", "nope", "--force")
    assert unknown.exit_code == 2
    assert 'unknown working group "nope" (groups: china, korea)' in unknown.stderr
    assert out.read_text(encoding="utf-8") == "mine"

    replaced = project.cli("calendar", str(out), "--force", "--as-of", "2017-11-01")
    assert replaced.exit_code == 0, replaced.output
    assert "summary-20171115@example.org" in _events(out)
    assert project.cli("calendar", str(out), "--months", "0", "--force").exit_code == 2


def _data(project: Project) -> Path:
    path = project.root / "data.toml"
    path.write_text(CONTACTS + one_off(), encoding="utf-8")
    return path
