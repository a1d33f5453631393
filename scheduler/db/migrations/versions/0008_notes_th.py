"""a Thai twin for a budget deadline's notes (SPEC `[[budget_deadline]]` notes_th)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("budget_deadlines") as batch:
        batch.add_column(sa.Column("notes_th", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("budget_deadlines") as batch:
        batch.drop_column("notes_th")
