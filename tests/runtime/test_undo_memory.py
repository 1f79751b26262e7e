"""The journal and `undo` over the in-memory ports (issue 9, safe roll-out): every write is journaled with
what it changed, and undo puts both sides back unless someone edited the record since."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bridge.core.fields import event_from_salesforce
from bridge.ports import Commit, StoredPair
from bridge.runtime.executor import Executor
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.undo import parse_since, undo
from bridge.store.journal import journal_of
from bridge.store.memory import MemoryStore
from tests.runtime.test_executor import CTX, MAILBOX, START, USER, item_plan


async def made_a_pair() -> tuple[MemorySalesforce, MemoryMailbox, MemoryStore, str, str, datetime]:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    event_id = sf.put_event(USER, "Call", START, START + timedelta(hours=1))
    stored = sf._record(event_id)
    version = event_from_salesforce(stored.fields, stored.relations).version
    since = datetime.now(UTC) - timedelta(seconds=1)
    done = await Executor(sf, ex, store).execute(CTX, item_plan(event_id, version), key=None, event=stored)
    assert done.state is not None  # stored as a pass stores it
    await store.commit(Commit(user_id=USER, pairs=[StoredPair(USER, done.state, done.event, done.item)]))
    return sf, ex, store, event_id, next(iter(ex.items[MAILBOX])), since


async def test_r_journal_1_every_write_is_journaled_with_before_and_after() -> None:
    _sf, _ex, store, event_id, item_id, since = await made_a_pair()
    entries = await journal_of(store).writes(USER, since)
    assert [(e.side.value, e.action, e.record_id) for e in entries] == [
        ("exchange", "create", item_id),
        ("salesforce", "update", event_id),
    ]
    create, update = entries
    assert create.after is not None and create.after["fields"]["subject"] == "Call"
    assert create.after["categories"] == ["Salesforce"]
    assert update.before == {"fields": {"Exchange_Item_Id__c": None, "Exchange_UID__c": None}}
    assert update.after is not None and update.after["fields"]["Exchange_Item_Id__c"] == item_id
    assert {e.pair_key for e in entries} == {f"sf:{event_id}"}


async def test_r_undo_1_a_created_item_is_deleted_and_the_event_gets_its_fields_back() -> None:
    sf, ex, store, event_id, item_id, since = await made_a_pair()
    report = await undo(sf, ex, store, user_id=USER, mailbox=MAILBOX, since=since, now=datetime.now(UTC))
    assert report.kept == []
    assert item_id not in ex.items[MAILBOX]
    assert sf.events[event_id].get("Exchange_Item_Id__c") is None
    # a second undo has nothing left to revert
    again = await undo(sf, ex, store, user_id=USER, mailbox=MAILBOX, since=since, now=datetime.now(UTC))
    assert again.undone == [] and again.kept == []


async def test_r_undo_2_a_record_edited_since_by_a_person_is_reported_and_left_alone() -> None:
    sf, ex, store, event_id, item_id, since = await made_a_pair()
    item = ex.items[MAILBOX][item_id]
    ex.items[MAILBOX][item_id] = replace(item, subject="Call (moved by Ann)", change_key="ck-by-ann")
    report = await undo(sf, ex, store, user_id=USER, mailbox=MAILBOX, since=since, now=datetime.now(UTC))
    assert ex.items[MAILBOX][item_id].subject == "Call (moved by Ann)"
    assert len(report.kept) == 1 and "edited since by someone else (subject)" in report.kept[0]
    # the event's pairing fields went back: that write was the bridge's alone
    assert sf.events[event_id].get("Exchange_Item_Id__c") is None


async def test_r_undo_3_undo_journals_its_own_writes_and_undoing_the_undo_puts_them_back() -> None:
    sf, ex, store, event_id, item_id, since = await made_a_pair()
    paired = await store.pairs_of(USER)
    before_undo = datetime.now(UTC)
    await undo(sf, ex, store, user_id=USER, mailbox=MAILBOX, since=since, now=before_undo)
    written = await journal_of(store).writes(USER, before_undo, "undo")
    assert [(e.side.value, e.action, e.record_id) for e in written] == [
        ("salesforce", "update", event_id),
        ("exchange", "delete", item_id),
    ]
    assert await store.pairs_of(USER) == []  # the pair the bridge made is forgotten with its writes

    # Run again as it was, the undo changes nothing; with undo_undo, it reverts the undo's writes.
    same = await undo(sf, ex, store, user_id=USER, mailbox=MAILBOX, since=since, now=datetime.now(UTC))
    assert same.undone == [] and ex.items[MAILBOX] == {}
    again = await undo(
        sf, ex, store, user_id=USER, mailbox=MAILBOX, since=before_undo, now=datetime.now(UTC), undo_undo=True
    )
    assert again.kept == [], again.kept
    # The item is back (as a new record: Exchange gives a re-created item a new id), paired both ways.
    (new_id,) = ex.items[MAILBOX]
    item = ex.items[MAILBOX][new_id]
    assert new_id != item_id and item.subject == "Call" and item.salesforce_event_id == event_id
    assert sf.events[event_id]["Exchange_Item_Id__c"] == new_id
    assert sf.events[event_id]["Exchange_UID__c"] == item.uid
    # The stored pair is the one the bridge had, pointed at the new item.
    (pair,) = await store.pairs_of(USER)
    assert pair.state.sf_id == paired[0].state.sf_id and pair.state.ex_id == new_id
    assert pair.state.uid == item.uid


def test_since_takes_an_iso_time_or_a_span() -> None:
    now = datetime(2031, 3, 3, 12, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("2031-03-03T08:00", now) == datetime(2031, 3, 3, 8, tzinfo=UTC)
