"""Delivery through a real Debian Postfix on loopback (issue 18): submission with STARTTLS and
SASL AUTH, Maildir delivery, and each kind of refusal a real server makes -- a rate limit, a
connection limit, a wrong or missing password, a slow reply to the end of DATA.

The instance is the one tests/postfix/setup.sh configures (`.ci/run` runs it); when it is not
running, this module starts it if it can (root, Postfix installed) and is skipped otherwise,
saying why. Time is real here (the server's windows are real): the rate window is 10 s, so
the whole module takes about a minute. The same rules, faster, with a scripted aiosmtpd
server: tests/test_delivery_pacing.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Project
from sqlalchemy import select
from test_delivery import Clock, Rig

from scheduler.config import load_settings
from scheduler.db.database import Database
from scheduler.db.states import MessageState
from scheduler.db.tables import messages
from scheduler.mail.delivery import Delivery, DeliveryReport, utcnow
from scheduler.mail.pacing import pacing_of
from scheduler.mail.transports import Transport, make_transport

BASE = Path(os.environ.get("SISTERCITY_TEST_POSTFIX_DIR", "/tmp/sistercity-postfix"))
SETUP = REPO / "tests" / "postfix" / "setup.sh"
SUBMISSION, RATE_LIMITED, CONNECTION_LIMITED, SLOW_END = 10587, 10588, 10589, 10590
POLICY_PORT = 10599  # setup.sh points the slow service's end-of-DATA check here


@dataclass(frozen=True)
class Postfix:
    """The running test instance: credentials, its CA file, its Maildir and its log."""

    user: str
    password: str
    cafile: str
    maildir: Path
    log: Path

    def delivered(self) -> list[Path]:
        """The messages in the Maildir once Postfix's queue is empty (waits up to 60 s)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run(["postqueue", "-c", str(BASE / "etc"), "-p"],
                                 capture_output=True, text=True, check=False).stdout
            if "Mail queue is empty" in out:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"Postfix's queue did not empty: {out}")
        return sorted((self.maildir / "new").glob("*")) if (self.maildir / "new").exists() else []

    def empty_maildir(self) -> None:
        for sub in ("new", "cur", "tmp"):
            for path in (self.maildir / sub).glob("*") if (self.maildir / sub).exists() else ():
                path.unlink()

    def log_lines(self, text: str) -> int:
        """How many lines of the log so far contain `text`."""
        with self.log.open(encoding="utf-8", errors="replace") as f:
            return sum(text in line for line in f)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(64).startswith(b"220")
    except OSError:
        return False


def _start() -> str | None:
    """Start the instance with setup.sh; None, or why it cannot run here."""
    if shutil.which("postfix", path="/usr/sbin:/usr/bin:/sbin") is None:
        return "Postfix is not installed (.ci/run installs it: postfix, sasl2-bin)"
    if os.geteuid() != 0:
        return "Postfix's test instance needs root to start (tests/postfix/setup.sh)"
    done = subprocess.run(["bash", str(SETUP), str(BASE)], capture_output=True, text=True,
                          check=False, timeout=120)
    if done.returncode != 0:
        return f"tests/postfix/setup.sh failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return None


@pytest.fixture(scope="module")
def postfix() -> Postfix:
    env_file = BASE / "env"
    if not (env_file.exists() and _answers(SUBMISSION)):
        reason = _start()
        if reason is not None:
            pytest.skip(reason)
    env = dict(line.split("=", 1) for line in env_file.read_text().split())
    return Postfix(env["SISTERCITY_POSTFIX_USER"], env["SISTERCITY_POSTFIX_PASSWORD"],
                   env["SISTERCITY_POSTFIX_CAFILE"], Path(env["SISTERCITY_POSTFIX_MAILDIR"]),
                   Path(env["SISTERCITY_POSTFIX_LOG"]))


@pytest.fixture
def box(postfix: Postfix, monkeypatch: pytest.MonkeyPatch) -> Postfix:
    postfix.empty_maildir()
    monkeypatch.setenv("SISTERCITY_SMTP_PASSWORD", postfix.password)
    return postfix


@contextmanager
def postfix_rig(tmp_path: Path, postfix: Postfix, port: int, **smtp: Any) -> Iterator[Rig]:
    """Settings for Postfix's service on `port` (STARTTLS, AUTH as the test user) and a SQLite
    database; the messages queued are due now (real time)."""
    keys: dict[str, Any] = {
        "host": "127.0.0.1", "port": port, "security": "starttls", "cafile": postfix.cafile,
        "username": postfix.user, "timeout_seconds": 10, "max_connections": 4,
        "retry_initial_seconds": 10, "retry_max_seconds": 600, "max_attempts": 3, **smtp,
    }
    lines = "".join(f'{k} = "{v}"\n' if isinstance(v, str) else f"{k} = {v}\n"
                    for k, v in keys.items())
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///var/postfix.db"\n[email]\n'
                      f'transport = "smtp"\n[smtp]\n{lines}', encoding="utf-8")
    settings = load_settings(str(config))
    db = Database(settings.database_url)
    db.ensure_schema()
    try:
        yield Rig(db, settings, None, Clock(utcnow()))  # type: ignore[arg-type]  # no aiosmtpd
    finally:
        db.dispose()


def deliver(rig: Rig, transport: Transport) -> DeliveryReport:
    """One round on the real clock, pauses really slept."""
    return asyncio.run(Delivery(rig.db, rig.settings, transport).run())


def states(rig: Rig) -> set[tuple[MessageState, int]]:
    with rig.db.engine.connect() as conn:
        return {(r.state, r.attempts) for r in conn.execute(select(messages))}


# -- fault 1 ------------------------------------------------------------------------------------
def test_a_rate_limit_delivers_every_message_once_and_fails_none(
    tmp_path: Path, box: Postfix
) -> None:
    refused = box.log_lines("rate limit exceeded")
    with postfix_rig(tmp_path, box, RATE_LIMITED) as rig:
        ids = rig.queue(30)
        started = time.monotonic()
        report = deliver(rig, make_transport(rig.settings))
        took = time.monotonic() - started
        assert sorted(report.sent) == ids, report
        assert report.failed == report.retrying == [] and report.stopped is None
        assert states(rig) == {(MessageState.SENT, 1)}  # no attempt burned
    assert len(box.delivered()) == 30
    assert box.log_lines("rate limit exceeded") > refused  # Postfix did refuse us
    assert took < 120


# -- fault 2 ------------------------------------------------------------------------------------
def test_a_connection_limit_does_not_stop_the_round(tmp_path: Path, box: Postfix) -> None:
    refused = box.log_lines("concurrency limit exceeded")
    with postfix_rig(tmp_path, box, CONNECTION_LIMITED) as rig:
        ids = rig.queue(43)
        transport = make_transport(rig.settings)
        report = deliver(rig, transport)
        assert sorted(report.sent) == ids and report.stopped is None
        assert states(rig) == {(MessageState.SENT, 1)}
    assert len(box.delivered()) == 43
    assert box.log_lines("concurrency limit exceeded") > refused
    assert pacing_of(transport).limit == 2


# -- fault 3 ------------------------------------------------------------------------------------
def test_a_wrong_password_costs_one_failed_login_then_waits(
    tmp_path: Path, box: Postfix, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SISTERCITY_SMTP_PASSWORD", "not-the-password")
    failed, connects = box.log_lines("authentication failed"), box.log_lines(" connect from")
    with postfix_rig(tmp_path, box, SUBMISSION, retry_initial_seconds=300) as rig:
        rig.queue(8)
        transport = make_transport(rig.settings)
        first = deliver(rig, transport)
        second = deliver(rig, transport)  # within the back-off: no connection at all
        assert first.stopped is not None and "535" in first.stopped
        assert second.stopped is not None and "next login attempt" in second.stopped
        assert states(rig) == {(MessageState.PENDING, 0)}
    assert box.log_lines("authentication failed") - failed == 1  # 1, not 4 x (PLAIN, LOGIN)
    assert box.log_lines(" connect from") - connects == 1
    assert box.delivered() == []


def test_a_missing_password_variable_is_a_config_error(
    project: Project, box: Postfix, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SISTERCITY_SMTP_PASSWORD")
    connects = box.log_lines(" connect from")
    project.write_config(email={"transport": "smtp"}, smtp={
        "host": "127.0.0.1", "port": SUBMISSION, "security": "starttls",
        "cafile": box.cafile, "username": box.user})
    result = project.cli("deliver")
    assert result.exit_code == 2
    assert "SISTERCITY_SMTP_PASSWORD is not set" in result.output
    assert box.log_lines(" connect from") == connects  # never tried with an empty password


# -- fault 4 ------------------------------------------------------------------------------------
class _SlowPolicy(socketserver.StreamRequestHandler):
    """Postfix's policy delegation protocol (SMTPD_POLICY_README): attribute lines, a blank
    line, then `action=DUNNO` -- after `delay` seconds at the end of DATA."""

    delay = 0.0

    def handle(self) -> None:
        while True:
            attrs = {}
            for raw in self.rfile:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    break
                key, _, value = line.partition("=")
                attrs[key] = value
            else:
                return
            if attrs.get("protocol_state") == "END-OF-MESSAGE":
                time.sleep(self.delay)
            self.wfile.write(b"action=DUNNO\n\n")


class _PolicyServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True  # Postfix keeps its policy connection open: don't wait for it
    block_on_close = False


def test_a_slow_end_of_data_reply_leaves_one_copy(tmp_path: Path, box: Postfix) -> None:
    _SlowPolicy.delay = 8.0  # longer than timeout_seconds below
    with _PolicyServer(("127.0.0.1", POLICY_PORT), _SlowPolicy) as policy:
        threading.Thread(target=policy.serve_forever, daemon=True).start()
        try:
            with postfix_rig(tmp_path, box, SLOW_END, timeout_seconds=3) as rig:
                (mid,) = rig.queue(1)
                transport = make_transport(rig.settings)
                started = dt.datetime.now(dt.UTC)
                report = deliver(rig, transport)
                assert report.sent == [mid], report
                assert (dt.datetime.now(dt.UTC) - started).total_seconds() >= 8
                assert deliver(rig, transport).attempted == set()  # nothing left to resend
        finally:
            policy.shutdown()
    assert len(box.delivered()) == 1
