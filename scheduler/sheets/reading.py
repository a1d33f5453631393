"""Reading a spreadsheet (.xlsx, .xls, .ods or .csv) into raw rows: cells by column key, not
yet validated.

.xlsx is read with openpyxl (which also writes the template and the export); .xls and .ods,
which openpyxl cannot read, with python-calamine (Excel 97-2003 files are still what many
offices keep, and LibreOffice saves .ods). A CSV is UTF-8, or else Windows-874: what Thai
Excel writes as "CSV (Comma delimited)".

The header row is found wherever it is among the first rows (title rows above it are fine);
rows that only repeat column names, such as the Thai header row, are skipped. A file that
cannot be read, or whose header is missing or wrong, is refused before any row is looked at.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scheduler.errors import DataError
from scheduler.problems import Problems
from scheduler.sheets.cells import cell_text, unguard_csv_text
from scheduler.sheets.columns import (
    AGREEMENT_KEYS,
    COLUMN,
    COLUMN_NAMES,
    HEADER_KEYS,
    HEADER_SCAN_ROWS,
    ORDER,
    REQUIRED,
    header_labels,
    label_key,
    letter,
)


@dataclass(frozen=True, order=True)
class Where:
    """A row of a file: `sheet_index` (0-based; 0 for CSV) and `row` (1-based) order rows as
    the file does; `sheet` is the sheet's name, None for CSV."""

    sheet_index: int
    row: int
    sheet: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"sheet {self.sheet}, row {self.row}" if self.sheet else f"row {self.row}"


@dataclass(frozen=True)
class RawRow:
    """One non-empty row below a header: `cells` maps a column key to the cell's value as
    read (str from CSV; str, number, datetime or None from .xlsx)."""

    where: Where
    cells: dict[str, Any]


@dataclass
class ReadFile:
    """What was read from one file, before the rows are validated. `label` is the file's name
    as messages show it; `sheets` lists the sheets (or the file) that held a header."""

    label: str
    rows: list[RawRow] = field(default_factory=list)
    problems: Problems = field(init=False)  # the file's or a header's: fatal
    warnings: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.problems = sheet_problems(self.label)

    def at(self, where: Where) -> str:
        """How messages place a row: `agreements.xlsx: sheet Agreements, row 7`."""
        return f"{self.label}: {where}"


def sheet_problems(label: str) -> Problems:
    """A problem list for the file `label` whose keys are column keys, shown as
    `column "signed on"`."""
    return Problems(label, columns=COLUMN_NAMES)


def refuse(read: ReadFile, *problem_lists: Problems) -> DataError:
    """One DataError listing the problems of `problem_lists` in file order: by sheet and row,
    then by column; problems of the whole file first."""
    places = {read.at(raw.where): (raw.where.sheet_index, raw.where.row) for raw in read.rows}
    everything = [p for problems in problem_lists for p in problems]
    everything.sort(key=lambda p: (places.get(p.where, (-1, 0)), ORDER.get(p.key, -1)))
    return DataError(str(p) for p in everything)


def read_file(path: Path) -> ReadFile:
    """Read the agreement rows of a .xlsx, .xls, .ods or .csv file; the rows are checked by
    `parse_rows`.

    Raises:
        DataError: the file has another suffix, cannot be read, is not a workbook (or a CSV in
            UTF-8 or Windows-874), or has no (or a wrong) header row.
    """
    _check_suffix(path.name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError([f"{path}: cannot read: {exc.strerror}"]) from None
    return read_data(path.name, data)


#: The spreadsheet formats import reads, by suffix (SPEC "Spreadsheets of agreements").
SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv")
# Read by python-calamine; the other workbooks by openpyxl.
_CALAMINE_SUFFIXES = (".xls", ".ods")
# Thai Excel saves "CSV (Comma delimited)" in the Windows code page for Thai.
_THAI_CODE_PAGE = "cp874"


def _check_suffix(label: str) -> str:
    suffix = Path(label).suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError([f"{label}: expected a .xlsx, .xls, .ods or .csv file"])
    return suffix


def read_data(label: str, data: bytes) -> ReadFile:
    """`read_file` for the bytes of an upload named `label` (its suffix says the format).

    Raises:
        DataError: as `read_file`.
    """
    suffix = _check_suffix(label)
    result = ReadFile(label)
    if suffix == ".csv":
        _read_csv(data, result)
    elif suffix in _CALAMINE_SUFFIXES:
        _read_calamine(data, result, suffix)
    else:
        _read_xlsx(data, result)
    if not result.sheets and not result.problems:
        names = ", ".join(f'"{COLUMN[k].en}"' for k in REQUIRED)
        result.problems.add("", f"no header row naming the columns {names} "
                                "(see `sistercity template`)")
    if result.problems:
        raise refuse(result, result.problems)
    return result


def _read_csv(data: bytes, result: ReadFile) -> None:
    text = _decode_csv(data, result)
    if text is None:
        return
    # Excel writes ";" or tab-separated files in some locales: take the first that has a header.
    for delimiter in (",", ";", "\t"):
        try:
            # Undo export's formula guard here, where the format is known: in a workbook a
            # leading apostrophe is the text's own (Excel keeps its quote prefix apart).
            records = [[unguard_csv_text(cell.strip()) for cell in record] for record in
                       csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
        except csv.Error as exc:
            result.problems.add("", f"not a CSV file: {exc}")
            return
        attempt = ReadFile(result.label)
        _read_grid(enumerate(records, 1), attempt, 0, None)
        if attempt.sheets:
            result.rows, result.problems = attempt.rows, attempt.problems
            result.warnings.extend(attempt.warnings)  # after the decoding's own
            result.sheets = attempt.sheets
            return


def _decode_csv(data: bytes, result: ReadFile) -> str | None:
    """The CSV's text: UTF-8 (with or without BOM), else Windows-874 when that decodes it (a
    warning says so); None, with a problem, when neither does."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode(_THAI_CODE_PAGE)
    except UnicodeDecodeError:
        result.problems.add("", f"neither UTF-8 nor Windows-874 text (byte {utf8_error.start}): "
                                'save it from Excel as "CSV UTF-8 (Comma delimited)"')
        return None
    result.warnings.append(f"{result.label}: not UTF-8: read as Windows-874 (Thai Excel's CSV)")
    return text


def _read_calamine(data: bytes, result: ReadFile, suffix: str) -> None:
    # python-calamine is loaded only when such a file is read, like openpyxl.
    from python_calamine import CalamineWorkbook

    kind = "an Excel 97-2003 .xls" if suffix == ".xls" else "an OpenDocument .ods"
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        # Date cells arrive as date/datetime; empty cells as "".
        sheets = [(str(name), workbook.get_sheet_by_name(name).to_python())
                  for name in workbook.sheet_names]
    except Exception as exc:  # a damaged or foreign file: calamine raises several kinds
        result.problems.add("", f"not {kind} workbook ({exc})")
        return
    for index, (name, rows) in enumerate(sheets):
        _read_grid(enumerate(rows, 1), result, index, name)


def _read_xlsx(data: bytes, result: ReadFile) -> None:
    # openpyxl is slow to load: only when a workbook is read. Its ExcelReader is what
    # load_workbook runs; kept at hand to see which listed sheets it could not find.
    from openpyxl.reader.excel import ExcelReader

    try:
        reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
        with warnings.catch_warnings():  # what it warns of is reported below, by name
            warnings.simplefilter("ignore")
            reader.read()
        workbook = reader.wb
        missing = [sheet.name for sheet, rel in reader.parser.find_sheets()
                   if rel.target not in reader.valid_files]
    except Exception as exc:  # a damaged or foreign file: openpyxl raises all sorts
        result.problems.add("", f"not an Excel .xlsx workbook ({exc})")
        return
    if missing:  # openpyxl skips them without a word: their rows would be lost
        workbook.close()
        names = ", ".join(f'"{name}"' for name in missing)
        result.problems.add("", f"the workbook is damaged: sheet {names} is listed but missing")
        return
    try:
        for index, sheet in enumerate(workbook.worksheets):
            sheet.reset_dimensions()  # some writers record wrong sizes; read every row
            # Date cells arrive as datetimes (openpyxl reads their number format).
            damage: list[Exception] = []
            rows = _intact(sheet.iter_rows(min_row=1, min_col=1, values_only=True), damage)
            _read_grid(enumerate(rows, 1), result, index, str(sheet.title))
            if damage:
                result.problems.add("", f'sheet "{sheet.title}" is damaged and cannot be read '
                                        f"({type(damage[0]).__name__}: {damage[0]})")
                return
    finally:
        workbook.close()


def _intact(rows: Iterator[tuple[Any, ...]], damage: list[Exception]) -> Iterator[tuple[Any, ...]]:
    """The rows of a sheet until one cannot be read; that fault is put in `damage`.

    In read-only mode openpyxl parses a sheet while it is iterated, so a damaged sheet (cut
    XML, a bad zip member) raises only then, with any of ParseError, BadZipFile, KeyError,
    zlib.error, ValueError…; only the reading is guarded, not what is done with the rows.
    """
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # a damaged file: openpyxl raises all sorts
            damage.append(exc)
            return
        yield row


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
    """The column key of each header cell by position, when the row is a header (it names
    the HEADER_KEYS columns); problems and warnings about it go to `result`."""
    labels = header_labels()
    found: dict[int, str] = {}
    unknown: list[str] = []
    for i, value in enumerate(cells):
        text = cell_text(value)
        key = labels.get(label_key(text)) if text else None
        if key is not None:
            found[i] = key
        elif text:
            unknown.append(text)
    if not all(k in found.values() for k in HEADER_KEYS):
        return None
    at = result.at(where)
    seen: dict[str, int] = {}
    for i, key in found.items():
        if key in seen:
            result.problems.add("", f'column "{COLUMN[key].en}" appears twice (columns '
                                    f"{letter(seen[key])} and {letter(i)})", where=at)
        seen[key] = i
    for key in REQUIRED:
        if key not in seen:
            result.problems.add("", f'the header has no column "{COLUMN[key].en}"', where=at)
    if unknown:
        result.warnings.append(f"{at}: ignored columns not known to sistercity: "
                               + ", ".join(f'"{u}"' for u in unknown))
    return found


def _raw_row(cells: Sequence[Any], header: dict[int, str], where: Where) -> RawRow | None:
    """The row's cells by column key; None for an empty row or one that repeats the column
    names (the Thai header row)."""
    values = {key: cells[i] if i < len(cells) else None for i, key in header.items()}
    texts = {k: cell_text(v) for k, v in values.items() if k in AGREEMENT_KEYS}
    if not any(texts.values()):
        return None
    labels = header_labels()
    if all(labels.get(label_key(t)) == k for k, t in texts.items() if t):
        return None
    return RawRow(where, values)
