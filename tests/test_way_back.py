"""SPEC "The way back", the core: what a link's page shows (`describe`), what its button does
(`perform`) to the registry, the acknowledgements table and the audit log, and what the
planners then leave out. Through the service and a real SQLite database; the runs through the
CLI against a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Project, body_text
from smtpserver import SmtpTestServer

from scheduler.config import Settings, load_settings
from scheduler.db.database import Database
from scheduler.errors import UserError
from scheduler.links import ActionClaim, LinkAction
from scheduler.services import actions
from scheduler.services.audit import entries

NOW = dt.datetime(2018, 3, 5, 3, 0, tzinfo=dt.UTC)  # 10:00 in Bangkok
LEAP_SPELL = dt.date(2016, 2, 29)  # leapcity: silent since its signing
SUWON_SPELL = dt.date(2013, 3, 10)
SUWON_MOU = "suwon/mou/2013-03-10/"  # + the local party's hash, see _suwon_item


@pytest.fixture
def setup(project: Project) -> Iterator[tuple[Database, Settings]]:
    assert project.cli("init").exit_code == 0
    settings = load_settings(str(project.config))
    db = Database(settings.database_url)
    yield db, settings
    db.dispose()


def claim(job: str, item: str, occurrence: dt.date, action: LinkAction,
          recipient: str = "cn-lead@example.org") -> ActionClaim:
    return ActionClaim(recipient, job, item, occurrence, action, NOW - dt.timedelta(days=2))


def rows(project: Project, sql: str) -> list[tuple]:
    with sqlite3.connect(project.db_path) as conn:
        return conn.execute(sql).fetchall()


def _suwon_item() -> str:
    from jobs.anniversaries import agreement_item
    from scheduler.registry.domain import Agreement, AgreementKind, Partner

    mou = Agreement(AgreementKind.MOU, dt.date(2013, 3, 10), "Chiang Mai Province")
    return agreement_item(Partner("suwon", "Suwon", country="KR"), mou)


# ---- describe ---------------------------------------------------------------------------


def test_describe_names_the_item_in_the_readers_language_and_changes_nothing(
    project: Project, setup: tuple[Database, Settings]
) -> None:
    db, settings = setup
    thai = actions.describe(db, settings, claim("dormant-partners", "leapcity", LEAP_SPELL,
                                                LinkAction.RECORD), now=NOW)
    assert (thai.language, thai.kind, thai.name, thai.date, thai.partner_id, thai.done) == (
        "th", "dormant", "เมืองอธิกสุรทิน", LEAP_SPELL, "leapcity", None)
    english = actions.describe(
        db, settings, claim("anniversaries", _suwon_item(), dt.date(2018, 3, 10),
                            LinkAction.NO_ACTION, "jk-lead@example.org"), now=NOW)
    assert (english.language, english.kind, english.date) == (
        "en", "anniversary", dt.date(2018, 3, 10))
    assert english.name.startswith("Suwon: ") and "MOU" in english.name.upper()
    # Songkran: due 13 Apr 2018 (a holiday), so the email printed the act-by date, 12 Apr
    deadline = actions.describe(db, settings, claim("budget-deadlines", "plan",
                                                    dt.date(2018, 4, 13), LinkAction.DONE,
                                                    "staff@example.org"), now=NOW)
    assert (deadline.kind, deadline.date, deadline.name) == (
        "deadline", dt.date(2018, 4, 12), "ส่งแผนกิจกรรม ปีงบประมาณ 2562")
    assert rows(project, "SELECT count(*) FROM acknowledgements") == [(0,)]
    assert rows(project, "SELECT count(*) FROM audit WHERE who LIKE '%email link%'") == [(0,)]


def test_an_item_that_is_gone_or_an_action_not_offered_is_a_user_error(
    project: Project, setup: tuple[Database, Settings]
) -> None:
    db, settings = setup
    with pytest.raises(UserError, match="no longer exists"):
        actions.describe(db, settings, claim("dormant-partners", "atlantis", LEAP_SPELL,
                                             LinkAction.RECORD), now=NOW)
    with pytest.raises(UserError, match="no longer exists"):
        actions.describe(db, settings, claim("anniversaries", SUWON_MOU + "00000000",
                                             dt.date(2018, 3, 10), LinkAction.RECORD), now=NOW)
    with pytest.raises(UserError, match="no such action"):
        actions.perform(db, settings, claim("budget-deadlines", "plan", dt.date(2018, 4, 13),
                                            LinkAction.SNOOZE), now=NOW)
    assert rows(project, "SELECT count(*) FROM acknowledgements") == [(0,)]


# ---- perform ------------------------------------------------------------------------------


def test_record_adds_the_activity_once_with_an_audit_entry_naming_the_reader(
    project: Project, setup: tuple[Database, Settings]
) -> None:
    db, settings = setup
    record = claim("dormant-partners", "leapcity", LEAP_SPELL, LinkAction.RECORD)
    made = actions.perform(db, settings, record, now=NOW, date="1 มี.ค. 2561",
                           title="Video call with the mayor", kind="meeting")
    assert (made.recipient, made.action, made.at, made.until) == (
        "cn-lead@example.org", LinkAction.RECORD, NOW, None)
    assert made.activity_id
    assert rows(project, "SELECT date, title, kind, ref FROM activities "
                         "WHERE partner_id = 'leapcity'") == [
        ("2018-03-01", "Video call with the mayor", "meeting", made.activity_id)]
    # the same link again (a double click, a second visit): the same answer, nothing new
    again = actions.perform(db, settings, record, now=NOW + dt.timedelta(hours=1),
                            date="2018-03-02", title="Another", kind="")
    assert again == made
    # another reader's RECORD link of the same spell: already settled, by the first reader
    other = actions.describe(db, settings, claim("dormant-partners", "leapcity", LEAP_SPELL,
                                                 LinkAction.RECORD, "staff@example.org"),
                             now=NOW)
    assert other.done == made
    assert rows(project, "SELECT count(*) FROM activities WHERE partner_id = 'leapcity'") == [
        (1,)]
    mine = [e for e in entries(db) if e.who == "cn-lead@example.org (email link)"]
    assert len(mine) == 1 and mine[0].target == "leapcity"
    assert actions.acknowledgements(db) == [made]


@pytest.mark.parametrize(("date", "title", "kind", "message"), [
    ("", "Visit", "", "date: must not be empty"),
    ("31/02/2561", "Visit", "", "date: "),
    ("2030-01-01", "Visit", "", "date: "),
    ("2018-03-01", "  ", "", "title: must not be empty"),
    ("2018-03-01", "Visit\x1b[2J", "", "title: contains a control character"),
    ("2018-03-01", "Visit", "x\u202e", "kind: "),
])
def test_record_with_a_bad_field_names_it_and_changes_nothing(
    project: Project, setup: tuple[Database, Settings], date: str, title: str, kind: str,
    message: str,
) -> None:
    db, settings = setup
    record = claim("dormant-partners", "leapcity", LEAP_SPELL, LinkAction.RECORD)
    with pytest.raises(UserError) as caught:
        actions.perform(db, settings, record, now=NOW, date=date, title=title, kind=kind)
    assert caught.value.message.startswith(message)
    assert rows(project, "SELECT count(*) FROM activities WHERE partner_id = 'leapcity'") == [
        (0,)]
    assert rows(project, "SELECT count(*) FROM acknowledgements") == [(0,)]
    assert rows(project, "SELECT count(*) FROM audit WHERE who LIKE '%email link%'") == [(0,)]


def test_snooze_lasts_repeat_days_from_the_local_day_of_the_snooze(
    project: Project, setup: tuple[Database, Settings]
) -> None:
    db, settings = setup
    late = dt.datetime(2018, 3, 4, 20, 0, tzinfo=dt.UTC)  # already 5 Mar in Bangkok
    made = actions.perform(db, settings, claim("dormant-partners", "suwon", SUWON_SPELL,
                                               LinkAction.SNOOZE, "jk-lead@example.org"),
                           now=late)
    assert made.until == dt.date(2018, 3, 5) + dt.timedelta(days=90)
    assert rows(project, "SELECT recipient, job, item, occurrence, action, until "
                         "FROM acknowledgements") == [
        ("jk-lead@example.org", "dormant-partners", "suwon", "2013-03-10", "snooze",
         "2018-06-03")]
    (entry,) = [e for e in entries(db) if e.who.endswith("(email link)")]
    assert (entry.who, entry.action.value, entry.details["until"]) == (
        "jk-lead@example.org (email link)", "snooze", "2018-06-03")
    # the snooze is this reader's: staff's link of the same partner is not done
    staff = actions.describe(db, settings, claim("dormant-partners", "suwon", SUWON_SPELL,
                                                 LinkAction.SNOOZE, "staff@example.org"),
                             now=NOW)
    assert staff.done is None


def test_done_and_no_action_are_recorded_with_their_audit_entries(
    project: Project, setup: tuple[Database, Settings]
) -> None:
    db, settings = setup
    actions.perform(db, settings, claim("budget-deadlines", "plan", dt.date(2018, 4, 13),
                                        LinkAction.DONE, "staff@example.org"), now=NOW)
    actions.perform(db, settings, claim("anniversaries", _suwon_item(), dt.date(2018, 3, 10),
                                        LinkAction.NO_ACTION, "jk-lead@example.org"), now=NOW)
    listed = actions.acknowledgements(db)
    assert [(a.action, a.recipient, a.item_name) for a in listed] == [
        (LinkAction.NO_ACTION, "jk-lead@example.org", "Suwon: MOU"),
        (LinkAction.DONE, "staff@example.org", "Submit the FY2562 activity plan"),
    ]
    audited = {(e.who, e.action.value) for e in entries(db) if e.who.endswith("(email link)")}
    assert audited == {("staff@example.org (email link)", "done"),
                       ("jk-lead@example.org (email link)", "no-action")}


def test_record_on_an_anniversary_adds_the_activity_to_its_partner(
    project: Project, setup: tuple[Database, Settings]
) -> None:
    db, settings = setup
    made = actions.perform(db, settings, claim("anniversaries", _suwon_item(),
                                               dt.date(2018, 3, 10), LinkAction.RECORD,
                                               "jk-lead@example.org"),
                           now=NOW, date="2018-03-10", title="5th anniversary reception")
    assert rows(project, "SELECT title, kind FROM activities WHERE partner_id = 'suwon'") == [
        ("5th anniversary reception", "other")]
    assert made.activity_id is not None


def test_migration_0009_makes_the_table_with_its_indexes(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect

    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.ensure_schema()
    names = {i["name"] for i in inspect(create_engine(db.url)).get_indexes("acknowledgements")}
    assert {"ix_acknowledgements_plan", "ix_acknowledgements_at"} <= names
    db.dispose()

# ---- the runs honour them (the CLI's `run`, a real SMTP server) ----------------------------


def sent(server: SmtpTestServer, job: str) -> dict[str, str]:
    """Recipient → the text of the email of `job` the server received, then forgotten."""
    found = {m.rcpt_tos[0]: body_text(m.message) for m in server.messages
             if m.message["X-Sistercity-Job"] == job}
    server.reset()
    return found


def run(project: Project, job: str, as_of: str) -> None:
    result = project.cli("run", job, "--as-of", as_of)
    assert result.exit_code == 0, result.output


def test_after_a_snooze_one_reader_hears_nothing_of_the_partner_the_others_still_do(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    run(project, "dormant-partners", "2018-03-05")
    first = sent(smtp_server, "dormant-partners")
    assert "Suwon" in first["jk-lead@example.org"] and "ซูวอน" in first["staff@example.org"]
    settings = load_settings(str(project.config))
    db = Database(settings.database_url)
    snoozed_at = dt.datetime(2018, 3, 20, 3, 0, tzinfo=dt.UTC)  # until 18 Jun 2018
    actions.perform(db, settings, claim("dormant-partners", "suwon", SUWON_SPELL,
                                        LinkAction.SNOOZE, "jk-lead@example.org"),
                    now=snoozed_at)
    db.dispose()
    # 91 days later every reader is due again; the one who snoozed Suwon is not told of it
    run(project, "dormant-partners", "2018-06-04")
    repeat = sent(smtp_server, "dormant-partners")
    assert "Suwon" not in repeat["jk-lead@example.org"]
    assert "Osaka" in repeat["jk-lead@example.org"]  # the other partners still are
    assert "ซูวอน" in repeat["staff@example.org"]
    assert "ซูวอน" in repeat["cn-lead@example.org"]
    # the snooze is over: Suwon comes back to that reader
    run(project, "dormant-partners", "2018-06-18")
    back = sent(smtp_server, "dormant-partners")
    assert list(back) == ["jk-lead@example.org"] and "Suwon" in back["jk-lead@example.org"]
    assert "Osaka" not in back["jk-lead@example.org"]  # told on 4 Jun: not due again yet


def test_after_done_no_further_stage_of_the_deadline_reaches_anyone(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    run(project, "budget-deadlines", "2018-02-12")  # the 60-day stage of 12 Apr (act-by)
    first = sent(smtp_server, "budget-deadlines")
    assert set(first) == {"cn-lead@example.org", "jk-lead@example.org", "staff@example.org"}
    settings = load_settings(str(project.config))
    db = Database(settings.database_url)
    actions.perform(db, settings, claim("budget-deadlines", "plan", dt.date(2018, 4, 13),
                                        LinkAction.DONE, "jk-lead@example.org"), now=NOW)
    db.dispose()
    for as_of in ("2018-03-13", "2018-04-05", "2018-04-11", "2018-04-12"):  # 30, 7, 1, 0
        run(project, "budget-deadlines", as_of)
        assert sent(smtp_server, "budget-deadlines") == {}, as_of
    assert rows(project, "SELECT count(*) FROM notices WHERE job = 'budget-deadlines' "
                         "AND as_of > '2018-02-12'") == [(0,)]


def test_after_record_the_next_runs_send_nothing_about_the_partner(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.write_config(email={"transport": "smtp"},
                         smtp={"host": smtp_server.host, "port": smtp_server.port},
                         **{"jobs.dormant-partners": {"repeat_days": 7}})
    run(project, "dormant-partners", "2018-03-05")
    assert "เมืองอธิกสุรทิน" in sent(smtp_server, "dormant-partners")["staff@example.org"]
    settings = load_settings(str(project.config))
    db = Database(settings.database_url)
    # what was planned, a visit next month: the spell ends for everyone all the same
    actions.perform(db, settings, claim("dormant-partners", "leapcity", LEAP_SPELL,
                                        LinkAction.RECORD), now=NOW,
                    date="2018-04-20", title="Delegation visit to Leap City")
    db.dispose()
    # weekly repeats: before the visit's date as well as after it
    for as_of in ("2018-03-12", "2018-04-16", "2018-06-04"):
        run(project, "dormant-partners", as_of)
        texts = sent(smtp_server, "dormant-partners")
        assert texts, as_of  # the others are still reminded
        assert not any("เมืองอธิกสุรทิน" in t or "Leap City" in t for t in texts.values()), as_of
    assert rows(project, "SELECT count(*) FROM notices WHERE item = 'leapcity' "
                         "AND as_of > '2018-03-05'") == [(0,)]


def test_no_action_stops_the_anniversary_for_that_reader_record_for_every_internal_one(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    def told_of_suwon() -> set[str]:
        return {to for to, text in sent(smtp_server, "anniversaries").items()
                if "Suwon" in text or "ซูวอน" in text}

    run(project, "anniversaries", "2018-02-08")  # 30 days before Suwon's 5th
    assert told_of_suwon() == {"jk-lead@example.org", "mfa@example.org", "cn-lead@example.org",
                          "staff@example.org"}
    settings = load_settings(str(project.config))
    db = Database(settings.database_url)
    actions.perform(db, settings, claim("anniversaries", _suwon_item(), dt.date(2018, 3, 10),
                                        LinkAction.NO_ACTION, "staff@example.org"), now=NOW)
    run(project, "anniversaries", "2018-03-03")  # the 7-day stage
    assert told_of_suwon() == {"jk-lead@example.org", "mfa@example.org", "cn-lead@example.org"}
    actions.perform(db, settings, claim("anniversaries", _suwon_item(), dt.date(2018, 3, 10),
                                        LinkAction.RECORD, "jk-lead@example.org"),
                    now=NOW, date="2018-03-10", title="Anniversary reception")
    db.dispose()
    run(project, "anniversaries", "2018-03-10")  # the day: only the MFA's letter goes on
    assert told_of_suwon() == {"mfa@example.org"}
