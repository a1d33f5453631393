"""Thai calendar helpers: Buddhist Era years, the Thai fiscal year, date parsing and
formatting for Thai and English readers, and a working-day calendar.

Conventions used throughout:

* The Buddhist Era (BE) year is the Common Era (CE) year + 543.
* Thai fiscal year FY N (a BE year) runs from 1 October of CE year N - 544 to
  30 September of CE year N - 543, e.g. FY2561 = 2017-10-01 .. 2018-09-30.
* All ``date`` objects are proleptic Gregorian CE dates; BE only ever appears in text.

Sources (the Thai government calendar, as offices write it):

* Buddhist Era = CE + 543: the Thai solar calendar, whose year has begun on 1 January since
  BE 2484 (CE 1941). Before that the Thai year began on 1 April, so January-March dates before
  1941 were written one BE year lower; this module applies + 543 throughout (no agreement or
  deadline it handles is that old).
* The fiscal year: the Budget Procedures Act (พระราชบัญญัติวิธีการงบประมาณ), a fiscal year
  from 1 October to 30 September named by the BE year in which it ends.
* Holidays: the official public holidays and the government (civil service) holidays that the
  cabinet declares each year, as the ``holidays`` package records them for Thailand.
* Month names and abbreviations: CLDR (via babel), the standard Thai abbreviations (ม.ค.,
  ก.พ., …) and full names (มกราคม, …); parsing accepts these and the English ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import MAXYEAR, MINYEAR, date, datetime, timedelta
from functools import cache

import holidays
from babel.dates import get_month_names

__all__ = [
    "BE_OFFSET",
    "WorkingCalendar",
    "anniversary",
    "be_year",
    "be_year_mistake",
    "fiscal_year",
    "fiscal_year_bounds",
    "format_date",
    "format_datetime",
    "format_month_year",
    "parse_date",
    "years_between",
]

BE_OFFSET = 543

# Any 4-digit year from here on is taken to be Buddhist Era. CE 2400 is far beyond anything
# this application schedules, and BE 2400 is CE 1857, before any sister-city agreement, so
# the two readings never overlap in practice.
_BE_THRESHOLD = 2400

# The fiscal year starts in October: dates from this month on belong to the next FY.
_FY_FIRST_MONTH = 10

# Supported output languages and the babel locale / holidays language behind each.
_BABEL_LOCALES = {"th": "th", "en": "en"}
_HOLIDAY_LANGUAGES = {"th": "th", "en": "en_US"}
_SPECIAL_HOLIDAY_NAMES = {"th": "วันหยุดพิเศษ", "en": "Special holiday"}
# National Labour Day (1 May) is a private-sector and bank holiday, not a government one:
# offices are open (SPEC "Working days"), though the holidays package files it under PUBLIC.
# Its substitute days are named "National Labor Day (in lieu)"; the English name is matched
# because it is stable across package versions (the Thai one has varied in spacing).
_LABOUR_DAY_EN = "National Labor Day"
# How the holidays package joins several names that fall on one day.
_NAME_SEPARATOR = "; "


def _split_names(joined: str) -> list[str]:
    return joined.split(_NAME_SEPARATOR)

# ASCII digits only: Python's \d also matches other scripts' digits, and int() would happily
# convert them. Thai digits (๐-๙) are translated first, on purpose; no other script is read.
_ISO_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# Day/month/year as typed into spreadsheets; the backreference requires the same separator
# twice so that e.g. "22/08-2560" is rejected rather than guessed at.
_DMY_RE = re.compile(r"([0-9]{1,2})([/.\-])([0-9]{1,2})\2([0-9]{4})")
# Day, month name, year as Thai offices write it: "22 ส.ค. 2560", "22 สิงหาคม พ.ศ. 2560".
_NAMED_RE = re.compile(r"([0-9]{1,2})\s*([^0-9]+?)\s*([0-9]{4})")
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# What may stand before the day ("วันที่ 22 …") and the era words before the year, as
# `_month_key` folds them (dots and spaces removed).
_DAY_WORD = "วันที่"
_ERAS = {"พศ": "BE", "คศ": "CE"}

_ISO_HINT = "expected YYYY-MM-DD"
_ANY_HINT = "expected YYYY-MM-DD, DD/MM/YYYY or 22 ส.ค. 2560"


def be_year(ce_year: int) -> int:
    """Return the Buddhist Era year for a Common Era year (``be_year(2018) == 2561``).

    Source: the Thai solar calendar, BE = CE + 543 (see the module notes). Never raises.
    """
    return ce_year + BE_OFFSET


def fiscal_year(d: date) -> int:
    """Return the Thai fiscal year (as a BE year) that contains ``d``.

    ``fiscal_year(date(2017, 9, 30)) == 2560`` and ``fiscal_year(date(2017, 10, 1)) == 2561``.
    Source: the Budget Procedures Act (FY from 1 October, named by the BE year it ends in).
    """
    return be_year(d.year) + (1 if d.month >= _FY_FIRST_MONTH else 0)


def fiscal_year_bounds(fy_be: int) -> tuple[date, date]:
    """Return the first and last day (CE dates, both inclusive) of fiscal year ``fy_be`` (BE).

    ``fiscal_year_bounds(2561) == (date(2017, 10, 1), date(2018, 9, 30))``; source as for
    :func:`fiscal_year`. Raises ``ValueError`` when either bound would fall outside the range
    ``date`` supports.
    """
    start_year = fy_be - BE_OFFSET - 1
    end_year = fy_be - BE_OFFSET
    if start_year < MINYEAR or end_year > MAXYEAR:
        raise ValueError(f"fiscal year {fy_be} BE is outside the supported range")
    return date(start_year, _FY_FIRST_MONTH, 1), date(end_year, _FY_FIRST_MONTH - 1, 30)


def _build_date(text: str, year: int, month: int, day: int, hint: str) -> date:
    """Build a date from a possibly-BE ``year``; ``text`` and ``hint`` feed the error message.

    The year is converted before ``date`` is constructed because leap years are decided on the
    CE year: BE 2563 is CE 2020 (leap), so 2563-02-29 is valid even though 2563 is not a
    Gregorian leap year.
    """
    ce_year = year - BE_OFFSET if year >= _BE_THRESHOLD else year
    try:
        return date(ce_year, month, day)
    except ValueError:
        if ce_year != year:
            # Leap-day mistakes are easy to make in BE; say which CE year was checked.
            hint = f"{year} BE is {ce_year} CE; {hint}"
        raise ValueError(f"{text} is not a date ({hint})") from None


def _shown(text: str) -> str:
    # An empty cell would otherwise produce " is not a date", which reads like a glitch.
    return text if text else "an empty value"


def parse_date(text: str) -> date:
    """Parse a date as a user types it (command line, spreadsheet cell) into a CE ``date``.

    Accepted (SPEC "Commands" and "Spreadsheets of agreements"), surrounding whitespace
    ignored, Thai digits (๐-๙) as well as ASCII ones:

    * ``YYYY-MM-DD``: ``"2017-11-15"``;
    * day/month/year separated by ``/``, ``.`` or ``-`` (always day first, as written in
      Thailand): ``"15/11/2560"``, ``"15.11.2017"``;
    * day, month name, year: ``"15 พ.ย. 2560"``, ``"15 พฤศจิกายน พ.ศ. 2560"``,
      ``"วันที่ ๑๕ พ.ย. ๒๕๖๐"``, ``"15 Nov 2017"`` (CLDR's Thai and English month names and
      abbreviations, dots and spaces in an abbreviation optional).

    A 4-digit year >= 2400 is Buddhist Era (``"2560-11-15"`` is 2017-11-15); the leap day is
    checked on the CE year (``"29/02/2563"`` is 2020-02-29). Two-digit years are refused, not
    guessed. Raises ``ValueError`` naming the input and what was expected, e.g.
    ``"2019-02-30 is not a date (expected YYYY-MM-DD)"``.
    """
    shown = text.strip()
    stripped = shown.translate(_THAI_DIGITS)
    match = _ISO_RE.fullmatch(stripped)
    if match is not None:
        year, month, day = (int(g) for g in match.groups())
        return _build_date(shown, year, month, day, _ISO_HINT)
    match = _DMY_RE.fullmatch(stripped)
    if match is not None:
        day_s, _sep, month_s, year_s = match.groups()
        return _build_date(shown, int(year_s), int(month_s), int(day_s), _ANY_HINT)
    if stripped.startswith(_DAY_WORD):
        stripped = stripped[len(_DAY_WORD):].lstrip()
    match = _NAMED_RE.fullmatch(stripped)
    if match is not None:
        day_s, words, year_s = match.groups()
        named, era = _month_and_era(words)
        if named is not None and _era_agrees(era, int(year_s)):
            return _build_date(shown, int(year_s), named, int(day_s), _ANY_HINT)
    raise ValueError(f"{_shown(shown)} is not a date ({_ANY_HINT})")


def _month_key(words: str) -> str:
    # "พ.ย.", "พ. ย.", "พย" and "Nov." are the same month: compare without dots and spaces.
    return "".join(words.replace(".", " ").split()).casefold()


@cache
def _month_numbers() -> dict[str, int]:
    """Every month name and abbreviation CLDR gives in Thai and English, as `_month_key`
    folds it → the month number."""
    numbers: dict[str, int] = {}
    for locale in _BABEL_LOCALES.values():
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                names = get_month_names(width, context=context, locale=locale)
                numbers.update({_month_key(str(name)): int(m) for m, name in names.items()})
    return numbers


def _month_and_era(words: str) -> tuple[int | None, str | None]:
    """The month named by `words` (None when it names none) and the era written after it
    ("BE" for พ.ศ., "CE" for ค.ศ., None when none is)."""
    key = _month_key(words)
    era = None
    for word, name in _ERAS.items():
        if key.endswith(word) and len(key) > len(word):
            key, era = key[: -len(word)], name
    return _month_numbers().get(key), era


def _era_agrees(era: str | None, year: int) -> bool:
    # "พ.ศ. 2017" or "ค.ศ. 2560" contradict themselves: refuse rather than pick one.
    return era is None or (era == "BE") == (year >= _BE_THRESHOLD)


def be_year_mistake(value: date) -> str | None:
    """Why ``value``, read where dates are CE (a TOML dataset file), is probably a
    Buddhist-Era date; None when its year is below 2400.

    SPEC "Dataset file": ``"2560-08-22 looks like a Buddhist-Era date; write 2017-08-22"``.
    A ``datetime`` is named with its time (``write 2017-11-15T09:30:00``). The CE year of a
    BE leap day may have no 29 February; the message then says so. Never raises.
    """
    if value.year < _BE_THRESHOLD:
        return None
    ce_year = value.year - BE_OFFSET
    try:
        meant = value.replace(year=ce_year)
    except ValueError:
        return (f"{value.isoformat()} looks like a Buddhist-Era date, but {ce_year} CE has no "
                "29 February: write the CE date meant")
    return f"{value.isoformat()} looks like a Buddhist-Era date; write {meant.isoformat()}"


def _check_lang(lang: str) -> None:
    if lang not in _BABEL_LOCALES:
        raise ValueError(f"unsupported language {lang!r} (expected 'th' or 'en')")


@cache
def _month_abbreviations(lang: str) -> dict[int, str]:
    # CLDR lookups are comparatively slow and the data never changes within a process.
    names = get_month_names("abbreviated", context="format", locale=_BABEL_LOCALES[lang])
    return {int(month): str(name) for month, name in names.items()}


def _display_year(d: date, lang: str) -> int:
    # Thai readers expect Buddhist Era years; English readers get CE.
    return be_year(d.year) if lang == "th" else d.year


def format_date(d: date, lang: str) -> str:
    """Format ``d`` as day, abbreviated month and year, without leading zeros.

    ``"th"``: BE year and CLDR Thai abbreviation, e.g. ``"30 มี.ค. 2561"``.
    ``"en"``: CE year, e.g. ``"30 Mar 2018"``. Any other ``lang`` raises ``ValueError``.
    """
    _check_lang(lang)
    return f"{d.day} {_month_abbreviations(lang)[d.month]} {_display_year(d, lang)}"


def format_month_year(d: date, lang: str) -> str:
    """Format the month of ``d``: ``"มี.ค. 2561"`` (th, BE) or ``"Mar 2018"`` (en).

    Any other ``lang`` raises ``ValueError``.
    """
    _check_lang(lang)
    return f"{_month_abbreviations(lang)[d.month]} {_display_year(d, lang)}"


def format_datetime(d: datetime, lang: str) -> str:
    """Format as :func:`format_date` followed by the 24-hour time, e.g. ``"30 Mar 2018 09:30"``.

    The wall-clock time is shown as given; no time-zone conversion happens here.
    """
    return f"{format_date(d.date(), lang)} {d:%H:%M}"


def anniversary(signed_on: date, year: int) -> date:
    """Return the anniversary of ``signed_on`` in ``year``.

    A 29 February date has its anniversary on 28 February in common years (so that it stays in
    February and never comes after the real anniversary month). Raises ``ValueError`` if
    ``year`` is outside the range ``date`` supports.
    """
    try:
        return signed_on.replace(year=year)
    except ValueError:
        if (signed_on.month, signed_on.day) == (2, 29) and MINYEAR <= year <= MAXYEAR:
            return date(year, 2, 28)
        raise


def years_between(start: date, end: date) -> int:
    """Return the number of whole years completed from ``start`` to ``end`` (``end >= start``).

    A year is completed on the :func:`anniversary` date, so a 29 February start completes its
    first year on 28 February of the next (common) year. Raises ``ValueError`` if ``end`` is
    before ``start``.
    """
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    years = end.year - start.year
    if end < anniversary(start, end.year):
        years -= 1
    return years


class WorkingCalendar:
    """Thai public + government holidays (holidays.TH(categories=(PUBLIC, GOVERNMENT))) plus
    extra dates: the working days of a Thai government office.

    Source: the official holidays and the cabinet's yearly government-holiday resolutions as
    the ``holidays`` package records them; `extra_holidays` ([scheduler] extra_holidays in
    config.toml) covers days it does not know yet, such as a bridge holiday announced late.

    A working day (SPEC "Working days") is Monday to Friday and neither an official holiday
    (including substitution days such as "Songkran Festival (in lieu)" and cabinet-declared
    bridge holidays, as far as the ``holidays`` package knows them) nor one of
    ``extra_holidays``; National Labour Day and its substitutes are working days (government
    offices are open), and every day in ``extra_working_days`` ([scheduler] extra_working_days)
    is one, whatever else is said of it. The ``holidays`` data for Thailand starts in 1914;
    earlier years have weekends only.

    Holiday data is computed lazily one year at a time and cached; instances are meant to be
    long-lived. They are not safe for concurrent first use of a year from several threads.
    """

    def __init__(
        self, extra_holidays: Iterable[date] = (), extra_working_days: Iterable[date] = ()
    ) -> None:
        self._extra: frozenset[date] = frozenset(extra_holidays)
        self._open: frozenset[date] = frozenset(extra_working_days)
        # One holidays object per language; it expands to new years on demand.
        # country_holidays("TH") builds the same object as holidays.TH(...), but holidays.TH is
        # registered at runtime and its constructor is untyped, so mypy --strict rejects it.
        self._sources = {
            lang: holidays.country_holidays(
                "TH",
                categories=(holidays.PUBLIC, holidays.GOVERNMENT),
                language=hol_lang,
                years=(),
            )
            for lang, hol_lang in _HOLIDAY_LANGUAGES.items()
        }
        self._names: dict[tuple[str, int], dict[date, str]] = {}
        self._closed: dict[int, frozenset[date]] = {}

    def _year_names(self, lang: str, year: int) -> dict[date, str]:
        key = (lang, year)
        cached = self._names.get(key)
        if cached is None:
            source = self._sources[lang]
            # Looking up any date of the year makes the holidays object populate that year.
            source.get(date(year, 1, 1))
            english = self._sources["en"]
            english.get(date(year, 1, 1))
            cached = {}
            for day, name in source.items():
                if day.year != year:
                    continue
                # Drop Labour Day (and its "in lieu" days) name by name: a day that is also
                # another holiday stays closed under that holiday's name. The package lists a
                # day's names in the same order in every language (checked for 1914-2030); not
                # strict, so that a future mismatch keeps the day closed rather than failing.
                names = zip(_split_names(str(name)), _split_names(str(english[day])), strict=False)
                kept = [part for part, en in names if not en.startswith(_LABOUR_DAY_EN)]
                if kept:
                    cached[day] = _NAME_SEPARATOR.join(kept)
            self._names[key] = cached
        return cached

    def _closed_days(self, year: int) -> frozenset[date]:
        closed = self._closed.get(year)
        if closed is None:
            # Holiday dates do not depend on the language; Thai is the reference data.
            closed = (
                frozenset(self._year_names("th", year)) | {d for d in self._extra if d.year == year}
            ) - self._open
            self._closed[year] = closed
        return closed

    def is_working_day(self, d: date) -> bool:
        """Return True if ``d`` is in ``extra_working_days``, or is Monday-Friday and neither
        an official nor an extra holiday (SPEC "Working days")."""
        return d in self._open or (d.weekday() < 5 and d not in self._closed_days(d.year))

    def act_by(self, due: date) -> date:
        """Return the last working day on or before ``due`` (``due`` itself when it is one).

        SPEC "Stages": a deadline's act-by date. Raises ``ValueError`` when there is none.
        """
        return due if self.is_working_day(due) else self.last_working_day_before(due)

    def holiday_name(self, d: date, lang: str) -> str | None:
        """Return why a weekday is not a working day, in Thai (``"th"``) or English (``"en"``).

        Official holidays give their ``holidays`` package name (several names on one day are
        joined with ``"; "``); otherwise extra holidays give ``"วันหยุดพิเศษ"`` /
        ``"Special holiday"``. Weekends and working days give ``None``. Any other ``lang``
        raises ``ValueError``.
        """
        _check_lang(lang)
        if d.weekday() >= 5 or d in self._open:
            return None
        name = self._year_names(lang, d.year).get(d)
        if name is None and d in self._extra:
            name = _SPECIAL_HOLIDAY_NAMES[lang]
        return name

    def last_working_day_before(self, d: date) -> date:
        """Return the latest working day strictly before ``d``.

        Raises ``ValueError`` if there is none within the range ``date`` supports.
        """
        day = d
        while True:
            if day == date.min:
                raise ValueError(f"no working day before {d.isoformat()}")
            day -= timedelta(days=1)
            if self.is_working_day(day):
                return day
