"""Issue 12, the load side: recurrence rules that would make planning spin are refused when a
dataset is loaded, any rule that is accepted plans a year in bounded time, and input that
used to end in a traceback (TOML nested 500 deep, a damaged or locked SQLite file, an empty
alembic_version) ends in a message naming the file, exit status 2, with nothing changed."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from conftest import Project
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.meeting_agendas import next_occurrence
from scheduler.dates.recurrence import MAX_COUNT, parse_rule
from scheduler.db import database
from scheduler.planning import occurrences
from scheduler.registry.domain import Meeting, Recurrence

MEETING = '[[meeting]]\nid = "m"\ntitle = "T"\ndtstart = {start}\nrrule = "{rule}"\n'
DAILY_AT_MOST = "a deadline or meeting recurs at most daily"
DEADLINE = '[[budget_deadline]]\nid = "d"\ntitle = "T"\ndtstart = {start}\nrrule = "{rule}"\n'


def table_rows(db_path: Path) -> list[tuple[object, ...]]:
    """Every row of the tables a load writes, to show that a refused load changed nothing."""
    with sqlite3.connect(db_path) as conn:
        return [
            tuple(row)
            for table in ("meetings", "budget_deadlines", "partners", "contacts")
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1")
        ]


@pytest.mark.parametrize(
    ("template", "start", "rule", "expected"),
    [
        (MEETING, "2017-11-01T09:00:00", "FREQ=WEEKLY;INTERVAL=0", "INTERVAL must be"),
        (DEADLINE, "2017-11-01", "FREQ=SECONDLY", DAILY_AT_MOST),
        (MEETING, "2017-11-01T09:00:00", "FREQ=HOURLY;INTERVAL=5", DAILY_AT_MOST),
        (DEADLINE, "1900-01-01", "FREQ=DAILY;COUNT=999999999", f"COUNT must be a whole number "
                                                               f"from 1 to {MAX_COUNT}"),
        (DEADLINE, "2017-11-01", "FREQ=DAILY;BYHOUR=9,15", "BYHOUR with several values"),
        (MEETING, "2017-11-01T09:00:00", "FREQ=DAILY;BYMINUTE=0,30", "BYMINUTE with several"),
        (DEADLINE, "2017-11-01", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "it has no occurrence"),
        (MEETING, "2017-11-07T09:00:00", "FREQ=DAILY;INTERVAL=7;BYDAY=MO", "it has no"),
        (DEADLINE, "0001-01-01", "FREQ=DAILY", "dtstart must lie in the years 1900–2199"),
        (DEADLINE, "2017-11-01", "FREQ=DAILY;INTERVAL=1000000000000", "INTERVAL must be"),
        (DEADLINE, "2017-11-01", "FREQ=YEARLY;BYEASTER=0", "BYEASTER is not part of RFC 5545"),
        (MEETING, "2017-11-01T09:00:00", "FREQ=MONTHLY;BYDAY=53MO", "a numbered BYDAY counts"),
        (DEADLINE, "2017-11-01", "FREQ=DAILY;COUNT=3;UNTIL=20180101T000000", "COUNT and UNTIL"),
    ],
    ids=lambda value: value if isinstance(value, str) and "FREQ" in value else "",
)
def test_a_rule_that_would_make_planning_spin_is_refused_at_load(
    project: Project, template: str, start: str, rule: str, expected: str
) -> None:
    assert project.cli("init").exit_code == 0
    before = table_rows(project.db_path)
    data = project.root / "spin.toml"
    data.write_text(template.format(start=start, rule=rule), encoding="utf-8")
    result = project.cli("load", str(data))
    assert result.exit_code == 2, result.output
    kind = "meeting" if template is MEETING else "budget_deadline"
    assert f'spin.toml: {kind}[0].rrule: "{rule}" is refused: {expected}' in result.stderr
    assert "Traceback" not in result.stderr
    assert table_rows(project.db_path) == before
    assert project.cli("run", "--dry-run", "--as-of", "2017-11-01").exit_code == 0


# -- any accepted rule plans a year in bounded time ------------------------------------------
_BY_PARTS = st.fixed_dictionaries(
    {},
    optional={
        "INTERVAL": st.integers(-2, 1100),
        "COUNT": st.integers(0, 12_000) | st.just(999_999_999),
        "BYMONTH": st.lists(st.integers(1, 12), min_size=1, max_size=3),
        "BYMONTHDAY": st.lists(st.integers(-31, 31).filter(bool), min_size=1, max_size=3),
        "BYDAY": st.lists(
            st.tuples(st.sampled_from(["", "1", "-1", "2", "5", "53"]),
                      st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"])),
            min_size=1, max_size=3,
        ),
        "BYYEARDAY": st.lists(st.integers(-366, 366).filter(bool), min_size=1, max_size=2),
        "BYWEEKNO": st.lists(st.integers(-53, 53).filter(bool), min_size=1, max_size=2),
        "BYSETPOS": st.lists(st.integers(-3, 3).filter(bool), min_size=1, max_size=2),
        "BYHOUR": st.lists(st.integers(0, 23), min_size=1, max_size=2),
        "BYMINUTE": st.lists(st.integers(0, 59), min_size=1, max_size=2),
        "UNTIL": st.dates(dt.date(1900, 1, 1), dt.date(2200, 1, 1)),
    },
)


def _rule_text(freq: str, parts: dict[str, object]) -> str:
    def value(v: object) -> str:
        if isinstance(v, dt.date):
            return v.strftime("%Y%m%dT000000")
        if isinstance(v, list):
            return ",".join(f"{a}{b}" if isinstance(a, str) else str(a)
                            for a, b in (x if isinstance(x, tuple) else (x, "") for x in v))
        return str(v)

    return ";".join([f"FREQ={freq}", *(f"{k}={value(v)}" for k, v in parts.items())])


@settings(max_examples=300, deadline=dt.timedelta(seconds=3))
@given(
    freq=st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "SECONDLY"]),
    parts=_BY_PARTS,
    dtstart=st.datetimes(dt.datetime(1850, 1, 1), dt.datetime(2250, 1, 1)),
    as_of=st.dates(dt.date(2017, 1, 1), dt.date(2040, 1, 1)),
)
def test_any_rule_load_accepts_plans_a_year_in_bounded_time(
    freq: str, parts: dict[str, object], dtstart: dt.datetime, as_of: dt.date
) -> None:
    """Per example (hypothesis' deadline): parse it as load does, then expand a year as the
    budget-deadline planner does and find the next meeting as the agenda planner does."""
    rule = _rule_text(freq, parts)
    try:
        parse_rule(rule, dtstart)
    except ValueError:
        return  # refused at load: never planned
    recurrence = Recurrence(dtstart=dtstart, rrule=rule)
    found = occurrences(recurrence, as_of, as_of + dt.timedelta(days=365))
    assert len(found) <= 366
    assert len({when.date() for when in found}) == len(found)  # at most one a day
    meeting = Meeting(id="m", title="T", title_th="", recurrence=recurrence)
    next_occurrence(meeting, as_of)


# -- tracebacks that are now messages --------------------------------------------------------
DEEP = "x = " + "[" * 500 + "]" * 500 + "\n"


def test_a_dataset_nested_500_deep_is_refused_by_name(project: Project) -> None:
    assert project.cli("init").exit_code == 0
    before = table_rows(project.db_path)
    deep = project.root / "deep.toml"
    deep.write_text(DEEP, encoding="utf-8")
    result = project.cli("load", str(deep))
    assert result.exit_code == 2
    assert "deep.toml: not valid TOML: arrays or tables are nested too deeply" in result.stderr
    assert "Traceback" not in result.stderr
    assert table_rows(project.db_path) == before


def test_a_config_nested_500_deep_is_refused_by_name(project: Project) -> None:
    project.config.write_text(DEEP, encoding="utf-8")
    result = project.cli("status")
    assert result.exit_code == 2
    assert "config.toml: not valid TOML: arrays or tables are nested too deeply" in result.stderr
    assert not project.db_path.exists()


def test_a_file_that_is_not_a_database_is_named_and_left_alone(project: Project) -> None:
    project.db_path.parent.mkdir(parents=True)
    junk = bytes(range(256)) * 40
    project.db_path.write_bytes(junk)
    for command in (["status"], ["init"], ["run", "--dry-run", "--as-of", "2017-11-01"]):
        result = project.cli(*command)
        assert result.exit_code == 2, result.output
        assert f"database.url: {project.db_path}: not an SQLite database" in result.stderr
        assert "Traceback" not in result.stderr
    assert project.db_path.read_bytes() == junk


def test_a_database_locked_too_long_stops_the_command_with_a_message(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert project.cli("init").exit_code == 0
    before = table_rows(project.db_path)
    # The real wait is 60 s; the behaviour at its end is the same with 1 s.
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 1)
    data = project.root / "more.toml"
    data.write_text(DEADLINE.format(start="2017-11-01", rule="FREQ=YEARLY"), encoding="utf-8")
    holder = sqlite3.connect(project.db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        result = project.cli("load", str(data))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 2, result.output
    assert f"database.url: {project.db_path}: another process has held the database locked " \
           "for over 1 s" in result.stderr
    assert "Traceback" not in result.stderr
    assert table_rows(project.db_path) == before


def test_an_empty_alembic_version_is_refused_without_touching_the_tables(
    project: Project,
) -> None:
    assert project.cli("init").exit_code == 0
    with sqlite3.connect(project.db_path) as conn:
        conn.execute("DELETE FROM alembic_version")
    before = table_rows(project.db_path)
    for command in (["status"], ["init"]):
        result = project.cli(*command)
        assert result.exit_code == 2, result.output
        assert "config.toml: database.url: the database holds sistercity's tables but no " \
               "schema version" in result.stderr
        assert "Traceback" not in result.stderr
    assert table_rows(project.db_path) == before


@settings(max_examples=300, deadline=None)
@given(
    freq=st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY"]),
    parts=_BY_PARTS,
    wkst=st.sampled_from(["", ";WKST=SU", ";WKST=WE"]),
    dtstart=st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2030, 1, 1)),
    lo=st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2040, 1, 1)),
    days=st.integers(0, 800),
)
def test_expanding_from_the_window_gives_what_dateutil_gives_from_dtstart(
    freq: str, parts: dict[str, object], wkst: str, dtstart: dt.datetime, lo: dt.datetime,
    days: int,
) -> None:
    """The planners' expansion starts at the period holding the window, not at dtstart: the
    occurrences must be exactly those of dateutil's walk from dtstart."""
    try:
        rule = parse_rule(_rule_text(freq, parts) + wkst, dtstart)
    except ValueError:
        return
    hi = lo + dt.timedelta(days=days)
    for inc in (True, False):
        assert rule.between(lo, hi, inc=inc) == rule.parsed.between(lo, hi, inc=inc)
        assert rule.after(lo, inc=inc) == rule.parsed.after(lo, inc=inc)


def test_a_daily_rule_from_1900_is_expanded_from_the_window_not_from_1900() -> None:
    rule = parse_rule("FREQ=DAILY;INTERVAL=3", dt.datetime(1900, 1, 1, 9, 30))
    restarted = rule.restarted(dt.datetime(2017, 11, 1, 12))
    assert dt.datetime(2017, 10, 30) <= restarted[0] <= dt.datetime(2017, 11, 2)
    window = (dt.datetime(2017, 11, 1), dt.datetime(2017, 11, 10))
    assert rule.between(*window, inc=True) == [
        dt.datetime(2017, 11, d, 9, 30) for d in (1, 4, 7)
    ] == rule.parsed.between(*window, inc=True)
