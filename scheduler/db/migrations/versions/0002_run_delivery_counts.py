"""runs: how many of the run's messages were sent and failed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("sent", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_messages_run", "messages", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_run", table_name="messages")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("failed")
        batch.drop_column("sent")
