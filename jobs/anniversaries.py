"""Agreement anniversaries: every agreement's yearly signing date, from its first anniversary.

Recipients: the partner's group lead; the consulate contact of the partner's country, or the
MFA contact where there is none; every staff contact. Every fifth year is marked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from jobs.common import partner_view
from scheduler.dates.thaidate import anniversary
from scheduler.planning import (
    JobSpec,
    Notice,
    PlanContext,
    Recipient,
    RecipientSet,
    plan_items,
    search_window,
    short_hash,
    staged,
)
from scheduler.registry.domain import Agreement, Partner

NAME = "anniversaries"
# Readers of the formal letter (SPEC "Emails"): a recorded activity does not stop it.
EXTERNAL_ROLES = frozenset({"consulate", "mfa"})


def anniversaries_between(
    agreement: Agreement, start: dt.date, end: dt.date
) -> Iterator[tuple[dt.date, int]]:
    """(date, years) of the agreement's anniversaries in [start, end], from the first, and
    none after its `expires_on` (SPEC "Stages": an expired agreement is listed for review
    instead of celebrated)."""
    for year in range(max(start.year, agreement.signed_on.year + 1), end.year + 1):
        day = anniversary(agreement.signed_on, year)
        if agreement.expires_on is not None and agreement.expires_on < day:
            break
        if start <= day <= end:
            yield day, year - agreement.signed_on.year


def anniversary_view(
    partner: Mapping[str, Any], agreement: Agreement, day: dt.date, years: int
) -> dict[str, Any]:
    """What the templates show of one anniversary (also in meeting agendas)."""
    return {
        "partner": partner,
        "agreement_kind": agreement.kind.value,
        "signed_on": agreement.signed_on,
        "local_party": agreement.local_party,
        "areas": list(agreement.areas),
        "date": day,
        "years": years,
        "milestone": years % 5 == 0,
    }


def agreement_item(partner: Partner, agreement: Agreement) -> str:
    """The notices' item of one agreement's anniversaries (and of its action links):
    "<partner id>/<kind>/<signed on>/<hash of the local party>"."""
    return (f"{partner.id}/{agreement.kind.value}/{agreement.signed_on.isoformat()}"
            f"/{short_hash(agreement.local_party)}")


def _internal(recipient: Recipient) -> bool:
    return not set(recipient.roles) <= EXTERNAL_ROLES


def plan(ctx: PlanContext) -> list[Notice]:
    """Notices for every agreement anniversary whose stage (`anniversary_lead_days` before
    the date) is due as of `ctx.as_of` and not yet queued; one per recipient. Context keys:
    the partner, agreement, years, milestone, route and who else is told."""
    registry = ctx.registry
    lead_days = ctx.settings.anniversary_lead_days
    start, end = search_window(ctx.as_of, lead_days)
    staff = registry.staff()
    acks = ctx.acknowledgements

    def plan_partner(partner: Partner) -> list[Notice]:
        if not partner.agreements:
            return []
        recipients = RecipientSet()
        recipients.add(registry.group_lead(partner.working_group), "lead")
        route = "consulate" if partner.country in registry.consulates else "mfa"
        recipients.add(registry.country_contact(partner.country), route)
        for contact in staff:
            recipients.add(contact, "staff")
        view = partner_view(registry, partner)
        notices: list[Notice] = []
        for agreement in partner.agreements:
            for day, years in anniversaries_between(agreement, start, end):
                item = agreement_item(partner, agreement)
                context = {
                    **anniversary_view(view, agreement, day, years),
                    "route": route,
                    "told": recipients.people(),
                }
                # SPEC "The way back": what was done is recorded (later stages stop for every
                # internal reader; the consulate's letter goes on), or a reader needs no more.
                settled = acks.settled(item, day)
                readers = [r for r in recipients
                           if not (settled and _internal(r))
                           and not acks.settled_for(item, day, r.address)]
                notices.extend(staged(ctx, NAME, item, day, lead_days, readers, context))
        return notices

    return plan_items(ctx, NAME, registry.partners.values(), lambda p: p.id, plan_partner)


SPEC = JobSpec(name=NAME, plan=plan, schedule="0 8 * * *")
