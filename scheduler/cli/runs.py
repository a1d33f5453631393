"""`sistercity run | deliver | preview`: jobs and delivery (logic: scheduler.services.runs and
scheduler.services.outbox). Parse, call, print.

Exit status: 0 done; 1 done, but messages this command queued or attempted are still pending
or failed (the rule is `scheduler.services.outbox.any_waiting`), or a job went past
`scheduler.job_timeout_seconds` (stopped, recorded as failed, named on stderr; the other jobs and
delivery went on, as in the daemon). Only click and
scheduler.cli.common are imported at load time, so that `sistercity --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scheduler.cli.common import Context, as_of_option, pass_ctx, print_table, progress_bar

if TYPE_CHECKING:
    from scheduler.planning import SkippedItem
    from scheduler.services.runs import RunOutcome


def _job_names(names: Sequence[str]) -> list[str]:
    """The named jobs, each once, in order; every job when none is named. BadParameter for an
    unknown name."""
    from jobs import JOB_NAMES  # lazy: keeps --help fast

    for name in names:
        if name not in JOB_NAMES:
            raise click.BadParameter(
                f'unknown job "{name}" (jobs: {", ".join(JOB_NAMES)})', param_hint="JOB"
            )
    return list(dict.fromkeys(names)) or list(JOB_NAMES)


@click.command()
@click.argument("jobs", nargs=-1, metavar="[JOB]...")
@as_of_option()
@click.option("--dry-run", is_flag=True, help="Print what would be sent; change nothing.")
@pass_ctx
def run(c: Context, jobs: tuple[str, ...], as_of: dt.date | None, dry_run: bool) -> None:
    """Run JOBs (all four if none named): plan, queue, deliver."""
    from scheduler.mail.delivery import utcnow  # lazy: keeps --help fast
    from scheduler.services import runs

    names = _job_names(jobs)
    day = c.as_of(as_of)
    runs.link_signer(c.settings)  # the links' key, before the database is touched
    runner = runs.Runner(c.database(), c.settings)
    if dry_run:
        for r in runs.dry_run(runner, names, day, now=utcnow()):
            click.echo(f"{r.job} as of {r.as_of.isoformat()}: {r.notices} notices in "
                       f"{r.messages} emails (dry run: nothing queued or sent)")
            for d in r.drafts:
                click.echo(f"  to {d.address} [{d.language}]: {d.subject}")
            _print_skipped(r.skipped)
        return
    results = runs.queue_jobs(runner, names, day, now=utcnow())
    with progress_bar(sum(len(r.message_ids) for r in results)) as advance:
        outcome = runs.deliver_queued(runner, results, clock=utcnow, progress=advance)
    _print_summary(outcome)
    stopped = [r.error for r in results if r.error]
    for error in stopped:
        click.echo(f"sistercity: {error}; recorded as failed", err=True)
    sys.exit(1 if outcome.waiting or stopped else 0)


def _print_summary(outcome: RunOutcome) -> None:
    """The per-job table of a run, then what else delivery did."""
    report = outcome.report
    sent, retrying, failed = set(report.sent), set(report.retrying), set(report.failed)
    rows = []
    for r in outcome.results:
        ids = set(r.message_ids)
        rows.append((r.job, r.as_of.isoformat(), str(r.notices), str(r.messages),
                     str(len(ids & sent)), str(len(ids & retrying)), str(len(ids & failed))))
    print_table(
        "sistercity run",
        ("job", "as of", "notices", "emails queued", "sent", "retrying", "failed"),
        rows,
        right=("notices", "emails queued", "sent", "retrying", "failed"),
        keep=("job", "as of"),
    )
    _print_skipped([s for r in outcome.results for s in r.skipped])
    other = len(report.attempted - set(outcome.queued))
    if other:
        click.echo(f"also delivered or attempted {other} earlier queued messages")
    if report.stopped:
        click.echo(
            f"delivery stopped: {report.stopped}; queued messages stay for a later "
            "`sistercity deliver`",
            err=True,
        )


def _print_skipped(skipped: Sequence[SkippedItem]) -> None:
    """One line on stderr per item that could not be planned (SPEC "Delivery": reported and
    skipped; the rest of its job went on, so the exit status does not change)."""
    for s in skipped:
        click.echo(f"{s.job}: item {s.item} skipped, it cannot be planned: {s.reason}", err=True)


@click.command()
@pass_ctx
def deliver(c: Context) -> None:
    """Send queued messages that are due."""
    from scheduler.services.outbox import any_waiting, deliver  # lazy: keeps --help fast

    db = c.database()
    report = deliver(db, c.settings)
    click.echo(
        f"sent {len(report.sent)}, retrying {len(report.retrying)}, failed {len(report.failed)}"
    )
    if report.stopped:
        click.echo(f"delivery stopped: {report.stopped}", err=True)
    sys.exit(1 if any_waiting(db, report.attempted) else 0)


@click.command()
@click.argument("job")
@as_of_option()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the .eml files.",
)
@pass_ctx
def preview(c: Context, job: str, as_of: dt.date | None, out: Path) -> None:
    """Write the emails JOB would send as .eml files; change nothing."""
    from scheduler.mail.delivery import utcnow  # lazy: keeps --help fast
    from scheduler.services.runs import Runner, link_signer, preview

    name = _job_names([job])[0]
    link_signer(c.settings)  # the links' key, before the database is touched
    runner = Runner(c.database(), c.settings)
    result = preview(runner, name, c.as_of(as_of), out, now=utcnow())
    click.echo(f"wrote {len(result.written)} emails ({result.notices} notices) to {out}")


COMMANDS = (run, deliver, preview)
