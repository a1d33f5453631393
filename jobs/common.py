"""Plain values that several jobs put into their notices' context."""

from __future__ import annotations

from typing import Any

from scheduler.registry.domain import Partner, Registry


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
