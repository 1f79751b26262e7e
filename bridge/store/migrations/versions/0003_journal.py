"""Safe roll-out (issue 9): the journal of every write, and observe mode's report of planned writes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("id", sa.Integer, sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("pair_key", sa.Text, nullable=False),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("entry", sa.Text, nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_journal"),
    )
    op.create_index("ix_journal_user_id_at", "journal", ["user_id", "at"])
    op.create_index("ix_journal_at", "journal", ["at"])
    op.create_table(
        "observed",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_observed"),
    )


def downgrade() -> None:
    op.drop_table("observed")
    op.drop_index("ix_journal_at", table_name="journal")
    op.drop_index("ix_journal_user_id_at", table_name="journal")
    op.drop_table("journal")
