"""The three reminder planners, pure: a registry, a date and a history in; notices out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import TEST_DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs import anniversaries, budget_deadlines, dormant_partners
from scheduler.dates.thaidate import WorkingCalendar
from scheduler.db.database import Database
from scheduler.planning import (
    History,
    JobSettings,
    Notice,
    PlanContext,
    Sent,
    SkippedItem,
    due_stage,
    plan_items,
)
from scheduler.registry.dataset import read_files
from scheduler.registry.domain import Activity, Recurrence, Registry
from scheduler.registry.store import load_registry, upsert_batch

D = dt.date
CAL = WorkingCalendar()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    path: Path = tmp_path_factory.mktemp("reg") / "r.db"
    db = Database(f"sqlite:///{path}")
    db.ensure_schema()
    with db.write() as session:
        upsert_batch(session, read_files([TEST_DATA / "testcity.toml"]))
    with db.read() as session:
        return load_registry(session)


def ctx(
    registry: Registry, as_of: dt.date, history: History | None = None, **job_settings: object
) -> PlanContext:
    return PlanContext(
        registry=registry,
        as_of=as_of,
        settings=JobSettings(**job_settings),  # type: ignore[arg-type]
        calendar=CAL,
        history=history or History(),
    )


def by_recipient(notices: list[Notice]) -> dict[str, list[Notice]]:
    out: dict[str, list[Notice]] = {}
    for n in notices:
        out.setdefault(n.recipient.address, []).append(n)
    return out


def history_of(notices: list[Notice], as_of: dt.date) -> History:
    return History(
        {(n.item, n.occurrence, n.recipient.address): Sent(n.stage, as_of) for n in notices}
    )


@pytest.mark.parametrize(
    ("item_date", "as_of", "expected"),
    [
        (D(2018, 3, 30), D(2018, 2, 27), None),  # 31 days before: nothing due yet
        (D(2018, 3, 30), D(2018, 2, 28), 30),
        (D(2018, 3, 30), D(2018, 3, 22), 30),
        (D(2018, 3, 30), D(2018, 3, 23), 7),
        (D(2018, 3, 30), D(2018, 3, 29), 7),
        (D(2018, 3, 30), D(2018, 3, 30), 0),
        (D(2018, 3, 30), D(2018, 3, 31), None),  # after the date: never
    ],
)
def test_stage_table(item_date: dt.date, as_of: dt.date, expected: int | None) -> None:
    assert due_stage(item_date, as_of, (30, 7, 0)) == expected


@given(
    item=st.dates(D(2000, 1, 1), D(2100, 1, 1)),
    offset=st.integers(-5, 400),
    leads=st.lists(st.integers(0, 365), min_size=1, max_size=6, unique=True),
)
def test_stage_is_the_latest_due(item: dt.date, offset: int, leads: list[int]) -> None:
    as_of = item - dt.timedelta(days=offset)
    stage = due_stage(item, as_of, leads)
    if stage is None:
        assert offset < 0 or all(item - dt.timedelta(days=d) > as_of for d in leads)
    else:
        assert item - dt.timedelta(days=stage) <= as_of <= item
        assert all(d >= stage for d in leads if item - dt.timedelta(days=d) <= as_of)


# -- anniversaries ---------------------------------------------------------------------------
def test_leap_day_signing_and_recipients(registry: Registry) -> None:
    notices = anniversaries.plan(ctx(registry, D(2017, 1, 29)))
    leap = [n for n in notices if n.item.startswith("leapcity/")]
    assert {n.occurrence for n in leap} == {D(2017, 2, 28)}  # 29 Feb → 28 Feb in 2017
    assert {n.stage for n in leap} == {30}
    people = {n.recipient.address: n.recipient for n in leap}
    # the lead who is also staff is one recipient, with both roles
    assert set(people) == {"cn-lead@example.org", "cn-consulate@example.org", "staff@example.org"}
    assert people["cn-lead@example.org"].roles == ("lead", "staff")
    assert leap[0].context["years"] == 1
    in_2020 = anniversaries.plan(ctx(registry, D(2020, 2, 29)))
    assert {n.occurrence for n in in_2020 if n.item.startswith("leapcity/")} == {D(2020, 2, 29)}


def test_no_consulate_goes_to_the_mfa_and_fifth_year_is_marked(registry: Registry) -> None:
    notices = [
        n for n in anniversaries.plan(ctx(registry, D(2018, 3, 3))) if n.item.startswith("suwon/")
    ]
    assert {n.recipient.address for n in notices} == {
        "jk-lead@example.org",
        "mfa@example.org",
        "cn-lead@example.org",
        "staff@example.org",
    }
    assert all(n.context["route"] == "mfa" and n.context["years"] == 5 for n in notices)
    assert all(n.context["milestone"] for n in notices)
    assert {n.stage for n in notices} == {7}


def test_no_anniversary_before_the_first_year(registry: Registry) -> None:
    notices = anniversaries.plan(ctx(registry, D(2016, 2, 29)))
    assert not [n for n in notices if n.item.startswith("leapcity/")]


def test_queued_stage_or_later_is_not_queued_again(registry: Registry) -> None:
    first = anniversaries.plan(ctx(registry, D(2018, 3, 3)))
    assert first
    history = history_of(first, D(2018, 3, 3))
    assert anniversaries.plan(ctx(registry, D(2018, 3, 5), history)) == []  # same stage 7
    # a backdated run at stage 30 is covered by the later stage 7 already queued
    assert not [
        n
        for n in anniversaries.plan(ctx(registry, D(2018, 2, 10), history))
        if n.item.startswith("suwon/")
    ]
    # the next stage is new
    on_day = anniversaries.plan(ctx(registry, D(2018, 3, 10), history))
    assert {n.stage for n in on_day if n.item.startswith("suwon/")} == {0}


def test_missed_stages_send_one_reminder(registry: Registry) -> None:
    # the daemon was down for the 30- and 7-day stages: only the latest due one is planned
    notices = [
        n for n in anniversaries.plan(ctx(registry, D(2018, 3, 9))) if n.item.startswith("suwon/")
    ]
    assert len(notices) == 4 and {n.stage for n in notices} == {7}


# -- budget deadlines ------------------------------------------------------------------------
def test_deadline_on_a_thai_holiday_is_flagged(registry: Registry) -> None:
    notices = [n for n in budget_deadlines.plan(ctx(registry, D(2018, 4, 6))) if n.item == "plan"]
    assert {n.recipient.address for n in notices} == {
        "cn-lead@example.org",
        "jk-lead@example.org",
        "staff@example.org",
    }
    c = notices[0].context
    assert c["date"] == D(2018, 4, 13) and c["closed"] and not c["weekend"]
    assert c["last_working_day"] == D(2018, 4, 12)
    assert c["holiday_en"] == "Songkran Festival"
    assert c["title"] == "Submit the FY2562 activity plan"
    assert c["title_th"] == "ส่งแผนกิจกรรม ปีงบประมาณ 2562"
    assert notices[0].stage == 7


def test_recurring_deadline_for_one_group(registry: Registry) -> None:
    notices = budget_deadlines.plan(ctx(registry, D(2019, 1, 14)))
    visit = [n for n in notices if n.item == "china-visit"]
    assert {n.recipient.address for n in visit} == {"cn-lead@example.org", "staff@example.org"}
    assert visit[0].occurrence == D(2019, 1, 15) and visit[0].stage == 1
    assert visit[0].context["title"] == "China visit budget FY2562"
    assert visit[0].context["closed"] is False


# -- dormant partners ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("as_of", "dormant"),
    [(D(2017, 1, 8), False), (D(2017, 1, 9), True), (D(2018, 1, 1), True)],
)
def test_dormant_from_last_activity(registry: Registry, as_of: dt.date, dormant: bool) -> None:
    # osaka's last activity: 2016-01-10; 365 days later is 2017-01-09 (2016 is a leap year)
    notices = [n for n in dormant_partners.plan(ctx(registry, as_of)) if n.item == "osaka"]
    assert bool(notices) is dormant
    if dormant:
        # the group lead and every staff contact (cn-lead is also listed as staff)
        assert {n.recipient.address for n in notices} == {
            "jk-lead@example.org",
            "cn-lead@example.org",
            "staff@example.org",
        }
        # the occurrence is the day the silence began (SPEC), not the spell's first day
        assert {n.occurrence for n in notices} == {D(2016, 1, 10)}


def test_dormant_repeat_and_reactivation(registry: Registry) -> None:
    first = [n for n in dormant_partners.plan(ctx(registry, D(2017, 1, 9))) if n.item == "osaka"]
    history = history_of(first, D(2017, 1, 9))
    quiet = [
        n for n in dormant_partners.plan(ctx(registry, D(2017, 4, 8), history)) if n.item == "osaka"
    ]
    assert quiet == []  # 89 days later
    again = [
        n for n in dormant_partners.plan(ctx(registry, D(2017, 4, 9), history)) if n.item == "osaka"
    ]
    assert len(again) == 3  # 90 days later
    # a new activity ends the spell; a year of silence after it starts a new one
    osaka = registry.partners["osaka"]
    active = replace(osaka, activities=(*osaka.activities, Activity(D(2017, 5, 1), "Visit")))
    reg2 = replace(registry, partners={**registry.partners, "osaka": active})
    assert not [
        n for n in dormant_partners.plan(ctx(reg2, D(2017, 6, 1), history)) if n.item == "osaka"
    ]
    later = [
        n for n in dormant_partners.plan(ctx(reg2, D(2018, 5, 1), history)) if n.item == "osaka"
    ]
    assert {n.occurrence for n in later} == {D(2017, 5, 1)}


def test_partner_without_agreement_or_activity_is_never_dormant(registry: Registry) -> None:
    osaka = registry.partners["osaka"]
    bare = replace(osaka, agreements=(), activities=())
    reg = replace(registry, partners={"osaka": bare})
    assert dormant_partners.plan(ctx(reg, D(2030, 1, 1))) == []


@settings(max_examples=60, deadline=None)
@given(as_of=st.dates(D(2015, 1, 1), D(2030, 12, 31)))
def test_planning_twice_with_its_own_history_plans_nothing(
    registry: Registry, as_of: dt.date
) -> None:
    for job in (anniversaries, budget_deadlines, dormant_partners):
        first = job.plan(ctx(registry, as_of))
        assert job.plan(ctx(registry, as_of, history_of(first, as_of))) == []
        assert len({n.key for n in first}) == len(first)


# -- one bad item does not stop its job ------------------------------------------------------
def _with_deadline(registry: Registry, deadline_id: str, rrule: str) -> Registry:
    """The registry plus a copy of the "plan" deadline under `deadline_id` with `rrule`."""
    model = registry.budget_deadlines["plan"]
    recurrence = Recurrence(dt.datetime(2018, 4, 1, 9, 0), rrule)
    added = replace(model, id=deadline_id, recurrence=recurrence)
    return replace(registry, budget_deadlines={**registry.budget_deadlines, deadline_id: added})


def test_a_stored_rule_with_two_occurrences_a_day_is_skipped_not_doubled(
    registry: Registry,
) -> None:
    twice = _with_deadline(registry, "twice", "FREQ=DAILY;BYHOUR=9,15")
    context = ctx(twice, D(2018, 4, 6))
    notices = budget_deadlines.plan(context)
    keys = [n.key for n in notices]
    assert len(keys) == len(set(keys))  # no two notices share a key
    assert {n.item for n in notices} == {"plan"}
    assert [s.item for s in context.skipped] == ["twice"]
    assert "several occurrences a day" in context.skipped[0].reason


def test_an_item_that_cannot_be_planned_is_skipped_and_the_rest_goes_on(
    registry: Registry,
) -> None:
    broken = _with_deadline(registry, "broken", "FREQ=BOGUS")
    context = ctx(broken, D(2018, 4, 6))
    notices = budget_deadlines.plan(context)
    assert {n.item for n in notices} == {"plan"}
    assert [(s.job, s.item) for s in context.skipped] == [("budget-deadlines", "broken")]
    assert "FREQ=BOGUS" in context.skipped[0].reason


def test_plan_items_keeps_nothing_of_a_failed_item(registry: Registry) -> None:
    context = ctx(registry, D(2018, 4, 6))
    sample = budget_deadlines.plan(ctx(registry, D(2018, 4, 6)))[0]

    def plan_one(n: int) -> Iterator[Notice]:
        yield replace(sample, item=str(n))
        if n == 2:
            raise RuntimeError("item two is broken")

    notices = plan_items(context, "job", [1, 2, 3], str, plan_one)
    assert [n.item for n in notices] == ["1", "3"]
    assert context.skipped == [SkippedItem("job", "2", "RuntimeError: item two is broken")]
