"""The background daemon: one active scheduler per database, a heartbeat, a clean stop.

Three parts, so that every decision can be tested one turn at a time with an explicit time:

* `Daemon` decides and works, with the time passed in. `step(now)` is one turn of the control
  loop (leadership, heartbeat); `catch_up(now)` runs every job as of `now`'s date and delivers;
  `run_scheduled(job, now)` runs one job at its slot and delivers; `deliver(now)` is the
  delivery tick that sends queued messages as their back-off comes due.
* Leadership: `FileLock` for SQLite (an exclusive flock beside the database file, so a second
  daemon refuses to start) and `AdvisoryLock` for PostgreSQL (a session advisory lock held on a
  dedicated connection; standbys poll it, and the server frees it when the holder's connection
  drops, whether the holder stopped, crashed or was killed).
* `serve()` wires a `Daemon` to APScheduler 3 and to SIGTERM/SIGINT: one cron trigger per job
  (crontab meaning, via scheduler.dates.cron), `coalesce` and a generous misfire grace, a single
  worker thread for all work (job runs and deliveries never overlap), and the control loop on
  the main thread, where signals arrive.

"Once" never rests on the leadership: unique notice keys, the per-job advisory transaction lock
and SKIP LOCKED claims keep every message single even if two daemons briefly both believe they
are active (say, while one has not yet noticed that its lock connection died). The leadership
only spares the others the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import enum
import fcntl
import gc
import logging
import multiprocessing
import os
import secrets
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol

from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from jobs import JOB_NAMES
from scheduler.config import Settings
from scheduler.dates.cron import build_trigger
from scheduler.db.database import Database, lock_key
from scheduler.db.models import DaemonRow
from scheduler.errors import ConfigError, UserError
from scheduler.mail.delivery import Clock, Delivery, DeliveryReport, utcnow
from scheduler.mail.transports import Transport, make_transport
from scheduler.services.runs import JobResult, Runner

log = logging.getLogger("sistercity.daemon")

# Rows of daemons silent for this long are deleted when a daemon starts.
ROW_RETENTION_DAYS = 30

# Both ends watch the lock connection. The client's keepalives and user timeout make a daemon
# notice a dead server or network within about 30 s instead of TCP's 15 minutes; the
# server-side settings make PostgreSQL end the session of a holder whose host vanished (and so
# free the lock for a standby) within about 25 s. All are per-session, no superuser needed.
LOCK_CONNECT_ARGS: Mapping[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,  # ms
    "application_name": "sistercity daemon lock",
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 "
               "-c tcp_keepalives_count=3 -c tcp_user_timeout=20000",
}


class DaemonError(UserError):
    """The daemon cannot start here (another daemon holds the SQLite database, …): exit 2."""


@dataclass(frozen=True)
class Timing:
    """How often the daemon does what. The defaults suit production; tests shorten them."""

    heartbeat_seconds: float = 10.0  # DaemonRow.heartbeat_at; `status` trusts one < 90 s old
    poll_seconds: float = 5.0  # a standby tries the lock this often (takeover well under 30 s)
    delivery_seconds: float = 20.0  # the delivery tick (back-off is 60 s and more)
    stop_timeout_seconds: float = 45.0  # wait for work in flight at stop (systemd gives 60)
    misfire_grace_seconds: int = 3600  # a slot missed by less than this still runs, once

    @property
    def loop_seconds(self) -> float:
        return min(self.heartbeat_seconds, self.poll_seconds)


class Change(enum.Enum):
    """What a `step` changed about this daemon's role."""

    NONE = "none"
    PROMOTED = "promoted"  # became the active daemon: run the catch-up pass, then the schedule
    DEMOTED = "demoted"  # lost the lock: stop scheduling, stand by


# -- leadership -----------------------------------------------------------------------------
class Leadership(Protocol):
    """Who may run the schedule. At most one holder per database at a time."""

    description: str

    def try_acquire(self) -> bool:
        """True when this process holds the lock now (also if it already held it)."""
        ...

    def still_held(self) -> bool:
        """False once the lock may have passed to someone else; then try_acquire again."""
        ...

    def release(self) -> None:
        """Give the lock up; safe to call more than once."""
        ...


class FileLock:
    """SQLite: one daemon per database file. The kernel drops a flock when its process ends,
    however it ends, so a lock file left behind never blocks a restart; the file is never
    deleted (deleting lock files races with the next taker)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"lock file {path}"
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str | None:
        """The pid written by the holder, for messages."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def still_held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


class AdvisoryLock:
    """PostgreSQL: a session advisory lock held on a connection of its own (not from the pool
    used for work, which would hand it back and lose the session). The server releases the lock
    when that connection ends, so a killed holder frees it at once on a working network."""

    def __init__(self, url: str, name: str = "daemon") -> None:
        self.key = lock_key(name)
        self.description = f"PostgreSQL advisory lock {name!r} (key {self.key})"
        self._engine = create_engine(url, poolclass=NullPool, connect_args=dict(LOCK_CONNECT_ARGS))
        self._conn: Connection | None = None
        self._held = False
        self._last_error: str | None = None

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self, exc: SQLAlchemyError) -> None:
        """The connection failed: whatever it held, the server has let go (or soon will)."""
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()
        message = _first_line(exc)
        if message != self._last_error:
            log.warning("daemon lock connection: %s", message)
            self._last_error = message

    def try_acquire(self) -> bool:
        if self._held:
            return self.still_held()
        try:
            got = self._connection().execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}
            ).scalar()
        except SQLAlchemyError as exc:
            self._drop(exc)
            return False
        self._last_error = None
        self._held = bool(got)
        return self._held

    def still_held(self) -> bool:
        if not self._held or self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            self._drop(exc)
            return False
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                if self._held:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            with contextlib.suppress(Exception):
                conn.close()
        self._held = False
        self._engine.dispose()


def open_leadership(settings: Settings) -> Leadership:
    """The lock for the configured database. On SQLite it is taken here, before the database is
    touched: a second daemon refuses to start (DaemonError, exit 2)."""
    try:
        url = make_url(settings.database_url)
    except ArgumentError as exc:
        raise ConfigError(f"{settings.label}: database.url: {exc}") from None
    if url.get_backend_name() != "sqlite":
        return AdvisoryLock(settings.database_url)
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise DaemonError(f"{settings.label}: database.url: the daemon needs a database file "
                          "(or PostgreSQL), not an in-memory SQLite database")
    lock = FileLock(Path(f"{database}.daemon.lock"))
    if not lock.try_acquire():
        holder = lock.holder()
        who = f" (pid {holder})" if holder else ""
        raise DaemonError(
            f"another sistercity daemon{who} is already running on {database}: SQLite allows "
            f"one daemon per database (lock file {lock.path}). Stop it first, or use "
            "PostgreSQL to run several daemons."
        )
    return lock


# -- the daemon -----------------------------------------------------------------------------
@dataclass
class JobOutcome:
    """One job run by the daemon and what the delivery right after it did with its messages."""

    job: str
    as_of: dt.date
    trigger: str  # "catch-up" | "schedule"
    result: JobResult | None = None
    error: str | None = None
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def count(self, report: DeliveryReport) -> None:
        ids = set(self.result.message_ids) if self.result else set()
        self.sent = len(ids.intersection(report.sent))
        self.retrying = len(ids.intersection(report.retrying))
        self.failed = len(ids.intersection(report.failed))


def run_job_in_child(
    settings: Settings, job: str, as_of: dt.date, now: dt.datetime
) -> JobResult:
    """Plan and queue one job in a short-lived child process. A run over a large registry
    peaks at hundreds of MB; in a child, all of it goes back to the system when the run ends,
    and the daemon stays at its idle size for the days between runs."""
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited locks
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_child_run_job, settings, job, as_of, now).result()


def _child_run_job(settings: Settings, job: str, as_of: dt.date, now: dt.datetime) -> JobResult:
    from scheduler.registry.bootstrap import open_database

    gc.disable()  # planning makes millions of objects and frees them all at the end
    db = open_database(settings, bootstrap=False)
    try:
        return Runner(db, settings).run_job(job, as_of, now=now, trigger="daemon")
    finally:
        db.dispose()


def release_memory() -> None:
    """Give the memory of a finished job run back to the system. A run over a large registry
    peaks at hundreds of MB that an idle daemon would otherwise keep for days: collect the
    garbage, then ask glibc to return its free heap (malloc_trim; elsewhere a no-op)."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _first_line(exc: BaseException) -> str:
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}"


def _round_clock(now: dt.datetime) -> Clock:
    """A delivery round's clock: it starts at the `now` it was given and advances with real
    time, so that a claim made late in a long round is not mistaken for a dead sender's."""
    start = time.monotonic()
    return lambda: now + dt.timedelta(seconds=time.monotonic() - start)


class Daemon:
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
        self.triggers = {job: build_trigger(settings.schedule[job], settings.tz)
                         for job in JOB_NAMES}
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{self.host[:40]}:{self.pid}:{secrets.token_hex(3)}"
        self.active = False
        self._stopping = threading.Event()
        self._work = threading.Lock()  # job runs and delivery rounds, one at a time
        self._delivery: Delivery | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_heartbeat: dt.datetime | None = None
        self._next_poll: dt.datetime | None = None
        self._complaints: dict[str, str] = {}  # the last error per topic, logged once

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def local_date(self, now: dt.datetime) -> dt.date:
        return now.astimezone(self.settings.tz).date()

    def next_runs(self, now: dt.datetime) -> dict[str, str]:
        """Each job's next slot at or after `now`, ISO 8601 with the offset of
        scheduler.timezone (what `status` shows while this daemon is active)."""
        local = now.astimezone(self.settings.tz)
        runs: dict[str, str] = {}
        for job, trigger in self.triggers.items():
            fire = trigger.get_next_fire_time(None, local)
            if fire is not None:
                runs[job] = fire.astimezone(self.settings.tz).isoformat()
        return runs

    # -- control: leadership and heartbeat ----------------------------------------------
    def register(self, now: dt.datetime) -> None:
        """Record this daemon (standing by until `step` makes it active)."""
        cutoff = now - dt.timedelta(days=ROW_RETENTION_DAYS)
        with self.db.write() as session:
            session.execute(delete(DaemonRow).where(DaemonRow.heartbeat_at < cutoff))
            session.add(DaemonRow(id=self.id, host=self.host, pid=self.pid, started_at=now,
                                  heartbeat_at=now, active=False, next_runs={}))
        self._next_heartbeat = now + dt.timedelta(seconds=self.timing.heartbeat_seconds)
        log.info("daemon %s started (%s)", self.id, self.leadership.description)

    def step(self, now: dt.datetime) -> Change:
        """One turn of the control loop at `now`: keep or take the lock, beat the heart."""
        if self.stopping:
            return Change.NONE
        if self.active and not self.leadership.still_held():
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
        try:
            with self.db.write() as session:
                # Rows still marked active belong to daemons that died or lost the lock.
                session.execute(update(DaemonRow)
                                .where(DaemonRow.active.is_(True), DaemonRow.id != self.id)
                                .values(active=False, next_runs={}))
            self._write_row(heartbeat_at=now, active=True, next_runs=self.next_runs(now))
        except SQLAlchemyError as exc:
            self._complain("heartbeat", exc)
        self._next_heartbeat = now + dt.timedelta(seconds=self.timing.heartbeat_seconds)
        log.info("active: this daemon runs the schedule; catching up as of %s",
                 self.local_date(now).isoformat())

    def _demote(self, now: dt.datetime) -> None:
        self.active = False
        self._next_poll = None  # try again at once: the lock may simply have been dropped
        log.warning("lost the daemon lock; standing by (the catch-up pass runs again if this "
                    "daemon becomes active)")
        self._heartbeat(now)

    def _heartbeat(self, now: dt.datetime) -> None:
        self._next_heartbeat = now + dt.timedelta(seconds=self.timing.heartbeat_seconds)
        next_runs = self.next_runs(now) if self.active else {}
        try:
            self._write_row(heartbeat_at=now, active=self.active, next_runs=next_runs)
        except SQLAlchemyError as exc:
            self._complain("heartbeat", exc)
        else:
            self._recovered("heartbeat")

    def _write_row(self, **values: Any) -> None:
        with self.db.write() as session:
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
        this daemon becomes active). Missed stages are skipped by the planners, not sent late."""
        with self._work:
            if not self._may_work():
                return []
            as_of = self.local_date(now)
            outcomes: list[JobOutcome] = []
            for job in JOB_NAMES:
                if self.stopping:
                    break
                outcomes.append(self._run_job(job, as_of, now, "catch-up"))
            self._deliver_for(outcomes, now)
        release_memory()
        return outcomes

    def run_scheduled(self, job: str, now: dt.datetime) -> JobOutcome | None:
        """One job at its slot, as of `now`'s date, then a delivery round."""
        with self._work:
            if not self._may_work():
                return None
            outcome = self._run_job(job, self.local_date(now), now, "schedule")
            self._deliver_for([outcome], now)
        release_memory()
        return outcome

    def deliver(self, now: dt.datetime) -> DeliveryReport | None:
        """The delivery tick: send what is due at `now` (first tries and retries)."""
        with self._work:
            if not self._may_work():
                return None
            report = self._deliver(now)
        if report.attempted:
            log.info("delivery sent=%d retrying=%d failed=%d", len(report.sent),
                     len(report.retrying), len(report.failed))
        return report

    def _may_work(self) -> bool:
        return self.active and not self.stopping

    def _run_job(self, job: str, as_of: dt.date, now: dt.datetime, trigger: str) -> JobOutcome:
        return self._run_job_now(job, as_of, now, trigger)

    def _run_job_now(
        self, job: str, as_of: dt.date, now: dt.datetime, trigger: str
    ) -> JobOutcome:
        outcome = JobOutcome(job, as_of, trigger)
        try:
            outcome.result = run_job_in_child(self.settings, job, as_of, now)
        except Exception as exc:
            # Logged once, with the traceback; recorded as a failed run; the job runs again at
            # its next slot. The other jobs and the daemon go on.
            outcome.error = _first_line(exc)
            log.error("job=%s as_of=%s trigger=%s failed (runs again at its next slot): %s",
                      job, as_of.isoformat(), trigger, outcome.error, exc_info=True)
            try:
                self.runner.record_failure(job, as_of, now, traceback.format_exc(),
                                           trigger="daemon")
            except SQLAlchemyError as record_exc:
                log.error("could not record the failure of %s: %s", job, _first_line(record_exc))
        return outcome

    def _deliver_for(self, outcomes: list[JobOutcome], now: dt.datetime) -> None:
        report = self._deliver(now)
        for outcome in outcomes:
            if outcome.result is None:
                continue
            outcome.count(report)
            log.info("job=%s as_of=%s trigger=%s notices=%d queued=%d sent=%d retrying=%d "
                     "failed=%d", outcome.job, outcome.as_of.isoformat(), outcome.trigger,
                     outcome.result.notices, outcome.result.messages, outcome.sent,
                     outcome.retrying, outcome.failed)
            try:
                self.runner.finish_run(outcome.result.run_id, utcnow())
            except SQLAlchemyError as exc:
                self._complain("run history", exc)
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
            self._complain("delivery", exc, with_traceback=True)
            return DeliveryReport()
        finally:
            self._delivery, self._loop = None, None
        self._recovered("delivery")
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
        delivery, loop = self._delivery, self._loop
        if delivery is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the round just ended
                loop.call_soon_threadsafe(delivery.stop)

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the work in flight; True when it finished."""
        self.stop()
        if not self._work.acquire(timeout=max(0.0, timeout)):
            log.warning("work still in flight after %.0f s; stopping anyway (a message that "
                        "was being sent is retried after smtp.claim_timeout_seconds)", timeout)
            return False
        self._work.release()
        return True

    def close(self, now: dt.datetime) -> None:
        """Mark this daemon stopped and release the lock (after `drain`)."""
        self.stop()
        self.active = False
        try:
            self._write_row(heartbeat_at=now, active=False, stopped_at=now, next_runs={})
        except SQLAlchemyError as exc:
            self._complain("heartbeat", exc)
        self.leadership.release()
        log.info("daemon %s stopped", self.id)

    # -- logging repeated trouble once ---------------------------------------------------
    def _complain(self, topic: str, exc: BaseException, *, with_traceback: bool = False) -> None:
        message = _first_line(exc)
        if self._complaints.get(topic) == message:
            return
        self._complaints[topic] = message
        log.warning("%s: %s", topic, message, exc_info=exc if with_traceback else None)

    def _recovered(self, topic: str) -> None:
        if self._complaints.pop(topic, None) is not None:
            log.info("%s: working again", topic)


# -- wiring: APScheduler and signals --------------------------------------------------------
def serve(daemon: Daemon, *, clock: Clock = utcnow) -> bool:
    """Run `daemon` until SIGTERM or SIGINT. Returns True when all work in flight finished
    within the stop timeout (then nothing is left running)."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    timing = daemon.timing
    scheduler = BackgroundScheduler(
        timezone=daemon.settings.tz,
        # One worker: job runs and delivery rounds queue behind each other; the misfire grace
        # lets a slot that waited behind a long round still run (APScheduler's default is 1 s).
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": timing.misfire_grace_seconds},
    )
    stop = threading.Event()
    received: list[str] = []
    restore = _install_signal_handlers(stop, received, daemon)
    scheduler.start()
    try:
        daemon.register(clock())
        while not stop.is_set():
            _apply(daemon.step(clock()), scheduler, daemon, clock)
            stop.wait(timing.loop_seconds)
        log.info("%s: stopping; messages in flight finish first (at most %.0f s)",
                 received[0] if received else "stop", timing.stop_timeout_seconds)
    finally:
        scheduler.shutdown(wait=False)
        idle = daemon.drain(timing.stop_timeout_seconds)
        daemon.close(clock())
        restore()
    return idle


def _install_signal_handlers(stop: threading.Event, received: list[str],
                             daemon: Daemon) -> Callable[[], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        # Only flags here: the main loop logs once it wakes up.
        received.append(signal.Signals(signum).name)
        stop.set()
        daemon.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def _apply(change: Change, scheduler: Any, daemon: Daemon, clock: Clock) -> None:
    if change is Change.PROMOTED:
        _schedule(scheduler, daemon, clock)
    elif change is Change.DEMOTED:
        scheduler.remove_all_jobs()


def _schedule(scheduler: Any, daemon: Daemon, clock: Clock) -> None:
    """The catch-up pass at once, then one cron trigger per job and the delivery tick."""
    scheduler.add_job(_catch_up, args=[daemon, clock], id="catch-up", name="catch-up",
                      replace_existing=True)
    for job, trigger in daemon.triggers.items():
        scheduler.add_job(_scheduled, trigger=trigger, args=[daemon, job, clock],
                          id=f"job:{job}", name=job, replace_existing=True)
    scheduler.add_job(_delivery_tick, trigger="interval", args=[daemon, clock],
                      seconds=daemon.timing.delivery_seconds, id="deliver", name="delivery",
                      replace_existing=True)


# The daemon reads the clock here, when the work starts, and passes it down.
def _catch_up(daemon: Daemon, clock: Clock) -> None:
    daemon.catch_up(clock())


def _scheduled(daemon: Daemon, job: str, clock: Clock) -> None:
    daemon.run_scheduled(job, clock())


def _delivery_tick(daemon: Daemon, clock: Clock) -> None:
    daemon.deliver(clock())
