"""Alembic environment: runs on the connection `bridge.store.migrate` hands over, never from an ini file."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bridge.store.schema import metadata

connection = context.config.attributes.get("connection")

if not isinstance(connection, Connection):  # pragma: no cover - a misuse, not a state of the store
    raise RuntimeError("bridge.store migrations run through bridge.store.migrate, with a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
