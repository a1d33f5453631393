"""Dataset loading, the bundled Chiang Mai data, `partners` and `activity add`, via the CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import REPO, TEST_DATA, Project
from sqlalchemy import text as sqlalchemy_text


def partners_json(project: Project, *args: str) -> dict[str, dict]:
    result = project.cli("partners", "--json", *args)
    assert result.exit_code == 0, result.output + result.stderr
    return {p["id"]: p for p in json.loads(result.stdout)}


def table_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in (
                "contacts",
                "partners",
                "agreements",
                "activities",
                "budget_deadlines",
                "meetings",
                "working_groups",
            )
        }


def test_bundled_chiang_mai_data(project: Project) -> None:
    project.write_config(data={"files": [str(REPO / "data" / "chiang-mai.toml")]})
    partners = partners_json(project, "--as-of", "2017-11-15")
    assert len(partners) == 13
    countries = {p["country"] for p in partners.values()}
    assert countries == {"CN", "JP", "ID", "TR", "MM", "KR"}
    assert partners["chengdu"]["agreements"][0] == {
        "id": "sister-city-2015-03-30",  # derived: kind and signing date
        "kind": "sister-city",
        "signed_on": "2015-03-30",
        "local_party": "Chiang Mai Province",
        "expires_on": None,
    }
    assert partners["kengtung"]["working_group"] == "myanmar"
    assert partners["seongnam"]["working_group"] == "japan-korea"
    expected_dates = {
        "chongqing": "2008-09-19",
        "qingdao": "2008-04-01",
        "shanghai": "2000-04-02",
        "xishuangbanna": "2012-05-15",
        "meishan": "2017-07-01",
        "hainan": "2017-09-06",
        "sapporo": "2013-02-26",
        "kyoto": "2017-09-28",
        "yogyakarta": "2007-09-04",
        "bursa": "2013-01-15",
        "kengtung": "2014-10-09",
        "seongnam": "2016-03-23",
    }
    for pid, signed in expected_dates.items():
        assert partners[pid]["agreements"][0]["signed_on"] == signed
    for pid in ("yogyakarta", "bursa", "seongnam"):
        assert partners[pid]["dormant"] is True, pid
    for pid in ("meishan", "hainan"):
        assert partners[pid]["dormant"] is False, pid


def test_buddhist_era_as_of_is_the_same_day(project: Project) -> None:
    assert partners_json(project, "--as-of", "2560-11-15") == partners_json(
        project, "--as-of", "2017-11-15"
    )


def test_bad_as_of_is_a_usage_error(project: Project) -> None:
    result = project.cli("partners", "--as-of", "2019-02-30")
    assert result.exit_code == 2
    assert "2019-02-30 is not a date" in result.stderr


def test_activity_add_ends_dormancy(project: Project) -> None:
    before = partners_json(project, "--as-of", "2018-06-01")
    assert before["suwon"]["dormant"] is True
    result = project.cli(
        "activity",
        "add",
        "suwon",
        "--date",
        "2018-05-20",
        "--title",
        "Smart-city delegation",
        "--kind",
        "visit",
    )
    assert result.exit_code == 0, result.stderr
    after = partners_json(project, "--as-of", "2018-06-01")
    assert after["suwon"]["dormant"] is False
    assert after["suwon"]["last_activity"] == "2018-05-20"
    # an activity after as_of has not happened yet
    assert partners_json(project, "--as-of", "2018-05-19")["suwon"]["dormant"] is True
    again = project.cli(
        "activity", "add", "suwon", "--date", "2018-05-20", "--title", "Smart-city delegation"
    )
    assert "already recorded" in again.stdout
    assert table_counts(project.db_path)["activities"] == 2


def test_activity_add_unknown_partner(project: Project) -> None:
    result = project.cli("activity", "add", "atlantis", "--date", "2018-05-20", "--title", "x")
    assert result.exit_code == 2
    assert 'unknown partner "atlantis"' in result.stderr


BAD_DATASET = """
[[contact]]
id = "lead"
name = "Lead"
email = "not-an-email"
language = "th"
role = "lead"

[[contact]]
id = "lead"
name = "Twin"
email = "twin@example.org"
role = "staff"

[[working_group]]
id = "g"
name = "G"
lead = "nobody"
countries = ["XX"]

[[partner]]
id = "p"
name = "P"
country = "CN"
colour = "blue"

  [[partner.agreement]]
  kind = "treaty"
  signed_on = "2019-02-30"
"""


def test_bad_dataset_refused_whole(project: Project, tmp_path: Path) -> None:
    assert project.cli("init").exit_code == 0
    before = table_counts(project.db_path)
    bad = tmp_path / "bad.toml"
    good_part = (TEST_DATA / "testcity.toml").read_text(encoding="utf-8")
    bad.write_text(BAD_DATASET, encoding="utf-8")
    extra = tmp_path / "extra.toml"
    extra.write_text(good_part.replace('id = "leapcity"', 'id = "leapcity2"'), encoding="utf-8")
    result = project.cli("load", str(extra), str(bad))
    assert result.exit_code == 2
    err = result.stderr
    assert 'bad.toml: contact[0].email: "not-an-email" is not an email address' in err
    assert 'bad.toml: contact[1].id: duplicate contact id "lead"' in err
    assert 'bad.toml: working_group[0].countries: "XX" is not an ISO 3166-1' in err
    assert "bad.toml: partner[0].colour: unknown key" in err
    assert "bad.toml: partner[0].agreement[0].kind: expected one of" in err
    assert "bad.toml: partner[0].agreement[0].signed_on: expected a TOML date" in err
    assert 'lead: unknown contact "nobody"' in err
    assert "Traceback" not in err
    assert table_counts(project.db_path) == before  # the good file was not loaded either


def test_invalid_toml_names_the_line(project: Project, tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('[[partner]]\nid = "x"\nsigned_on = 2019-02-30\n', encoding="utf-8")
    result = project.cli("load", str(bad))
    assert result.exit_code == 2
    assert "broken.toml: not valid TOML" in result.stderr and "line 3" in result.stderr


@pytest.mark.parametrize("text", ["Bad\r\nBcc: x@example.org", "Nul\x00", "Evil\u202ename"])
def test_control_characters_in_text_are_refused(
    project: Project, tmp_path: Path, text: str
) -> None:
    bad = tmp_path / "ctl.toml"
    bad.write_text(f'[[working_group]]\nid = "g"\nname = {json.dumps(text)}\n', encoding="utf-8")
    result = project.cli("load", str(bad))
    assert result.exit_code == 2
    assert "ctl.toml: working_group[0].name: contains a control character" in result.stderr


def test_load_twice_changes_nothing_and_keeps_added_activities(project: Project) -> None:
    data = str(TEST_DATA / "testcity.toml")
    assert project.cli("init").exit_code == 0
    project.cli("activity", "add", "osaka", "--date", "2018-03-01", "--title", "Visit")
    before = table_counts(project.db_path)
    result = project.cli("load", data)
    assert result.exit_code == 0
    assert "nothing changed" in result.stdout
    assert table_counts(project.db_path) == before


def test_load_updates_by_id_and_never_deletes(project: Project, tmp_path: Path) -> None:
    assert project.cli("init").exit_code == 0
    update = tmp_path / "update.toml"
    update.write_text(
        '[[partner]]\nid = "osaka"\nname = "Osaka City"\ncountry = "JP"\n'
        '  [[partner.agreement]]\n  kind = "mou"\n  signed_on = 2018-02-01\n',
        encoding="utf-8",
    )
    result = project.cli("load", str(update))
    assert result.exit_code == 0, result.stderr
    partners = partners_json(project, "--as-of", "2018-03-01")
    osaka = partners["osaka"]
    assert osaka["name"] == "Osaka City"
    assert osaka["name_th"] == "โอซากา"  # not mentioned: kept
    assert [a["kind"] for a in osaka["agreements"]] == ["loi", "mou"]
    assert len(partners) == 3


def test_init_reports_and_is_idempotent(project: Project) -> None:
    first = project.cli("init")
    assert (
        first.exit_code == 0 and "schema created" in first.stdout and "3 partners" in first.stdout
    )
    second = project.cli("init")
    assert second.exit_code == 0 and "schema current" in second.stdout


def test_newer_schema_is_refused(project: Project) -> None:
    assert project.cli("init").exit_code == 0
    with sqlite3.connect(project.db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    result = project.cli("partners")
    assert result.exit_code == 2
    assert "newer than this version" in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty.toml: the file holds no records"),
        (b"\xff\xfe\x00binary\x00", "empty.toml: not UTF-8 text"),
        ('[[partner]]\nid = "x"\n'.encode("utf-16"), "empty.toml: not UTF-8 text"),
    ],
)
def test_empty_and_binary_files_are_refused(project: Project, tmp_path: Path, content: bytes,
                                            expected: str) -> None:
    assert project.cli("init").exit_code == 0
    before = table_counts(project.db_path)
    path = tmp_path / "empty.toml"
    path.write_bytes(content)
    result = project.cli("load", str(path))
    assert result.exit_code == 2
    assert expected in result.stderr
    assert table_counts(project.db_path) == before



def test_a_partner_in_two_files_of_one_load_is_refused(project: Project, tmp_path: Path) -> None:
    assert project.cli("init").exit_code == 0
    files = [tmp_path / "a.toml", tmp_path / "b.toml"]
    for f in files:
        f.write_text('[[partner]]\nid = "osaka"\nname = "Osaka"\ncountry = "JP"\n',
                     encoding="utf-8")
    result = project.cli("load", *map(str, files))
    assert result.exit_code == 2
    assert 'b.toml: partner[0].id: duplicate partner id "osaka" (first at a.toml' in result.stderr


def test_the_same_agreement_twice_in_one_upsert_is_stored_once(tmp_path: Path) -> None:
    import datetime as dt

    from scheduler.db.database import Database
    from scheduler.registry.domain import Agreement, AgreementKind
    from scheduler.registry.store import upsert_agreements

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.ensure_schema()
    first = Agreement(AgreementKind.MOU, dt.date(2019, 5, 1), areas=("tourism",))
    second = Agreement(AgreementKind.MOU, dt.date(2019, 5, 1), areas=("tourism", "education"))
    with db.write() as session:
        session.execute(sqlalchemy_text(
            "INSERT INTO partners (id, name, name_th, country, city) "
            "VALUES ('osaka', 'Osaka', '', 'JP', '')"))
        counts = upsert_agreements(session, [("osaka", first), ("osaka", second)])
    assert counts.created == 1
    with sqlite3.connect(tmp_path / "x.db") as conn:
        rows = conn.execute("SELECT areas FROM agreements").fetchall()
    assert [json.loads(r[0]) for r in rows] == [["tourism", "education"]]


def test_one_rrule_reader_for_load_and_planning() -> None:
    import datetime as dt

    from scheduler.dates.recurrence import parse_rule

    start = dt.datetime(2018, 1, 15, 9, 30)
    rule = parse_rule("RRULE:FREQ=YEARLY;COUNT=3", start)
    assert list(rule) == [start.replace(year=y) for y in (2018, 2019, 2020)]
    with pytest.raises(ValueError, match=r'^"FREQ=SOMETIMES" is not an RFC 5545 RRULE: '):
        parse_rule("FREQ=SOMETIMES", start)


RECORD_IDS = """
[[local_party]]
id = "cmu"
name = "Chiang Mai University"

[[partner]]
id = "kunming"
name = "Kunming"
country = "CN"
ended_on = 2024-05-01
end_reason = "Not renewed"

  [[partner.agreement]]
  id = "mou-2019"
  kind = "mou"
  signed_on = 2019-05-01
  local_party = "cmu"

  [[partner.agreement]]
  id = "mou-2019"
  kind = "mou"
  signed_on = 2019-06-01

  [[partner.agreement]]
  id = "Not A Slug"
  kind = "loi"
  signed_on = 2018-06-01

  [[partner.activity]]
  id = "visit"
  date = 2019-07-01
  title = "Visit"

  [[partner.activity]]
  id = "visit"
  date = 2019-08-01
  title = "Second visit"
"""


def test_record_ids_are_slugs_unique_within_their_partner(project: Project,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "ids.toml"
    path.write_text(RECORD_IDS, encoding="utf-8")
    result = project.cli("load", str(path))
    assert result.exit_code == 2
    assert "refused: 3 problems" in result.stderr
    assert 'ids.toml: partner[0].agreement[1].id: duplicate agreement id "mou-2019" within ' \
        "this partner" in result.stderr
    assert 'ids.toml: partner[0].agreement[2].id: "Not A Slug" is not a lowercase slug' \
        in result.stderr
    assert 'ids.toml: partner[0].activity[1].id: duplicate activity id "visit"' in result.stderr
    fixed = RECORD_IDS.replace('id = "mou-2019"\n  kind = "mou"\n  signed_on = 2019-06-01',
                               'id = "mou-2019-b"\n  kind = "mou"\n  signed_on = 2019-06-01')
    fixed = fixed.replace("Not A Slug", "loi").replace('id = "visit"\n  date = 2019-08-01',
                                                      'id = "visit-2"\n  date = 2019-08-01')
    path.write_text(fixed, encoding="utf-8")
    loaded = project.cli("load", str(path))
    assert loaded.exit_code == 0, loaded.stderr
    shown = json.loads(project.cli("show", "kunming", "--json", "--as-of", "2024-01-01").stdout)
    assert [(a["id"], a["what"]) for a in shown["agreements"]] == [
        ("loi", "Chiang Mai Province"), ("mou-2019", "Chiang Mai University"),
        ("mou-2019-b", "Chiang Mai Province")]
    assert [a["id"] for a in shown["activities"]] == ["visit", "visit-2"]
    assert (shown["ended_on"], shown["end_reason"]) == ("2024-05-01", "Not renewed")
    listed = partners_json(project, "--as-of", "2024-01-01")["kunming"]
    assert listed["ended_on"] == "2024-05-01"
    assert [a["id"] for a in listed["agreements"]] == ["loi", "mou-2019", "mou-2019-b"]
