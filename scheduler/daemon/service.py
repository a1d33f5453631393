"""The daemon's state machine and its work, with the time always passed in.

`Daemon` decides and works; nothing here reads the clock to decide, so every decision can be
tested one turn at a time with an explicit time:

* `register(now)` records the daemon; `step(now)` is one turn of the control loop (keep or
  take the leadership, beat the heart) and says what changed (`Change`);
* `catch_up(now)` runs every job as of `now`'s date and delivers; `run_scheduled(job, now)`
  runs one job at its slot and delivers; `deliver(now)` is the delivery tick;
* `stop()`, `drain(timeout)` and `close(now)` end it cleanly.

Who may work: scheduler.daemon.leadership. Jobs run in child processes:
scheduler.daemon.children. The wiring to APScheduler and signals: scheduler.daemon.loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import SQLAlchemyError

from jobs import JOB_NAMES
from scheduler.config import Settings
from scheduler.daemon.children import JobChild, JobStopped
from scheduler.daemon.leadership import Leadership, daemon_id
from scheduler.daemon.schedule import Schedule
from scheduler.daemon.trouble import Complaints, first_line
from scheduler.db.database import Database
from scheduler.db.lease import Fenced
from scheduler.db.models import DaemonRow
from scheduler.mail.delivery import Clock, Delivery, DeliveryReport, utcnow
from scheduler.mail.transports import Transport, make_transport
from scheduler.services.runs import JobResult, JobTimeout, Runner

log = logging.getLogger("sistercity.daemon")

# Rows of daemons silent for this long are deleted when a daemon starts.
ROW_RETENTION_DAYS = 30


@dataclass(frozen=True)
class Timing:
    """How often the daemon does what. The defaults suit production; tests shorten them."""

    heartbeat_seconds: float = 10.0  # DaemonRow.heartbeat_at; `status` trusts one < 90 s old
    poll_seconds: float = 5.0  # a standby tries the lease this often (takeover within 20 s)
    delivery_seconds: float = 20.0  # the delivery tick (back-off is 60 s and more)
    stop_timeout_seconds: float = 45.0  # wait for work in flight at stop (systemd gives 60)
    misfire_grace_seconds: int = 3600  # a slot missed by less than this still runs, once

    @property
    def loop_seconds(self) -> float:
        """How long the control loop sleeps between turns (seconds)."""
        return min(self.heartbeat_seconds, self.poll_seconds)


class Change(enum.Enum):
    """What a `step` changed about this daemon's role."""

    NONE = "none"
    PROMOTED = "promoted"  # became the active daemon: run the catch-up pass, then the schedule
    DEMOTED = "demoted"  # lost the lock: stop scheduling, stand by


class Trigger(enum.Enum):
    """Why a job ran (the `trigger=` of its log line)."""

    CATCH_UP = "catch-up"  # on start and whenever the daemon becomes active
    SCHEDULE = "schedule"  # at its cron slot

@dataclass
class JobOutcome:
    """One job run by the daemon and what the delivery right after it did with its messages."""

    job: str
    as_of: dt.date
    trigger: Trigger
    result: JobResult | None = None
    error: str | None = None
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def count(self, report: DeliveryReport) -> None:
        """Set sent/retrying/failed from `report`, counting only this run's messages."""
        ids = set(self.result.message_ids) if self.result else set()
        self.sent = len(ids.intersection(report.sent))
        self.retrying = len(ids.intersection(report.retrying))
        self.failed = len(ids.intersection(report.failed))


def _round_clock(now: dt.datetime) -> Clock:
    """A delivery round's clock: it starts at the `now` it was given and advances with real
    time, so that a claim made late in a long round is not mistaken for a dead sender's."""
    start = time.monotonic()
    return lambda: now + dt.timedelta(seconds=time.monotonic() - start)



class Daemon:
    """One daemon process's decisions and work on `db`; see the module docstring. Thread use:
    `step` on the control thread, the work methods on the schedule's single worker thread,
    `stop` from anywhere (a signal handler included).

    `transport` defaults to the one [email] configures; `timing` to the production cadence.
    Errors: CronError if a [schedule] entry cannot be read (checked when settings load)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        leadership: Leadership,
        *,
        transport: Transport | None = None,
        timing: Timing = Timing(),
    ) -> None:
        self.db = db
        self.settings = settings
        self.leadership = leadership
        self.timing = timing
        self.transport = transport if transport is not None else make_transport(settings)
        self.runner = Runner(db, settings)
        self.schedule = Schedule.from_settings(settings)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = leadership.owner or daemon_id()
        self.active = False
        self._stopping = threading.Event()
        self._fenced = threading.Event()  # a write failed its fence: another daemon leads
        self._work = threading.Lock()  # job runs and delivery rounds, one at a time
        self._delivery: Delivery | None = None
        self._child: JobChild | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_heartbeat: dt.datetime | None = None
        self._next_poll: dt.datetime | None = None
        self._complaints = Complaints(log)

    @property
    def stopping(self) -> bool:
        """True once `stop` was called: no new work starts."""
        return self._stopping.is_set()

    def local_date(self, now: dt.datetime) -> dt.date:
        """The date of the aware instant `now` in scheduler.timezone (a job's as-of date)."""
        return now.astimezone(self.settings.tz).date()

    def next_runs(self, now: dt.datetime) -> dict[str, str]:
        """As `Schedule.next_runs`: job name → its next slot, ISO 8601 text."""
        return self.schedule.next_runs(now)

    # -- control: leadership and heartbeat ----------------------------------------------
    def register(self, now: dt.datetime) -> None:
        """Record this daemon (standing by until `step` makes it active) and delete the rows of
        daemons silent for ROW_RETENTION_DAYS. Errors: SQLAlchemyError (the daemon cannot
        start)."""
        cutoff = now - dt.timedelta(days=ROW_RETENTION_DAYS)
        with self.db.write() as session:
            session.execute(delete(DaemonRow).where(DaemonRow.heartbeat_at < cutoff))
            session.add(DaemonRow(id=self.id, host=self.host, pid=self.pid, started_at=now,
                                  heartbeat_at=now, active=False, next_runs={}))
        self._next_heartbeat = now + dt.timedelta(seconds=self.timing.heartbeat_seconds)
        log.info("daemon %s started (%s)", self.id, self.leadership.description)

    def step(self, now: dt.datetime) -> Change:
        """One turn of the control loop at the aware instant `now`: keep or take the lock,
        beat the heart every heartbeat_seconds. Database trouble is logged once, not raised."""
        if self.stopping:
            return Change.NONE
        if self.active and (self._fenced.is_set() or not self.leadership.still_held()):
            self._demote(now)
            return Change.DEMOTED
        if not self.active and self._poll_due(now) and self.leadership.try_acquire():
            self._promote(now)
            return Change.PROMOTED
        if self._next_heartbeat is None or now >= self._next_heartbeat:
            self._heartbeat(now)
        return Change.NONE

    def _poll_due(self, now: dt.datetime) -> bool:
        if self._next_poll is not None and now < self._next_poll:
            return False
        self._next_poll = now + dt.timedelta(seconds=self.timing.poll_seconds)
        return True

    def _promote(self, now: dt.datetime) -> None:
        self.active = True
        self._fenced.clear()
        self.runner.fence = self.leadership.fence
        try:
            with self.db.write(fence=self.leadership.fence) as session:
                # Rows still marked active belong to daemons that died or lost the lock.
                session.execute(update(DaemonRow)
                                .where(DaemonRow.active.is_(True), DaemonRow.id != self.id)
                                .values(active=False, next_runs={}))
            self._write_row(heartbeat_at=now, active=True, next_runs=self.next_runs(now))
        except Fenced as exc:
            self._lost(exc)
        except SQLAlchemyError as exc:
            self._complaints.complain("heartbeat", exc)
        self._next_heartbeat = now + dt.timedelta(seconds=self.timing.heartbeat_seconds)
        log.info("active: this daemon runs the schedule; catching up as of %s",
                 self.local_date(now).isoformat())

    def _demote(self, now: dt.datetime) -> None:
        self.active = False
        self.runner.fence = None
        self._next_poll = None  # try again at once: the lock may simply have been dropped
        log.warning("lost the daemon lease (frozen, cut off, or another daemon took over): "
                    "this daemon writes nothing as leader and stands by (the catch-up pass "
                    "runs again if it becomes active)")
        self._heartbeat(now)

    def _lost(self, exc: Fenced) -> None:
        """A write failed its fence (any thread): no more work; `step` demotes."""
        if not self._fenced.is_set():
            log.warning("fenced: %s; standing by", exc)
        self._fenced.set()

    def _heartbeat(self, now: dt.datetime) -> None:
        self._next_heartbeat = now + dt.timedelta(seconds=self.timing.heartbeat_seconds)
        next_runs = self.next_runs(now) if self.active else {}
        try:
            self._write_row(heartbeat_at=now, active=self.active, next_runs=next_runs)
        except Fenced as exc:
            self._lost(exc)
        except SQLAlchemyError as exc:
            self._complaints.complain("heartbeat", exc)
        else:
            self._complaints.recovered("heartbeat")

    def _write_row(self, **values: Any) -> None:
        # Marking itself active (with next runs) is a leader's write: fenced. A standby's or a
        # stopped daemon's own row is not.
        fence = self.leadership.fence if values.get("active") else None
        with self.db.write(fence=fence) as session:
            result = session.execute(update(DaemonRow).where(DaemonRow.id == self.id)
                                     .values(**values))
            if not int(result.rowcount or 0):  # type: ignore[attr-defined]
                # Deleted under us (by hand, or by another daemon's clean-up): record it again.
                now = values.get("heartbeat_at") or utcnow()
                session.add(DaemonRow(id=self.id, host=self.host, pid=self.pid, started_at=now,
                                      **{"heartbeat_at": now, **values}))

    # -- work ---------------------------------------------------------------------------
    def catch_up(self, now: dt.datetime) -> list[JobOutcome]:
        """Every job once as of `now`'s date, then one delivery round (on start and whenever
        this daemon becomes active). Missed stages are skipped by the planners, not sent late.
        Returns one outcome per job run, in JOB_NAMES order ([] on a standby or once stopping;
        fewer when a stop came in between). A failing job is logged and recorded, not raised."""
        with self._work:
            if not self._may_work():
                return []
            as_of = self.local_date(now)
            outcomes: list[JobOutcome] = []
            for job in JOB_NAMES:
                if self.stopping:
                    break
                outcomes.append(self._run_job(job, as_of, now, Trigger.CATCH_UP))
            self._deliver_for(outcomes, now)
        return outcomes

    def run_scheduled(self, job: str, now: dt.datetime) -> JobOutcome | None:
        """One job at its slot, as of `now`'s date, then a delivery round. None on a standby or
        once stopping. A failing job is logged and recorded, not raised."""
        with self._work:
            if not self._may_work():
                return None
            outcome = self._run_job(job, self.local_date(now), now, Trigger.SCHEDULE)
            self._deliver_for([outcome], now)
        return outcome

    def deliver(self, now: dt.datetime) -> DeliveryReport | None:
        """The delivery tick: send what is due at `now` (first tries and retries). None on a
        standby or once stopping; trouble is logged once and gives an empty report."""
        with self._work:
            if not self._may_work():
                return None
            report = self._deliver(now)
        if report.attempted:
            log.info("delivery sent=%d retrying=%d failed=%d", len(report.sent),
                     len(report.retrying), len(report.failed))
        return report

    def _may_work(self) -> bool:
        # may_write: a leader frozen past its lease (SIGSTOP, a stalled host) starts nothing
        # when it wakes, even before the control loop has noticed.
        return (self.active and not self.stopping and not self._fenced.is_set()
                and self.leadership.may_write())

    def _run_job(self, job: str, as_of: dt.date, now: dt.datetime,
                 trigger: Trigger) -> JobOutcome:
        outcome = JobOutcome(job, as_of, trigger)
        child = self._child = JobChild.start(self.settings, job, as_of, now,
                                             fence=self.leadership.fence)
        if self.stopping:  # a stop that came while the child was starting
            child.stop()
        try:
            outcome.result = child.result(self.settings.job_timeout_seconds)
        except Fenced as exc:
            outcome.error = str(exc)
            self._lost(exc)
            return outcome
        except JobStopped as exc:
            outcome.error = str(exc)
            log.info("job=%s as_of=%s trigger=%s %s", job, as_of.isoformat(), trigger.value, exc)
            return outcome
        except JobTimeout as exc:
            # Stopped and recorded as failed; delivery and the other jobs go on (SPEC
            # "Delivery"). The traceback would only show where we waited.
            outcome.error = str(exc)
            log.error("job=%s as_of=%s trigger=%s failed (runs again at its next slot): %s",
                      job, as_of.isoformat(), trigger.value, exc)
            self._record_failure(job, as_of, now, outcome.error)
            return outcome
        except Exception as exc:
            # Logged once, with the traceback; recorded as a failed run; the job runs again at
            # its next slot. The other jobs and the daemon go on.
            outcome.error = first_line(exc)
            log.error("job=%s as_of=%s trigger=%s failed (runs again at its next slot): %s",
                      job, as_of.isoformat(), trigger.value, outcome.error, exc_info=True)
            self._record_failure(job, as_of, now, traceback.format_exc())
        finally:
            self._child = None
        return outcome

    def _record_failure(self, job: str, as_of: dt.date, now: dt.datetime, error: str) -> None:
        try:
            self.runner.record_failure(job, as_of, now, error, trigger="daemon")
        except Fenced as fenced:
            self._lost(fenced)
        except SQLAlchemyError as exc:
            log.error("could not record the failure of %s: %s", job, first_line(exc))

    def _deliver_for(self, outcomes: list[JobOutcome], now: dt.datetime) -> None:
        report = self._deliver(now)
        for outcome in outcomes:
            if outcome.result is None:
                continue
            outcome.count(report)
            log.info("job=%s as_of=%s trigger=%s notices=%d queued=%d sent=%d retrying=%d "
                     "failed=%d", outcome.job, outcome.as_of.isoformat(), outcome.trigger.value,
                     outcome.result.notices, outcome.result.messages, outcome.sent,
                     outcome.retrying, outcome.failed)
            try:
                self.runner.finish_run(outcome.result.run_id, utcnow())
            except Fenced as fenced:
                self._lost(fenced)
            except SQLAlchemyError as exc:
                self._complaints.complain("run history", exc)
        untracked = report.attempted - {i for o in outcomes if o.result
                                        for i in o.result.message_ids}
        if untracked:
            log.info("delivery of %d earlier queued messages: sent=%d", len(untracked),
                     len(untracked.intersection(report.sent)))

    def _deliver(self, now: dt.datetime) -> DeliveryReport:
        delivery = Delivery(self.db, self.settings, self.transport, clock=_round_clock(now),
                            worker=self.id)
        self._delivery = delivery
        try:
            report = asyncio.run(self._round(delivery))
        except Exception as exc:
            self._complaints.complain("delivery", exc, with_traceback=True)
            return DeliveryReport()
        finally:
            self._delivery, self._loop = None, None
        self._complaints.recovered("delivery")
        if report.stopped:
            log.warning("delivery stopped: %s; queued messages are retried at the next tick",
                        report.stopped)
        return report

    async def _round(self, delivery: Delivery) -> DeliveryReport:
        self._loop = asyncio.get_running_loop()
        if self.stopping:  # a stop that came before the loop existed
            delivery.stop()
        return await delivery.run()

    # -- stop ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Start no new work; let the messages in flight finish. Safe from a signal handler
        and from any thread."""
        self._stopping.set()
        child = self._child
        if child is not None:  # a job run is not mail in flight: it runs again at the next start
            child.stop()
        delivery, loop = self._delivery, self._loop
        if delivery is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the round just ended
                loop.call_soon_threadsafe(delivery.stop)

    def drain(self, timeout: float) -> bool:
        """Stop, then wait up to `timeout` seconds for the work in flight; True when it
        finished (False: a thread is still busy, the caller should not wait for it)."""
        self.stop()
        if not self._work.acquire(timeout=max(0.0, timeout)):
            log.warning("work still in flight after %.0f s; stopping anyway (a message that "
                        "was being sent is retried after smtp.claim_timeout_seconds)", timeout)
            return False
        self._work.release()
        return True

    def close(self, now: dt.datetime) -> None:
        """Mark this daemon stopped at `now` and release the lock (after `drain`); database
        trouble is logged, not raised."""
        self.stop()
        self.active = False
        try:
            self._write_row(heartbeat_at=now, active=False, stopped_at=now, next_runs={})
        except SQLAlchemyError as exc:
            self._complaints.complain("heartbeat", exc)
        self.leadership.release()
        log.info("daemon %s stopped", self.id)
