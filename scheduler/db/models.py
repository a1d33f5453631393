"""The database: registry tables, the outbox (notices + messages), runs and daemons.

Every schema change needs an Alembic migration in scheduler/db/migrations/versions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from scheduler.db.tables import METADATA, UTCDateTime, messages


class Base(DeclarativeBase):
    metadata = METADATA


class ContactRow(Base):
    __tablename__ = "contacts"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(5))
    role: Mapped[str] = mapped_column(String(20))


class WorkingGroupRow(Base):
    __tablename__ = "working_groups"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_th: Mapped[str] = mapped_column(String(300), default="")
    lead: Mapped[str | None] = mapped_column(String(100), nullable=True)
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)


class ConsulateRow(Base):
    __tablename__ = "consulates"
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    contact: Mapped[str] = mapped_column(String(100))


class MetaRow(Base):
    """Single values of the registry, such as the MFA contact."""

    __tablename__ = "registry_meta"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PartnerRow(Base):
    __tablename__ = "partners"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_th: Mapped[str] = mapped_column(String(300), default="")
    country: Mapped[str] = mapped_column(String(2))
    city: Mapped[str] = mapped_column(String(300), default="")
    working_group: Mapped[str | None] = mapped_column(String(100), nullable=True)  # explicit only
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ended_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    end_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    end_reason_th: Mapped[str] = mapped_column(Text, default="", server_default="")


class LocalPartyRow(Base):
    """A party that signs on this side, under its English and Thai names."""

    __tablename__ = "local_parties"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_th: Mapped[str] = mapped_column(String(300), default="")


class AgreementRow(Base):
    __tablename__ = "agreements"
    __table_args__ = (
        UniqueConstraint("partner_id", "kind", "signed_on", "local_party", name="uq_agreement"),
        UniqueConstraint("partner_id", "ref", name="uq_agreement_ref"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    ref: Mapped[str] = mapped_column(String(100))  # the id users see, unique per partner
    kind: Mapped[str] = mapped_column(String(20))
    signed_on: Mapped[dt.date] = mapped_column(Date)
    local_party: Mapped[str] = mapped_column(String(300))
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    expires_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    level: Mapped[str | None] = mapped_column(String(40), nullable=True)
    title: Mapped[str] = mapped_column(Text, default="")
    contact_person: Mapped[str] = mapped_column(String(300), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    notes: Mapped[str] = mapped_column(Text, default="")


class ActivityRow(Base):
    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("partner_id", "date", "title", name="uq_activity"),
        UniqueConstraint("partner_id", "ref", name="uq_activity_ref"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    ref: Mapped[str] = mapped_column(String(100))  # the id users see, unique per partner
    date: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40), default="other")


class PlannedColumns:
    """The columns a budget deadline and a meeting share: id, titles, and when it recurs
    (dtstart in local wall time, naive; an RFC 5545 RRULE or "")."""

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    title_th: Mapped[str] = mapped_column(Text, default="")
    dtstart: Mapped[dt.datetime] = mapped_column(DateTime)
    rrule: Mapped[str] = mapped_column(Text, default="")
    working_groups: Mapped[list[str]] = mapped_column(JSON, default=list)


class BudgetDeadlineRow(PlannedColumns, Base):
    __tablename__ = "budget_deadlines"
    notes: Mapped[str] = mapped_column(Text, default="")
    notes_th: Mapped[str] = mapped_column(Text, default="", server_default="")


class MeetingRow(PlannedColumns, Base):
    __tablename__ = "meetings"
    duration_minutes: Mapped[int] = mapped_column(Integer, default=120)
    location: Mapped[str] = mapped_column(Text, default="")
    invite_consulates: Mapped[bool] = mapped_column(Boolean, default=True)
    location_th: Mapped[str] = mapped_column(Text, default="", server_default="")
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # [[meeting.change]]: [{"occurrence": ISO date, "starts_at": ISO local date-time or null,
    # "duration_minutes", "location", "location_th" (null: unchanged), "cancelled"}]
    changes: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list,
                                                             server_default=text("'[]'"))


class MeetingOccurrenceRow(Base):
    """What the invitees of one meeting occurrence were last sent (SPEC "Meetings in
    calendars"): the SEQUENCE and the details a change is compared with. Keyed by the meeting
    and the date the rule gives (a one-off meeting: the date of its first invitation)."""

    __tablename__ = "meeting_occurrences"
    meeting_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    occurrence: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime)  # local wall time, naive
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime)
    location: Mapped[str] = mapped_column(Text, default="")
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class MessageRow(Base):
    """One rendered email (a digest for one recipient) and its delivery state. The table is
    declared in scheduler.db.tables, where delivery uses it without the ORM."""

    __table__ = messages
    id: Mapped[int]
    job: Mapped[str]
    run_id: Mapped[int | None]
    recipient: Mapped[str]
    language: Mapped[str]
    subject: Mapped[str]
    message_id: Mapped[str]
    sender: Mapped[str]
    state: Mapped[str]  # a MessageState value
    attempts: Mapped[int]
    next_attempt_at: Mapped[dt.datetime]
    claimed_at: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None]
    last_error: Mapped[str | None]
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]


class NoticeRow(Base):
    """One (job, item, occurrence, stage, recipient): the unit of "at most once"."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("job", "item", "occurrence", "stage", "recipient", name="uq_notice"),
        Index("ix_notices_lookup", "job", "item", "recipient"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(40))
    item: Mapped[str] = mapped_column(String(400))
    occurrence: Mapped[dt.date] = mapped_column(Date)
    stage: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(320))
    as_of: Mapped[dt.date] = mapped_column(Date)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_job", "job", "started_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(40))
    as_of: Mapped[dt.date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(20))  # manual | daemon
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    notices: Mapped[int] = mapped_column(Integer, default=0)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    outcome: Mapped[str] = mapped_column(String(20), default="running")  # ok | error | running
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditRow(Base):
    """One change to the registry made by a person: when (UTC), who ("cli", or a web user's
    email), what (an AuditAction value), on what, and the details as JSON."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_at", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    who: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(400))
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class DaemonRow(Base):
    """Daemons that are or were running; the active one publishes its next run times."""

    __tablename__ = "daemons"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_runs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class LeaseRow(Base):
    """Who leads the daemons on PostgreSQL (SPEC "Delivery"): the holder renews `expires_at`
    (the database's clock, naive UTC); `term` goes up by one at every takeover, and every write
    the leader makes checks it (fencing). See scheduler.daemon.leadership."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    term: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AccountRow(Base):
    """A staff account of the web app (SPEC "The office web app"): its email (the login and
    the audit log's `who`), name, role (admin | staff | viewer), language (th | en), and the
    argon2id hash of its password (never the password)."""

    __tablename__ = "accounts"
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(5))
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AcknowledgementRow(Base):
    """What a reader did from an email's link (SPEC "The way back"): who (`recipient`, the
    lower-cased address the link was signed for), on which item (`job`, `item`, `occurrence`
    as the planner names them; `item_name` as it read then), what (`action`, a LinkAction
    value) and when (`at`, UTC); a snooze's first day of repeats again (`until`, local date),
    the activity a RECORD made (`activity_id`, the activity's id within its partner). One row
    per (job, item, occurrence, recipient, action): a link used twice acts once."""

    __tablename__ = "acknowledgements"
    __table_args__ = (
        UniqueConstraint("job", "item", "occurrence", "recipient", "action",
                         name="uq_acknowledgement"),
        Index("ix_acknowledgements_plan", "job", "occurrence"),
        Index("ix_acknowledgements_at", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(320))
    job: Mapped[str] = mapped_column(String(40))
    item: Mapped[str] = mapped_column(String(400))
    item_name: Mapped[str] = mapped_column(Text, default="")
    occurrence: Mapped[dt.date] = mapped_column(Date)
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    activity_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
