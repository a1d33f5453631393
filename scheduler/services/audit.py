"""The audit log: who changed the registry, when, and how (SPEC "The office web app": the
CLI's changes included, as `cli`).

Each operation of scheduler.services.partners that changes the registry writes one entry in
the same transaction as its change, so that the log and the registry never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.db.database import Database
from scheduler.db.models import AuditRow

CLI = "cli"  # who: a change made on the command line


class AuditAction(StrEnum):
    """What a person did to the registry."""

    # from an email's link (SPEC "The way back"; scheduler.services.actions).
    ACKNOWLEDGE = "acknowledge"  # a RECORD whose activity was already recorded
    SNOOZE = "snooze"
    NO_ACTION = "no-action"
    DONE = "done"
    # made in the registry (CLI, web app)
    LOAD = "load"
    ADD_ACTIVITY = "add-activity"
    CORRECT_AGREEMENT = "correct-agreement"
    REMOVE_AGREEMENT = "remove-agreement"
    REMOVE_ACTIVITY = "remove-activity"
    END_RELATION = "end-relation"
    CANCEL_MEETING = "cancel-meeting"
    IMPORT = "import"
    ADD_ACCOUNT = "add-account"
    REMOVE_ACCOUNT = "remove-account"
    # --- registry editing (scheduler.services.registry_edit) ---
    ADD_CONTACT = "add-contact"
    EDIT_CONTACT = "edit-contact"
    REMOVE_CONTACT = "remove-contact"
    ADD_GROUP = "add-group"
    EDIT_GROUP = "edit-group"
    ADD_DEADLINE = "add-deadline"
    EDIT_DEADLINE = "edit-deadline"
    EDIT_MEETING = "edit-meeting"
    # --- an account's own language (issue 16 review) ---
    SET_LANGUAGE = "set-language"


@dataclass(frozen=True)
class Actor:
    """Who makes a change (`cli`, or a web user's email) and when (aware, read at the edge)."""

    who: str
    at: dt.datetime

    @classmethod
    def on_cli(cls, at: dt.datetime) -> Actor:
        """A change made on the command line at `at` (aware)."""
        return cls(CLI, at)


@dataclass(frozen=True)
class AuditEntry:
    """One entry as read back: when (aware UTC), who, what, on what, and the details."""

    at: dt.datetime
    who: str
    action: AuditAction
    target: str
    details: Mapping[str, Any]


def record(session: Session, actor: Actor, action: AuditAction, target: str,
           details: Mapping[str, Any]) -> None:
    """Add one entry to the log in `session`'s transaction. `details` must be JSON-able
    (dates as ISO strings)."""
    session.add(AuditRow(at=actor.at, who=actor.who, action=action.value, target=target,
                         details=dict(details)))


def entries(db: Database, *, limit: int = 200) -> list[AuditEntry]:
    """The latest `limit` entries, newest first."""
    with db.read() as session:
        rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit))
        return [AuditEntry(r.at, r.who, AuditAction(r.action), r.target, r.details or {})
                for r in rows]
