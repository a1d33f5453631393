"""Handing finished messages to the outside world: a directory of .eml files, or SMTP.

The delivery loop opens up to `Transport.max_connections` senders and pushes envelopes through
them one at a time. A sender either returns (the message was accepted) or raises
`TransportError`, which tells the loop what to do with the message:

* `permanent`   -- the server refused it for good (5xx): fail the message now;
* `unreachable` -- we could not talk to the server at all (or could not log in): keep the
  message and stop the round, because every other message would fail the same way;
* neither       -- a temporary refusal of this message (4xx): retry it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import aiosmtplib

log = logging.getLogger(__name__)

__all__ = [
    "Envelope",
    "FileSender",
    "FileTransport",
    "Sender",
    "SmtpOptions",
    "SmtpSender",
    "SmtpTransport",
    "Transport",
    "TransportError",
    "make_transport",
]


@dataclass(frozen=True)
class Envelope:
    message_id: int  # outbox row id, for logs
    sender: str  # bare envelope-from address
    recipient: str  # one recipient (every message has exactly one)
    data: bytes  # the complete RFC 5322 message, CRLF line endings


class TransportError(Exception):
    """`permanent`: the server refused for good (5xx) -> the message fails now.
    `unreachable`: we could not talk to the server at all (connect refused/timeout, TLS handshake
    failure, lost connection before the message was accepted) -> temporary; the caller stops the
    delivery round instead of burning an attempt on every queued message.
    `connecting`: the failure came before this message was offered to the server (connect, TLS,
    login): it says nothing about the message, so it does not count as an attempt at it."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        unreachable: bool = False,
        code: int | None = None,
        connecting: bool = False,
    ) -> None:
        if permanent and unreachable:
            raise ValueError("a TransportError cannot be both permanent and unreachable")
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.unreachable = unreachable
        self.code = code
        self.connecting = connecting

    @property
    def temporary(self) -> bool:
        return not self.permanent

    def __repr__(self) -> str:
        flags = (
            "permanent" if self.permanent else "unreachable" if self.unreachable else "temporary"
        )
        return f"TransportError({self.message!r}, {flags}, code={self.code})"


class Sender(Protocol):
    async def send(self, envelope: Envelope) -> None:
        """Return when the message was accepted; otherwise raise TransportError."""
        ...

    async def close(self) -> None: ...


class Transport(Protocol):
    max_connections: int

    async def open_sender(self) -> Sender:
        """One connection's worth of sending, reused for many messages."""
        ...


# --------------------------------------------------------------------------------------------
# Files


_UNSAFE = re.compile(r"[^a-z0-9.@_-]+")
_MAX_NAME_RECIPIENT = 64


def safe_recipient(recipient: str) -> str:
    """The recipient as a file-name fragment: only [a-z0-9.@_-], no "..", at most 64 chars."""
    name = _UNSAFE.sub("_", recipient.lower())
    name = re.sub(r"\.{2,}", ".", name).strip(".")[:_MAX_NAME_RECIPIENT]
    return name or "unknown"


class FileSender:
    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = outbox_dir

    def filename(self, envelope: Envelope, now: dt.datetime | None = None) -> str:
        stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{envelope.message_id:06d}-{safe_recipient(envelope.recipient)}.eml"

    async def send(self, envelope: Envelope) -> None:
        path = self.outbox_dir / self.filename(envelope)
        try:
            await asyncio.to_thread(_write_atomically, path, envelope.data)
        except OSError as exc:
            # Disk full, permissions, a missing mount: every message would fail the same way.
            raise TransportError(
                f"cannot write {path}: {exc.strerror or exc}", unreachable=True
            ) from exc
        log.debug("message %s written to %s", envelope.message_id, path)

    async def close(self) -> None:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".eml.part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX only)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class FileTransport:
    """Writes every message to `<outbox_dir>/<YYYYMMDD-HHMMSS>-<id:06d>-<recipient>.eml` (UTC)."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)
        self.max_connections = 1

    async def open_sender(self) -> FileSender:
        return FileSender(self.outbox_dir)


# --------------------------------------------------------------------------------------------
# SMTP


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    username: str
    password: str | None = field(repr=False)  # never printed, never in an error text
    timeout_seconds: float
    max_connections: int
    verify_tls: bool = True
    cafile: str | Path | None = None

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, not {self.security!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, not {self.port}")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        if not self.verify_tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        cafile = os.fspath(self.cafile) if self.cafile is not None else None
        return ssl.create_default_context(cafile=cafile)


def _reply(code: int, text: str) -> str:
    return f"{code} {' '.join(text.split())}".strip()


class SmtpSender:
    """One SMTP connection, opened on the first send and reused for every later one.

    If the connection turns out to be gone when a message is sent (idle timeout on the server,
    server restart), it is reopened once and the message is sent again on the new connection.
    """

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options
        self.connections_opened = 0
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    async def send(self, envelope: Envelope) -> None:
        async with self._lock:
            try:
                await self._send_retrying_once(envelope)
            except TransportError as exc:
                log.info("message %s not sent: %s", envelope.message_id, exc.message)
                raise
            log.debug("message %s accepted by %s", envelope.message_id, self.options.where)

    async def _send_retrying_once(self, envelope: Envelope) -> None:
        problem = _address_problem(envelope)
        if problem is not None:
            raise TransportError(problem, permanent=True)
        reused = self.connected
        try:
            await self._send_once(envelope)
        except _ConnectionLost as lost:
            if not reused:
                raise lost.error from lost.__cause__
            log.info(
                "SMTP connection to %s was gone (%s); reconnecting for message %s",
                self.options.where,
                lost.error.message,
                envelope.message_id,
            )
            try:
                await self._send_once(envelope)
            except _ConnectionLost as again:
                raise again.error from again.__cause__

    async def close(self) -> None:
        async with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is None:
                return
            try:
                if smtp.is_connected:
                    await smtp.quit(timeout=min(self.options.timeout_seconds, 5.0))
            except (aiosmtplib.SMTPException, OSError):
                pass
            finally:
                smtp.close()

    # -- internals -------------------------------------------------------------------------

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        o = self.options
        smtp = aiosmtplib.SMTP(
            hostname=o.host,
            port=o.port,
            use_tls=o.security == "tls",
            # aiosmtplib upgrades with STARTTLS whenever the server offers it unless told not
            # to (start_tls=None is its default): be explicit in both directions.
            start_tls=o.security == "starttls",
            tls_context=o.tls_context() if o.security != "none" else None,
            timeout=o.timeout_seconds,
        )
        try:
            try:
                await smtp.connect()
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise TransportError(
                    f"cannot connect to {o.where}: {_describe(exc)}",
                    unreachable=True,
                    connecting=True,
                ) from exc
            if o.username:
                await self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        self.connections_opened += 1
        log.debug("SMTP connection %d to %s open", self.connections_opened, o.where)
        return smtp

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        o = self.options
        try:
            await smtp.login(o.username, o.password or "")
        except aiosmtplib.SMTPResponseException as exc:  # incl. SMTPAuthenticationError
            raise TransportError(
                f"SMTP login as {o.username} refused: {_reply(exc.code, exc.message)} ({o.where})",
                unreachable=True,
                code=exc.code,
                connecting=True,
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransportError(
                f"SMTP login as {o.username} failed: {_describe(exc)} ({o.where})",
                unreachable=True,
                connecting=True,
            ) from exc

    async def _send_once(self, envelope: Envelope) -> None:
        if not self.connected:
            self._drop()
            self._smtp = await self._connect()
        smtp = self._smtp
        assert smtp is not None
        utf8 = not (envelope.sender.isascii() and envelope.recipient.isascii())
        try:
            await smtp.sendmail(
                envelope.sender,
                [envelope.recipient],
                envelope.data,
                mail_options=["SMTPUTF8"] if utf8 else None,
            )
        except BaseException as exc:
            error = self._classify(exc)
            if error is None:  # not ours to interpret (a bug, or cancellation)
                self._drop()
                raise
            if error.unreachable and isinstance(exc, ConnectionError):
                self._drop()  # gone, not slow: worth one reconnect
                raise _ConnectionLost(error) from exc
            if not isinstance(exc, _SERVER_REPLIES) or error.code == 421:
                # aiosmtplib sends RSET after a refusal, but not after anything else: the
                # session may be mid-transaction. 421 means the server is closing anyway.
                self._drop()
            raise error from exc

    def _classify(self, exc: BaseException) -> TransportError | None:
        where = self.options.where
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            refusal = exc.recipients[0]  # exactly one recipient per message
            return _by_code(refusal.code, refusal.message, where)
        if isinstance(exc, aiosmtplib.SMTPHeloError):
            # EHLO/HELO refused: the session, not this message, is the problem.
            return TransportError(
                f"{_reply(exc.code, exc.message)} ({where})", unreachable=True, code=exc.code
            )
        if isinstance(exc, aiosmtplib.SMTPResponseException) and not isinstance(
            exc, aiosmtplib.SMTPConnectError
        ):
            return _by_code(exc.code, exc.message, where)
        # Below: the connection, not the message, is the problem. (In aiosmtplib 5 every
        # connection-level error is an OSError: SMTPServerDisconnected and SMTPConnectError are
        # ConnectionErrors, SMTPTimeoutError is a TimeoutError.)
        if isinstance(exc, TimeoutError):
            timeout = self.options.timeout_seconds
            return TransportError(f"{where} did not answer within {timeout:g}s", unreachable=True)
        if isinstance(exc, ConnectionError):
            return TransportError(f"connection to {where} lost: {_describe(exc)}", unreachable=True)
        if isinstance(exc, OSError):  # ssl.SSLError, socket errors
            return TransportError(f"cannot talk to {where}: {_describe(exc)}", unreachable=True)
        if isinstance(exc, aiosmtplib.SMTPNotSupported):  # SMTPUTF8 needed, not offered
            return TransportError(f"{_describe(exc)} ({where})", permanent=True)
        if isinstance(exc, ValueError):  # aiosmtplib found an address it cannot send
            return TransportError(f"address not accepted for sending: {exc}", permanent=True)
        if isinstance(exc, aiosmtplib.SMTPException):
            return TransportError(f"{_describe(exc)} ({where})")
        return None


_SERVER_REPLIES = (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused)

# A bare address: no display name, brackets, spaces, control characters or a second "@".
# (aiosmtplib would quietly extract "x@y" from "Name <x@y>" -- or from worse.)
_BARE_ADDRESS = re.compile(r'[^\s<>()\[\],;:\\"@]+@[^\s<>()\[\],;:\\"@]+')


def _address_problem(envelope: Envelope) -> str | None:
    for role, address in (("sender", envelope.sender), ("recipient", envelope.recipient)):
        if role == "sender" and address == "":
            continue  # the null reverse-path is legal
        if not (address.isprintable() and _BARE_ADDRESS.fullmatch(address)):
            return f"invalid {role} address {address[:200]!r}"
    return None


class _ConnectionLost(Exception):
    def __init__(self, error: TransportError) -> None:
        super().__init__(error.message)
        self.error = error


def _by_code(code: int, text: str, where: str) -> TransportError:
    message = f"{_reply(code, text)} ({where})"
    if code == 530:
        # "Authentication required": a configuration problem shared by every message.
        return TransportError(message, unreachable=True, code=code)
    return TransportError(message, permanent=500 <= code < 600, code=code)


def _describe(exc: BaseException) -> str:
    """A short text for an error, preferring the root cause over aiosmtplib's wrapping."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _reply(exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPException):
        if isinstance(exc.__cause__, OSError) and not isinstance(exc.__cause__, TimeoutError):
            return _describe(exc.__cause__)
        return exc.message or type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class SmtpTransport:
    def __init__(self, settings: SmtpOptions) -> None:
        self.settings = settings
        self.max_connections = settings.max_connections

    async def open_sender(self) -> SmtpSender:
        return SmtpSender(self.settings)


def make_transport(kind: str, *, outbox_dir: Path, smtp: SmtpOptions | None) -> Transport:
    if kind == "file":
        return FileTransport(outbox_dir)
    if kind == "smtp":
        if smtp is None:
            raise ValueError("the smtp transport needs SmtpOptions")
        return SmtpTransport(smtp)
    raise ValueError(f"unknown transport {kind!r} (expected 'file' or 'smtp')")
