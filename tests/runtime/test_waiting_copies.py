"""Copies the bridge keeps waiting (R-PAIR-3 duplicates) whose twin goes away, over the memory ports."""

from __future__ import annotations

from bridge.core.issues import IssueCode
from tests.runtime.conftest import ANN, World, soon


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
