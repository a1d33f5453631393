"""Who is the active daemon: at most one per database runs the schedule.

* SQLite: `FileLock`, an exclusive flock beside the database file, taken before the database is
  touched, so a second daemon refuses to start (`DaemonError`, exit 2).
* PostgreSQL: `AdvisoryLock`, a session advisory lock held on a dedicated connection; standbys
  poll it, and the server frees it when the holder's connection drops, whether the holder
  stopped, crashed or was killed.

"Once" never rests on this lock (unique notice keys and SKIP LOCKED claims do that); the
leadership only spares the other daemons the work.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from scheduler.config import Settings
from scheduler.daemon.trouble import Complaints
from scheduler.db.database import lock_key
from scheduler.errors import ConfigError, UserError

log = logging.getLogger("sistercity.daemon")

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
        self._complaints = Complaints(log)

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
        self._complaints.complain("daemon lock connection", exc)

    def try_acquire(self) -> bool:
        """True when this process holds the lock now; False while another holds it or the
        server cannot be reached (logged once per distinct error)."""
        if self._held:
            return self.still_held()
        try:
            got = self._connection().execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}
            ).scalar()
        except SQLAlchemyError as exc:
            self._drop(exc)
            return False
        self._complaints.recovered("daemon lock connection")
        self._held = bool(got)
        return self._held

    def still_held(self) -> bool:
        """Asks the server (one round trip): False once the lock connection failed."""
        if not self._held or self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            self._drop(exc)
            return False
        return True

    def release(self) -> None:
        """Unlock, close the lock connection and dispose of its engine; never raises."""
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
    touched. Errors: ConfigError for a bad database.url; DaemonError (exit 2) for an in-memory
    SQLite database or when another daemon holds the SQLite database."""
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
