"""What a registry value may be: safe text, slugs, email addresses, country codes, dates.

Shared by the dataset files, the spreadsheets and the CLI (and the coming web forms), so that
a value refused in one place is refused in all. `Record` reads one dataset table with these
checks on top of the shared problem-collecting reader (`scheduler.problems.Fields`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import cache
from typing import Any, TypeVar

from scheduler.dates.thaidate import anniversary, be_year_mistake
from scheduler.problems import MISSING, Fields, is_int, show

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# A dot-atom local part (no leading, trailing or double dots) and a hostname with a dot.
EMAIL = re.compile(
    rf"^{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
#: The longest text value stored, in characters.
MAX_TEXT = 2000
T = TypeVar("T")
# Control characters break mail headers and files; bidi overrides make names lie on screen.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def unsafe_text(value: str) -> str | None:
    """Why `value` may not be stored as registry text (a control or bidi-override character,
    or more than MAX_TEXT characters), as a message fragment; None when it may."""
    match = _FORBIDDEN.search(value)
    if match:
        return f"contains a control character (U+{ord(match.group()):04X})"
    if len(value) > MAX_TEXT:
        return f"is longer than {MAX_TEXT} characters"
    return None


@cache
def country_codes() -> frozenset[str]:
    """The ISO 3166-1 alpha-2 codes of real countries and territories ("CN", "JP", …), from
    the CLDR data shipped with babel (regions such as "EU" and "ZZ" left out)."""
    from babel import Locale  # babel's locale data is slow to load: only when a code is checked

    codes = {str(c) for c in Locale("en").territories if len(str(c)) == 2 and str(c).isalpha()}
    return frozenset(codes - {"ZZ", "EU", "EZ", "UN", "QO"})


def valid_email(value: str) -> bool:
    """Whether `value` is a plain address `local@host.domain` (no display name), ≤ 254 chars."""
    return len(value) <= 254 and EMAIL.match(value) is not None


#: A record's date before this year is a typo (no sister-city agreement is older).
EARLIEST_YEAR = 1900


def implausible_record_date(day: dt.date, today: dt.date | None) -> str | None:
    """Why `day`, the date of something that happened (a signing, an activity), is probably a
    typo: before 1900, or more than a year after `today` (not checked when None); None when
    it is plausible.

    Source: SPEC "Dataset file" (a signing or activity date more than a year after today) and
    "Spreadsheets of agreements" (a signing date before 1900 or more than a year after today:
    `22/08/2056`). A year's margin lets a signing planned for next month be entered now.
    """
    if day.year < EARLIEST_YEAR:
        return f"{day.isoformat()} is before {EARLIEST_YEAR}: a typo?"
    if today is not None and day > anniversary(today, today.year + 1):
        return f"{day.isoformat()} is more than a year after today ({today.isoformat()}): a typo?"
    return None


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


class Record(Fields):
    """One table of a dataset file: the shared getters, with registry text rules on top.

    Every text getter refuses unsafe text (see `unsafe_text`); problems are recorded as
    `file: partner[2].agreement[0].signed_on: …` and the getter returns its default.
    """

    def present(self) -> frozenset[str]:
        """The keys the table gives (an upsert writes only these)."""
        return frozenset(self.table)

    def text(self, key: str, default: str = "", *, required: bool = False) -> str:
        """A safe string; when `required`, also present and not blank."""
        value = super().text(key, MISSING, required=required)
        if value is MISSING:
            return default
        reason = unsafe_text(value)
        if reason:
            self.problem(key, reason)
            return default
        if required and not value.strip():
            self.problem(key, "must not be empty")
        return value

    def slug(self, key: str, *, required: bool = True) -> str:
        """An id: lowercase letters, digits and single hyphens ("" when missing)."""
        value = self.text(key, required=required)
        if value and not SLUG.match(value):
            self.problem(key, f'"{value}" is not a lowercase slug (a-z, 0-9 and single hyphens)')
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of safe strings (() when missing or refused)."""

        def check(v: Any) -> tuple[str, ...] | None:
            ok = isinstance(v, list) and all(isinstance(item, str) for item in v)
            return tuple(v) if ok else None

        no_texts: tuple[str, ...] = ()
        values = self.value(key, no_texts, check, "a list of strings")
        for item in values:
            reason = unsafe_text(item)
            if reason:
                self.problem(key, reason)
                return ()
        return values

    def date(self, key: str, *, required: bool = False) -> dt.date | None:
        """A TOML date (not a date-time), or None. A year >= 2400 is refused as a probable
        Buddhist-Era date, naming the CE date meant (SPEC "Dataset file": TOML dates are CE)."""
        no_date: dt.date | None = None
        value = self.value(
            key, no_date, lambda v: v if _is_date(v) else None,
            "a TOML date such as 2018-01-15 (unquoted)", required=required,
        )
        return self._ce(key, value)

    def _ce(self, key: str, value: T | None) -> T | None:
        """`value` (a date or date-time) unless its year looks Buddhist Era (a problem)."""
        mistake = be_year_mistake(value) if isinstance(value, dt.date) else None
        if mistake:
            self.problem(key, mistake)
            return None
        return value

    def local_datetime(self, key: str, *, required: bool = False) -> dt.datetime | None:
        """A TOML local date-time, or a date (midnight); offsets are refused (times are in
        scheduler.timezone), and so is a Buddhist-Era year (as `date`)."""
        value = self.raw(key)
        if value is MISSING:
            if required:
                self.problem(key, "missing")
            return None
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                return self._ce(key, value)
            self.problem(
                key,
                "expected a local date-time without an offset (times are in scheduler.timezone)",
            )
        elif isinstance(value, dt.date):
            return self._ce(key, dt.datetime.combine(value, dt.time()))
        elif isinstance(value, dt.time):
            self.problem(key, f"expected a date or date-time, got a time {value}")
        else:
            self.problem(
                key, f"expected a TOML date-time such as 2017-11-15T09:30:00, got {show(value)}"
            )
        return None

    def whole_number(self, key: str, default: int, minimum: int, maximum: int) -> int:
        """An integer in [minimum, maximum] (not a bool)."""
        return self.value(
            key, default, lambda v: int(v) if is_int(v) and minimum <= v <= maximum else None,
            f"a whole number {minimum}–{maximum}",
        )

    def one_of(self, key: str, choices: Iterable[str], *, default: str | None = None) -> str:
        """One of `choices`; missing is a problem when there is no `default` (the first
        choice is returned after a problem, so reading goes on)."""
        options = tuple(choices)
        value = self.raw(key)
        if value is MISSING:
            if default is None:
                self.problem(key, "missing")
                return options[0]
            return default
        if value not in options:
            self.problem(key, f"expected one of {', '.join(options)}, got {show(value)}")
            return default or options[0]
        return str(value)

    def country(self, key: str) -> str:
        """A required ISO 3166-1 alpha-2 code such as "CN"."""
        value = self.text(key, required=True)
        if value and value not in country_codes():
            self.problem(key, f'"{value}" is not an ISO 3166-1 alpha-2 country code (e.g. "CN")')
        return value

    def countries(self, key: str) -> tuple[str, ...]:
        """A list of ISO 3166-1 alpha-2 codes."""
        values = self.texts(key)
        for value in values:
            if value not in country_codes():
                self.problem(key, f'"{value}" is not an ISO 3166-1 alpha-2 country code')
        return values
