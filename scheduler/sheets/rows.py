"""Validating raw rows into typed rows: a partner as the file names it and one agreement.

Every row is read as a table whose keys are the column keys, through the shared problem
reader (`scheduler.problems.Fields`); a row with any problem is left out, and its problems are
kept so that the import refuses the whole file naming every one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial

from scheduler.problems import Fields, Problems
from scheduler.registry.domain import Agreement, AgreementKind
from scheduler.registry.validate import implausible_record_date
from scheduler.sheets.cells import (
    cell_text,
    parse_areas,
    parse_cell_date,
    parse_email,
    parse_kind,
    parse_level,
    safe_text,
)
from scheduler.sheets.countries import parse_country
from scheduler.sheets.reading import RawRow, ReadFile, Where, sheet_problems

# The longest text a column holds, in characters (the registry's own limit elsewhere).
_TEXT_LIMITS = {"local_party": 300, "name": 300, "name_th": 300, "city": 300,
                "contact_person": 300}


@dataclass(frozen=True)
class SheetRow:
    """One valid row: a partner (as named in the file: names, city, ISO country code) and one
    agreement with it. `partner_id` is the export's read-only "partner id", used only to
    settle a tie between partners of the same name."""

    where: Where
    name: str
    name_th: str
    city: str
    country: str
    agreement: Agreement
    partner_id: str = ""


def parse_rows(read: ReadFile, today: dt.date | None = None) -> tuple[list[SheetRow], Problems]:
    """Validate every row of `read`: the valid rows, and the problems of the others
    (collected, not raised). A signing date before 1900 or more than a year after `today`
    (when given) is a problem: a probable typo (SPEC "Spreadsheets of agreements")."""
    problems = sheet_problems(read.label)
    rows = [row for raw in read.rows
            if (row := _parse_row(read, raw, problems, today)) is not None]
    return rows, problems


def _text(fields: Fields, key: str, *, required: bool = False) -> str:
    return fields.parsed(key, partial(safe_text, limit=_TEXT_LIMITS.get(key)),
                         required=required) or ""


def _parse_row(read: ReadFile, raw: RawRow, problems: Problems,
               today: dt.date | None) -> SheetRow | None:
    before = len(problems)
    r = Fields(problems, "", raw.cells, where=read.at(raw.where))
    local_party = _text(r, "local_party", required=True)
    name = _text(r, "name", required=True)
    country = r.parsed("country", parse_country, required=True)
    kind = r.parsed("kind", parse_kind, required=True)
    level = r.parsed("level", parse_level)
    signed_on = r.parsed("signed_on", parse_cell_date, required=True)
    expires_on = r.parsed("expires_on", parse_cell_date)
    typo = implausible_record_date(signed_on, today) if signed_on else None
    if typo:
        r.problem("signed_on", typo)
    if signed_on and expires_on and expires_on < signed_on:
        r.problem("expires_on", f"{expires_on.isoformat()} is before signed on "
                  f"({signed_on.isoformat()})")
    agreement = Agreement(
        kind=kind or AgreementKind.MOU, signed_on=signed_on or dt.date.min,
        local_party=local_party, areas=r.parsed("areas", parse_areas) or (),
        expires_on=expires_on, level=level, contact_person=_text(r, "contact_person"),
        contact_email=r.parsed("contact_email", parse_email) or "", notes=_text(r, "notes"),
    )
    row = SheetRow(where=raw.where, name=name, name_th=_text(r, "name_th"),
                   city=_text(r, "city"), country=country or "", agreement=agreement,
                   partner_id=cell_text(raw.cells.get("partner_id")))
    return row if len(problems) == before else None
