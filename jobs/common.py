"""Plain values that several jobs put into their notices' context."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scheduler.dates.thaidate import WorkingCalendar, fiscal_year
from scheduler.registry.domain import Partner, Registry


def fill_title(template: str, day: dt.date) -> str:
    """A deadline's or meeting's title (either language) with `{fiscal_year}` and
    `{next_fiscal_year}` replaced by the Buddhist-Era fiscal year of `day` and the one after
    (SPEC "What is sent": the FY starts on 1 October, so 2017-11-15 is in FY 2561)."""
    fy = fiscal_year(day)
    return template.replace("{fiscal_year}", str(fy)).replace("{next_fiscal_year}", str(fy + 1))


def partner_view(registry: Registry, partner: Partner) -> dict[str, Any]:
    group = registry.working_groups.get(partner.working_group or "")
    return {
        "id": partner.id,
        "name": partner.name,
        "name_th": partner.name_th or partner.name,
        "country": partner.country,
        "city": partner.city,
        "group": group.name if group else "",
        "group_th": (group.name_th or group.name) if group else "",
        "group_id": group.id if group else None,
        "has_consulate": partner.country in registry.consulates,
    }


def day_off_view(day: dt.date, calendar: WorkingCalendar) -> dict[str, Any]:
    """Why `day` is not a working day, for the templates' warnings (SPEC "Working days"):
    `closed`, `weekend`, and the holiday's name in each language (None when unnamed)."""
    return {
        "closed": not calendar.is_working_day(day),
        "weekend": day.weekday() >= 5,
        "holiday_en": calendar.holiday_name(day, "en"),
        "holiday_th": calendar.holiday_name(day, "th"),
    }
