"""Delivery states of a message, in a module of their own: cheap to import (no SQLAlchemy), so
the CLI can offer them as choices without slowing `sistercity --help`."""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    """Where a message is on its way out; stored as its value in `messages.state`.

    pending -> sending (claimed by one sender) -> sent, or back to pending (retry later, or
    handed back untried), or failed (refused for good, or out of attempts). `outbox retry`
    moves failed back to pending. Values read from the database are plain strings, which
    compare equal to the members.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
