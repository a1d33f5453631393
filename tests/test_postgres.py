"""PostgreSQL: `run` and `deliver`, and several daemons on one database (one active, takeover
within 30 s, no message twice). Needs SISTERCITY_TEST_PG_URL (a server where the user may
CREATE DATABASE); every test gets a database of its own, dropped afterwards."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtpserver import SmtpTestServer
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from test_daemon import (
    PATIENCE,
    DaemonProcess,
    bangkok_today,
    daemons,
    server,
    sistercity,
    status_json,
    wait_until,
    write_config,
    write_dataset,
)

from scheduler.db.database import Database, lock_key
from scheduler.db.models import DaemonRow, MessageRow, NoticeRow

pytestmark = pytest.mark.postgres
__all__ = ["daemons", "server"]  # fixtures shared with test_daemon.py


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The URL of a fresh, uniquely named database on the test server."""
    base = os.environ.get("SISTERCITY_TEST_PG_URL")
    if not base:
        pytest.skip("SISTERCITY_TEST_PG_URL is not set: PostgreSQL tests need a server")
    name = f"sc_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sent_subjects(server: SmtpTestServer) -> list[str]:
    return sorted(str(m.message["Subject"]) for m in server.messages)


def body(server: SmtpTestServer, index: int) -> str:
    part = server.messages[index].message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_run_and_deliver(tmp_path: Path, server: SmtpTestServer, pg_database: str) -> None:
    today = bangkok_today()
    write_dataset(tmp_path / "data.toml", deadlines={"plan": today + dt.timedelta(days=7)})
    write_config(tmp_path, server, database_url=pg_database, retry_initial_seconds=0)

    server.fail_rcpt["*"] = "451 4.3.0 Try again later"
    result = sistercity(tmp_path, "run", "budget-deadlines")
    assert result.returncode == 1, result.stderr  # queued, not sent yet
    assert server.messages == []

    server.clear_failures()
    result = sistercity(tmp_path, "deliver")
    assert result.returncode == 0, result.stderr
    assert "sent 1" in result.stdout
    assert "Deadline plan" in body(server, 0)

    result = sistercity(tmp_path, "run")  # all jobs: nothing new
    assert result.returncode == 0, result.stderr
    result = sistercity(tmp_path, "deliver")
    assert result.returncode == 0 and "sent 0" in result.stdout
    assert len(server.messages) == 1


def _active_rows(db: Database) -> list[DaemonRow]:
    with db.read() as session:
        return list(session.scalars(select(DaemonRow).where(DaemonRow.active.is_(True),
                                                            DaemonRow.stopped_at.is_(None))))


def _lock_holders(db: Database) -> int:
    key = lock_key("daemon")
    with db.read() as session:
        return int(session.execute(
            # A bigint advisory key shows as classid (high 32 bits) and objid (low 32 bits).
            # pg_locks covers the whole server: other tests' daemons hold the same key in
            # their own databases.
            text("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                 "WHERE d.datname = current_database() AND l.locktype = 'advisory' "
                 "AND l.granted AND l.objsubid = 1 AND l.classid::bigint = :hi "
                 "AND l.objid::bigint = :lo"),
            {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
        ).scalar_one())


def test_two_daemons_one_active_takeover_without_duplicates(
    tmp_path: Path, server: SmtpTestServer, pg_database: str, daemons: list[DaemonProcess]
) -> None:
    today = bangkok_today()
    write_dataset(tmp_path / "data.toml", deadlines={"plan": today + dt.timedelta(days=7)})
    write_config(tmp_path, server, database_url=pg_database)

    a = DaemonProcess.start(tmp_path, "a")
    b = DaemonProcess.start(tmp_path, "b")
    daemons.extend([a, b])
    server.wait_for_messages(1, timeout=PATIENCE)
    by_pid = {a.pid: a, b.pid: b}

    db = Database(pg_database)
    try:
        def both_registered() -> bool:
            with db.read() as session:
                return session.scalar(select(func.count()).select_from(DaemonRow)) == 2

        wait_until(both_registered)
        active = wait_until(lambda: _active_rows(db))
        assert len(active) == 1
        assert _lock_holders(db) == 1
        leader = by_pid[active[0].pid]
        standby = b if leader is a else a
        wait_until(leader.caught_up)
        assert not standby.caught_up()

        # A new deadline while the leader runs: its schedule is daily, so nothing is sent yet.
        extra = write_dataset(tmp_path / "extra.toml", people=False,
                              deadlines={"extra": today + dt.timedelta(days=7)})
        result = sistercity(tmp_path, "load", str(extra))
        assert result.returncode == 0, result.stderr

        # The leader dies without a word; the server drops its connection and so its lock.
        # The standby takes over and its catch-up pass sends the new deadline.
        killed_at = time.monotonic()
        leader.signal(signal.SIGKILL)
        assert leader.wait(10) == -signal.SIGKILL
        server.wait_for_messages(2, timeout=30)
        assert time.monotonic() - killed_at < 30
        wait_until(standby.caught_up)
        time.sleep(1.5)  # time for anything that would be sent twice (a delivery tick or so)

        assert len(server.messages) == 2
        assert "Deadline plan" in body(server, 0) and "Deadline extra" in body(server, 1)
        assert len({m.message["Message-ID"] for m in server.messages}) == 2
        with db.read() as session:
            states = list(session.scalars(select(MessageRow.state)))
            notices = session.scalar(select(func.count()).select_from(NoticeRow))
        assert states == ["sent", "sent"] and notices == 2

        status = status_json(tmp_path)
        assert status["daemon"]["pid"] == standby.pid
        assert all(job["next_run"] for job in status["jobs"])

        standby.signal(signal.SIGTERM)
        assert standby.wait() == 0
        assert [(r.id, r.pid) for r in _active_rows(db)] == [], (a.log, b.log)
        assert _lock_holders(db) == 0
        assert all(job["next_run"] is None for job in status_json(tmp_path)["jobs"])
    finally:
        db.dispose()


def test_a_lost_lock_connection_hands_over(tmp_path: Path, server: SmtpTestServer,
                                           pg_database: str,
                                           daemons: list[DaemonProcess]) -> None:
    """The server ends the lock's session (a restart, a network cut): the daemon notices,
    stands by, and one daemon is active again soon after, without sending twice."""
    today = bangkok_today()
    write_dataset(tmp_path / "data.toml", deadlines={"plan": today + dt.timedelta(days=7)})
    write_config(tmp_path, server, database_url=pg_database)
    daemon = DaemonProcess.start(tmp_path)
    daemons.append(daemon)
    server.wait_for_messages(1, timeout=PATIENCE)
    wait_until(daemon.caught_up)

    db = Database(pg_database)
    try:
        with db.read() as session:
            ended = session.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = :app"),
                {"app": "sistercity daemon lock"}).scalar_one()
        assert ended == 1
        wait_until(lambda: "lost the daemon lock" in daemon.log)
        wait_until(lambda: daemon.log.count("trigger=catch-up") >= 8)  # active again
        assert len(_active_rows(db)) == 1 and _lock_holders(db) == 1
        assert len(server.messages) == 1
    finally:
        db.dispose()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0
