"""What every `sistercity` command module shares: the click context object, the one DATE
parameter type (so `--as-of` is parsed one way everywhere), `fail`, and output helpers.

Imports only click and the standard library at load time, so that `sistercity --help` stays
fast; the settings, database and rich are imported when a command first needs them (lazy
imports below are for that reason only).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from scheduler.config import Settings
    from scheduler.db.database import Database
    from scheduler.services.audit import Actor

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """The `sistercity` group's state: the --config path and -v count; the settings and the
    database, each opened once, on first use."""

    def __init__(self, config: str | None, verbose: int) -> None:
        self.config_path = config
        self.verbose = verbose
        self._settings: Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> Settings:
        """The settings from --config / $SISTERCITY_CONFIG / ./config.toml; ConfigError."""
        if self._settings is None:
            from scheduler.config import load_settings  # lazy: keeps --help fast

            self._settings = load_settings(self.config_path)
        return self._settings

    def database(self, *, bootstrap: bool = True, upgrade: bool = False) -> Database:
        """The database, its schema checked (created/upgraded with `upgrade`) and, with
        `bootstrap`, the configured dataset loaded the first time (once per database)."""
        if self._db is None:
            from scheduler.registry.bootstrap import open_database  # lazy: keeps --help fast

            self._db = open_database(self.settings, bootstrap=bootstrap, upgrade=upgrade,
                                     today=self.today())
        return self._db

    def today(self) -> dt.date:
        """Today in the configured time zone: the clock is read here, at the edge."""
        return dt.datetime.now(self.settings.tz).date()

    def actor(self) -> Actor:
        """Who makes a change from the command line ("cli"), and now (UTC): for the audit."""
        from scheduler.services.audit import Actor  # lazy: keeps --help fast

        return Actor.on_cli(dt.datetime.now(dt.UTC))

    def as_of(self, day: dt.date | None) -> dt.date:
        """`--as-of` when given, else today."""
        return day if day is not None else self.today()


pass_ctx = click.make_pass_decorator(Context)


def current() -> Context:
    """The Context of the running `sistercity` invocation (for commands registered on it)."""
    c = click.get_current_context().find_object(Context)
    assert c is not None, "the command runs under the sistercity group"
    return c


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `sistercity: message` on stderr and exit with `code` (2: bad input)."""
    click.echo(f"sistercity: {message}", err=True)
    sys.exit(code)


class DateParam(click.ParamType):  # type: ignore[type-arg]
    """A calendar date → datetime.date: YYYY-MM-DD (a year ≥ 2400 read as Buddhist Era) or a
    Thai form (15/11/2560, 15 พ.ย. 2560, 15 พฤศจิกายน 2560, Thai digits), as SPEC "Commands"
    says; see `thaidate.parse_date`. Used by every date option (--as-of, --date, --on…)."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.date):
            return value
        from scheduler.dates.thaidate import parse_date  # lazy: keeps --help fast

        try:
            return parse_date(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DATE = DateParam()


def as_of_option(help: str = "Plan as of this date (YYYY-MM-DD; a year ≥ 2400 is Buddhist "
                 "Era). Default: today.") -> Callable[[F], F]:
    """The `--as-of DATE` option (None when not given), with a command-specific help text."""
    return click.option("--as-of", "as_of", type=DATE, default=None, help=help)


def json_option(f: F) -> F:
    """The `--json` flag (parameter `as_json`)."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(f)


def print_json(data: Any) -> None:
    """One indented JSON document on stdout, non-ASCII kept as is."""
    import json

    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *,
    right: Sequence[str] = (), keep: Sequence[str] = (),
) -> None:
    """A table on stdout as wide as the terminal (rich measures it; when stdout is not a
    terminal it takes $COLUMNS, else 80). Columns named in `keep` (ids, dates, states) are
    never broken, so the others wrap and, where a word is too long, fold onto the next line
    rather than lose text to an ellipsis; no column is narrower than the longest word of its
    header. Columns are ruled by spacing, not lines, which leaves their text the most room.
    Columns named in `right` are right-aligned."""
    from rich import box  # lazy: keeps --help fast
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left",
                         no_wrap=col in keep, overflow="fold",
                         min_width=max(len(word) for word in col.split()))
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@contextmanager
def progress_bar(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal for long deliveries (≥ 20 messages); nothing otherwise.
    Yields the callback to advance it by n, or None."""
    if total < 20 or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress  # lazy: keeps --help fast

    with Progress(transient=True) as bar:
        task = bar.add_task("sending", total=total)
        yield lambda n: bar.advance(task, n)
