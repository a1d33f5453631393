"""`sistercity template | import | export`: spreadsheets of agreements.

Parse → call → print: the operations are in scheduler.sheets.operations. Only click and the
standard library are imported here at load time, so that `sistercity --help` stays fast. Bad
input raises UserError/DataError, which the `sistercity` group prints without a traceback and
turns into exit status 2.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from scheduler.cli.common import F, as_of_option

if TYPE_CHECKING:
    from scheduler.cli.common import Context

FILE = click.Path(path_type=Path, dir_okay=False)
SHOW_CREATED = 50  # a real import lists this many new partners; --dry-run lists every row


def _context() -> Context:
    return cast("Context", click.get_current_context().obj)


def _force_option(f: F) -> F:
    """The `--force` flag: replace FILE when it exists (else the command refuses, exit 2)."""
    return click.option("--force", is_flag=True,
                        help="Replace FILE if it exists (by default an existing file is kept "
                             "and nothing is written).")(f)


@click.command("template")
@click.argument("file", type=FILE)
@_force_option
def template_command(file: Path, force: bool) -> None:
    """Write an empty agreements workbook (FILE.xlsx) to hand out to local bodies."""
    from scheduler.sheets.operations import write_template

    write_template(file, force=force)
    click.echo(f"wrote {file}: fill in the sheet \"Agreements\" (see \"Instructions\"), then "
               f"`sistercity import {file.name}`")


@click.command("import")
@click.argument("file", type=FILE)
@click.option("--dry-run", is_flag=True, help="Print what would be created, matched and "
              "skipped; change nothing.")
def import_command(file: Path, dry_run: bool) -> None:
    """Import agreements from FILE (.xlsx, .xls, .ods or .csv); one bad row refuses the whole
    file."""
    from scheduler.sheets.operations import import_file

    c = _context()
    result = import_file(c.database(), file, dry_run=dry_run, today=c.today(), by=c.actor())
    for warning in result.warnings:
        click.echo(f"sistercity: warning: {warning}", err=True)
    lines = result.details() if dry_run else result.created()
    shown = lines if dry_run else lines[:SHOW_CREATED]
    for line in shown:
        click.echo(f"  {line}")
    if len(shown) < len(lines):
        click.echo(f"  … and {len(lines) - len(shown)} more new partners (`sistercity partners`)")
    click.echo(result.summary())


@click.command("export")
@click.argument("file", type=FILE)
@_force_option
@as_of_option("Years, last activity and dormancy as of this date (YYYY-MM-DD; a year "
              "≥ 2400 is Buddhist Era). Default: today.")
def export_command(file: Path, force: bool, as_of: dt.date | None) -> None:
    """Write every agreement to FILE (.xlsx: a sheet per working group; or .csv)."""
    from scheduler.sheets.operations import export_file

    c = _context()
    result = export_file(c.database(), file, as_of=as_of or c.today(),
                         after_days=c.settings.jobs.dormant_after_days, force=force)
    sheets = f" on {len(result.sheets)} sheets" if file.suffix.lower() == ".xlsx" else ""
    click.echo(f"wrote {file}: {result.rows} agreements of {result.partners_listed} partners"
               + sheets)
    if result.partners_left_out:
        click.echo(f"({result.partners_left_out} partners without an agreement are not listed)")


def register_sheets(cli: click.Group) -> None:
    """Add `template`, `import` and `export` to the `sistercity` group."""
    for command in (template_command, import_command, export_command):
        cli.add_command(command)
