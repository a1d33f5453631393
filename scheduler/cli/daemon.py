"""`sistercity daemon`: run the schedule until SIGTERM or SIGINT (logic: scheduler.daemon).

Exit status: 0 after a clean stop; 2 when the daemon cannot start here (bad config, broken
template, another daemon already running on the same SQLite database).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click

if TYPE_CHECKING:
    from scheduler.cli.common import Context

F = TypeVar("F", bound=Callable[..., Any])

_SECONDS = click.FloatRange(min=0.05, max=3600)


def _timing_option(name: str, env: str, default: float, text: str) -> Callable[[F], F]:
    # Hidden: for tests and for the curious; production keeps the defaults.
    return click.option(name, type=_SECONDS, default=default, envvar=env, show_envvar=True,
                         show_default=True, hidden=True, help=text)


@click.command("daemon")
@_timing_option("--heartbeat-seconds", "SISTERCITY_DAEMON_HEARTBEAT_SECONDS", 10.0,
                "How often the daemon records that it is alive (status trusts < 90 s).")
@_timing_option("--poll-seconds", "SISTERCITY_DAEMON_POLL_SECONDS", 5.0,
                "How often a standby daemon tries to become the active one.")
@_timing_option("--delivery-seconds", "SISTERCITY_DAEMON_DELIVERY_SECONDS", 20.0,
                "How often queued messages are sent as their back-off comes due.")
@_timing_option("--stop-timeout", "SISTERCITY_DAEMON_STOP_TIMEOUT_SECONDS", 45.0,
                "How long a stop waits for the messages in flight.")
def daemon(heartbeat_seconds: float, poll_seconds: float, delivery_seconds: float,
           stop_timeout: float) -> None:
    """Run the schedule until SIGTERM/SIGINT, then exit 0 after the messages in flight.

    On start, and whenever it becomes the active daemon, it runs every job once as of today
    and delivers; then it follows [schedule] and sends queued messages as their back-off comes
    due. With PostgreSQL several daemons may run: one is active, the others stand by and take
    over within 30 seconds. With SQLite a second daemon refuses to start.
    """
    from jobs import JOB_NAMES
    from scheduler.daemon.service import Daemon, Timing, open_leadership, serve

    c: Context = click.get_current_context().obj
    _setup_logging(c.verbose)
    settings = c.settings
    timing = Timing(heartbeat_seconds=heartbeat_seconds, poll_seconds=poll_seconds,
                    delivery_seconds=delivery_seconds, stop_timeout_seconds=stop_timeout)
    leadership = open_leadership(settings)  # SQLite: taken now, before the database is touched
    try:
        db = c.database()
        worker = Daemon(db, settings, leadership, timing=timing)
        worker.runner.renderer.check(JOB_NAMES)  # a broken template stops us here, not at 8:00
        idle = serve(worker)
    finally:
        leadership.release()
    db.dispose()
    if not idle:
        # A worker thread is still busy past the stop timeout; the interpreter would wait for
        # it at exit. The lock is released and the row marked stopped: leave now.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(0)


class _JournalFormatter(logging.Formatter):
    """Under systemd, prefix each line with its syslog priority (`<3>` error … `<7>` debug),
    which journald reads and strips; journald stamps the time itself."""

    PRIORITY: ClassVar[Mapping[int, int]] = {
        logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
        logging.DEBUG: 7,
    }

    def format(self, record: logging.LogRecord) -> str:
        priority = self.PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def _stderr_is_journal() -> bool:
    """systemd sets JOURNAL_STREAM=device:inode of the journal stream it connected; children
    inherit the variable, so compare it with what stderr really is."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return bool(expected) and expected == f"{st.st_dev}:{st.st_ino}"


def _setup_logging(verbose: int) -> None:
    """One greppable line per event on stderr (`job=… as_of=… sent=…`); the time only on a
    terminal."""
    handler = logging.StreamHandler(sys.stderr)
    if _stderr_is_journal():
        handler.setFormatter(_JournalFormatter("%(levelname)s %(message)s"))
    elif sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    debug = verbose > 1
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO if verbose else
                        logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("sistercity").setLevel(logging.DEBUG if debug else logging.INFO)
    # "skipped: maximum number of running instances reached" is normal here: the delivery tick
    # waits behind a long job run in the single worker.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.DEBUG if debug else logging.ERROR)
