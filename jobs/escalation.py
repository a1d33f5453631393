"""Escalation to the `head` contacts (SPEC "The way back").

Not a job of its own: the job that notices an item escalates it in the same run, by adding
notices to every head at stage `ESCALATION_STAGE` (-1) to its own notices. The queue's
once-rule, keyed by (job, item, occurrence, stage, recipient), then tells each head at most
once per item occurrence, across runs, reruns and concurrent runs.

- dormant-partners (`dormant`): the run that queues the `after_notices`-th notice of a spell to
  the partner's group lead (counted from History: the spell has had no activity since it
  began, or it would be a new spell).
- budget-deadlines (`deadlines`): the run that queues an occurrence's last stage (the smallest
  of `lead_days`, also when earlier stages were skipped because the daemon was down). An
  occurrence marked done is never planned, so never escalated.

The head's email is its own digest (`templates/email/escalation.<lang>.*`): each item with who
was told (name, address) and the dates of those notices.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scheduler.planning import ESCALATION_STAGE, Notice, PlanContext, RecipientSet


def _heads(ctx: PlanContext) -> RecipientSet:
    heads = RecipientSet()
    for contact in ctx.registry.heads():
        heads.add(contact, "head")
    return heads


def _told(
    people: Sequence[Mapping[str, Any]],
    this_run: set[str],
    as_of: dt.date,
    days_of: Callable[[str], tuple[dt.date, ...]],
    roles: Mapping[str, tuple[str, ...]],
) -> list[dict[str, Any]]:
    """Each person told about the item ({"name", "address", "roles", "days"}), in the item's
    order (its lead first), with the run dates of their notices: earlier runs (History) and
    this one when it queues a notice to them. People never told are left out."""
    told = []
    for person in people:
        address = str(person["address"])
        days = set(days_of(address))
        if address in this_run:
            days.add(as_of)
        if days:
            told.append({"name": str(person["name"]), "address": address,
                         "roles": roles.get(address, ()), "days": sorted(days)})
    return told


def _roles(ctx: PlanContext, notices: Sequence[Notice]) -> dict[str, tuple[str, ...]]:
    """Why each address was told: the roles of this run's notices, else its contacts'."""
    roles: dict[str, tuple[str, ...]] = {}
    for contact in ctx.registry.contacts.values():
        known = roles.get(contact.address, ())
        if contact.role.value not in known:
            roles[contact.address] = (*known, contact.role.value)
    for notice in notices:
        roles[notice.recipient.address] = notice.recipient.roles
    return roles


def _escalate(
    ctx: PlanContext, heads: RecipientSet, notice: Notice, extra: Mapping[str, Any],
    occurrence: dt.date,
) -> list[Notice]:
    """One notice per head not yet told about (item, occurrence) (the once-rule)."""
    context = {
        **notice.context,
        **extra,
        "escalation": True,
        # Who else got this escalation: the other heads ("also sent to", SPEC "Text").
        "told": heads.people(),
    }
    return [
        Notice(notice.job, notice.item, occurrence, ESCALATION_STAGE, head, context)
        for head in heads
        if (sent := ctx.history.get(notice.item, occurrence, head.address)) is None
        or sent.min_stage > ESCALATION_STAGE
    ]


def dormant(ctx: PlanContext, notices: Sequence[Notice]) -> list[Notice]:
    """Escalations of dormant partners, to add to the dormant-partners notices of this run.

    A partner escalates when this run queues a notice to its group lead that is at least the
    `escalation_after_notices`-th of the spell (the spell began at the notice's occurrence;
    notices of earlier runs counted from `ctx.history`); each head is told once per spell.
    `notices` are the job's notices of this run (context keys as in jobs/dormant_partners.py:
    "told", "quiet_since"…). SPEC "The way back"."""
    heads = _heads(ctx)
    if not heads.people():
        return []
    after = ctx.settings.escalation_after_notices
    roles = _roles(ctx, notices)
    by_item: dict[str, list[Notice]] = {}
    for notice in notices:
        by_item.setdefault(notice.item, []).append(notice)
    escalations: list[Notice] = []
    for item, found in by_item.items():
        lead = next((n for n in found if "lead" in n.recipient.roles), None)
        if lead is None:
            continue
        since = lead.occurrence
        count = len(ctx.history.days_since(item, since, lead.recipient.address)) + 1
        if count < after:
            continue
        def days_of(address: str, item: str = item, since: dt.date = since
                    ) -> tuple[dt.date, ...]:
            return ctx.history.days_since(item, since, address)

        told = _told(lead.context.get("told", ()), {n.recipient.address for n in found},
                     ctx.as_of, days_of, roles)
        extra = {"kind": "dormant", "notices": count, "reached": told}
        escalations.extend(_escalate(ctx, heads, lead, extra, since))
    return escalations


def deadlines(
    ctx: PlanContext, notices: Sequence[Notice], lead_days: Sequence[int]
) -> list[Notice]:
    """Escalations of budget deadlines, to add to the budget-deadlines notices of this run.

    An occurrence escalates when this run queues its last stage (`min(lead_days)`, the one due
    on the act-by date) to anyone; each head is told once per occurrence. `notices` are the
    job's notices of this run (context as in jobs/budget_deadlines.py). SPEC "The way back"."""
    heads = _heads(ctx)
    if not heads.people() or not lead_days:
        return []
    last = min(lead_days)
    roles = _roles(ctx, notices)
    by_key: dict[tuple[str, dt.date], list[Notice]] = {}
    for notice in notices:
        if notice.stage == last:
            by_key.setdefault((notice.item, notice.occurrence), []).append(notice)
    escalations: list[Notice] = []
    for (item, occurrence), found in by_key.items():
        first = found[0]

        def days_of(address: str, item: str = item, occurrence: dt.date = occurrence
                    ) -> tuple[dt.date, ...]:
            sent = ctx.history.get(item, occurrence, address)
            return sent.days if sent is not None else ()

        told = _told(first.context.get("told", ()), {n.recipient.address for n in found},
                     ctx.as_of, days_of, roles)
        extra = {"kind": "deadline", "reached": told}
        escalations.extend(_escalate(ctx, heads, first, extra, occurrence))
    return escalations
