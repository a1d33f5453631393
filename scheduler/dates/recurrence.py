"""The one reader of RFC 5545 recurrence rules (RRULE), for dataset files, spreadsheets and
the planners alike: a rule accepted at load is the rule the planners expand.

Budget deadlines and meetings happen at most once a day, so a rule is refused unless planning
it stays cheap whatever it says: a frequency of a day or longer, INTERVAL ≥ 1, one value at
most for BYHOUR, BYMINUTE and BYSECOND (so at most one occurrence a day, ≤ 366 a year), a
bounded COUNT, a start in a bounded range of years, and at least one occurrence. dateutil
expands a rule by stepping from its start one period (day, week, month, year) at a time until
a period yields an occurrence; these bounds keep that walk short (see `parse_rule`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr, weekday

#: The most occurrences a rule may ask for with COUNT (ten years of days, rounded up).
MAX_COUNT = 10_000
#: The longest INTERVAL: dateutil steps a day or week past the end of a month one month at a
#: time, so an INTERVAL of billions of days would take that many months' steps.
MAX_INTERVAL = 1000
#: The years a recurring item may start in: dateutil walks from the start to the planned
#: window, so an early start makes every plan slow.
FIRST_YEAR, LAST_YEAR = 1900, 2199
#: How far ahead a rule is searched for its first occurrence at load: the Gregorian calendar
#: repeats every 400 years, so a rule with none in 400 years has none at all.
_CYCLE_YEARS = 400
_SUB_DAILY = ("SECONDLY", "MINUTELY", "HOURLY")
_ONE_A_DAY = ("BYHOUR", "BYMINUTE", "BYSECOND")


class Rule:
    """An accepted rule, expanded from the period that holds the window asked for rather than
    from its dtstart (a daily rule from 1900 would otherwise be walked day by day up to the
    window at every plan). A rule with COUNT must count from dtstart, and COUNT is bounded.
    """

    def __init__(self, parsed: rrule) -> None:
        self.parsed = parsed

    def __iter__(self) -> Iterator[dt.datetime]:
        """Every occurrence, in order (at most COUNT, or up to UNTIL or the year 9999)."""
        return iter(self.parsed)

    def between(
        self, after: dt.datetime, before: dt.datetime, inc: bool = False
    ) -> list[dt.datetime]:
        """The occurrences between `after` and `before` (both included when `inc`)."""
        return self.restarted(after).between(after, before, inc=inc)

    def after(self, when: dt.datetime, inc: bool = False) -> dt.datetime | None:
        """The first occurrence after `when` (or at it when `inc`), or None."""
        found: dt.datetime | None = self.restarted(when).after(when, inc=inc)
        return found

    def restarted(self, when: dt.datetime) -> rrule:
        """The rule restarted at the start of its period that holds `when` (same occurrences
        from there on: the periods keep the INTERVAL's phase, and every BY part dateutil
        derives from dtstart is given explicitly)."""
        r: Any = self.parsed  # dateutil keeps the parts it derived in private attributes
        start: dt.datetime = r._dtstart
        if r._count is not None or when <= start:
            return self.parsed
        anchor = _period_start(r._freq, r._interval, r._wkst, start.date(), when.date())
        if anchor <= start.date():
            return self.parsed
        weekdays = [*(r._byweekday or ()), *(weekday(d, n) for d, n in r._bynweekday or ())]
        return rrule(
            r._freq, dtstart=dt.datetime.combine(anchor, dt.time()), interval=r._interval,
            wkst=r._wkst, until=r._until, bysetpos=r._bysetpos, bymonth=r._bymonth,
            bymonthday=(*r._bymonthday, *r._bynmonthday) or None, byyearday=r._byyearday,
            byweekno=r._byweekno, byweekday=weekdays or None, byhour=r._byhour,
            byminute=r._byminute, bysecond=r._bysecond, cache=False,
        )


def _period_start(freq: int, interval: int, wkst: int, first: dt.date, day: dt.date) -> dt.date:
    """The first day of the rule's period (every `interval` years, months, weeks or days
    counted from the one holding `first`) that holds `day` (day ≥ first)."""
    if freq == YEARLY:
        return dt.date(first.year + (day.year - first.year) // interval * interval, 1, 1)
    if freq == MONTHLY:
        months = (day.year - first.year) * 12 + day.month - first.month
        index = first.year * 12 + first.month - 1 + months // interval * interval
        return dt.date(index // 12, index % 12 + 1, 1)
    if freq == WEEKLY:
        week = first - dt.timedelta(days=(first.weekday() - wkst) % 7)
        return week + dt.timedelta(days=(day - week).days // (7 * interval) * 7 * interval)
    assert freq == DAILY  # parse_rule refuses the others
    return first + dt.timedelta(days=(day - first).days // interval * interval)


def parse_rule(rule: str, dtstart: dt.datetime) -> Rule:
    """The rule `rule` (e.g. "FREQ=YEARLY;BYMONTH=1", with or without a leading "RRULE:")
    anchored at `dtstart`, as a dateutil rule. Occurrences come out like `dtstart`: naive
    datetimes stay naive (local wall time in scheduler.timezone, as the registry stores them).

    A rule accepted here has at most one occurrence a day, and expanding it over any window
    steps through at most (window + a few centuries) of its periods, so planning a year with
    it takes milliseconds, never minutes.

    Raises:
        ValueError: `rule` is not an RRULE (`"<rule>" is not an RFC 5545 RRULE: <reason>`)
            or one refused for deadlines and meetings (`"<rule>" is refused: <reason>`).
    """
    text = rule.removeprefix("RRULE:")
    parts = dict(_parts(text))
    if "COUNT" in parts and "UNTIL" in parts:  # checked first: dateutil only warns
        raise ValueError(f'"{rule}" is refused: COUNT and UNTIL must not both be given (RFC 5545)')
    try:
        parsed = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f'"{rule}" is not an RFC 5545 RRULE: {exc}') from None
    if not isinstance(parsed, rrule):  # several lines (RDATE, EXRULE…) make a set
        raise ValueError(f'"{rule}" is not an RFC 5545 RRULE: give one RRULE line')
    reason = _refusal(parts, dtstart) or _occurrence_refusal(parsed, dtstart)
    if reason is not None:
        raise ValueError(f'"{rule}" is refused: {reason}')
    return Rule(parsed)


def _parts(text: str) -> list[tuple[str, str]]:
    """NAME=VALUE parts of one RRULE line, names upper-cased (dateutil has checked them)."""
    pairs = (part.partition("=") for part in text.strip().split(";") if part)
    return [(name.strip().upper(), value.strip()) for name, _, value in pairs]


def _refusal(parts: dict[str, str], dtstart: dt.datetime) -> str | None:
    """Why a syntactically valid rule is refused for deadlines and meetings, or None."""
    if parts.get("FREQ", "").upper() in _SUB_DAILY:
        return "a deadline or meeting recurs at most daily (FREQ=DAILY, WEEKLY, MONTHLY, YEARLY)"
    interval = parts.get("INTERVAL", "1")
    if not (interval.isdigit() and 1 <= int(interval) <= MAX_INTERVAL):
        return f"INTERVAL must be a whole number from 1 (RFC 5545) to {MAX_INTERVAL}"
    for name in _ONE_A_DAY:
        if "," in parts.get(name, ""):
            return f"{name} with several values makes several occurrences a day"
    ordinal = _ordinal_refusal(parts)
    if ordinal is not None:
        return ordinal
    if "BYEASTER" in parts:
        return "BYEASTER is not part of RFC 5545"
    count = parts.get("COUNT")
    if count is not None and not (count.isdigit() and 1 <= int(count) <= MAX_COUNT):
        return f"COUNT must be a whole number from 1 to {MAX_COUNT}"
    if not FIRST_YEAR <= dtstart.year <= LAST_YEAR:
        return f"dtstart must lie in the years {FIRST_YEAR}–{LAST_YEAR}"
    return None


def _ordinal_refusal(parts: dict[str, str]) -> str | None:
    """Why the numbers of BYDAY ("2MO", "-1FR") do not fit the frequency (RFC 5545 §3.3.10),
    or None: dateutil would fail on them in the middle of planning (53MO in a month)."""
    freq = parts.get("FREQ", "").upper()
    in_month = freq == "MONTHLY" or (freq == "YEARLY" and "BYMONTH" in parts)
    limit = 5 if in_month else 53
    for day in parts.get("BYDAY", "").split(","):
        number = day.strip()[:-2].lstrip("+")
        if not number:
            continue
        if freq not in ("MONTHLY", "YEARLY") or "BYWEEKNO" in parts:
            return "a numbered BYDAY (such as 2MO) needs FREQ=MONTHLY or YEARLY without BYWEEKNO"
        if not number.lstrip("-").isdigit() or not 1 <= abs(int(number)) <= limit:
            return f"a numbered BYDAY counts from 1 to {limit} (or -1 to -{limit}) here"
    return None


def _occurrence_refusal(parsed: rrule, dtstart: dt.datetime) -> str | None:
    """Why the rule, without its COUNT and UNTIL, cannot be planned: it has no occurrence in
    400 years, or dateutil fails to expand it; None when it occurs.

    Searched with the start moved by whole 400-year cycles to the last cycle before 9999 (the
    same calendar, weekdays and leap years), where dateutil's own stop at year 9999 ends the
    search: a rule that matches nothing would otherwise be walked day by day to 9999."""
    year = 10_000 - _CYCLE_YEARS + (dtstart.year - 10_000) % _CYCLE_YEARS
    probe = parsed.replace(dtstart=dtstart.replace(year=year), count=None, until=None)
    try:
        first = next(iter(probe), None)
    except (IndexError, ValueError, OverflowError) as exc:
        return f"its parts do not combine into dates ({type(exc).__name__}: {exc})"
    return f"it has no occurrence in {_CYCLE_YEARS} years from dtstart" if first is None else None
