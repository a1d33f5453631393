"""ids for agreements and activities, ended relations, local parties, the audit log, and the
"dataset loaded" mark

Existing agreements get the id `<kind>-<signed on>` and activities `<kind>-<date>` (with -2,
-3… within a partner), as `load` derives them; a database that already holds partners is
marked as loaded, so that its configured dataset is never loaded over it again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import re
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The mark scheduler.registry.store writes (kept literal: a migration must not change with
# the code).
LOADED_KEY = "dataset_loaded"


def _slug_ids(rows: list[tuple[int, str, str, object]]) -> list[dict[str, object]]:
    """(row id, partner, kind, date) in insertion order → [{"row", "ref"}], unique per
    partner, as scheduler.registry.domain.derived_id gives them."""
    taken: dict[str, set[str]] = defaultdict(set)
    out: list[dict[str, object]] = []
    for row_id, partner, kind, day in rows:
        base = re.sub(r"[^a-z0-9]+", "-", f"{kind}-{day}".lower()).strip("-")[:90].strip("-")
        candidate, n = base or "record", 1
        while candidate in taken[partner]:
            n += 1
            candidate = f"{base}-{n}"
        taken[partner].add(candidate)
        out.append({"row": row_id, "ref": candidate})
    return out


def _add_refs(table: str, date_column: str, constraint: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("ref", sa.String(100), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        f"SELECT id, partner_id, kind, {date_column} FROM {table} ORDER BY id"
    )).all()
    refs = _slug_ids([(r[0], r[1], r[2], r[3]) for r in rows])
    if refs:
        conn.execute(sa.text(f"UPDATE {table} SET ref = :ref WHERE id = :row"), refs)
    with op.batch_alter_table(table) as batch:
        batch.alter_column("ref", existing_type=sa.String(100), nullable=False)
        batch.create_unique_constraint(constraint, ["partner_id", "ref"])


def upgrade() -> None:
    _add_refs("agreements", "signed_on", "uq_agreement_ref")
    _add_refs("activities", "date", "uq_activity_ref")
    with op.batch_alter_table("partners") as batch:
        batch.add_column(sa.Column("ended_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("end_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("end_reason_th", sa.Text(), nullable=False,
                                   server_default=""))
    op.create_table(
        "local_parties",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("name_th", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("who", sa.String(320), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(400), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.execute(
        f"INSERT INTO registry_meta (key, value) SELECT '{LOADED_KEY}', 'before 0005' "
        "WHERE EXISTS (SELECT 1 FROM partners)"
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM registry_meta WHERE key = '{LOADED_KEY}'")
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_table("audit")
    op.drop_table("local_parties")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("end_reason_th")
        batch.drop_column("end_reason")
        batch.drop_column("ended_on")
    for table, constraint in (("activities", "uq_activity_ref"),
                              ("agreements", "uq_agreement_ref")):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(constraint, type_="unique")
            batch.drop_column("ref")
