"""What a spreadsheet cell says, as the values of an agreement: text, dates, kinds, levels.

Every parser takes what a cell holds (str from CSV; str, number or date from .xlsx) and returns
the typed value, or raises ValueError whose message is the problem shown to the user.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from scheduler.dates.thaidate import BE_OFFSET, parse_date
from scheduler.registry.domain import AgreementKind, Level
from scheduler.registry.validate import unsafe_text, valid_email

#: A text starting with one of these runs as a formula in Excel.
FORMULA_START = ("=", "+", "-", "@")
#: Zero-width characters that people paste in and nobody sees.
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))

_LINE_BREAKS = re.compile("[\r\n\t\v\f\x85\u2028\u2029]+")
_ISO_DATETIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?")
_DASHES = re.compile(r"[\s_–—-]+")

# Words accepted for a kind besides its value and its label (compared folded by parse_kind).
_KIND_ALIASES = {
    "sistercity": AgreementKind.SISTER_CITY, "sister-cities": AgreementKind.SISTER_CITY,
    "เมืองพี่เมืองน้อง": AgreementKind.SISTER_CITY,
    "memorandum-of-understanding": AgreementKind.MOU, "บันทึกความเข้าใจ": AgreementKind.MOU,
    "letter-of-intent": AgreementKind.LOI, "หนังสือแสดงเจตจำนง": AgreementKind.LOI,
    "friendship-city": AgreementKind.FRIENDSHIP, "มิตรภาพ": AgreementKind.FRIENDSHIP,
    "ความสัมพันธ์ฉันมิตร": AgreementKind.FRIENDSHIP,
}
_KIND_WORDS = {**{k.label.casefold(): k for k in AgreementKind}, **_KIND_ALIASES}


def guard_csv_text(text: str) -> str:
    """`text` as export writes it into a CSV field: an apostrophe before a leading =, +, - or
    @ (so Excel shows text, not a formula, OWASP "CSV injection"), and before a text that
    `unguard_csv_text` would otherwise change (one starting with an apostrophe followed by one
    of those or by another apostrophe), so that every text survives export → import exactly."""
    if text.startswith(FORMULA_START) or unguard_csv_text(text) != text:
        return "'" + text
    return text


def unguard_csv_text(text: str) -> str:
    """The text a CSV field holds after `guard_csv_text`: one leading apostrophe taken off
    when a formula start or another apostrophe follows it; any other text as it is (so an
    apostrophe typed by hand before a letter stays)."""
    if len(text) > 1 and text[0] == "'" and text[1] in (*FORMULA_START, "'"):
        return text[1:]
    return text


def cell_text(value: Any) -> str:
    """What a cell says, as text ("" for an empty cell): line breaks become spaces, whole
    floats lose their ".0", dates read as YYYY-MM-DD. (A workbook's text cells are taken as
    they are; the CSV reader undoes export's formula guard, see `unguard_csv_text`.)"""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, dt.datetime) and value.time() == dt.time():
        text = value.date().isoformat()
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    return _LINE_BREAKS.sub(" ", text).strip()


def safe_text(value: Any, limit: int | None = None) -> str:
    """`cell_text(value)`, refused (ValueError) when it holds a control or bidi-override
    character, or is longer than `limit` characters."""
    text = cell_text(value)
    reason = unsafe_text(text)
    if reason is None and limit is not None and len(text) > limit:
        reason = f"is longer than {limit} characters"
    if reason:
        raise ValueError(reason)
    return text


def name_key(text: str) -> str:
    """A partner's name as matched: case and spacing ignored (also zero-width spaces)."""
    text = unicodedata.normalize("NFC", text).translate(INVISIBLE).casefold()
    return "".join(text.split())


def parse_kind(value: Any) -> AgreementKind:
    """A kind from its label or a common name, case, spacing and dashes ignored: "MOU",
    "Sister City", "letter of intent", "บันทึกความเข้าใจ". ValueError otherwise."""
    text = safe_text(value)
    kind = _KIND_WORDS.get(_DASHES.sub("-", text.casefold()).replace(".", ""))
    if kind is None:
        raise ValueError(f'"{text}" is not a kind of agreement (expected sister-city, '
                         "MOU, LOI or friendship)")
    return kind


def parse_level(value: Any) -> str:
    """A Level value: "university-university", also "University to University" or
    "organization-organization". ValueError otherwise."""
    text = safe_text(value)
    key = _DASHES.sub("-", text.casefold()).replace("-to-", "-")
    key = key.replace("organization", "organisation")
    if key not in {lv.value for lv in Level}:
        raise ValueError(f'"{text}" is not a level (expected '
                         f"{', '.join(lv.value for lv in Level)})")
    return key


def calendar_date(value: dt.date) -> dt.date:
    """A spreadsheet date cell as a CE date. A cell typed with a Buddhist-Era year (2560) holds
    the year 2560: take 543 off, minding 29 February (BE 2560 is a leap year, CE 2017 is not).

    Raises:
        ValueError: 29 February of a BE year whose CE year has none.
    """
    if isinstance(value, dt.datetime):
        value = value.date()
    if value.year < 2400:
        return value
    try:
        return value.replace(year=value.year - BE_OFFSET)
    except ValueError:
        raise ValueError(f"{value.isoformat()} is not a date ({value.year} BE is "
                         f"{value.year - BE_OFFSET} CE, which has no 29 February)") from None


def parse_cell_date(value: Any) -> dt.date:
    """A CE date from a date cell, or from text as `thaidate.parse_date` reads it: 2017-08-22,
    2560-08-22, 22/08/2560, 22 ส.ค. 2560, 22 สิงหาคม 2560, Thai digits (a time of 00:00 after an
    ISO date is ignored). ValueError for numbers and anything else."""
    if isinstance(value, dt.date):
        return calendar_date(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{_show(value)} is not a date")
    if not isinstance(value, str):
        raise ValueError(f"{_show(value)} is a number, not a date (type 2017-08-22 or "
                         "22/08/2560, or format the cell as a date)")
    text = value.strip()
    stamp = _ISO_DATETIME.fullmatch(text)
    return parse_date(stamp.group(1) if stamp else text)


def parse_areas(value: Any) -> tuple[str, ...]:
    """Areas of cooperation separated by ";" or line breaks, each once, in order.
    ValueError when one of them is unsafe text."""
    parts = [cell_text(part) for part in re.split(r"[;\r\n]+", str(value))]
    areas = tuple(dict.fromkeys(p for p in parts if p))
    for area in areas:
        reason = unsafe_text(area)
        if reason:
            raise ValueError(f'"{area[:40]}" {reason}')
    return areas


def parse_email(value: Any) -> str:
    """A plain email address, "mailto:" taken off. ValueError when it is not one."""
    text = safe_text(value, 254)
    text = text[7:] if text.casefold().startswith("mailto:") else text
    if text and not valid_email(text):
        raise ValueError(f'"{text}" is not an email address')
    return text


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
