"""What an external reader's meeting invitation shows (SPEC "Emails"): a consulate gets the
meeting's time and place and only the agenda items that concern its country, never the office's
internal assessment (dormancy, agreements to review, the roster, other countries' items)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scheduler.planning import RecipientSet
from scheduler.registry.domain import Registry

# The letter of a reader who is no consulate's contact: nothing of the agenda.
NO_LETTER: Mapping[str, Any] = {"countries": [], "anniversaries": []}


def letters(
    registry: Registry, recipients: RecipientSet, agenda: Mapping[str, Any], rows: int
) -> dict[str, dict[str, Any]]:
    """By address, for each consulate contact among `recipients`: its countries (ISO codes)
    and the anniversaries (agenda rows, at most `rows`, the soonest first) of those countries'
    partners within the agenda's horizon, taken from the whole agenda before it is cut."""
    invited = {r.address for r in recipients}
    countries: dict[str, list[str]] = {}
    for country, consulate in registry.consulates.items():
        contact = registry.contacts.get(consulate.contact)
        if contact is not None and contact.address in invited:
            countries.setdefault(contact.address, []).append(country)
    return {
        address: {
            "countries": codes,
            "anniversaries": [row for row in agenda["anniversaries"]
                              if row["partner"]["country"] in codes][:rows],
        }
        for address, codes in countries.items()
    }
