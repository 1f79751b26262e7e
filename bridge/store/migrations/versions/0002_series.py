"""Recurring series (SPEC §15): one row per user and series, its state as JSON text.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("sf_series", sa.Text, nullable=True),
        sa.Column("ex_series", sa.Text, nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_series"),
    )
    op.create_index("ix_series_user_id", "series", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_series_user_id", table_name="series")
    op.drop_table("series")
