"""Engine, sessions and schema for SQLite (embedded default) and PostgreSQL.

SQLite: WAL so readers never wait for the writer, a busy timeout so a second process waits
instead of failing with "database is locked", and BEGIN IMMEDIATE for write transactions so
that a read-then-write (plan, then queue) cannot interleave with another writer's.
PostgreSQL: write transactions that must not interleave take an advisory transaction lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ArgumentError, OperationalError

from scheduler.errors import ConfigError, SchemaError, UserError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.db.lease import Fence

# The Alembic head this code expects; tests check it matches scheduler/db/migrations/versions.
SCHEMA_REVISION = "0009"
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007",
                   "0008", "0009")
BUSY_TIMEOUT_SECONDS = 60
#: What `schema_revision` says of tables without a recorded revision.
UNVERSIONED = "unversioned"


class Database:
    def __init__(self, url: str, *, label: str = "config.toml") -> None:
        self.url = url
        self.label = label
        self.engine = _make_engine(url, label)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self.schema_action = ""  # what opening did to the schema: created, upgraded, current

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Session]:
        from sqlalchemy.orm import Session  # not on the delivery path: it starts faster

        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def write(self, lock: str | None = None, *, fence: Fence | None = None) -> Iterator[Session]:
        """One write transaction. `lock` names a critical section that must not interleave
        with the same section in another process (SQLite serialises every writer anyway).
        `fence` (a daemon leader's term) is checked in the same transaction just before it
        commits: Fenced, and everything rolled back, when another daemon took over."""
        from sqlalchemy.orm import Session

        with Session(self.writer, expire_on_commit=False) as session, session.begin():
            if lock is not None and not self.is_sqlite:
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(lock)})
            yield session
            if fence is not None:
                session.flush()  # the leader's rows go in before its term is checked
                fence.check(session)

    # -- schema -------------------------------------------------------------------------
    def schema_revision(self) -> str | None:
        """The Alembic revision of the schema; None for an empty database, UNVERSIONED when
        sistercity's tables are there without a revision (no or an empty alembic_version)."""
        with self.engine.connect() as conn:
            row = None
            if inspect(conn).has_table("alembic_version"):
                row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            if row is not None:
                return str(row[0])
            return UNVERSIONED if inspect(conn).has_table("partners") else None

    def ensure_schema(self, *, upgrade: bool = False) -> str:
        """Create the schema if there is none; upgrade only when asked (`sistercity init`).
        Returns what was done: "created", "upgraded" or "current"."""
        try:
            current = self.schema_revision()
        except OperationalError as exc:
            raise ConfigError(
                f"{self.label}: database.url: cannot open the database: {_short(exc)}"
            ) from None
        if current == SCHEMA_REVISION:
            return "current"
        if current is None:
            self._alembic_upgrade()
            return "created"
        if current == UNVERSIONED:  # creating the schema over it would fail half-way
            raise SchemaError(
                f"{self.label}: database.url: the database holds sistercity's tables but no "
                "schema version (alembic_version is missing or empty): it was damaged or "
                "edited by hand; nothing was changed: restore a backup or use another database"
            )
        if current not in KNOWN_REVISIONS:
            raise SchemaError(
                f"the database schema ({current}) is newer than this version of sistercity "
                f"understands ({SCHEMA_REVISION}): upgrade sistercity, or use another database"
            )
        if not upgrade:
            raise SchemaError(
                f"the database was made by an older version (schema {current}); "
                "run `sistercity init` to upgrade it"
            )
        self._alembic_upgrade()
        return "upgraded"

    def _alembic_upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        # Two first commands at once must not both create the schema: serialise, then let
        # Alembic see whatever the other one did.
        raw = None
        with self.writer.connect() as conn:
            if self.is_sqlite:
                # SQLite alters a table by copying it; with foreign keys enforced, dropping the
                # old copy would fail (or cascade) for every row that refers to it. The pragma
                # only works outside a transaction, so it goes to the driver directly.
                raw = conn.connection.driver_connection
                assert raw is not None
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    if not self.is_sqlite:
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                                     {"k": lock_key("schema")})
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
                    if self.is_sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                        if broken is not None:
                            raise SchemaError(f"the upgrade left a broken reference: {broken}")
            finally:
                if self.is_sqlite and raw is not None:
                    raw.execute("PRAGMA foreign_keys=ON")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_*lock from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _short(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).splitlines()[0]


def _make_engine(url: str, label: str) -> Engine:
    kwargs: dict[str, Any] = {}
    path = ""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_SECONDS}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"{label}: database.url: {exc}") from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
        _explain_sqlite_faults(engine, f"{label}: database.url: {path or url}")
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


class DatabaseUnavailable(UserError):
    """The database file cannot be used at all (locked too long, damaged, disk full): the
    command stops with this message and exit status 2; the transaction in progress is rolled
    back, so what it was writing is not half-written."""


# SQLite's words for a fault of the file rather than of a statement, and what to tell the user.
_SQLITE_FAULTS = (
    ("database is locked",
     "another process has held the database locked for over {timeout} s; the command stopped "
     "and its transaction was rolled back: try again when the other process is done"),
    ("file is not a database",
     "not an SQLite database (a damaged file, or another kind of file): nothing was changed; "
     "restore it from a backup or point database.url elsewhere"),
    ("database disk image is malformed",
     "the database file is damaged: nothing more was changed; restore it from a backup"),
    ("database or disk is full",
     "the disk is full: the transaction was rolled back; free some space and try again"),
)


def _explain_sqlite_faults(engine: Engine, where: str) -> None:
    """Turn SQLite's file-level faults into a DatabaseUnavailable naming the database, at
    every statement of this engine (sessions, the outbox's core statements, Alembic)."""

    @event.listens_for(engine, "handle_error")
    def on_error(context: Any) -> None:
        said = str(context.original_exception)
        for words, what in _SQLITE_FAULTS:
            if words in said:
                raise DatabaseUnavailable(
                    f"{where}: {what.format(timeout=BUSY_TIMEOUT_SECONDS)}"
                ) from context.original_exception
