"""Exporting the registry: one row per agreement, grouped into a sheet per working group.

`export_sheets` is pure (registry and date in, rows out); `csv_bytes` renders them as one CSV
table; scheduler.sheets.workbook renders them as a workbook.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.dates.thaidate import format_date, years_between
from scheduler.registry.domain import Agreement, Partner, Registry, spell_start
from scheduler.sheets.cells import guard_csv_text, name_key
from scheduler.sheets.columns import ALL_COLUMNS, NO_GROUP_SHEET


@dataclass(frozen=True)
class ExportRow:
    """One agreement with its partner, as of the export's date: the partner's last activity
    (None: never), whether it is dormant, and the agreement's whole years (None: signed
    later)."""

    partner: Partner
    agreement: Agreement
    last_activity: dt.date | None
    dormant: bool
    years: int | None

    def values(self) -> list[Any]:
        """The cells, in ALL_COLUMNS order (dates as dates, years as int or None)."""
        p, a = self.partner, self.agreement
        return [
            a.local_party, p.name, p.name_th, p.city, p.country, a.kind.label,
            a.level or "", a.signed_on, a.expires_on, "; ".join(a.areas), a.contact_person,
            a.contact_email, a.notes, a.title,
            format_date(a.signed_on, "th"), self.years, self.last_activity,
            "yes" if self.dormant else "no", p.id, p.working_group or "",
        ]


@dataclass(frozen=True)
class ExportSheet:
    """One sheet: its `title` (unique, ≤ 31 characters, as Excel wants), the working group's
    id (None: partners without a group) and its rows."""

    title: str
    group: str | None
    rows: tuple[ExportRow, ...]


def export_sheets(registry: Registry, as_of: dt.date, after_days: int) -> list[ExportSheet]:
    """One sheet per working group (by name), then "No group" if any partner has none; partners
    by country and city, one row per agreement. Partners with no agreement have no row.
    A partner is dormant as of `as_of` after `after_days` days without activity."""
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
    """A sheet title Excel accepts, unique (case ignored) among `used`, which it joins."""
    base = re.sub(r"[\[\]:*?/\\]", "-", name).strip("' ")[:31] or "Sheet"
    title, n = base, 1
    while title.casefold() in used:
        n += 1
        title = f"{base[:27]} ({n})"
    used.add(title.casefold())
    return title


def csv_bytes(sheets: Sequence[ExportSheet]) -> bytes:
    """Every sheet's rows as one CSV table under the English header: UTF-8 with a BOM (so
    that Excel reads Thai right), CRLF line ends, dates as YYYY-MM-DD."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.en for c in ALL_COLUMNS])
    for sheet in sheets:
        for row in sheet.rows:
            writer.writerow([_csv_cell(v) for v in row.values()])
    return out.getvalue().encode("utf-8-sig")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    # A leading = + - @ would run as a formula in Excel; the CSV reader takes the guard off.
    return guard_csv_text(str(value))
