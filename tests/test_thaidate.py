"""Tests for scheduler.dates.thaidate: BE years, fiscal years, parsing, formatting, working days."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.dates.thaidate import (
    BE_OFFSET,
    WorkingCalendar,
    anniversary,
    be_year,
    fiscal_year,
    fiscal_year_bounds,
    format_date,
    format_datetime,
    format_month_year,
    parse_date,
    years_between,
)

# One calendar for the whole module: holiday data is cached per year inside it.
CALENDAR = WorkingCalendar()

# The holidays package has Thai data from 1914; keep property tests in a range that has both
# holidays and years that parse_date reads unambiguously as CE.
HOLIDAY_DATES = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))


# --- BE years and fiscal years ---------------------------------------------------------------


def test_be_year() -> None:
    assert BE_OFFSET == 543
    assert be_year(2018) == 2561
    assert be_year(2019) == 2562


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2017, 9, 30), 2560),
        (date(2017, 10, 1), 2561),
        (date(2018, 1, 1), 2561),
        (date(2018, 9, 30), 2561),
        (date(2018, 10, 1), 2562),
        (date(2019, 9, 30), 2562),
    ],
)
def test_fiscal_year(d: date, expected: int) -> None:
    assert fiscal_year(d) == expected


@pytest.mark.parametrize(
    ("fy", "bounds"),
    [
        (2560, (date(2016, 10, 1), date(2017, 9, 30))),
        (2561, (date(2017, 10, 1), date(2018, 9, 30))),
        (2562, (date(2018, 10, 1), date(2019, 9, 30))),
    ],
)
def test_fiscal_year_bounds(fy: int, bounds: tuple[date, date]) -> None:
    assert fiscal_year_bounds(fy) == bounds


@pytest.mark.parametrize("fy", [544, 10543])
def test_fiscal_year_bounds_out_of_range(fy: int) -> None:
    with pytest.raises(ValueError, match=f"fiscal year {fy} BE"):
        fiscal_year_bounds(fy)


@given(st.dates(min_value=date(1, 10, 1), max_value=date(9999, 9, 30)))
def test_fiscal_year_bounds_contain_date(d: date) -> None:
    start, end = fiscal_year_bounds(fiscal_year(d))
    assert start <= d <= end
    assert (start.month, start.day, end.month, end.day) == (10, 1, 9, 30)
    assert end.year == start.year + 1


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-11-15", date(2017, 11, 15)),
        ("2560-11-15", date(2017, 11, 15)),
        ("2563-02-29", date(2020, 2, 29)),  # BE 2563 = CE 2020, a leap year
        ("2020-02-29", date(2020, 2, 29)),
        ("  2561-10-01\n", date(2018, 10, 1)),
        ("2399-12-31", date(2399, 12, 31)),  # below the BE threshold: CE
        ("2400-01-01", date(1857, 1, 1)),  # at the threshold: BE
        # SPEC "Commands": Thai forms and Thai digits, as clerks type them.
        ("15/11/2560", date(2017, 11, 15)),
        ("15 พ.ย. 2560", date(2017, 11, 15)),
        ("15 พฤศจิกายน 2560", date(2017, 11, 15)),
        ("๑๕/๑๑/๒๕๖๐", date(2017, 11, 15)),
        ("๒๒/๐๘/๒๕๖๐", date(2017, 8, 22)),
        ("๒๕๖๑-๐๑-๐๑", date(2018, 1, 1)),
        ("22 ส.ค. 2560", date(2017, 8, 22)),
        ("22 สิงหาคม 2560", date(2017, 8, 22)),
        ("๒๒ ส.ค. ๒๕๖๐", date(2017, 8, 22)),
        ("วันที่ 22 สิงหาคม พ.ศ. 2560", date(2017, 8, 22)),
        ("22 ส. ค. 2560", date(2017, 8, 22)),
        ("22 สค 2560", date(2017, 8, 22)),
        ("22ส.ค.2560", date(2017, 8, 22)),
        ("29 ก.พ. 2563", date(2020, 2, 29)),  # BE leap day: CE 2020
        ("1 มกราคม ค.ศ. 2018", date(2018, 1, 1)),
        ("22 Aug 2017", date(2017, 8, 22)),
        ("22 august 2017", date(2017, 8, 22)),
        ("1 ธ.ค. 2560", date(2017, 12, 1)),
        ("31 ม.ค. 2561", date(2018, 1, 31)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2019-02-30", "2019-02-30 is not a date (expected YYYY-MM-DD)"),
        ("2019-13-01", "2019-13-01 is not a date (expected YYYY-MM-DD)"),
        ("abc", "abc is not a date (expected YYYY-MM-DD, DD/MM/YYYY or 22 ส.ค. 2560)"),
        ("2561-02-29", "2561-02-29 is not a date (2561 BE is 2018 CE; expected YYYY-MM-DD)"),
        ("", "an empty value is not a date (expected YYYY-MM-DD"),
        ("2019-2-3", "2019-2-3 is not a date (expected YYYY-MM-DD"),
        ("22 ส.ค. 60", "22 ส.ค. 60 is not a date"),  # a two-digit year is not guessed
        ("22 Smarch 2017", "22 Smarch 2017 is not a date"),
        ("15 พ.ย. พ.ศ. 2017", "is not a date"),  # BE said, a CE year written
        ("๑๕ พ.ย. ค.ศ. ๒๕๖๐", "is not a date"),  # CE said, a BE year written
        ("๐๙/๑๐/๒๕๖๐ ๑", "is not a date"),
        ("1٥/11/2560", "is not a date"),  # Arabic-Indic digits: only ASCII and Thai ones
        ("0000-01-01", "0000-01-01 is not a date (expected YYYY-MM-DD)"),
    ],
)
def test_parse_date_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_date(text)
    assert message in str(excinfo.value)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_parse_date_round_trips_ce_and_be(d: date) -> None:
    assert parse_date(d.isoformat()) == d
    assert parse_date(f"{be_year(d.year):04d}-{d.month:02d}-{d.day:02d}") == d


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22/08/2560", date(2017, 8, 22)),
        ("22/08/2017", date(2017, 8, 22)),
        ("22.08.2560", date(2017, 8, 22)),
        ("22-08-2560", date(2017, 8, 22)),
        ("5/1/2562", date(2019, 1, 5)),  # day first, not US order
        ("29/02/2563", date(2020, 2, 29)),
        ("2560-08-22", date(2017, 8, 22)),
        (" 01/10/2561 ", date(2018, 10, 1)),
    ],
)
def test_parse_date_day_first(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("29/02/2561", "29/02/2561 is not a date (2561 BE is 2018 CE; expected YYYY-MM-DD, "),
        ("31/04/2017", "31/04/2017 is not a date (expected YYYY-MM-DD, DD/MM/YYYY or 22 ส.ค."),
        ("22/08-2560", "22/08-2560 is not a date (expected YYYY-MM-DD, DD/MM/YYYY or 22 ส.ค."),
        ("22/08/60", "22/08/60 is not a date (expected YYYY-MM-DD, DD/MM/YYYY or 22 ส.ค. 2560)"),
        ("2019-02-30", "2019-02-30 is not a date (expected YYYY-MM-DD)"),
        ("abc", "abc is not a date (expected YYYY-MM-DD, DD/MM/YYYY or 22 ส.ค. 2560)"),
    ],
)
def test_parse_date_day_first_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_date(text)
    assert message in str(excinfo.value)


# --- formatting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "th", "en"),
    [
        (date(2018, 3, 30), "30 มี.ค. 2561", "30 Mar 2018"),
        (date(2019, 12, 5), "5 ธ.ค. 2562", "5 Dec 2019"),
        (date(2018, 1, 1), "1 ม.ค. 2561", "1 Jan 2018"),
        (date(2018, 4, 13), "13 เม.ย. 2561", "13 Apr 2018"),
        (date(2020, 2, 29), "29 ก.พ. 2563", "29 Feb 2020"),
    ],
)
def test_format_date(d: date, th: str, en: str) -> None:
    assert format_date(d, "th") == th
    assert format_date(d, "en") == en


def test_format_month_year_and_datetime() -> None:
    assert format_month_year(date(2018, 3, 30), "th") == "มี.ค. 2561"
    assert format_month_year(date(2018, 3, 30), "en") == "Mar 2018"
    moment = datetime(2018, 3, 30, 9, 30)
    assert format_datetime(moment, "th") == "30 มี.ค. 2561 09:30"
    assert format_datetime(moment, "en") == "30 Mar 2018 09:30"
    assert format_datetime(datetime(2019, 12, 5, 17, 5), "en") == "5 Dec 2019 17:05"


@pytest.mark.parametrize("lang", ["fr", "TH", "en_US", ""])
def test_format_rejects_unknown_language(lang: str) -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        format_date(date(2018, 3, 30), lang)
    with pytest.raises(ValueError, match="unsupported language"):
        format_month_year(date(2018, 3, 30), lang)
    with pytest.raises(ValueError, match="unsupported language"):
        CALENDAR.holiday_name(date(2018, 4, 13), lang)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_format_date_th_parses_back(d: date) -> None:
    day, _month, year = format_date(d, "th").split(" ")
    assert (int(day), int(year)) == (d.day, d.year + BE_OFFSET)


# --- anniversaries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signed_on", "year", "expected"),
    [
        (date(2016, 2, 29), 2017, date(2017, 2, 28)),
        (date(2016, 2, 29), 2020, date(2020, 2, 29)),
        (date(2016, 2, 29), 2100, date(2100, 2, 28)),  # 2100 is not a leap year
        (date(2008, 11, 15), 2018, date(2018, 11, 15)),
    ],
)
def test_anniversary(signed_on: date, year: int, expected: date) -> None:
    assert anniversary(signed_on, year) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2008, 11, 15), date(2018, 11, 14), 9),
        (date(2008, 11, 15), date(2018, 11, 15), 10),
        (date(2016, 2, 29), date(2017, 2, 27), 0),
        (date(2016, 2, 29), date(2017, 2, 28), 1),
        (date(2016, 2, 29), date(2020, 2, 28), 3),
        (date(2016, 2, 29), date(2020, 2, 29), 4),
        (date(2018, 1, 1), date(2018, 1, 1), 0),
    ],
)
def test_years_between(start: date, end: date, expected: int) -> None:
    assert years_between(start, end) == expected


def test_years_between_rejects_reversed_range() -> None:
    with pytest.raises(ValueError, match="before start"):
        years_between(date(2018, 1, 2), date(2018, 1, 1))


@given(st.dates(), st.integers(min_value=1, max_value=9999))
def test_anniversary_property(d: date, year: int) -> None:
    result = anniversary(d, year)
    assert result.year == year
    assert (result.month, result.day) == (d.month, d.day) or (
        (d.month, d.day) == (2, 29) and (result.month, result.day) == (2, 28)
    )


@given(
    st.dates(max_value=date(9000, 1, 1)),
    st.integers(min_value=0, max_value=100_000),
    st.integers(min_value=0, max_value=100_000),
)
def test_years_between_is_monotone(start: date, gap_a: int, gap_b: int) -> None:
    earlier = start + timedelta(days=min(gap_a, gap_b))
    later = start + timedelta(days=max(gap_a, gap_b))
    assert 0 <= years_between(start, earlier) <= years_between(start, later)


@given(st.dates(max_value=date(9000, 1, 1)), st.integers(min_value=0, max_value=900))
def test_years_between_counts_anniversaries(start: date, n: int) -> None:
    on_anniversary = anniversary(start, start.year + n)
    assert years_between(start, on_anniversary) == n
    if on_anniversary > start:
        assert years_between(start, on_anniversary - timedelta(days=1)) == n - 1


# --- working days ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "working"),
    [
        (date(2018, 4, 7), False),  # Saturday
        (date(2018, 4, 8), False),  # Sunday
        (date(2018, 4, 13), False),  # Songkran (Friday)
        (date(2018, 4, 16), False),  # Songkran substitution day (Monday)
        (date(2018, 1, 1), False),  # New Year's Day
        (date(2018, 1, 2), False),  # substitute for New Year's Eve 2017 (a Sunday)
        (date(2018, 5, 14), False),  # Royal Ploughing Ceremony: government category only
        (date(2018, 4, 17), True),  # ordinary Tuesday
        (date(2018, 4, 12), True),  # Thursday before Songkran
    ],
)
def test_is_working_day(d: date, working: bool) -> None:
    assert CALENDAR.is_working_day(d) is working


@pytest.mark.parametrize(
    ("d", "th", "en"),
    [
        (date(2018, 4, 13), "วันสงกรานต์", "Songkran Festival"),
        (date(2018, 4, 16), "ชดเชยวันสงกรานต์", "Songkran Festival (in lieu)"),
        (date(2018, 1, 1), "วันขึ้นปีใหม่", "New Year's Day"),
        (date(2018, 5, 14), "วันพืชมงคล", "Royal Ploughing Ceremony"),
        (date(2018, 4, 14), None, None),  # Songkran, but a Saturday
        (date(2018, 4, 17), None, None),  # working day
    ],
)
def test_holiday_name(d: date, th: str | None, en: str | None) -> None:
    assert CALENDAR.holiday_name(d, "th") == th
    assert CALENDAR.holiday_name(d, "en") == en


def test_extra_holidays() -> None:
    calendar = WorkingCalendar(extra_holidays=[date(2018, 4, 12), date(2018, 4, 13)])
    assert not calendar.is_working_day(date(2018, 4, 12))
    assert calendar.holiday_name(date(2018, 4, 12), "th") == "วันหยุดพิเศษ"
    assert calendar.holiday_name(date(2018, 4, 12), "en") == "Special holiday"
    # An official holiday keeps its own name even when also listed as extra.
    assert calendar.holiday_name(date(2018, 4, 13), "en") == "Songkran Festival"
    # Other calendars are unaffected.
    assert CALENDAR.is_working_day(date(2018, 4, 12))


def test_extra_holidays_accept_a_generator() -> None:
    calendar = WorkingCalendar(date(2018, 4, d) for d in (10, 11))
    assert not calendar.is_working_day(date(2018, 4, 10))
    assert not calendar.is_working_day(date(2018, 4, 11))


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2018, 5, 14), date(2018, 5, 11)),  # Monday holiday -> previous Friday
        (date(2018, 4, 16), date(2018, 4, 12)),  # Songkran substitute Monday -> Thursday
        (date(2018, 4, 17), date(2018, 4, 12)),  # after the Songkran long weekend
        (date(2018, 4, 18), date(2018, 4, 17)),  # ordinary Wednesday -> Tuesday
        (date(2018, 4, 9), date(2018, 4, 5)),  # Monday after Chakri Day (Fri 6 Apr)
        (date(2018, 1, 3), date(2017, 12, 29)),  # across the year boundary
    ],
)
def test_last_working_day_before(d: date, expected: date) -> None:
    assert CALENDAR.last_working_day_before(d) == expected


def test_last_working_day_before_with_extra_holiday() -> None:
    calendar = WorkingCalendar(extra_holidays=[date(2018, 4, 12)])
    assert calendar.last_working_day_before(date(2018, 4, 17)) == date(2018, 4, 11)


def test_last_working_day_before_the_start_of_time() -> None:
    with pytest.raises(ValueError, match="no working day before"):
        CALENDAR.last_working_day_before(date(1, 1, 1))


@settings(max_examples=200)
@given(HOLIDAY_DATES)
def test_last_working_day_before_property(d: date) -> None:
    previous = CALENDAR.last_working_day_before(d)
    assert previous < d
    assert CALENDAR.is_working_day(previous)
    day = previous + timedelta(days=1)
    while day < d:
        assert not CALENDAR.is_working_day(day)
        day += timedelta(days=1)


@settings(max_examples=200)
@given(HOLIDAY_DATES, st.sets(st.integers(min_value=1, max_value=20), max_size=10))
def test_last_working_day_before_property_with_extras(d: date, offsets: set[int]) -> None:
    extras = [d - timedelta(days=n) for n in offsets]
    calendar = WorkingCalendar(extras)
    previous = calendar.last_working_day_before(d)
    assert previous < d
    assert previous not in extras
    assert calendar.is_working_day(previous)
    day = previous + timedelta(days=1)
    while day < d:
        assert not calendar.is_working_day(day)
        day += timedelta(days=1)


@settings(max_examples=200)
@given(HOLIDAY_DATES)
def test_holiday_name_agrees_with_is_working_day(d: date) -> None:
    name = CALENDAR.holiday_name(d, "en")
    if d.weekday() >= 5:
        assert name is None
        assert not CALENDAR.is_working_day(d)
    else:
        assert (name is None) == CALENDAR.is_working_day(d)
        assert (CALENDAR.holiday_name(d, "th") is None) == (name is None)


_TO_THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_parse_date_reads_back_every_date_as_printed_or_typed_in_thai(d: date) -> None:
    """What the emails print (both languages), and a clerk's day/month/BE year in Thai
    digits, parse back to the same date (SPEC "Commands": Thai forms are accepted)."""
    assert parse_date(format_date(d, "th")) == d
    assert parse_date(format_date(d, "en")) == d
    typed = f"{d.day}/{d.month}/{be_year(d.year)}".translate(_TO_THAI_DIGITS)
    assert parse_date(typed) == d
