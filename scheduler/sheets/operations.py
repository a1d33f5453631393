"""The spreadsheet operations the CLI calls, and a web app will call the same way:
write the template, import a file (a dry run first, if wished), export the registry.

Each returns what happened as values; printing (or a page) is the caller's business.
Bad input raises UserError or DataError (exit status 2 at the command line, a 4xx page on the
web); nothing is written then.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scheduler.errors import UserError
from scheduler.files import refuse_overwrite, write_or_fail
from scheduler.registry.store import load_registry
from scheduler.services.audit import Actor
from scheduler.sheets.exporting import ExportSheet, csv_bytes, export_sheets
from scheduler.sheets.importing import ImportResult, import_rows
from scheduler.sheets.reading import ReadFile, read_data, read_file
from scheduler.sheets.rows import parse_rows
from scheduler.sheets.workbook import export_workbook, template_workbook

if TYPE_CHECKING:
    from scheduler.db.database import Database


def write_template(path: Path, *, force: bool = False) -> None:
    """Write the empty agreements workbook to `path` (whole or not at all); an existing file
    is replaced only with `force` (it may be a filled-in workbook: SPEC "Spreadsheets").

    Raises:
        UserError: `path` is not named *.xlsx, exists (without `force`), or cannot be written
            (`PATH: cannot write: …`).
    """
    if path.suffix.lower() != ".xlsx":
        raise UserError(f"{path.name}: the template is an Excel workbook: name it *.xlsx")
    refuse_overwrite(path, force)
    write_or_fail(path, template_workbook())


def import_file(db: Database, path: Path, *, dry_run: bool,
                today: dt.date | None = None, by: Actor | None = None) -> ImportResult:
    """Import the agreements of the spreadsheet at `path` (.xlsx, .xls, .ods or .csv) into
    `db`, in one write transaction (`dry_run`: only read, and report what would be done).
    A signing date more than a year after `today` (when given) or before 1900 is a typo. The
    import is audited as `by`'s (when given).

    Raises:
        DataError: the file cannot be read, has a wrong header, or has any problem in a row
            or against the registry; it lists every problem, and nothing is changed.
    """
    # An unreadable file or a wrong header is refused before the database is opened; row
    # problems are refused together with those found against the registry.
    return _import(db, read_file(path), dry_run=dry_run, today=today, by=by)


def import_upload(db: Database, name: str, data: bytes, *, dry_run: bool,
                  today: dt.date | None = None, by: Actor | None = None) -> ImportResult:
    """`import_file` for the bytes of an uploaded file called `name` (its suffix says which
    kind of spreadsheet it is).

    Raises:
        DataError: as `import_file`.
    """
    return _import(db, read_data(name, data), dry_run=dry_run, today=today, by=by)


def _import(db: Database, read: ReadFile, *, dry_run: bool,
            today: dt.date | None, by: Actor | None) -> ImportResult:
    rows, problems = parse_rows(read, today)
    return import_rows(db, read, rows, problems, dry_run=dry_run, by=by)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: its sheets (one for a CSV file's whole table), how many
    partners it lists, and how many it leaves out for having no agreement."""

    sheets: tuple[ExportSheet, ...]
    partners_listed: int
    partners_left_out: int

    @property
    def rows(self) -> int:
        """The agreements written, one row each."""
        return sum(len(s.rows) for s in self.sheets)


def export_file(db: Database, path: Path, *, as_of: dt.date, after_days: int,
                force: bool = False) -> ExportResult:
    """Write every agreement to `path`: .xlsx (a sheet per working group) or .csv. Years,
    last activity and dormancy (after `after_days` days without activity) are as of `as_of`.
    An existing file is replaced only with `force`.

    Raises:
        UserError: `path` is neither .xlsx nor .csv, exists (without `force`), or cannot be
            written.
    """
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise UserError(f"{path.name}: expected a .xlsx or .csv file name")
    refuse_overwrite(path, force)
    with db.read() as session:
        registry = load_registry(session)
    sheets = export_sheets(registry, as_of, after_days)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_or_fail(path, csv_bytes(sheets))
    else:
        write_or_fail(path, export_workbook(sheets))
    listed = len({r.partner.id for s in sheets for r in s.rows})
    return ExportResult(tuple(sheets), listed, len(registry.partners) - listed)
