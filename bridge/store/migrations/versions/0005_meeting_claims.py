"""R-MULTI-1 across processes: claims on meetings' UIDs that replicas and backfill workers share.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "meeting_claims",
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_meeting_claims"),
    )
    op.create_index("ix_meeting_claims_holder", "meeting_claims", ["holder"])


def downgrade() -> None:
    op.drop_table("meeting_claims")
