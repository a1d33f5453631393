"""The jobs: one module per job, each a pure planner exposing `SPEC = JobSpec(...)`.

`JOBS` is the one list of jobs: config validates `[schedule]` and `[jobs.*]` against it, the
runner and the daemon look jobs up in it, the templates are checked for each of its names.
"""

from __future__ import annotations

from collections.abc import Mapping

from jobs import anniversaries, budget_deadlines, dormant_partners, meeting_agendas
from scheduler.planning import JobSpec

JOBS: Mapping[str, JobSpec] = {
    spec.name: spec
    for spec in (
        anniversaries.SPEC,
        budget_deadlines.SPEC,
        dormant_partners.SPEC,
        meeting_agendas.SPEC,
    )
}
JOB_NAMES: tuple[str, ...] = tuple(JOBS)


def job_spec(name: str) -> JobSpec:
    """The job called `name`; KeyError for an unknown name (callers validate names first)."""
    return JOBS[name]
