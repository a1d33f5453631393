"""`sistercity daemon`: run the schedule until SIGTERM or SIGINT (logic: scheduler.daemon).

Exit status: 0 after a clean stop; 2 when the daemon cannot start here (bad config, broken
template, another daemon already running on the same SQLite database).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from scheduler import logs

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
@_timing_option("--lease-seconds", "SISTERCITY_DAEMON_LEASE_SECONDS", 15.0,
                "PostgreSQL: a leader that has not renewed its lease for this long is replaced.")
@_timing_option("--stop-timeout", "SISTERCITY_DAEMON_STOP_TIMEOUT_SECONDS", 45.0,
                "How long a stop waits for the messages in flight.")
def daemon(heartbeat_seconds: float, poll_seconds: float, delivery_seconds: float,
           lease_seconds: float, stop_timeout: float) -> None:
    """Run the schedule until SIGTERM/SIGINT, then exit 0 after the messages in flight.

    On start, and whenever it becomes the active daemon, it runs every job once as of today
    and delivers; then it follows [schedule] and sends queued messages as their back-off comes
    due. With PostgreSQL several daemons may run: one is active, the others stand by and take
    over within 30 seconds. With SQLite a second daemon refuses to start.
    """
    # Imported here, not at the top: `sistercity --help` need not load APScheduler.
    from jobs import JOB_NAMES
    from scheduler.cli.common import fail
    from scheduler.daemon.leadership import open_leadership
    from scheduler.daemon.loop import serve
    from scheduler.daemon.service import Daemon, Timing
    from scheduler.services.runs import link_signer

    c: Context = click.get_current_context().obj
    logs.show_progress()  # the daemon's log is its record of work: progress lines at -v0 too
    settings = c.settings
    timing = Timing(heartbeat_seconds=heartbeat_seconds, poll_seconds=poll_seconds,
                    delivery_seconds=delivery_seconds, stop_timeout_seconds=stop_timeout)
    if lease_seconds <= 2 * min(heartbeat_seconds, poll_seconds):
        fail("--lease-seconds must be more than twice the heartbeat and poll interval: a "
             "lease renewed that seldom would run out under its own holder")
    link_signer(settings)  # the links' key (SPEC "The way back"): stop now, not at 8:00
    # SQLite: taken now, before the database is touched
    leadership = open_leadership(settings, lease_seconds=lease_seconds)
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
