"""meetings that calendars keep right: cancelled meetings, changed occurrences, Thai
locations, and what each occurrence's invitees were last sent (its SEQUENCE)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("location_th", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("cancelled", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("changes", sa.JSON(), nullable=False,
                                   server_default=sa.text("'[]'")))
    op.create_table(
        "meeting_occurrences",
        sa.Column("meeting_id", sa.String(100), nullable=False),
        sa.Column("occurrence", sa.Date(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("meeting_id", "occurrence"),
    )


def downgrade() -> None:
    op.drop_table("meeting_occurrences")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("changes")
        batch.drop_column("cancelled")
        batch.drop_column("location_th")
