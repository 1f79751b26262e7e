"""The whole runtime over in-memory ports: notices in, writes out, state committed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bridge.core.fields import ExchangeAttendee
from bridge.core.model import PairStatus, Relation, RelationKind
from tests.runtime.conftest import ANN, World, soon


async def test_r_time_1_item_created_in_exchange_reaches_salesforce(world: World) -> None:
    start, end = soon()
    item_id = world.ex.put_item(ANN.mailbox, "Review", start, end)
    await world.bridge.wait_idle()
    events = [e for e in world.sf.events.values() if e.get("Subject") == "Review"]
    assert len(events) == 1
    assert events[0]["Exchange_Item_Id__c"] == item_id
    assert events[0]["OwnerId"] == ANN.user_id
    item = world.ex.items[ANN.mailbox][item_id]
    assert item.salesforce_event_id == events[0]["Id"]
    assert "Salesforce" in item.categories
    pairs = await world.store.pairs_of(ANN.user_id)
    assert [p.state.status for p in pairs] == [PairStatus.ACTIVE]


async def test_r_time_1_event_created_in_salesforce_reaches_exchange(world: World) -> None:
    start, end = soon()
    event_id = world.sf.put_event(ANN.user_id, "Call", start, end)
    await world.bridge.wait_idle()
    items = [i for i in world.ex.items[ANN.mailbox].values() if i.subject == "Call"]
    assert len(items) == 1
    assert items[0].salesforce_event_id == event_id
    assert world.sf.events[event_id]["Exchange_Item_Id__c"] == items[0].item_id
    assert world.sf.events[event_id]["Exchange_UID__c"] == items[0].uid


async def test_r_merge_1_update_in_salesforce_moves_the_item_without_a_read(world: World) -> None:
    start, end = soon()
    event_id = world.sf.put_event(ANN.user_id, "Call", start, end)
    await world.bridge.wait_idle()
    reads = world.sf.calls["read_events"]
    world.sf.edit_event(event_id, Subject="Call moved", Location="Room 2")
    await world.bridge.wait_idle()
    item = next(i for i in world.ex.items[ANN.mailbox].values() if i.salesforce_event_id == event_id)
    assert (item.subject, item.location) == ("Call moved", "Room 2")
    assert world.sf.calls["read_events"] == reads  # applied onto the stored record


async def test_r_merge_3_own_writes_plan_nothing(world: World) -> None:
    start, end = soon()
    world.ex.put_item(ANN.mailbox, "Review", start, end)
    await world.bridge.wait_idle()
    writes = (world.sf.calls["update_event"], world.ex.calls["update_item"])
    await world.bridge.wait_idle()
    assert (world.sf.calls["update_event"], world.ex.calls["update_item"]) == writes


async def test_r_time_2_restart_resumes_with_nothing_lost_or_doubled(world: World) -> None:
    start, end = soon()
    world.ex.put_item(ANN.mailbox, "Before", start, end)
    await world.bridge.wait_idle()
    await world.bridge.stop()
    # while the bridge is down: one change on each side
    world.ex.put_item(ANN.mailbox, "While down", *soon(3))
    event_id = world.sf.put_event(ANN.user_id, "SF while down", *soon(4))
    await world.restart()
    await world.bridge.wait_idle()
    subjects = sorted(str(e.get("Subject")) for e in world.sf.events.values())
    assert subjects == ["Before", "SF while down", "While down"]
    items = sorted(i.subject for i in world.ex.items[ANN.mailbox].values())
    assert items == ["Before", "SF while down", "While down"]
    assert world.sf.events[event_id]["Exchange_Item_Id__c"]


async def test_r_del_2_item_deleted_in_exchange_deletes_the_event(world: World) -> None:
    start, end = soon()
    item_id = world.ex.put_item(ANN.mailbox, "Gone", start, end)
    await world.bridge.wait_idle()
    world.ex.remove_item(ANN.mailbox, item_id)
    await world.bridge.wait_idle()
    assert not [e for e in world.sf.events.values() if e.get("Subject") == "Gone"]
    pairs = await world.store.pairs_of(ANN.user_id)
    assert [p.state.status for p in pairs] == [PairStatus.ENDED]


async def test_r_merge_5_a_lost_race_on_an_update_is_re_read_and_re_planned(world: World) -> None:
    start, end = soon()
    item_id = world.ex.put_item(ANN.mailbox, "Review", start, end)
    await world.bridge.wait_idle()
    event_id = world.ex.items[ANN.mailbox][item_id].salesforce_event_id
    assert event_id is not None
    world.sf.conflict_once.add(event_id)
    world.ex.edit_item(ANN.mailbox, item_id, location="Room 7")
    await world.bridge.wait_idle()
    assert world.sf.events[event_id]["Location"] == "Room 7"
    assert world.bridge.metrics.counters["failure_ConflictError"] == 1


async def test_r_del_10_a_pass_that_would_delete_most_pairs_is_held(world: World) -> None:
    for n in range(12):
        world.ex.put_item(ANN.mailbox, f"Meeting {n}", *soon(n + 1))
    await world.bridge.wait_idle()
    assert len(world.sf.events) == 12
    for item_id in list(world.ex.items[ANN.mailbox]):
        world.ex.remove_item(ANN.mailbox, item_id)
    await world.bridge.wait_idle()
    assert len(world.sf.events) == 12  # nothing deleted
    issues = await world.store.issues(ANN.user_id)
    assert [i.code for i in issues] == ["E-MASS-DELETE"]
    world.bridge.confirm(ANN.user_id)
    await world.bridge.wait_idle()
    assert world.sf.events == {}


async def test_r_time_4_a_periodic_reconcile_with_nothing_changed_costs_one_salesforce_call(
    world: World,
) -> None:
    world.ex.put_item(ANN.mailbox, "Steady", *soon())
    await world.bridge.wait_idle()
    before = dict(world.sf.calls)
    await world.bridge.reconcile_all()
    await world.bridge.wait_idle()
    spent = {k: v - before.get(k, 0) for k, v in world.sf.calls.items() if v != before.get(k, 0)}
    assert spent == {"window_events": 1}  # two users, one batched read, nothing written


async def test_r_del_5_an_event_deleted_before_the_pass_that_made_it_commits_is_not_lost(
    world: World,
) -> None:
    """The user deletes the Salesforce event the bridge has just created, and the DELETE change event arrives
    while that pass is still writing its Outlook half: the store does not know the pair yet and a deletion
    names no owner, yet it reaches the user: the pair ends and the Outlook item, made there, stays without
    the bridge's category (R-DEL-5)."""
    start, end = soon()
    update_item = world.ex.update_item

    async def deleted_meanwhile(mailbox: str, item_id: str, *args: object, **kwargs: object) -> object:
        made = next(e for e in world.sf.events.values() if e.get("Subject") == "Deleted at once")
        world.sf.remove_event(str(made["Id"]))
        await asyncio.sleep(0.05)  # the router takes the DELETE before this pass commits its pair
        world.ex.update_item = update_item  # type: ignore[method-assign]
        return await update_item(mailbox, item_id, *args, **kwargs)  # type: ignore[arg-type]

    world.ex.update_item = deleted_meanwhile  # type: ignore[method-assign]
    item_id = world.ex.put_item(ANN.mailbox, "Deleted at once", start, end)
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    assert world.bridge.router.stats.dropped == 0
    pairs = await world.store.pairs_of(ANN.user_id)
    assert [p.state.status for p in pairs] == [PairStatus.ENDED]
    assert "Salesforce" not in world.ex.items[ANN.mailbox][item_id].categories
    # The item's notice of the bridge's own pairing write, read before the category came off, is older
    # than that write: it brings no event back.
    assert not [e for e in world.sf.events.values() if e.get("Subject") == "Deleted at once"]


async def test_r_att_8_edits_to_a_meeting_whose_attendees_resolved_ask_salesforce_nobody(
    world: World,
) -> None:
    """The attendee is looked up once, when the item first reaches Salesforce; later edits of the item find
    the address already related to the event and cost no lookup (R-API-1: calls only where needed). A new
    attendee is looked up, and only then."""
    world.sf.people["pat@customer.example"] = Relation("003000000000PAT", RelationKind.CONTACT)
    world.sf.people["lee@customer.example"] = Relation("003000000000LEE", RelationKind.CONTACT)
    start, end = soon()
    pat = ExchangeAttendee("pat@customer.example")
    item_id = world.ex.put_item(ANN.mailbox, "Renewal", start, end, required_attendees=(pat,))
    await world.bridge.wait_idle()
    (event_id,) = [i for i, e in world.sf.events.items() if e.get("Subject") == "Renewal"]
    assert [r.relation_id for r in world.sf.relations[event_id]] == ["003000000000PAT"]
    asked = world.sf.calls["resolve"]
    for room in ("Room 1", "Room 2", "Room 3"):
        world.ex.edit_item(ANN.mailbox, item_id, location=room)
        await world.bridge.wait_idle()
    assert world.sf.events[event_id]["Location"] == "Room 3"
    assert world.sf.calls["resolve"] == asked
    world.ex.edit_item(
        ANN.mailbox, item_id, required_attendees=(pat, ExchangeAttendee("lee@customer.example"))
    )
    await world.bridge.wait_idle()
    assert world.sf.calls["resolve"] == asked + 1
    assert sorted(r.relation_id for r in world.sf.relations[event_id]) == [
        "003000000000LEE",
        "003000000000PAT",
    ]


async def test_r_merge_5_an_item_edited_while_its_new_event_is_made_keeps_the_edit(world: World) -> None:
    """The user books in Outlook and at once sets the item to Free: the bridge has created the event from
    the booking, and its write of the pairing fields to the item loses the race. The event it made is its
    own, unchanged since, so the Outlook edit is the only change and reaches Salesforce; the item keeps it."""
    start, end = soon()
    update_item = world.ex.update_item

    async def edited_meanwhile(mailbox: str, item_id: str, *args: object, **kwargs: object) -> object:
        world.ex.update_item = update_item  # type: ignore[method-assign]
        # In the same second as the event was made (both services stamp whole seconds): no later side.
        world.ex.clock.now = world.sf.clock.now - timedelta(seconds=1)
        world.ex.edit_item(mailbox, item_id, legacy_free_busy_status="Free")
        return await update_item(mailbox, item_id, *args, **kwargs)  # type: ignore[arg-type]

    world.ex.update_item = edited_meanwhile  # type: ignore[method-assign]
    item_id = world.ex.put_item(ANN.mailbox, "Booked then freed", start, end)
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    (event,) = [e for e in world.sf.events.values() if e.get("Subject") == "Booked then freed"]
    item = world.ex.items[ANN.mailbox][item_id]
    assert item.legacy_free_busy_status == "Free"
    assert event["ShowAs"] == "Free"
    assert item.salesforce_event_id == event["Id"] and "Salesforce" in item.categories


async def test_r_del_2_an_item_deleted_while_its_new_event_is_made_takes_the_event_with_it(
    world: World,
) -> None:
    """The user books in Outlook and deletes the booking at once: the bridge has created the event, and its
    write of the pairing fields finds the item gone. The event it just made goes at once (R-DEL-2), not at
    some later reconcile (none runs in this world)."""
    start, end = soon()
    update_item = world.ex.update_item

    async def deleted_meanwhile(mailbox: str, item_id: str, *args: object, **kwargs: object) -> object:
        world.ex.update_item = update_item  # type: ignore[method-assign]
        world.ex.remove_item(mailbox, item_id)
        return await update_item(mailbox, item_id, *args, **kwargs)  # type: ignore[arg-type]

    world.ex.update_item = deleted_meanwhile  # type: ignore[method-assign]
    world.ex.put_item(ANN.mailbox, "Booked then dropped", start, end)
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    assert not [e for e in world.sf.events.values() if e.get("Subject") == "Booked then dropped"]
    assert [p.state.status for p in await world.store.pairs_of(ANN.user_id)] == [PairStatus.ENDED]
