"""Crontab expressions with crontab's meaning, on APScheduler 3 triggers.

APScheduler 3's `CronTrigger.from_crontab` counts day-of-week 0 as Monday, so `1-5` would fire
Tuesday to Saturday. We expand the day-of-week field ourselves (0 and 7 = Sunday) and hand
APScheduler day names. Crontab also fires when *either* day-of-month or day-of-week matches when
both are restricted; APScheduler requires both, so that case becomes an OrTrigger of two.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

FIELDS = (  # name, low, high
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("day_of_week", 0, 7),
)

_ITEM = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/([0-9]+))?$")


class CronError(ValueError):
    """A crontab expression that cannot be read; the message names the field and why."""


@dataclass(frozen=True)
class Crontab:
    """Five checked crontab fields, in APScheduler's spelling (day of week by name)."""

    minute: str
    hour: str
    day: str
    month: str
    day_of_week: str  # APScheduler day names, comma-separated, or "*"

    @property
    def both_days_restricted(self) -> bool:
        """Day of month and day of week both given: crontab fires when EITHER matches."""
        return self.day != "*" and self.day_of_week != "*"


def _number(token: str, name: str, low: int, high: int) -> int:
    names = DAY_NAMES if name == "day_of_week" else MONTH_NAMES if name == "month" else ()
    if token in names:
        return names.index(token) + (1 if name == "month" else 0)
    if not token.isdigit():
        raise CronError(f"{name}: {token!r} is not a number")
    value = int(token)
    if not low <= value <= high:
        raise CronError(f"{name}: {value} is outside {low}–{high}")
    return value


def _expand(field: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for item in field.split(","):
        match = _ITEM.match(item)
        if not match:
            raise CronError(f"{name}: cannot read {item!r}")
        span, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise CronError(f"{name}: step must be at least 1")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-")
            first, last = _number(a, name, low, high), _number(b, name, low, high)
            if first > last:
                raise CronError(f"{name}: range {span} runs backwards")
        else:
            first = _number(span, name, low, high)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return values


def parse_crontab(expr: str) -> Crontab:
    """Read five crontab fields ("m h dom mon dow", crontab's meaning: 0 and 7 are Sunday).

    Raises:
        CronError: not five fields, or a field out of range or unreadable (the message names
            the field, e.g. "hour: 25 is outside 0–23").
    """
    parts = expr.lower().split()
    if len(parts) != 5:
        raise CronError(f'"{expr}" is not a crontab expression (five fields: m h dom mon dow)')
    for part, (name, low, high) in zip(parts, FIELDS, strict=True):
        _expand(part, name, low, high)  # validates
    dow = parts[4]
    if dow != "*":
        days = {d % 7 for d in _expand(dow, "day_of_week", 0, 7)}
        dow = "*" if len(days) == 7 else ",".join(DAY_NAMES[d] for d in sorted(days))
    return Crontab(parts[0], parts[1], parts[2], parts[3], dow)


def build_trigger(expr: str, timezone: dt.tzinfo) -> BaseTrigger:
    """An APScheduler trigger firing as crontab would for `expr`, in wall time of `timezone`.

    Raises:
        CronError: as parse_crontab.
    """
    # APScheduler is imported only when a trigger is built: `sistercity --help` and config
    # checking do not pay for it.
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    tab = parse_crontab(expr)

    def cron(day: str, day_of_week: str) -> CronTrigger:
        return CronTrigger(
            minute=tab.minute,
            hour=tab.hour,
            day=day,
            month=tab.month,
            day_of_week=day_of_week,
            timezone=timezone,
        )

    if tab.both_days_restricted:
        return OrTrigger([cron(tab.day, "*"), cron("*", tab.day_of_week)])
    return cron(tab.day, tab.day_of_week)


def next_fire_times(
    expr: str, timezone: dt.tzinfo, after: dt.datetime, count: int
) -> list[dt.datetime]:
    """The next `count` fire times (aware, in `timezone`) strictly after `after` (an aware
    datetime), fewer if the expression stops firing; for tests and `status`.

    Raises:
        CronError: as parse_crontab.
    """
    trigger = build_trigger(expr, timezone)
    times: list[dt.datetime] = []
    previous: dt.datetime | None = None
    now = after + dt.timedelta(microseconds=1)
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        times.append(fire)
        previous, now = fire, fire + dt.timedelta(microseconds=1)
    return times
