"""Importing rows: matching partners, planning and applying an import, and its report.

1. `plan_import`: valid rows + a registry snapshot → an `ImportPlan` (partners matched or
   created, agreements new, updated or unchanged, problems found against the registry). Pure.
2. `apply_plan`: the plan → the database, in bulk, inside the caller's one write transaction.
3. `import_rows`: both in one transaction, refusing the whole file on any problem; its
   `ImportResult` is the report (a dry run's as well).

Agreements are matched by the same key as `load` (partner, kind, signing date, local party),
so importing a file twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from scheduler.db.models import PartnerRow
from scheduler.problems import Problems
from scheduler.registry.domain import Agreement, Partner, Registry, canonical_party
from scheduler.registry.store import load_registry, upsert_agreements, upsert_rows
from scheduler.services.audit import Actor, AuditAction, record
from scheduler.sheets.cells import name_key
from scheduler.sheets.reading import ReadFile, Where, refuse, sheet_problems
from scheduler.sheets.rows import SheetRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.db.database import Database

AgreementKey = tuple[str, str, dt.date, str]  # partner, kind, signed on, local party


class PartnerMatch(StrEnum):
    """How a row's partner was found."""

    NEW = "new"  # created for this row
    EARLIER_ROW = "new earlier"  # created for an earlier row of the file
    ENGLISH = "matched by English name"
    THAI = "matched by Thai name"


class AgreementMatch(StrEnum):
    """What a row's agreement is, against what is stored and the rows before it."""

    NEW = "new"
    UPDATED = "updated"  # fills in or changes a stored agreement
    UNCHANGED = "unchanged"
    REPEATED = "repeated"  # the same as an earlier row of the file: skipped


@dataclass(frozen=True)
class RowOutcome:
    """What happens to one row: its partner (`partner_id`, and how it was found) and its
    agreement; `group` is the partner's working group id (None: no group). `created_at` is
    the row that created the partner (EARLIER_ROW), `same_as` the row repeated (REPEATED)."""

    where: Where
    partner_id: str
    match: PartnerMatch
    status: AgreementMatch
    row: SheetRow
    group: str | None
    created_at: Where | None = None
    same_as: Where | None = None

    @property
    def partner(self) -> str:
        """How the partner was found, as a report says it: "new", "new (row 2)", "matched by
        English name"."""
        if self.match is PartnerMatch.EARLIER_ROW:
            return f"new ({self.created_at})"
        return self.match.value

    @property
    def agreement(self) -> str:
        """The agreement's status, as a report says it: "new", "updated", "unchanged",
        "same as row 2"."""
        if self.status is AgreementMatch.REPEATED:
            return f"same as {self.same_as}"
        return self.status.value


@dataclass
class ImportPlan:
    """What an import of the file `label` would do. `agreements` pairs a partner id with the
    agreement to upsert; `problems`, found against the registry, refuse the file."""

    label: str
    new_partners: list[Partner] = field(default_factory=list)
    agreements: list[tuple[str, Agreement]] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: Problems = field(init=False)

    def __post_init__(self) -> None:
        self.problems = sheet_problems(self.label)

    def at(self, where: Where) -> str:
        """How messages place a row of this file: `agreements.csv: row 3`."""
        return f"{self.label}: {where}"

    def counts(self) -> dict[str, int]:
        """Counts by outcome: "rows", "partners new", "partners matched", "agreements new",
        "agreements updated", "agreements unchanged" (this includes rows repeated in the
        file)."""
        matched = (PartnerMatch.ENGLISH, PartnerMatch.THAI)
        partners = {o.partner_id for o in self.outcomes if o.match in matched}
        statuses = [o.status for o in self.outcomes]
        new, updated = statuses.count(AgreementMatch.NEW), statuses.count(AgreementMatch.UPDATED)
        return {
            "rows": len(self.outcomes),
            "partners new": len(self.new_partners),
            "partners matched": len(partners),
            "agreements new": new,
            "agreements updated": updated,
            "agreements unchanged": len(statuses) - new - updated,
        }


# Optional agreement fields: a value in the file fills in or replaces what is stored; an empty
# cell never erases it (the rule of store.upsert_agreements).
_OPTIONAL_FIELDS = ("areas", "expires_on", "level", "title", "contact_person", "contact_email",
                    "notes")


def _changes(old: Agreement, new: Agreement) -> bool:
    return any(getattr(new, f) not in (None, "", ()) and getattr(new, f) != getattr(old, f)
               for f in _OPTIONAL_FIELDS)


class _Planner:
    """Matches rows one by one against the registry and the rows before them."""

    def __init__(self, registry: Registry, label: str) -> None:
        self.registry = registry
        self.plan = ImportPlan(label)
        self.partners: dict[str, Partner] = dict(registry.partners)
        self.ids = PartnerIds(registry.partners)
        self.by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.by_name_th: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.countries_by_name: dict[str, set[str]] = defaultdict(set)
        self.created_at: dict[str, Where] = {}
        self.agreements: dict[AgreementKey, Agreement] = {}
        self.in_file: dict[AgreementKey, tuple[Where, Agreement]] = {}
        for partner in registry.partners.values():
            self._index(partner)
            for a in partner.agreements:
                party = canonical_party(a.local_party, registry.local_parties.values())
                self.agreements[(partner.id, a.kind.value, a.signed_on, party)] = a

    def _index(self, partner: Partner) -> None:
        self.by_name[(partner.country, name_key(partner.name))].append(partner.id)
        if partner.name_th:
            self.by_name_th[(partner.country, name_key(partner.name_th))].append(partner.id)
        self.countries_by_name[name_key(partner.name)].add(partner.country)

    def add(self, row: SheetRow) -> None:
        """Plan `row`: an outcome, or a problem (a name tie, a conflicting repeat)."""
        resolved = self._partner(row)
        if resolved is None:
            return
        partner_id, match = resolved
        found = self._agreement(row, partner_id)
        if found is None:
            return
        status, same_as = found
        self.plan.outcomes.append(RowOutcome(
            row.where, partner_id, match, status, row, self.partners[partner_id].working_group,
            self.created_at.get(partner_id) if match is PartnerMatch.EARLIER_ROW else None,
            same_as,
        ))

    def _partner(self, row: SheetRow) -> tuple[str, PartnerMatch] | None:
        english = self.by_name.get((row.country, name_key(row.name)), [])
        thai = self.by_name_th.get((row.country, name_key(row.name_th)), []) if row.name_th else []
        candidates = list(dict.fromkeys([*english, *thai]))
        if len(candidates) > 1 and row.partner_id in candidates:
            candidates = [row.partner_id]
        if len(candidates) > 1:
            self.plan.problems.add("", f'"{row.name}" ({row.country}) matches several '
                                   f"partners: {', '.join(candidates)} (see `sistercity "
                                   "partners`)", where=self.plan.at(row.where))
            return None
        if candidates:
            found = candidates[0]
            if found in self.created_at:
                return found, PartnerMatch.EARLIER_ROW
            return found, PartnerMatch.ENGLISH if found in english else PartnerMatch.THAI
        return self._create(row), PartnerMatch.NEW

    def _create(self, row: SheetRow) -> str:
        partner_id = self.ids.allocate(row.name, row.country)
        group = self.registry.group_for_country(row.country)
        partner = Partner(id=partner_id, name=row.name, name_th=row.name_th, city=row.city,
                          country=row.country, working_group=group)
        where = self.plan.at(row.where)
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

    def _agreement(self, row: SheetRow,
                   partner_id: str) -> tuple[AgreementMatch, Where | None] | None:
        # The same local party under its Thai name is the same party (SPEC "Dataset file").
        a = replace(row.agreement, local_party=canonical_party(
            row.agreement.local_party, self.registry.local_parties.values()))
        key = (partner_id, a.kind.value, a.signed_on, a.local_party)
        earlier = self.in_file.get(key)
        if earlier is not None:
            if earlier[1] == a:
                return AgreementMatch.REPEATED, earlier[0]
            self.plan.problems.add("", "the same agreement (partner, kind, signed on, local "
                                   f"party) as {earlier[0]}, with different values",
                                   where=self.plan.at(row.where))
            return None
        self.in_file[key] = (row.where, a)
        old = self.agreements.get(key)
        self.plan.agreements.append((partner_id, a))
        if old is None:
            return AgreementMatch.NEW, None
        return (AgreementMatch.UPDATED if _changes(old, a) else AgreementMatch.UNCHANGED), None


def plan_import(label: str, rows: Iterable[SheetRow], registry: Registry) -> ImportPlan:
    """Match each row's partner (by country and English or Thai name, case and spacing
    ignored), else create it; classify each agreement against what is stored. Pure."""
    planner = _Planner(registry, label)
    for row in rows:
        planner.add(row)
    return planner.plan


class PartnerIds:
    """Allocates ids for new partners: the slug of the English name, with -2, -3… on
    collision; `<country>-1`, `-2`… when the name has no ASCII letters or digits.

    Amortised O(1) per id: the next suffix to try is remembered per slug, so n names with one
    slug cost O(n) tries in all, not O(n²) (an import of 40,000 new rows held the write lock
    for a minute). `tries` counts the candidates looked at, for tests of that bound.
    """

    def __init__(self, taken: Iterable[str]) -> None:
        self._used = set(taken)
        self._next: dict[str, int] = {}  # slug → the next suffix number to try
        self.tries = 0

    def allocate(self, name: str, country: str) -> str:
        """A new id for a partner called `name` in `country`, never given before."""
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80].strip("-")
        base = slug or country.lower()
        n = self._next.get(base, 1)
        while True:
            self.tries += 1
            candidate = base if slug and n == 1 else f"{base}-{n}"
            n += 1
            if candidate not in self._used:
                break
        self._next[base] = n
        self._used.add(candidate)
        return candidate


def new_partner_id(name: str, country: str, taken: Iterable[str]) -> str:
    """The id `PartnerIds(taken)` gives first to a partner called `name` in `country`."""
    return PartnerIds(taken).allocate(name, country)


# -- writing the plan ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportCounts:
    """What an import wrote (or, for a dry run, would write), in rows."""

    partners_created: int
    agreements_created: int
    agreements_updated: int
    agreements_unchanged: int


def apply_plan(session: Session, plan: ImportPlan) -> ImportCounts:
    """Write the plan in bulk (two statements or so, whatever the size). Never deletes."""
    # working_group stays empty: a partner follows the group that lists its country, as one
    # loaded from a dataset file without an explicit group does.
    everything = frozenset({"id", "name", "name_th", "country", "city"})
    created = upsert_rows(session, PartnerRow, "id", (
        ({"id": p.id, "name": p.name, "name_th": p.name_th, "country": p.country,
          "city": p.city}, everything) for p in plan.new_partners
    ))
    counts = upsert_agreements(session, plan.agreements)
    return ImportCounts(created.created, counts.created, counts.updated,
                        counts.unchanged + sum(o.status is AgreementMatch.REPEATED
                                               for o in plan.outcomes))


@dataclass
class ImportResult:
    """The report of an import: the plan, what was written, whether it was a dry run, and
    warnings (ignored columns, partners without a group, names seen in another country)."""

    plan: ImportPlan
    counts: ImportCounts
    dry_run: bool
    warnings: list[str]

    def summary(self) -> str:
        """One line: rows, partners new and matched, agreements new, updated, unchanged."""
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
                       if o.match is PartnerMatch.NEW
                       else f"partner {o.partner_id} ({o.partner})")
            agreement = _STATUS_TEXT.get(o.status, f"{o.agreement}, skipped")
            lines.append(f"{o.where}: {r.name} ({r.country}): {partner}; "
                         f"{a.kind.label} signed {a.signed_on.isoformat()} by "
                         f"{a.local_party}: {agreement}")
        return lines

    def created(self) -> list[str]:
        """One line per new partner: id, name, country and working group."""
        return [f"new partner {p.id}: {p.name} ({p.country}), group {p.working_group or '(none)'}"
                for p in self.plan.new_partners]


_STATUS_TEXT = {AgreementMatch.NEW: "new agreement",
                AgreementMatch.UPDATED: "fills in or changes the stored agreement",
                AgreementMatch.UNCHANGED: "already recorded, skipped"}


def import_rows(db: Database, read: ReadFile, rows: list[SheetRow], problems: Problems,
                *, dry_run: bool, by: Actor | None = None) -> ImportResult:
    """Resolve and write in ONE write transaction (a dry run only reads). Any problem, found in
    the file (`problems`, from `parse_rows`) or against the registry, refuses the whole file.
    A real import is recorded in the audit log as `by`'s (when given), with its counts.

    Raises:
        DataError: every problem, in file order; nothing is written.
    """
    context = db.read() if dry_run else db.write(lock="registry")
    with context as session:
        plan = plan_import(read.label, rows, load_registry(session))
        if problems or plan.problems:
            raise refuse(read, problems, plan.problems)
        if dry_run:
            p = plan.counts()
            counts = ImportCounts(p["partners new"], p["agreements new"],
                                  p["agreements updated"], p["agreements unchanged"])
        else:
            counts = apply_plan(session, plan)
            if by is not None:
                record(session, by, AuditAction.IMPORT, read.label, asdict(counts))
    return ImportResult(plan, counts, dry_run, [*read.warnings, *plan.warnings])


