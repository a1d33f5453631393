"""The agenda of a meeting's next occurrence, as its emails carry it, without sending or
recording anything (`sistercity agenda`, and later a web page)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError

from jobs.meeting_agendas import NAME, occurrence_context
from jobs.meeting_lifecycle import Occurrence, meeting_occurrences
from scheduler.errors import ConfigError, UserError
from scheduler.registry.domain import Meeting
from scheduler.registry.occurrences import load_sent
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
    occ = _next_occurrence(runner, found, as_of)
    if occ is None:
        raise UserError(f'meeting "{meeting}" has no occurrence on or after {as_of.isoformat()}')
    starts_at = occ.starts_at
    context = occurrence_context(
        registry, occ.meeting, starts_at, as_of=as_of, settings=settings.jobs,
        calendar=runner.calendar, timezone=settings.timezone, sender=settings.email.sender,
    )
    return Agenda(meeting, starts_at, _render(runner, lang, as_of, context))


# How far ahead `agenda` looks for the next occurrence that is not cancelled.
_LOOK_AHEAD = dt.timedelta(days=5 * 366)


def _next_occurrence(runner: Runner, meeting: Meeting, as_of: dt.date) -> Occurrence | None:
    """The meeting's first occurrence on or after `as_of` that is not cancelled, with its
    `[[meeting.change]]` applied (jobs.meeting_lifecycle), within five years."""
    with runner.db.read() as session:
        sent = load_sent(session)
    found = [o for o in meeting_occurrences(meeting, sent, as_of, as_of + _LOOK_AHEAD)
             if not o.cancelled and o.starts_at.date() >= as_of]
    return min(found, key=lambda o: o.starts_at, default=None)


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
