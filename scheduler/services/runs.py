"""One path for `run`, `--dry-run`, `preview` and the daemon: plan → queue → deliver.

`Runner` is the engine the daemon drives job by job; `run_and_deliver`, `dry_run` and `preview`
are the user's operations on top of it (the CLI's `run`, `run --dry-run` and `preview`, and
later the web app's). The clock is read by the caller (CLI or daemon) and passed in as `as_of`
and `now`.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sqlalchemy import update

from jobs import job_spec
from scheduler.config import Settings
from scheduler.dates.thaidate import WorkingCalendar
from scheduler.db.database import Database
from scheduler.db.lease import Fence
from scheduler.db.models import RunRow
from scheduler.errors import ConfigError, UserError
from scheduler.files import write_atomically
from scheduler.links import LinkSigner
from scheduler.mail.delivery import DeliveryReport
from scheduler.mail.outbox import Draft, draft_messages, load_history, queue_drafts
from scheduler.mail.render import Renderer
from scheduler.mail.transports import safe_recipient, smtp_password
from scheduler.mail.weblinks import EmailLinks
from scheduler.planning import (
    Acknowledgements,
    History,
    JobSpec,
    Notice,
    PlanContext,
    SkippedItem,
)
from scheduler.registry.domain import Registry, SentOccurrence
from scheduler.registry.store import load_registry
from scheduler.services.actions import load_acknowledgements
from scheduler.services.outbox import any_waiting, deliver

log = logging.getLogger("sistercity.run")


@dataclass
class JobResult:
    """One job's run: notices planned, messages queued (or drafted, in a dry run), the ids of
    the queued messages and of the run row (None in a dry run), and the items that could not
    be planned (skipped; the rest of the job went on)."""

    job: str
    as_of: dt.date
    notices: int = 0
    messages: int = 0
    message_ids: list[int] = field(default_factory=list)
    run_id: int | None = None
    error: str | None = None  # the run was stopped (JobTimeout) and recorded as failed
    skipped: list[SkippedItem] = field(default_factory=list)


class JobTimeout(BaseException):
    """A job run went past scheduler.job_timeout_seconds and was stopped (SPEC "Delivery").

    A BaseException, like KeyboardInterrupt: it interrupts the run from outside, so the
    planners' `except Exception` (one item's fault: skip it, go on) must not swallow it, or an
    alarm that lands while an item is planned skips that item and the job runs on unbounded.
    """

    def __init__(self, job: str, seconds: float) -> None:
        super().__init__(job, seconds)  # its args, so that it pickles from a child process
        self.job = job
        self.seconds = seconds

    def __str__(self) -> str:
        return (f"job {self.job} did not finish within {self.seconds:g} s "
                "(scheduler.job_timeout_seconds): stopped, nothing it planned was queued")


@contextmanager
def time_limit(seconds: float, job: str) -> Iterator[None]:
    """Raise JobTimeout in the block once it has run `seconds` (wall time), by SIGALRM: on
    the main thread only, where a command runs (elsewhere the block is not bounded; the daemon
    bounds its runs with a child process). An interrupted write transaction rolls back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: FrameType | None) -> None:
        raise JobTimeout(job, seconds)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def link_signer(settings: Settings, secret: str | None = None) -> LinkSigner | None:
    """The signer of the links internal emails carry (SPEC "The way back"), None when
    `web.base_url` is empty (no links); its key is `secret` when given (the web app's, read at
    its start), else the variable `web.secret_env` names. ConfigError naming that variable when
    `web.base_url` is set and there is no key: every command that plans emails then stops
    before anything is planned or queued."""
    web = settings.web
    if not web.base_url:
        return None
    secret = secret or web.secret()
    if secret is None:
        raise ConfigError(
            f"the signing key of the links in emails is missing: web.base_url is set, so set "
            f"the environment variable {web.secret_env} (web.secret_env) to a long random "
            "string (the web app's key)")
    return LinkSigner(secret)


class Runner:
    """Plans, renders and queues jobs against one database with one settings; holds the
    template renderer and the working calendar so that several jobs share them. `fence`: the
    daemon leader's term, checked by every run row it writes (None outside a daemon).
    `secret`: the links' key when the caller holds it (the web app), else read from the
    environment; ConfigError when emails need links and there is none (`link_signer`)."""

    def __init__(self, db: Database, settings: Settings, *, renderer: Renderer | None = None,
                 fence: Fence | None = None, secret: str | None = None):
        self.signer = link_signer(settings, secret)
        self.db = db
        self.settings = settings
        self.fence = fence
        self.renderer = renderer or Renderer(
            sender=settings.email.sender,
            timezone=settings.timezone,
            templates_dir=settings.email.templates_dir,
            office=settings.office,
        )
        self.calendar = WorkingCalendar(settings.extra_holidays, settings.extra_working_days)

    def registry(self, as_of: dt.date | None = None) -> Registry:
        """A snapshot of the registry (one read transaction): the whole of it, or with `as_of`
        the one a run as of that date plans from (ended relations left out)."""
        with self.db.read() as session:
            registry = load_registry(session)
        return registry if as_of is None else registry.active_on(as_of)

    def context(self, registry: Registry, as_of: dt.date, history: History,
                sent: Mapping[tuple[str, dt.date], SentOccurrence] | None = None,
                acknowledgements: Acknowledgements | None = None) -> PlanContext:
        """What a planner sees for one run as of `as_of` (local date): partners whose relation
        ended by then are left out (SPEC: no reminder of any job about them)."""
        return PlanContext(
            registry=registry.active_on(as_of),
            as_of=as_of,
            settings=self.settings.jobs,
            calendar=self.calendar,
            timezone=self.settings.timezone,
            history=history,
            sender=self.settings.email.sender,
            sent_meetings=sent or {},
            acknowledgements=acknowledgements or Acknowledgements(),
        )

    def run_job(
        self,
        job: str,
        as_of: dt.date,
        *,
        now: dt.datetime,
        registry: Registry | None = None,
        dry_run: bool = False,
        trigger: str = "manual",
        on_draft: Callable[[Draft], None] | None = None,
        subjects_only: bool = False,
    ) -> JobResult:
        """Plan, render and queue one job. With `dry_run` nothing is written: each message is
        handed to `on_draft` (to print or save) as it is rendered, with only its subject when
        `subjects_only`."""
        spec = job_spec(job)
        registry = registry or self.registry()
        result = JobResult(job, as_of)
        # The links of this run's emails, issued now (SPEC "The way back": 60 days from then).
        self.renderer.links = None if self.signer is None else EmailLinks.for_run(
            self.signer, self.settings.web.base_url, registry, now)
        since = spec.history.since(as_of)
        if dry_run:
            with self.db.read() as session:
                history = load_history(session, job, since)
                sent = spec.memory.load(session) if spec.memory else None
                acks = load_acknowledgements(session, job)
            notices = self._plan(spec, self.context(registry, as_of, history, sent, acks),
                                 result)
            for draft in draft_messages(
                job, notices, self.renderer, digest=spec.digest, as_of=as_of, now=now,
                extras=spec.extras, subject_only=subjects_only,
            ):
                result.messages += 1
                if on_draft is not None:
                    on_draft(draft)
            result.notices = len(notices)
            return result
        with self.db.write(lock=f"plan:{job}", fence=self.fence) as session:
            history = load_history(session, job, since)
            sent = spec.memory.load(session) if spec.memory else None
            acks = load_acknowledgements(session, job)
            notices = self._plan(spec, self.context(registry, as_of, history, sent, acks),
                                 result)
            drafts = draft_messages(
                job, notices, self.renderer, digest=spec.digest, as_of=as_of, now=now,
                extras=spec.extras,
            )
            run = RunRow(
                job=job, as_of=as_of, trigger=trigger, started_at=now, finished_at=now,
                outcome="ok", error=skipped_text(result.skipped),
            )
            session.add(run)
            session.flush()
            queued = queue_drafts(
                session,
                job,
                drafts,
                sender=self.settings.email.sender_address,
                as_of=as_of,
                now=now,
                run_id=run.id,
            )
            if spec.memory is not None:
                spec.memory.save(session, notices)
            run.notices, run.queued = queued.notices, queued.messages
            result.run_id = run.id
        result.notices, result.messages = queued.notices, queued.messages
        result.message_ids = queued.message_ids
        return result

    @staticmethod
    def _plan(spec: JobSpec, ctx: PlanContext, result: JobResult) -> list[Notice]:
        """The job's notices; the items it skipped are logged and kept in `result`."""
        notices = spec.plan(ctx)
        for item in ctx.skipped:
            log.warning("%s: item %s skipped, it cannot be planned: %s",
                        item.job, item.item, item.reason)
        result.skipped = list(ctx.skipped)
        return notices

    def record_failure(
        self, job: str, as_of: dt.date, now: dt.datetime, error: str, trigger: str
    ) -> None:
        """Record a run of `job` that failed before queuing anything (`error` cut to 4000
        characters); `now` in UTC."""
        with self.db.write(fence=self.fence) as session:
            session.add(
                RunRow(
                    job=job,
                    as_of=as_of,
                    trigger=trigger,
                    started_at=now,
                    finished_at=now,
                    outcome="error",
                    error=error[:4000],
                )
            )

    def finish_run(
        self,
        run_id: int | None,
        finished: dt.datetime,
        *,
        sent: int | None = None,
        failed: int | None = None,
    ) -> None:
        """Record when a run (queue and its delivery) ended, and how its messages fared."""
        if run_id is None:
            return
        values: dict[str, object] = {"finished_at": finished}
        if sent is not None:
            values["sent"] = sent
        if failed is not None:
            values["failed"] = failed
        with self.db.write(fence=self.fence) as session:
            session.execute(update(RunRow).where(RunRow.id == run_id).values(**values))

def skipped_text(skipped: Sequence[SkippedItem]) -> str | None:
    """What the run row records of the skipped items (None when there are none), cut to
    4000 characters like a run's error."""
    if not skipped:
        return None
    lines = [f"item {s.item} skipped: {s.reason}" for s in skipped]
    return "\n".join(lines)[:4000]


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Planning builds millions of small objects and keeps them until it ends; the cyclic
    collector would walk them again and again (a third of the time at 10,000 partners).
    Reference counting still frees whatever is dropped meanwhile."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True)
class RunOutcome:
    """What a run did: each job's result, the delivery round that followed, and whether any
    message it queued or attempted still waits (pending or failed: exit 1)."""

    results: tuple[JobResult, ...]
    report: DeliveryReport
    waiting: bool

    @property
    def queued(self) -> list[int]:
        """Ids of the messages this run queued, in job order."""
        return [i for r in self.results for i in r.message_ids]


def queue_jobs(
    runner: Runner, jobs: Sequence[str], as_of: dt.date, *, now: dt.datetime
) -> tuple[JobResult, ...]:
    """Plan and queue `jobs` (valid names) as of `as_of` (local date), one run row each;
    `now` (UTC) stamps the runs and messages. Each job is bounded by
    scheduler.job_timeout_seconds: past it, it is stopped, logged and recorded as failed (its
    result carries the `error`), and the next job goes on. ConfigError for a broken template,
    before anything is queued (also for an SMTP username without its password variable)."""
    runner.renderer.check(jobs)
    smtp_password(runner.settings)  # ConfigError now, not after queueing
    limit = runner.settings.job_timeout_seconds
    results: list[JobResult] = []
    with no_cyclic_gc():
        registry = runner.registry()
        for job in jobs:
            try:
                with time_limit(limit, job):
                    results.append(runner.run_job(job, as_of, now=now, registry=registry))
            except JobTimeout as exc:
                log.error("job=%s as_of=%s failed: %s", job, as_of.isoformat(), exc)
                runner.record_failure(job, as_of, now, str(exc), trigger="manual")
                results.append(JobResult(job, as_of, error=str(exc)))
    return tuple(results)


def deliver_queued(
    runner: Runner,
    results: Sequence[JobResult],
    *,
    clock: Callable[[], dt.datetime],
    progress: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Deliver everything due (the runs' messages and any queued earlier), then record on each
    run row when it finished (`clock()`, UTC) and how its messages fared. `progress` as in
    `scheduler.services.outbox.deliver`."""
    report = deliver(runner.db, runner.settings, progress=progress)
    sent, failed = set(report.sent), set(report.failed)
    for r in results:
        ids = set(r.message_ids)
        runner.finish_run(r.run_id, clock(), sent=len(ids & sent), failed=len(ids & failed))
    queued = {i for r in results for i in r.message_ids}
    return RunOutcome(tuple(results), report, any_waiting(runner.db, queued | report.attempted))


@dataclass(frozen=True)
class DraftLine:
    """One message a dry run would send: to whom, in which language, with which subject."""

    address: str
    language: str
    subject: str


@dataclass(frozen=True)
class DryRun:
    """One job's dry run: notices and emails it would produce, and each email's subject line."""

    job: str
    as_of: dt.date
    notices: int
    messages: int
    drafts: tuple[DraftLine, ...]
    skipped: tuple[SkippedItem, ...] = ()


def dry_run(
    runner: Runner, jobs: Sequence[str], as_of: dt.date, *, now: dt.datetime
) -> Iterator[DryRun]:
    """What each of `jobs` would send as of `as_of`, one job at a time (so a caller can print
    each as it is ready); nothing is written. `now` (UTC) stamps the rendered messages.
    ConfigError for a broken template, before any job is planned."""
    runner.renderer.check(jobs)
    with no_cyclic_gc():
        registry = runner.registry()
        for job in jobs:
            lines: list[DraftLine] = []

            def show(draft: Draft, lines: list[DraftLine] = lines) -> None:
                r = draft.recipient
                lines.append(DraftLine(r.address, r.language, draft.rendered.subject))

            result = runner.run_job(job, as_of, now=now, registry=registry, dry_run=True,
                                    on_draft=show, subjects_only=True)
            yield DryRun(job, as_of, result.notices, result.messages, tuple(lines),
                         tuple(result.skipped))


@dataclass(frozen=True)
class Preview:
    """The .eml files `preview` wrote, in order, and the notices they carry."""

    written: tuple[Path, ...]
    notices: int


def preview(runner: Runner, job: str, as_of: dt.date, out: Path, *, now: dt.datetime) -> Preview:
    """Write the emails `job` would send as of `as_of` into the folder `out` (created when
    missing) as `<job>-NNN-<recipient>.eml`, each whole or not at all; nothing else is
    written. ConfigError for a broken template; UserError naming the folder or the file when
    it cannot be written (`out` under a file, a full disk, no permission)."""
    runner.renderer.check([job])
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot create the folder: {exc.strerror}") from None
    written: list[Path] = []

    def save(draft: Draft) -> None:
        path = out / f"{job}-{len(written) + 1:03d}-{safe_recipient(draft.recipient.address)}.eml"
        try:
            write_atomically(path, draft.rendered.data, durable=False)
        except OSError as exc:
            raise UserError(f"{path}: cannot write: {exc.strerror}") from None
        written.append(path)

    result = runner.run_job(job, as_of, now=now, dry_run=True, on_draft=save)
    return Preview(tuple(written), result.notices)
