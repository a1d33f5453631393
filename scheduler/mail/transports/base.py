"""The contract between delivery and a transport: an envelope in, acceptance or a verdict out.

The delivery loop opens up to `Transport.max_connections` senders and pushes envelopes through
them one at a time. A sender either returns (the message was accepted) or raises
`TransportError`, whose `verdict` tells the loop what to do with the message and the round.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

__all__ = ["Envelope", "Sender", "Transport", "TransportError", "Verdict"]


@dataclass(frozen=True)
class Envelope:
    """One message ready to go: `data` is the complete RFC 5322 message (CRLF line endings),
    `sender` the bare envelope-from address ("" for the null reverse-path), `recipient` its
    one recipient, `message_id` the outbox row id (for logs and file names)."""

    message_id: int
    sender: str
    recipient: str
    data: bytes


class Verdict(Enum):
    """What a failed send means for the message and for the rest of the delivery round.

    Only these five outcomes exist; each fixes whether the try counts as an attempt at the
    message (and so moves it towards `max_attempts`) and whether the round goes on.
    """

    RETRY = "retry"
    """This message was refused for now (4xx, an unexpected error): counts as an attempt, the
    message waits out its back-off, the round goes on."""

    FAIL = "fail"
    """This message was refused for good (5xx, an address that cannot be sent): it fails now,
    the round goes on."""

    DOWN = "down"
    """The server or the folder stopped working while this message was offered (timeout, lost
    connection, EHLO refused, 530 authentication required, disk full): counts as an attempt,
    and the round stops, because every other message would fail the same way."""

    UNREACHABLE = "unreachable"
    """We never got to offer this message (connect refused or timed out, TLS handshake, login
    refused): it says nothing about the message, so it is handed back without counting an
    attempt, and the round stops."""

    BUSY = "busy"
    """The server refused the client, not the message, for now (a rate limit such as Postfix's
    "450 4.7.1 Error: too much mail from …", "421 too many connections", "421 too many
    errors", any 4xx to MAIL FROM): the message is handed back without counting an attempt and
    the delivery loop slows down -- a connection refused while others work is given up and the
    concurrency lowered, otherwise the round pauses with growing back-off."""

    @property
    def counts_attempt(self) -> bool:
        """Whether the message was really offered, so the try uses up one of its attempts."""
        return self not in (Verdict.UNREACHABLE, Verdict.BUSY)

    @property
    def stops_round(self) -> bool:
        """Whether the rest of the round would fail the same way and is better left queued."""
        return self in (Verdict.DOWN, Verdict.UNREACHABLE)


class TransportError(Exception):
    """A send that did not end with the message accepted.

    `message` is a short text for logs and the outbox's `last_error` (never a password);
    `verdict` says what to do next (see `Verdict`); `code` is the SMTP reply code, if any;
    `connecting` is true when the error came while opening the connection (greeting, TLS,
    login), before any message was offered on it; `login` when the server refused the
    credentials (535 and the like), so that logins are backed off. `str(error)` is `message`.
    """

    def __init__(
        self,
        message: str,
        verdict: Verdict,
        *,
        code: int | None = None,
        connecting: bool = False,
        login: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.verdict = verdict
        self.code = code
        self.connecting = connecting or login
        self.login = login

    def __repr__(self) -> str:
        return f"TransportError({self.message!r}, {self.verdict.name}, code={self.code})"


class Sender(Protocol):
    """One connection's worth of sending (or one folder writer), used by one delivery worker."""

    async def send(self, envelope: Envelope) -> None:
        """Return when the message was accepted; otherwise raise TransportError."""
        ...

    async def close(self) -> None:
        """Let go of the connection; safe to call twice."""
        ...


class Transport(Protocol):
    """Where messages go. `max_connections` (≥ 1) bounds the senders open at once."""

    max_connections: int

    async def open_sender(self) -> Sender:
        """One connection's worth of sending, reused for many messages."""
        ...
