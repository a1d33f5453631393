"""Transport layer against a real SMTP server (aiosmtpd in a thread) and a real directory."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import re
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from smtpserver import SmtpTestServer, free_port, running_smtp_server

from scheduler.config import load_settings
from scheduler.mail.transports import (
    Envelope,
    FileTransport,
    SmtpOptions,
    SmtpSender,
    SmtpTransport,
    TransportError,
    Verdict,
    make_transport,
)

T = TypeVar("T")
SENDER = "intl@example.org"


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


def envelope(i: int, recipient: str = "friend@example.jp") -> Envelope:
    data = (
        "From: Chiang Mai International Affairs <intl@example.org>\r\n"
        f"To: {recipient}\r\n"
        f"Subject: Reminder {i}\r\n"
        f"Message-ID: <{i}@sistercity.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"สวัสดี {i}\r\n"
        ".a line starting with a dot\r\n"
        "..and one with two\r\n"
        ".\r\n"
        "end\r\n"
    ).encode()
    return Envelope(message_id=i, sender=SENDER, recipient=recipient, data=data)


def options(server: SmtpTestServer, **changes: Any) -> SmtpOptions:
    base = SmtpOptions(
        host=server.host,
        port=server.port,
        security="none",
        username="",
        password=None,
        timeout_seconds=5.0,
        max_connections=2,
        cafile=server.ca_file,
    )
    return dataclasses.replace(base, **changes)


async def with_sender(opts: SmtpOptions, body: Callable[[SmtpSender], Awaitable[T]]) -> T:
    sender = await SmtpTransport(opts).open_sender()
    try:
        return await body(sender)
    finally:
        await sender.close()


async def send_expecting_error(sender: SmtpSender, env: Envelope) -> TransportError:
    with pytest.raises(TransportError) as info:
        await sender.send(env)
    return info.value


@pytest.fixture
def server() -> Iterator[SmtpTestServer]:
    with running_smtp_server() as srv:
        yield srv


# -- FileTransport ------------------------------------------------------------------------------

NAME = re.compile(r"^\d{8}-\d{6}-\d{6}-[a-z0-9.@_-]{1,64}\.eml$")


def test_file_transport_writes_exact_bytes_atomically(tmp_path: Path) -> None:
    outbox = tmp_path / "var" / "mail"  # does not exist yet
    transport = FileTransport(outbox)
    assert transport.max_connections == 1
    env = envelope(42, "Somchai.K@Example.ORG")

    async def go() -> None:
        sender = await transport.open_sender()
        await sender.send(env)
        await sender.send(env)  # a re-send: same id in the name, never a partial file
        await sender.close()

    run(go())
    files = sorted(outbox.iterdir())
    assert files, "nothing written"
    assert all(NAME.match(f.name) for f in files), files
    assert all("-000042-somchai.k@example.org.eml" in f.name for f in files)
    data = files[0].read_bytes()
    assert data == env.data
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == "Reminder 42"
    assert "สวัสดี 42" in parsed.get_content()


@pytest.mark.parametrize(
    "recipient",
    [
        "../../etc/passwd@x",
        "/etc/passwd",
        "a/b\\c\x00d\r\n@x.org",
        "..",
        "",
        "ยินดี@ตัวอย่าง.ไทย",
        "x" * 500 + "@example.org",
    ],
)
def test_file_transport_names_are_safe_for_hostile_recipients(
    tmp_path: Path, recipient: str
) -> None:
    outbox = tmp_path / "outbox"
    run(_send_file(outbox, Envelope(7, SENDER, recipient, b"Subject: x\r\n\r\nhi\r\n")))
    everything = list(tmp_path.rglob("*"))
    assert len(everything) == 2, everything  # the outbox dir and one file in it
    (written,) = outbox.iterdir()
    assert NAME.match(written.name), written.name
    assert ".." not in written.name
    assert written.read_bytes() == b"Subject: x\r\n\r\nhi\r\n"


async def _send_file(outbox: Path, env: Envelope) -> None:
    sender = await FileTransport(outbox).open_sender()
    try:
        await sender.send(env)
    finally:
        await sender.close()  # as delivery does: the empty staging folder goes


def test_file_transport_oserror_is_temporary_and_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the outbox directory should be")
    with pytest.raises(TransportError) as info:
        run(_send_file(blocker, envelope(1)))
    err = info.value
    assert err.verdict is Verdict.DOWN  # every message would fail the same way: stop the round
    assert str(blocker) in str(err)


def test_make_transport_follows_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[email]\ntransport = "file"\noutbox_dir = "out"\n', encoding="utf-8")
    files = make_transport(load_settings(str(config)))
    assert isinstance(files, FileTransport)
    assert files.outbox_dir == tmp_path / "out"
    config.write_text(
        '[email]\ntransport = "smtp"\n[smtp]\nhost = "h"\nport = 2525\nmax_connections = 3\n',
        encoding="utf-8",
    )
    smtp = make_transport(load_settings(str(config)))
    assert isinstance(smtp, SmtpTransport)
    assert smtp.max_connections == 3
    assert (smtp.settings.host, smtp.settings.port) == ("h", 2525)


def test_smtp_options_are_checked() -> None:
    with pytest.raises(ValueError):
        SmtpOptions("h", 25, "ssl", "", None, 3.0, 3)  # type: ignore[arg-type]


# -- SMTP: the happy path -----------------------------------------------------------------------


def test_twenty_messages_over_one_connection(server: SmtpTestServer) -> None:
    envs = [envelope(i, f"friend{i}@example.jp") for i in range(20)]

    async def body(sender: SmtpSender) -> None:
        for env in envs:
            await sender.send(env)
        assert sender.connections_opened == 1

    run(with_sender(options(server), body))
    got = server.messages
    assert [m.data for m in got] == [e.data for e in envs]  # exact bytes, dots unstuffed
    assert [m.rcpt_tos for m in got] == [(e.recipient,) for e in envs]
    assert {m.mail_from for m in got} == {SENDER}
    assert {m.connection for m in got} == {1}
    assert server.connection_count == 1
    assert got[3].message["Subject"] == "Reminder 3"
    assert server.quit_count == 1  # close() said goodbye
    assert not got[0].tls  # security="none" never upgrades


def test_concurrent_sends_on_one_sender_are_serialised(server: SmtpTestServer) -> None:
    async def body(sender: SmtpSender) -> None:
        await asyncio.gather(*(sender.send(envelope(i)) for i in range(5)))

    run(with_sender(options(server), body))
    assert len(server.messages) == 5
    assert server.connection_count == 1


def test_close_without_sending_and_twice(server: SmtpTestServer) -> None:
    async def go() -> None:
        sender = await SmtpTransport(options(server)).open_sender()
        await sender.close()
        await sender.send(envelope(1))
        await sender.close()
        await sender.close()

    run(go())
    assert len(server.messages) == 1


# -- SMTP: refusals -----------------------------------------------------------------------------


def test_451_on_rcpt_is_temporary_and_the_connection_stays(server: SmtpTestServer) -> None:
    server.fail_rcpt["friend@example.jp"] = "451 4.3.0 Try again later"

    async def body(sender: SmtpSender) -> TransportError:
        err = await send_expecting_error(sender, envelope(1))
        server.clear_failures()
        await sender.send(envelope(2))
        return err

    err = run(with_sender(options(server), body))
    assert (err.verdict, err.code) == (Verdict.RETRY, 451)
    assert str(err) == f"451 4.3.0 Try again later ({server.host}:{server.port})"
    assert [m.message["Subject"] for m in server.messages] == ["Reminder 2"]
    assert server.connection_count == 1


def test_550_on_rcpt_is_permanent(server: SmtpTestServer) -> None:
    server.fail_rcpt["nobody@example.jp"] = "550 5.1.1 No such user"

    async def body(sender: SmtpSender) -> TransportError:
        err = await send_expecting_error(sender, envelope(1, "nobody@example.jp"))
        await sender.send(envelope(2, "friend@example.jp"))
        return err

    err = run(with_sender(options(server), body))
    assert (err.verdict, err.code) == (Verdict.FAIL, 550)
    assert "550 5.1.1 No such user" in str(err)
    assert len(server.messages) == 1


def test_452_for_one_recipient_among_many(server: SmtpTestServer) -> None:
    server.fail_rcpt = lambda rcpt: "452 4.2.2 Mailbox full" if rcpt.startswith("full") else None
    recipients = ["a@example.jp", "full@example.jp", "b@example.jp"]

    async def body(sender: SmtpSender) -> list[TransportError | None]:
        results: list[TransportError | None] = []
        for i, rcpt in enumerate(recipients):
            try:
                await sender.send(envelope(i, rcpt))
                results.append(None)
            except TransportError as exc:
                results.append(exc)
        return results

    results = run(with_sender(options(server), body))
    err = results[1]
    assert results[0] is None and results[2] is None
    assert err is not None and (err.verdict, err.code) == (Verdict.RETRY, 452)
    assert [m.rcpt_tos for m in server.messages] == [("a@example.jp",), ("b@example.jp",)]
    assert server.connection_count == 1


@pytest.mark.parametrize(
    ("where", "reply", "verdict"),
    [
        ("data", "554 5.6.0 Message rejected", Verdict.FAIL),
        ("data", "451 4.7.1 Greylisted", Verdict.RETRY),
        ("mail", "553 5.7.1 Sender not allowed", Verdict.FAIL),
        ("mail", "450 4.7.1 Slow down", Verdict.BUSY),  # aimed at the client: all mail
        ("rcpt", "450 4.7.1 Error: too many recipients from 127.0.0.1", Verdict.BUSY),
        ("rcpt", "452 4.2.2 Mailbox full", Verdict.RETRY),
    ],
)
def test_refusals_after_rcpt_are_classified_by_code(
    server: SmtpTestServer, where: str, reply: str, verdict: Verdict
) -> None:
    if where == "data":
        server.fail_data["*"] = reply
    elif where == "rcpt":
        server.fail_rcpt["*"] = reply
    else:
        server.fail_mail[SENDER] = reply

    async def body(sender: SmtpSender) -> TransportError:
        err = await send_expecting_error(sender, envelope(1))
        server.clear_failures()
        await sender.send(envelope(2))  # the session was RSET and is still usable
        return err

    err = run(with_sender(options(server), body))
    assert (err.verdict, err.code) == (verdict, int(reply[:3]))
    assert reply in str(err)
    assert len(server.messages) == 1
    assert server.connection_count == 1


def test_421_drops_the_connection_and_the_next_send_reconnects(server: SmtpTestServer) -> None:
    server.fail_rcpt["*"] = "421 4.3.2 System shutting down"

    async def body(sender: SmtpSender) -> TransportError:
        err = await send_expecting_error(sender, envelope(1))
        assert not sender.connected
        server.clear_failures()
        await sender.send(envelope(2))
        assert sender.connections_opened == 2
        return err

    err = run(with_sender(options(server), body))
    assert (err.verdict, err.code) == (Verdict.BUSY, 421)  # the client's problem, not the message's
    assert len(server.messages) == 1
    assert server.connection_count == 2


# -- SMTP: the server is away -------------------------------------------------------------------


def test_nobody_listening_is_unreachable() -> None:
    opts = SmtpOptions("127.0.0.1", free_port(), "none", "", None, 2.0, 1)

    async def body(sender: SmtpSender) -> TransportError:
        return await send_expecting_error(sender, envelope(1))

    err = run(with_sender(opts, body))
    assert err.verdict is Verdict.UNREACHABLE  # never offered: not an attempt at the message
    assert f"127.0.0.1:{opts.port}" in str(err)


def test_a_slow_answer_to_the_end_of_data_is_awaited_not_resent(server: SmtpTestServer) -> None:
    # RFC 5321 §4.5.3.2.6: the end of DATA is awaited 10 minutes, whatever timeout_seconds says.
    server.data_delay = 1.5

    async def body(sender: SmtpSender) -> None:
        await sender.send(envelope(1))
        await sender.send(envelope(2))

    run(with_sender(options(server, timeout_seconds=0.3), body))
    assert [m.message["Subject"] for m in server.messages] == ["Reminder 1", "Reminder 2"]
    assert server.connection_count == 1  # no give-up, no reconnect


def test_no_answer_to_the_end_of_data_is_an_attempt_never_an_instant_resend(
    server: SmtpTestServer,
) -> None:
    server.data_delay = 1.0

    async def body(sender: SmtpSender) -> TransportError:
        return await send_expecting_error(sender, envelope(1))

    opts = options(server, timeout_seconds=0.1, data_timeout_seconds=0.4)
    err = run(with_sender(opts, body))
    assert err.verdict is Verdict.DOWN  # offered, maybe even accepted late: an attempt
    assert str(err) == f"{server.host}:{server.port} did not answer within 0.4s"
    # offered once on one connection (not resent on a new one): the back-off decides the rest
    assert server.connection_count == 1


def test_other_commands_keep_timeout_seconds(server: SmtpTestServer) -> None:
    server.mail_delay = 2.0

    async def body(sender: SmtpSender) -> TransportError:
        return await send_expecting_error(sender, envelope(1))

    err = run(with_sender(options(server, timeout_seconds=0.3), body))
    assert err.verdict is Verdict.DOWN
    assert str(err) == f"{server.host}:{server.port} did not answer within 0.3s"


@pytest.mark.parametrize("noticed", [False, True], ids=["drop-unnoticed", "drop-noticed"])
def test_server_restart_mid_way_reconnects_and_delivers(
    server: SmtpTestServer, noticed: bool
) -> None:
    port = server.port

    async def body(sender: SmtpSender) -> None:
        for i in range(3):
            await sender.send(envelope(i))
        server.stop()  # cuts the open connection
        server.start()
        assert server.port == port
        if noticed:
            await asyncio.sleep(0.1)  # let the client see the EOF before the next send
        for i in range(3, 6):
            await sender.send(envelope(i))
        assert sender.connections_opened == 2

    run(with_sender(options(server), body))
    assert [m.message["Subject"] for m in server.messages] == [f"Reminder {i}" for i in range(6)]
    assert server.connection_count == 2


def test_server_down_mid_way_is_unreachable_then_recovers(server: SmtpTestServer) -> None:
    async def body(sender: SmtpSender) -> TransportError:
        await sender.send(envelope(1))
        server.stop()
        err = await send_expecting_error(sender, envelope(2))
        err_again = await send_expecting_error(sender, envelope(3))
        assert err_again.verdict is Verdict.UNREACHABLE
        server.start()
        await sender.send(envelope(4))
        return err

    err = run(with_sender(options(server), body))
    assert err.verdict is Verdict.UNREACHABLE  # the reconnect for message 2 found nobody
    assert [m.message["Subject"] for m in server.messages] == ["Reminder 1", "Reminder 4"]


# -- SMTP: TLS ----------------------------------------------------------------------------------

TLS_MODES = [("starttls", "starttls"), ("implicit", "tls")]


@pytest.mark.parametrize(("server_tls", "security"), TLS_MODES)
def test_tls_verifies_against_the_ca_and_delivers(server_tls: str, security: str) -> None:
    with running_smtp_server(tls=server_tls) as srv:
        run(with_sender(options(srv, security=security), lambda s: s.send(envelope(1))))
        (msg,) = srv.messages
    assert msg.tls
    assert msg.data == envelope(1).data


@pytest.mark.parametrize(("server_tls", "security"), TLS_MODES)
def test_untrusted_certificate_fails_unless_verification_is_off(
    server_tls: str, security: str
) -> None:
    with running_smtp_server(tls=server_tls, trusted=False) as srv:
        opts = options(srv, security=security)

        async def body(sender: SmtpSender) -> TransportError:
            return await send_expecting_error(sender, envelope(1))

        err = run(with_sender(opts, body))
        assert err.verdict is Verdict.UNREACHABLE
        assert "certificate" in str(err).lower()
        assert srv.messages == []

        run(with_sender(dataclasses.replace(opts, verify_tls=False), lambda s: s.send(envelope(2))))
        (msg,) = srv.messages
    assert msg.tls


def test_security_none_does_not_upgrade_even_when_offered() -> None:
    with running_smtp_server(tls="starttls") as srv:
        run(with_sender(options(srv), lambda s: s.send(envelope(1))))
        (msg,) = srv.messages
    assert not msg.tls


def test_starttls_required_but_not_offered_is_unreachable(server: SmtpTestServer) -> None:
    async def body(sender: SmtpSender) -> TransportError:
        return await send_expecting_error(sender, envelope(1))

    err = run(with_sender(options(server, security="starttls"), body))
    assert err.verdict is Verdict.UNREACHABLE
    assert "STARTTLS" in str(err)
    assert server.messages == []


# -- SMTP: AUTH ---------------------------------------------------------------------------------

PASSWORD = "s3cret-Horse-Battery"


@pytest.mark.parametrize(("server_tls", "security"), [(None, "none"), ("starttls", "starttls")])
def test_auth_login_works(server_tls: str | None, security: str) -> None:
    with running_smtp_server(tls=server_tls, auth=("alice", PASSWORD)) as srv:
        opts = options(srv, security=security, username="alice", password=PASSWORD)
        run(with_sender(opts, lambda s: s.send(envelope(1))))
        (msg,) = srv.messages
    assert msg.auth_user == "alice"


def test_wrong_password_stops_the_round_without_leaking_it() -> None:
    wrong = "wrong-Password-123"
    with running_smtp_server(auth=("alice", PASSWORD)) as srv:
        opts = options(srv, username="alice", password=wrong)

        async def body(sender: SmtpSender) -> TransportError:
            return await send_expecting_error(sender, envelope(1))

        err = run(with_sender(opts, body))
        assert srv.auth_failures >= 1
        assert srv.messages == []
    assert err.verdict is Verdict.UNREACHABLE
    assert err.code == 535
    assert str(err).startswith("SMTP login as alice refused: 535")
    shown = "".join(traceback.format_exception(err)) + repr(err) + repr(opts)
    assert wrong not in shown
    assert PASSWORD not in shown


def test_no_credentials_against_an_auth_server_stops_the_round() -> None:
    # Without AUTH the server refuses MAIL with 530: every message would fail the same way.
    with running_smtp_server(auth=("alice", PASSWORD)) as srv:

        async def body(sender: SmtpSender) -> TransportError:
            return await send_expecting_error(sender, envelope(1))

        err = run(with_sender(options(srv), body))
    assert err.code == 530
    assert err.verdict is Verdict.DOWN  # MAIL was refused: an attempt, and the round stops


# -- SMTP: addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recipient",
    ["bad\r\nRCPT TO:<evil@example.org>", "Name <friend@example.jp>", "no-at-sign", "", "a b@c.d"],
)
def test_non_bare_addresses_are_refused_before_talking_to_the_server(
    server: SmtpTestServer, recipient: str
) -> None:
    # aiosmtplib on its own would extract and deliver to "evil@example.org" here.
    async def body(sender: SmtpSender) -> TransportError:
        err = await send_expecting_error(sender, envelope(1, recipient))
        await sender.send(envelope(2))  # the connection is unaffected
        return err

    err = run(with_sender(options(server), body))
    assert err.verdict is Verdict.FAIL
    assert "invalid recipient address" in str(err)
    assert [m.rcpt_tos for m in server.messages] == [("friend@example.jp",)]


def test_internationalised_address_goes_out_with_smtputf8(server: SmtpTestServer) -> None:
    thai = "สมชาย@ตัวอย่าง.ไทย"
    run(with_sender(options(server), lambda s: s.send(envelope(1, thai))))
    (msg,) = server.messages
    assert msg.rcpt_tos == (thai,)
