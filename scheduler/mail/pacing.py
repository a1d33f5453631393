"""How a delivery round paces itself (`Round`: its senders, their pauses), and what delivery
learned about a transport's server (`Pacing`), kept as long as the transport object lives (a
daemon's whole life, one `deliver` command): the connections it allows, whether the login
works, and how long to wait before offering mail again.

SPEC "Delivery": a refusal aimed at the client (a rate limit, "421 too many connections",
"too many errors") pauses delivery instead of costing every message an attempt; a refused
login is retried with growing back-off, on one connection, never in a loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scheduler.db.states import MessageState
from scheduler.mail.transports import Sender, TransportError, Verdict

if TYPE_CHECKING:
    from scheduler.mail.delivery import Claimed, Delivery, DeliveryReport

__all__ = ["CLAIM_BATCH", "Pacing", "Round", "backoff_seconds", "pacing_of"]

log = logging.getLogger("sistercity.delivery")

# The most messages a sender claims at once (fewer transactions; still one in flight). Its
# first claim is of one message, then two, four...: a short queue is shared by all senders.
CLAIM_BATCH = 8


# The most pauses in a row for a busy server before a round gives up (with the default
# back-off, 60 s doubling to 3600 s, the cap comes first).
MAX_PAUSES = 10


def backoff_seconds(attempts: int, initial: int, maximum: int) -> int:
    """Wait after the `attempts`-th failed attempt: initial, doubling, capped."""
    return int(min(maximum, initial * 2 ** max(0, attempts - 1)))


@dataclass
class Pacing:
    """`limit`: the most connections the server accepted at once when it refused one more
    (None: no limit seen); `login_failures`: refused logins in a row, and `login_not_before`
    the earliest time for the next try; `login_ok`: a login (or, without one, a message) went
    through in this process, so senders may connect side by side; `busy_streak`: pauses in a
    row for a busy server (reset by a message accepted)."""

    limit: int | None = None
    login_failures: int = 0
    login_not_before: dt.datetime | None = None
    login_ok: bool = False
    busy_streak: int = 0

    def connections(self, configured: int) -> int:
        """How many senders a round opens: `configured` (`max_connections`), at most the
        learned limit, and one while the login is in doubt (after a refused one)."""
        if self.login_failures:
            return 1
        return max(1, min(configured, self.limit or configured))

    def learn_limit(self, working: int) -> None:
        """The server refused a connection while `working` others were open: open no more."""
        self.limit = max(1, min(working, self.limit or working))

    def saw_working(self, working: int) -> None:
        """`working` connections delivered at once: a limit learned lower (a connection that
        was still opening when another was refused) is raised to it."""
        if self.limit is not None and working > self.limit:
            self.limit = working


_PACINGS: weakref.WeakKeyDictionary[object, Pacing] = weakref.WeakKeyDictionary()


def pacing_of(transport: object) -> Pacing:
    """The pacing kept for this transport object (a new one on first use)."""
    pacing = _PACINGS.get(transport)
    if pacing is None:
        pacing = _PACINGS[transport] = Pacing()
    return pacing


@dataclass
class Slot:
    """One sender of a round: its connection (opened on first use) and whether that
    connection delivered a message."""

    sender: Sender | None = None
    working: bool = False

    async def drop(self) -> None:
        sender, self.sender = self.sender, None
        if sender is not None:
            await sender.close()


class Round:
    """One round's senders and what they share: the pause gate, how many connections work,
    and the gate that keeps the other senders back until the first message went through
    (so a wrong password costs one failed login, not one per connection)."""

    def __init__(self, delivery: Delivery, report: DeliveryReport, pacing: Pacing,
                 only: frozenset[int] | None) -> None:
        """A round of `delivery`, filling `report`, limited to the ids `only` (None: all)."""
        self.d = delivery
        self.report = report
        self.pacing = pacing
        self.only = only
        self.started = delivery.clock()  # a message retried in this round waits for the next
        self.halt = asyncio.Event()
        self.open = asyncio.Event()  # cleared while the round pauses for a busy server
        self.open.set()
        self.first = asyncio.Event()  # the first message's outcome is known
        if pacing.login_ok:
            self.first.set()
        self.working = 0  # senders whose connection delivered a message
        self.epoch = 0  # pauses ended so far

    def stopping(self) -> bool:
        return self.halt.is_set() or self.d._stop.is_set()

    async def worker(self, index: int) -> None:
        """Claim small batches and send them, one message at a time, until none is due."""
        slot = Slot()
        size = 1  # first one message, so that a short queue is shared by all senders
        try:
            if index:
                await self.first.wait()
            while not self.stopping():
                await self.open.wait()
                batch = self.d.claim(self.only, self.started, limit=size)
                size = min(CLAIM_BATCH, 2 * size)
                if not batch or not await self.send_batch(slot, batch):
                    return
        finally:
            if slot.working:
                self.working -= 1
            await slot.drop()
            if index == 0:
                self.first.set()

    async def send_batch(self, slot: Slot, batch: list[Claimed]) -> bool:
        """Send a claimed batch in order; False when this sender is done (the round stops,
        or its connection is one too many), its untried messages handed back."""
        d, i = self.d, 0
        while i < len(batch):
            await self.open.wait()
            if self.stopping():
                d.release(c.envelope.message_id for c in batch[i:])
                return False
            if slot.sender is None:
                slot.sender = await d.transport.open_sender()
            epoch = self.epoch
            error = await d.send_one(slot.sender, batch[i])
            if error is None:
                self.sent(batch[i])
                if not slot.working:
                    slot.working = True
                    self.working += 1
                    self.pacing.saw_working(self.working)
            elif self.retire(error, slot):
                d.release(c.envelope.message_id for c in batch[i:])
                return False
            elif error.verdict is Verdict.BUSY:
                await slot.drop()
                if not await self.pause(error, epoch):
                    d.release(c.envelope.message_id for c in batch[i:])
                    return False
                continue  # the same message again, after the pause
            else:
                self.failed(batch[i], error)
            i += 1
            self.first.set()
        return True

    def retire(self, error: TransportError, slot: Slot) -> bool:
        """Whether this sender gives up because the server refused its connection while other
        connections work (a connection limit): the round goes on with those, and no later
        round of this process opens more than they are."""
        others = self.working - int(slot.working)
        if others <= 0 or not error.connecting or error.login:
            return False
        if error.verdict not in (Verdict.BUSY, Verdict.UNREACHABLE):
            return False
        self.pacing.learn_limit(others)
        log.warning("%s; going on with the %d connection(s) that work", error, others)
        return True

    async def pause(self, error: TransportError, epoch: int) -> bool:
        """The server refuses us for now: every sender waits (the first to get here sleeps
        retry_initial_seconds, doubling with every pause in a row, capped at
        retry_max_seconds) -- unless `epoch` (the pauses ended when the refused message was
        offered) shows that a pause ended since; False when the round should give up (a
        pause at the cap or MAX_PAUSES pauses did not help, or a stop was asked for)."""
        if not self.open.is_set():  # another sender is pausing already
            await self.open.wait()
            return not self.stopping()
        if epoch != self.epoch:  # offered before the last pause ended: that pause covers it
            return not self.stopping()
        smtp = self.d.settings.smtp
        self.pacing.busy_streak += 1
        streak = self.pacing.busy_streak
        at_cap = streak > 1 and backoff_seconds(
            streak - 1, smtp.retry_initial_seconds, smtp.retry_max_seconds
        ) >= smtp.retry_max_seconds
        if at_cap or streak > MAX_PAUSES:
            self.report.stopped = f"the mail server still refuses us: {error}"
            self.halt.set()
            return False
        seconds = backoff_seconds(streak, smtp.retry_initial_seconds, smtp.retry_max_seconds)
        log.warning("the mail server refuses us for now (%s): delivery pauses %d s "
                    "(pause %d in a row); no message loses an attempt", error, seconds, streak)
        self.open.clear()
        try:
            await self.d.nap(seconds)
        finally:
            self.epoch += 1
            self.open.set()
        return not self.stopping()

    def sent(self, claimed: Claimed) -> None:
        d = self.d
        d.record_sent(claimed.envelope.message_id)
        self.report.sent.append(claimed.envelope.message_id)
        self.pacing.busy_streak = 0
        if not self.pacing.login_ok or self.pacing.login_failures:
            if self.pacing.login_failures:
                log.info("the mail server accepts the login again")
            self.pacing.login_ok, self.pacing.login_failures = True, 0
            self.pacing.login_not_before = None
        if d.progress is not None:
            d.progress(1)

    def failed(self, claimed: Claimed, error: TransportError) -> None:
        d, envelope = self.d, claimed.envelope
        state = d.record_error(claimed, error)
        failed = state is MessageState.FAILED
        (self.report.failed if failed else self.report.retrying).append(envelope.message_id)
        log.warning("message %d to %s: %s (%s)", envelope.message_id, envelope.recipient, error,
                    "failed" if failed else "will retry" if error.verdict.counts_attempt
                    else "handed back untried")
        if error.login:
            smtp = d.settings.smtp
            self.pacing.login_failures += 1
            wait = backoff_seconds(self.pacing.login_failures, smtp.retry_initial_seconds,
                                   smtp.retry_max_seconds)
            self.pacing.login_not_before = d.clock() + dt.timedelta(seconds=wait)
            log.error("the mail server refused the login as %r (%d refused in a row): no "
                      "login is tried again for %d s, then on one connection; check "
                      "smtp.username and the password in $%s", smtp.username,
                      self.pacing.login_failures, wait, smtp.password_env)
        if error.verdict.stops_round:
            self.report.stopped = str(error)
            self.halt.set()
