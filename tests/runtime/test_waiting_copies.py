"""Copies the bridge keeps waiting (R-PAIR-3 duplicates) whose twin goes away, over the memory ports."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bridge.core.issues import IssueCode
from bridge.core.model import PairStatus
from tests.runtime.conftest import ANN, BOB, World, soon


async def test_r_pair_3_a_deleted_duplicate_lets_its_twin_sync_without_a_reconcile(world: World) -> None:
    """Two items share a subject and time: neither is copied (R-PAIR-3). Once the person deletes one, the
    other is copied to Salesforce by the deletion's own pass (no periodic reconcile runs here), its
    `Sync Error` goes, and the deleted copy's issue is closed."""
    start, end = soon()
    first = world.ex.put_item(ANN.mailbox, "Board prep", start, end)
    second = world.ex.put_item(ANN.mailbox, "Board prep", start, end)
    await world.bridge.wait_idle()
    assert not world.sf.events, "a duplicate was copied"
    assert "Sync Error" in world.ex.items[ANN.mailbox][first].categories
    world.ex.remove_item(ANN.mailbox, second)
    await world.bridge.wait_idle()
    (event,) = world.sf.events.values()
    assert event["Subject"] == "Board prep" and event["Exchange_Item_Id__c"] == first
    assert "Sync Error" not in world.ex.items[ANN.mailbox][first].categories
    open_issues = await world.store.issues(ANN.user_id)
    assert not [i for i in open_issues if i.code == IssueCode.DUPLICATE_KEY.value]
    (pair,) = await world.store.pairs_of(ANN.user_id)
    assert pair.state.ex_id == first


async def test_r_lim_1_an_item_refusing_every_write_is_reported_not_replanned_forever(world: World) -> None:
    """An Exchange item refuses every write (even its `Sync Error` category): the pair is tried a bounded
    number of times, its issue is opened, and no reconcile is asked for in a loop."""
    start, end = soon()
    event_id = world.sf.put_event(ANN.user_id, "Quarterly", start, end, [])
    await world.bridge.wait_idle()
    (pair,) = await world.store.pairs_of(ANN.user_id)
    item_id = pair.state.ex_id
    assert item_id is not None
    world.ex.refuse_items[item_id] = "ErrorItemSave: the mailbox is full"
    world.sf.edit_event(event_id, Subject="Quarterly review")
    await world.bridge.wait_idle()
    writes = world.ex.calls["update_item"]
    await world.bridge.wait_idle()
    assert world.ex.calls["update_item"] == writes, "the failing pair is still being re-planned"
    (issue,) = [i for i in await world.store.issues(ANN.user_id) if i.ex_id == item_id]
    assert issue.code == IssueCode.EXCHANGE_REFUSED.value and "mailbox is full" in issue.message
    assert world.ex.items[ANN.mailbox][item_id].subject == "Quarterly"


async def test_r_del_5_an_event_deleted_after_an_unseen_item_edit_ends_the_pair_without_looping(
    world: World,
) -> None:
    """The person edits the Outlook item (its notice not delivered yet), then the Salesforce event is
    deleted: the category removal loses the race once, the item is read again and the category goes on
    the item's new version (R-MERGE-5) instead of losing the same race on every re-plan."""
    start, end = soon()
    item_id = world.ex.put_item(ANN.mailbox, "Site visit", start, end)
    await world.bridge.wait_idle()
    (pair,) = await world.store.pairs_of(ANN.user_id)
    event_id = pair.state.sf_id
    assert event_id is not None
    edited = world.ex.items[ANN.mailbox][item_id]
    world.ex.items[ANN.mailbox][item_id] = replace(edited, location="Gate 4", change_key="ck-unseen")
    world.sf.remove_event(event_id)
    await asyncio.wait_for(world.bridge.wait_idle(), 10)
    item = world.ex.items[ANN.mailbox][item_id]
    assert "Salesforce" not in item.categories and item.location == "Gate 4"


async def test_r_multi_1_an_attendee_waiting_for_the_organizer_joins_once_the_organizers_pair_commits(
    world: World,
) -> None:
    """Ann's copy of Bob's meeting is seen first and waits (W-WAIT-ORGANIZER): Bob's copy is not synced.
    Once Bob's pass makes the event, Ann's copy joins it at once: nothing else would come to wake it (the
    change events of Bob's event go to Bob)."""
    start, end = soon()
    meeting = {"uid": "uid-weekly-sync", "is_meeting": True, "organizer": BOB.mailbox}
    ann_copy = world.ex.put_item(ANN.mailbox, "Weekly sync", start, end, my_response_type="Accept", **meeting)
    await world.bridge.wait_idle()
    (waiting,) = await world.store.pairs_of(ANN.user_id)
    assert waiting.state.status is PairStatus.WAITING
    assert [i.code for i in await world.store.issues(ANN.user_id)] == [IssueCode.WAIT_ORGANIZER.value]
    world.ex.put_item(BOB.mailbox, "Weekly sync", start, end, my_response_type="Organizer", **meeting)
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    (event,) = world.sf.events.values()
    (joined,) = await world.store.pairs_of(ANN.user_id)
    assert joined.state.status is PairStatus.ACTIVE and joined.state.ex_id == ann_copy
    assert joined.state.sf_id == event["Id"] and not joined.state.owns_event
    assert not await world.store.issues(ANN.user_id)
