"""Running one job in a short-lived child process, bounded in time, and collecting its result.

A run over a large registry peaks at hundreds of MB; in a child, all of it goes back to the
system when the run ends, and the daemon stays at its idle size for the days between runs.

A child is bounded (SPEC "Delivery": `scheduler.job_timeout_seconds`): past its limit it is
terminated, then killed; its transaction dies with it (SQLite drops an uncommitted write,
PostgreSQL rolls back a session whose connection closed), so it holds no lock afterwards. No
child outlives the daemon: `JobChild.stop` ends it at once when the daemon stops, and on Linux
the kernel kills it if the daemon dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import multiprocessing
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from scheduler import logs
from scheduler.config import Settings
from scheduler.db.lease import Fence
from scheduler.registry.bootstrap import open_database
from scheduler.services.runs import JobResult, JobTimeout, Runner

# After SIGTERM, how long a child may take to go before it is killed (seconds).
TERMINATE_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class JobStopped(Exception):
    """The daemon stopped while the job ran: the child was ended, nothing was queued."""


class ChildDied(Exception):
    """The child ended without an answer (killed by the system, out of memory, …)."""


class ChildTraceback(Exception):
    """The traceback text of an error raised in the child (attached as the cause)."""


class JobChild:
    """One job run (`Runner.run_job`, trigger "daemon") in a fresh spawned interpreter: `start`,
    then `result` in the thread that waits for it and `stop` from any thread."""

    def __init__(self, process: BaseProcess, answers: Connection, job: str) -> None:
        self.process = process
        self.job = job
        self._answers = answers
        self._stopped = False

    @classmethod
    def start(cls, settings: Settings, job: str, as_of: dt.date, now: dt.datetime, *,
              fence: Fence | None = None) -> JobChild:
        """Start planning and queuing `job` (a name of jobs.JOB_NAMES) as of the local date
        `as_of` at the aware UTC instant `now`, its rows written under `fence`."""
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited locks
        answers, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_child_main, name=f"sistercity job {job}", daemon=True,
            args=(send, settings, job, as_of, now, fence, logs.current(), os.getpid()))
        process.start()
        send.close()  # ours: the child's end stays open in the child only
        return cls(process, answers, job)

    def result(self, timeout: float) -> JobResult:
        """Wait up to `timeout` seconds for the run's result; the child is gone on return.
        Errors: JobTimeout past the limit; JobStopped after `stop`; ChildDied when the child
        ended without answering; whatever the run raised (Fenced included), re-raised here with
        the child's traceback as its cause."""
        try:
            ready = wait([self._answers, self.process.sentinel], timeout)
            if self._answers in ready:
                try:
                    ok, value, text = self._answers.recv()
                except EOFError:
                    ready = []  # died while answering
                else:
                    if ok:
                        assert isinstance(value, JobResult)
                        return value
                    raise value from ChildTraceback(text)
            if self._stopped:
                raise JobStopped(f"job {self.job}: stopped with the daemon; nothing was queued")
            if not ready:
                raise JobTimeout(self.job, timeout)
            raise ChildDied(f"job {self.job}: its process ended without an answer "
                            f"(exit {self.process.exitcode})")
        finally:
            self._end()

    def stop(self) -> None:
        """End the child now (the daemon is stopping); `result` then raises JobStopped. Safe
        from any thread and more than once."""
        self._stopped = True
        if self.process.is_alive():
            self.process.terminate()

    def _end(self) -> None:
        """Terminate, wait a little, kill; reap the process (no zombie, no orphan)."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(TERMINATE_GRACE_SECONDS)
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self._answers.close()
        self.process.close()


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel sends SIGKILL when the daemon ends, however it ends."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def _child_main(answers: Connection, settings: Settings, job: str, as_of: dt.date,
                now: dt.datetime, fence: Fence | None, log_setup: logs.LogSetup | None,
                parent: int) -> None:
    _die_with_parent(parent)
    if log_setup is not None:  # a spawned interpreter starts without the parent's logging
        logs.configure(log_setup)
    gc.disable()  # planning makes millions of objects and frees them all at the end
    try:
        db = open_database(settings, bootstrap=False)
        try:
            result = Runner(db, settings, fence=fence).run_job(job, as_of, now=now,
                                                               trigger="daemon")
        finally:
            db.dispose()
    except Exception as exc:
        text = traceback.format_exc()
        try:
            answers.send((False, exc, text))
        except Exception:  # the error itself does not pickle: send its text
            answers.send((False, RuntimeError(f"{type(exc).__name__}: {exc}"), text))
    else:
        answers.send((True, result, ""))
    answers.close()
