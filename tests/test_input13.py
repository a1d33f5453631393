"""Issue 13, faults 3, 11 and 12: dates as clerks write them, Buddhist-Era and far-future
typos refused, spreadsheets as Thai offices save them, files never overwritten silently.

Every case goes through the real CLI against a real SQLite database and checks what a user
sees: the exit status, the message naming file and key (or row and column), and what is
stored afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from conftest import Project

from scheduler.registry.validate import implausible_record_date
from scheduler.sheets.columns import COLUMNS

HEADER = [c.en for c in COLUMNS]

# A partner whose every date is written in Buddhist Era by mistake (the source of fault 3).
BE_DATASET = """
[[partner]]
id = "chengdu"
name = "Chengdu"
country = "CN"

  [[partner.agreement]]
  kind = "sister-city"
  signed_on = 2560-08-22
  expires_on = 2565-08-22

  [[partner.activity]]
  date = 2561-07-01
  title = "Trade delegation visit"

[[budget_deadline]]
id = "be-plan"
title = "Plan"
due_on = 2561-01-15

[[budget_deadline]]
id = "be-yearly"
title = "Yearly plan"
dtstart = 2561-01-15
rrule = "FREQ=YEARLY"

[[meeting]]
id = "be-summary"
title = "Summary"
starts_at = 2560-11-15T09:30:00
"""


def stored(project: Project, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(project.db_path) as conn:
        return conn.execute(sql).fetchall()


def partners(project: Project) -> list[dict[str, object]]:
    result = project.cli("partners", "--as-of", "2018-06-01", "--json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data


# -- fault 3: a Buddhist-Era year in a dataset file ----------------------------------------------
def test_every_be_date_in_a_dataset_is_refused_naming_the_ce_date(project: Project) -> None:
    before = partners(project)
    data = project.root / "be.toml"
    data.write_text(BE_DATASET, encoding="utf-8")

    result = project.cli("load", str(data))

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for line in [
        "be.toml: partner[0].agreement[0].signed_on: 2560-08-22 looks like a Buddhist-Era "
        "date; write 2017-08-22",
        "be.toml: partner[0].agreement[0].expires_on: 2565-08-22 looks like a Buddhist-Era "
        "date; write 2022-08-22",
        "be.toml: partner[0].activity[0].date: 2561-07-01 looks like a Buddhist-Era date; "
        "write 2018-07-01",
        "be.toml: budget_deadline[0].due_on: 2561-01-15 looks like a Buddhist-Era date; "
        "write 2018-01-15",
        "be.toml: budget_deadline[1].dtstart: 2561-01-15T00:00:00 looks like a Buddhist-Era "
        "date; write 2018-01-15T00:00:00",
        "be.toml: meeting[0].starts_at: 2560-11-15T09:30:00 looks like a Buddhist-Era date; "
        "write 2017-11-15T09:30:00",
    ]:
        assert line in result.stderr, line
    assert "refused: 6 problems, nothing was changed" in result.stderr
    assert partners(project) == before
    assert stored(project, "SELECT id FROM partners WHERE id = 'chengdu'") == []


def test_a_be_leap_day_whose_ce_year_has_none_is_refused_saying_so(project: Project) -> None:
    data = project.root / "leap.toml"
    data.write_text(BE_DATASET.replace("2560-08-22", "2560-02-29"), encoding="utf-8")

    result = project.cli("load", str(data))

    assert result.exit_code == 2
    assert ("leap.toml: partner[0].agreement[0].signed_on: 2560-02-29 looks like a "
            "Buddhist-Era date, but 2017 CE has no 29 February") in result.stderr


def test_the_first_command_refuses_a_configured_dataset_with_a_be_date(project: Project) -> None:
    data = project.root / "mine.toml"
    data.write_text(BE_DATASET, encoding="utf-8")
    project.write_config(data={"files": [str(data)]})

    result = project.cli("partners", "--json")

    assert result.exit_code == 2
    assert "mine.toml: partner[0].agreement[0].signed_on: 2560-08-22 looks like a " \
           "Buddhist-Era date; write 2017-08-22" in result.stderr
    assert stored(project, "SELECT count(*) FROM partners") == [(0,)]


def test_a_signing_or_activity_date_far_in_the_future_is_a_typo(project: Project) -> None:
    before = partners(project)
    data = project.root / "typo.toml"
    data.write_text(BE_DATASET.replace("2560-08-22", "2099-08-22")
                    .replace("2565-08-22", "2100-08-22").replace("2561-07-01", "2091-07-01")
                    .replace("2561-01-15", "2099-01-15").replace("2560-11-15", "2099-11-15"),
                    encoding="utf-8")

    result = project.cli("load", str(data))

    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert any(line.startswith("sistercity: typo.toml: partner[0].agreement[0].signed_on: "
                               "2099-08-22 is more than a year after today (") for line in lines)
    assert any(line.startswith("typo.toml: partner[0].activity[0].date: 2091-07-01 is more "
                               "than a year after today (") for line in lines)
    # Expiry, deadlines and meetings are about the future: far dates there are fine.
    assert "expires_on" not in result.stderr
    assert "due_on" not in result.stderr and "starts_at" not in result.stderr
    assert "refused: 2 problems" in result.stderr
    assert partners(project) == before


@pytest.mark.parametrize(("day", "problem"), [
    (dt.date(2027, 11, 30), None),  # exactly a year after today: planned, not a typo
    (dt.date(2027, 12, 1), "2027-12-01 is more than a year after today (2026-11-30): a typo?"),
    (dt.date(1900, 1, 1), None),
    (dt.date(1899, 12, 31), "1899-12-31 is before 1900: a typo?"),
])
def test_the_typo_rule_has_its_edges_a_year_ahead_and_1900(day: dt.date,
                                                           problem: str | None) -> None:
    assert implausible_record_date(day, dt.date(2026, 11, 30)) == problem
    leap_today = dt.date(2024, 2, 29)  # a year after it is 28 February
    assert implausible_record_date(dt.date(2025, 2, 28), leap_today) is None
    assert implausible_record_date(dt.date(2025, 3, 1), leap_today) is not None


# -- spreadsheets -------------------------------------------------------------------------------
def csv_row(name: str, signed_on: str, *, country: str = "JP", kind: str = "MOU",
            local_party: str = "Chiang Mai University", name_th: str = "") -> list[str]:
    values = {"local_party": local_party, "name": name, "name_th": name_th, "country": country,
              "kind": kind, "signed_on": signed_on}
    return [values.get(c.key, "") for c in COLUMNS]


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8-sig") -> Path:
    lines = [",".join(HEADER), *(",".join(r) for r in rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def signed(project: Project) -> dict[str, str]:
    """Partner id → signing date of its agreements, as stored."""
    return {pid: str(day) for pid, day in stored(
        project, "SELECT partner_id, signed_on FROM agreements")}


def test_a_signing_date_far_ahead_or_before_1900_in_a_sheet_refuses_the_file(
        project: Project) -> None:
    project.cli("init")
    before = signed(project)
    path = write_csv(project.root / "typos.csv", [
        csv_row("Kyoto University", "22/08/2560"),
        csv_row("Nara University", "22/08/2056"),
        csv_row("Kobe University", "22/08/1890"),
    ])

    result = project.cli("import", str(path))

    assert result.exit_code == 2
    assert 'typos.csv: row 3, column "signed on": 2056-08-22 is more than a year after ' \
           "today (" in result.stderr
    assert 'typos.csv: row 4, column "signed on": 1890-08-22 is before 1900: a typo?' \
        in result.stderr
    assert "row 2" not in result.stderr
    assert signed(project) == before
