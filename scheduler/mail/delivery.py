"""Claim due messages, send them, record the outcome.

A claim is one atomic UPDATE from `pending` to `sending` (on PostgreSQL with FOR UPDATE SKIP
LOCKED), so two processes never send the same row. Each of at most `max_connections` senders
claims a small batch and sends it one message at a time, recording each outcome before the
next: a crash repeats at most one message per sender (accepted by the server, not yet
recorded); the untried rest of a batch is not sent twice, it waits. While a round runs, every
claim it holds is renewed every third of `claim_timeout_seconds`, so only a claim older than
that belongs to a sender that died (or froze) and is taken back -- never one a live sender is
still working on, however slow the server (SPEC "Delivery": a sender's claim covers only what
it is sending, or is renewed while it sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import BindParameter, Connection, Update, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError

from scheduler.config import Settings
from scheduler.db.database import Database
from scheduler.db.states import MessageState
from scheduler.db.tables import UTCDateTime, message_bodies, messages
from scheduler.mail.pacing import Round, backoff_seconds, pacing_of
from scheduler.mail.transports import Envelope, Sender, Transport, TransportError, Verdict

log = logging.getLogger("sistercity.delivery")

# Built once: recording a success is the hot path of delivery.
_SENT = (
    update(messages)
    .where(messages.c.id == bindparam("mid"), messages.c.claimed_by == bindparam("worker"))
    .values(state=MessageState.SENT, sent_at=bindparam("sent_at", type_=UTCDateTime()),
            last_error=None, claimed_at=None, claimed_by=None)
)

# The ids a round is limited to, inlined into the SQL when it runs (as before: a large run
# would otherwise need one bound parameter per id).
_ONLY: BindParameter[list[int]] = bindparam("only", expanding=True, literal_execute=True)

# A clock returns the current time, timezone-aware.
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """The real clock: now, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Claimed:
    """A message this sender claimed: its envelope, and which attempt at it this is (1 for
    the first try; the count the claim wrote)."""

    envelope: Envelope
    attempt: int


@dataclass
class DeliveryReport:
    """What one round did: message ids by outcome, and why it stopped early (if it did)."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    stopped: str | None = None  # why the round ended early (server unreachable)

    @property
    def attempted(self) -> set[int]:
        """Every message the round tried, whatever came of it."""
        return {*self.sent, *self.retrying, *self.failed}


class Delivery:
    """Delivery rounds for one database and transport, under one worker name (default
    `host:pid`). `clock` is read for claims, back-off and claim expiry; `sleep(seconds)` waits
    out a pause while the server is busy; `progress` is called with 1 for every message
    sent."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        transport: Transport,
        *,
        clock: Clock = utcnow,
        worker: str | None = None,
        progress: Callable[[int], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.settings = settings
        self.transport = transport
        self.clock = clock
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.progress = progress
        self.sleep = sleep
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
                .where(messages.c.state == MessageState.SENDING, messages.c.claimed_at < cutoff)
                .values(state=MessageState.PENDING, claimed_at=None, claimed_by=None)
            )
            return int(result.rowcount or 0)

    def claim(
        self,
        only: frozenset[int] | None = None,
        due_by: dt.datetime | None = None,
        *,
        limit: int = 1,
    ) -> list[Claimed]:
        """Atomically move up to `limit` pending messages due by `due_by` (default: now), lowest
        id first, to `sending` under our name, counting one more attempt at each; `only`
        restricts the choice to those ids. A round passes its start time, so a message it
        retried is not tried again in the same round. Returns them in id order."""
        if only is not None and not only:
            return []
        now = self.clock()
        with self._writing() as conn:
            params = {"only": sorted(only)} if only is not None else {}
            claimed = conn.execute(
                self._claim_statement(only is not None, limit, due_by or now, now), params
            ).all()
            if not claimed:
                return []
            bodies = dict(conn.execute(
                select(message_bodies.c.message_id, message_bodies.c.data)
                .where(message_bodies.c.message_id.in_([r.id for r in claimed]))
            ).all())
        return [
            Claimed(Envelope(r.id, r.sender, r.recipient, bytes(bodies[r.id])), r.attempts)
            for r in sorted(claimed, key=lambda r: int(r.id))
        ]

    def _claim_statement(
        self, restricted: bool, limit: int, due: dt.datetime, now: dt.datetime
    ) -> Update:
        """WITH due AS MATERIALIZED (the first `limit` due pending ids) UPDATE … WHERE id IN
        due AND still pending, RETURNING what a sender needs and the new attempt count.

        MATERIALIZED: PostgreSQL would otherwise plan `id IN (SELECT … LIMIT n)` as a semi
        join that rescans the subquery per row, taking more than `limit` rows in one claim.
        """
        due_ids = (
            select(messages.c.id)
            .where(messages.c.state == MessageState.PENDING, messages.c.next_attempt_at <= due)
            .order_by(messages.c.id)
            .limit(limit)
        )
        if restricted:
            due_ids = due_ids.where(messages.c.id.in_(_ONLY))
        if not self.db.is_sqlite:
            # Rows another process is claiming right now are passed over, not waited for.
            # (SQLite has no row locks: BEGIN IMMEDIATE serialises the writers instead.)
            due_ids = due_ids.with_for_update(skip_locked=True)
        due_rows = due_ids.cte("due").prefix_with("MATERIALIZED")
        return (
            update(messages)
            # Still pending: on PostgreSQL the row may have changed since the CTE's snapshot;
            # the UPDATE re-checks its WHERE on the newest version of the row.
            .where(messages.c.id.in_(select(due_rows.c.id)),
                   messages.c.state == MessageState.PENDING)
            .values(state=MessageState.SENDING, claimed_at=now, claimed_by=self.worker,
                    attempts=messages.c.attempts + 1)
            .returning(messages.c.id, messages.c.sender, messages.c.recipient,
                       messages.c.attempts)
        )

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
                       messages.c.state == MessageState.SENDING)
                .values(state=MessageState.PENDING, claimed_at=None, claimed_by=None,
                        attempts=messages.c.attempts - 1)
            )

    def renew_claims(self) -> int:
        """Refresh every claim this sender holds (claimed_at = the clock's time), so that
        `reclaim_stale` elsewhere does not take back what a live sender is still working on;
        returns how many."""
        with self._writing() as conn:
            result = conn.execute(
                update(messages)
                .where(messages.c.claimed_by == self.worker,
                       messages.c.state == MessageState.SENDING)
                .values(claimed_at=self.clock())
            )
            return int(result.rowcount or 0)

    async def _renewing(self) -> None:
        """Renew our claims every third of `claim_timeout_seconds` (real seconds), until
        cancelled: a claim then never gets older than the timeout while we live."""
        every = self.settings.smtp.claim_timeout_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                self.renew_claims()
            except SQLAlchemyError as exc:  # a busy database: the next beat tries again
                log.warning("could not renew this sender's claims: %s", exc)

    def record_sent(self, message_id: int) -> None:
        """The server accepted it: `sent`, at the clock's time."""
        with self._writing() as conn:
            conn.execute(_SENT, {"mid": message_id, "worker": self.worker,
                                 "sent_at": self.clock()})

    def record_error(self, claimed: Claimed, error: TransportError) -> MessageState:
        """Retry later (after the back-off for `claimed.attempt`), fail for good, or hand back
        untried, as the error's verdict says; returns the new state."""
        message_id = claimed.envelope.message_id
        if not error.verdict.counts_attempt:
            # The server was never reached for this message: hand it back untouched (the
            # round stops; the next round or daemon tick tries again).
            self._finish(message_id, state=MessageState.PENDING,
                         attempts=messages.c.attempts - 1, last_error=str(error))
            return MessageState.PENDING
        smtp = self.settings.smtp
        if error.verdict is Verdict.FAIL or claimed.attempt >= smtp.max_attempts:
            self._finish(message_id, state=MessageState.FAILED, last_error=str(error))
            return MessageState.FAILED
        wait = backoff_seconds(claimed.attempt, smtp.retry_initial_seconds,
                               smtp.retry_max_seconds)
        self._finish(
            message_id,
            state=MessageState.PENDING,
            last_error=str(error),
            next_attempt_at=self.clock() + dt.timedelta(seconds=wait),
        )
        return MessageState.PENDING

    # -- the round --------------------------------------------------------------------
    async def run(self, only: Iterable[int] | None = None) -> DeliveryReport:
        """Send every due message (or only those listed), then return. Never sleeps through a
        message's back-off: what is not due yet stays for a later round. It does pause while
        the server refuses the client for now (Verdict.BUSY, see `_pause`), and it does not
        connect at all while a refused login is being backed off."""
        report = DeliveryReport()
        pacing = pacing_of(self.transport)
        if pacing.login_not_before is not None and self.clock() < pacing.login_not_before:
            report.stopped = (f"the mail server refused the login; the next login attempt is "
                              f"at {pacing.login_not_before:%Y-%m-%d %H:%M:%S} UTC")
            return report
        self.reclaim_stale()
        round_ = Round(self, report, pacing, frozenset(only) if only is not None else None)
        workers = pacing.connections(self.transport.max_connections)
        # One connection for the round's many small writes; the senders share it (each
        # write is a complete transaction, done before the event loop moves on).
        with self.db.writer.connect() as conn:
            self._conn = conn
            renewing = asyncio.ensure_future(self._renewing())
            try:
                await asyncio.gather(*(round_.worker(i) for i in range(workers)))
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
                self._conn = None
        return report

    async def nap(self, seconds: float) -> None:
        """Sleep `seconds` (with the injected `sleep`), or less if `stop()` is called."""
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def send_one(self, sender: Sender, claimed: Claimed) -> TransportError | None:
        """Offer one message; None when the server accepted it, else the error (unexpected
        exceptions become a RETRY)."""
        envelope = claimed.envelope
        try:
            await sender.send(envelope)
        except TransportError as error:
            return error
        except Exception as exc:  # a bug or an unexpected library error: retry, don't strand
            log.exception("message %d: unexpected error while sending", envelope.message_id)
            return TransportError(f"unexpected error: {exc!r}", Verdict.RETRY)
        return None
