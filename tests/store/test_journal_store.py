"""The journal of writes and observe mode's report (issue 9) in the store: migration 0003, over the memory
store, SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.core.model import Side
from bridge.store.journal import JournalEntry, ObservedPlan, journal_of
from bridge.store.migrate import head, known
from tests.store.conftest import Backend

T0 = datetime(2031, 3, 3, 8, tzinfo=UTC)


def entry(user: str, at: datetime, action: str = "update", origin: str = "sync") -> JournalEntry:
    return JournalEntry(
        user_id=user,
        pair_key="sf:00UA",
        side=Side.EXCHANGE,
        action=action,
        record_id="AAMkA",
        at=at,
        before={"fields": {"subject": "Before", "start": {"datetime": "2031-03-03T09:00:00+00:00"}}},
        after={"fields": {"subject": "After \u00e9\u0000"}},
        pair_before={"state": {"k": [1, 2.5, None, True]}},
        origin=origin,
    )


async def test_r_journal_1_writes_survive_a_restart_and_come_back_since_a_time_oldest_first(
    backend: Backend,
) -> None:
    store = await backend.open()
    await journal_of(store).record(
        [
            entry("005A", T0),
            entry("005A", T0 + timedelta(minutes=5), "create"),
            entry("005B", T0 + timedelta(minutes=6)),
            entry("005A", T0 + timedelta(minutes=7), origin="undo"),
        ]
    )
    again = await backend.reopen(store)
    journal = journal_of(again)
    found = await journal.writes("005A", T0 + timedelta(minutes=1))
    assert [(e.action, e.at) for e in found] == [("create", T0 + timedelta(minutes=5))]
    everything = await journal.writes("005A", T0)
    assert [e.action for e in everything] == ["update", "create"]
    undos = await journal.writes("005A", T0, origin="undo")  # an undo's own writes, kept apart
    assert [(e.origin, e.at) for e in undos] == [("undo", T0 + timedelta(minutes=7))]
    first = everything[0]
    assert first.before == entry("005A", T0).before and first.after == {
        "fields": {"subject": "After \u00e9\u0000"}
    }
    assert first.pair_before == {"state": {"k": [1, 2.5, None, True]}} and first.side is Side.EXCHANGE
    await journal.mark_undone([first.id], T0 + timedelta(hours=1))
    assert [e.action for e in await journal.writes("005A", T0)] == ["create"]


async def test_r_journal_2_entries_older_than_keep_days_are_pruned(backend: Backend) -> None:
    store = await backend.open()
    journal = journal_of(store)
    await journal.record([entry("005A", T0 - timedelta(days=40)), entry("005A", T0)])
    assert await journal.prune(T0 - timedelta(days=30)) == 1
    assert [e.at for e in await journal.writes("005A", T0 - timedelta(days=365))] == [T0]


async def test_r_observe_1_a_later_plan_replaces_an_earlier_one_and_nothing_to_write_clears_it(
    backend: Backend,
) -> None:
    store = await backend.open()
    journal = journal_of(store)
    one = ObservedPlan("005A", "sf:00UA", T0, ("CreateItem",), ("create an Exchange item 'Plan'",), ())
    two = ObservedPlan("005A", "ex:AAMkB", T0, ("UpdateEvent",), ("update ...",), ("W-TRUNCATED: cut",))
    theirs = ObservedPlan("005B", "sf:00UC", T0, ("DeleteItem",), ("delete ...",), ())
    await journal.observe("005A", [one, two], [])
    await journal.observe("005B", [theirs], [])
    newer = ObservedPlan("005A", "sf:00UA", T0 + timedelta(minutes=1), ("UpdateItem",), ("update",), ())
    await journal.observe("005A", [newer], ["ex:AAMkB"])
    again = await backend.reopen(store)
    assert await journal_of(again).observed("005A") == [newer]
    assert [p.user_id for p in await journal_of(again).observed()] == ["005A", "005B"]


async def test_migration_0003_is_the_head(backend: Backend) -> None:
    store = await backend.open()
    revision = getattr(store, "revision", None)
    if revision is not None:
        assert await revision() == head()
        assert "0003" in known()
