"""Delivery rounds driven by an injected clock: back-off, running out of attempts, claims and
their expiry, and what each transport verdict does to the round. A real SMTP server on loopback
and a real database (SQLite; PostgreSQL too when SISTERCITY_TEST_PG_URL is set); no sleeps."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_DATA, Project
from smtpserver import SmtpTestServer, running_smtp_server
from sqlalchemy import insert, select
from test_postgres import pg_database

from scheduler.config import Settings, load_settings
from scheduler.db.database import Database
from scheduler.db.states import MessageState
from scheduler.db.tables import message_bodies, messages
from scheduler.mail.delivery import Delivery, DeliveryReport
from scheduler.mail.transports import FileTransport, Transport, make_transport

__all__ = ["pg_database"]  # a fixture

T0 = dt.datetime(2030, 1, 5, 1, 0, tzinfo=dt.UTC)
INITIAL, MAXIMUM, ATTEMPTS, CLAIM_TIMEOUT = 60, 240, 5, 300


@dataclass
class Clock:
    """The time a Delivery sees; moves only when a test says so."""

    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class Rig:
    db: Database
    settings: Settings
    server: SmtpTestServer
    clock: Clock

    def queue(self, count: int) -> list[int]:
        """`count` pending messages to friend<i>@example.jp, due at once."""
        ids = []
        with self.db.writer.begin() as conn:
            for i in range(count):
                mid = conn.execute(
                    insert(messages).returning(messages.c.id),
                    {"job": "anniversaries", "recipient": f"friend{i}@example.jp",
                     "language": "en", "subject": f"Reminder {i}",
                     "message_id": f"<{i}@sistercity.example.org>",
                     "sender": "intl@example.org", "state": MessageState.PENDING,
                     "attempts": 0, "next_attempt_at": self.clock.now,
                     "created_at": self.clock.now},
                ).scalar_one()
                data = f"Subject: Reminder {i}\r\nTo: friend{i}@example.jp\r\n\r\nhi\r\n"
                conn.execute(insert(message_bodies), {"message_id": mid, "data": data.encode()})
                ids.append(mid)
        return ids

    def delivery(self, worker: str = "sender:1", transport: Transport | None = None) -> Delivery:
        transport = transport if transport is not None else make_transport(self.settings)
        return Delivery(self.db, self.settings, transport, clock=self.clock, worker=worker)

    def deliver(self, worker: str = "sender:1") -> DeliveryReport:
        """One round at the clock's time."""
        return asyncio.run(self.delivery(worker).run())

    def message(self, message_id: int) -> Any:
        with self.db.engine.connect() as conn:
            return conn.execute(select(messages).where(messages.c.id == message_id)).one()


@pytest.fixture(params=["sqlite", "postgres"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    url = ("sqlite:///var/sistercity.db" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_database")))
    with running_smtp_server() as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "{url}"\n[email]\ntransport = "smtp"\n'
            f'[smtp]\nhost = "{server.host}"\nport = {server.port}\ntimeout_seconds = 5\n'
            f"max_connections = 1\nretry_initial_seconds = {INITIAL}\n"
            f"retry_max_seconds = {MAXIMUM}\nmax_attempts = {ATTEMPTS}\n"
            f"claim_timeout_seconds = {CLAIM_TIMEOUT}\n",
            encoding="utf-8",
        )
        settings = load_settings(str(config))
        db = Database(settings.database_url)
        db.ensure_schema()
        try:
            yield Rig(db, settings, server, Clock())
        finally:
            db.dispose()


# -- back-off ----------------------------------------------------------------------------------
def test_a_refused_message_waits_out_the_initial_back_off(rig: Rig) -> None:
    later, now = rig.queue(2)
    rig.server.fail_rcpt["friend0@example.jp"] = "451 4.3.0 Try again later"
    report = rig.deliver()
    assert (report.sent, report.retrying, report.failed) == ([now], [later], [])
    assert report.stopped is None  # one refusal does not hold up the others
    rig.server.clear_failures()

    assert not rig.deliver().attempted  # same instant: not due
    rig.clock.advance(INITIAL - 1)
    assert not rig.deliver().attempted  # a second early: still not due
    rig.clock.advance(1)
    assert rig.deliver().sent == [later]
    msg = rig.message(later)
    assert (msg.state, msg.attempts, msg.last_error) == (MessageState.SENT, 2, None)
    assert msg.sent_at == rig.clock.now and msg.claimed_by is None
    assert [m.rcpt_tos for m in rig.server.messages] == [
        ("friend1@example.jp",), ("friend0@example.jp",)]


def test_back_off_doubles_up_to_the_cap_then_the_message_fails(rig: Rig) -> None:
    (mid,) = rig.queue(1)
    rig.server.fail_rcpt["*"] = "451 4.3.0 Try again later"
    waits = []
    for attempt in range(1, ATTEMPTS):
        assert rig.deliver().retrying == [mid]
        msg = rig.message(mid)
        assert (msg.state, msg.attempts) == (MessageState.PENDING, attempt)
        wait = (msg.next_attempt_at - rig.clock.now).total_seconds()
        waits.append(wait)
        rig.clock.advance(wait - 1)
        assert not rig.deliver().attempted
        rig.clock.advance(1)
    assert waits == [INITIAL, 2 * INITIAL, MAXIMUM, MAXIMUM]

    assert rig.deliver().failed == [mid]  # the last attempt: failed, not retried
    msg = rig.message(mid)
    assert (msg.state, msg.attempts) == (MessageState.FAILED, ATTEMPTS)
    assert msg.last_error == f"451 4.3.0 Try again later ({rig.server.host}:{rig.server.port})"
    rig.clock.advance(10 * MAXIMUM)
    assert not rig.deliver().attempted
    assert rig.server.messages == []


def test_a_permanent_refusal_fails_at_once(rig: Rig) -> None:
    (mid,) = rig.queue(1)
    rig.server.fail_rcpt["*"] = "550 5.1.1 No such user"
    assert rig.deliver().failed == [mid]
    assert (rig.message(mid).state, rig.message(mid).attempts) == (MessageState.FAILED, 1)


# -- verdicts that stop the round ----------------------------------------------------------------
def test_an_unreachable_server_costs_no_attempt_and_stops_the_round(rig: Rig) -> None:
    ids = rig.queue(3)
    rig.server.stop()
    report = rig.deliver()
    assert report.stopped is not None and "cannot connect" in report.stopped
    assert (report.sent, report.retrying) == ([], ids[:1])  # the rest was not tried
    for mid in ids:
        msg = rig.message(mid)
        assert (msg.state, msg.attempts, msg.claimed_by) == (MessageState.PENDING, 0, None)
        assert msg.next_attempt_at == T0  # no back-off: the message was never offered
    rig.server.start()
    assert sorted(rig.deliver().sent) == ids


def test_a_broken_sink_counts_an_attempt_and_stops_the_round(rig: Rig, tmp_path: Path) -> None:
    first, *rest = rig.queue(3)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox folder should be", encoding="utf-8")
    report = asyncio.run(rig.delivery(transport=FileTransport(blocker)).run())
    assert report.stopped is not None and str(blocker) in report.stopped
    assert (report.sent, report.retrying) == ([], [first])
    msg = rig.message(first)  # offered, so tried: an attempt and the back-off
    assert (msg.state, msg.attempts) == (MessageState.PENDING, 1)
    assert msg.next_attempt_at == T0 + dt.timedelta(seconds=INITIAL)
    for mid in rest:  # handed back untried
        msg = rig.message(mid)
        assert (msg.state, msg.attempts, msg.next_attempt_at) == (MessageState.PENDING, 0, T0)


# -- claims --------------------------------------------------------------------------------------
def test_claims_of_two_senders_never_overlap(rig: Rig) -> None:
    ids = rig.queue(5)
    one, two = rig.delivery("one:1"), rig.delivery("two:2")
    first = one.claim(limit=2)
    second = two.claim(limit=8)
    assert [c.envelope.message_id for c in first] == ids[:2]  # lowest id first
    assert [c.envelope.message_id for c in second] == ids[2:]
    assert one.claim(limit=8) == []
    assert {c.attempt for c in first + second} == {1}
    assert first[0].envelope.data.startswith(b"Subject: Reminder 0\r\n")
    msg = rig.message(ids[0])
    assert (msg.state, msg.claimed_by, msg.claimed_at) == (MessageState.SENDING, "one:1", T0)

    two.release(c.envelope.message_id for c in second)
    assert (rig.message(ids[2]).state, rig.message(ids[2]).attempts) == (MessageState.PENDING, 0)
    again = one.claim(frozenset({ids[4], ids[0]}), limit=8)  # `only`: claimed ones stay out
    assert [(c.envelope.message_id, c.attempt) for c in again] == [(ids[4], 1)]
    assert one.claim(frozenset(), limit=8) == []


def test_a_claim_older_than_the_timeout_is_taken_back(rig: Rig) -> None:
    (mid,) = rig.queue(1)
    assert [c.envelope.message_id for c in rig.delivery("dead:1").claim()] == [mid]
    # ... and the sender that claimed it dies before recording anything.

    rig.clock.advance(CLAIM_TIMEOUT)
    assert not rig.deliver().attempted  # not older than the timeout yet: still its claim
    assert (rig.message(mid).state, rig.message(mid).claimed_by) == (
        MessageState.SENDING, "dead:1")
    rig.clock.advance(1)
    assert rig.deliver().sent == [mid]
    msg = rig.message(mid)
    # The dead sender's try counts: it may have reached the server before dying.
    assert (msg.state, msg.attempts, msg.claimed_by) == (MessageState.SENT, 2, None)
    assert len(rig.server.messages) == 1


def test_a_renewed_claim_is_not_taken_back(rig: Rig) -> None:
    ids = rig.queue(2)
    slow = rig.delivery("slow:1")
    assert [c.envelope.message_id for c in slow.claim(limit=2)] == ids
    rig.clock.advance(CLAIM_TIMEOUT - 1)
    assert slow.renew_claims() == 2  # still sending: a round renews its claims as it goes
    rig.clock.advance(2)  # past the first claim's timeout, not the renewal's
    assert not rig.deliver("other:2").attempted
    assert {rig.message(mid).claimed_by for mid in ids} == {"slow:1"}
    rig.clock.advance(CLAIM_TIMEOUT)  # no renewal since: the sender is dead
    assert sorted(rig.deliver("other:2").sent) == ids


# -- what each reader gets -----------------------------------------------------------------------
def test_a_private_use_character_in_a_name_reaches_every_reader_intact(
    project: Project, tmp_path: Path
) -> None:
    # Issue 12, fault 9: renderings shared by several readers marked the reader's name with
    # U+E000, so a partner named "Town\ue000" was sent as "Town<reader's name>".
    names = {"Leap City": "เมืองอธิกสุรทิน", "Suwon": "ซูวอน", "Osaka": "โอซากา"}
    text = (TEST_DATA / "testcity.toml").read_text(encoding="utf-8")
    for en, th in names.items():
        text = text.replace(f'name = "{en}"', f'name = "{en}\\uE000"')
        text = text.replace(f'name_th = "{th}"', f'name_th = "{th}\\uE000"')
    data = tmp_path / "city.toml"
    data.write_text(text, encoding="utf-8")
    project.write_config(data={"files": [str(data)]})
    for job in ("anniversaries", "dormant-partners"):
        assert project.cli("run", job, "--as-of", "2018-03-03").exit_code == 0
    marked = [f"{name}\ue000" for pair in names.items() for name in pair]
    seen = 0
    emails = project.eml_files()
    assert len(emails) == 7
    for msg in emails:
        for kind in ("plain", "html"):
            part = msg.get_body(preferencelist=(kind,))
            assert part is not None
            body = str(part.get_content())
            intact = sum(body.count(name) for name in marked)
            assert body.count("\ue000") == intact, (msg["To"], kind)  # no reader's name after it
            seen += intact
    assert seen >= 6
