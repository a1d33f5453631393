"""Escalation to the `head` contacts (SPEC "The way back"), end to end: the real CLI
(`sistercity run --as-of …`), a real SMTP server on loopback (aiosmtpd), SQLite.

Kengtung's last activity is 6 Jan 2020, so with after_days = 365 and repeat_days = 90 its lead
is told on 11 Jan 2021, 12 Apr 2021 and 12 Jul 2021 (runs 91 days apart). The deadline
"report" is due Monday 15 Mar 2021; "plan" is due Saturday 20 Mar 2021, act by Friday 19 Mar.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from conftest import REPO, Project, body_text
from smtpserver import SmtpTestServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from scheduler.db.database import Database
from scheduler.links import LinkAction, LinkSigner
from scheduler.services.escalation import escalations

DATA = """
[[contact]]
id = "mm-lead"
name = "Somchai Lead"
email = "mm-lead@example.org"
language = "th"
role = "lead"

[[contact]]
id = "staff"
name = "Malee Staff"
email = "staff@example.org"
language = "en"
role = "staff"

[[contact]]
id = "head-th"
name = "Prasert Head"
email = "head-th@example.org"
language = "th"
role = "head"

[[contact]]
id = "head-en"
name = "Alice Head"
email = "Head-EN@example.org"
language = "en"
role = "head"

[[working_group]]
id = "myanmar"
name = "Myanmar"
name_th = "เมียนมา"
lead = "mm-lead"
countries = ["MM"]

[[partner]]
id = "kengtung"
name = "Kengtung"
name_th = "เชียงตุง"
country = "MM"

  [[partner.agreement]]
  kind = "mou"
  signed_on = 2014-10-09
  local_party = "Chiang Mai Province"

  [[partner.activity]]
  date = 2020-01-06
  title = "Border trade fair"
  kind = "event"

[[budget_deadline]]
id = "report"
title = "Send the FY{fiscal_year} activity report"
title_th = "ส่งรายงานกิจกรรม ปีงบประมาณ {fiscal_year}"
due_on = 2021-03-15

[[budget_deadline]]
id = "plan"
title = "Send the FY{next_fiscal_year} plan"
title_th = "ส่งแผน ปีงบประมาณ {next_fiscal_year}"
due_on = 2021-03-20
"""

HEADS = {"head-th@example.org", "head-en@example.org"}
FIRST, SECOND, THIRD = "2021-01-11", "2021-04-12", "2021-07-12"


def setup(project: Project, server: SmtpTestServer, after_notices: int | None = 2,
          db_url: str | None = None, web: dict[str, Any] | None = None) -> None:
    data = project.root / "city.toml"
    data.write_text(DATA, encoding="utf-8")
    jobs: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {
        "data": {"files": [str(data)]},
        "email": {"transport": "smtp"},
        "smtp": {"host": server.host, "port": server.port},
        "jobs__dormant-partners": {"after_days": 365, "repeat_days": 90},
        "jobs__budget-deadlines": {"lead_days": [60, 30, 7, 1, 0]},
    }
    if db_url is not None:
        sections["database"] = {"url": db_url}
    if after_notices is not None:
        jobs["after_notices"] = after_notices
        sections["jobs__escalation"] = jobs
    if web is not None:
        sections["web"] = web
    project.write_config(**sections)


def run(project: Project, as_of: str, *jobs: str) -> None:
    result = project.cli("run", *jobs, "--as-of", as_of)
    assert result.exit_code == 0, result.stdout + result.stderr


def mail_to(server: SmtpTestServer, address: str) -> list[EmailMessage]:
    return [m.message for m in server.messages if m.rcpt_tos[0] == address]


def to_heads(server: SmtpTestServer) -> list[tuple[str, EmailMessage]]:
    return [(m.rcpt_tos[0], m.message) for m in server.messages if m.rcpt_tos[0] in HEADS]


def flat(text: str) -> str:
    """Text with every run of spaces and line ends as one space (a wrapped list of dates
    reads on one line)."""
    return " ".join(text.split())


def html_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content()).replace("\xa0", " ")


def test_dormant_partner_escalates_at_the_second_notice_only(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    setup(project, smtp_server)
    run(project, FIRST, "dormant-partners")
    assert {m.rcpt_tos[0] for m in smtp_server.messages} == {
        "mm-lead@example.org", "staff@example.org"}
    assert to_heads(smtp_server) == []

    run(project, SECOND, "dormant-partners")
    heads = dict(to_heads(smtp_server))
    assert set(heads) == HEADS  # one email each, no more
    assert len(to_heads(smtp_server)) == 2
    en, th = heads["head-en@example.org"], heads["head-th@example.org"]
    # the head's digest: its own template, the item first in the subject with its date
    assert str(en["Subject"]).startswith("Kengtung: no activity since 6 Jan 2020")
    assert str(th["Subject"]).startswith("เชียงตุง: ไม่มีความเคลื่อนไหวตั้งแต่ 6 ม.ค. 2563")
    assert en["X-Sistercity-Job"] == "dormant-partners"
    text = flat(body_text(en))
    assert "Dear Alice Head," in text
    assert "Somchai Lead <mm-lead@example.org>" in text
    assert "11 Jan 2021, 12 Apr 2021" in text  # both notices to the lead, as printed
    assert "2 to the working-group lead" in text
    assert "You receive it as: head of the office." in text
    assert "Also sent to: Prasert Head." in text  # the other head, never the reader
    assert "Alice Head" not in text.split("Also sent to:")[1]
    # the office's signature closes it (no phone in this config)
    assert body_text(en).rstrip().splitlines()[-2:] == [
        "International Affairs, Chiang Mai Provincial Office", "Email: intl@example.org"]
    html = html_text(en)
    assert 'Somchai Lead <span class="nb">&lt;mm-lead@example.org&gt;</span>' in html
    assert "11 Jan 2021" in html and "12 Apr 2021" in html
    # Thai head: Thai text, Buddhist-Era dates
    thai = flat(body_text(th))
    assert "เรียน Prasert Head" in thai
    assert "Somchai Lead <mm-lead@example.org>" in thai
    assert "11 ม.ค. 2564, 12 เม.ย. 2564" in thai
    assert "Jan" not in thai and "2021" not in thai
    assert "12 เม.ย. 2564" in html_text(th)
    # the lead's own reminder is the ordinary digest, not the escalation
    lead_mail = mail_to(smtp_server, "mm-lead@example.org")
    assert len(lead_mail) == 2
    assert "แจ้งเตือนแล้ว" not in body_text(lead_mail[-1])

    before = len(smtp_server.messages)
    run(project, SECOND, "dormant-partners")  # a rerun the same day
    assert len(smtp_server.messages) == before

    run(project, THIRD, "dormant-partners")
    assert len(to_heads(smtp_server)) == 2  # nothing more at the third notice
    assert len(mail_to(smtp_server, "mm-lead@example.org")) == 3

    # the staff's view of it (services/escalation.py)
    found = escalations(Database(f"sqlite:///{project.db_path}"))
    assert len(found) == 1
    esc = found[0]
    assert (esc.job, esc.item, esc.item_name, esc.occurrence) == (
        "dormant-partners", "kengtung", "Kengtung", dt.date(2020, 1, 6))
    assert set(esc.heads) == HEADS
    lead_told = [(n, d) for n, a, d in esc.told if a == "mm-lead@example.org"]
    assert lead_told == [("Somchai Lead", dt.date(2021, 1, 11)),
                         ("Somchai Lead", dt.date(2021, 4, 12))]  # not the third
    assert esc.queued_at.tzinfo is not None


def test_with_base_url_the_heads_email_links_each_item_signed_for_the_head(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    """SPEC "The way back": every internal email carries links for its items; a head may
    record an activity (dormant) or mark a deadline done, and is never offered a snooze."""
    key = "escalation-test-key-" + "k" * 30
    project.monkeypatch.setenv("SISTERCITY_WEB_SECRET", key)
    setup(project, smtp_server, web={"base_url": "https://sistercity.example.org"})
    run(project, FIRST, "dormant-partners")
    run(project, SECOND, "dormant-partners")
    heads = dict(to_heads(smtp_server))
    signer = LinkSigner(key)
    for address, msg in heads.items():
        text = body_text(msg)
        urls = re.findall(r"https://sistercity\.example\.org/act/\S+", text)
        assert len(urls) == 1, text  # one item, one action: record
        claim = signer.read_action(urls[0].rsplit("/", 1)[1],
                                   now=dt.datetime(2021, 4, 12, 3, tzinfo=dt.UTC))
        assert (claim.recipient, claim.job, claim.item, claim.occurrence, claim.action) == (
            address, "dormant-partners", "kengtung", dt.date(2020, 1, 6), LinkAction.RECORD)
        html = html_text(msg)
        assert f'href="{urls[0]}"' in html.replace("&amp;", "&")
        assert "snooze" not in text.lower() and "เลื่อน" not in text


def test_after_notices_three_escalates_at_the_third(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    setup(project, smtp_server, after_notices=3)
    run(project, FIRST, "dormant-partners")
    run(project, SECOND, "dormant-partners")
    assert to_heads(smtp_server) == []
    run(project, THIRD, "dormant-partners")
    heads = dict(to_heads(smtp_server))
    assert set(heads) == HEADS
    assert "11 Jan 2021, 12 Apr 2021, 12 Jul 2021" in flat(body_text(heads["head-en@example.org"]))
    assert "3 to the working-group lead" in flat(body_text(heads["head-en@example.org"]))
    assert "11 ม.ค. 2564, 12 เม.ย. 2564, 12 ก.ค. 2564" in flat(body_text(
        heads["head-th@example.org"]))


def test_default_is_two_notices(project: Project, smtp_server: SmtpTestServer) -> None:
    setup(project, smtp_server, after_notices=None)  # no [jobs.escalation] table
    run(project, FIRST, "dormant-partners")
    assert to_heads(smtp_server) == []
    run(project, SECOND, "dormant-partners")
    assert {a for a, _ in to_heads(smtp_server)} == HEADS


def test_an_activity_before_the_second_notice_means_no_escalation(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    setup(project, smtp_server)
    run(project, FIRST, "dormant-partners")
    added = project.cli("activity", "add", "kengtung", "--date", "2021-02-01",
                        "--title", "Video call with the mayor")
    assert added.exit_code == 0, added.stdout + added.stderr
    run(project, SECOND, "dormant-partners")
    run(project, THIRD, "dormant-partners")
    assert to_heads(smtp_server) == []
    assert len(mail_to(smtp_server, "mm-lead@example.org")) == 1  # the spell ended
    assert escalations(Database(f"sqlite:///{project.db_path}")) == []


def test_two_concurrent_runs_escalate_once(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    setup(project, smtp_server)
    run(project, FIRST, "dormant-partners")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "scheduler", "--config", str(project.config),
           "run", "dormant-partners", "--as-of", SECOND]
    procs = [subprocess.Popen(cmd, cwd=project.root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert Counter(a for a, _ in to_heads(smtp_server)) == {a: 1 for a in HEADS}
    with sqlite3.connect(project.db_path) as conn:
        rows = conn.execute("SELECT recipient FROM notices WHERE stage = -1").fetchall()
    assert sorted(r[0] for r in rows) == sorted(HEADS)


def test_budget_deadline_escalates_once_at_its_last_stage(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    setup(project, smtp_server)
    run(project, "2021-03-08", "budget-deadlines")  # 7 days before: an ordinary stage
    assert smtp_server.messages and to_heads(smtp_server) == []
    run(project, "2021-03-15", "budget-deadlines")  # the due date: the last stage
    heads = dict(to_heads(smtp_server))
    assert set(heads) == HEADS
    en = heads["head-en@example.org"]
    assert str(en["Subject"]).startswith("Send the FY2564 activity report: due 15 Mar 2021")
    text = flat(body_text(en))
    assert "Somchai Lead <mm-lead@example.org>" in text
    assert "8 Mar 2021, 15 Mar 2021" in text  # the 7-day stage and the last one
    thai = flat(body_text(heads["head-th@example.org"]))
    assert str(heads["head-th@example.org"]["Subject"]).startswith(
        "ส่งรายงานกิจกรรม ปีงบประมาณ 2564 กำหนดส่ง 15 มี.ค. 2564")
    assert "8 มี.ค. 2564, 15 มี.ค. 2564" in thai
    before = len(smtp_server.messages)
    run(project, "2021-03-15", "budget-deadlines")  # rerun: nothing new
    assert len(smtp_server.messages) == before
    found = escalations(Database(f"sqlite:///{project.db_path}"))
    assert [(e.item, e.item_name, e.occurrence) for e in found] == [
        ("report", "Send the FY2564 activity report", dt.date(2021, 3, 15))]


def test_a_skipped_to_last_stage_escalates_with_its_act_by_date(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    """The daemon was down: the first run is on the act-by date (Friday before a Saturday due
    date), straight at the last stage. It escalates, and shows due and act-by dates."""
    setup(project, smtp_server)
    run(project, "2021-03-19", "budget-deadlines")
    heads = dict(to_heads(smtp_server))
    assert set(heads) == HEADS
    en = heads["head-en@example.org"]
    assert str(en["Subject"]).startswith(
        "Send the FY2565 plan: due 20 Mar 2021, act by 19 Mar 2021")
    text = flat(body_text(en))
    assert "Act by:" in text and "19 Mar 2021" in text
    assert "Somchai Lead <mm-lead@example.org>" in text and "19 Mar 2021" in text
    th = flat(body_text(heads["head-th@example.org"]))
    assert "ยื่นภายใน" in th and "19 มี.ค. 2564" in th and "20 มี.ค. 2564" in th
    with sqlite3.connect(project.db_path) as conn:
        stages = conn.execute(
            "SELECT stage, count(*) FROM notices WHERE item = 'plan' GROUP BY stage").fetchall()
    assert dict(stages) == {0: 2, -1: 2}


def test_no_head_no_escalation(project: Project, smtp_server: SmtpTestServer) -> None:
    setup(project, smtp_server)
    data = project.root / "city.toml"
    data.write_text(DATA.replace('role = "head"', 'role = "staff"'), encoding="utf-8")
    run(project, FIRST, "dormant-partners")
    run(project, SECOND, "dormant-partners")
    with sqlite3.connect(project.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM notices WHERE stage = -1").fetchone() == (0,)


@pytest.mark.parametrize("value", ["0", '"two"', "1.5", "-3"])
def test_bad_after_notices_is_refused_naming_the_key(project: Project, value: str) -> None:
    project.config.write_text(f"[jobs.escalation]\nafter_notices = {value}\n", encoding="utf-8")
    result = project.cli("status")
    assert result.exit_code == 2
    assert "jobs.escalation.after_notices" in result.stderr
    assert "Traceback" not in result.stderr
    assert not project.db_path.exists()


def test_unknown_escalation_key_is_refused(project: Project) -> None:
    project.config.write_text("[jobs.escalation]\nafter_notice = 2\n", encoding="utf-8")
    result = project.cli("status")
    assert result.exit_code == 2
    assert "jobs.escalation.after_notice" in result.stderr


def test_the_bundled_data_runs_and_its_head_gets_escalations(project: Project) -> None:
    """data/chiang-mai.toml has one placeholder head: two runs 91 days apart escalate its
    dormant partners to that head (file transport), and to nobody else."""
    project.write_config(data={"files": [str(REPO / "data" / "chiang-mai.toml")]})
    run(project, "2026-12-01")
    assert not [m for m in project.eml_files() if "office-head" in str(m["To"])]
    run(project, "2027-03-02")
    heads = [m for m in project.eml_files() if "office-head@example.org" in str(m["To"])]
    assert len(heads) == 1  # dormant partners; no budget deadline at its last stage that day
    text = flat(body_text(heads[0]))
    assert "1 ธ.ค. 2569, 2 มี.ค. 2570" in text and "<china-lead@example.org>" in text
    assert "ท่านได้รับอีเมลนี้ในฐานะ: หัวหน้าหน่วยงาน" in text


def test_a_head_who_is_also_staff_gets_one_email_with_both(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    """SPEC "Digest": at most one email per job per run to one address. A head listed again
    as staff gets the escalation, then their own reminders of the run, in one email."""
    setup(project, smtp_server)
    data = project.root / "city.toml"
    data.write_text(DATA + '\n[[contact]]\nid = "alice-staff"\nname = "Alice Head"\n'
                    'email = "head-en@example.org"\nlanguage = "en"\nrole = "staff"\n',
                    encoding="utf-8")
    run(project, FIRST, "dormant-partners")
    assert len(mail_to(smtp_server, "head-en@example.org")) == 1  # staff's reminder only
    run(project, SECOND, "dormant-partners")
    mail = mail_to(smtp_server, "head-en@example.org")
    assert len(mail) == 2
    text = flat(body_text(mail[-1]))
    assert str(mail[-1]["Subject"]).startswith("Kengtung: no activity since 6 Jan 2020")
    assert "Somchai Lead <mm-lead@example.org>" in text
    assert "Your own reminders of this run: - Kengtung (Myanmar): no activity since 6 Jan 2020" \
        in text


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL test server (SISTERCITY_TEST_PG_URL), dropped after."""
    base = os.environ.get("SISTERCITY_TEST_PG_URL")
    if not base:
        pytest.skip("SISTERCITY_TEST_PG_URL is not set: PostgreSQL tests need a server")
    name = f"sc_esc_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_escalation_on_postgresql(
    project: Project, smtp_server: SmtpTestServer, pg_database: str
) -> None:
    """The notice days are aggregated by the database (string_agg on PostgreSQL)."""
    setup(project, smtp_server, after_notices=3, db_url=pg_database)
    for day in (FIRST, SECOND):
        run(project, day, "dormant-partners")
    assert to_heads(smtp_server) == []
    run(project, THIRD, "dormant-partners")
    run(project, THIRD, "dormant-partners")
    heads = dict(to_heads(smtp_server))
    assert set(heads) == HEADS and len(to_heads(smtp_server)) == 2
    assert "11 Jan 2021, 12 Apr 2021, 12 Jul 2021" in flat(body_text(heads["head-en@example.org"]))
    db = Database(pg_database)
    try:
        [esc] = escalations(db)
        assert [d for _, a, d in esc.told if a == "mm-lead@example.org"] == [
            dt.date(2021, 1, 11), dt.date(2021, 4, 12), dt.date(2021, 7, 12)]
    finally:
        db.dispose()
