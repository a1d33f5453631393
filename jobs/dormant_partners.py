"""Dormant partners: no activity and no agreement signed for `after_days` (SPEC jobs table).

The silence begins at the latest activity or signing (`quiet_since`); that date is the item's
occurrence, so changing `after_days` or `repeat_days` never restarts a spell's notices. The
first run with the silence at least `after_days` long notifies the partner's group lead and
staff; each recipient is reminded again once `repeat_days` have passed since their previous
notice. A new activity or signing ends the spell, and a later silence starts a new one (a new
occurrence, so it notifies afresh).
"""

from __future__ import annotations

from jobs.common import partner_view
from jobs.escalation import dormant as escalate
from scheduler.planning import (
    HistoryWindow,
    JobSpec,
    Notice,
    PlanContext,
    RecipientSet,
    plan_items,
)
from scheduler.registry.domain import Partner, quiet_since, spell_start

NAME = "dormant-partners"


def plan(ctx: PlanContext) -> list[Notice]:
    """Notices for every partner dormant as of `ctx.as_of`: the occurrence is the day the
    silence began (independent of the settings), the stage the days of silence (so each repeat
    has its own key). A recipient is told at most once per `dormant_repeat_days`."""
    registry = ctx.registry
    after = ctx.settings.dormant_after_days
    repeat = ctx.settings.dormant_repeat_days
    staff = registry.staff()
    acks = ctx.acknowledgements

    def plan_partner(partner: Partner) -> list[Notice]:
        start = spell_start(partner, ctx.as_of, after)
        if start is None:
            return []
        since = quiet_since(partner, ctx.as_of)
        assert since is not None
        if acks.settled(partner.id, since):
            return []  # an activity was recorded from a link (dated later than as_of)
        recipients = RecipientSet()
        recipients.add(registry.group_lead(partner.working_group), "lead")
        for contact in staff:
            recipients.add(contact, "staff")
        last = partner.last_activity_on(ctx.as_of)
        context = {
            "partner": partner_view(registry, partner),
            "last_activity": last,
            "last_activity_title": next(
                (a.title for a in reversed(partner.activities) if a.date == last), ""
            ),
            "first_signed_on": partner.first_signed_on(),
            "quiet_since": since,
            "quiet_days": (ctx.as_of - since).days,
            "spell_start": start,
            "date": start,
            "agreements": [(a.kind.value, a.signed_on) for a in partner.agreements],
            "told": recipients.people(),
        }
        stage = (ctx.as_of - since).days  # days of silence: one key per notice date
        notices: list[Notice] = []
        for recipient in recipients:
            previous = ctx.history.latest_since(partner.id, since, recipient.address)
            if previous is not None and (ctx.as_of - previous.last_as_of).days < repeat:
                continue
            if acks.snoozed_on(partner.id, recipient.address, ctx.as_of):
                continue  # SPEC "The way back": snoozed by this reader
            notices.append(Notice(NAME, partner.id, since, stage, recipient, context))
        return notices

    notices = plan_items(ctx, NAME, registry.partners.values(), lambda p: p.id, plan_partner)
    return notices + escalate(ctx, notices)  # SPEC "The way back"


# History reaches back to the start of a spell, not just to as_of.
SPEC = JobSpec(name=NAME, plan=plan, schedule="0 9 * * 1", history=HistoryWindow.ALL)
