"""One module per job. Each exposes NAME, DIGEST and a pure `plan(ctx) -> list[Notice]`."""

from __future__ import annotations

import importlib
from types import ModuleType

JOB_MODULES = {
    "anniversaries": "jobs.anniversaries",
    "budget-deadlines": "jobs.budget_deadlines",
    "dormant-partners": "jobs.dormant_partners",
    "meeting-agendas": "jobs.meeting_agendas",
}


def job_module(name: str) -> ModuleType:
    return importlib.import_module(JOB_MODULES[name])
