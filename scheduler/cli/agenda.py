"""`sistercity agenda MEETING`: the agenda of a meeting's next occurrence, without sending or
recording anything (logic: scheduler.services.agenda). Parse, call, print.

Only click and scheduler.cli.common are imported at load time, so that `sistercity --help`
stays fast; the service is imported when the command runs (lazy for that reason only).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from scheduler.cli.common import Context, as_of_option, fail, pass_ctx


@click.command("agenda")
@click.argument("meeting")
@as_of_option("Prepare the agenda as of this date (YYYY-MM-DD; a year ≥ 2400 is Buddhist "
              "Era). Default: today.")
@click.option("--lang", type=click.Choice(["en", "th"]), default="en", show_default=True,
              help="Language of the agenda.")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the agenda to this file (UTF-8) instead of printing it.")
@pass_ctx
def agenda(c: Context, meeting: str, as_of: dt.date | None, lang: str, out: Path | None) -> None:
    """Show a meeting's next agenda without sending anything.

    The agenda of MEETING's next occurrence on or after --as-of, the same its emails carry;
    nothing is queued, sent or recorded.
    """
    from scheduler.services.agenda import meeting_agenda  # lazy: keeps --help fast
    from scheduler.services.runs import Runner

    found = meeting_agenda(Runner(c.database(), c.settings), meeting, as_of=c.as_of(as_of),
                           lang=lang)
    if out is None:
        click.echo(found.text, nl=False)
        return
    try:
        out.write_text(found.text, encoding="utf-8")
    except OSError as exc:
        fail(f"{out}: cannot write the agenda: {exc.strerror}")
    click.echo(f"wrote the agenda of {meeting} ({found.starts_at:%Y-%m-%d %H:%M}) to {out}")
