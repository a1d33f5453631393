"""Spreadsheets of agreements (issue #6): template, import (.xlsx and Excel-style CSV), export.

Files are built with openpyxl and as Excel writes "CSV UTF-8" (with a BOM); every command goes
through the real CLI against a real SQLite database.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner, Result

from scheduler.cli.app import cli
from scheduler.db.database import Database
from scheduler.errors import DataError
from scheduler.registry.domain import Agreement, AgreementKind, Partner, Registry
from scheduler.registry.store import load_registry
from scheduler.sheets.cells import (
    guard_csv_text,
    parse_cell_date,
    parse_kind,
    parse_level,
    unguard_csv_text,
)
from scheduler.sheets.columns import COLUMNS, EXTRAS
from scheduler.sheets.countries import parse_country
from scheduler.sheets.importing import PartnerIds, new_partner_id, plan_import
from scheduler.sheets.operations import import_upload
from scheduler.sheets.reading import Where
from scheduler.sheets.rows import SheetRow

HEADER = [c.en for c in COLUMNS]
THAI_HEADER = [c.th for c in COLUMNS]

DATASET = """
[[contact]]
id = "japan-korea-lead"
name = "Japan & Korea lead"
email = "jk-lead@example.org"
role = "lead"

[[contact]]
id = "turkey-lead"
name = "Indonesia & Turkey lead"
email = "it-lead@example.org"
role = "lead"

[[contact]]
id = "staff"
name = "Staff"
email = "staff@example.org"
role = "staff"

[[working_group]]
id = "japan-korea"
name = "Japan & Korea"
name_th = "ญี่ปุ่นและเกาหลี"
lead = "japan-korea-lead"
countries = ["JP", "KR"]

[[working_group]]
id = "indonesia-turkey"
name = "Indonesia & Turkey"
lead = "turkey-lead"
countries = ["ID", "TR"]

[[partner]]
id = "kyoto"
name = "Kyoto Prefecture"
name_th = "เกียวโต"
city = "Kyoto"
country = "JP"

  [[partner.agreement]]
  kind = "loi"
  signed_on = 2017-09-28
  local_party = "Chiang Mai Province"
  level = "province-city"
  title = "Smart-city LOI"
  areas = ["smart city"]

  [[partner.activity]]
  date = 2018-01-10
  title = "Delegation visit"

[[partner]]
id = "bursa"
name = "Bursa"
name_th = "บูร์ซา"
city = "Bursa"
country = "TR"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2013-01-15
  local_party = "Chiang Mai Province"
"""


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "data.toml").write_text(DATASET, encoding="utf-8")
        self.config = root / "config.toml"
        self.config.write_text(
            '[database]\nurl = "sqlite:///var/t.db"\n[data]\nfiles = ["data.toml"]\n'
            '[email]\ntransport = "file"\n', encoding="utf-8")
        self.runner = CliRunner()

    def run(self, *args: str) -> Result:
        return self.runner.invoke(cli, ["--config", str(self.config), *args])

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return result

    def registry(self) -> Registry:
        db = Database(f"sqlite:///{self.root / 'var' / 't.db'}")
        try:
            with db.read() as session:
                return load_registry(session)
        finally:
            db.dispose()

    def partners_json(self) -> dict[str, dict[str, Any]]:
        data = json.loads(self.ok("partners", "--as-of", "2018-06-01", "--json").stdout)
        return {p["id"]: p for p in data}


@pytest.fixture
def env(tmp_path: Path) -> Env:
    e = Env(tmp_path)
    e.ok("init")
    return e


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]], *, header: Sequence[str] = HEADER,
               above: Sequence[Sequence[Any]] = (), sheet: str = "Agreements") -> Path:
    workbook = openpyxl.Workbook()
    ws = workbook.active
    ws.title = sheet
    for row in [*above, header, *rows]:
        ws.append(list(row))
    for cells in ws.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # typed as '=… in Excel: text, not a formula
    workbook.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[Any]], *, header: Sequence[str] = HEADER,
              delimiter: str = ",") -> Path:
    """As Excel's "CSV UTF-8 (Comma delimited)": a BOM, CRLF line ends."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    path.write_bytes(out.getvalue().encode("utf-8-sig"))
    return path


def row(**values: Any) -> list[Any]:
    """A row in HEADER order from keyword values named after Column.key."""
    defaults = {"local_party": "Chiang Mai University", "kind": "MOU", "country": "JP",
                "signed_on": "2017-08-22"}
    merged = {**defaults, **values}
    return [merged.get(c.key) for c in COLUMNS]


def agreements_of(registry: Registry, partner_id: str) -> dict[tuple[str, dt.date, str], Any]:
    return {a.key: a for a in registry.partners[partner_id].agreements}


# -- import ------------------------------------------------------------------------------------
def test_clean_import_creates_partners_in_their_groups(env: Env, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "agreements.xlsx", [
        THAI_HEADER,  # the template's second header row is skipped
        row(name="Kyoto University", name_th="มหาวิทยาลัยเกียวโต", city="Kyoto", country="Japan",
            level="university-university", signed_on="22/08/2560",
            expires_on=dt.datetime(2022, 8, 21), areas="education; research ;;",
            contact_person="Somchai Jaidee", contact_email="somchai@example.org",
            notes="Student exchange"),
        row(name="Kyoto University", kind="LOI", signed_on="2016-01-10",
            level="university-university"),
        [None] * len(HEADER),  # blank rows are skipped
        row(local_party="Tourism Industry Council of Chiang Mai", name="Bursa Tourism Board",
            city="Bursa", country="Turkey", kind="friendship",
            level="organisation-organisation", signed_on=dt.datetime(2019, 3, 1)),
    ], above=[["Agreements of Chiang Mai University, FY2561"], []])

    result = env.ok("import", str(path))

    assert "imported agreements.xlsx: 3 rows; partners: 2 new, 0 matched; " \
           "agreements: 3 new, 0 updated, 0 unchanged" in result.stdout
    assert "new partner kyoto-university: Kyoto University (JP), group japan-korea" \
        in result.stdout
    partners = env.partners_json()
    assert partners["kyoto-university"]["working_group"] == "japan-korea"
    assert partners["kyoto-university"]["name_th"] == "มหาวิทยาลัยเกียวโต"
    assert partners["bursa-tourism-board"]["working_group"] == "indonesia-turkey"
    agreements = agreements_of(env.registry(), "kyoto-university")
    mou = agreements[("mou", dt.date(2017, 8, 22), "Chiang Mai University")]
    assert mou.level == "university-university"
    assert mou.contact_person == "Somchai Jaidee"
    assert mou.contact_email == "somchai@example.org"
    assert mou.expires_on == dt.date(2022, 8, 21)
    assert mou.areas == ("education", "research")
    assert mou.notes == "Student exchange"
    assert ("loi", dt.date(2016, 1, 10), "Chiang Mai University") in agreements
    # The contact person of an agreement is kept, but gets no reminders: no new contact.
    assert set(env.registry().contacts) == {"japan-korea-lead", "turkey-lead", "staff"}


def test_matches_existing_partners_by_thai_or_english_name(env: Env, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "fti.csv", [
        row(local_party="Federation of Thai Industries, Chiang Mai", name="  kyoto   PREFECTURE ",
            kind="mou", signed_on="2018-02-01"),
        row(local_party="Chiang Mai City Municipality", name="Kyoto Pref. Government",
            name_th="เกียว โต", kind="sister city", signed_on="2560-12-01"),
        row(local_party="Chiang Mai Chamber of Commerce", name="bursa", country="TR",
            signed_on="2019-05-05"),
    ])

    result = env.ok("import", str(path))

    assert "partners: 0 new, 2 matched; agreements: 3 new" in result.stdout
    registry = env.registry()
    assert set(registry.partners) == {"kyoto", "bursa"}
    kyoto = agreements_of(registry, "kyoto")
    assert ("mou", dt.date(2018, 2, 1), "Federation of Thai Industries, Chiang Mai") in kyoto
    assert ("sister-city", dt.date(2017, 12, 1), "Chiang Mai City Municipality") in kyoto
    assert ("mou", dt.date(2019, 5, 5), "Chiang Mai Chamber of Commerce") \
        in agreements_of(registry, "bursa")


def test_dry_run_reports_and_changes_nothing(env: Env, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [
        row(name="Kyoto Prefecture", kind="LOI", signed_on="2017-09-28",
            local_party="Chiang Mai Province"),
        row(name="Osaka University", signed_on="2018-01-01"),
    ])
    before = env.registry()

    result = env.ok("import", str(path), "--dry-run")

    assert "sheet Agreements, row 2: Kyoto Prefecture (JP): partner kyoto (matched by English " \
           "name); LOI signed 2017-09-28 by Chiang Mai Province: already recorded, skipped" \
        in result.stdout
    assert "sheet Agreements, row 3: Osaka University (JP): new partner osaka-university in " \
           "group japan-korea; MOU signed 2018-01-01 by Chiang Mai University: new agreement" \
        in result.stdout
    assert "dry run of a.xlsx, nothing changed" in result.stdout
    assert "partners: 1 new, 1 matched; agreements: 1 new, 0 updated, 1 unchanged" \
        in result.stdout
    assert env.registry() == before


def test_an_upload_is_checked_by_a_dry_run_then_confirmed(env: Env, tmp_path: Path) -> None:
    """The web app's path: the same operations as the CLI, on the bytes of an upload."""
    data = write_csv(tmp_path / "upload.csv", [row(name="Osaka University")]).read_bytes()
    db = Database(f"sqlite:///{env.root / 'var' / 't.db'}")
    try:
        report = import_upload(db, "agreements.csv", data, dry_run=True)
        assert report.details() == [
            "row 2: Osaka University (JP): new partner osaka-university in group japan-korea; "
            "MOU signed 2017-08-22 by Chiang Mai University: new agreement"]
        assert "osaka-university" not in env.registry().partners
        done = import_upload(db, "agreements.csv", data, dry_run=False)
        assert done.summary() == report.summary().replace(
            "dry run of agreements.csv, nothing changed", "imported agreements.csv")
        assert "osaka-university" in env.registry().partners
        with pytest.raises(DataError) as refused:
            import_upload(db, "agreements.numbers", data, dry_run=True)
        assert refused.value.problems == ["agreements.numbers: expected a .xlsx, .xls, .ods "
                                          "or .csv file"]
    finally:
        db.dispose()


def test_a_file_that_cannot_be_written_is_a_user_error(env: Env, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    for command in ("export", "template"):
        result = env.run(command, str(tmp_path / "taken" / "out.xlsx"))
        assert result.exit_code == 2
        assert f"{tmp_path / 'taken' / 'out.xlsx'}: cannot write: " in result.stderr
        assert "Traceback" not in result.output


def test_importing_twice_adds_nothing(env: Env, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "a.xlsx", [
        row(name="Osaka University", signed_on="2018-01-01", contact_person="Malee"),
        row(name="Osaka University", kind="LOI", signed_on="2017-01-01"),
        row(name="Kyoto Prefecture", kind="LOI", signed_on="2017-09-28",
            local_party="Chiang Mai Province"),
    ])
    env.ok("import", str(path))
    after_first = env.registry()

    result = env.ok("import", str(path))

    assert "partners: 0 new, 2 matched; agreements: 0 new, 0 updated, 3 unchanged" \
        in result.stdout
    assert env.registry() == after_first
    env.ok("import", str(path), "--dry-run")  # a dry run is not a change: not audited
    with sqlite3.connect(env.root / "var" / "t.db") as conn:
        audit = conn.execute(
            "SELECT who, target, details FROM audit WHERE action = 'import' ORDER BY id"
        ).fetchall()
    assert [(who, target) for who, target, _ in audit] == [("cli", "a.xlsx"), ("cli", "a.xlsx")]
    assert json.loads(audit[0][2])["partners_created"] == 1  # Kyoto is in the dataset
    assert json.loads(audit[1][2])["agreements_unchanged"] == 3


def test_fills_in_a_stored_agreement_without_erasing(env: Env, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [
        row(name="Kyoto Prefecture", kind="LOI", signed_on="28/09/2560",
            local_party="Chiang Mai Province", contact_person="Malee"),
    ])
    result = env.ok("import", str(path))
    assert "agreements: 0 new, 1 updated, 0 unchanged" in result.stdout
    loi = agreements_of(env.registry(), "kyoto")[("loi", dt.date(2017, 9, 28),
                                                   "Chiang Mai Province")]
    assert loi.contact_person == "Malee"
    assert loi.title == "Smart-city LOI"  # no such column: kept
    assert loi.areas == ("smart city",)  # empty cell: kept


def test_bad_file_is_refused_whole_naming_every_problem(env: Env, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "agreements.xlsx", [
        THAI_HEADER,
        row(name="Good University", signed_on="2017-01-01"),  # row 3: fine, but not imported
        row(name="Bad Date University", signed_on="31/02/2561"),  # row 4
        row(name="Nowhere University", country="Narnia", kind="MOA"),  # row 5
        row(name="", contact_email="not-an-address", level="galactic"),  # row 6
        row(name="Backwards University", signed_on="2018-01-01", expires_on="2017-01-01"),
        row(name="Leap University", signed_on="29/02/2564"),  # row 8: 2021 CE has no 29 Feb
        row(name="Empty Date University", signed_on=None, kind=None),  # row 9
    ])
    before = env.registry()

    result = env.run("import", str(path))

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    expected = [
        'agreements.xlsx: sheet Agreements, row 4, column "signed on": 31/02/2561 is not a date',
        'agreements.xlsx: sheet Agreements, row 5, column "country": "Narnia" is not a country',
        'agreements.xlsx: sheet Agreements, row 5, column "kind": "MOA" is not a kind',
        'agreements.xlsx: sheet Agreements, row 6, column "partner name (English)": missing',
        'agreements.xlsx: sheet Agreements, row 6, column "level": "galactic" is not a level',
        'agreements.xlsx: sheet Agreements, row 6, column "contact email": "not-an-address" is '
        "not an email address",
        'agreements.xlsx: sheet Agreements, row 7, column "expires on": 2017-01-01 is before '
        "signed on",
        'agreements.xlsx: sheet Agreements, row 8, column "signed on": 29/02/2564 is not a date',
        'agreements.xlsx: sheet Agreements, row 9, column "kind": missing',
        'agreements.xlsx: sheet Agreements, row 9, column "signed on": missing',
    ]
    for want in expected:
        assert any(line.startswith(f"sistercity: {want}") or line.startswith(want)
                   for line in lines), (want, result.stderr)
    assert "refused: 10 problems, nothing was changed" in result.stderr
    assert "row 3" not in result.stderr
    assert env.registry() == before


def test_bad_csv_names_rows_without_a_sheet(env: Env, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "file.csv", [
        row(name="A"), row(name="B"), row(name="C"), row(name="D"), row(name="E"),
        row(name="F", signed_on="31/02/2561"),
    ])
    result = env.run("import", str(path))
    assert result.exit_code == 2
    assert 'file.csv: row 7, column "signed on": 31/02/2561 is not a date' in result.stderr
    assert "a-" not in " ".join(env.registry().partners)


def test_a_header_without_a_required_column_is_refused(env: Env, tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "signed on"] + ["remarks"]
    path = write_xlsx(tmp_path / "h.xlsx", [["Chiang Mai University", "Osaka University"]],
                      header=header)
    result = env.run("import", str(path))
    assert result.exit_code == 2
    assert 'h.xlsx: sheet Agreements, row 1: the header has no column "signed on"' \
        in result.stderr
    no_header = write_xlsx(tmp_path / "n.xlsx", [], header=["name", "date"])
    result = env.run("import", str(no_header))
    assert result.exit_code == 2
    assert "n.xlsx: no header row naming the columns" in result.stderr


def test_same_agreement_twice_with_different_values_is_refused(env: Env, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "d.xlsx", [
        row(name="Osaka University", notes="first"),
        row(name="OSAKA university", notes="second"),
        row(name="Osaka University", notes="first"),
    ])
    result = env.run("import", str(path))
    assert result.exit_code == 2
    assert "d.xlsx: sheet Agreements, row 3: the same agreement (partner, kind, signed on, " \
           "local party) as sheet Agreements, row 2, with different values" in result.stderr
    assert "row 4" not in result.stderr  # an identical repeat is only skipped


# -- dates and countries -------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("2017-08-22", dt.date(2017, 8, 22)),
    ("2560-08-22", dt.date(2017, 8, 22)),
    ("22/08/2560", dt.date(2017, 8, 22)),
    ("22/08/2017", dt.date(2017, 8, 22)),
    ("29/02/2563", dt.date(2020, 2, 29)),
    ("2563-02-29", dt.date(2020, 2, 29)),
    (" 2017-08-22 00:00:00 ", dt.date(2017, 8, 22)),
    (dt.datetime(2017, 8, 22), dt.date(2017, 8, 22)),
    (dt.datetime(2560, 8, 22), dt.date(2017, 8, 22)),  # a date cell typed with a BE year
    (dt.date(2563, 2, 28), dt.date(2020, 2, 28)),
])
def test_dates_in_every_form(value: Any, expected: dt.date) -> None:
    assert parse_cell_date(value) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("31/02/2561", "31/02/2561 is not a date"),
    ("29/02/2564", "29/02/2564 is not a date (2564 BE is 2021 CE"),
    (dt.date(2564, 2, 29), "2564-02-29 is not a date (2564 BE is 2021 CE, which has no 29 Feb"),
    (42969, "42969 is a number, not a date"),
    ("next year", "next year is not a date"),
])
def test_bad_dates_say_why(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_cell_date(value)


def test_dates_from_excel_cells_and_text_import_right(env: Env, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "dates.xlsx", [
        row(name="A Univ", signed_on="22/08/2560"),
        row(name="B Univ", signed_on="2560-08-23"),
        row(name="C Univ", signed_on="29/02/2563"),
        row(name="D Univ", signed_on=dt.datetime(2560, 8, 25)),  # typed with a BE year
        row(name="E Univ", signed_on=dt.datetime(2017, 8, 26), expires_on=dt.date(2564, 2, 28)),
        row(name="F Univ", signed_on=dt.date(2563, 2, 28)),
    ])
    workbook = openpyxl.load_workbook(path)
    workbook.active["H6"].number_format = "[$-1070000]d/m/yyyy;@"  # Thai-locale date format
    workbook.save(path)

    env.ok("import", str(path))

    signed = {pid: p.agreements[0].signed_on for pid, p in env.registry().partners.items()
              if pid.endswith("-univ")}
    assert signed == {
        "a-univ": dt.date(2017, 8, 22), "b-univ": dt.date(2017, 8, 23),
        "c-univ": dt.date(2020, 2, 29), "d-univ": dt.date(2017, 8, 25),
        "e-univ": dt.date(2017, 8, 26), "f-univ": dt.date(2020, 2, 28),
    }
    assert env.registry().partners["e-univ"].agreements[0].expires_on == dt.date(2021, 2, 28)


@pytest.mark.parametrize(("text", "code"), [
    ("Turkey", "TR"), ("Türkiye", "TR"), ("turkiye", "TR"), ("Korea", "KR"),
    ("South Korea", "KR"), ("Republic of Korea", "KR"), ("Burma", "MM"), ("Myanmar", "MM"),
    ("Myanmar (Burma)", "MM"), ("Vietnam", "VN"), ("Viet Nam", "VN"), ("Laos", "LA"),
    ("China", "CN"), ("PRC", "CN"), ("  japan ", "JP"), ("jp", "JP"), ("Japan (JP)", "JP"),
    ("Indonesia", "ID"), ("the Netherlands", "NL"), ("ญี่ปุ่น", "JP"), ("พม่า", "MM"),
    ("United States", "US"),
])
def test_country_names_and_aliases(text: str, code: str) -> None:
    assert parse_country(text) == code


def test_unknown_country_kind_level() -> None:
    for parse, text in ((parse_country, "Narnia"), (parse_kind, "MOA"), (parse_level, "x")):
        with pytest.raises(ValueError, match=text):
            parse(text)
    assert parse_kind("Sister City") == parse_kind("SISTER-CITY") == parse_kind("sister-city")
    assert parse_kind("m.o.u.").value == "mou"
    assert parse_level("Organization-Organization") == "organisation-organisation"


def test_country_aliases_on_import(env: Env, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [
        row(name="Bursa", country="Turkey", signed_on="2020-01-01"),
        row(name="Seongnam", country="Korea"),
        row(name="Busan", country="South Korea"),
        row(name="Kengtung", country="Burma"),
    ])
    result = env.ok("import", str(path))
    assert "partners: 3 new, 1 matched" in result.stdout
    partners = env.partners_json()
    assert partners["seongnam"]["country"] == "KR"
    assert partners["seongnam"]["working_group"] == "japan-korea"
    assert partners["busan"]["country"] == "KR"
    assert partners["kengtung"]["country"] == "MM"
    assert partners["kengtung"]["working_group"] is None
    assert "no working group lists MM: the new partner kengtung (Kengtung) has no group" \
        in result.stderr
    assert len(agreements_of(env.registry(), "bursa")) == 2


def test_new_partner_ids() -> None:
    assert new_partner_id("Kyoto University", "JP", set()) == "kyoto-university"
    assert new_partner_id("Kyoto", "JP", {"kyoto"}) == "kyoto-2"
    assert new_partner_id("Kyoto", "JP", {"kyoto", "kyoto-2"}) == "kyoto-3"
    assert new_partner_id("Ōsaka (Kansai)", "JP", set()) == "osaka-kansai"
    assert new_partner_id("景洪", "CN", {"cn-1"}) == "cn-2"


def _sheet_row(n: int, name: str, name_th: str = "", partner_id: str = "") -> SheetRow:
    return SheetRow(Where(0, n, "Agreements"), name, name_th, "", "JP",
                    Agreement(AgreementKind.MOU, dt.date(2018, 1, n), "CMU"), partner_id)


def test_plan_settles_a_name_tie_by_partner_id_else_refuses() -> None:
    twins = Registry(partners={
        "osaka-a": Partner("osaka-a", "Osaka", "JP", name_th="โอซากา"),
        "osaka-b": Partner("osaka-b", "OSAKA", "JP"),
    })
    plan = plan_import("t.xlsx", [_sheet_row(2, "osaka", partner_id="osaka-b"),
                                  _sheet_row(3, "Osaka")], twins)
    assert [(o.partner_id, o.partner) for o in plan.outcomes] == [
        ("osaka-b", "matched by English name")]
    assert plan.problems.lines() == [
        't.xlsx: sheet Agreements, row 3: "Osaka" (JP) matches several partners: osaka-a, '
        "osaka-b (see `sistercity partners`)"]
    # English and Thai names pointing at two different partners is a tie too.
    plan = plan_import("t.xlsx", [_sheet_row(4, "Osaka", name_th="โอซากา")], Registry(partners={
        "a": Partner("a", "Osaka", "JP"), "b": Partner("b", "Osaka City", "JP", name_th="โอซากา"),
    }))
    assert plan.problems and not plan.agreements


def test_plan_reuses_a_partner_created_earlier_in_the_file() -> None:
    plan = plan_import("t.csv", [_sheet_row(2, "Nara Women's University"),
                                 _sheet_row(3, "nara women's  university")], Registry())
    assert [p.id for p in plan.new_partners] == ["nara-women-s-university"]
    assert [o.partner for o in plan.outcomes] == ["new", "new (sheet Agreements, row 2)"]
    assert plan.counts()["agreements new"] == 2


def test_thai_header_semicolons_and_a_name_in_another_country(env: Env, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "th.csv", [row(name="Kyoto", country="CN")],
                     header=THAI_HEADER, delimiter=";")
    result = env.ok("import", str(path))
    assert "new partner kyoto-2: Kyoto (CN)" in result.stdout
    assert env.registry().partners["kyoto-2"].country == "CN"


# -- export ------------------------------------------------------------------------------------
def _grow_registry(env: Env, tmp_path: Path) -> None:
    """Agreements with every optional field, Thai text, a partner with no group."""
    env.ok("import", str(write_xlsx(tmp_path / "grow.xlsx", [
        row(name="Kyoto University", name_th="มหาวิทยาลัยเกียวโต", city="Kyoto",
            level="university-university", expires_on="2022-08-21",
            areas="education; research", contact_person="สมชาย ใจดี",
            contact_email="somchai@example.org", notes="=not a formula"),
        row(name="Kengtung", name_th="เชียงตุง", country="MM", kind="sister-city",
            local_party="Chiang Mai City Municipality", level="city-city",
            signed_on="2014-10-09", notes="+66 53 000 000"),
    ])))


def test_export_xlsx_one_sheet_per_group_and_round_trip(env: Env, tmp_path: Path) -> None:
    _grow_registry(env, tmp_path)
    out = tmp_path / "export.xlsx"
    result = env.ok("export", str(out), "--as-of", "2018-06-01")
    assert "4 agreements of 4 partners on 3 sheets" in result.stdout

    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["Indonesia & Turkey", "Japan & Korea", "No group"]
    ws = workbook["Japan & Korea"]
    header = [c.value for c in ws[1]]
    assert header == [c.en for c in (*COLUMNS, *EXTRAS)]
    assert [c.value for c in ws[2]][:3] == THAI_HEADER[:3]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=3)]
    by_name = {r[1]: dict(zip(header, r, strict=True)) for r in rows}
    assert by_name.keys() == {"Kyoto Prefecture", "Kyoto University"}
    kyoto = by_name["Kyoto Prefecture"]
    assert kyoto["signed on"] == dt.datetime(2017, 9, 28)
    assert kyoto["signed on (BE)"] == "28 ก.ย. 2560"
    assert kyoto["last activity"] == dt.datetime(2018, 1, 10)
    assert kyoto["dormant"] == "no"
    assert kyoto["partner id"] == "kyoto"
    assert kyoto["working group"] == "japan-korea"
    university = by_name["Kyoto University"]
    assert university["contact person"] == "สมชาย ใจดี"
    assert university["notes"] == "=not a formula"
    assert ws["M4"].data_type == "s"
    assert university["years"] == 0
    assert kyoto["agreement title"] == "Smart-city LOI"
    bursa = [dict(zip(header, (c.value for c in r), strict=True))
             for r in workbook["Indonesia & Turkey"].iter_rows(min_row=3)]
    assert bursa[0]["kind"] == "MOU"
    assert bursa[0]["dormant"] == "yes"  # signed 2013, no activity
    before = env.registry()

    again = env.ok("import", str(out))

    assert "partners: 0 new, 4 matched; agreements: 0 new, 0 updated, 4 unchanged" \
        in again.stdout
    assert env.registry() == before


def test_export_csv_with_bom_round_trip(env: Env, tmp_path: Path) -> None:
    _grow_registry(env, tmp_path)
    out = tmp_path / "export.csv"
    env.ok("export", str(out), "--as-of", "2018-06-01")
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert records[0] == [c.en for c in (*COLUMNS, *EXTRAS)]
    assert len(records) == 5
    notes = {r[1]: r[HEADER.index("notes")] for r in records[1:]}
    assert notes["Kyoto University"] == "'=not a formula"  # Excel shows text, not a formula
    assert notes["Kengtung"] == "'+66 53 000 000"
    assert any("เชียงตุง" in r for r in records)
    before = env.registry()

    again = env.ok("import", str(out))

    assert "agreements: 0 new, 0 updated, 4 unchanged" in again.stdout
    assert env.registry() == before


def test_export_refuses_other_file_types(env: Env, tmp_path: Path) -> None:
    result = env.run("export", str(tmp_path / "x.ods"))
    assert result.exit_code == 2
    assert "expected a .xlsx or .csv" in result.stderr


# -- template ----------------------------------------------------------------------------------
def _validation_for(ws: Any, cell: str) -> Any:
    found = [dv for dv in ws.data_validations.dataValidation if cell in dv.sqref]
    assert len(found) == 1, cell
    return found[0]


def test_template_has_headers_dropdowns_and_instructions(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "agreements.xlsx"
    env.ok("template", str(path))
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["Agreements", "Instructions", "Countries"]
    assert workbook.active.title == "Agreements"
    assert workbook["Countries"].sheet_state == "hidden"
    ws = workbook["Agreements"]
    assert [c.value for c in ws[1]] == HEADER
    assert [c.value for c in ws[2]] == THAI_HEADER
    assert ws.freeze_panes == "A3"
    assert ws.max_row == 2  # no example row to delete
    assert ws.column_dimensions["B"].width >= 25
    kind = _validation_for(ws, "F3")
    assert kind.type == "list" and "MOU" in kind.formula1 and "sister-city" in kind.formula1
    level = _validation_for(ws, "G500")
    assert level.type == "list" and "university-university" in level.formula1
    country = _validation_for(ws, "E3")
    assert country.type == "list" and country.formula1.startswith("Countries!")
    countries = [r[2] for r in workbook["Countries"].iter_rows(min_row=2, values_only=True)]
    assert "Japan (JP)" in countries and "Türkiye (TR)" in countries
    assert ws.column_dimensions["H"].number_format == "yyyy-mm-dd"
    instructions = " ".join(str(c.value) for r in workbook["Instructions"].iter_rows()
                            for c in r if c.value)
    assert "Kyoto University" in instructions  # the example
    assert "วันที่ลงนาม" in instructions

    # As a local body would: fill in the template (drop-down choice for the country), return it.
    ws.append(row(name="Kyoto University", country="Japan (JP)", signed_on="22/08/2560"))
    workbook.save(path)
    result = env.ok("import", str(path))
    assert "partners: 1 new, 0 matched; agreements: 1 new" in result.stdout


def test_template_needs_an_xlsx_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["template", str(tmp_path / "a.csv")])
    assert result.exit_code == 2
    assert "name it *.xlsx" in result.stderr


def test_empty_template_imports_nothing(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    env.ok("template", str(path))
    result = env.ok("import", str(path))
    assert "0 rows" in result.stdout


def test_unreadable_files(env: Env, tmp_path: Path) -> None:
    cases: list[tuple[str, Callable[[Path], object], str]] = [
        ("x.xlsx", lambda p: p.write_bytes(b"not a zip"), "x.xlsx: not an Excel .xlsx workbook"),
        ("y.csv", lambda p: p.write_bytes(b"local party,\xff\xfe"), "y.csv: neither UTF-8 nor"),
        ("z.xls", lambda p: p.write_bytes(b""), "z.xls: not an Excel 97-2003 .xls workbook"),
        ("z.pdf", lambda p: p.write_bytes(b""), "z.pdf: expected a .xlsx, .xls, .ods or .csv"),
        ("missing.csv", lambda p: None, "cannot read"),
    ]
    for name, make, message in cases:
        make(tmp_path / name)
        result = env.run("import", str(tmp_path / name))
        assert result.exit_code == 2, name
        assert message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.output


# -- texts that look like formulas or start with an apostrophe survive a round trip --------------
TRICKY_NAMES = ["'-Town", "=SUM(A1)", "+66 Town", "@home", "-Town", "'quoted", "''twice", "'=x"]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_tricky_names_survive_export_then_import(env: Env, tmp_path: Path, suffix: str) -> None:
    rows = [row(name=name, local_party=f"Party {i}") for i, name in enumerate(TRICKY_NAMES)]
    env.ok("import", str(write_xlsx(tmp_path / "tricky.xlsx", rows)))
    before = env.registry()
    assert {p.name for p in before.partners.values()} >= set(TRICKY_NAMES)

    out = tmp_path / f"export{suffix}"
    env.ok("export", str(out), "--as-of", "2018-06-01")
    again = env.ok("import", str(out))
    assert "partners: 0 new" in again.stdout and "agreements: 0 new, 0 updated" in again.stdout
    assert env.registry() == before


def test_csv_guard_is_undone_exactly() -> None:
    for text in [*TRICKY_NAMES, "'", "''", "plain", "", "'a"]:
        guarded = guard_csv_text(text)
        assert unguard_csv_text(guarded) == text
        assert not guarded.startswith(("=", "+", "-", "@"))  # never a formula in Excel


# -- new partner ids are allocated in linear time -----------------------------------------------
def test_colliding_partner_ids_cost_linear_work() -> None:
    def tries(n: int) -> int:
        ids = PartnerIds({"town", "town-3"})
        allocated = [ids.allocate("Town", "TH") for _ in range(n)]
        assert len(set(allocated)) == n and "town-3" not in allocated
        assert allocated[:3] == ["town-2", "town-4", "town-5"]
        return ids.tries

    assert tries(40_000) <= 40_000 + 2  # one try per id, plus the two ids already taken
    assert tries(40_000) <= 10 * tries(4_000) + 2  # ten times the ids: ten times the work


def test_import_of_40000_new_partners(env: Env, tmp_path: Path) -> None:
    rows = [row(name=f"Town {i:05d}", local_party="Chiang Mai Province") for i in range(40_000)]
    result = env.ok("import", str(write_csv(tmp_path / "many.csv", rows)))
    assert "partners: 40000 new" in result.stdout
    assert len(env.registry().partners) == 40_002  # and the two of the dataset
