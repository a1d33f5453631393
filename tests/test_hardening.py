"""Faults provoked for real: mail-server failures, processes killed mid-work, concurrent
processes, and secrets. Loopback only, bounded in time."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, Project
from smtpserver import SmtpTestServer, running_smtp_server
from test_postgres import pg_database

__all__ = ["pg_database"]  # a fixture

AS_OF = "2018-03-03"
MANY = 240  # recipients of one anniversaries run in the crowd dataset
MANY_SLOW = 15  # ... in a crowd of 14 groups
FEW = 100


def crowd_dataset(path: Path, groups: int = MANY) -> Path:
    """One working group per lead, each with a partner whose anniversary is 7 days after
    AS_OF: one anniversaries run queues `groups` + 1 messages (the MFA contact too)."""
    lines = [
        '[[contact]]\nid = "mfa"\nname = "MFA"\nemail = "mfa@example.org"\nrole = "mfa"\n',
        '[mfa]\ncontact = "mfa"\n',
    ]
    for i in range(groups):
        lines.append(
            f'[[contact]]\nid = "lead-{i}"\nname = "Lead {i}"\nemail = "lead-{i}@example.org"\n'
            f'role = "lead"\nlanguage = "{"th" if i % 2 else "en"}"\n'
            f'[[working_group]]\nid = "g{i}"\nname = "Group {i}"\nlead = "lead-{i}"\n'
            f'[[partner]]\nid = "p{i}"\nname = "Partner {i}"\ncountry = "CN"\n'
            f'working_group = "g{i}"\n'
            f'  [[partner.agreement]]\n  kind = "mou"\n  signed_on = 2013-03-10\n'
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def cli_process(project: Project, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "scheduler", "--config", str(project.config), *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def states(project: Project) -> Counter[str]:
    with sqlite3.connect(project.db_path) as conn:
        return Counter(dict(conn.execute("SELECT state, count(*) FROM messages GROUP BY state")))


def outbox(project: Project) -> dict[str, dict]:
    return {m["recipient"]: m for m in json.loads(project.cli("outbox", "--json").stdout)}


# -- the mail server misbehaves --------------------------------------------------------------
def test_mixed_answers_per_recipient(project: Project, smtp_server: SmtpTestServer) -> None:
    project.use_smtp(smtp_server, retry_initial_seconds=0)
    smtp_server.fail_rcpt.update(
        {
            "jk-lead@example.org": "452 4.2.2 Mailbox full",
            "mfa@example.org": "553 5.1.3 Bad address",
            "staff@example.org": "450 4.2.1 Mailbox busy",
        }
    )
    result = project.cli("run", "anniversaries", "--as-of", AS_OF)
    assert result.exit_code == 1
    box = outbox(project)
    assert box["mfa@example.org"]["state"] == "failed"  # 5xx: at once
    assert box["jk-lead@example.org"]["state"] == "pending"  # 4xx: later
    assert box["staff@example.org"]["state"] == "pending"
    assert box["cn-lead@example.org"]["state"] == "sent"  # the others are not held up
    smtp_server.clear_failures()
    assert project.cli("deliver").exit_code == 0
    got = Counter(m.rcpt_tos[0] for m in smtp_server.messages)
    assert got == {"cn-lead@example.org": 1, "jk-lead@example.org": 1, "staff@example.org": 1}
    assert outbox(project)["mfa@example.org"]["state"] == "failed"


def test_attempts_run_out_then_failed(project: Project, smtp_server: SmtpTestServer) -> None:
    project.use_smtp(smtp_server, retry_initial_seconds=0, max_attempts=3)
    smtp_server.fail_rcpt["jk-lead@example.org"] = "451 4.3.0 Later"
    assert project.cli("run", "anniversaries", "--as-of", AS_OF).exit_code == 1
    assert project.cli("deliver").exit_code == 1
    assert outbox(project)["jk-lead@example.org"]["state"] == "pending"
    assert project.cli("deliver").exit_code == 1
    final = outbox(project)["jk-lead@example.org"]
    assert final["state"] == "failed" and final["attempts"] == 3
    assert project.cli("deliver").exit_code == 0  # nothing of its own to do
    assert json.loads(project.cli("status", "--json").stdout)["outbox"]["failed"] == 1


def test_back_off_is_respected(project: Project, smtp_server: SmtpTestServer) -> None:
    project.use_smtp(smtp_server, retry_initial_seconds=3600)
    smtp_server.fail_rcpt["jk-lead@example.org"] = "451 4.3.0 Later"
    assert project.cli("run", "anniversaries", "--as-of", AS_OF).exit_code == 1
    smtp_server.clear_failures()
    # not due for an hour: deliver sends nothing and does not wait
    started = time.monotonic()
    assert project.cli("deliver").exit_code == 0
    assert time.monotonic() - started < 10
    assert "jk-lead@example.org" not in {m.rcpt_tos[0] for m in smtp_server.messages}
    assert outbox(project)["jk-lead@example.org"]["state"] == "pending"


def test_a_slow_server_gets_every_message_exactly_once(project: Project) -> None:
    # Issue 12, fault 3: the end of DATA answered after 3 s with timeout_seconds = 1 used to be
    # given up on and resent (4 messages arrived 26 times). RFC 5321 §4.5.3.2.6: wait for it.
    with running_smtp_server() as server:
        server.data_delay = 3.0
        project.use_smtp(server, retry_initial_seconds=0, timeout_seconds=1, max_connections=4)
        result = project.cli("run", "anniversaries", "--as-of", AS_OF)
        assert result.exit_code == 0, result.output
        assert states(project) == {"sent": 4}
        got = Counter(m.rcpt_tos[0] for m in server.messages)
        assert got == {
            "jk-lead@example.org": 1,
            "mfa@example.org": 1,
            "cn-lead@example.org": 1,
            "staff@example.org": 1,
        }
        assert project.cli("deliver").exit_code == 0
        assert len(server.messages) == 4  # nothing left over to send again


def test_untrusted_certificate_keeps_messages_queued(project: Project) -> None:
    with running_smtp_server(tls="starttls", trusted=False) as server:
        project.use_smtp(server, security="starttls", timeout_seconds=5)
        result = project.cli("run", "anniversaries", "--as-of", AS_OF)
        assert result.exit_code == 1
        assert "certificate" in result.stderr
        assert states(project) == {"pending": 4}
        assert server.messages == []


def test_tls_with_the_right_ca_delivers(project: Project) -> None:
    with running_smtp_server(tls="starttls", require_starttls=True) as server:
        project.use_smtp(server, security="starttls", cafile=str(server.ca_file))
        assert project.cli("run", "anniversaries", "--as-of", AS_OF).exit_code == 0
        assert len(server.messages) == 4 and all(m.tls for m in server.messages)


# -- secrets ---------------------------------------------------------------------------------
def test_password_never_leaks(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-Pa55-word"
    monkeypatch.setenv("SISTERCITY_SMTP_PASSWORD", secret)
    with running_smtp_server(auth=("intl", "another-password")) as server:
        project.use_smtp(server, username="intl", allow_plaintext_auth=True)
        result = project.cli("-vv", "run", "anniversaries", "--as-of", AS_OF)
        assert result.exit_code == 1
        assert "login" in result.stderr.lower()
        outputs = [
            result.stdout,
            result.stderr,
            project.cli("outbox", "--json").stdout,
            project.cli("status", "--json").stdout,
            project.config.read_text(),
        ]
        assert not [o for o in outputs if secret in o]
        assert secret.encode() not in project.db_path.read_bytes()
        for wal in project.db_path.parent.glob("*.db-wal"):
            assert secret.encode() not in wal.read_bytes()
    with running_smtp_server(auth=("intl", secret)) as server:
        project.use_smtp(server, username="intl", allow_plaintext_auth=True)
        assert project.cli("deliver").exit_code == 0
        assert len(server.messages) == 4
        assert all(secret.encode() not in m.data for m in server.messages)


def test_two_senders_beside_a_slow_server_send_each_message_once(
    project: Project, tmp_path: Path
) -> None:
    # Issue 12, fault 4: a sender claimed 8 messages at once; sending them took longer than
    # claim_timeout_seconds, a second `deliver` took the unsent rest back and both sent them.
    data = crowd_dataset(tmp_path / "crowd.toml", groups=14)  # 15 messages
    with running_smtp_server() as server:
        project.write_config(
            data={"files": [str(data)]},
            email={"transport": "smtp"},
            smtp={"host": server.host, "port": server.port, "claim_timeout_seconds": 1,
                  "max_connections": 1, "timeout_seconds": 5},
        )
        server.stop()  # queue them all without sending any
        assert project.cli("run", "anniversaries", "--as-of", AS_OF).exit_code == 1
        assert states(project) == {"pending": MANY_SLOW}
        server.start()
        server.data_delay = 0.5  # 15 messages take 7.5 s over one connection: many timeouts
        first = cli_process(project, "deliver")
        server.wait_for_messages(2, timeout=30)  # the first sender is past one claim timeout
        second = cli_process(project, "deliver")
        for proc in (first, second):
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
        got = Counter(m.rcpt_tos[0] for m in server.messages)
        assert len(got) == MANY_SLOW
        assert set(got.values()) == {1}, [r for r, n in got.items() if n > 1]
        assert states(project) == {"sent": MANY_SLOW}


def plant_bytecode(folder: Path, marker: Path) -> int:
    """What an attacker would write into a template cache they can reach: for every bundled
    template, valid Jinja bytecode (right key, right source checksum) whose code writes
    `marker`. Returns how many files were planted."""
    from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader
    from jinja2.bccache import Bucket

    from scheduler.config import bundled_path

    templates = bundled_path("templates")
    env = Environment(loader=FileSystemLoader(str(templates)))
    cache = FileSystemBytecodeCache(str(folder))
    planted = 0
    for path in templates.rglob("*"):
        if not path.is_file():
            continue
        name = path.relative_to(templates).as_posix()
        source, filename, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        bucket = Bucket(env, cache.get_cache_key(name, filename),
                        cache.get_source_checksum(source))
        bucket.code = compile(f"open({str(marker)!r}, 'a').write({name!r})", filename, "exec")
        cache.dump_bytecode(bucket)
        planted += 1
    return planted


def test_planted_template_bytecode_never_runs(project: Project, tmp_path: Path) -> None:
    # Issue 12, fault 5: /tmp/sistercity-jinja-<uid>-… was trusted through a symlink another
    # local user planted, pointing at a world-writable folder of cache files they wrote.
    world = tmp_path / "world"
    world.mkdir()
    world.chmod(0o777)
    marker = tmp_path / "planted-code-ran"
    assert plant_bytecode(world, marker) > 5
    tmp, cache = tmp_path / "tmp", tmp_path / "cache"
    tmp.mkdir()
    (cache / "sistercity").mkdir(parents=True, mode=0o700)
    for kind in ("text", "html"):  # the old place, and the new one
        (tmp / f"sistercity-jinja-{os.getuid()}-{kind}").symlink_to(world)
        (cache / "sistercity" / f"jinja-{kind}").symlink_to(world)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp),
           "XDG_CACHE_HOME": str(cache)}

    def dry_run() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "scheduler", "--config", str(project.config),
             "run", "--dry-run", "--as-of", AS_OF],
            cwd=project.root, env=env, capture_output=True, timeout=120,
        )
        assert not marker.exists(), f"planted code ran: {marker.read_text()}"
        assert done.returncode == 0, done.stderr.decode()

    dry_run()
    # Without the planted links the cache works, in folders nobody else may enter.
    for kind in ("text", "html"):
        (cache / "sistercity" / f"jinja-{kind}").unlink()
    dry_run()
    for kind in ("text", "html"):
        folder = cache / "sistercity" / f"jinja-{kind}"
        assert not folder.is_symlink() and folder.stat().st_mode & 0o777 == 0o700
        assert any(folder.iterdir())  # compiled templates kept for the next run


# -- processes die ---------------------------------------------------------------------------
def test_killed_mid_delivery_loses_nothing(project: Project, tmp_path: Path) -> None:
    data = crowd_dataset(tmp_path / "crowd.toml")
    with running_smtp_server() as server:
        server.data_delay = 0.01
        project.write_config(
            data={"files": [str(data)]},
            email={"transport": "smtp"},
            smtp={
                "host": server.host,
                "port": server.port,
                "claim_timeout_seconds": 1,
                "max_connections": 4,
            },
        )
        proc = cli_process(project, "run", "anniversaries", "--as-of", AS_OF)
        deadline = time.monotonic() + 60
        while len(server.messages) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        sent_before = len(server.messages)
        assert 0 < sent_before < MANY + 1, "the kill must land mid-delivery"
        time.sleep(1.2)  # claims of the dead process expire (claim_timeout_seconds = 1)
        finish = cli_process(project, "deliver")
        _out, err = finish.communicate(timeout=120)
        assert finish.returncode == 0, err.decode()
        got = Counter(m.rcpt_tos[0] for m in server.messages)
        assert len(got) == MANY + 1  # everyone, nothing lost
        duplicates = sum(n - 1 for n in got.values())
        assert duplicates <= 4  # at most the messages in flight (max_connections)
        assert states(project) == {"sent": MANY + 1}


def test_killed_file_delivery_leaves_only_whole_emails(project: Project, tmp_path: Path) -> None:
    # Issue 12, fault 9: a killed file-transport delivery left a `.part` file among the .eml
    # files that a script handing mail on reads.
    data = crowd_dataset(tmp_path / "crowd.toml", groups=FEW)
    project.write_config(data={"files": [str(data)]}, smtp={"claim_timeout_seconds": 1})
    mail = project.mail_dir
    proc = cli_process(project, "run", "anniversaries", "--as-of", AS_OF)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        len(list(mail.glob("*.eml"))) >= 20 and any(mail.rglob(".*.part"))  # mid-write
    ):
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    written = len(list(mail.glob("*.eml")))
    assert 0 < written < FEW + 1, "the kill must land mid-delivery"
    visible = [p.name for p in mail.iterdir() if p.name != ".tmp"]
    assert all(name.endswith(".eml") and not name.startswith(".") for name in visible), [
        name for name in visible if not name.endswith(".eml") or name.startswith(".")]
    # What a killed writer leaves in the hidden staging folder goes at the next delivery.
    leftover = mail / ".tmp" / ".20180303-000000-000001-x@example.org.eml.abc123.part"
    leftover.parent.mkdir(exist_ok=True)
    leftover.write_bytes(b"Subject: half")
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    time.sleep(1.2)  # claims of the dead process expire (claim_timeout_seconds = 1)
    finish = cli_process(project, "deliver")
    _out, err = finish.communicate(timeout=120)
    assert finish.returncode == 0, err.decode()
    assert states(project) == {"sent": FEW + 1}
    assert not leftover.exists()
    names = [p.name for p in mail.iterdir() if p.name != ".tmp"]
    assert all(name.endswith(".eml") and not name.startswith(".") for name in names)
    recipients = Counter(name.split("-", 3)[3] for name in names)
    assert len(recipients) == FEW + 1  # everyone
    assert sum(n - 1 for n in recipients.values()) <= 1  # at most the one in flight


@pytest.mark.parametrize("delay", [0.05, 0.4, 0.9])
def test_killed_while_planning_or_queueing_then_rerun(
    project: Project, tmp_path: Path, delay: float
) -> None:
    data = crowd_dataset(tmp_path / "crowd.toml")
    with running_smtp_server() as server:
        project.write_config(
            data={"files": [str(data)]},
            email={"transport": "smtp"},
            smtp={"host": server.host, "port": server.port, "claim_timeout_seconds": 1},
        )
        assert project.cli("init").exit_code == 0
        proc = cli_process(project, "run", "anniversaries", "--as-of", AS_OF)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(1.1)
        again = cli_process(project, "run", "anniversaries", "--as-of", AS_OF)
        _out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err.decode()
        got = Counter(m.rcpt_tos[0] for m in server.messages)
        assert len(got) == MANY + 1
        assert sum(n - 1 for n in got.values()) <= 4
        with sqlite3.connect(project.db_path) as conn:
            notices = conn.execute("SELECT count(*) FROM notices").fetchone()[0]
        assert notices == MANY * 2  # the lead and the MFA contact per partner, once each


# -- concurrency -----------------------------------------------------------------------------
def database_url(request: pytest.FixtureRequest, backend: str) -> str:
    if backend == "sqlite":
        return "sqlite:///var/sistercity.db"
    return str(request.getfixturevalue("pg_database"))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_runs_and_delivers_at_once(
    project: Project, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = database_url(request, backend)
    data = crowd_dataset(tmp_path / "crowd.toml", groups=60)
    with running_smtp_server() as server:
        project.write_config(
            database={"url": url},
            data={"files": [str(data)]},
            email={"transport": "smtp"},
            smtp={"host": server.host, "port": server.port},
        )
        procs = [cli_process(project, "run", "--as-of", AS_OF) for _ in range(3)]
        procs += [cli_process(project, "deliver") for _ in range(2)]
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()
            assert b"locked" not in err and b"Traceback" not in err
        got = Counter((m.rcpt_tos[0], str(m.message["Subject"])) for m in server.messages)
        assert len(got) == 121 and max(got.values()) == 1  # anniversaries + dormant digests
        box = json.loads(project.cli("outbox", "--json").stdout)
        assert len(box) == 121 and {m["state"] for m in box} == {"sent"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_killed_mid_delivery_on_each_backend(
    project: Project, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = database_url(request, backend)
    data = crowd_dataset(tmp_path / "crowd.toml", groups=120)
    with running_smtp_server() as server:
        server.data_delay = 0.01
        project.write_config(
            database={"url": url},
            data={"files": [str(data)]},
            email={"transport": "smtp"},
            smtp={"host": server.host, "port": server.port, "claim_timeout_seconds": 1},
        )
        assert project.cli("init").exit_code == 0
        proc = cli_process(project, "run", "anniversaries", "--as-of", AS_OF)
        deadline = time.monotonic() + 60
        while len(server.messages) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(1.2)
        # two finishers at once: claims keep them apart
        finishers = [cli_process(project, "deliver") for _ in range(2)]
        for p in finishers:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()
        got = Counter(m.rcpt_tos[0] for m in server.messages)
        assert len(got) == 121
        assert sum(n - 1 for n in got.values()) <= 4


def test_unverified_tls_is_an_explicit_choice_with_a_warning(project: Project) -> None:
    with running_smtp_server(tls="starttls", trusted=False) as server:
        project.use_smtp(server, security="starttls", verify_tls=False)
        result = project.cli("run", "anniversaries", "--as-of", AS_OF)
        assert result.exit_code == 0
        assert "verify_tls is false" in result.stderr
        assert len(server.messages) == 4


def test_file_transport_keeps_files_inside_outbox_dir(project: Project, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(
        '[[contact]]\nid = "evil"\nname = "Evil"\nemail = "../../../escape@example.org"\n'
        'role = "staff"\n',
        encoding="utf-8",
    )
    assert project.cli("init").exit_code == 0
    result = project.cli("load", str(hostile))
    assert result.exit_code == 2  # not an email address: refused at the door
    assert "is not an email address" in result.stderr
    assert project.cli("run", "--as-of", AS_OF).exit_code == 0
    inside = {p.resolve() for p in project.mail_dir.rglob("*")}
    everything = {p.resolve() for p in project.root.rglob("*.eml")}
    assert everything and everything <= inside
