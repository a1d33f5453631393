"""The command line: parse, call, print. Heavy imports happen inside the commands so that
`sistercity --help` stays fast.

Exit status: 0 done; 1 done, but messages this command queued or attempted are still pending
or failed; 2 bad input (usage, config, dataset), with a message and no traceback.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from scheduler import logs

if TYPE_CHECKING:
    from scheduler.config import Settings
    from scheduler.db.database import Database
    from scheduler.mail.delivery import DeliveryReport
    from scheduler.mail.outbox import Draft
    from scheduler.services.runs import JobResult, Runner

JOBS = ("anniversaries", "budget-deadlines", "dormant-partners", "meeting-agendas")
F = TypeVar("F", bound=Callable[..., Any])


class Context:
    def __init__(self, config: str | None, verbose: int) -> None:
        self.config_path = config
        self.verbose = verbose
        self._settings: Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from scheduler.config import load_settings

            self._settings = load_settings(self.config_path)
        return self._settings

    def database(self, *, bootstrap: bool = True, upgrade: bool = False) -> Database:
        if self._db is None:
            from scheduler.registry.bootstrap import open_database

            self._db = open_database(self.settings, bootstrap=bootstrap, upgrade=upgrade)
        return self._db

    def today(self) -> dt.date:
        return dt.datetime.now(self.settings.tz).date()


pass_ctx = click.make_pass_decorator(Context)


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"sistercity: {message}", err=True)
    sys.exit(code)


class DateParam(click.ParamType):  # type: ignore[type-arg]
    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.date):
            return value
        from scheduler.dates.thaidate import parse_date

        try:
            return parse_date(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DATE = DateParam()


def as_of_option(f: F) -> F:
    return click.option(
        "--as-of",
        "as_of",
        type=DATE,
        default=None,
        help="Plan as of this date (YYYY-MM-DD; a year ≥ 2400 is Buddhist Era). Default: today.",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(f)


class _Group(click.Group):
    """Bad input raised anywhere below becomes a message and exit status 2, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from scheduler.errors import UserError

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


# -- registry -------------------------------------------------------------------------------
@cli.command()
@pass_ctx
def init(c: Context) -> None:
    """Create or upgrade the database schema; load the configured dataset if it is empty."""
    from scheduler.registry.store import partner_count

    db = c.database(upgrade=True)
    with db.read() as session:
        partners = partner_count(session)
    click.echo(
        f"schema {db.schema_action} ({_safe_url(c.settings.database_url)}); {partners} partners"
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "database"


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
def load(c: Context, files: tuple[Path, ...]) -> None:
    """Validate dataset FILES, then upsert them by id (all or nothing)."""
    from scheduler.registry.dataset import read_files
    from scheduler.registry.store import known_ids, upsert_batch

    db = c.database(bootstrap=False)
    with db.write(lock="registry") as session:
        batch = read_files(files, known_ids(session))
        counts = upsert_batch(session, batch)
    parts = [
        f"{name}: {v.created} new, {v.updated} updated"
        for name, v in counts.items()
        if v.created or v.updated
    ]
    click.echo(
        f"loaded {', '.join(str(f) for f in files)}: "
        + ("; ".join(parts) if parts else "nothing changed")
    )


@cli.command()
@as_of_option
@json_option
@pass_ctx
def partners(c: Context, as_of: dt.date | None, as_json: bool) -> None:
    """List partners with group, agreements, last activity and dormancy."""
    from jobs.dormant_partners import quiet_since, spell_start
    from scheduler.services.runs import Runner

    day = as_of or c.today()
    registry = Runner(c.database(), c.settings).registry()
    after = c.settings.jobs.dormant_after_days
    rows: list[dict[str, Any]] = []
    for p in registry.partners.values():
        last = p.last_activity_on(day)
        rows.append(
            {
                "id": p.id,
                "name": p.name,
                "name_th": p.name_th,
                "country": p.country,
                "city": p.city,
                "working_group": p.working_group,
                "agreements": [
                    {
                        "kind": a.kind.value,
                        "signed_on": a.signed_on.isoformat(),
                        "local_party": a.local_party,
                        "expires_on": a.expires_on.isoformat() if a.expires_on else None,
                    }
                    for a in p.agreements
                ],
                "last_activity": last.isoformat() if last else None,
                "quiet_since": (q.isoformat() if (q := quiet_since(p, day)) else None),
                "dormant": spell_start(p, day, after) is not None,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Partners as of {day.isoformat()}")
    for col in ("id", "name", "country", "group", "agreements", "last activity", "dormant"):
        table.add_column(col)
    for r in rows:
        agreements = ", ".join(f"{a['kind']} {a['signed_on']}" for a in r["agreements"])
        table.add_row(
            r["id"],
            f"{r['name']} / {r['name_th']}",
            r["country"],
            r["working_group"] or "-",
            agreements,
            r["last_activity"] or "-",
            "DORMANT" if r["dormant"] else "",
        )
    Console(width=160).print(table)


@cli.group()
def activity() -> None:
    """Record activities with partners."""


@activity.command("add")
@click.argument("partner")
@click.option("--date", "day", type=DATE, required=True, help="When it happened (YYYY-MM-DD).")
@click.option("--title", required=True, help="What happened.")
@click.option(
    "--kind",
    default="other",
    show_default=True,
    help="visit, meeting, event, exchange, letter, other…",
)
@pass_ctx
def activity_add(c: Context, partner: str, day: dt.date, title: str, kind: str) -> None:
    """Record an activity with PARTNER (its id); it ends a dormant spell."""
    from scheduler.db.models import PartnerRow
    from scheduler.registry.domain import Activity
    from scheduler.registry.store import add_activities
    from scheduler.registry.validate import unsafe_text

    for name, value in (("--title", title), ("--kind", kind)):
        reason = unsafe_text(value)
        if reason or not value.strip():
            fail(f"{name}: {reason or 'must not be empty'}")
    db = c.database()
    with db.write(lock="registry") as session:
        if session.get(PartnerRow, partner) is None:
            fail(f'unknown partner "{partner}" (see `sistercity partners`)')
        counts = add_activities(session, [(partner, Activity(day, title.strip(), kind))])
    if counts.created:
        click.echo(f"recorded: {partner} {day.isoformat()} {title.strip()}")
    else:
        click.echo(f"already recorded: {partner} {day.isoformat()} {title.strip()}")


# -- jobs -----------------------------------------------------------------------------------
def _job_names(names: Sequence[str]) -> list[str]:
    for name in names:
        if name not in JOBS:
            raise click.BadParameter(
                f'unknown job "{name}" (jobs: {", ".join(JOBS)})', param_hint="JOB"
            )
    return list(dict.fromkeys(names)) or list(JOBS)


@cli.command()
@click.argument("jobs", nargs=-1, metavar="[JOB]...")
@as_of_option
@click.option("--dry-run", is_flag=True, help="Print what would be sent; change nothing.")
@pass_ctx
def run(c: Context, jobs: tuple[str, ...], as_of: dt.date | None, dry_run: bool) -> None:
    """Run JOBs (all four if none named): plan, queue, deliver."""
    from scheduler.mail.delivery import utcnow
    from scheduler.services.runs import Runner

    names = _job_names(jobs)
    day = as_of or c.today()
    db = c.database()
    runner = Runner(db, c.settings)
    runner.renderer.check(names)
    now = utcnow()
    with _no_cyclic_gc():
        if dry_run:
            _dry_run(runner, names, day, now)
            return
        results = runner.run_jobs(names, day, now=now)
    queued = [i for r in results for i in r.message_ids]
    report = _deliver(c, db, only=None, verbose_ids=queued)
    for r in results:
        ids = set(r.message_ids)
        runner.finish_run(r.run_id, utcnow(), sent=len(ids & set(report.sent)),
                          failed=len(ids & set(report.failed)))
    _print_summary(results, report)
    sys.exit(_exit_code(db, set(queued) | report.attempted))


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Planning builds millions of small objects and keeps them until it ends; the cyclic
    collector would walk them again and again (a third of the time at 10,000 partners).
    Reference counting still frees whatever is dropped meanwhile."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _dry_run(runner: Runner, names: Sequence[str], day: dt.date, now: dt.datetime) -> None:
    """Print what each job would send, as it is rendered; change nothing."""
    registry = runner.registry()
    for name in names:
        lines: list[str] = []

        def show(draft: Draft, lines: list[str] = lines) -> None:
            recipient = draft.recipient
            lines.append(f"  to {recipient.address} [{recipient.language}]: "
                         f"{draft.rendered.subject}")

        r = runner.run_job(name, day, now=now, registry=registry, dry_run=True, on_draft=show,
                           subjects_only=True)
        click.echo(f"{r.job} as of {r.as_of.isoformat()}: {r.notices} notices in "
                   f"{r.messages} emails (dry run: nothing queued or sent)")
        for line in lines:
            click.echo(line)


def _print_summary(results: Sequence[JobResult], report: DeliveryReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="sistercity run")
    for col in ("job", "as of", "notices", "emails queued", "sent", "retrying", "failed"):
        table.add_column(col, justify="right" if col not in ("job", "as of") else "left")
    sent, retrying, failed = set(report.sent), set(report.retrying), set(report.failed)
    for r in results:
        ids = set(r.message_ids)
        table.add_row(
            r.job,
            r.as_of.isoformat(),
            str(r.notices),
            str(r.messages),
            str(len(ids & sent)),
            str(len(ids & retrying)),
            str(len(ids & failed)),
        )
    other = len(report.attempted - {i for r in results for i in r.message_ids})
    Console(width=120).print(table)
    if other:
        click.echo(f"also delivered or attempted {other} earlier queued messages")
    if report.stopped:
        click.echo(
            f"delivery stopped: {report.stopped}; queued messages stay for a later "
            "`sistercity deliver`",
            err=True,
        )


def _deliver(
    c: Context, db: Database, *, only: Sequence[int] | None, verbose_ids: Sequence[int] = ()
) -> DeliveryReport:
    import asyncio

    from scheduler.mail.delivery import Delivery, make_transport

    with _progress(len(verbose_ids)) as advance:
        delivery = Delivery(db, c.settings, make_transport(c.settings), progress=advance)
        return asyncio.run(delivery.run(only))


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal for long deliveries; nothing otherwise."""
    if total < 20 or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("sending", total=total)
        yield lambda n: bar.advance(task, n)


def _exit_code(db: Database, ids: set[int]) -> int:
    """1 when any of these messages waits for a retry (pending) or failed. One that another
    process is sending right now (`sending`) is in hand, not waiting."""
    if not ids:
        return 0
    from sqlalchemy import select

    from scheduler.db.tables import messages

    with db.engine.connect() as conn:
        states = set(conn.scalars(select(messages.c.state).where(messages.c.id.in_(ids))))
    return 1 if states & {"pending", "failed"} else 0


@cli.command()
@pass_ctx
def deliver(c: Context) -> None:
    """Send queued messages that are due."""
    db = c.database()
    report = _deliver(c, db, only=None)
    click.echo(
        f"sent {len(report.sent)}, retrying {len(report.retrying)}, failed {len(report.failed)}"
    )
    if report.stopped:
        click.echo(f"delivery stopped: {report.stopped}", err=True)
    sys.exit(_exit_code(db, report.attempted))


@cli.command()
@click.argument("job")
@as_of_option
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
    from scheduler.mail.delivery import utcnow
    from scheduler.mail.transports import safe_recipient
    from scheduler.services.runs import Runner

    name = _job_names([job])[0]
    day = as_of or c.today()
    runner = Runner(c.database(), c.settings)
    runner.renderer.check([name])
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(draft: Draft) -> None:
        path = out / f"{name}-{len(written) + 1:03d}-{safe_recipient(draft.recipient.address)}.eml"
        path.write_bytes(draft.rendered.data)
        written.append(path)

    result = runner.run_job(name, day, now=utcnow(), dry_run=True, on_draft=save)
    click.echo(f"wrote {len(written)} emails ({result.notices} notices) to {out}")


# -- outbox and status ----------------------------------------------------------------------
STATES = ("pending", "sending", "sent", "failed")


@cli.group(invoke_without_command=True)
@click.option("--state", type=click.Choice(STATES), default=None, help="Only this state.")
@json_option
@click.pass_context
def outbox(ctx: click.Context, state: str | None, as_json: bool) -> None:
    """List queued and sent messages; `outbox retry` requeues."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy import select

    from scheduler.db.models import MessageRow

    c: Context = ctx.obj
    db = c.database()
    query = select(
        MessageRow.id,
        MessageRow.job,
        MessageRow.recipient,
        MessageRow.subject,
        MessageRow.state,
        MessageRow.attempts,
        MessageRow.last_error,
        MessageRow.created_at,
        MessageRow.sent_at,
        MessageRow.next_attempt_at,
    )
    if state:
        query = query.where(MessageRow.state == state)
    with db.read() as session:
        rows = [dict(r._mapping) for r in session.execute(query.order_by(MessageRow.id))]
    tz = c.settings.tz
    for r in rows:
        for key in ("created_at", "sent_at", "next_attempt_at"):
            r[key] = r[key].astimezone(tz).isoformat() if r[key] else None
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="outbox")
    for col in ("id", "job", "recipient", "subject", "state", "attempts", "last error"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["job"],
            r["recipient"],
            r["subject"],
            r["state"],
            str(r["attempts"]),
            r["last_error"] or "",
        )
    Console(width=200).print(table)


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Requeue every failed message.")
@pass_ctx
def outbox_retry(c: Context, ids: tuple[int, ...], all_failed: bool) -> None:
    """Requeue failed messages (by ID, or all with --failed) and try to send them now."""
    from sqlalchemy import select, update

    from scheduler.db.models import MessageRow
    from scheduler.mail.delivery import utcnow

    if not ids and not all_failed:
        raise click.UsageError("give message IDs or --failed")
    db = c.database()
    with db.write() as session:
        query = select(MessageRow.id, MessageRow.state)
        query = (
            query.where(MessageRow.id.in_(ids))
            if ids
            else query.where(MessageRow.state == "failed")
        )
        found = {r[0]: r[1] for r in session.execute(query)}
        missing = [i for i in ids if i not in found]
        if missing:
            fail(f"no such message: {', '.join(map(str, missing))}")
        chosen = [i for i, s in found.items() if s in ("failed", "pending")]
        if chosen:
            session.execute(
                update(MessageRow)
                .where(MessageRow.id.in_(chosen))
                .values(state="pending", attempts=0, next_attempt_at=utcnow())
            )
    skipped = sorted(set(found) - set(chosen))
    if skipped:
        click.echo(f"not requeued (already sent or being sent): {', '.join(map(str, skipped))}")
    report = _deliver(c, db, only=chosen)
    click.echo(
        f"requeued {len(chosen)}: sent {len(report.sent)}, retrying "
        f"{len(report.retrying)}, failed {len(report.failed)}"
    )
    sys.exit(_exit_code(db, set(chosen)))


@cli.command()
@json_option
@pass_ctx
def status(c: Context, as_json: bool) -> None:
    """Each job's schedule, next and last run; message counts by state."""
    from scheduler.services.status import collect_status

    data = collect_status(c.database(), c.settings)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    daemon = data.get("daemon")
    click.echo(f"daemon: {'active ' + daemon['id'] if daemon else 'not running'}")
    for job in data["jobs"]:
        click.echo(
            f"  {job['name']:<18} {job['schedule']:<14} next {job['next_run'] or '-'}  "
            f"last {job['last_run'] or '-'}"
        )
    counts = data["outbox"]
    click.echo("outbox: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="sistercity")


def _add_commands() -> None:
    """Commands that live in modules of their own (each imports only click at the top)."""
    from scheduler.cli.agenda import agenda
    from scheduler.cli.daemon import daemon
    from scheduler.cli.sheets import register_sheets

    cli.add_command(agenda)
    cli.add_command(daemon)
    register_sheets(cli)


_add_commands()
