"""How the emails' words are laid out: spans in years and months, dates and quantities that
never break, a space between Thai and Latin script, and the text part wrapped to 78 columns.

SPEC "Emails" → "Text": spells and ages of more than 60 days read in years and months; a date,
or a number and its unit, never breaks across lines (text and HTML); Thai text and a
Latin-script name are separated by a space; text lines are at most 78 columns except an
unbreakable run, and Thai runs break only between words.

Unbreakable spaces are NO-BREAK SPACE (U+00A0): browsers and mail clients do not break there,
and `wrap` never does either. Header values lose them (`render.header_text` splits on any
whitespace), so a date in a subject reads with plain spaces.

Thai has no spaces between words; where a Thai run must be broken, PyThaiNLP's dictionary
segmenter (``newmm``, its bundled word list, no network) finds the word boundaries.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from functools import lru_cache

from dateutil.relativedelta import relativedelta
from markupsafe import Markup
from wcwidth import wcswidth, wcwidth

from scheduler.dates.thaidate import format_date, format_datetime, format_month_year

NBSP = "\u00a0"

# SPEC "Text": more than this many days read in years and months.
SPAN_DAYS_LIMIT = 60

# Width of a text email's lines, in columns (SPEC "Text"; RFC 5322 §2.1.1 recommends 78).
TEXT_WIDTH = 78

_UNITS = {
    "en": {"year": ("year", "years"), "month": ("month", "months"), "day": ("day", "days")},
    "th": {"year": ("ปี", "ปี"), "month": ("เดือน", "เดือน"), "day": ("วัน", "วัน")},
}


def _check_lang(lang: str) -> dict[str, tuple[str, str]]:
    try:
        return _UNITS[lang]
    except KeyError:
        raise ValueError(f"unsupported language {lang!r} (expected 'th' or 'en')") from None


def quantity(number: int, unit: str, lang: str) -> str:
    """``number`` and its unit ("year", "month" or "day") in `lang`, joined by a no-break
    space: ``"3\\u00a0years"``, ``"1\\u00a0year"``, ``"2\\u00a0เดือน"``.

    Raises ValueError for another language or unit."""
    units = _check_lang(lang)
    if unit not in units:
        raise ValueError(f"unknown unit {unit!r} (expected year, month or day)")
    one, many = units[unit]
    return f"{number}{NBSP}{one if abs(number) == 1 else many}"


def _years_months(years: int, months: int, lang: str) -> str:
    parts = []
    if years:
        parts.append(quantity(years, "year", lang))
    if months or not years:
        parts.append(quantity(months, "month", lang))
    return " ".join(parts)


def span_between(start: dt.date, end: dt.date, lang: str) -> str:
    """How long from `start` to `end` (either order), as a reader wants it (SPEC "Text"):
    60 days or fewer in days (``"45\\u00a0days"``), more in calendar years and months,
    remaining days dropped (``"26\\u00a0ปี 8\\u00a0เดือน"``, ``"1\\u00a0year"``,
    ``"3\\u00a0years 2\\u00a0months"``). Each number is tied to its unit by U+00A0.

    Raises ValueError for a language other than "th" or "en"."""
    _check_lang(lang)
    if isinstance(start, dt.datetime):
        start = start.date()
    if isinstance(end, dt.datetime):
        end = end.date()
    start, end = min(start, end), max(start, end)
    days = (end - start).days
    if days <= SPAN_DAYS_LIMIT:
        return quantity(days, "day", lang)
    delta = relativedelta(end, start)
    return _years_months(delta.years, delta.months, lang)


# The mean Gregorian month (146,097 days in 4,800 months).
_MEAN_MONTH_DAYS = 146097 / 4800


def span(days: int, lang: str) -> str:
    """`days` (sign ignored) read as :func:`span_between` reads a span when only its length
    is known: 60 days or fewer in days, more in years and whole mean Gregorian months
    (30.44 days; a day's slack so that 365 days read "1 year"), which can differ by a month
    from the calendar count of :func:`span_between`: prefer that one when the dates are at
    hand.

    Raises ValueError for a language other than "th" or "en"."""
    _check_lang(lang)
    days = abs(int(days))
    if days <= SPAN_DAYS_LIMIT:
        return quantity(days, "day", lang)
    years, months = divmod(int((days + 1) / _MEAN_MONTH_DAYS), 12)
    return _years_months(years, months, lang)


def date_nb(value: dt.date | None, lang: str) -> str:
    """`thaidate.format_date` with no-break spaces (``"30\\u00a0มี.ค.\\u00a02561"``);
    "" for None."""
    return "" if value is None else format_date(value, lang).replace(" ", NBSP)


def month_year_nb(value: dt.date, lang: str) -> str:
    """`thaidate.format_month_year` with a no-break space (``"Mar\\u00a02018"``)."""
    return format_month_year(value, lang).replace(" ", NBSP)


def datetime_nb(value: dt.datetime, lang: str) -> str:
    """`thaidate.format_datetime` with no-break spaces
    (``"30\\u00a0Mar\\u00a02018\\u00a009:30"``)."""
    return format_datetime(value, lang).replace(" ", NBSP)


def nobreak(value: str) -> str:
    """`value` with its spaces made no-break spaces: for a number and its unit written in a
    template (``("อีก " ~ n ~ " วัน")|nobreak``). Escaped text (a macro's output in HTML) stays
    escaped; do not pass markup that has tags, whose attributes need their spaces."""
    replaced = str(value).replace(" ", NBSP)
    return Markup(replaced) if isinstance(value, Markup) else replaced


# ---- Thai and Latin script -----------------------------------------------------------------

# Thai letters, vowels and marks (a Thai run may end in a tone mark: "ที่").
_THAI_ANY = "\u0e01-\u0e4e"
# What can begin a Thai word: consonants, the vowels written on the line, leading vowels,
# and ๆ; never a combining mark, which must stay on its base.
_THAI_START = "\u0e01-\u0e30\u0e32\u0e33\u0e40-\u0e46"
# Latin letters, with the accented ones of French, Vietnamese, German, Turkish (Latin-1
# Supplement and Extended-A/B without × and ÷, and Latin Extended Additional).
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_SCRIPT_MEET = re.compile(
    f"(?<=[{_THAI_ANY}])(?=[{_LATIN}])|(?<=[{_LATIN}])(?=[{_THAI_START}])"
)
# An HTML tag or an address in angle brackets: left as it is.
_TAG = re.compile(r"<[^<>]*>")


def space_scripts(text: str) -> str:
    """`text` with a space where a Thai letter and a Latin letter meet with nothing between
    ("โดยChiang Mai University" → "โดย Chiang Mai University", "กับEdgecity" → "กับ Edgecity",
    "Edgecityและ" → "Edgecity และ"); SPEC "Text". Digits, punctuation and everything inside
    ``<…>`` (HTML tags, ``<address>``) are left alone, so it is safe on a whole HTML body; a
    Markup value stays Markup."""
    if not _SCRIPT_MEET.search(text):
        return text
    pieces = []
    end = 0
    for tag in _TAG.finditer(text):
        pieces.append(_SCRIPT_MEET.sub(" ", text[end:tag.start()]))
        pieces.append(tag.group())
        end = tag.end()
    pieces.append(_SCRIPT_MEET.sub(" ", text[end:]))
    spaced = "".join(pieces)
    return Markup(spaced) if isinstance(text, Markup) else spaced


# ---- the text part's lines -----------------------------------------------------------------


# Characters that take no column in any text this product writes: combining diacritics,
# Thai vowels above and below and tone marks, zero-width spaces and joiners, variation
# selectors. Anything at or above U+1100 may be wide: wcwidth decides for those.
_ZERO_WIDTH = re.compile(
    "[\u0300-\u036f\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u200b-\u200f\ufe00-\ufe0f]"
)
_MAYBE_WIDE = re.compile("[\u1100-\U0010ffff]")


def columns(text: str) -> int:
    """How many terminal columns `text` takes: combining marks (Thai vowels above and below,
    tone marks) take none, East Asian wide characters two, control characters none."""
    if text.isascii() and text.isprintable():
        return len(text)
    if text.isprintable() and not _MAYBE_WIDE.search(text):
        return len(text) - len(_ZERO_WIDTH.findall(text))
    width = wcswidth(text)
    if width >= 0:
        return int(width)
    return sum(max(wcwidth(char), 0) for char in text)


_THAI_RUN = re.compile(f"[{_THAI_ANY}]+")
# Never break before these: a combining mark, ๆ (repeat) or ฯ (abbreviation).
_NO_BREAK_BEFORE = re.compile("[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0e46\u0e2f]")


@lru_cache(maxsize=1)
def _segmenter() -> Callable[..., list[str]]:
    # The bundled word list is all newmm needs: no data folder in the user's home (PyThaiNLP
    # makes ~/pythainlp-data otherwise) and no download. Imported on first use: loading the
    # dictionary takes most of a second, which a run that breaks no Thai line never pays.
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
    os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
    from pythainlp.tokenize import word_tokenize

    return word_tokenize


@lru_cache(maxsize=8192)
def _thai_breaks(run: str) -> tuple[int, ...]:
    word_tokenize = _segmenter()

    offsets = []
    at = 0
    for word in word_tokenize(run, engine="newmm", keep_whitespace=True):
        at += len(word)
        if at < len(run) and not _NO_BREAK_BEFORE.match(run, at):
            offsets.append(at)
    return tuple(offsets)


def breaks(word: str) -> tuple[int, ...]:
    """Where `word` (a run with no ordinary space) may be broken: between two Thai words, as
    PyThaiNLP's segmenter finds them, and nowhere else (never at or next to U+00A0, never
    between Thai and another script, never before a combining mark, ๆ or ฯ). Offsets into
    `word`, ascending."""
    found: list[int] = []
    for run in _THAI_RUN.finditer(word):
        found.extend(run.start() + offset for offset in _thai_breaks(run.group()))
    return tuple(found)


class _Lines:
    """Greedy filling of lines at most `width` columns; lines after the first start with
    `indent`. Each word comes with the spaces before it, kept inside a line (a label's
    padding) and dropped where the line breaks."""

    def __init__(self, width: int, indent: str, first_prefix: str) -> None:
        self.width = width
        self.indent = indent
        self.done: list[str] = []
        self.line = first_prefix
        self.used = columns(first_prefix)
        self.empty = True

    def room(self, gap: str) -> int:
        return self.width - self.used - (0 if self.empty else len(gap))

    def put(self, gap: str, piece: str, width: int) -> None:
        if not self.empty:
            self.line += gap
            self.used += len(gap)
        self.line += piece
        self.used += width
        self.empty = False

    def newline(self) -> None:
        self.done.append(self.line.rstrip())
        self.line = self.indent
        self.used = len(self.indent)
        self.empty = True

    def add(self, gap: str, word: str) -> None:
        width = columns(word)
        if width <= self.room(gap):
            self.put(gap, word, width)
            return
        offsets = breaks(word)
        while offsets:
            # The longest head that fits here; else the next line; else the shortest head.
            fitting = [at for at in offsets if columns(word[:at]) <= self.room(gap)]
            if not fitting and not self.empty:
                self.newline()
                if width <= self.room(gap):  # greedy: the whole rest on the new line
                    break
                continue
            at = fitting[-1] if fitting else offsets[0]
            self.put(gap, word[:at], columns(word[:at]))
            self.newline()
            word = word[at:]
            offsets = tuple(o - at for o in offsets if o > at)
            width = columns(word)
            if width <= self.room(gap):
                break
        if not self.empty and width > self.room(gap):
            self.newline()
        self.put(gap, word, width)  # an unbreakable run may be longer than the line


_SPACES = re.compile(r"([ \t]+)")


def wrap(text: str, width: int = TEXT_WIDTH, indent: int = 0) -> str:
    """`text` in lines of at most `width` columns (see :func:`columns`), lines after the
    first indented by `indent` spaces (counted in the width); a line may be longer only for
    a run that cannot be broken (SPEC "Text").

    Lines break at ordinary spaces (which are dropped there) and between Thai words
    (:func:`breaks`); never at a no-break space, so dates and quantities stay whole. Newlines
    in `text` are kept (a final one is dropped, as ``str.splitlines`` does); a paragraph's
    leading spaces are kept; trailing spaces are dropped.
    """
    if "\n" not in text and text == text.rstrip(" \t") and columns(text) <= width:
        return text  # most calls: a line that fits as it is
    prefix = " " * indent
    out: list[str] = []
    paragraphs = text.split("\n")
    if len(paragraphs) > 1 and not paragraphs[-1]:
        paragraphs.pop()
    for number, paragraph in enumerate(paragraphs):
        stripped = paragraph.lstrip(" \t")
        lead = paragraph[: len(paragraph) - len(stripped)]
        lines = _Lines(width, prefix, (prefix if number else "") + lead)
        pieces = _SPACES.split(stripped.rstrip(" \t"))
        lines.add("", pieces[0])
        for at in range(1, len(pieces), 2):
            lines.add(pieces[at], pieces[at + 1])
        lines.newline()
        out.extend(lines.done)
    return "\n".join(out)
