"""Delivery against a server that refuses the client rather than a message (SPEC "Delivery",
issue 18): rate limits, a connection limit, refused logins, and 8-bit bodies (RFC 6152). A real
aiosmtpd server on loopback scripted like Postfix answers; time is an injected clock, and the
pauses go through an injected sleep that moves it (no real waiting). The same rules against a
real Postfix: tests/test_postfix.py."""

from __future__ import annotations

import asyncio
import email.policy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from smtpserver import ReceivedMessage, SmtpTestServer, running_smtp_server
from sqlalchemy import insert, select
from test_delivery import T0, Clock, Rig

from scheduler.config import load_settings
from scheduler.db.database import Database
from scheduler.db.states import MessageState
from scheduler.db.tables import message_bodies, messages
from scheduler.mail.delivery import Delivery, DeliveryReport
from scheduler.mail.pacing import pacing_of
from scheduler.mail.transports import Transport, make_transport

PASSWORD = "Correct-Horse-42"
WINDOW = 60  # the server's rate window, seconds of the injected clock
RATE = 10  # messages per window, like smtpd_client_message_rate_limit = 10


@contextmanager
def pacing_rig(tmp_path: Path, server: SmtpTestServer, **smtp: Any) -> Iterator[Rig]:
    """A SQLite database and settings pointing at `server`; `smtp` overrides [smtp] keys."""
    keys = {"host": server.host, "port": server.port, "timeout_seconds": 5,
            "max_connections": 4, "retry_initial_seconds": WINDOW, "retry_max_seconds": 3600,
            "max_attempts": 3, **smtp}
    lines = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in keys.items())
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///var/pacing.db"\n[email]\ntransport = "smtp"\n'
                      f"[smtp]\n{lines}".replace("True", "true"), encoding="utf-8")
    settings = load_settings(str(config))
    db = Database(settings.database_url)
    db.ensure_schema()
    try:
        yield Rig(db, settings, server, Clock())
    finally:
        db.dispose()


class Sleeper:
    """The injected sleep: moves the clock instead of waiting, and remembers every pause."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


def deliver(rig: Rig, transport: Transport, sleeper: Sleeper | None = None) -> DeliveryReport:
    delivery = Delivery(rig.db, rig.settings, transport, clock=rig.clock, worker="sender:1",
                        sleep=sleeper or Sleeper(rig.clock))
    return asyncio.run(delivery.run())


def rows(rig: Rig) -> list[Any]:
    with rig.db.engine.connect() as conn:
        return list(conn.execute(select(messages).order_by(messages.c.id)))


def rate_limit(clock: Clock, *, reply: str) -> Any:
    """A fail_mail rule: RATE messages per WINDOW seconds of `clock`, then `reply`."""
    counts: dict[int, int] = {}

    def rule(address: str) -> str | None:
        window = int((clock.now - T0).total_seconds() // WINDOW)
        if counts.get(window, 0) >= RATE:
            return reply
        counts[window] = counts.get(window, 0) + 1
        return None

    return rule


# -- fault 1: a rate limit pauses the round, costs no attempt ---------------------------------
@pytest.mark.parametrize("reply", [
    "450 4.7.1 Error: too much mail from 127.0.0.1",  # Postfix anvil, at MAIL FROM
    "421 4.7.0 mail.example.org Error: too many errors",  # 421: the server hangs up
])
def test_a_rate_limit_pauses_delivery_and_every_message_goes_once(
    tmp_path: Path, reply: str
) -> None:
    with running_smtp_server() as server, pacing_rig(tmp_path, server) as rig:
        ids = rig.queue(35)
        server.fail_mail = rate_limit(rig.clock, reply=reply)
        sleeper = Sleeper(rig.clock)
        report = deliver(rig, make_transport(rig.settings), sleeper)
        got = [m.rcpt_tos[0] for m in server.messages]
    assert sorted(report.sent) == ids and report.failed == report.retrying == []
    assert report.stopped is None
    assert sorted(got) == sorted(f"friend{i}@example.jp" for i in range(35))  # each once
    assert sleeper.pauses == [WINDOW] * 3  # 35 = 10 + 10 + 10 + 5: three pauses of a window
    assert {(r.state, r.attempts) for r in rows(rig)} == {(MessageState.SENT, 1)}


def test_a_server_that_stays_busy_ends_the_round_with_nothing_failed(tmp_path: Path) -> None:
    with running_smtp_server() as server, pacing_rig(
        tmp_path, server, retry_max_seconds=240
    ) as rig:
        rig.queue(5)
        server.fail_mail["*"] = "450 4.7.1 Error: too much mail from 127.0.0.1"
        sleeper = Sleeper(rig.clock)
        report = deliver(rig, make_transport(rig.settings), sleeper)
    assert sleeper.pauses == [60, 120, 240]  # doubling to retry_max_seconds, then it gives up
    assert report.stopped is not None and "too much mail" in report.stopped
    assert report.sent == report.failed == []
    assert {(r.state, r.attempts) for r in rows(rig)} == {(MessageState.PENDING, 0)}


# -- fault 2: one refused connection does not stop the round ----------------------------------
def test_a_connection_limit_is_learned_and_the_round_goes_on(tmp_path: Path) -> None:
    with running_smtp_server(connection_limit=2) as server, pacing_rig(tmp_path, server) as rig:
        ids = rig.queue(43)
        transport = make_transport(rig.settings)
        report = deliver(rig, transport)
        assert server.refused_connections >= 1  # the round did try a third connection
        assert sorted(report.sent) == ids and report.stopped is None
        assert len(server.messages) == 43
        assert pacing_of(transport).limit == 2

        # The next round of this process opens no more than the server allows.
        server.reset()
        with rig.db.writer.begin() as conn:  # a fresh queue (Rig numbers its Message-IDs)
            conn.execute(message_bodies.delete())
            conn.execute(messages.delete())
        rig.queue(20)
        second = deliver(rig, transport)
        assert len(second.sent) == 20
        assert server.refused_connections == 0 and server.connection_count <= 2


# -- fault 3: refused logins are backed off, one at a time ------------------------------------
def test_a_refused_login_is_backed_off_on_one_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SISTERCITY_SMTP_PASSWORD", "wrong-password")
    with running_smtp_server(auth=("alice", PASSWORD)) as server, pacing_rig(
        tmp_path, server, username="alice", allow_plaintext_auth=True
    ) as rig:
        rig.queue(12)
        transport = make_transport(rig.settings)
        with caplog.at_level(logging.ERROR, "sistercity.delivery"):
            first = deliver(rig, transport)
        assert server.auth_failures == 1  # not 4 connections x (PLAIN then LOGIN)
        assert first.stopped is not None and "535" in first.stopped
        assert "SISTERCITY_SMTP_PASSWORD" in caplog.text and "wrong-password" not in caplog.text

        # Within the back-off nothing connects; then one login per back-off, doubling.
        failures = []
        for _ in range(7):
            rig.clock.advance(30)
            deliver(rig, transport)
            failures.append(server.auth_failures)
        assert failures == [1, 2, 2, 2, 2, 3, 3]  # tries at +60 s, then +120 s later
        assert server.connection_count == 3
        assert {(r.state, r.attempts) for r in rows(rig)} == {(MessageState.PENDING, 0)}

        server.auth = ("alice", "wrong-password")  # the server now takes this password
        rig.clock.advance(240)
        report = deliver(rig, transport)
    assert len(report.sent) == 12 and server.auth_failures == 3


def test_a_username_without_its_password_variable_is_a_config_error(
    project: Project, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SISTERCITY_SMTP_PASSWORD", raising=False)
    project.use_smtp(smtp_server, username="alice", security="none",
                     allow_plaintext_auth=True)
    for command in (["deliver"], ["run", "anniversaries", "--as-of", "2026-03-02"]):
        result = project.cli(*command)
        assert result.exit_code == 2, result.output
        assert "smtp.password_env" in result.output
        assert "SISTERCITY_SMTP_PASSWORD is not set" in result.output
        assert "Traceback" not in result.output
    assert project.cli("outbox", "--json").stdout.strip() in ("[]", "")  # nothing queued
    assert smtp_server.connection_count == 0


# -- fault 6: 8-bit bodies and BODY=8BITMIME (RFC 6152) ---------------------------------------
THAI = "ขอแสดงความนับถือ"


def queue_body(rig: Rig, body: str) -> int:
    """One pending message whose body is `body` in UTF-8, sent as 8bit (as rendering does)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = "=?utf-8?b?4Lij4Liw?="
    msg["Message-ID"] = "<8bit@sistercity.example.org>"
    msg.set_content(body, charset="utf-8")
    data = msg.as_bytes()
    (mid,) = rig.queue(1)
    with rig.db.writer.begin() as conn:
        conn.execute(message_bodies.delete().where(message_bodies.c.message_id == mid))
        conn.execute(insert(message_bodies), {"message_id": mid, "data": data})
    return mid


@pytest.mark.parametrize("offered", [True, False])
def test_an_8bit_body_goes_with_body_8bitmime_or_in_7_bits(tmp_path: Path, offered: bool) -> None:
    with running_smtp_server(eightbitmime=offered) as server, pacing_rig(tmp_path, server) as rig:
        queue_body(rig, f"{THAI}\nline two\n")
        assert b"8bit" in rig_body(rig)  # rendered as 8bit: the case RFC 6152 is about
        report = deliver(rig, make_transport(rig.settings))
        (got,) = server.messages
    assert len(report.sent) == 1
    if offered:
        assert body_parameter(got) == ["BODY=8BITMIME"]
        assert got.data == rig_body(rig)  # exactly what was rendered
    else:
        assert body_parameter(got) == []
        assert got.data.isascii()  # 7-bit safe: base64 or quoted-printable
    parsed = message_from_bytes(got.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content().replace("\r\n", "\n") == f"{THAI}\nline two\n"
    assert parsed["Message-ID"] == "<8bit@sistercity.example.org>"


def test_a_7bit_message_needs_no_body_parameter(tmp_path: Path) -> None:
    with running_smtp_server() as server, pacing_rig(tmp_path, server) as rig:
        rig.queue(1)  # plain ASCII
        deliver(rig, make_transport(rig.settings))
        (got,) = server.messages
    assert body_parameter(got) == []


def body_parameter(got: ReceivedMessage) -> list[str]:
    return [o for o in got.mail_options if o.upper().startswith("BODY=")]


def rig_body(rig: Rig) -> bytes:
    with rig.db.engine.connect() as conn:
        return bytes(conn.execute(select(message_bodies.c.data)).scalar_one())
