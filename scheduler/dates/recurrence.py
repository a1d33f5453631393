"""The one reader of RFC 5545 recurrence rules (RRULE), for dataset files, spreadsheets and
the planners alike: a rule accepted at load is the rule the planners expand."""

from __future__ import annotations

import datetime as dt

from dateutil.rrule import rrule, rruleset, rrulestr


def parse_rule(rule: str, dtstart: dt.datetime) -> rrule | rruleset:
    """The rule `rule` (e.g. "FREQ=YEARLY;BYMONTH=1", with or without a leading "RRULE:")
    anchored at `dtstart`, as a dateutil rule. Occurrences come out like `dtstart`: naive
    datetimes stay naive (local wall time in scheduler.timezone, as the registry stores them).

    Raises:
        ValueError: `rule` is not an RRULE; the message is
            `"<rule>" is not an RFC 5545 RRULE: <dateutil's reason>`.
    """
    try:
        return rrulestr(rule.removeprefix("RRULE:"), dtstart=dtstart)
    except (ValueError, TypeError) as exc:
        raise ValueError(f'"{rule}" is not an RFC 5545 RRULE: {exc}') from None
