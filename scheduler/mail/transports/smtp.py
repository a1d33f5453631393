"""The SMTP transport (aiosmtplib): one reused connection per sender, replies classified into
a `Verdict` (4xx retry, 5xx fail, a broken session stops the round).

The reply to the end of DATA is awaited up to `data_timeout_seconds` (RFC 5321 §4.5.3.2.6:
10 minutes), not the per-command `timeout_seconds`: the server may be writing the message to
disk, and a client that gives up early and sends again delivers it twice. A message whose DATA
went unanswered (or whose connection dropped during DATA) is never resent on the spot: the
server may have accepted it, so it waits out its back-off like any other attempt.

Only bare addresses go out: aiosmtplib would quietly extract "x@y" from "Name <x@y>" -- or from
worse -- so anything else is refused before the server hears of it.
"""

from __future__ import annotations

import asyncio
import email
import email.generator
import email.policy
import io
import logging
import os
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import aiosmtplib
from aiosmtplib.typing import Default

from scheduler.mail.transports.base import Envelope, TransportError, Verdict

log = logging.getLogger(__name__)

__all__ = ["DATA_END_TIMEOUT", "SmtpOptions", "SmtpSender", "SmtpTransport", "to_7bit"]

# RFC 5321 §4.5.3.2.6 "DATA Termination: 10 minutes", in seconds.
DATA_END_TIMEOUT = 600.0


class _Smtp(aiosmtplib.SMTP):
    """aiosmtplib's client, except that DATA (and above all the reply to its end) is awaited
    up to `data_timeout` seconds, and `in_data` tells whether the last transaction got as far
    as DATA (so the server may have the message)."""

    def __init__(self, *, data_timeout: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # aiosmtplib's own keywords
        self.data_timeout = data_timeout
        self.in_data = False

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: float | Literal[Default.token] | None = Default.token,
    ) -> aiosmtplib.SMTPResponse:
        """DATA with `data_timeout`, whatever `sendmail` passes (its one per-command timeout)."""
        self.in_data = True
        return await super().data(message, timeout=self.data_timeout)


@dataclass(frozen=True)
class SmtpOptions:
    """How to reach the mail server: `security` "none" (plain, never upgraded), "starttls" or
    "tls" (implicit, like port 465); `timeout_seconds` per SMTP command; `max_connections`
    senders at once; `cafile` a PEM bundle to trust instead of the system's;
    `data_timeout_seconds` the wait for the reply to DATA and to the end of the message
    (RFC 5321 §4.5.3.2.6: 10 minutes; shorter only in tests).

    Raises:
        ValueError: a security mode, port (1-65535), timeout (> 0) or connection count (≥ 1)
            out of range.
    """

    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    username: str
    password: str | None = field(repr=False)  # never printed, never in an error text
    timeout_seconds: float
    max_connections: int
    verify_tls: bool = True
    cafile: str | Path | None = None
    data_timeout_seconds: float = DATA_END_TIMEOUT

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, not {self.security!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, not {self.port}")
        if self.timeout_seconds <= 0 or self.data_timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")

    @property
    def data_wait_seconds(self) -> float:
        """How long DATA and the end of the message are awaited: never less than any other
        command."""
        return max(self.data_timeout_seconds, self.timeout_seconds)

    @property
    def where(self) -> str:
        """`host:port`, for messages."""
        return f"{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context for `security` starttls/tls: verifying against `cafile` (or the
        system's CAs), or checking nothing when `verify_tls` is off."""
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
        self._smtp: _Smtp | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        """Whether a connection is open now (it may still turn out to be dead)."""
        return self._smtp is not None and self._smtp.is_connected

    async def send(self, envelope: Envelope) -> None:
        """Send one message (concurrent calls wait their turn); return when the server
        accepted it.

        Raises:
            TransportError: with the verdict for the message and the round (see `Verdict`).
        """
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
            raise TransportError(problem, Verdict.FAIL)
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
        """Say QUIT (briefly) and close; safe to call twice, never raises for the network."""
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

    async def _connect(self) -> _Smtp:
        o = self.options
        smtp = _Smtp(
            data_timeout=o.data_wait_seconds,
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
            except aiosmtplib.SMTPResponseException as exc:
                # A refusing greeting or EHLO: "421 4.7.0 Error: too many connections from …"
                # is about us, for now (BUSY); anything else stops the round (UNREACHABLE).
                busy = _is_busy(exc.code, exc.message)
                raise TransportError(
                    f"{o.where} refused the connection: {_reply(exc.code, exc.message)}",
                    Verdict.BUSY if busy else Verdict.UNREACHABLE,
                    code=exc.code,
                    connecting=True,
                ) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise TransportError(
                    f"cannot connect to {o.where}: {_describe(exc)}",
                    Verdict.UNREACHABLE,
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

    async def _login(self, smtp: _Smtp) -> None:
        """One AUTH exchange, with the first mechanism of PLAIN, LOGIN, CRAM-MD5 the server
        offers: never one mechanism after another with the same credentials (aiosmtplib's
        `login` does that), which doubles the failed logins a server counts."""
        o = self.options
        try:
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
            offered = {m.upper() for m in smtp.server_auth_methods}
            for name, method in (("PLAIN", smtp.auth_plain), ("LOGIN", smtp.auth_login),
                                 ("CRAM-MD5", smtp.auth_crammd5)):
                if name in offered:
                    await method(o.username, o.password or "")
                    return
            raise aiosmtplib.SMTPException(
                "the server offers no AUTH mechanism this client speaks (PLAIN, LOGIN, "
                "CRAM-MD5)" if offered else "the server does not offer AUTH"
            )
        except aiosmtplib.SMTPResponseException as exc:  # incl. SMTPAuthenticationError
            refused = (500 <= exc.code < 600 and exc.code != 530) or exc.code == 454
            raise TransportError(
                f"SMTP login as {o.username} refused: {_reply(exc.code, exc.message)} ({o.where})",
                Verdict.UNREACHABLE,
                code=exc.code,
                connecting=True,
                login=refused,
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransportError(
                f"SMTP login as {o.username} failed: {_describe(exc)} ({o.where})",
                Verdict.UNREACHABLE,
                connecting=True,
            ) from exc

    async def _send_once(self, envelope: Envelope) -> None:
        if not self.connected:
            self._drop()
            self._smtp = await self._connect()
        smtp = self._smtp
        assert smtp is not None
        utf8 = not (envelope.sender.isascii() and envelope.recipient.isascii())
        smtp.in_data = False
        try:
            if smtp.is_ehlo_or_helo_needed:  # the extensions decide the body's form
                await smtp.ehlo()
            data, mail_options = _body_for(smtp, envelope.data)
            if utf8:
                mail_options.append("SMTPUTF8")
            await smtp.sendmail(
                envelope.sender, [envelope.recipient], data, mail_options=mail_options
            )
        except BaseException as exc:
            error = self._classify(exc, smtp.in_data)
            if error is None:  # not ours to interpret (a bug, or cancellation)
                self._drop()
                raise
            if (error.verdict is Verdict.DOWN and isinstance(exc, ConnectionError)
                    and not smtp.in_data):
                self._drop()  # gone, not slow: worth one reconnect
                raise _ConnectionLost(error) from exc
            if not isinstance(exc, _SERVER_REPLIES) or error.code == 421:
                # aiosmtplib sends RSET after a refusal, but not after anything else: the
                # session may be mid-transaction. 421 means the server is closing anyway.
                self._drop()
            raise error from exc

    def _classify(self, exc: BaseException, in_data: bool) -> TransportError | None:
        where = self.options.where
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            refusal = exc.recipients[0]  # exactly one recipient per message
            return _by_code(refusal.code, refusal.message, where)
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            return _by_code(exc.code, exc.message, where, to_mail=True)
        if isinstance(exc, aiosmtplib.SMTPHeloError):
            # EHLO/HELO refused: the session, not this message, is the problem.
            return TransportError(
                f"{_reply(exc.code, exc.message)} ({where})", Verdict.DOWN, code=exc.code
            )
        if isinstance(exc, aiosmtplib.SMTPResponseException) and not isinstance(
            exc, aiosmtplib.SMTPConnectError
        ):
            return _by_code(exc.code, exc.message, where)
        # Below: the connection, not the message, is the problem. (In aiosmtplib 5 every
        # connection-level error is an OSError: SMTPServerDisconnected and SMTPConnectError are
        # ConnectionErrors, SMTPTimeoutError is a TimeoutError.)
        if isinstance(exc, TimeoutError):
            # After DATA the wait was the long one: the server may have the message, and it
            # waits out its back-off (an attempt), never resent on the spot.
            timeout = self.options.data_wait_seconds if in_data else self.options.timeout_seconds
            return TransportError(f"{where} did not answer within {timeout:g}s", Verdict.DOWN)
        if isinstance(exc, ConnectionError):
            during = " during DATA" if in_data else ""
            return TransportError(
                f"connection to {where} lost{during}: {_describe(exc)}", Verdict.DOWN
            )
        if isinstance(exc, OSError):  # ssl.SSLError, socket errors
            return TransportError(f"cannot talk to {where}: {_describe(exc)}", Verdict.DOWN)
        if isinstance(exc, aiosmtplib.SMTPNotSupported):  # SMTPUTF8 needed, not offered
            return TransportError(f"{_describe(exc)} ({where})", Verdict.FAIL)
        if isinstance(exc, ValueError):  # aiosmtplib found an address it cannot send
            return TransportError(f"address not accepted for sending: {exc}", Verdict.FAIL)
        if isinstance(exc, aiosmtplib.SMTPException):
            return TransportError(f"{_describe(exc)} ({where})", Verdict.RETRY)
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


def _by_code(code: int, text: str, where: str, *, to_mail: bool = False) -> TransportError:
    message = f"{_reply(code, text)} ({where})"
    if code == 530:
        # "Authentication required": a configuration problem shared by every message.
        return TransportError(message, Verdict.DOWN, code=code)
    if _is_busy(code, text) or (to_mail and 400 <= code < 500):
        # Aimed at the client, not at this message: every message would get the same answer.
        # (Every message of ours has the same envelope sender, so a 4xx to MAIL FROM is too.)
        return TransportError(message, Verdict.BUSY, code=code)
    return TransportError(message, Verdict.FAIL if 500 <= code < 600 else Verdict.RETRY, code=code)


# 4xx texts that refuse the client rather than the message: Postfix's anvil limits ("too much
# mail from", "too many connections from", "too many recipients from"), "too many errors",
# rate limits and throttling by other servers.
_BUSY_TEXT = re.compile(r"too (much|many)\b|rate.?limit|throttl", re.IGNORECASE)


def _is_busy(code: int, text: str) -> bool:
    """Whether a reply refuses the client for now: 421 (RFC 5321 §3.8: the service is closing
    the channel), or a 4xx saying the client sends too much or too fast."""
    return code == 421 or (400 <= code < 500 and bool(_BUSY_TEXT.search(text)))


def _body_for(smtp: aiosmtplib.SMTP, data: bytes) -> tuple[bytes, list[str]]:
    """The bytes to send and the MAIL FROM parameters they need (RFC 6152): an all-ASCII
    message goes as it is, with none; a message with 8-bit data goes with `BODY=8BITMIME` when
    the server offers 8BITMIME, else re-encoded to 7 bits (its 8-bit parts in base64 or
    quoted-printable; the text, headers and Message-ID unchanged)."""
    if data.isascii():
        return data, []
    if smtp.supports_extension("8bitmime"):
        return data, ["BODY=8BITMIME"]
    return to_7bit(data), []


def to_7bit(data: bytes) -> bytes:
    """`data` (a complete RFC 5322 message, CRLF line endings) with every 8-bit body part
    re-encoded for a 7-bit channel; headers are already 7-bit (RFC 2047)."""
    message = email.message_from_bytes(data, policy=email.policy.SMTP)
    out = io.BytesIO()
    email.generator.BytesGenerator(out, policy=email.policy.SMTP.clone(cte_type="7bit")).flatten(
        message
    )
    return out.getvalue()


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
    """Mail through an SMTP server; up to `options.max_connections` senders at once."""

    def __init__(self, settings: SmtpOptions) -> None:
        self.settings = settings
        self.max_connections = settings.max_connections

    async def open_sender(self) -> SmtpSender:
        """A sender whose connection opens on its first message."""
        return SmtpSender(self.settings)

