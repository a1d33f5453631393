"""message bodies in a table of their own

SQLite rewrites a whole row, with its ~8 KB body, each time a message changes state (claimed,
sent); with the body elsewhere those updates cost less than half.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_bodies",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.execute("INSERT INTO message_bodies (message_id, data) SELECT id, data FROM messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("data")


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE messages SET data = (SELECT data FROM message_bodies b "
        "WHERE b.message_id = messages.id)"
    )
    op.drop_table("message_bodies")
