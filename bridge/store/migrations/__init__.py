"""Alembic migrations of the store, shipped in the package and run by `SqlStore.migrate()`.

There is no alembic.ini: `bridge.store.migrate.alembic_config` configures Alembic in code, so migrations run
from an installed package and from any working directory. To write a new revision during development:

    .venv/bin/python -m bridge.store.migrate revision -m "what it changes"

then edit the file it writes under versions/ (autogenerate compares against `bridge.store.schema`).
"""
