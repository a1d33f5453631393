"""The reminder jobs end to end: the real CLI, a real SMTP server on loopback, SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import REPO, Project, body_text
from smtpserver import SmtpTestServer

AS_OF = "2018-03-03"  # Suwon's 5th anniversary is 7 days ahead; several partners are dormant


def received(server: SmtpTestServer) -> list[tuple[str, str]]:
    return [(m.rcpt_tos[0], str(m.message["Subject"])) for m in server.messages]


def by_job(server: SmtpTestServer) -> dict[str, list]:
    out: dict[str, list] = {}
    for m in server.messages:
        out.setdefault(str(m.message["X-Sistercity-Job"]), []).append(m)
    return out


def db_rows(project: Project, sql: str) -> list[tuple]:
    with sqlite3.connect(project.db_path) as conn:
        return conn.execute(sql).fetchall()


def test_run_sends_one_digest_per_recipient_and_job(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    result = project.cli("run", "--as-of", AS_OF)
    assert result.exit_code == 0, result.stdout + result.stderr
    jobs = by_job(smtp_server)
    ann = {m.rcpt_tos[0]: m.message for m in jobs["anniversaries"]}
    assert set(ann) == {
        "jk-lead@example.org",
        "mfa@example.org",
        "cn-lead@example.org",
        "staff@example.org",
    }
    english = body_text(ann["jk-lead@example.org"])
    assert "10 Mar 2018" in english and "Suwon" in english and "5th" in english
    thai = body_text(ann["staff@example.org"])
    assert "10 มี.ค. 2561" in thai and "ซูวอน" in thai
    # every recipient gets at most one email per job
    for job, messages in jobs.items():
        counts = Counter(m.rcpt_tos[0] for m in messages)
        assert max(counts.values()) == 1, job
    # the dormant digest lists every dormant partner of the reader in one email
    dormant = {m.rcpt_tos[0]: m.message for m in jobs["dormant-partners"]}
    staff_digest = body_text(dormant["staff@example.org"])
    for name in ("โอซากา", "ซูวอน", "เมืองอธิกสุรทิน"):
        assert name in staff_digest
    assert set(dormant) == {"staff@example.org", "cn-lead@example.org", "jk-lead@example.org"}
    for m in smtp_server.messages:
        msg = m.message
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["Message-ID"] and msg["Date"]
        kinds = [p.get_content_type() for p in msg.walk()]
        assert "multipart/alternative" in kinds and "text/plain" in kinds and "text/html" in kinds
    # the database agrees
    states = dict(db_rows(project, "SELECT state, count(*) FROM messages GROUP BY state"))
    assert states == {"sent": len(smtp_server.messages)}


def test_the_same_run_twice_sends_nothing_new(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    assert project.cli("run", "--as-of", AS_OF).exit_code == 0
    first = len(smtp_server.messages)
    assert first > 0
    again = project.cli("run", "--as-of", AS_OF)
    assert again.exit_code == 0
    assert len(smtp_server.messages) == first
    # a later day in the same stage sends nothing either; the next stage does
    assert project.cli("run", "anniversaries", "--as-of", "2018-03-05").exit_code == 0
    assert len(smtp_server.messages) == first
    assert project.cli("run", "anniversaries", "--as-of", "2018-03-10").exit_code == 0
    assert len(smtp_server.messages) == first + 4


def test_missed_stages_send_one_reminder(project: Project, smtp_server: SmtpTestServer) -> None:
    project.use_smtp(smtp_server)
    # the 30- and 7-day stages of Suwon's anniversary were missed: one email each, stage 0
    assert project.cli("run", "anniversaries", "--as-of", "2018-03-10").exit_code == 0
    assert len(smtp_server.messages) == 4
    stages = {r[0] for r in db_rows(project, "SELECT stage FROM notices WHERE item LIKE 'suwon/%'")}
    assert stages == {0}
    # running the earlier stages afterwards (a backdated run) sends nothing
    assert project.cli("run", "anniversaries", "--as-of", "2018-03-03").exit_code == 0
    assert len(smtp_server.messages) == 4


def test_three_concurrent_runs_send_each_message_once(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "scheduler",
        "--config",
        str(project.config),
        "run",
        "--as-of",
        AS_OF,
    ]
    procs = [
        subprocess.Popen(
            cmd, cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()
        assert b"Traceback" not in err
    counts = Counter(received(smtp_server))
    assert counts and max(counts.values()) == 1
    notices = db_rows(
        project,
        "SELECT count(*), count(DISTINCT job || item || occurrence || "
        "stage || recipient) FROM notices",
    )[0]
    assert notices[0] == notices[1]
    single = Project(project.root / "single", project.monkeypatch)
    single.root.mkdir()
    single.use_smtp(smtp_server)
    before = len(smtp_server.messages)
    assert single.cli("run", "--as-of", AS_OF).exit_code == 0
    assert len(smtp_server.messages) - before == before  # the same as one run alone


def test_smtp_down_then_deliver_sends_each_once(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server, retry_initial_seconds=0, timeout_seconds=2)
    smtp_server.stop()
    result = project.cli("run", "--as-of", AS_OF)
    assert result.exit_code == 1
    assert "delivery stopped" in result.stderr
    outbox = json.loads(project.cli("outbox", "--json").stdout)
    assert outbox and {m["state"] for m in outbox} == {"pending"}
    smtp_server.start()
    delivered = project.cli("deliver")
    assert delivered.exit_code == 0, delivered.stderr
    assert len(smtp_server.messages) == len(outbox)
    assert max(Counter(received(smtp_server)).values()) == 1
    assert project.cli("deliver").exit_code == 0
    assert len(smtp_server.messages) == len(outbox)


def test_451_is_retried_and_delivered_once(project: Project, smtp_server: SmtpTestServer) -> None:
    project.use_smtp(smtp_server, retry_initial_seconds=0)
    smtp_server.fail_rcpt["mfa@example.org"] = "451 4.3.0 Try again later"
    result = project.cli("run", "anniversaries", "--as-of", AS_OF)
    assert result.exit_code == 1
    outbox = {m["recipient"]: m for m in json.loads(project.cli("outbox", "--json").stdout)}
    assert outbox["mfa@example.org"]["state"] == "pending"
    assert "451" in outbox["mfa@example.org"]["last_error"]
    assert outbox["jk-lead@example.org"]["state"] == "sent"
    smtp_server.clear_failures()
    assert project.cli("deliver").exit_code == 0
    assert [r for r, _ in received(smtp_server)].count("mfa@example.org") == 1


def test_550_fails_one_message_and_retry_failed_sends_it(
    project: Project, smtp_server: SmtpTestServer
) -> None:
    project.use_smtp(smtp_server)
    smtp_server.fail_rcpt["mfa@example.org"] = "550 5.1.1 No such user"
    result = project.cli("run", "anniversaries", "--as-of", AS_OF)
    assert result.exit_code == 1
    outbox = {m["recipient"]: m for m in json.loads(project.cli("outbox", "--json").stdout)}
    assert outbox["mfa@example.org"]["state"] == "failed"
    assert outbox["mfa@example.org"]["attempts"] == 1
    assert "550" in outbox["mfa@example.org"]["last_error"]
    assert {m["state"] for r, m in outbox.items() if r != "mfa@example.org"} == {"sent"}
    status = json.loads(project.cli("status", "--json").stdout)
    assert status["outbox"]["failed"] == 1
    # still refused: stays failed, exit 1
    assert project.cli("outbox", "retry", "--failed").exit_code == 1
    smtp_server.clear_failures()
    retried = project.cli("outbox", "retry", "--failed")
    assert retried.exit_code == 0, retried.stdout + retried.stderr
    assert [r for r, _ in received(smtp_server)].count("mfa@example.org") == 1
    # a failed message is not resent by a later run
    assert project.cli("run", "anniversaries", "--as-of", AS_OF).exit_code == 0
    assert [r for r, _ in received(smtp_server)].count("mfa@example.org") == 1


def test_file_transport_dry_run_and_preview(project: Project, tmp_path: Path) -> None:
    dry = project.cli("run", "--as-of", AS_OF, "--dry-run")
    assert dry.exit_code == 0
    assert "dry run" in dry.stdout and "jk-lead@example.org" in dry.stdout
    preview_dir = tmp_path / "preview"
    shown = project.cli("preview", "anniversaries", "--as-of", AS_OF, "--out", str(preview_dir))
    assert shown.exit_code == 0
    assert len(list(preview_dir.glob("*.eml"))) == 4
    assert db_rows(project, "SELECT count(*) FROM messages")[0][0] == 0
    assert db_rows(project, "SELECT count(*) FROM runs")[0][0] == 0
    assert project.eml_files() == []
    real = project.cli("run", "--as-of", AS_OF)
    assert real.exit_code == 0
    files = project.eml_files()
    assert len(files) == db_rows(project, "SELECT count(*) FROM messages")[0][0] > 0
    assert all(f["Auto-Submitted"] == "auto-generated" for f in files)


def test_header_injection_from_data_is_impossible(
    project: Project, smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    project.use_smtp(smtp_server)
    assert project.cli("init").exit_code == 0
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(
        '[[partner]]\nid = "suwon"\nname = "Suwon <script>alert(1)</script> Bcc: x@evil.example"\n'
        'country = "KR"\n',
        encoding="utf-8",
    )
    assert project.cli("load", str(hostile)).exit_code == 0
    assert project.cli("run", "anniversaries", "--as-of", AS_OF).exit_code == 0
    escaped = 0
    for m in smtp_server.messages:
        assert m.rcpt_tos[0].endswith("@example.org")
        assert "Bcc" not in m.message
        html = m.message.get_body(preferencelist=("html",)).get_content()
        assert "<script>" not in html
        escaped += "&lt;script&gt;" in html
    assert escaped >= 1  # the English readers see the name, escaped
