"""The store's tables, as SQLAlchemy Core metadata.

The migrations in `bridge/store/migrations/versions/` create these tables; this module is what queries are
written against, and a test checks that the two agree (Alembic's autogenerate finds nothing to do).

Conventions:
- Times are `UtcDateTime`: aware UTC datetimes in Python, TIMESTAMPTZ in PostgreSQL, ISO text in UTC in
  SQLite (which has no zone-aware type).
- Text columns have no length limit (PostgreSQL would refuse a value over a VARCHAR limit; ids vary).
- Records and states are JSON text (`Text`, not JSON/JSONB): the text comes back byte for byte, where JSONB
  would reorder keys, turn 1e308 into an integer and refuse "\\u0000".
- An issue's missing event or item id is stored as "" rather than NULL, so "one open row per cause" is a
  plain partial unique index on both engines (NULLs never collide in a unique index).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime, kept in UTC. A naive value is taken as UTC (as `bridge.core.fields` does)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a datetime is needed, not {value!r}")
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite's DATETIME keeps no offset: store the UTC wall time.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


pairs = sa.Table(
    "pairs",
    metadata,
    # A key is unique among one user's pairs only: two users' pairs of one shared event may share it.
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("sf_id", sa.Text, nullable=True),
    sa.Column("ex_id", sa.Text, nullable=True),
    sa.Column("uid", sa.Text, nullable=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=True),
    sa.Column("item", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index(None, "user_id"),
    sa.Index(None, "sf_id"),
    sa.Index(None, "ex_id"),
    sa.Index(None, "uid"),
)

series = sa.Table(
    # A recurring series' state (SPEC §15): one row per user and series, found by either side's series id.
    "series",
    metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("sf_series", sa.Text, nullable=True),
    sa.Column("ex_series", sa.Text, nullable=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index(None, "user_id"),
)

positions = sa.Table(
    "stream_positions",
    metadata,
    sa.Column("stream", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

intents = sa.Table(
    "intents",
    metadata,
    sa.Column("token", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("pair_key", sa.Text, nullable=False),
    sa.Column("side", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index(None, "user_id"),
)

issues = sa.Table(
    "issues",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("sf_id", sa.Text, nullable=False),  # "" when the issue names no event
    sa.Column("ex_id", sa.Text, nullable=False),  # "" when the issue names no item
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("first_seen", UtcDateTime, nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("closed_at", UtcDateTime, nullable=True),
    sa.Index(None, "user_id", "closed_at"),
    # One open row per cause: opening an open issue again updates it (R-LIM-1).
    sa.Index(
        "uq_issues_open_cause",
        "user_id",
        "code",
        "sf_id",
        "ex_id",
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    ),
)

OPEN_CAUSE = ("user_id", "code", "sf_id", "ex_id")

journal = sa.Table(
    # Every write the bridge made (the journal of issue 9's safe roll-out): what the record was before and
    # after, in the bridge's field terms, and the pair row as it was before the plan (for `calbridge undo`).
    "journal",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("pair_key", sa.Text, nullable=False),
    sa.Column("side", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),  # "sync": a plan's write; "undo": calbridge undo's
    sa.Column("entry", sa.Text, nullable=False),  # JSON: before, after, pair_before
    sa.Column("undone_at", UtcDateTime, nullable=True),
    sa.Index(None, "user_id", "at"),
    sa.Index(None, "at"),
)

observed = sa.Table(
    # Observe mode: what the bridge would write for one pair (or unpaired copy) of one user, as last planned.
    "observed",
    metadata,
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("seen_at", UtcDateTime, nullable=False),
    sa.Column("report", sa.Text, nullable=False),  # JSON: writes (kinds), lines (in words), issues
)

meeting_claims = sa.Table(
    # R-MULTI-1 across processes: a meeting (Exchange UID) an enrolled attendee's pass is making the one
    # event of, held by that pass (`holder`: its bridge process and user) until it ended or `expires_at`.
    "meeting_claims",
    metadata,
    sa.Column("uid", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Index(None, "holder"),
)
