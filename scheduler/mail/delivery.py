"""Claim due messages, send them, record the outcome.

A claim is one atomic UPDATE from `pending` to `sending` (on PostgreSQL with FOR UPDATE SKIP
LOCKED), so two processes never send the same row. Each of at most `max_connections` senders
claims a small batch and sends it one message at a time, recording each outcome before the
next: a crash repeats at most one message per sender (accepted by the server, not yet
recorded); the untried rest of a batch is not sent twice, it waits. A claim older than
`claim_timeout_seconds` belongs to a sender that died and is taken back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, select, text, update

from scheduler.config import Settings
from scheduler.db.database import Database
from scheduler.db.tables import UTCDateTime, message_bodies, messages
from scheduler.mail.transports import Envelope, Sender, Transport, TransportError

log = logging.getLogger("sistercity.delivery")

# Messages a sender claims at once: fewer transactions, and still one message in flight.
CLAIM_BATCH = 8

# Built once: recording a success is the hot path of delivery.
_SENT = (
    update(messages)
    .where(messages.c.id == bindparam("mid"), messages.c.claimed_by == bindparam("worker"))
    .values(state="sent", sent_at=bindparam("sent_at", type_=UTCDateTime()), last_error=None,
            claimed_at=None, claimed_by=None)
)

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backoff_seconds(attempts: int, initial: int, maximum: int) -> int:
    """Wait after the `attempts`-th failed attempt: initial, doubling, capped."""
    return int(min(maximum, initial * 2 ** max(0, attempts - 1)))


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    stopped: str | None = None  # why the round ended early (server unreachable)

    @property
    def attempted(self) -> set[int]:
        return {*self.sent, *self.retrying, *self.failed}


def make_transport(settings: Settings) -> Transport:
    from scheduler.mail.transports import FileTransport, SmtpOptions, SmtpTransport

    if settings.email.transport == "file":
        return FileTransport(settings.email.outbox_dir)
    s = settings.smtp
    if not s.verify_tls and s.security != "none":
        log.warning("smtp.verify_tls is false: the mail server's certificate is not checked "
                    "(use this only for a test server)")
    options = SmtpOptions(
        host=s.host,
        port=s.port,
        security=s.security,  # type: ignore[arg-type]
        username=s.username,
        password=s.password(),
        timeout_seconds=s.timeout_seconds,
        max_connections=s.max_connections,
        verify_tls=s.verify_tls,
        cafile=str(s.cafile) if s.cafile else None,
    )
    return SmtpTransport(options)


class Delivery:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        transport: Transport,
        *,
        clock: Clock = utcnow,
        worker: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.progress = progress
        self._stop = asyncio.Event()
        self._conn: Connection | None = None

    def stop(self) -> None:
        """Finish the messages in flight, claim no more."""
        self._stop.set()

    # -- database steps ---------------------------------------------------------------
    def reclaim_stale(self) -> int:
        """Take back claims of senders that died (older than claim_timeout_seconds)."""
        cutoff = self.clock() - dt.timedelta(seconds=self.settings.smtp.claim_timeout_seconds)
        with self._writing() as conn:
            result = conn.execute(
                update(messages)
                .where(messages.c.state == "sending", messages.c.claimed_at < cutoff)
                .values(state="pending", claimed_at=None, claimed_by=None)
            )
            return int(result.rowcount or 0)

    def claim(
        self,
        only: frozenset[int] | None = None,
        due_by: dt.datetime | None = None,
        *,
        limit: int = 1,
    ) -> list[Envelope]:
        """Atomically move up to `limit` messages due by `due_by` (default: now) to `sending`
        under our name. A round passes its start time, so a message it retried is not tried
        again in the same round."""
        now = self.clock()
        naive_now = now.astimezone(dt.UTC).replace(tzinfo=None)
        naive_due = (due_by or now).astimezone(dt.UTC).replace(tzinfo=None)
        only_clause = ""
        params: dict[str, object] = {
            "now": naive_now, "due": naive_due, "worker": self.worker, "limit": limit,
        }
        if only is not None:
            if not only:
                return []
            only_clause = f" AND id IN ({','.join(str(int(i)) for i in sorted(only))})"
        lock = "" if self.db.is_sqlite else " FOR UPDATE SKIP LOCKED"
        sql = text(
            "UPDATE messages SET state = 'sending', claimed_at = :now, claimed_by = :worker, "
            "attempts = attempts + 1 WHERE id IN (SELECT id FROM messages WHERE state = "
            f"'pending' AND next_attempt_at <= :due{only_clause} ORDER BY id LIMIT :limit{lock}) "
            "AND state = 'pending' RETURNING id, sender, recipient"
        )
        with self._writing() as conn:
            rows = sorted(conn.execute(sql, params).all(), key=lambda r: int(r[0]))
            if not rows:
                return []
            bodies = dict(conn.execute(
                select(message_bodies.c.message_id, message_bodies.c.data)
                .where(message_bodies.c.message_id.in_([r[0] for r in rows]))
            ).all())
        return [Envelope(message_id=r[0], sender=r[1], recipient=r[2], data=bytes(bodies[r[0]]))
                for r in rows]

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction on the round's connection (or a fresh one outside a round)."""
        if self._conn is not None:
            with self._conn.begin():
                yield self._conn
        else:
            with self.db.writer.begin() as conn:
                yield conn

    def _finish(self, message_id: int, **values: object) -> None:
        with self._writing() as conn:
            conn.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.claimed_by == self.worker)
                .values(claimed_at=None, claimed_by=None, **values)
            )

    def release(self, message_ids: Iterable[int]) -> None:
        """Hand back claimed messages that were not tried (the round stopped early)."""
        ids = list(message_ids)
        if not ids:
            return
        with self._writing() as conn:
            conn.execute(
                update(messages)
                .where(messages.c.id.in_(ids), messages.c.claimed_by == self.worker,
                       messages.c.state == "sending")
                .values(state="pending", claimed_at=None, claimed_by=None,
                        attempts=messages.c.attempts - 1)
            )

    def record_sent(self, message_id: int) -> None:
        with self._writing() as conn:
            conn.execute(_SENT, {"mid": message_id, "worker": self.worker,
                                 "sent_at": self.clock()})

    def record_error(self, message_id: int, error: TransportError) -> str:
        """Retry later, or fail for good; returns the new state."""
        if error.connecting:
            # The server was never reached for this message: hand it back untouched (the
            # round stops; the next round or daemon tick tries again).
            self._finish(message_id, state="pending", attempts=messages.c.attempts - 1,
                         last_error=str(error))
            return "pending"
        with self._writing() as conn:
            count = conn.execute(
                text("SELECT attempts FROM messages WHERE id = :id"), {"id": message_id}
            ).scalar_one_or_none() or 1
        smtp = self.settings.smtp
        if error.permanent or count >= smtp.max_attempts:
            self._finish(message_id, state="failed", last_error=str(error))
            return "failed"
        wait = backoff_seconds(count, smtp.retry_initial_seconds, smtp.retry_max_seconds)
        self._finish(
            message_id,
            state="pending",
            last_error=str(error),
            next_attempt_at=self.clock() + dt.timedelta(seconds=wait),
        )
        return "pending"

    # -- the round --------------------------------------------------------------------
    async def run(self, only: Iterable[int] | None = None) -> DeliveryReport:
        """Send every due message (or only those listed), then return. Never sleeps through a
        back-off: what is not due yet stays for a later round."""
        self.reclaim_stale()
        started = self.clock()
        report = DeliveryReport()
        only_set = frozenset(only) if only is not None else None
        workers = max(1, self.transport.max_connections)
        halt = asyncio.Event()

        async def worker() -> None:
            sender = None
            try:
                while not (halt.is_set() or self._stop.is_set()):
                    batch = self.claim(only_set, started, limit=CLAIM_BATCH)
                    if not batch:
                        return
                    if sender is None:
                        sender = await self.transport.open_sender()
                    for i, envelope in enumerate(batch):
                        if halt.is_set() or self._stop.is_set():
                            self.release(e.message_id for e in batch[i:])
                            return
                        await self._send_one(sender, envelope, report, halt)
            finally:
                if sender is not None:
                    await sender.close()

        # One connection for the round's many small writes; the senders share it (each
        # write is a complete transaction, done before the event loop moves on).
        with self.db.writer.connect() as conn:
            self._conn = conn
            try:
                await asyncio.gather(*(worker() for _ in range(workers)))
            finally:
                self._conn = None
        return report

    async def _send_one(
        self, sender: Sender, envelope: Envelope, report: DeliveryReport, halt: asyncio.Event
    ) -> None:
        try:
            try:
                await sender.send(envelope)
            except TransportError:
                raise
            except Exception as exc:  # a bug or an unexpected library error: retry, don't strand
                log.exception("message %d: unexpected error while sending", envelope.message_id)
                raise TransportError(f"unexpected error: {exc!r}") from exc
        except TransportError as error:
            state = self.record_error(envelope.message_id, error)
            (report.failed if state == "failed" else report.retrying).append(envelope.message_id)
            log.warning(
                "message %d to %s: %s (%s)",
                envelope.message_id,
                envelope.recipient,
                error,
                "failed" if state == "failed" else "will retry",
            )
            if error.unreachable:
                report.stopped = str(error)
                halt.set()
            return
        self.record_sent(envelope.message_id)
        report.sent.append(envelope.message_id)
        if self.progress is not None:
            self.progress(1)
