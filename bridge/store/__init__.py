"""The bridge's memory between plans (issue 8): pairs with the raw copies of both sides, stream positions,
pending write intents and issues, behind `bridge.ports.Store`.

- `open_store(url)` -> `SqlStore`: SQLAlchemy Core on an async engine; SQLite through aiosqlite (the embedded
  default, one file in the state directory) or PostgreSQL through asyncpg (replicas). `await store.migrate()`
  at start creates or upgrades the schema with the Alembic migrations shipped in `migrations/`.
- `MemoryStore`: the same contract in dicts, for property tests; the store tests run one suite over all.

Map: `schema` (tables), `codec` (EventRecord and ExchangeItem as JSON; PairState uses `bridge.core.serial`),
`rules` (checks and orders both stores share), `sql`, `memory`, `migrate` (Alembic configured in code).

Commit semantics (one transaction): upsert the pairs (by user and key), delete the commit user's forgotten
keys, upsert stream positions, open issues (an open issue with the same user, code, event and item is updated:
last seen and message), close issues (the commit user's), delete the intents done.
"""

from typing import TYPE_CHECKING

from bridge.store.memory import MemoryStore
from bridge.store.sql import SqlStore, open_store

if TYPE_CHECKING:  # mypy proves both stores implement the port
    from bridge.ports import Store

    def _implements(sql: SqlStore, memory: MemoryStore) -> tuple[Store, Store]:
        return sql, memory


__all__ = ["MemoryStore", "SqlStore", "open_store"]
