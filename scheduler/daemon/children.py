"""Running one job in a short-lived child process and collecting its result.

A run over a large registry peaks at hundreds of MB; in a child, all of it goes back to the
system when the run ends, and the daemon stays at its idle size for the days between runs.
"""

from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from scheduler import logs
from scheduler.config import Settings
from scheduler.db.lease import Fence
from scheduler.registry.bootstrap import open_database
from scheduler.services.runs import JobResult, Runner


def run_job_in_child(
    settings: Settings, job: str, as_of: dt.date, now: dt.datetime, *, fence: Fence | None = None
) -> JobResult:
    """Plan and queue `job` (a name of jobs.JOB_NAMES) as of the local date `as_of`
    at the aware UTC instant `now`, in a fresh spawned interpreter; blocks until it ends.
    The run is recorded with trigger "daemon", its rows written under `fence` (Fenced, nothing
    written, when another daemon took over). Errors: whatever the run raised, re-raised here
    (its traceback text attached by concurrent.futures); BrokenProcessPool if the child died."""
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited locks
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_child_run_job, settings, job, as_of, now, fence,
                           logs.current()).result()


def _child_run_job(settings: Settings, job: str, as_of: dt.date, now: dt.datetime,
                   fence: Fence | None, log_setup: logs.LogSetup | None) -> JobResult:
    if log_setup is not None:  # a spawned interpreter starts without the parent's logging
        logs.configure(log_setup)
    gc.disable()  # planning makes millions of objects and frees them all at the end
    db = open_database(settings, bootstrap=False)
    try:
        return Runner(db, settings, fence=fence).run_job(job, as_of, now=now, trigger="daemon")
    finally:
        db.dispose()
