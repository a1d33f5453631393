"""Who is the active daemon: at most one per database runs the schedule.

* SQLite: `FileLock`, an exclusive flock beside the database file, taken before the database is
  touched, so a second daemon refuses to start (`DaemonError`, exit 2).
* PostgreSQL: `PgLease`, a lease row the holder renews on a dedicated connection, with the
  database's clock; standbys poll it and take it over, with a new fencing term, once it has not
  been renewed for LEASE_SECONDS, whether the holder stopped, crashed, was frozen or cut off.
  The leader's writes check their term (`fence`) in their own transaction, so a replaced
  leader that wakes up writes nothing (SPEC "Delivery").

"Once" never rests on the leadership alone (unique notice keys and SKIP LOCKED claims keep
every message single too).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from scheduler.config import Settings
from scheduler.daemon.trouble import Complaints
from scheduler.db.lease import LEASE_NAME, Fence, give_back, renew, take
from scheduler.errors import ConfigError, UserError

log = logging.getLogger("sistercity.daemon")

# Both ends watch the lease connection. The client's keepalives and user timeout make a daemon
# notice a dead server or network within about 30 s instead of TCP's 15 minutes (and the lease
# runs out on its own meanwhile); the statement timeout keeps a renewal from hanging the
# control loop. All are per-session, no superuser needed.
LOCK_CONNECT_ARGS: Mapping[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,  # ms
    "application_name": "sistercity daemon lease",
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 "
               "-c tcp_keepalives_count=3 -c tcp_user_timeout=20000 -c statement_timeout=5000",
}


# A standby takes over once the lease has not been renewed for this long; it polls every
# Timing.poll_seconds (5 s), so a silent leader is replaced within about 20 s (SPEC: 30 s).
LEASE_SECONDS = 15.0


def daemon_id() -> str:
    """A new daemon's id: `host:pid:random` (at most 54 characters)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class DaemonError(UserError):
    """The daemon cannot start here (another daemon holds the SQLite database, …): exit 2."""


class Leadership(Protocol):
    """Who may run the schedule. At most one holder per database at a time."""

    description: str
    owner: str | None  # the daemon id a lease is held as; None for a flock

    def try_acquire(self) -> bool:
        """True when this process holds the lock now (also if it already held it)."""
        ...

    def still_held(self) -> bool:
        """False once the lock may have passed to someone else; then try_acquire again."""
        ...

    def may_write(self) -> bool:
        """Without I/O: True while the lock is ours and cannot yet have passed to another."""
        ...

    @property
    def fence(self) -> Fence | None:
        """What the leader's writes check (scheduler.db.lease); None: nothing to check."""
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
        self.owner: str | None = None
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        """Take the flock without waiting and write our pid into the file; False when another
        process holds it. OSError when the file cannot be created."""
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
        """A flock cannot be taken away: held until `release` or the process ends."""
        return self._file is not None

    def may_write(self) -> bool:
        """A flock cannot be taken away."""
        return self._file is not None

    @property
    def fence(self) -> Fence | None:
        """Nothing to check: no other daemon can run on this database."""
        return None

    def release(self) -> None:
        """Unlock and close the file (left in place: deleting it races with the next taker)."""
        handle, self._file = self._file, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


class PgLease:
    """PostgreSQL: a lease row (scheduler.db.lease) renewed on a connection of its own, with
    the database's clock. A holder that stops renewing (dead, frozen by SIGSTOP, cut off) loses
    it `seconds` after its last renewal, and a standby takes it with a new term; the old
    holder's writes then fail their fence. (A session advisory lock would stay held by a frozen
    process's open connection for ever.)"""

    def __init__(self, url: str, holder: str, *, seconds: float = LEASE_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.holder = holder
        self.owner: str | None = holder
        self.seconds = seconds
        self.description = f"PostgreSQL lease {LEASE_NAME!r} ({seconds:.0f} s, renewed)"
        self._engine = create_engine(url, poolclass=NullPool, connect_args=dict(LOCK_CONNECT_ARGS))
        self._conn: Connection | None = None
        self._fence: Fence | None = None
        self._valid_until = 0.0  # on `monotonic`'s scale: the lease cannot have run out before
        self._monotonic = monotonic
        self._complaints = Complaints(log)

    @property
    def fence(self) -> Fence | None:
        """The term this daemon holds the lease under; None while it does not."""
        return self._fence

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self, exc: SQLAlchemyError) -> None:
        """The connection failed: until a renewal succeeds, assume the lease is gone."""
        self._fence = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()
        self._complaints.complain("daemon lease connection", exc)

    def try_acquire(self) -> bool:
        """True when this daemon holds the lease now (a takeover gives it a new term); False
        while another holder's lease runs or the server cannot be reached (logged once)."""
        if self._fence is not None:
            return self.still_held()
        started = self._monotonic()
        try:
            term = take(self._connection(), self.holder, self.seconds)
        except SQLAlchemyError as exc:
            self._drop(exc)
            return False
        self._complaints.recovered("daemon lease connection")
        if term is None:
            return False
        self._fence = Fence(self.holder, term)
        self._valid_until = started + self.seconds
        return True

    def still_held(self) -> bool:
        """Renew the lease (one round trip); False once another daemon took over, the
        connection failed or the last renewal is older than the lease."""
        fence = self._fence
        if fence is None:
            return False
        started = self._monotonic()
        if started >= self._valid_until:  # frozen or stalled past the lease: assume it is gone
            self._fence = None
            return False
        try:
            renewed = renew(self._connection(), fence, self.seconds)
        except SQLAlchemyError as exc:
            self._drop(exc)
            return False
        if not renewed:
            self._fence = None
            return False
        self._valid_until = started + self.seconds
        return True

    def may_write(self) -> bool:
        """Without I/O: the lease is ours and cannot have run out since its last renewal."""
        return self._fence is not None and self._monotonic() < self._valid_until

    def release(self) -> None:
        """Give the lease back (a standby takes over at once), close the connection and
        dispose of its engine; never raises."""
        fence, self._fence = self._fence, None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                if fence is not None:
                    give_back(conn, fence)
            with contextlib.suppress(Exception):
                conn.close()
        self._engine.dispose()


def open_leadership(settings: Settings, holder: str | None = None, *,
                    lease_seconds: float = LEASE_SECONDS) -> Leadership:
    """The lock for the configured database: on PostgreSQL a lease of `lease_seconds` held as
    `holder` (a daemon id; a new one when None). On SQLite a flock, taken here, before the
    database is touched. Errors: ConfigError for a bad database.url; DaemonError (exit 2) for
    an in-memory SQLite database or when another daemon holds the SQLite database."""
    try:
        url = make_url(settings.database_url)
    except ArgumentError as exc:
        raise ConfigError(f"{settings.label}: database.url: {exc}") from None
    if url.get_backend_name() != "sqlite":
        return PgLease(settings.database_url, holder or daemon_id(), seconds=lease_seconds)
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
