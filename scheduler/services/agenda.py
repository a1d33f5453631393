"""The agenda of a meeting's next occurrence, as its emails carry it, without sending or
recording anything (`sistercity agenda`, and later a web page)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from jobs.meeting_agendas import NAME, next_occurrence, occurrence_context
from scheduler.errors import ConfigError, UserError
from scheduler.services.runs import Runner


@dataclass(frozen=True)
class Agenda:
    """The agenda document (plain text, in the language asked for) of the occurrence that
    starts at `starts_at` (local wall time, naive as the meeting's recurrence gives it)."""

    meeting: str
    starts_at: dt.datetime
    text: str


def meeting_agenda(runner: Runner, meeting: str, *, as_of: dt.date, lang: str) -> Agenda:
    """The agenda of `meeting`'s (its id) first occurrence on or after `as_of` (local date),
    in `lang` ("en" or "th"), as of that date. UserError for an unknown meeting or one with no
    occurrence left; ConfigError for a broken template."""
    settings = runner.settings
    registry = runner.registry(as_of)  # as a run as of that date plans it
    found = registry.meetings.get(meeting)
    if found is None:
        known = ", ".join(sorted(registry.meetings)) or "none in the registry"
        raise UserError(f'unknown meeting "{meeting}" (meetings: {known})')
    starts_at = next_occurrence(found, as_of)
    if starts_at is None:
        raise UserError(f'meeting "{meeting}" has no occurrence on or after {as_of.isoformat()}')
    context = occurrence_context(
        registry, found, starts_at, as_of=as_of, settings=settings.jobs,
        calendar=runner.calendar, timezone=settings.timezone, sender=settings.email.sender,
    )
    return Agenda(meeting, starts_at, _render(runner, lang, as_of, context))


def _render(runner: Runner, lang: str, as_of: dt.date, context: dict[str, Any]) -> str:
    """The job's own text template, without a recipient: the agenda document alone."""
    template = runner.renderer.template(f"{NAME}.{lang}.txt")
    variables = {
        "lang": lang, "job": NAME, "recipient": None, "items": [context], "as_of": as_of,
        "sender_name": runner.renderer.sender_name or runner.renderer.sender_address,
        "meeting": context["meeting"], "agenda": context["agenda"],
    }
    try:
        text: str = template.render(variables)
    except TemplateError as exc:
        raise ConfigError(f"{NAME}.{lang}.txt: email template failed: {exc}") from None
    return text
