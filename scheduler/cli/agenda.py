"""`sistercity agenda MEETING`: the agenda of a meeting's next occurrence, without sending or
recording anything.

Registered on the main group by `scheduler.cli.app`. This module imports only click and the standard
library at the top (so that `sistercity --help` stays fast) and nothing from `scheduler.cli.app` at
import time (which imports this module): the shared helpers are looked up when the command runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from scheduler.services.runs import Runner


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    """`scheduler.cli.app.DATE` (YYYY-MM-DD; a year ≥ 2400 is Buddhist Era), looked up lazily."""
    if value is None:
        return None
    from scheduler.cli.app import DATE

    day: dt.date = DATE.convert(value, param, ctx)
    return day


@click.command("agenda")
@click.argument("meeting")
@click.option("--as-of", "as_of", metavar="DATE", default=None, callback=_date,
              help="Prepare the agenda as of this date (YYYY-MM-DD; a year ≥ 2400 is Buddhist "
                   "Era). Default: today.")
@click.option("--lang", type=click.Choice(["en", "th"]), default="en", show_default=True,
              help="Language of the agenda.")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the agenda to this file (UTF-8) instead of printing it.")
def agenda(meeting: str, as_of: dt.date | None, lang: str, out: Path | None) -> None:
    """Show a meeting's next agenda without sending anything.

    The agenda of MEETING's next occurrence on or after --as-of, the same its emails carry;
    nothing is queued, sent or recorded.
    """
    from jobs.meeting_agendas import next_occurrence, occurrence_context
    from scheduler.cli.app import Context, fail
    from scheduler.services.runs import Runner

    c = click.get_current_context().find_object(Context)
    assert c is not None, "agenda runs under the sistercity command group"
    day = as_of or c.today()
    settings = c.settings
    runner = Runner(c.database(), settings)
    registry = runner.registry()
    found = registry.meetings.get(meeting)
    if found is None:
        known = ", ".join(sorted(registry.meetings)) or "none in the registry"
        fail(f'unknown meeting "{meeting}" (meetings: {known})')
    starts_at = next_occurrence(found, day)
    if starts_at is None:
        fail(f'meeting "{meeting}" has no occurrence on or after {day.isoformat()}')
    context = occurrence_context(
        registry, found, starts_at, as_of=day, settings=settings.jobs,
        calendar=runner.calendar, timezone=settings.timezone, sender=settings.email.sender,
    )
    text = _render(runner, lang, day, context)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{out}: cannot write the agenda: {exc.strerror}")
    click.echo(f"wrote the agenda of {meeting} ({starts_at:%Y-%m-%d %H:%M}) to {out}")


def _render(runner: Runner, lang: str, as_of: dt.date, context: dict[str, Any]) -> str:
    """The job's own text template, without a recipient: the agenda document alone."""
    from jinja2 import TemplateError

    from jobs.meeting_agendas import NAME
    from scheduler.errors import ConfigError

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
