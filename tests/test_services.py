"""The service layer called directly, as the web app will: frozen values in and out, the
clock passed in, bad input as UserError. Real SQLite, the test registry."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from conftest import Project
from sqlalchemy import update

from scheduler.config import load_settings
from scheduler.db.database import Database
from scheduler.db.models import MessageRow
from scheduler.errors import UserError
from scheduler.registry.bootstrap import open_database
from scheduler.services import outbox, partners, runs
from scheduler.services.audit import Actor
from scheduler.services.status import collect_status

AS_OF = dt.date(2018, 6, 1)
NOW = dt.datetime(2018, 6, 1, 2, 0, tzinfo=dt.UTC)
BY = Actor("cli", NOW)


@pytest.fixture
def db(project: Project) -> Database:
    project.monkeypatch.chdir(project.root)
    return open_database(load_settings(str(project.config)), upgrade=True)


def test_partner_listing_is_the_json_contract(db: Database) -> None:
    listed = partners.list_partners(db, as_of=AS_OF, dormant_after_days=365)
    suwon = next(p for p in listed if p.id == "suwon")
    detail = partners.partner_detail(db, "SUWON", as_of=AS_OF, dormant_after_days=365)
    assert suwon == detail.summary
    assert suwon.dormant is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        suwon.dormant = False  # type: ignore[misc]
    data = suwon.to_json()
    assert {"id", "name", "name_th", "country", "working_group", "agreements", "last_activity",
            "dormant"} <= set(data)
    assert data["agreements"][0]["signed_on"] == suwon.agreements[0].signed_on.isoformat()


def test_unknown_partner_is_a_user_error(db: Database) -> None:
    with pytest.raises(UserError, match='unknown partner "atlantis"'):
        partners.partner_detail(db, "atlantis", as_of=AS_OF, dormant_after_days=365)
    with pytest.raises(UserError, match='unknown partner "atlantis"'):
        partners.record_activity(db, "atlantis", day=AS_OF, title="Visit", by=BY)


def test_recording_an_activity_twice_creates_it_once(db: Database) -> None:
    first = partners.record_activity(db, "suwon", day=dt.date(2018, 5, 20), title=" Visit ", by=BY)
    again = partners.record_activity(db, "suwon", day=dt.date(2018, 5, 20), title="Visit", by=BY)
    assert (first.created, first.title, again.created) == (True, "Visit", False)
    suwon = partners.partner_detail(db, "suwon", as_of=AS_OF, dormant_after_days=365).summary
    assert suwon.last_activity == dt.date(2018, 5, 20) and not suwon.dormant
    with pytest.raises(UserError, match="--title: must not be empty"):
        partners.record_activity(db, "suwon", day=AS_OF, title="  ", by=BY)


def test_queue_then_requeue_moves_failed_messages_back_to_pending(db: Database,
                                                                  project: Project) -> None:
    runner = runs.Runner(db, load_settings(str(project.config)))
    results = runs.queue_jobs(runner, ["anniversaries"], dt.date(2018, 3, 3), now=NOW)
    ids = [i for r in results for i in r.message_ids]
    assert ids and outbox.any_waiting(db, ids)  # queued, not yet sent
    with db.write() as session:
        session.execute(update(MessageRow).values(state="failed", attempts=8))
    with pytest.raises(UserError, match="no such message: 999"):
        outbox.requeue(db, [ids[0], 999], now=NOW)
    assert {e.state for e in outbox.list_outbox(db, dt.UTC, state="failed")} == {"failed"}
    done = outbox.requeue(db, [], now=NOW)  # every failed one
    assert sorted(done.requeued) == sorted(ids) and done.skipped == ()
    entries = outbox.list_outbox(db, dt.UTC)
    assert {(e.state, e.attempts, e.next_attempt_at) for e in entries} == {("pending", 0, NOW)}


def test_status_reads_no_clock(db: Database, project: Project) -> None:
    status = collect_status(db, load_settings(str(project.config)), NOW)
    assert [j.name for j in status.jobs][:1] == ["anniversaries"]
    assert status.daemon is None and status.to_json()["outbox"]["pending"] == 0


def test_correcting_an_agreement_keeps_it_one_agreement_and_audits_it(db: Database) -> None:
    from scheduler.registry.domain import AgreementKind
    from scheduler.services.audit import AuditAction, entries

    before = partners.partner_detail(db, "suwon", as_of=AS_OF, dormant_after_days=365).summary
    (mou,) = before.agreements
    fix = partners.AgreementCorrection(signed_on=dt.date(2013, 3, 12), kind=AgreementKind.MOU)
    done = partners.correct_agreement(db, "Suwon", mou.id, fix, by=BY)
    assert done.changes == {"signed_on": ["2013-03-10", "2013-03-12"]}
    after = partners.partner_detail(db, "suwon", as_of=AS_OF, dormant_after_days=365).summary
    assert [(a.id, a.signed_on) for a in after.agreements] == [(mou.id, dt.date(2013, 3, 12))]
    assert partners.correct_agreement(db, "suwon", mou.id, fix, by=BY).changes == {}
    (entry,) = entries(db)
    assert (entry.who, entry.action, entry.target, entry.at) == (
        "cli", AuditAction.CORRECT_AGREEMENT, f"suwon/{mou.id}", NOW)
    with pytest.raises(UserError, match="expires_on: is before signed_on"):
        partners.correct_agreement(
            db, "suwon", mou.id, partners.AgreementCorrection(expires_on=dt.date(2000, 1, 1)),
            by=BY)
    with pytest.raises(UserError, match='suwon has no agreement "mou-1999"'):
        partners.correct_agreement(db, "suwon", "mou-1999", fix, by=BY)
