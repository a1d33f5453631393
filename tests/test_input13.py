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
import tomllib
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from conftest import REPO, Project

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


def test_a_be_leap_day_that_toml_itself_refuses_is_explained(project: Project) -> None:
    # 2563 is no Gregorian leap year, so TOML refuses the date before sistercity sees it.
    data = project.root / "leap.toml"
    data.write_text(BE_DATASET.replace("2560-08-22", "2563-02-29"), encoding="utf-8")

    result = project.cli("load", str(data))

    assert result.exit_code == 2
    assert "leap.toml: not valid TOML: Invalid date or datetime (at line 9, column 15); " \
           "2563-02-29 looks like a Buddhist-Era date (write 2020-02-29)" in result.stderr


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


# -- fault 11: clerks' natural input ------------------------------------------------------------
@pytest.mark.parametrize("typed", [
    "22/08/2560", "22 ส.ค. 2560", "22 สิงหาคม 2560", "๒๒/๐๘/๒๕๖๐", "๒๒ ส.ค. ๒๕๖๐", "2560-08-22",
])
def test_thai_dates_on_the_command_line(project: Project, typed: str) -> None:
    result = project.cli("activity", "add", "osaka", "--date", typed, "--title", "Visit")
    assert result.exit_code == 0, result.output
    assert "recorded: osaka 2017-08-22 Visit" in result.stdout
    assert stored(project, "SELECT date FROM activities WHERE title = 'Visit'") == \
        [("2017-08-22",)]

    as_of = project.cli("partners", "--as-of", typed.replace("22", "23", 1)
                        .replace("๒๒", "๒๓", 1), "--json")
    assert as_of.exit_code == 0, as_of.output
    osaka = next(p for p in json.loads(as_of.stdout) if p["id"] == "osaka")
    assert osaka["last_activity"] == "2017-08-22"


def test_a_bad_command_line_date_says_what_is_accepted(project: Project) -> None:
    result = project.cli("partners", "--as-of", "22 ส.ค. 60")
    assert result.exit_code == 2
    assert "22 ส.ค. 60 is not a date (expected YYYY-MM-DD, DD/MM/YYYY or 22 ส.ค. 2560)" \
        in result.stderr


def test_thai_dates_and_digits_in_a_sheet(project: Project) -> None:
    project.cli("init")
    path = write_csv(project.root / "thai.csv", [
        csv_row("Kyoto University", "22 ส.ค. 2560"),
        csv_row("Nara University", "22 สิงหาคม 2560"),
        csv_row("Kobe University", "๒๒/๐๘/๒๕๖๐"),
        csv_row("Sendai University", "๑๕/๑๑/๒๕๖๐"),
        csv_row("Fukuoka University", "29/02/2563"),
    ])

    result = project.cli("import", str(path))

    assert result.exit_code == 0, result.output
    assert {k: v for k, v in signed(project).items() if k.endswith("-university")} == {
        "kyoto-university": "2017-08-22", "nara-university": "2017-08-22",
        "kobe-university": "2017-08-22", "sendai-university": "2017-11-15",
        "fukuoka-university": "2020-02-29",
    }


def test_a_csv_saved_by_thai_excel_is_read_as_windows_874(project: Project) -> None:
    project.cli("init")
    path = write_csv(project.root / "thai-excel.csv", [
        csv_row("Kyoto University", "22/08/2560", name_th="มหาวิทยาลัยเกียวโต",
                local_party="มหาวิทยาลัยเชียงใหม่"),
    ], encoding="cp874")

    result = project.cli("import", str(path))

    assert result.exit_code == 0, result.output
    assert "thai-excel.csv: not UTF-8: read as Windows-874" in result.stderr
    assert stored(project, "SELECT name, name_th FROM partners WHERE id = 'kyoto-university'") \
        == [("Kyoto University", "มหาวิทยาลัยเกียวโต")]
    assert stored(project, "SELECT local_party, signed_on FROM agreements "
                           "WHERE partner_id = 'kyoto-university'") == \
        [("มหาวิทยาลัยเชียงใหม่", "2017-08-22")]


def test_a_csv_in_neither_utf8_nor_windows_874_is_refused(project: Project) -> None:
    project.cli("init")
    path = project.root / "garbled.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\r\n\xff\xfe\xfd\r\n")
    result = project.cli("import", str(path))
    assert result.exit_code == 2
    assert "garbled.csv: neither UTF-8 nor Windows-874 text" in result.stderr


def write_xls(path: Path, rows: list[list[object]]) -> Path:
    """An Excel 97-2003 workbook, signing dates as date cells where given as dates."""
    import xlwt  # type: ignore[import-untyped]

    workbook = xlwt.Workbook(encoding="utf-8")
    sheet = workbook.add_sheet("ข้อตกลง")
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    for r, values in enumerate([HEADER, *rows]):
        for c, value in enumerate(values):
            if isinstance(value, dt.date):
                sheet.write(r, c, value, date_style)
            else:
                sheet.write(r, c, value)
    workbook.save(str(path))
    return path


def _ods_cell(value: object) -> str:
    if isinstance(value, dt.date):
        return (f'<table:table-cell office:value-type="date" office:date-value='
                f'"{value.isoformat()}"><text:p>{value:%d/%m/%Y}</text:p></table:table-cell>')
    return (f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}'
            "</text:p></table:table-cell>")


def write_ods(path: Path, rows: list[list[object]]) -> Path:
    """An OpenDocument spreadsheet as LibreOffice saves one (the parts a reader needs)."""
    body = "".join("<table:table-row>" + "".join(_ods_cell(v) for v in r) + "</table:table-row>"
                   for r in [HEADER, *rows])
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Agreements">{body}'
        "</table:table></office:spreadsheet></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as ods:
        ods.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet",
                     compress_type=zipfile.ZIP_STORED)
        ods.writestr("content.xml", content)
        ods.writestr("META-INF/manifest.xml", manifest)
    return path


@pytest.mark.parametrize(("name", "write", "sheet"), [
    ("agreements.xls", write_xls, "ข้อตกลง"), ("agreements.ods", write_ods, "Agreements"),
])
def test_xls_and_ods_workbooks_are_imported(project: Project, name: str, write: object,
                                            sheet: str) -> None:
    project.cli("init")
    assert callable(write)
    path = write(project.root / name, [
        csv_row("Kyoto University", "22 ส.ค. 2560"),
        [dt.date(2017, 8, 23) if c.key == "signed_on" else v
         for c, v in zip(COLUMNS, csv_row("Nara University", ""), strict=True)],
    ])

    result = project.cli("import", str(path))

    assert result.exit_code == 0, result.output
    assert f"imported {name}: 2 rows; partners: 2 new" in result.stdout
    assert {k: v for k, v in signed(project).items() if k.endswith("-university")} == {
        "kyoto-university": "2017-08-22", "nara-university": "2017-08-23"}

    bad = write(project.root / f"bad-{name}", [csv_row("Kobe University", "22/08/2056")])
    refused = project.cli("import", str(bad))
    assert refused.exit_code == 2
    assert f'bad-{name}: sheet {sheet}, row 2, column "signed on": 2056-08-22 is more than ' \
           "a year after today" in refused.stderr
    assert "kobe-university" not in signed(project)


def test_a_damaged_xls_or_ods_is_refused(project: Project) -> None:
    project.cli("init")
    for name, kind in (("x.xls", "an Excel 97-2003 .xls"), ("y.ods", "an OpenDocument .ods")):
        (project.root / name).write_bytes(b"not a workbook")
        result = project.cli("import", str(project.root / name))
        assert result.exit_code == 2
        assert f"{name}: not {kind} workbook" in result.stderr
        assert "Traceback" not in result.output


@pytest.mark.parametrize(("command", "name"), [("template", "filled.xlsx"),
                                               ("export", "filled.xlsx"),
                                               ("export", "filled.csv")])
def test_template_and_export_never_overwrite_without_force(project: Project, command: str,
                                                           name: str) -> None:
    path = project.root / name
    path.write_bytes(b"a workbook the districts filled in")

    result = project.cli(command, str(path))

    assert result.exit_code == 2
    assert f"{path}: the file exists; nothing was written (use --force to replace it)" \
        in result.stderr
    assert path.read_bytes() == b"a workbook the districts filled in"

    forced = project.cli(command, "--force", str(path))
    assert forced.exit_code == 0, forced.output
    assert path.read_bytes() != b"a workbook the districts filled in"


# -- fault 12: PostgreSQL is a config change only -----------------------------------------------
def test_the_postgresql_driver_is_installed_with_the_product() -> None:
    """`pip install .` installs what a postgresql+psycopg:// URL loads, not only an extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(d.startswith("psycopg[binary]>=3") for d in project["dependencies"])
    assert project["optional-dependencies"]["postgres"] == []  # kept for older install notes

    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # loads the driver
    assert engine.dialect.driver == "psycopg"
    engine.dispose()
