"""Corrections end to end through the real CLI (SPEC `load` notes, `show`, `remove`, `end`,
"Install and run"): a corrected record is one record, a removed or ended one is never
reminded of again, a local party is one party in either language, and what `load` did is
never undone by a later command. Real SQLite, a real SMTP server on loopback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import Project, body_text
from smtpserver import SmtpTestServer

CHENGDU = """
[[local_party]]
id = "chiang-mai-province"
name = "Chiang Mai Province"
name_th = "จังหวัดเชียงใหม่"

[[partner]]
id = "chengdu"
name = "Chengdu"
name_th = "เฉิงตู"
country = "CN"

  [[partner.agreement]]
  {agreement_id}
  kind = "sister-city"
  signed_on = {signed_on}
  local_party = "{local_party}"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def chengdu(project: Project, name: str, *, signed_on: str = "2015-06-10",
            local_party: str = "Chiang Mai Province", agreement_id: str = "") -> Path:
    line = f'id = "{agreement_id}"' if agreement_id else ""
    return write(project.root / name, CHENGDU.format(
        agreement_id=line, signed_on=signed_on, local_party=local_party))


def db_rows(project: Project, sql: str) -> list[tuple]:
    with sqlite3.connect(project.db_path) as conn:
        return conn.execute(sql).fetchall()


def load(project: Project, path: Path) -> None:
    result = project.cli("load", str(path))
    assert result.exit_code == 0, result.stdout + result.stderr


def shown(project: Project, partner: str) -> dict:
    result = project.cli("show", partner, "--json", "--as-of", "2018-06-05")
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def mentions(server: SmtpTestServer, *words: str) -> list[str]:
    """The recipients of the emails whose text names any of `words`."""
    return [m.rcpt_tos[0] for m in server.messages
            if any(w in body_text(m.message) for w in words)]


def test_a_corrected_signing_date_loaded_by_id_leaves_one_agreement(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    assert project.cli("partners").exit_code == 0  # first use: the test registry
    load(project, chengdu(project, "first.toml"))
    listed = shown(project, "chengdu")["agreements"]
    assert [(a["id"], a["date"]) for a in listed] == [("sister-city-2015-06-10", "2015-06-10")]
    # the clerk corrects the date, naming the agreement by the id `show` gave
    load(project, chengdu(project, "fixed.toml", signed_on="2015-06-12",
                          agreement_id="sister-city-2015-06-10"))
    listed = shown(project, "Chengdu")["agreements"]
    assert [(a["id"], a["date"]) for a in listed] == [("sister-city-2015-06-10", "2015-06-12")]
    # loading the corrected file again changes nothing
    again = project.cli("load", str(project.root / "fixed.toml"))
    assert "nothing changed" in again.stdout
    # the next digest lists the one agreement, on its corrected date (the 7-day stage)
    assert project.cli("run", "anniversaries", "--as-of", "2018-06-05").exit_code == 0
    cn_lead = [m.message for m in smtp_server.messages if m.rcpt_tos[0] == "cn-lead@example.org"]
    assert len(cn_lead) == 1
    text = body_text(cn_lead[0])
    assert "12 มิ.ย. 2561" in text and "10 มิ.ย. 2561" not in text


def test_an_explicit_id_matches_whatever_else_changed(project: Project) -> None:
    assert project.cli("partners").exit_code == 0
    load(project, chengdu(project, "a.toml", agreement_id="sister-city-2015"))
    load(project, chengdu(project, "b.toml", agreement_id="sister-city-2015",
                          signed_on="2015-06-12"))
    assert db_rows(project, "SELECT ref, signed_on FROM agreements WHERE partner_id = 'chengdu'"
                   ) == [("sister-city-2015", "2015-06-12")]


def test_removed_agreement_is_never_reminded_and_the_audit_keeps_it(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    assert project.cli("partners").exit_code == 0
    load(project, chengdu(project, "chengdu.toml"))
    unknown = project.cli("remove", "agreement", "chengdu", "mou-1999-01-01")
    assert unknown.exit_code == 2 and 'chengdu has no agreement "mou-1999-01-01"' in unknown.stderr
    removed = project.cli("remove", "agreement", "chengdu", "sister-city-2015-06-10")
    assert removed.exit_code == 0, removed.stderr
    assert shown(project, "chengdu")["agreements"] == []
    assert project.cli("run", "anniversaries", "--as-of", "2018-06-05").exit_code == 0
    assert mentions(smtp_server, "Chengdu", "เฉิงตู") == []
    audit = db_rows(project, "SELECT who, action, target, details FROM audit "
                    "WHERE action = 'remove-agreement'")
    assert [(who, action, target) for who, action, target, _ in audit] == [
        ("cli", "remove-agreement", "chengdu/sister-city-2015-06-10")]
    assert json.loads(audit[0][3])["signed_on"] == "2015-06-10"


def test_an_ended_relation_gets_no_reminder_of_any_job_from_its_end(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    assert project.cli("partners").exit_code == 0
    load(project, chengdu(project, "chengdu.toml"))
    # before the end: the anniversary is announced and Chengdu is dormant
    assert project.cli("run", "--as-of", "2018-06-05").exit_code == 0
    assert "cn-lead@example.org" in mentions(smtp_server, "Chengdu", "เฉิงตู")
    ended = project.cli("end", "เฉิงตู", "--on", "2018-06-08", "--reason", "Partner withdrew")
    assert ended.exit_code == 0, ended.stderr
    before = len(smtp_server.messages)
    # the anniversary's last stage and every other job, on and after the end: nothing
    for day in ("2018-06-08", "2018-06-12", "2018-09-10", "2018-11-14"):
        assert project.cli("run", "--as-of", day).exit_code == 0
    later = smtp_server.messages[before:]
    assert len(later) > 0  # the other partners' reminders and the meeting's agenda go on
    assert [m.rcpt_tos[0] for m in later
            if any(w in body_text(m.message) for w in ("Chengdu", "เฉิงตู"))] == []
    assert shown(project, "chengdu")["ended_on"] == "2018-06-08"
    listed = json.loads(project.cli("partners", "--json", "--as-of", "2018-06-12").stdout)
    chengdu_now = next(p for p in listed if p["id"] == "chengdu")
    assert (chengdu_now["ended_on"], chengdu_now["dormant"]) == ("2018-06-08", False)
    table = project.cli("partners", "--as-of", "2018-06-12")
    assert next(line for line in table.stdout.splitlines() if "chengdu" in line).rstrip() \
        .endswith("ended")
    # the agenda the `agenda` command shows is the one a run would send: Chengdu left out
    agenda = project.cli("agenda", "summary", "--as-of", "2018-06-12")
    assert agenda.exit_code == 0, agenda.stderr
    assert "Chengdu" not in agenda.stdout and "เฉิงตู" not in agenda.stdout
    assert db_rows(project, "SELECT who, action, target FROM audit WHERE action = "
                   "'end-relation'") == [("cli", "end-relation", "chengdu")]


def test_activity_add_takes_the_id_or_either_name_in_any_case(project: Project) -> None:
    assert project.cli("partners").exit_code == 0
    load(project, chengdu(project, "chengdu.toml"))
    for i, name in enumerate(("chengdu", "CHENGDU", "เฉิงตู", " Chengdu ")):
        done = project.cli("activity", "add", name, "--date", f"2018-0{i + 1}-02",
                           "--title", "Visit")
        assert done.exit_code == 0, done.stderr
        assert done.stdout.startswith("recorded: chengdu")
    unknown = project.cli("activity", "add", "Atlantis", "--date", "2018-01-02", "--title", "x")
    assert unknown.exit_code == 2 and 'unknown partner "Atlantis"' in unknown.stderr
    typo = project.cli("activity", "add", "chengdu", "--date", "22/08/2599", "--title", "x")
    assert typo.exit_code == 2, typo.stderr  # BE 2599 is CE 2056: a typo for 2559?
    assert "--date: 2056-08-22 is more than a year after today" in typo.stderr
    activities = shown(project, "chengdu")["activities"]
    assert [a["id"] for a in activities] == [
        "other-2018-01-02", "other-2018-02-02", "other-2018-03-02", "other-2018-04-02"]
    assert db_rows(project, "SELECT count(*) FROM audit WHERE action = 'add-activity' "
                   "AND who = 'cli'") == [(4,)]
    removed = project.cli("remove", "activity", "Chengdu", "other-2018-02-02")
    assert removed.exit_code == 0, removed.stderr
    assert len(shown(project, "chengdu")["activities"]) == 3


def test_the_thai_name_of_a_local_party_is_the_same_party(project: Project) -> None:
    assert project.cli("partners").exit_code == 0
    load(project, chengdu(project, "chengdu.toml", signed_on="2015-03-30"))
    # by load: the same agreement under the party's Thai name, or its id
    load(project, chengdu(project, "th.toml", signed_on="2015-03-30",
                          local_party="จังหวัดเชียงใหม่"))
    load(project, chengdu(project, "id.toml", signed_on="2015-03-30",
                          local_party="chiang-mai-province"))
    # by import: a row of 30/03/2558 signed by จังหวัดเชียงใหม่
    sheet = project.root / "agreements.csv"
    sheet.write_text(
        "local party,partner name (English),partner name (Thai),country,kind,signed on\r\n"
        "จังหวัดเชียงใหม่,Chengdu,เฉิงตู,CN,sister-city,30/03/2558\r\n", encoding="utf-8-sig")
    for dry_run in (("--dry-run",), ()):
        imported = project.cli("import", str(sheet), *dry_run)
        assert imported.exit_code == 0, imported.stdout + imported.stderr
        assert "agreements: 0 new, 0 updated, 1 unchanged" in imported.stdout, dry_run
    assert db_rows(project, "SELECT local_party, signed_on FROM agreements "
                   "WHERE partner_id = 'chengdu'") == [("Chiang Mai Province", "2015-03-30")]


MEETING_ONLY = """
[[contact]]
id = "staff"
name = "Staff"
email = "staff@example.org"
role = "staff"

[[meeting]]
id = "summary"
title = "Summary meeting"
starts_at = 2018-11-15T{time}:00
"""


def test_what_load_did_is_never_undone_by_a_later_command(project: Project) -> None:
    bundled = write(project.root / "configured.toml", MEETING_ONLY.format(time="09:30"))
    project.write_config(data={"files": [str(bundled)]})
    assert project.cli("status").exit_code == 0  # first use: the configured file, once
    assert db_rows(project, "SELECT dtstart FROM meetings") == [("2018-11-15 09:30:00.000000",)]
    load(project, write(project.root / "moved.toml", MEETING_ONLY.format(time="13:30")))
    for command in (("status",), ("partners",), ("outbox",), ("init",),
                    ("run", "--dry-run", "--as-of", "2018-11-01")):
        result = project.cli(*command)
        assert result.exit_code in (0, 1), result.stderr
        assert db_rows(project, "SELECT dtstart FROM meetings") == [
            ("2018-11-15 13:30:00.000000",)], command


def test_load_as_the_first_command_is_not_overlaid_by_the_configured_files(
    project: Project,
) -> None:
    load(project, write(project.root / "mine.toml", MEETING_ONLY.format(time="13:30")))
    assert project.cli("partners").exit_code == 0
    assert db_rows(project, "SELECT count(*) FROM partners") == [(0,)]
    assert db_rows(project, "SELECT id FROM meetings") == [("summary",)]


def test_a_dry_run_may_load_the_dataset_but_records_no_run_or_message(project: Project) -> None:
    result = project.cli("run", "--dry-run", "--as-of", "2018-03-03")
    assert result.exit_code == 0, result.stderr
    assert db_rows(project, "SELECT count(*) FROM partners") == [(3,)]
    assert db_rows(project, "SELECT count(*) FROM runs") == [(0,)]
    assert db_rows(project, "SELECT count(*) FROM messages") == [(0,)]


def test_agreements_stored_under_the_thai_name_match_once_the_party_is_declared(
    project: Project,
) -> None:
    """Stored before the office declared its `[[local_party]]`: then loaded again under the
    English name, it stays one agreement."""
    assert project.cli("partners").exit_code == 0
    thai = chengdu(project, "th.toml", signed_on="2015-03-30", local_party="จังหวัดเชียงใหม่")
    undeclared = thai.read_text(encoding="utf-8").split("[[partner]]")[1]
    load(project, write(project.root / "old.toml", "[[partner]]" + undeclared))
    load(project, chengdu(project, "en.toml", signed_on="2015-03-30"))
    assert db_rows(project, "SELECT local_party FROM agreements WHERE partner_id = 'chengdu'"
                   ) == [("จังหวัดเชียงใหม่",)]


def test_a_correction_onto_another_agreement_is_refused_and_changes_nothing(
    project: Project,
) -> None:
    assert project.cli("partners").exit_code == 0
    load(project, chengdu(project, "a.toml", signed_on="2015-06-10"))
    load(project, chengdu(project, "b.toml", signed_on="2015-06-12"))
    clash = project.cli("load", str(chengdu(project, "c.toml", signed_on="2015-06-12",
                                            agreement_id="sister-city-2015-06-10")))
    assert clash.exit_code == 2
    assert ('chengdu: "sister-city-2015-06-10" would become the same as '
            '"sister-city-2015-06-12"') in clash.stderr
    assert "Traceback" not in clash.stderr
    assert db_rows(project, "SELECT ref, signed_on FROM agreements WHERE partner_id = "
                   "'chengdu' ORDER BY ref") == [("sister-city-2015-06-10", "2015-06-10"),
                                                 ("sister-city-2015-06-12", "2015-06-12")]
