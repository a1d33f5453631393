"""Registry operations a user asks for: list partners with their dormancy, show one, record an
activity, load dataset files.

The CLI and the web app call these; each takes the database (and settings or the date it needs,
passed in: nothing here reads the clock) and returns frozen values. Bad input raises UserError
(exit status 2 on the command line). Operations that change the registry are where audit
entries will be written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scheduler.db.database import Database
from scheduler.db.models import PartnerRow
from scheduler.errors import UserError
from scheduler.registry.dataset import read_files
from scheduler.registry.domain import Activity, Partner, quiet_since, spell_start
from scheduler.registry.store import (
    UpsertCounts,
    add_activities,
    known_ids,
    load_registry,
    upsert_batch,
)
from scheduler.registry.validate import unsafe_text


@dataclass(frozen=True)
class AgreementSummary:
    """One agreement as listed: kind (AgreementKind value), signing date, who signed here, and
    the expiry date or None."""

    kind: str
    signed_on: dt.date
    local_party: str
    expires_on: dt.date | None


@dataclass(frozen=True)
class PartnerSummary:
    """One partner as of a date: identity, working group id (or None), agreements, the last
    activity on or before that date, the date silence is counted from, and dormancy."""

    id: str
    name: str
    name_th: str
    country: str
    city: str
    working_group: str | None
    agreements: tuple[AgreementSummary, ...]
    last_activity: dt.date | None
    quiet_since: dt.date | None
    dormant: bool

    def to_json(self) -> dict[str, Any]:
        """The SPEC's `partners --json` object: dates ISO (CE), null where absent."""
        return {
            "id": self.id,
            "name": self.name,
            "name_th": self.name_th,
            "country": self.country,
            "city": self.city,
            "working_group": self.working_group,
            "agreements": [
                {
                    "kind": a.kind,
                    "signed_on": a.signed_on.isoformat(),
                    "local_party": a.local_party,
                    "expires_on": _iso(a.expires_on),
                }
                for a in self.agreements
            ],
            "last_activity": _iso(self.last_activity),
            "quiet_since": _iso(self.quiet_since),
            "dormant": self.dormant,
        }


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def summarise(partner: Partner, as_of: dt.date, dormant_after_days: int) -> PartnerSummary:
    """`partner` as of `as_of` (local date) under the dormancy rule of `dormant_after_days`."""
    return PartnerSummary(
        id=partner.id,
        name=partner.name,
        name_th=partner.name_th,
        country=partner.country,
        city=partner.city,
        working_group=partner.working_group,
        agreements=tuple(
            AgreementSummary(a.kind.value, a.signed_on, a.local_party, a.expires_on)
            for a in partner.agreements
        ),
        last_activity=partner.last_activity_on(as_of),
        quiet_since=quiet_since(partner, as_of),
        dormant=spell_start(partner, as_of, dormant_after_days) is not None,
    )


def list_partners(
    db: Database, *, as_of: dt.date, dormant_after_days: int
) -> list[PartnerSummary]:
    """Every partner in registry order, as of `as_of` (a local date), dormant when quiet for
    `dormant_after_days` calendar days or more."""
    with db.read() as session:
        registry = load_registry(session)
    return [summarise(p, as_of, dormant_after_days) for p in registry.partners.values()]


def show_partner(
    db: Database, partner_id: str, *, as_of: dt.date, dormant_after_days: int
) -> PartnerSummary:
    """One partner by id, as `list_partners` describes it. UserError when there is none."""
    with db.read() as session:
        registry = load_registry(session)
    partner = registry.partners.get(partner_id)
    if partner is None:
        raise UserError(f'unknown partner "{partner_id}" (see `sistercity partners`)')
    return summarise(partner, as_of, dormant_after_days)


@dataclass(frozen=True)
class ActivityRecorded:
    """The outcome of `record_activity`: what was stored, and False in `created` when the same
    (partner, date, title) was already recorded (nothing changed)."""

    partner_id: str
    date: dt.date
    title: str
    created: bool


def record_activity(
    db: Database, partner_id: str, *, day: dt.date, title: str, kind: str = "other"
) -> ActivityRecorded:
    """Record an activity with a partner (by id) on `day`; it ends a dormant spell. `title` is
    stored stripped. UserError for an empty or unsafe title or kind, or an unknown partner."""
    for option, value in (("--title", title), ("--kind", kind)):
        reason = unsafe_text(value)
        if reason or not value.strip():
            raise UserError(f"{option}: {reason or 'must not be empty'}")
    title = title.strip()
    with db.write(lock="registry") as session:
        if session.get(PartnerRow, partner_id) is None:
            raise UserError(f'unknown partner "{partner_id}" (see `sistercity partners`)')
        counts = add_activities(session, [(partner_id, Activity(day, title, kind))])
    return ActivityRecorded(partner_id, day, title, created=bool(counts.created))


def load_dataset(
    db: Database, files: Sequence[Path], *, today: dt.date | None = None
) -> Mapping[str, UpsertCounts]:
    """Validate dataset `files`, then upsert them by id, all or nothing. Returns the counts
    per record type (partners, contacts, …). DataError (a UserError) lists every problem;
    with `today`, that includes signing or activity dates far after it (`read_files`)."""
    with db.write(lock="registry") as session:
        batch = read_files(files, known_ids(session), today=today)
        return upsert_batch(session, batch)
