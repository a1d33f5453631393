"""Spreadsheets of agreements: the template handed out to local bodies, import, export.

Import is three steps, and only the last one writes:

1. `parse_file`: a .xlsx or .csv file → validated `SheetRow`s, every problem located by sheet,
   row and column (`agreements.xlsx: sheet Agreements, row 7, column "signed on": …`).
2. `plan_import`: rows + a registry snapshot → an `ImportPlan` (partners matched or created,
   agreements new, updated or unchanged). Pure.
3. `apply_plan`: the plan → the database, in bulk, inside the caller's one write transaction.

A file with any problem is refused whole. Agreements are matched by the same key as `load`
(partner, kind, signing date, local party), so importing a file twice adds nothing.

Layout of the sheets this module writes (template and export alike): row 1 holds the English
column names exactly as SPEC lists them, row 2 the Thai names, data starts on row 3. Import finds
the header row wherever it is (title rows above are fine) and skips rows that only repeat
column names, such as that Thai row. The template's example row lives on its "Instructions"
sheet, written down the page, so it can never be imported by mistake.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import tempfile
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from scheduler.dates.thaidate import BE_OFFSET, format_date, parse_flexible_date, years_between
from scheduler.errors import DataError, UserError
from scheduler.registry.domain import Agreement, AgreementKind, Level, Partner, Registry
from scheduler.registry.validate import country_codes, unsafe_text, valid_email

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.db.database import Database

T = TypeVar("T")


# -- columns ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    key: str
    en: str  # the name SPEC gives; what the header row says
    th: str
    width: int
    hint: str = ""  # for the Instructions sheet
    example: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("local_party", "local party", "หน่วยงานที่ลงนาม (ฝ่ายไทย)", 30,
           "The Chiang Mai body that signed", "Chiang Mai University"),
    Column("name", "partner name (English)", "ชื่อคู่ภาคี (อังกฤษ)", 30,
           "The foreign partner, in English", "Kyoto University"),
    Column("name_th", "partner name (Thai)", "ชื่อคู่ภาคี (ไทย)", 26,
           "The partner's name in Thai, if known", "มหาวิทยาลัยเกียวโต"),
    Column("city", "partner city/province", "เมือง/มณฑลของคู่ภาคี", 22,
           "Where the partner is", "Kyoto"),
    Column("country", "country", "ประเทศ", 24,
           "ISO code (JP) or English name (Japan, Korea, Turkey…)", "Japan (JP)"),
    Column("kind", "kind", "ประเภทข้อตกลง", 13,
           "sister-city, MOU, LOI or friendship", "MOU"),
    Column("level", "level", "ระดับ", 27,
           "province-city, city-city, university-university or organisation-organisation",
           "university-university"),
    Column("signed_on", "signed on", "วันที่ลงนาม", 13,
           "2017-08-22 (CE) or 22/08/2560 (day/month/BE year)", "22/08/2560"),
    Column("expires_on", "expires on", "วันที่สิ้นสุด", 13,
           "Same as signed on; empty if open-ended", "2022-08-21"),
    Column("areas", "areas", "ด้านความร่วมมือ", 32,
           "Areas of cooperation, separated by ;", "education; research"),
    Column("contact_person", "contact person", "ผู้ประสานงาน", 24,
           "Who at your body follows this agreement (gets no reminders)", "Somchai Jaidee"),
    Column("contact_email", "contact email", "อีเมลผู้ประสานงาน", 28,
           "That person's email", "somchai@example.org"),
    Column("notes", "notes", "หมายเหตุ", 40, "Anything else", "Student exchange every July"),
)
# Read-only columns after the agreement columns in an export; import ignores them (except that
# "partner id" settles a tie when several partners carry the same name).
EXTRAS: tuple[Column, ...] = (
    Column("title", "agreement title", "ชื่อข้อตกลง", 36),
    Column("signed_on_be", "signed on (BE)", "วันที่ลงนาม (พ.ศ.)", 16),
    Column("years", "years", "จำนวนปี", 8),
    Column("last_activity", "last activity", "กิจกรรมล่าสุด", 14),
    Column("dormant", "dormant", "ขาดความเคลื่อนไหว", 12),
    Column("partner_id", "partner id", "รหัสคู่ภาคี", 22),
    Column("working_group", "working group", "คณะทำงาน", 18),
)
ALL_COLUMNS = COLUMNS + EXTRAS
COLUMN = {c.key: c for c in ALL_COLUMNS}
ORDER = {c.key: i for i, c in enumerate(ALL_COLUMNS)}
AGREEMENT_KEYS = frozenset(c.key for c in COLUMNS)
HEADER_KEYS = ("local_party", "name")  # a row naming both is the header row
REQUIRED = ("local_party", "name", "country", "kind", "signed_on")
HEADER_SCAN_ROWS = 30
SHEET_NAME = "Agreements"
INSTRUCTIONS_SHEET = "Instructions"
COUNTRIES_SHEET = "Countries"
NO_GROUP_SHEET = "No group"
TEMPLATE_ROWS = 1000  # rows of the template that carry drop-downs

KIND_LABELS = {
    AgreementKind.SISTER_CITY: "sister-city", AgreementKind.MOU: "MOU",
    AgreementKind.LOI: "LOI", AgreementKind.FRIENDSHIP: "friendship",
}
_KIND_WORDS = {
    "sister-city": AgreementKind.SISTER_CITY, "sistercity": AgreementKind.SISTER_CITY,
    "sister-cities": AgreementKind.SISTER_CITY, "เมืองพี่เมืองน้อง": AgreementKind.SISTER_CITY,
    "mou": AgreementKind.MOU, "memorandum-of-understanding": AgreementKind.MOU,
    "บันทึกความเข้าใจ": AgreementKind.MOU,
    "loi": AgreementKind.LOI, "letter-of-intent": AgreementKind.LOI,
    "หนังสือแสดงเจตจำนง": AgreementKind.LOI,
    "friendship": AgreementKind.FRIENDSHIP, "friendship-city": AgreementKind.FRIENDSHIP,
    "มิตรภาพ": AgreementKind.FRIENDSHIP, "ความสัมพันธ์ฉันมิตร": AgreementKind.FRIENDSHIP,
}

# What people type for countries that CLDR names otherwise ("Türkiye", "South Korea",
# "Myanmar (Burma)"), or that it names only in full. Keys are compared folded (see _fold).
COUNTRY_ALIASES = {
    "turkey": "TR", "turkiye": "TR", "republic of turkey": "TR",
    "korea": "KR", "republic of korea": "KR", "korea, republic of": "KR", "korea (south)": "KR",
    "rok": "KR", "s. korea": "KR", "dprk": "KP", "korea (north)": "KP",
    "burma": "MM", "myanmar": "MM", "republic of the union of myanmar": "MM",
    "vietnam": "VN", "viet nam": "VN", "laos": "LA", "lao pdr": "LA", "lao": "LA",
    "lao people's democratic republic": "LA",
    "china": "CN", "prc": "CN", "p.r. china": "CN", "people's republic of china": "CN",
    "mainland china": "CN", "japan": "JP", "indonesia": "ID",
    "usa": "US", "u.s.a.": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "u.k.": "GB", "great britain": "GB", "britain": "GB",
    "russian federation": "RU", "hong kong": "HK", "macau": "MO", "macao": "MO",
    "czech republic": "CZ", "ivory coast": "CI", "east timor": "TL", "swaziland": "SZ",
    "macedonia": "MK", "holland": "NL", "brunei darussalam": "BN", "cabo verde": "CV",
    "holy see": "VA", "uae": "AE", "islamic republic of iran": "IR",
    "iran, islamic republic of": "IR", "syrian arab republic": "SY",
    "เกาหลี": "KR", "สาธารณรัฐเกาหลี": "KR", "พม่า": "MM", "เมียนมาร์": "MM", "เมียนมา": "MM",
    "สาธารณรัฐประชาชนจีน": "CN", "ทูร์เคีย": "TR", "ตุรเคีย": "TR", "สปป. ลาว": "LA",
    "สปป.ลาว": "LA", "สหรัฐ": "US", "อเมริกา": "US", "อังกฤษ": "GB",
}

_SPACES = re.compile(r"\s+")
_LINE_BREAKS = re.compile("[\r\n\t\v\f\x85\u2028\u2029]+")
_ISO_DATETIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?")
_CODE_SUFFIX = re.compile(r".*\(([A-Za-z]{2})\)")  # the drop-down's "Japan (JP)"
_FORMULA_START = ("=", "+", "-", "@")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_TEXT_LIMITS = {"local_party": 300, "name": 300, "name_th": 300, "city": 300,
                "contact_person": 300, "contact_email": 254}


# -- normalising what people type ----------------------------------------------------------------
def _label_key(text: str) -> str:
    """A header cell, compared without case, underscores or spacing around / and ()."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", text).casefold().replace("_", " "))
    return re.sub(r" ?([/()]) ?", r"\1", text.strip()).rstrip("*").strip()


@cache
def _header_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for c in ALL_COLUMNS:
        for form in (c.en, c.th, f"{c.en} / {c.th}", f"{c.en}\n{c.th}", f"{c.th} / {c.en}",
                     f"{c.th}\n{c.en}"):
            labels[_label_key(form)] = c.key
    labels.update({_label_key(k): v for k, v in (
        ("partner name", "name"), ("partner", "name"), ("city", "city"), ("partner city", "city"),
        ("signed", "signed_on"), ("expires", "expires_on"), ("email", "contact_email"),
    )})
    return labels


def name_key(text: str) -> str:
    """A partner's name as matched: case and spacing ignored (also zero-width spaces)."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE).casefold()
    return "".join(text.split())


def _fold(text: str) -> str:
    """A country name as looked up: case, spacing, a leading "the" and Latin accents ignored."""
    text = unicodedata.normalize("NFC", text).replace("’", "'").translate(_INVISIBLE)
    text = _SPACES.sub(" ", text).strip().casefold().removeprefix("the ")
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                    if not unicodedata.combining(ch))
    return plain if plain.isascii() else text


@cache
def _country_lookup() -> dict[str, str]:
    from babel import Locale

    codes = country_codes()
    lookup: dict[str, str] = {}
    for language in ("en", "th"):
        for code, name in Locale(language).territories.items():
            if code in codes:
                lookup.setdefault(_fold(name), code)
                lookup.setdefault(_fold(name.split(" (")[0]), code)  # "Myanmar (Burma)"
    lookup.update({_fold(alias): code for alias, code in COUNTRY_ALIASES.items()})
    return lookup


def parse_country(text: str) -> str:
    """An ISO 3166-1 alpha-2 code from a code, an English (or Thai) name, or "Japan (JP)"."""
    value = text.strip()
    suffix = _CODE_SUFFIX.fullmatch(value)
    candidate = (suffix.group(1) if suffix else value).upper()
    if len(candidate) == 2 and candidate in country_codes():
        return candidate
    code = _country_lookup().get(_fold(value))
    if code is None:
        raise ValueError(f'"{value}" is not a country (give an ISO code such as JP, or an '
                         "English name such as Japan)")
    return code


def parse_kind(text: str) -> AgreementKind:
    key = re.sub(r"[\s_–—-]+", "-", text.strip().casefold()).replace(".", "")
    kind = _KIND_WORDS.get(key)
    if kind is None:
        raise ValueError(f'"{text.strip()}" is not a kind of agreement (expected sister-city, '
                         "MOU, LOI or friendship)")
    return kind


def parse_level(text: str) -> str:
    key = re.sub(r"[\s_–—-]+", "-", text.strip().casefold()).replace("-to-", "-")
    key = key.replace("organization", "organisation")
    if key not in {lv.value for lv in Level}:
        raise ValueError(f'"{text.strip()}" is not a level (expected '
                         f"{', '.join(lv.value for lv in Level)})")
    return key


def calendar_date(value: dt.date) -> dt.date:
    """A spreadsheet date cell as a CE date. A cell typed with a Buddhist-Era year (2560) holds
    the year 2560: take 543 off, minding 29 February (BE 2560 is a leap year, CE 2017 is not)."""
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
    """A date from a date cell, or from text: 2017-08-22, 2560-08-22 or 22/08/2560."""
    if isinstance(value, dt.date):
        return calendar_date(value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{_show(value)} is not a date")
    if not isinstance(value, str):
        raise ValueError(f"{_show(value)} is a number, not a date (type 2017-08-22 or "
                         "22/08/2560, or format the cell as a date)")
    text = value.strip()
    stamp = _ISO_DATETIME.fullmatch(text)
    return parse_flexible_date(stamp.group(1) if stamp else text)


def cell_text(value: Any) -> str:
    """What a cell says, as text: line breaks become spaces, and the apostrophe that export
    puts before a leading =, +, - or @ (so Excel shows text, not a formula) is taken off."""
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
    text = _LINE_BREAKS.sub(" ", text).strip()
    if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_START:
        text = text[1:]
    return text


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- problems and places -------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Where:
    """A row of the file: `sheet` is None for CSV."""

    sheet_index: int
    row: int
    sheet: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"sheet {self.sheet}, row {self.row}" if self.sheet else f"row {self.row}"


@dataclass(frozen=True)
class Problem:
    where: Where | None  # None: the file as a whole
    column: str | None  # a column key
    text: str

    def sort_key(self) -> tuple[int, int, int]:
        if self.where is None:
            return (-1, 0, 0)
        return (self.where.sheet_index, self.where.row, ORDER.get(self.column or "", -1))

    def render(self, label: str) -> str:
        place = label if self.where is None else f"{label}: {self.where}"
        if self.column:
            place += f', column "{COLUMN[self.column].en}"'
        return f"{place}: {self.text}"


def refuse(label: str, problems: Iterable[Problem]) -> DataError:
    return DataError(p.render(label) for p in sorted(problems, key=Problem.sort_key))


# -- reading files -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawRow:
    where: Where
    cells: dict[str, Any]  # column key -> raw value (str from CSV; typed from .xlsx)


@dataclass
class ReadFile:
    """What was read from one file, before the rows are validated."""

    label: str
    rows: list[RawRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the file's or a header's: fatal
    warnings: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)  # sheets that held agreements


def read_file(path: Path) -> ReadFile:
    """Read the agreement rows of a .xlsx or .csv file. A file that cannot be read, or whose
    header row is missing or wrong, raises DataError; the rows are checked by `parse_rows`."""
    label = path.name
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".xlsm", ".csv"):
        hint = " (save it as .xlsx)" if suffix == ".xls" else ""
        raise DataError([f"{label}: expected a .xlsx or .csv file{hint}"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError([f"{path}: cannot read: {exc.strerror}"]) from None
    result = ReadFile(label)
    if suffix == ".csv":
        _read_csv(data, result)
    else:
        _read_xlsx(data, result)
    if not result.sheets and not result.problems:
        names = ", ".join(f'"{COLUMN[k].en}"' for k in REQUIRED)
        result.problems.append(Problem(None, None, f"no header row naming the columns {names} "
                                       "(see `sistercity template`)"))
    if result.problems:
        raise refuse(label, result.problems)
    return result


def _read_csv(data: bytes, result: ReadFile) -> None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        result.problems.append(Problem(None, None, f"not UTF-8 text (byte {exc.start}): save it "
                                       'from Excel as "CSV UTF-8 (Comma delimited)"'))
        return
    # Excel writes ";" or tab-separated files in some locales: take the first that has a header.
    for delimiter in (",", ";", "\t"):
        try:
            records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as exc:
            result.problems.append(Problem(None, None, f"not a CSV file: {exc}"))
            return
        grid = enumerate(records, 1)
        attempt = ReadFile(result.label)
        _read_grid(grid, attempt, 0, None)
        if attempt.sheets:
            result.rows, result.problems = attempt.rows, attempt.problems
            result.warnings, result.sheets = attempt.warnings, attempt.sheets
            return


def _read_xlsx(data: bytes, result: ReadFile) -> None:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a damaged or foreign file: openpyxl raises all sorts
        result.problems.append(Problem(None, None, f"not an Excel .xlsx workbook ({exc})"))
        return
    try:
        for index, sheet in enumerate(workbook.worksheets):
            sheet.reset_dimensions()  # some writers record wrong sizes; read every row
            # Date cells arrive as datetimes (openpyxl reads their number format).
            rows = sheet.iter_rows(min_row=1, min_col=1, values_only=True)
            _read_grid(enumerate(rows, 1), result, index, str(sheet.title))
    finally:
        workbook.close()


def _read_grid(grid: Iterable[tuple[int, Sequence[Any]]], result: ReadFile, index: int,
               sheet: str | None) -> None:
    """Find the header row within the first rows, then collect the rows below it."""
    header: dict[int, str] | None = None
    for number, cells in grid:
        where = Where(index, number, sheet)
        if header is None:
            if number > HEADER_SCAN_ROWS:
                return
            header = _header(cells, where, result)
            continue
        raw = _raw_row(cells, header, where)
        if raw is not None:
            result.rows.append(raw)
    if header is not None:
        result.sheets.append(sheet or result.label)


def _header(cells: Sequence[Any], where: Where, result: ReadFile) -> dict[int, str] | None:
    labels = _header_labels()
    found: dict[int, str] = {}
    unknown: list[str] = []
    for i, value in enumerate(cells):
        text = cell_text(value)
        key = labels.get(_label_key(text)) if text else None
        if key is not None:
            found[i] = key
        elif text:
            unknown.append(text)
    if not all(k in found.values() for k in HEADER_KEYS):
        return None
    seen: dict[str, int] = {}
    for i, key in found.items():
        if key in seen:
            result.problems.append(Problem(where, None, f'column "{COLUMN[key].en}" appears twice '
                                           f"(columns {_letter(seen[key])} and {_letter(i)})"))
        seen[key] = i
    for key in REQUIRED:
        if key not in seen:
            result.problems.append(Problem(where, None, f'the header has no column '
                                           f'"{COLUMN[key].en}"'))
    if unknown:
        result.warnings.append(f"{result.label}: {where}: ignored columns not known to sistercity: "
                               + ", ".join(f'"{u}"' for u in unknown))
    return found


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))


def _raw_row(cells: Sequence[Any], header: dict[int, str], where: Where) -> RawRow | None:
    """The row's cells by column key; None for an empty row or one that repeats the column
    names (the Thai header row)."""
    values = {key: cells[i] if i < len(cells) else None for i, key in header.items()}
    texts = {k: cell_text(v) for k, v in values.items() if k in AGREEMENT_KEYS}
    if not any(texts.values()):
        return None
    labels = _header_labels()
    if all(labels.get(_label_key(t)) == k for k, t in texts.items() if t):
        return None
    return RawRow(where, values)


# -- validating rows -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SheetRow:
    """One valid row: a partner (as named in the file) and one agreement with it."""

    where: Where
    name: str
    name_th: str
    city: str
    country: str
    agreement: Agreement
    partner_id: str = ""  # the export's read-only "partner id", used only to settle a tie


class _RowReader:
    def __init__(self, raw: RawRow, problems: list[Problem]) -> None:
        self.raw, self.problems = raw, problems

    def problem(self, key: str, text: str) -> None:
        self.problems.append(Problem(self.raw.where, key, text))

    def text(self, key: str, *, required: bool = False) -> str:
        value = cell_text(self.raw.cells.get(key))
        if not value:
            if required:
                self.problem(key, "missing")
            return ""
        reason = unsafe_text(value)
        limit = _TEXT_LIMITS.get(key)
        if reason is None and limit is not None and len(value) > limit:
            reason = f"is longer than {limit} characters"
        if reason:
            self.problem(key, reason)
            return ""
        return value

    def parsed(self, key: str, parse: Callable[[str], T], *, required: bool = False) -> T | None:
        value = self.text(key, required=required)
        if not value:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            self.problem(key, str(exc))
            return None

    def date(self, key: str, *, required: bool = False) -> dt.date | None:
        value = self.raw.cells.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(key, "missing")
            return None
        try:
            return parse_cell_date(value)
        except ValueError as exc:
            self.problem(key, str(exc))
            return None

    def areas(self) -> tuple[str, ...]:
        raw = self.raw.cells.get("areas")
        if raw is None:
            return ()
        parts = [cell_text(part) for part in re.split(r"[;\r\n]+", str(raw))]
        areas = tuple(dict.fromkeys(p for p in parts if p))
        for area in areas:
            reason = unsafe_text(area)
            if reason:
                self.problem("areas", f'"{area[:40]}" {reason}')
                return ()
        return areas

    def email(self) -> str:
        value = self.text("contact_email")
        value = value[7:] if value.casefold().startswith("mailto:") else value
        if value and not valid_email(value):
            self.problem("contact_email", f'"{value}" is not an email address')
        return value


def parse_rows(read: ReadFile) -> tuple[list[SheetRow], list[Problem]]:
    """Validate every row; problems are collected, not raised."""
    problems: list[Problem] = []
    rows = [row for raw in read.rows if (row := _parse_row(raw, problems)) is not None]
    return rows, problems


def _parse_row(raw: RawRow, problems: list[Problem]) -> SheetRow | None:
    before = len(problems)
    r = _RowReader(raw, problems)
    local_party = r.text("local_party", required=True)
    name = r.text("name", required=True)
    country = r.parsed("country", parse_country, required=True)
    kind = r.parsed("kind", parse_kind, required=True)
    level = r.parsed("level", parse_level)
    signed_on = r.date("signed_on", required=True)
    expires_on = r.date("expires_on")
    if signed_on and expires_on and expires_on < signed_on:
        r.problem("expires_on", f"{expires_on.isoformat()} is before signed on "
                  f"({signed_on.isoformat()})")
    agreement = Agreement(
        kind=kind or AgreementKind.MOU, signed_on=signed_on or dt.date.min,
        local_party=local_party, areas=r.areas(), expires_on=expires_on, level=level,
        contact_person=r.text("contact_person"), contact_email=r.email(), notes=r.text("notes"),
    )
    row = SheetRow(where=raw.where, name=name, name_th=r.text("name_th"), city=r.text("city"),
                   country=country or "", agreement=agreement,
                   partner_id=cell_text(raw.cells.get("partner_id")))
    return row if len(problems) == before else None


def parse_file(path: Path) -> tuple[ReadFile, list[SheetRow], list[Problem]]:
    read = read_file(path)
    rows, problems = parse_rows(read)
    return read, rows, problems


# -- resolving rows against the registry ---------------------------------------------------------
AgreementKey = tuple[str, str, dt.date, str]  # partner, kind, signed on, local party


@dataclass(frozen=True)
class RowOutcome:
    where: Where
    partner_id: str
    partner: str  # "new", "matched by English name", "matched by Thai name", "new (row …)"
    agreement: str  # "new", "updated", "unchanged", "same as row …"
    row: SheetRow
    group: str | None


@dataclass
class ImportPlan:
    label: str
    new_partners: list[Partner] = field(default_factory=list)
    agreements: list[tuple[str, Agreement]] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        partners = {o.partner_id for o in self.outcomes if not o.partner.startswith("new")}
        statuses = [o.agreement for o in self.outcomes]
        return {
            "rows": len(self.outcomes),
            "partners new": len(self.new_partners),
            "partners matched": len(partners),
            "agreements new": statuses.count("new"),
            "agreements updated": statuses.count("updated"),
            "agreements unchanged": len(statuses) - statuses.count("new")
            - statuses.count("updated"),
        }


# Optional agreement fields: a value in the file fills in or replaces what is stored; an empty
# cell never erases it (the rule of store.upsert_agreements).
_OPTIONAL_FIELDS = ("areas", "expires_on", "level", "title", "contact_person", "contact_email",
                    "notes")


def _changes(old: Agreement, new: Agreement) -> bool:
    return any(getattr(new, f) not in (None, "", ()) and getattr(new, f) != getattr(old, f)
               for f in _OPTIONAL_FIELDS)


class _Planner:
    def __init__(self, registry: Registry, label: str) -> None:
        self.registry = registry
        self.plan = ImportPlan(label)
        self.partners: dict[str, Partner] = dict(registry.partners)
        self.by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.by_name_th: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.countries_by_name: dict[str, set[str]] = defaultdict(set)
        self.created_at: dict[str, Where] = {}
        self.agreements: dict[AgreementKey, Agreement] = {}
        self.in_file: dict[AgreementKey, tuple[Where, Agreement]] = {}
        for partner in registry.partners.values():
            self._index(partner)
            for a in partner.agreements:
                self.agreements[(partner.id, a.kind.value, a.signed_on, a.local_party)] = a

    def _index(self, partner: Partner) -> None:
        self.by_name[(partner.country, name_key(partner.name))].append(partner.id)
        if partner.name_th:
            self.by_name_th[(partner.country, name_key(partner.name_th))].append(partner.id)
        self.countries_by_name[name_key(partner.name)].add(partner.country)

    def add(self, row: SheetRow) -> None:
        resolved = self._partner(row)
        if resolved is None:
            return
        partner_id, how = resolved
        status = self._agreement(row, partner_id)
        if status is None:
            return
        group = self.partners[partner_id].working_group
        self.plan.outcomes.append(RowOutcome(row.where, partner_id, how, status, row, group))

    def _partner(self, row: SheetRow) -> tuple[str, str] | None:
        english = self.by_name.get((row.country, name_key(row.name)), [])
        thai = self.by_name_th.get((row.country, name_key(row.name_th)), []) if row.name_th else []
        candidates = list(dict.fromkeys([*english, *thai]))
        if len(candidates) > 1 and row.partner_id in candidates:
            candidates = [row.partner_id]
        if len(candidates) > 1:
            self.plan.problems.append(Problem(row.where, None, f'"{row.name}" ({row.country}) '
                                              f"matches several partners: {', '.join(candidates)}"
                                              ' (see `sistercity partners`)'))
            return None
        if candidates:
            found = candidates[0]
            if found in self.created_at:
                return found, f"new ({self.created_at[found]})"
            return found, "matched by English name" if found in english else "matched by Thai name"
        return self._create(row), "new"

    def _create(self, row: SheetRow) -> str:
        partner_id = new_partner_id(row.name, row.country, self.partners.keys())
        group = self.registry.group_for_country(row.country)
        partner = Partner(id=partner_id, name=row.name, name_th=row.name_th, city=row.city,
                          country=row.country, working_group=group)
        where = f"{self.plan.label}: {row.where}"
        if group is None:
            self.plan.warnings.append(f"{where}: no working group lists {row.country}: the new "
                                      f"partner {partner_id} ({row.name}) has no group")
        elsewhere = self.countries_by_name.get(name_key(row.name), set()) - {row.country}
        if elsewhere:
            self.plan.warnings.append(f'{where}: "{row.name}" is new in {row.country}, but a '
                                      f"partner of that name is in {', '.join(sorted(elsewhere))}")
        self.partners[partner_id] = partner
        self.created_at[partner_id] = row.where
        self.plan.new_partners.append(partner)
        self._index(partner)
        return partner_id

    def _agreement(self, row: SheetRow, partner_id: str) -> str | None:
        a = row.agreement
        key = (partner_id, a.kind.value, a.signed_on, a.local_party)
        earlier = self.in_file.get(key)
        if earlier is not None:
            if earlier[1] == a:
                return f"same as {earlier[0]}"
            self.plan.problems.append(Problem(row.where, None, "the same agreement (partner, kind, "
                                              f"signed on, local party) as {earlier[0]}, with "
                                              "different values"))
            return None
        self.in_file[key] = (row.where, a)
        old = self.agreements.get(key)
        self.plan.agreements.append((partner_id, a))
        if old is None:
            return "new"
        return "updated" if _changes(old, a) else "unchanged"


def plan_import(label: str, rows: Iterable[SheetRow], registry: Registry) -> ImportPlan:
    """Match each row's partner (by country and English or Thai name, case and spacing
    ignored), else create it; classify each agreement against what is stored. Pure."""
    planner = _Planner(registry, label)
    for row in rows:
        planner.add(row)
    return planner.plan


def new_partner_id(name: str, country: str, taken: Iterable[str]) -> str:
    """The slug of the English name, with -2, -3… on collision; `<country>-1`, `-2`… when the
    name has no ASCII letters or digits."""
    used = set(taken)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80].strip("-")
    if not base:
        n = 1
        while f"{country.lower()}-{n}" in used:
            n += 1
        return f"{country.lower()}-{n}"
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# -- writing the plan ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportCounts:
    partners_created: int
    agreements_created: int
    agreements_updated: int
    agreements_unchanged: int


def apply_plan(session: Session, plan: ImportPlan) -> ImportCounts:
    """Write the plan in bulk (two statements or so, whatever the size). Never deletes."""
    from scheduler.db.models import PartnerRow
    from scheduler.registry.store import upsert_agreements, upsert_rows

    # working_group stays empty: a partner follows the group that lists its country, as one
    # loaded from a dataset file without an explicit group does.
    everything = frozenset({"id", "name", "name_th", "country", "city"})
    created = upsert_rows(session, PartnerRow, "id", (
        ({"id": p.id, "name": p.name, "name_th": p.name_th, "country": p.country,
          "city": p.city}, everything) for p in plan.new_partners
    ))
    counts = upsert_agreements(session, plan.agreements)
    return ImportCounts(created.created, counts.created, counts.updated,
                        counts.unchanged + sum(o.agreement.startswith("same as")
                                               for o in plan.outcomes))


@dataclass
class ImportResult:
    plan: ImportPlan
    counts: ImportCounts
    dry_run: bool
    warnings: list[str]

    def summary(self) -> str:
        c, p = self.counts, self.plan.counts()
        head = (f"dry run of {self.plan.label}, nothing changed" if self.dry_run
                else f"imported {self.plan.label}")
        return (f"{head}: {p['rows']} rows; partners: {c.partners_created} new, "
                f"{p['partners matched']} matched; agreements: {c.agreements_created} new, "
                f"{c.agreements_updated} updated, {c.agreements_unchanged} unchanged")

    def details(self) -> list[str]:
        """One line per row: what happens to its partner and its agreement."""
        lines = []
        for o in self.plan.outcomes:
            r, a = o.row, o.row.agreement
            partner = (f"new partner {o.partner_id} in group {o.group or '(none)'}"
                       if o.partner == "new" else f"partner {o.partner_id} ({o.partner})")
            agreement = _STATUS_TEXT.get(o.agreement, f"{o.agreement}, skipped")
            lines.append(f"{o.where}: {r.name} ({r.country}): {partner}; "
                         f"{KIND_LABELS[a.kind]} signed {a.signed_on.isoformat()} by "
                         f"{a.local_party}: {agreement}")
        return lines

    def created(self) -> list[str]:
        return [f"new partner {p.id}: {p.name} ({p.country}), group {p.working_group or '(none)'}"
                for p in self.plan.new_partners]


_STATUS_TEXT = {"new": "new agreement", "updated": "fills in or changes the stored agreement",
                "unchanged": "already recorded, skipped"}


def import_rows(db: Database, read: ReadFile, rows: list[SheetRow], problems: list[Problem],
                *, dry_run: bool) -> ImportResult:
    """Resolve and write in ONE write transaction (a dry run only reads). Any problem, found in
    the file or against the registry, refuses the whole file."""
    from scheduler.registry.store import load_registry

    context = db.read() if dry_run else db.write(lock="registry")
    with context as session:
        plan = plan_import(read.label, rows, load_registry(session))
        everything = [*problems, *plan.problems]
        if everything:
            raise refuse(read.label, everything)
        if dry_run:
            p = plan.counts()
            counts = ImportCounts(p["partners new"], p["agreements new"],
                                  p["agreements updated"], p["agreements unchanged"])
        else:
            counts = apply_plan(session, plan)
    return ImportResult(plan, counts, dry_run, [*read.warnings, *plan.warnings])


# -- export --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportRow:
    partner: Partner
    agreement: Agreement
    last_activity: dt.date | None
    dormant: bool
    years: int | None

    def values(self) -> list[Any]:
        """The cells, in ALL_COLUMNS order (dates as dates)."""
        p, a = self.partner, self.agreement
        return [
            a.local_party, p.name, p.name_th, p.city, p.country, KIND_LABELS[a.kind],
            a.level or "", a.signed_on, a.expires_on, "; ".join(a.areas), a.contact_person,
            a.contact_email, a.notes, a.title,
            format_date(a.signed_on, "th"), self.years, self.last_activity,
            "yes" if self.dormant else "no", p.id, p.working_group or "",
        ]


@dataclass(frozen=True)
class ExportSheet:
    title: str
    group: str | None
    rows: tuple[ExportRow, ...]


def export_sheets(registry: Registry, as_of: dt.date, after_days: int) -> list[ExportSheet]:
    """One sheet per working group (by name), then "No group" if any partner has none; partners
    by country and city, one row per agreement. Partners with no agreement have no row."""
    from scheduler.registry.domain import spell_start

    by_group: dict[str | None, list[ExportRow]] = defaultdict(list)
    partners = sorted(registry.partners.values(),
                      key=lambda p: (p.country, name_key(p.city), name_key(p.name), p.id))
    for p in partners:
        dormant = spell_start(p, as_of, after_days) is not None
        last = p.last_activity_on(as_of)
        for a in sorted(p.agreements, key=lambda a: (a.signed_on, a.kind.value, a.local_party)):
            years = years_between(a.signed_on, as_of) if a.signed_on <= as_of else None
            by_group[p.working_group].append(ExportRow(p, a, last, dormant, years))
    groups = sorted(registry.working_groups.values(), key=lambda g: name_key(g.name))
    order: list[tuple[str | None, str]] = [(g.id, g.name) for g in groups]
    order += [(gid, gid) for gid in sorted(k for k in by_group if k and k not in
                                           registry.working_groups)]
    if by_group.get(None):
        order.append((None, NO_GROUP_SHEET))
    used: set[str] = set()
    return [ExportSheet(_sheet_title(title, used), gid, tuple(by_group.get(gid, ())))
            for gid, title in order]


def _sheet_title(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "-", name).strip("' ")[:31] or "Sheet"
    title, n = base, 1
    while title.casefold() in used:
        n += 1
        title = f"{base[:27]} ({n})"
    used.add(title.casefold())
    return title


def export_registry(registry: Registry, path: Path, *, as_of: dt.date,
                    after_days: int) -> list[ExportSheet]:
    sheets = export_sheets(registry, as_of, after_days)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        _write_atomic(path, _csv_bytes(sheets))
    elif suffix == ".xlsx":
        _write_atomic(path, _export_workbook(sheets))
    else:
        raise UserError(f"{path.name}: expected a .xlsx or .csv file name")
    return sheets


def _csv_bytes(sheets: Sequence[ExportSheet]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.en for c in ALL_COLUMNS])
    for sheet in sheets:
        for row in sheet.rows:
            writer.writerow([_csv_cell(v) for v in row.values()])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read Thai as UTF-8


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    # A leading = + - @ would run as a formula in Excel; cell_text takes the apostrophe off.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target, then rename: a failure never leaves half a file."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        raise UserError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write: {exc.strerror}") from None


# -- workbook layout (template and export) -------------------------------------------------------
_HEADER_FILL = "1F4E78"
_THAI_FILL = "DDEBF7"
_EXTRA_HEADER_FILL = "7F7F7F"
_EXTRA_FILL = "F2F2F2"
_DATE_FORMAT = "yyyy-mm-dd"
_DATE_KEYS = ("signed_on", "expires_on", "last_activity")


def _write_header(ws: Any, columns: Sequence[Column]) -> None:
    """Row 1: the English names (what import reads); row 2: the Thai names."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    for i, column in enumerate(columns, 1):
        extra = column.key not in AGREEMENT_KEYS
        top = ws.cell(row=1, column=i, value=column.en)
        top.font = Font(bold=True, color="FFFFFF")
        top.fill = PatternFill("solid", fgColor=_EXTRA_HEADER_FILL if extra else _HEADER_FILL)
        thai = ws.cell(row=2, column=i, value=column.th)
        thai.font = Font(italic=True, color="1F1F1F")
        thai.fill = PatternFill("solid", fgColor=_EXTRA_FILL if extra else _THAI_FILL)
        for cell in (top, thai):
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = column.width
        if column.key in _DATE_KEYS:
            ws.column_dimensions[letter].number_format = _DATE_FORMAT
    ws.freeze_panes = "A3"
    ws.row_dimensions[1].height = 20
    ws.row_dimensions[2].height = 20


def _validations(ws: Any, last_row: int, country_list: str | None) -> None:
    """Drop-downs for kind and level (and country, from the hidden list, in the template), and
    hints on the date cells."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    def cells(key: str) -> str:
        letter = get_column_letter(ORDER[key] + 1)
        return f"{letter}3:{letter}{last_row}"

    kinds = ",".join(KIND_LABELS.values())
    levels = ",".join(lv.value for lv in Level)
    specs: list[tuple[str, DataValidation]] = [
        ("kind", DataValidation(type="list", formula1=f'"{kinds}"', allow_blank=True,
                                errorTitle="kind / ประเภท", error=f"Choose one of: {kinds}")),
        ("level", DataValidation(type="list", formula1=f'"{levels}"', allow_blank=True,
                                 errorTitle="level / ระดับ", error=f"Choose one of: {levels}")),
    ]
    if country_list:
        specs.append(("country", DataValidation(
            type="list", formula1=country_list, allow_blank=True, errorStyle="warning",
            errorTitle="country / ประเทศ",
            error="Not in the list: an ISO code (JP) or an English name (Japan) also works.",
        )))
    for key in ("signed_on", "expires_on"):
        specs.append((key, DataValidation(
            allow_blank=True, promptTitle=f"{COLUMN[key].en} / {COLUMN[key].th}",
            prompt="2017-08-22 (ค.ศ./CE) or 22/08/2560 (วัน/เดือน/พ.ศ.)")))
    for key, validation in specs:
        validation.showErrorMessage = validation.type == "list"
        validation.showInputMessage = True
        validation.add(cells(key))
        ws.add_data_validation(validation)


def _save(workbook: Any) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _set(ws: Any, row: int, column: int, value: Any) -> Any:
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text that starts with "=" stays text, never a formula
    return cell


def _export_workbook(sheets: Sequence[ExportSheet]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    workbook = Workbook()
    workbook.remove(workbook.active)
    extra_fill = PatternFill("solid", fgColor=_EXTRA_FILL)
    grey = Font(color="595959")
    for sheet in sheets or [ExportSheet(NO_GROUP_SHEET, None, ())]:
        ws = workbook.create_sheet(sheet.title)
        _write_header(ws, ALL_COLUMNS)
        for r, row in enumerate(sheet.rows, 3):
            for c, value in enumerate(row.values(), 1):
                cell = _set(ws, r, c, value)
                if isinstance(value, dt.date):
                    cell.number_format = _DATE_FORMAT
                if c > len(COLUMNS):
                    cell.fill, cell.font = extra_fill, grey
        last = 2 + len(sheet.rows)
        ws.auto_filter.ref = f"A2:{_letter(len(ALL_COLUMNS) - 1)}{max(last, 2)}"
        _validations(ws, last + 200, None)
    return _save(workbook)


# -- the template -------------------------------------------------------------------------------
INSTRUCTIONS_EN = (
    "Write one row per agreement (MOU, LOI, sister-city or friendship) that your organisation "
    "signed with a foreign partner, on the sheet \"Agreements\", from row 3.",
    "Keep the two header rows (English, Thai). Columns may be moved, not renamed.",
    "Required: local party, partner name (English), country, kind, signed on.",
    "Dates: 2017-08-22 (Common Era) or 22/08/2560 (day/month/Buddhist Era year).",
    "Country: pick from the list, or type an ISO code (JP) or an English name (Japan, Korea, "
    "Turkey).",
    "Areas of cooperation: separate them with semicolons, e.g. education; tourism.",
    "The example below only shows how to fill in a row; it is not imported.",
    "Return the file to the international affairs unit, which imports it with "
    "`sistercity import`.",
)
INSTRUCTIONS_TH = (
    "กรอกหนึ่งแถวต่อหนึ่งข้อตกลง (MOU, LOI, เมืองพี่เมืองน้อง หรือความสัมพันธ์ฉันมิตร) ที่หน่วยงาน"
    "ของท่านลงนามกับคู่ภาคีต่างประเทศ ในแผ่นงาน \"Agreements\" ตั้งแต่แถวที่ 3",
    "อย่าลบหัวตารางสองแถวแรก (อังกฤษ ไทย) ย้ายลำดับคอลัมน์ได้ แต่ห้ามเปลี่ยนชื่อคอลัมน์",
    "ช่องที่ต้องกรอก: หน่วยงานที่ลงนาม ชื่อคู่ภาคี (อังกฤษ) ประเทศ ประเภทข้อตกลง วันที่ลงนาม",
    "วันที่: 2017-08-22 (ค.ศ.) หรือ 22/08/2560 (วัน/เดือน/ปี พ.ศ.)",
    "ประเทศ: เลือกจากรายการ หรือพิมพ์รหัส ISO (เช่น JP) หรือชื่อภาษาอังกฤษ (เช่น Japan, Korea)",
    "ด้านความร่วมมือ: คั่นแต่ละด้านด้วยเครื่องหมาย ; เช่น education; tourism",
    "ตัวอย่างด้านล่างแสดงวิธีกรอกเท่านั้น จะไม่ถูกนำเข้า",
    "ส่งไฟล์ที่กรอกแล้วคืนฝ่ายการต่างประเทศ",
)


def write_template(path: Path) -> None:
    if path.suffix.lower() != ".xlsx":
        raise UserError(f"{path.name}: the template is an Excel workbook: name it *.xlsx")
    _write_atomic(path, _template_workbook())


def _template_workbook() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    ws = workbook.active
    ws.title = SHEET_NAME
    _write_header(ws, COLUMNS)
    _write_instructions(workbook.create_sheet(INSTRUCTIONS_SHEET))
    count = _write_countries(workbook.create_sheet(COUNTRIES_SHEET))
    country_list = f"{COUNTRIES_SHEET}!$C$2:$C${count + 1}"
    _validations(ws, TEMPLATE_ROWS + 2, country_list)
    workbook.active = 0
    return _save(workbook)


def country_choices() -> list[tuple[str, str, str]]:
    """(code, English name, Thai name) for every country, by English name."""
    from babel import Locale

    en, th = Locale("en").territories, Locale("th").territories
    rows = [(code, str(en[code]), str(th.get(code, ""))) for code in country_codes()
            if code in en]
    return sorted(rows, key=lambda r: _fold(r[1]))


def _write_countries(ws: Any) -> int:
    from openpyxl.styles import Font

    for c, title in enumerate(("code", "English name", "choice", "ชื่อภาษาไทย"), 1):
        ws.cell(row=1, column=c, value=title).font = Font(bold=True)
    choices = country_choices()
    for r, (code, name_en, name_th) in enumerate(choices, 2):
        for c, value in enumerate((code, name_en, f"{name_en} ({code})", name_th), 1):
            ws.cell(row=r, column=c, value=value)
    ws.column_dimensions["B"].width = ws.column_dimensions["C"].width = 34
    ws.sheet_state = "hidden"
    return len(choices)


def _write_instructions(ws: Any) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    ws.cell(row=1, column=1, value="Agreements with foreign partners / ข้อตกลงกับคู่ภาคีต่างประเทศ"
            ).font = Font(bold=True, size=14)
    row = 3
    for english, thai in zip(INSTRUCTIONS_EN, INSTRUCTIONS_TH, strict=True):
        ws.cell(row=row, column=1, value=english).alignment = Alignment(wrap_text=True)
        ws.cell(row=row, column=3, value=thai).alignment = Alignment(wrap_text=True)
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=2)
        ws.merge_cells(start_row=row, start_column=3, end_row=row, end_column=5)
        # Merged cells do not grow to fit: about 45 characters a line over these widths.
        ws.row_dimensions[row].height = 16 * (1 + max(len(english), len(thai)) // 45)
        row += 1
    row += 1
    titles = ("column", "คอลัมน์", "required / จำเป็น", "what to write", "example / ตัวอย่าง")
    for c, title in enumerate(titles, 1):
        cell = ws.cell(row=row, column=c, value=title)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor=_HEADER_FILL)
    # The example runs down the page, one column per line, so no row of this sheet looks like
    # a header followed by data: import never picks it up.
    for column in COLUMNS:
        row += 1
        required = "yes / ใช่" if column.key in REQUIRED else ""
        for c, value in enumerate((column.en, column.th, required, column.hint, column.example), 1):
            ws.cell(row=row, column=c, value=value).alignment = Alignment(wrap_text=True,
                                                                         vertical="top")
    for letter, width in zip("ABCDE", (26, 26, 16, 48, 28), strict=True):
        ws.column_dimensions[letter].width = width
