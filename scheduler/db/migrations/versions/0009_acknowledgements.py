"""what readers did from the links in their emails (SPEC "The way back")

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("item", sa.String(400), nullable=False),
        sa.Column("item_name", sa.Text(), nullable=False),
        sa.Column("occurrence", sa.Date(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("activity_id", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "item", "occurrence", "recipient", "action",
                            name="uq_acknowledgement"),
    )
    # The planners read one job's acknowledgements (from the run's date back, for dormancy
    # all of them); the staff page lists the newest first.
    op.create_index("ix_acknowledgements_plan", "acknowledgements", ["job", "occurrence"])
    op.create_index("ix_acknowledgements_at", "acknowledgements", ["at"])


def downgrade() -> None:
    op.drop_index("ix_acknowledgements_at", table_name="acknowledgements")
    op.drop_index("ix_acknowledgements_plan", table_name="acknowledgements")
    op.drop_table("acknowledgements")
