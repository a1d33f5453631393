"""`sistercity init | load | partners | show | activity add | remove | end`: the registry (logic:
scheduler.services.partners). Parse, call, print.

Only click and scheduler.cli.common are imported at load time, so that `sistercity --help`
stays fast; each command imports its service when it runs (lazy for that reason only).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from scheduler.cli.common import (
    DATE,
    Context,
    as_of_option,
    json_option,
    pass_ctx,
    print_json,
    print_table,
)


@click.command()
@pass_ctx
def init(c: Context) -> None:
    """Create or upgrade the database schema; load the configured dataset the first time."""
    from scheduler.registry.store import partner_count  # lazy: keeps --help fast

    db = c.database(upgrade=True)
    with db.read() as session:
        partners = partner_count(session)
    click.echo(
        f"schema {db.schema_action} ({_safe_url(c.settings.database_url)}); {partners} partners"
    )


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    from sqlalchemy.engine import make_url  # lazy: keeps --help fast

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "database"


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_ctx
def load(c: Context, files: tuple[Path, ...]) -> None:
    """Validate dataset FILES, then upsert them by id (all or nothing)."""
    from scheduler.services.partners import load_dataset  # lazy: keeps --help fast

    counts = load_dataset(c.database(bootstrap=False), files, today=c.today(), by=c.actor())
    parts = [
        f"{name}: {v.created} new, {v.updated} updated"
        for name, v in counts.items()
        if v.created or v.updated
    ]
    click.echo(
        f"loaded {', '.join(str(f) for f in files)}: "
        + ("; ".join(parts) if parts else "nothing changed")
    )


@click.command()
@as_of_option()
@json_option
@pass_ctx
def partners(c: Context, as_of: dt.date | None, as_json: bool) -> None:
    """List partners with group, agreements, last activity and dormancy."""
    from scheduler.services.partners import list_partners  # lazy: keeps --help fast

    day = c.as_of(as_of)
    rows = list_partners(c.database(), as_of=day,
                         dormant_after_days=c.settings.jobs.dormant_after_days)
    if as_json:
        print_json([p.to_json() for p in rows])
        return
    print_table(
        f"Partners as of {day.isoformat()}",
        ("id", "name", "group (country)", "agreements", "last\nactivity", "dormant"),
        [
            (
                p.id,
                "\n".join(filter(None, (p.name, p.name_th))),
                f"{p.working_group or '-'} ({p.country})",
                "\n".join(f"{a.kind} {a.signed_on.isoformat()}" for a in p.agreements),
                p.last_activity.isoformat() if p.last_activity else "-",
                ("ended" if p.ended_on and p.ended_on <= day  # `show` gives the date
                 else "DORMANT" if p.dormant else ""),
            )
            for p in rows
        ],
        keep=("id", "last\nactivity", "dormant"),
    )


@click.group()
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
    """Record an activity with PARTNER (id, or English or Thai name, any case); it ends a
    dormant spell."""
    from scheduler.services.partners import record_activity  # lazy: keeps --help fast

    done = record_activity(c.database(), partner, day=day, title=title, kind=kind,
                           by=c.actor(), today=c.today())
    prefix = "recorded" if done.created else "already recorded"
    click.echo(f"{prefix}: {done.partner_id} {done.date.isoformat()} {done.title}")


@click.command()
@click.argument("partner")
@as_of_option("Dormancy and what is due as of this date. Default: today.")
@json_option
@pass_ctx
def show(c: Context, partner: str, as_of: dt.date | None, as_json: bool) -> None:
    """One PARTNER (id, or English or Thai name): group, route, agreements and activities
    with their ids, dormancy, what is due."""
    from scheduler.services.partners import partner_detail  # lazy: keeps --help fast

    day = c.as_of(as_of)
    d = partner_detail(c.database(), partner, as_of=day,
                       dormant_after_days=c.settings.jobs.dormant_after_days)
    if as_json:
        print_json(d.to_json())
        return
    p = d.summary
    click.echo(f"{p.name} / {p.name_th} ({p.id}), {p.country}")
    click.echo(f"group: {p.working_group or '-'} {d.group_name}".rstrip())
    click.echo(f"route: {d.route} {d.route_contact or '(no contact)'}")
    if d.ended_on:
        click.echo(f"ended on {d.ended_on.isoformat()}" + (f": {d.end_reason}" if d.end_reason
                                                          else ""))
    last = p.last_activity.isoformat() if p.last_activity else "-"
    click.echo(f"last activity: {last}" + ("  DORMANT" if p.dormant else ""))
    click.echo(f"agreements ({len(d.agreements)}):")
    for a in d.agreements:
        due = f"; next anniversary {a.next_anniversary.isoformat()}" if a.next_anniversary else ""
        ends = f"; expires {a.expires_on.isoformat()}" if a.expires_on else ""
        click.echo(f"  {a.id}  {a.kind} signed {a.date.isoformat()} by {a.what}{ends}{due}")
    click.echo(f"activities ({len(d.activities)}):")
    for a in d.activities:
        click.echo(f"  {a.id}  {a.date.isoformat()} {a.kind}: {a.what}")


@click.command()
@click.argument("kind", type=click.Choice(["agreement", "activity"]))
@click.argument("partner")
@click.argument("record_id", metavar="ID")
@pass_ctx
def remove(c: Context, kind: str, partner: str, record_id: str) -> None:
    """Remove one agreement or activity of PARTNER entered by mistake (ID: see `show`); it
    stays in the audit log."""
    from scheduler.services.partners import RecordKind, remove_record  # lazy: --help fast

    done = remove_record(c.database(), RecordKind(kind), partner, record_id, by=c.actor())
    click.echo(f"removed {done.kind.value} {done.id} of {done.partner_id}")


@click.command()
@click.argument("partner")
@click.option("--on", "on", type=DATE, required=True, help="The day the relation ended.")
@click.option("--reason", default="", help="Why (shown to staff).")
@pass_ctx
def end(c: Context, partner: str, on: dt.date, reason: str) -> None:
    """Record that the relation with PARTNER ended: no reminder of any job about it in a run
    as of that day or later."""
    from scheduler.services.partners import end_relation  # lazy: keeps --help fast

    done = end_relation(c.database(), partner, on=on, reason=reason, by=c.actor())
    click.echo(f"ended: {done.partner_id} on {done.ended_on.isoformat()}")


COMMANDS = (init, load, partners, show, activity, remove, end)
