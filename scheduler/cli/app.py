"""`sistercity`: the root command group. It sets up logging, holds the Context, turns bad input
into exit status 2, and registers the commands, which live one concern per module:

- scheduler.cli.registry: init, load, partners, activity add
- scheduler.cli.runs: run, deliver, preview
- scheduler.cli.outbox: outbox, outbox retry, status
- scheduler.cli.agenda, scheduler.cli.sheets, scheduler.cli.daemon: agenda; template, import,
  export; daemon
- scheduler.cli.calendar: meeting cancel, calendar
- scheduler.cli.user, scheduler.cli.web: user add, list, remove; web

Each command only parses, calls an operation of scheduler.services (or the sheets/daemon
packages) and prints. Heavy imports happen inside the commands so that `sistercity --help`
stays fast.

Exit status: 0 done; 1 done, but messages this command queued or attempted are still pending
or failed; 2 bad input (usage, config, dataset), with a message and no traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from scheduler import logs
from scheduler.cli import agenda, calendar, daemon, outbox, registry, runs, sheets, user, web
from scheduler.cli.common import Context


class _Group(click.Group):
    """Bad input raised anywhere below becomes a message and exit status 2, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from scheduler.errors import UserError  # lazy: keeps --help fast

        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"sistercity: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    metavar="PATH",
    default=None,
    help="config.toml to use (else $SISTERCITY_CONFIG, else ./config.toml, "
    "else the packaged defaults).",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv: debug).")
@click.version_option(package_name="sistercity-scheduler", prog_name="sistercity")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: int) -> None:
    """Reminders and meeting agendas that keep sister-city relations alive.

    Jobs: anniversaries, budget-deadlines, dormant-partners, meeting-agendas.
    """
    logs.configure(logs.LogSetup(verbose))
    ctx.obj = Context(config, verbose)


for _command in (*registry.COMMANDS, *runs.COMMANDS, *outbox.COMMANDS, agenda.agenda,
                 daemon.daemon, *calendar.COMMANDS, *user.COMMANDS, *web.COMMANDS):
    cli.add_command(_command)
sheets.register_sheets(cli)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: run `sistercity` with `argv` (default: the process arguments)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="sistercity")
