"""`sistercity outbox | outbox retry | status` (logic: scheduler.services.outbox and
scheduler.services.status). Parse, call, print.

Only click and scheduler.cli.common are imported at load time, so that `sistercity --help`
stays fast; each command imports its service when it runs (lazy for that reason only).
"""

from __future__ import annotations

import datetime as dt
import sys

import click

from scheduler.cli.common import Context, json_option, pass_ctx, print_json, print_table
from scheduler.services.states import STATES


@click.group(invoke_without_command=True)
@click.option("--state", type=click.Choice(STATES), default=None, help="Only this state.")
@json_option
@click.pass_context
def outbox(ctx: click.Context, state: str | None, as_json: bool) -> None:
    """List queued and sent messages; `outbox retry` requeues."""
    if ctx.invoked_subcommand is not None:
        return
    from scheduler.services.outbox import list_outbox  # lazy: keeps --help fast

    c: Context = ctx.obj
    entries = list_outbox(c.database(), c.settings.tz, state=state)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    print_table(
        "outbox",
        ("id", "job", "state", "tries", "recipient and subject (last error)"),
        [(str(e.id), e.job, e.state, str(e.attempts),
          "\n".join(filter(None, (e.recipient, e.subject, e.last_error)))) for e in entries],
        keep=("id", "job", "state", "tries"),
    )


@outbox.command("retry")
# An id is an SQL integer: refuse one outside 1..2**63-1 here, before the database sees it.
@click.argument("ids", nargs=-1, type=click.IntRange(1, 2**63 - 1), metavar="[ID]...")
@click.option("--failed", "all_failed", is_flag=True, help="Requeue every failed message.")
@pass_ctx
def outbox_retry(c: Context, ids: tuple[int, ...], all_failed: bool) -> None:
    """Requeue failed messages (by ID, or all with --failed) and try to send them now."""
    from scheduler.mail.delivery import utcnow  # lazy: keeps --help fast
    from scheduler.services.outbox import any_waiting, deliver, requeue

    if not ids and not all_failed:
        raise click.UsageError("give message IDs or --failed")
    db = c.database()
    done = requeue(db, ids, now=utcnow())
    if done.skipped:
        click.echo(
            f"not requeued (already sent or being sent): {', '.join(map(str, done.skipped))}"
        )
    report = deliver(db, c.settings, only=done.requeued)
    click.echo(
        f"requeued {len(done.requeued)}: sent {len(report.sent)}, retrying "
        f"{len(report.retrying)}, failed {len(report.failed)}"
    )
    sys.exit(1 if any_waiting(db, done.requeued) else 0)


@click.command()
@json_option
@pass_ctx
def status(c: Context, as_json: bool) -> None:
    """Each job's schedule, next and last run; message counts by state."""
    from scheduler.services.status import collect_status  # lazy: keeps --help fast

    data = collect_status(c.database(), c.settings, dt.datetime.now(dt.UTC))
    if as_json:
        print_json(data.to_json())
        return
    daemon = data.daemon
    click.echo(f"daemon: {'active ' + daemon.id if daemon else 'not running'}")
    for job in data.jobs:
        next_run = job.next_run.isoformat() if job.next_run else "-"
        last_run = job.last_run.isoformat() if job.last_run else "-"
        click.echo(f"  {job.name:<18} {job.schedule:<14} next {next_run}  last {last_run}")
    click.echo("outbox: " + ", ".join(f"{k} {v}" for k, v in data.outbox.items()))


COMMANDS = (outbox, status)
