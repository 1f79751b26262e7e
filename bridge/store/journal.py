"""The journal of writes and observe mode's report, kept in the store (issue 9, safe roll-out).

Two small tables beside the pairs (migration 0003), behind one contract, `Journal`:

- `journal`: one `JournalEntry` per write the bridge made (a create, update or deletion on either side, an
  invitee written, categories changed), with the record before and after in the bridge's field terms and
  the pair row as it was before the plan. `calbridge undo` reads a user's entries since a time, newest
  first, and marks those it put back (`undone_at`). Entries older than `journal.keep_days` are pruned.
- `observed`: in observe mode, what the bridge would write for each pair (or unpaired copy) of a user, as
  last planned (`ObservedPlan`); a later plan for the same key replaces it, a plan that would write
  nothing removes it, so the table is what turning writes on would do now.

Entries hold JSON-safe values only (`bridge.runtime.journal` encodes them): the store keeps them as text,
byte for byte, on both engines. `journal_of(store)` gives the journal of a store: the SQL tables of a
`SqlStore`, and for any other store (the memory store of tests) one kept in memory beside it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from bridge.core.model import Side
from bridge.errors import MappingError
from bridge.store.codec import dumps, loads
from bridge.store.memory import MemoryStore
from bridge.store.schema import journal as journal_table
from bridge.store.schema import observed as observed_table
from bridge.store.sql import SqlStore

JSON = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One write. `action` is create, update, delete, add_relation, update_relation or remove_relation;
    `before`/`after` are the record's values in the bridge's field terms (None: the record did not exist,
    or is not known); `pair_before` is the stored pair row before the plan (None: there was none)."""

    user_id: str
    pair_key: str
    side: Side
    action: str
    record_id: str
    at: datetime
    before: JSON | None = None
    after: JSON | None = None
    pair_before: JSON | None = None
    origin: str = "sync"
    id: int = 0
    undone_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ObservedPlan:
    """What observe mode saw one plan would do: the write commands by kind, each write in words, and the
    issues it would raise (`CODE: message`)."""

    user_id: str
    key: str
    seen_at: datetime
    writes: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    issues: tuple[str, ...] = ()


class Journal(Protocol):
    async def record(self, entries: Sequence[JournalEntry]) -> None: ...

    async def writes(self, user_id: str, since: datetime, origin: str = "sync") -> list[JournalEntry]:
        """The user's writes of `origin` (the plans' "sync", or "undo": an undo's own) at or after `since`
        not undone yet, oldest first."""
        ...

    async def mark_undone(self, ids: Sequence[int], at: datetime) -> None: ...

    async def prune(self, before: datetime) -> int:
        """Forget entries older than `before`; how many went."""
        ...

    async def observe(self, user_id: str, plans: Sequence[ObservedPlan], clear: Sequence[str]) -> None:
        """Keep `plans` (replacing earlier ones of their keys) and drop the rows of the keys in `clear`."""
        ...

    async def observed(self, user_id: str | None = None) -> list[ObservedPlan]: ...


# ------------------------------------------------------------------------------------------- memory


@dataclass(slots=True)
class MemoryJournal:
    """The contract in lists, for the memory store."""

    entries: list[JournalEntry] = field(default_factory=list)
    plans: dict[tuple[str, str], ObservedPlan] = field(default_factory=dict)

    async def record(self, entries: Sequence[JournalEntry]) -> None:
        for entry in entries:
            dumps(_entry_json(entry))  # what the SQL journal could not keep fails here too
            self.entries.append(replace(entry, id=len(self.entries) + 1))

    async def writes(self, user_id: str, since: datetime, origin: str = "sync") -> list[JournalEntry]:
        return [
            e
            for e in self.entries
            if e.user_id == user_id and e.at >= since and e.origin == origin and e.undone_at is None
        ]

    async def mark_undone(self, ids: Sequence[int], at: datetime) -> None:
        wanted = set(ids)
        self.entries = [replace(e, undone_at=at) if e.id in wanted else e for e in self.entries]

    async def prune(self, before: datetime) -> int:
        kept = [e for e in self.entries if e.at >= before]
        gone = len(self.entries) - len(kept)
        self.entries = kept
        return gone

    async def observe(self, user_id: str, plans: Sequence[ObservedPlan], clear: Sequence[str]) -> None:
        for key in clear:
            self.plans.pop((user_id, key), None)
        for observed in plans:
            self.plans[(observed.user_id, observed.key)] = observed

    async def observed(self, user_id: str | None = None) -> list[ObservedPlan]:
        found = [p for (user, _), p in sorted(self.plans.items()) if user_id is None or user == user_id]
        return found


# ---------------------------------------------------------------------------------------------- SQL


class SqlJournal:
    """The contract over a `SqlStore`'s engine, taking turns with its commits (SQLite's write lock)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    async def record(self, entries: Sequence[JournalEntry]) -> None:
        if not entries:
            return
        rows = [
            {
                "at": e.at,
                "user_id": e.user_id,
                "pair_key": e.pair_key,
                "side": str(e.side),
                "action": e.action,
                "record_id": e.record_id,
                "origin": e.origin,
                "entry": dumps(_entry_json(e)),
                "undone_at": e.undone_at,
            }
            for e in entries
        ]
        await self.store._run_writes(lambda: [(sa.insert(journal_table), rows)])

    async def writes(self, user_id: str, since: datetime, origin: str = "sync") -> list[JournalEntry]:
        table = journal_table
        query = (
            sa.select(table)
            .where(table.c.user_id == user_id, table.c.at >= since, table.c.origin == origin)
            .where(table.c.undone_at.is_(None))
            .order_by(table.c.id)
        )
        async with self.store._read() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_entry_from_row(dict(row)) for row in rows]

    async def mark_undone(self, ids: Sequence[int], at: datetime) -> None:
        if not ids:
            return
        async with self.store._write() as connection:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                await connection.execute(
                    sa.update(journal_table).where(journal_table.c.id.in_(chunk)).values(undone_at=at)
                )

    async def prune(self, before: datetime) -> int:
        async with self.store._write() as connection:
            result = await connection.execute(sa.delete(journal_table).where(journal_table.c.at < before))
        return int(result.rowcount or 0)

    async def observe(self, user_id: str, plans: Sequence[ObservedPlan], clear: Sequence[str]) -> None:
        table = observed_table
        rows = {
            p.key: {
                "user_id": p.user_id,
                "key": p.key,
                "seen_at": p.seen_at,
                "report": dumps({"writes": list(p.writes), "lines": list(p.lines), "issues": list(p.issues)}),
            }
            for p in plans
        }
        if not rows and not clear:
            return
        async with self.store._write() as connection:
            for start in range(0, len(clear), 500):
                chunk = list(clear[start : start + 500])
                await connection.execute(
                    sa.delete(table).where(table.c.user_id == user_id, table.c.key.in_(chunk))
                )
            if rows:
                insert = self.store._insert(table)
                await connection.execute(
                    insert.on_conflict_do_update(
                        index_elements=[table.c.user_id, table.c.key],
                        set_={"seen_at": insert.excluded.seen_at, "report": insert.excluded.report},
                    ),
                    list(rows.values()),
                )

    async def observed(self, user_id: str | None = None) -> list[ObservedPlan]:
        table = observed_table
        query = sa.select(table).order_by(*self.store._text_order(table.c.user_id, table.c.key))
        if user_id is not None:
            query = query.where(table.c.user_id == user_id)
        async with self.store._read() as connection:
            rows = (await connection.execute(query)).mappings().all()
        found = []
        for row in rows:
            report = loads(row["report"])
            found.append(
                ObservedPlan(
                    user_id=row["user_id"],
                    key=row["key"],
                    seen_at=row["seen_at"],
                    writes=tuple(report.get("writes", ())),
                    lines=tuple(report.get("lines", ())),
                    issues=tuple(report.get("issues", ())),
                )
            )
        return found


def _entry_json(entry: JournalEntry) -> dict[str, Any]:
    return {"before": entry.before, "after": entry.after, "pair_before": entry.pair_before}


def _entry_from_row(row: Mapping[str, Any]) -> JournalEntry:
    data = loads(row["entry"])
    if not isinstance(data, dict):
        raise MappingError(f"journal entry {row['id']} is not an object")
    return JournalEntry(
        user_id=row["user_id"],
        pair_key=row["pair_key"],
        side=Side(row["side"]),
        action=row["action"],
        record_id=row["record_id"],
        at=row["at"],
        before=data.get("before"),
        after=data.get("after"),
        pair_before=data.get("pair_before"),
        origin=row["origin"],
        id=int(row["id"]),
        undone_at=row["undone_at"],
    )


_MEMORY: weakref.WeakKeyDictionary[object, MemoryJournal] = weakref.WeakKeyDictionary()
log = logging.getLogger(__name__)


def journal_of(store: object) -> Journal:
    """The journal kept beside `store`: its SQL tables, in a memory store's state (so a snapshot keeps
    it), or one in memory for any other store."""
    if isinstance(store, SqlStore):
        return SqlJournal(store)
    if isinstance(store, MemoryStore):
        state = store._state
        if state.journal is None:
            state.journal = MemoryJournal()
        assert isinstance(state.journal, MemoryJournal)
        return state.journal
    found = _MEMORY.get(store)
    if found is None:
        found = _MEMORY[store] = MemoryJournal()
    return found


async def record_series_writes(store: object, entries: Sequence[JournalEntry]) -> None:
    """A series' writes, journaled as the pair road's are. A journal that cannot be written does not undo
    them: it is logged (`journal_failed`), and the plan's outcome stands."""
    if not entries:
        return
    try:
        await journal_of(store).record(entries)
    except Exception:
        log.exception("journal_failed", extra={"user": entries[0].user_id, "series": entries[0].pair_key,
                                               "writes": len(entries)})  # fmt: skip


__all__ = [
    "Journal",
    "JournalEntry",
    "MemoryJournal",
    "ObservedPlan",
    "SqlJournal",
    "journal_of",
    "record_series_writes",
]
