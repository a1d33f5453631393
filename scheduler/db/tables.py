"""Tables used without the ORM, on paths that must start fast (delivery), and the types they
share with scheduler.db.models. The ORM maps MessageRow onto `messages`; one MetaData holds all.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

from scheduler.db.states import MessageState

METADATA = MetaData()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC in Python, naive UTC in the database (SQLite keeps no offsets)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


messages = Table(
    "messages",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(40), nullable=False),
    Column("run_id", ForeignKey("runs.id"), nullable=True),
    Column("recipient", String(320), nullable=False),
    Column("language", String(5), nullable=False),
    Column("subject", Text, nullable=False),
    Column("message_id", String(300), nullable=False, unique=True),  # the Message-ID header
    Column("sender", String(320), nullable=False),  # envelope from
    Column("state", String(10), nullable=False, default=MessageState.PENDING.value),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Index("ix_messages_due", "state", "next_attempt_at"),
    Index("ix_messages_run", "run_id"),
)

# The complete rendered message, apart from its delivery state (see migration 0003).
message_bodies = Table(
    "message_bodies",
    METADATA,
    Column("message_id", ForeignKey("messages.id"), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
