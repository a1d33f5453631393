"""Budget deadlines: each occurrence of each deadline, staged by `lead_days`.

Recipients: leads of the listed groups (every group when none is listed) and staff. A deadline
on a day that is not a working day stays on its nominal date but is flagged with its act-by
date, the last working day before it, which is when the papers really have to be in; the
stages count back from the act-by date, and nothing is sent after it (SPEC "Stages").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from jobs.common import day_off_view, fill_title
from jobs.escalation import deadlines as escalate
from scheduler.dates.thaidate import WorkingCalendar, fiscal_year
from scheduler.planning import (
    JobSpec,
    Notice,
    PlanContext,
    RecipientSet,
    occurrences,
    plan_items,
    search_window,
    staged,
)
from scheduler.registry.domain import BudgetDeadline, WorkingGroup

NAME = "budget-deadlines"

# Longer than any run of closed days (Songkran with its weekend and substitutes is about a
# week; a Cabinet bridge day can add a few more).
_LONGEST_CLOSURE = dt.timedelta(days=31)


def occurrence_view(
    deadline: BudgetDeadline,
    day: dt.date,
    listed_groups: Sequence[WorkingGroup],
    calendar: WorkingCalendar,
) -> dict[str, Any]:
    """What the templates show of one deadline occurrence (also in meeting agendas)."""
    fy = fiscal_year(day)
    act_by = calendar.act_by(day)
    return {
        "deadline_id": deadline.id,
        "title": fill_title(deadline.title, day),
        "title_th": fill_title(deadline.title_th or deadline.title, day),
        "notes": deadline.notes,
        "notes_th": deadline.notes_th or deadline.notes,
        "date": day,
        "fiscal_year": fy,
        "groups": [g.name for g in listed_groups],
        "groups_th": [g.name_th or g.name for g in listed_groups],
        **day_off_view(day, calendar),
        # The act-by date (SPEC "Stages"), shown only when it differs from the due date.
        "last_working_day": None if act_by == day else act_by,
        "act_by": act_by,
    }


def plan(ctx: PlanContext) -> list[Notice]:
    """Notices for every budget-deadline occurrence whose stage (`deadline_lead_days` before
    the date) is due as of `ctx.as_of` and not yet queued; one per recipient. Context keys:
    the deadline, its fiscal year, holiday and last working day, and who else is told."""
    registry = ctx.registry
    lead_days = ctx.settings.deadline_lead_days
    start, end = search_window(ctx.as_of, lead_days)
    # A due date may lie a few closed days past its act-by date, the date the stages count
    # from: look that much further so that its first stage is not missed.
    end += _LONGEST_CLOSURE
    staff = registry.staff()

    def plan_deadline(deadline: BudgetDeadline) -> list[Notice]:
        dates = occurrences(deadline.recurrence, start, end)
        if not dates:
            return []
        groups = registry.groups_or_all(deadline.working_groups)
        recipients = RecipientSet()
        for group in groups:
            recipients.add(registry.group_lead(group.id), "lead")
        for contact in staff:
            recipients.add(contact, "staff")
        listed = groups if deadline.working_groups else []
        notices: list[Notice] = []
        for when in dates:
            day = when.date()
            if ctx.acknowledgements.settled(deadline.id, day):
                continue  # marked done from a link: no further stage to anyone
            context = {
                **occurrence_view(deadline, day, listed, ctx.calendar),
                "told": recipients.people(),
            }
            item = f"{deadline.id}"
            notices.extend(
                staged(ctx, NAME, item, day, lead_days, recipients, context, context["act_by"])
            )
        return notices

    notices = plan_items(
        ctx, NAME, registry.budget_deadlines.values(), lambda d: d.id, plan_deadline
    )
    return notices + escalate(ctx, notices, lead_days)  # SPEC "The way back"


SPEC = JobSpec(name=NAME, plan=plan, schedule="0 8 * * 1-5")
