"""One path for `run`, `--dry-run`, `preview` and the daemon: plan → queue → deliver.

The clock is read by the caller (CLI or daemon) and passed in as `as_of` and `now`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import update

from jobs import job_spec
from scheduler.config import Settings
from scheduler.dates.thaidate import WorkingCalendar
from scheduler.db.database import Database
from scheduler.db.models import RunRow
from scheduler.mail.outbox import Draft, draft_messages, load_history, queue_drafts
from scheduler.mail.render import Renderer
from scheduler.planning import History, PlanContext
from scheduler.registry.domain import Registry

log = logging.getLogger("sistercity.run")


@dataclass
class JobResult:
    job: str
    as_of: dt.date
    notices: int = 0
    messages: int = 0
    message_ids: list[int] = field(default_factory=list)
    run_id: int | None = None


class Runner:
    def __init__(self, db: Database, settings: Settings, *, renderer: Renderer | None = None):
        self.db = db
        self.settings = settings
        self.renderer = renderer or Renderer(
            sender=settings.email.sender,
            timezone=settings.timezone,
            templates_dir=settings.email.templates_dir,
        )
        self.calendar = WorkingCalendar(settings.extra_holidays)

    def registry(self) -> Registry:
        from scheduler.registry.store import load_registry

        with self.db.read() as session:
            return load_registry(session)

    def context(self, registry: Registry, as_of: dt.date, history: History) -> PlanContext:
        return PlanContext(
            registry=registry,
            as_of=as_of,
            settings=self.settings.jobs,
            calendar=self.calendar,
            timezone=self.settings.timezone,
            history=history,
            sender=self.settings.email.sender,
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
        since = spec.history.since(as_of)
        if dry_run:
            with self.db.read() as session:
                history = load_history(session, job, since)
            notices = spec.plan(self.context(registry, as_of, history))
            for draft in draft_messages(
                job, notices, self.renderer, digest=spec.digest, as_of=as_of, now=now,
                extras=spec.extras, subject_only=subjects_only,
            ):
                result.messages += 1
                if on_draft is not None:
                    on_draft(draft)
            result.notices = len(notices)
            return result
        with self.db.write(lock=f"plan:{job}") as session:
            history = load_history(session, job, since)
            notices = spec.plan(self.context(registry, as_of, history))
            drafts = draft_messages(
                job, notices, self.renderer, digest=spec.digest, as_of=as_of, now=now,
                extras=spec.extras,
            )
            run = RunRow(
                job=job, as_of=as_of, trigger=trigger, started_at=now, finished_at=now, outcome="ok"
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
            run.notices, run.queued = queued.notices, queued.messages
            result.run_id = run.id
        result.notices, result.messages = queued.notices, queued.messages
        result.message_ids = queued.message_ids
        return result

    def record_failure(
        self, job: str, as_of: dt.date, now: dt.datetime, error: str, trigger: str
    ) -> None:
        with self.db.write() as session:
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
        with self.db.write() as session:
            session.execute(update(RunRow).where(RunRow.id == run_id).values(**values))

    def run_jobs(
        self,
        jobs: Sequence[str],
        as_of: dt.date,
        *,
        now: dt.datetime,
        dry_run: bool = False,
        trigger: str = "manual",
        on_draft: Callable[[Draft], None] | None = None,
    ) -> list[JobResult]:
        registry = self.registry()
        return [
            self.run_job(job, as_of, now=now, registry=registry, dry_run=dry_run,
                         trigger=trigger, on_draft=on_draft)
            for job in jobs
        ]
