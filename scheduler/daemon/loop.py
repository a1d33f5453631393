"""The control loop: a `Daemon` wired to APScheduler and to SIGTERM/SIGINT.

The loop runs on the main thread, where signals arrive; the schedule's single worker thread does
the work. `ControlLoop.tick()` is one turn (the daemon's `step` at the clock's time, and the
schedule installed or removed as the role changed), so tests drive the loop turn by turn with
an explicit clock; `serve` repeats it until a signal.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from scheduler.daemon import schedule
from scheduler.daemon.service import Change, Daemon
from scheduler.mail.delivery import Clock, utcnow

log = logging.getLogger("sistercity.daemon")


class ControlLoop:
    """Turns of the control loop for `daemon` on `scheduler` (started or not), reading the time
    from `clock` (aware UTC datetimes)."""

    def __init__(self, daemon: Daemon, scheduler: BackgroundScheduler,
                 clock: Clock = utcnow) -> None:
        self.daemon = daemon
        self.scheduler = scheduler
        self.clock = clock

    def tick(self) -> Change:
        """One turn: on promotion install the schedule (the catch-up pass first), on demotion
        remove it. Returns what changed."""
        change = self.daemon.step(self.clock())
        if change is Change.PROMOTED:
            schedule.install(self.scheduler, self.daemon.schedule, self.daemon, self.clock,
                             delivery_seconds=self.daemon.timing.delivery_seconds)
        elif change is Change.DEMOTED:
            schedule.uninstall(self.scheduler)
        return change


def serve(daemon: Daemon, *, clock: Clock = utcnow) -> bool:
    """Run `daemon` until SIGTERM or SIGINT: register it, tick every `timing.loop_seconds`,
    then drain (at most `timing.stop_timeout_seconds`) and close. Returns True when all work in
    flight finished within the stop timeout (then nothing is left running). Must run on the
    main thread (signal handlers). Errors: SQLAlchemyError when the daemon cannot register."""
    timing = daemon.timing
    scheduler = schedule.background_scheduler(daemon.settings.tz, timing.misfire_grace_seconds)
    loop = ControlLoop(daemon, scheduler, clock)
    stop = threading.Event()
    received: list[str] = []
    with _signals_stop(stop, received, daemon):
        scheduler.start()
        try:
            daemon.register(clock())
            while not stop.is_set():
                loop.tick()
                stop.wait(timing.loop_seconds)
            log.info("%s: stopping; messages in flight finish first (at most %.0f s)",
                     received[0] if received else "stop", timing.stop_timeout_seconds)
        finally:
            scheduler.shutdown(wait=False)
            idle = daemon.drain(timing.stop_timeout_seconds)
            daemon.close(clock())
    return idle


@contextmanager
def _signals_stop(stop: threading.Event, received: list[str], daemon: Daemon) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` and stop `daemon`, inside the block; the previous
    handlers come back after it."""
    def handle(signum: int, frame: FrameType | None) -> None:
        # Only flags here: the main loop logs once it wakes up.
        received.append(signal.Signals(signum).name)
        stop.set()
        daemon.stop()

    previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None] = {
        sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
