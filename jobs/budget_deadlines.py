"""Budget deadlines: each occurrence of each deadline, staged by `lead_days`.

Recipients: leads of the listed groups (every group when none is listed) and staff. A deadline
on a weekend or Thai public holiday stays on its nominal date but is flagged with the last
working day before it, which is when the papers really have to be in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

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


def fill_title(template: str, fy: int) -> str:
    """`{fiscal_year}` and `{next_fiscal_year}` → the BE fiscal year of the date and the next."""
    return template.replace("{fiscal_year}", str(fy)).replace("{next_fiscal_year}", str(fy + 1))


def occurrence_view(
    deadline: BudgetDeadline,
    day: dt.date,
    listed_groups: Sequence[WorkingGroup],
    calendar: WorkingCalendar,
) -> dict[str, Any]:
    """What the templates show of one deadline occurrence (also in meeting agendas)."""
    fy = fiscal_year(day)
    working = calendar.is_working_day(day)
    return {
        "deadline_id": deadline.id,
        "title": fill_title(deadline.title, fy),
        "title_th": fill_title(deadline.title_th or deadline.title, fy),
        "notes": deadline.notes,
        "date": day,
        "fiscal_year": fy,
        "groups": [g.name for g in listed_groups],
        "groups_th": [g.name_th or g.name for g in listed_groups],
        "closed": not working,
        "weekend": day.weekday() >= 5,
        "holiday_en": calendar.holiday_name(day, "en"),
        "holiday_th": calendar.holiday_name(day, "th"),
        "last_working_day": None if working else calendar.last_working_day_before(day),
    }


def plan(ctx: PlanContext) -> list[Notice]:
    """Notices for every budget-deadline occurrence whose stage (`deadline_lead_days` before
    the date) is due as of `ctx.as_of` and not yet queued; one per recipient. Context keys:
    the deadline, its fiscal year, holiday and last working day, and who else is told."""
    registry = ctx.registry
    lead_days = ctx.settings.deadline_lead_days
    start, end = search_window(ctx.as_of, lead_days)
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
            context = {
                **occurrence_view(deadline, day, listed, ctx.calendar),
                "told": recipients.names(),
            }
            item = f"{deadline.id}"
            notices.extend(staged(ctx, NAME, item, day, lead_days, recipients, context))
        return notices

    return plan_items(
        ctx, NAME, registry.budget_deadlines.values(), lambda d: d.id, plan_deadline
    )


SPEC = JobSpec(name=NAME, plan=plan, schedule="0 8 * * 1-5")
