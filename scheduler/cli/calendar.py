"""`sistercity meeting cancel` and `sistercity calendar`: meetings in calendars (logic:
scheduler.services.meetings and scheduler.services.calendar). Parse, call, print.

Only click and scheduler.cli.common are imported at load time, so that `sistercity --help`
stays fast; each command imports its service when it runs (lazy for that reason only).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from scheduler.cli.common import DATE, Context, as_of_option, pass_ctx


@click.group()
def meeting() -> None:
    """Meetings: cancel one, or one of its occurrences."""


@meeting.command("cancel")
@click.argument("meeting_id", metavar="MEETING")
@click.option("--occurrence", type=DATE, default=None,
              help="Cancel only this occurrence: its date as the meeting's rule gives it.")
@pass_ctx
def cancel(c: Context, meeting_id: str, occurrence: dt.date | None) -> None:
    """Cancel MEETING (every occurrence, or one with --occurrence).

    The next run of meeting-agendas sends everyone invited a cancellation (METHOD:CANCEL);
    nothing more is sent about it.
    """
    from scheduler.services.meetings import cancel_meeting  # lazy: keeps --help fast

    done = cancel_meeting(c.database(), meeting_id, occurrence=occurrence, by=c.actor())
    which = f"its occurrence of {done.occurrence.isoformat()}" if done.occurrence else "all of it"
    click.echo(f"cancelled meeting {done.meeting_id} ({which}): everyone invited gets a "
               "cancellation at the next run of meeting-agendas")


@click.command("calendar")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--group", default=None, metavar="ID", help="Only this working group's items.")
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True,
              help="How many months from today (or --as-of).")
@as_of_option("Start the calendar on this date (YYYY-MM-DD; a year ≥ 2400 is Buddhist Era). "
              "Default: today.")
@click.option("--force", is_flag=True,
              help="Replace FILE if it exists (by default an existing file is kept and "
              "nothing is written).")
@pass_ctx
def calendar(c: Context, file: Path, group: str | None, months: int, as_of: dt.date | None,
             force: bool) -> None:
    """Write an iCalendar file of anniversaries, deadlines and meetings.

    Anniversaries and budget deadlines are all-day events (deadlines on their act-by date);
    meetings are timed, with the same UIDs as their invitations; cancelled ones are left out.
    """
    from scheduler.services.calendar import feed_scope, write_calendar  # lazy: keeps --help fast

    scope = feed_scope(c.settings, start=c.as_of(as_of), months=months, group=group,
                       now=dt.datetime.now(dt.UTC))
    feed = write_calendar(c.database(), c.settings, file, scope, force=force)
    click.echo(f"wrote {file}: {feed.anniversaries} anniversaries, {feed.deadlines} deadlines, "
               f"{feed.meetings} meetings, {scope.start.isoformat()} to {scope.end.isoformat()}")


COMMANDS = (meeting, calendar)
