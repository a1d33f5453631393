"""A real, scriptable SMTP server for tests (aiosmtpd in a background thread).

Usage from any test module (``tests/`` has no ``__init__.py``, so pytest puts it on
``sys.path`` and this module imports as a top-level name)::

    from smtpserver import running_smtp_server

    def test_something() -> None:
        with running_smtp_server() as server:
            ...  # point the code under test at server.host / server.port
            server.fail_rcpt["nobody@example.org"] = "550 5.1.1 No such user"
            server.fail_rcpt["*"] = "451 4.3.0 Try later"      # "*" matches every address
            server.clear_failures()
            server.stop(); server.start()                      # down and back, SAME port
            assert server.messages[0].message["Subject"] == "Hi"

Options (keyword arguments of ``running_smtp_server`` / ``SmtpTestServer``):

* ``host`` (an IP address, default ``127.0.0.1``) and ``port`` (default 0: the OS picks a free
  one when the server starts; read it from ``server.port``; a restart reuses it).

* ``tls``: ``None`` (plain), ``"starttls"`` (offers STARTTLS) or ``"implicit"`` (TLS from the
  first byte, like port 465). The certificate is issued for ``127.0.0.1`` and ``localhost`` by a
  throw-away trustme CA whose PEM file is ``server.ca_file``; pass ``ca=`` to share one CA
  between servers, or ``trusted=False`` to get a certificate from a CA that is NOT in
  ``ca_file`` (for "untrusted certificate" tests).
* ``require_starttls``: with ``tls="starttls"``, refuse mail until the client upgraded.
* ``auth``: ``(username, password)``; AUTH PLAIN/LOGIN are then offered even without TLS and
  required before MAIL.
* ``close_on_421`` (default True): after any scripted ``421`` reply, the server drops the
  connection, as real servers do.
* ``connection_limit``: at most this many connections at once; one more is greeted with
  ``421 4.7.0 Error: too many connections from <client>`` and closed, as Postfix's
  ``smtpd_client_connection_count_limit`` does (counted in ``refused_connections``).
* ``eightbitmime`` (default True): whether EHLO offers 8BITMIME (RFC 6152).

Scripted replies: ``fail_mail`` (keyed by envelope sender), ``fail_rcpt`` and ``fail_data``
(keyed by recipient; for DATA the first recipient of the transaction with a rule wins). Each is
either a dict (exact address, then lower-cased address, then ``"*"``) or a callable
``address -> reply | None``; a reply is a complete SMTP reply line such as
``"451 4.3.0 Try later"``. They can be changed at any time, also while a client is connected.
``data_delay`` (seconds) delays the reply to the end of DATA (the message is recorded after
the delay, unless the client hung up meanwhile), and ``mail_delay`` the reply to MAIL FROM,
for timeout tests.

Everything recorded is safe to read from the test thread: ``messages`` (a snapshot list of
``ReceivedMessage``), ``connection_count`` (SMTP sessions that sent EHLO/HELO; a STARTTLS upgrade
does not count twice, aiosmtpd's internal start-up probe does not count at all),
``auth_failures``, ``quit_count``, ``wait_for_messages(n)``; ``reset()`` forgets all of it
(and the scripted failures) when one server is shared by several tests.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import logging
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

ReplyRule = Mapping[str, str] | Callable[[str], "str | None"]
TlsMode = Literal["starttls", "implicit"] | None

__all__ = [
    "ReceivedMessage",
    "ReplyRule",
    "ReplyScript",
    "SmtpTestServer",
    "free_port",
    "running_smtp_server",
]


class _DropLoginDataNoise(logging.Filter):
    """aiosmtpd 1.4 logs a deprecation WARNING on every successful AUTH (its own doing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Session.login_data is deprecated" not in record.getMessage()


_mail_log = logging.getLogger("mail.log")
if not any(isinstance(f, _DropLoginDataNoise) for f in _mail_log.filters):
    _mail_log.addFilter(_DropLoginDataNoise())


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the server itself binds port 0 and needs no guess)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted (250 after DATA)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # exactly as received, after SMTP dot-unstuffing; CRLF line endings
    message: email.message.EmailMessage  # email.message_from_bytes(data, policy=default)
    connection: int  # 1-based number of the SMTP connection that delivered it
    tls: bool  # the session was encrypted (implicit TLS or after STARTTLS)
    auth_user: str | None  # the AUTH login name, if the client authenticated
    mail_options: tuple[str, ...] = ()  # the MAIL FROM parameters, e.g. ("BODY=8BITMIME",)


class ReplyScript(dict[str, str]):
    """Scripted replies by address (exact, then lower-cased, then ``"*"``), after an optional
    callable ``rule`` that is asked first. Assigning a dict or a callable to
    ``server.fail_rcpt`` (etc.) wraps it in one of these."""

    def __init__(self, rule: ReplyRule | None = None) -> None:
        super().__init__()
        self.rule: Callable[[str], str | None] | None = None
        if callable(rule):
            self.rule = rule
        elif rule is not None:
            for address, reply in rule.items():
                self[address] = reply

    def __setitem__(self, address: str, reply: str) -> None:
        super().__setitem__(address, _check_reply(reply))  # a typo fails in the test, not later

    def reply_for(self, address: str) -> str | None:
        if self.rule is not None:
            reply = self.rule(address)
            if reply is not None:
                return _check_reply(reply)
        for key in (address, address.lower(), "*"):
            reply = self.get(key)
            if reply is not None:
                return reply
        return None


def _check_reply(reply: str) -> str:
    code = reply[:3]
    if not (code.isdigit() and code[0] in "2345" and (len(reply) == 3 or reply[3] in " -")):
        raise ValueError(f"not an SMTP reply line: {reply!r}")
    return reply


class _Handler:
    """aiosmtpd handler: records messages and applies the owner's scripted failures."""

    def __init__(self, owner: SmtpTestServer) -> None:
        self.owner = owner

    async def handle_HELO(self, server: SMTP, session: Any, envelope: Any, hostname: str) -> str:
        session.host_name = hostname
        self.owner._greeted(server)
        return f"250 {server.hostname}"

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.owner._greeted(server)
        if not self.owner.eightbitmime:
            return [r for r in responses if r[4:].upper() != "8BITMIME"]
        return responses

    async def handle_QUIT(self, server: SMTP, session: Any, envelope: Any) -> str:
        with self.owner._cond:
            self.owner.quit_count += 1
        return "221 Bye"

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.owner.mail_delay > 0:
            await asyncio.sleep(self.owner.mail_delay)
        if self.owner.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        reply = self.owner.fail_mail.reply_for(address)
        if reply is not None:
            return self.owner._failure(server, reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.owner.fail_rcpt.reply_for(address)
        if reply is not None:
            return self.owner._failure(server, reply)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.owner.data_delay > 0:
            await asyncio.sleep(self.owner.data_delay)
        for rcpt in envelope.rcpt_tos:
            reply = self.owner.fail_data.reply_for(rcpt)
            if reply is not None:
                return self.owner._failure(server, reply)
        data = bytes(envelope.original_content or b"")
        auth = session.auth_data
        auth_user = auth.login.decode() if isinstance(auth, LoginPassword) else None
        self.owner._record(
            ReceivedMessage(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=data,
                message=_parse(data),
                connection=getattr(server, "connection_number", 0),
                tls=session.ssl is not None or _is_tls(server.transport),
                auth_user=auth_user,
                mail_options=tuple(envelope.mail_options),
            )
        )
        return "250 2.0.0 OK queued"


def _is_tls(transport: asyncio.BaseTransport | None) -> bool:
    return transport is not None and transport.get_extra_info("ssl_object") is not None


def _parse(data: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


class _SMTP(SMTP):
    """aiosmtpd's protocol (one instance per TCP connection) that reports open/close."""

    def __init__(self, handler: Any, *, owner: SmtpTestServer, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.owner = owner
        self.connection_number = 0  # set on the first EHLO/HELO
        self._refused = False  # greeted with 421: over connection_limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        limit = self.owner.connection_limit
        self._refused = limit is not None and len(self.owner._live) >= limit
        if self._refused:
            assert isinstance(transport, asyncio.Transport)
            peer = transport.get_extra_info("peername") or ("?",)
            transport.write(f"421 4.7.0 Error: too many connections from {peer[0]}\r\n".encode())
            transport.close()
            with self.owner._cond:
                self.owner.refused_connections += 1
            return
        super().connection_made(transport)
        self.owner._live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        self.owner._live.discard(self)
        super().connection_lost(error)

    def abort(self) -> None:
        for transport in (self.transport, self._original_transport):
            if isinstance(transport, asyncio.Transport):
                transport.abort()


class _Controller(Controller):
    """Controller that binds the port itself (port 0 -> OS choice, no guessing race)."""

    def __init__(self, owner: SmtpTestServer, **kwargs: Any) -> None:
        super().__init__(_Handler(owner), **kwargs)
        self.owner = owner

    def factory(self) -> SMTP:
        return _SMTP(self.handler, owner=self.owner, **self.SMTP_kwargs)

    def _create_server(self) -> Any:
        return self._bind()

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server


class SmtpTestServer:
    """See the module docstring. Not started until ``start()`` (or ``with``)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsMode = None,
        require_starttls: bool = False,
        auth: tuple[str, str] | None = None,
        ca: Any = None,
        trusted: bool = True,
        close_on_421: bool = True,
        server_hostname: str = "localhost",
        connection_limit: int | None = None,
        eightbitmime: bool = True,
    ) -> None:
        if tls not in (None, "starttls", "implicit"):
            raise ValueError(f"tls must be None, 'starttls' or 'implicit', not {tls!r}")
        if require_starttls and tls != "starttls":
            raise ValueError("require_starttls needs tls='starttls'")
        self.host = host
        self.port = port
        self.tls: TlsMode = tls
        self.auth = auth
        self.close_on_421 = close_on_421
        self.connection_limit = connection_limit
        self.eightbitmime = eightbitmime
        self.refused_connections = 0
        self._fail_mail = ReplyScript()
        self._fail_rcpt = ReplyScript()
        self._fail_data = ReplyScript()
        self.data_delay = 0.0
        self.mail_delay = 0.0
        self.auth_failures = 0
        self.quit_count = 0
        self._require_starttls = require_starttls
        self._server_hostname = server_hostname
        self._cond = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._connections = 0
        self._live: set[_SMTP] = set()
        self._controller: _Controller | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: str | None = None
        self._ssl_context: ssl.SSLContext | None = None
        if tls is not None:
            self._setup_tls(ca, trusted)

    # -- TLS ------------------------------------------------------------------------------

    def _setup_tls(self, ca: Any, trusted: bool) -> None:
        import trustme  # only TLS tests need it (project "test" extra)

        trusted_ca = ca if ca is not None else trustme.CA()
        issuer = trusted_ca if trusted else trustme.CA()
        self._tmpdir = tempfile.TemporaryDirectory(prefix="smtpserver-")
        ca_path = Path(self._tmpdir.name) / "ca.pem"
        trusted_ca.cert_pem.write_to_path(str(ca_path))
        self.ca_file = str(ca_path)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)  # verify_mode CERT_NONE
        issuer.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(ctx)
        self._ssl_context = ctx

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's CA (handy for raw clients)."""
        if self.ca_file is None:
            raise RuntimeError("server runs without TLS")
        return ssl.create_default_context(cafile=self.ca_file)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Start listening; after a ``stop()`` this binds the same port again."""
        if self._controller is not None:
            raise RuntimeError("SMTP test server already running")
        kwargs: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": self._server_hostname,
            "ready_timeout": 10.0,
        }
        if self.tls == "implicit":
            kwargs["ssl_context"] = self._ssl_context
        elif self.tls == "starttls":
            kwargs["tls_context"] = self._ssl_context
            kwargs["require_starttls"] = self._require_starttls
        if self.auth is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_require_tls"] = False
        controller = _Controller(self, **kwargs)
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        """Stop listening and cut every open client connection (like a server going down)."""
        controller = self._controller
        if controller is None:
            return
        self._controller = None
        loop = controller.loop

        async def cut() -> None:
            for proto in list(self._live):
                proto.abort()

        if loop.is_running():
            asyncio.run_coroutine_threadsafe(cut(), loop).result(timeout=5)
        controller.stop()
        self._live.clear()

    def close(self) -> None:
        self.stop()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> SmtpTestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scripted failures -------------------------------------------------------------------

    @property
    def fail_mail(self) -> ReplyScript:
        return self._fail_mail

    @fail_mail.setter
    def fail_mail(self, value: ReplyRule) -> None:
        self._fail_mail = ReplyScript(value)

    @property
    def fail_rcpt(self) -> ReplyScript:
        return self._fail_rcpt

    @fail_rcpt.setter
    def fail_rcpt(self, value: ReplyRule) -> None:
        self._fail_rcpt = ReplyScript(value)

    @property
    def fail_data(self) -> ReplyScript:
        return self._fail_data

    @fail_data.setter
    def fail_data(self, value: ReplyRule) -> None:
        self._fail_data = ReplyScript(value)

    def clear_failures(self) -> None:
        self._fail_mail = ReplyScript()
        self._fail_rcpt = ReplyScript()
        self._fail_data = ReplyScript()
        self.data_delay = 0.0
        self.mail_delay = 0.0

    def _failure(self, server: Any, reply: str) -> str:
        if self.close_on_421 and reply.startswith("421"):
            # The reply is written before this callback runs (push() writes synchronously).
            server.loop.call_soon(server.abort)
        return reply

    def _authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.auth is not None
        user, password = self.auth
        ok = bool(
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        if not ok:
            with self._cond:
                self.auth_failures += 1
        if not ok:
            # handled=False: let aiosmtpd send "535 5.7.8 Authentication credentials invalid"
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)

    # -- recordings --------------------------------------------------------------------------

    def _greeted(self, server: Any) -> None:
        if getattr(server, "connection_number", 1) == 0:
            with self._cond:
                self._connections += 1
                server.connection_number = self._connections

    def _record(self, message: ReceivedMessage) -> None:
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of every accepted message, oldest first."""
        with self._cond:
            return list(self._messages)

    @property
    def connection_count(self) -> int:
        with self._cond:
            return self._connections

    def clear_messages(self) -> None:
        with self._cond:
            self._messages.clear()

    def reset(self) -> None:
        """Forget messages, counters and scripted failures (for a server shared by tests)."""
        self.clear_failures()
        with self._cond:
            self._messages.clear()
            self._connections = 0
            self.refused_connections = 0
            self.auth_failures = 0
            self.quit_count = 0

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} message(s) within {timeout}s, got {len(self._messages)}"
                    )
                self._cond.wait(remaining)
            return list(self._messages)


@contextmanager
def running_smtp_server(**options: Any) -> Iterator[SmtpTestServer]:
    """Start an ``SmtpTestServer(**options)`` and always shut it down afterwards."""
    server = SmtpTestServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.close()
