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
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from test_daemon import (
    PATIENCE,
    SATURDAY,
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

from scheduler.config import load_settings
from scheduler.daemon.leadership import PgLease
from scheduler.daemon.service import Change, Daemon
from scheduler.db.database import Database
from scheduler.db.lease import Fence, Fenced
from scheduler.db.models import DaemonRow, LeaseRow, MessageRow, NoticeRow, RunRow
from scheduler.registry.bootstrap import open_database
from scheduler.services.status import active_daemon

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


def _lease(db: Database) -> LeaseRow | None:
    """The daemons' lease row, when a daemon holds it (not expired by the database's clock)."""
    with db.read() as session:
        return session.scalars(select(LeaseRow).where(
            LeaseRow.holder.is_not(None),
            LeaseRow.expires_at > text("clock_timestamp() AT TIME ZONE 'UTC'"))).first()


def _lock_holders(db: Database) -> int:
    return 0 if _lease(db) is None else 1


def _start_two(root: Path, server: SmtpTestServer, pg_database: str,
               daemons: list[DaemonProcess]) -> tuple[DaemonProcess, DaemonProcess]:
    """Two daemons on a dataset with one deadline 7 days ahead, after the first message."""
    write_dataset(root / "data.toml", deadlines={"plan": bangkok_today() + dt.timedelta(days=7)})
    write_config(root, server, database_url=pg_database)
    a = DaemonProcess.start(root, "a")
    b = DaemonProcess.start(root, "b")
    daemons.extend([a, b])
    server.wait_for_messages(1, timeout=PATIENCE)
    return a, b


def test_two_daemons_one_active_takeover_without_duplicates(
    tmp_path: Path, server: SmtpTestServer, pg_database: str, daemons: list[DaemonProcess]
) -> None:
    today = bangkok_today()
    a, b = _start_two(tmp_path, server, pg_database, daemons)
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
                {"app": "sistercity daemon lease"}).scalar_one()
        assert ended == 1
        wait_until(lambda: "lost the daemon lease" in daemon.log)
        wait_until(lambda: daemon.log.count("trigger=catch-up") >= 8)  # active again
        assert len(_active_rows(db)) == 1 and _lock_holders(db) == 1
        assert len(server.messages) == 1
    finally:
        db.dispose()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


# -- the lease: a leader that stops renewing is replaced; once replaced it writes nothing ----
class FakeMonotonic:
    """The lease holder's own sense of elapsed time (seconds), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _expire_lease(db: Database) -> None:
    """As if the holder had not renewed for its whole lease: expired by the database's clock."""
    with db.write() as session:
        session.execute(text("UPDATE leases SET expires_at = "
                             "(clock_timestamp() AT TIME ZONE 'UTC') - interval '1 second'"))


def test_the_lease_rule_and_its_fence(tmp_path: Path, server: SmtpTestServer,
                                      pg_database: str) -> None:
    write_dataset(tmp_path / "data.toml", deadlines={"plan": dt.date(2030, 1, 12)})
    settings = load_settings(str(write_config(tmp_path, server, database_url=pg_database)))
    db = open_database(settings)
    clock = FakeMonotonic()
    first = PgLease(pg_database, "first", seconds=30, monotonic=clock)
    second = PgLease(pg_database, "second", seconds=30)
    daemon = Daemon(db, settings, first)
    try:
        daemon.register(SATURDAY)
        assert daemon.step(SATURDAY) is Change.PROMOTED
        assert first.fence is not None and first.fence.term == 1
        # A lease that runs is not taken, however often a standby tries.
        assert not second.try_acquire() and not second.try_acquire()
        assert first.still_held()

        # The holder goes silent for longer than its lease (by the database's clock): the
        # standby takes over with the next term.
        _expire_lease(db)
        assert second.try_acquire()
        assert second.fence is not None and second.fence.term == 2
        lease = _lease(db)
        assert lease is not None and (lease.holder, lease.term) == ("second", 2)

        # The old leader has not noticed yet (its own clock says the lease still runs): its
        # job run, in its child process, fails its fence and writes nothing.
        assert first.may_write()
        outcome = daemon.run_scheduled("budget-deadlines", SATURDAY)
        assert outcome is not None and outcome.result is None
        assert outcome.error is not None and "lost the lease (term 1)" in outcome.error
        with db.read() as session:
            assert session.scalar(select(func.count()).select_from(RunRow)) == 0
            assert session.scalar(select(func.count()).select_from(MessageRow)) == 0
        assert daemon.step(SATURDAY + dt.timedelta(seconds=1)) is Change.DEMOTED
        assert server.messages == []
        # Its heartbeat may not say it is active either.
        row_values = {"heartbeat_at": SATURDAY, "active": True, "next_runs": {}}
        with pytest.raises(Fenced), db.write(fence=Fence("first", 1)) as session:
            session.execute(update(DaemonRow).where(DaemonRow.id == daemon.id)
                            .values(**row_values))
        assert active_daemon(db, SATURDAY) is None

        # By its own clock: past its lease without a renewal, a holder assumes it lost it and
        # starts nothing, without asking the server.
        second_clock = FakeMonotonic()
        third = PgLease(pg_database, "third", seconds=30, monotonic=second_clock)
        second.release()  # a clean stop frees the lease at once
        assert third.try_acquire() and third.fence is not None and third.fence.term == 3
        second_clock.now += 29.9
        assert third.may_write()
        second_clock.now += 0.2
        assert not third.may_write() and not third.still_held()
        third.release()
    finally:
        daemon.close(SATURDAY)
        second.release()
        db.dispose()


def test_a_frozen_leader_is_replaced_and_writes_nothing_when_it_wakes(
    tmp_path: Path, server: SmtpTestServer, pg_database: str, daemons: list[DaemonProcess]
) -> None:
    today = bangkok_today()
    a, b = _start_two(tmp_path, server, pg_database, daemons)
    db = Database(pg_database)
    try:
        active = wait_until(lambda: _active_rows(db))
        leader = {a.pid: a, b.pid: b}[active[0].pid]
        standby = b if leader is a else a
        wait_until(leader.caught_up)
        extra = write_dataset(tmp_path / "extra.toml", people=False,
                              deadlines={"extra": today + dt.timedelta(days=7)})
        assert sistercity(tmp_path, "load", str(extra)).returncode == 0

        # Frozen: its process and its connections stay, but it renews nothing.
        leader.signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        wait_until(lambda: "active: this daemon runs the schedule" in standby.log)
        assert time.monotonic() - frozen_at < 30, "SPEC: a silent leader is replaced in 30 s"
        assert status_json(tmp_path)["daemon"]["pid"] == standby.pid
        server.wait_for_messages(2, timeout=PATIENCE)
        wait_until(standby.caught_up)
        with db.read() as session:
            runs_before = session.scalar(select(func.count()).select_from(RunRow))

        # It wakes up: it notices it was replaced, says so, and writes nothing as leader.
        leader.signal(signal.SIGCONT)
        wait_until(lambda: "lost the daemon lease" in leader.log)

        def leader_row() -> DaemonRow:
            with db.read() as session:
                row = session.scalars(select(DaemonRow).where(DaemonRow.pid == leader.pid)).one()
            return row

        woke = leader_row().heartbeat_at
        wait_until(lambda: leader_row().heartbeat_at > woke)  # it stands by, beating
        assert not leader_row().active
        assert len(server.messages) == 2
        assert len({m.message["Message-ID"] for m in server.messages}) == 2
        with db.read() as session:
            assert session.scalar(select(func.count()).select_from(RunRow)) == runs_before
            assert list(session.scalars(select(MessageRow.state))) == ["sent", "sent"]
        assert status_json(tmp_path)["daemon"]["pid"] == standby.pid
        lease = _lease(db)
        assert lease is not None and lease.term == 2
        assert "trigger=catch-up" not in leader.log.split("lost the daemon lease", 1)[1]

        for process in (leader, standby):
            process.signal(signal.SIGTERM)
            assert process.wait() == 0
    finally:
        db.dispose()
