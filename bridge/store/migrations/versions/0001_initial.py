"""The first schema: pairs, stream positions, intents and issues.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pairs",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("sf_id", sa.Text, nullable=True),
        sa.Column("ex_id", sa.Text, nullable=True),
        sa.Column("uid", sa.Text, nullable=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=True),
        sa.Column("item", sa.Text, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "key", name="pk_pairs"),
    )
    op.create_index("ix_pairs_user_id", "pairs", ["user_id"])
    op.create_index("ix_pairs_sf_id", "pairs", ["sf_id"])
    op.create_index("ix_pairs_ex_id", "pairs", ["ex_id"])
    op.create_index("ix_pairs_uid", "pairs", ["uid"])

    op.create_table(
        "stream_positions",
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("stream", name="pk_stream_positions"),
    )

    op.create_table(
        "intents",
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("pair_key", sa.Text, nullable=False),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_intents"),
    )
    op.create_index("ix_intents_user_id", "intents", ["user_id"])

    op.create_table(
        "issues",
        sa.Column("id", sa.Integer, sa.Identity(), nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("sf_id", sa.Text, nullable=False),
        sa.Column("ex_id", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("first_seen", TIME, nullable=False),
        sa.Column("last_seen", TIME, nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_issues"),
    )
    op.create_index("ix_issues_user_id_closed_at", "issues", ["user_id", "closed_at"])
    op.create_index(
        "uq_issues_open_cause",
        "issues",
        ["user_id", "code", "sf_id", "ex_id"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("issues")
    op.drop_table("intents")
    op.drop_table("stream_positions")
    op.drop_table("pairs")
