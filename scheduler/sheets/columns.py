"""The columns of an agreements sheet and how a header row names them.

The table itself (keys, English and Thai names, widths, the template's hints and examples) is
data, in columns.toml beside this module. Layout of every sheet written (template and export):
row 1 holds the English names exactly as SPEC lists them, row 2 the Thai names, data from row 3.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Column:
    """One column: `key` the field, `en` the header SPEC gives, `th` the Thai header, `width`
    in Excel character units; `hint` and `example` are for the Instructions sheet."""

    key: str
    en: str
    th: str
    width: int
    hint: str = ""
    example: str = ""


def _load(section: str) -> tuple[Column, ...]:
    table = tomllib.loads((Path(__file__).parent / "columns.toml").read_text(encoding="utf-8"))
    return tuple(Column(**entry) for entry in table[section])


#: The agreement columns, in order: what import reads and the template asks for.
COLUMNS: tuple[Column, ...] = _load("column")
#: Read-only columns after them in an export; import ignores them (but "partner id" settles
#: a tie between partners of the same name).
EXTRAS: tuple[Column, ...] = _load("extra")
ALL_COLUMNS = COLUMNS + EXTRAS
COLUMN = {c.key: c for c in ALL_COLUMNS}
ORDER = {c.key: i for i, c in enumerate(ALL_COLUMNS)}
AGREEMENT_KEYS = frozenset(c.key for c in COLUMNS)
HEADER_KEYS = ("local_party", "name")  # a row naming both is the header row
REQUIRED = ("local_party", "name", "country", "kind", "signed_on")
#: How a problem message names each column of a row: `column "signed on"`.
COLUMN_NAMES = {c.key: f'column "{c.en}"' for c in ALL_COLUMNS}

HEADER_SCAN_ROWS = 30  # the header row is looked for among this many rows at the top
SHEET_NAME = "Agreements"
INSTRUCTIONS_SHEET = "Instructions"
COUNTRIES_SHEET = "Countries"
NO_GROUP_SHEET = "No group"

_SPACES = re.compile(r"\s+")

# What people write as a header besides the names in the table.
_HEADER_ALIASES = (
    ("partner name", "name"), ("partner", "name"), ("city", "city"), ("partner city", "city"),
    ("signed", "signed_on"), ("expires", "expires_on"), ("email", "contact_email"),
)


def label_key(text: str) -> str:
    """A header cell as compared: without case, underscores, a trailing * or spacing around
    / and ( ); "Partner_Name (English) *" → "partner name(english)"."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", text).casefold().replace("_", " "))
    return re.sub(r" ?([/()]) ?", r"\1", text.strip()).rstrip("*").strip()


@cache
def header_labels() -> dict[str, str]:
    """`label_key` of every accepted header (English, Thai, both in either order, aliases) →
    the column key."""
    labels: dict[str, str] = {}
    for c in ALL_COLUMNS:
        for form in (c.en, c.th, f"{c.en} / {c.th}", f"{c.en}\n{c.th}", f"{c.th} / {c.en}",
                     f"{c.th}\n{c.en}"):
            labels[label_key(form)] = c.key
    labels.update({label_key(text): key for text, key in _HEADER_ALIASES})
    return labels


def letter(index: int) -> str:
    """The spreadsheet letter of the column at 0-based `index`: 0 → "A", 27 → "AB"."""
    from openpyxl.utils import get_column_letter  # openpyxl is slow to load: only when needed

    return str(get_column_letter(index + 1))
