"""R-DEL-6 for a user switched off in calbridge.toml (`enabled = false`) while the bridge was stopped: the
next start ends their pairs once, later starts leave them alone, and switching them on is a first sync."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.runtime.engine import Bridge
from bridge.runtime.sync import UserBinding
from bridge.store.memory import MemoryStore
from tests.runtime.conftest import ANN, BOB, FAST, World, soon

SYNC = "Salesforce"


async def _restart(world: World, users: Sequence[UserBinding], off: Sequence[UserBinding] = ()) -> None:
    """A new process over the same store, with these users enrolled and these switched off."""
    await world.bridge.stop()
    world.store = MemoryStore(world.store.snapshot())
    world.bridge = Bridge(world.sf, world.ex, world.store, users, settings=FAST, switched_off=off)
    await world.bridge.start()
    await world.bridge.wait_idle()


def _writes(world: World) -> tuple[int, ...]:
    ex, sf = world.ex.calls, world.sf.calls
    return (ex["create_item"], ex["update_item"], ex["delete_item"], sf["create_event"], sf["update_event"])


async def test_r_del_6_a_user_switched_off_in_the_config_is_ended_once_then_left_alone(world: World) -> None:
    mailbox = world.ex.items[ANN.mailbox]
    kind_a = world.ex.put_item(ANN.mailbox, "Made in Outlook", *soon(2))
    kind_b = world.sf.put_event(ANN.user_id, "Made in Salesforce", *soon(3))
    await world.bridge.wait_idle()
    b_item = world.sf.events[kind_b]["Exchange_Item_Id__c"]
    assert SYNC in mailbox[kind_a].categories and b_item in mailbox

    await _restart(world, [BOB], off=[ANN])
    assert SYNC not in mailbox[kind_a].categories  # kind A: category removed, the item stays
    assert b_item not in mailbox  # kind B: the item the bridge made is deleted
    assert kind_b in world.sf.events  # Salesforce keeps both events
    assert await world.store.pairs_of(ANN.user_id) == []

    world.sf.put_event(ANN.user_id, "Booked while off", *soon(4))
    writes = _writes(world)
    await _restart(world, [BOB], off=[ANN])
    assert _writes(world) == writes  # nothing left to end: the user is left alone
    assert not [i for i in mailbox.values() if i.subject == "Booked while off"]


async def test_r_del_6_switching_a_user_back_on_is_a_first_sync(world: World) -> None:
    world.sf.put_event(ANN.user_id, "Made in Salesforce", *soon(2))
    await world.bridge.wait_idle()
    await _restart(world, [BOB], off=[ANN])
    world.sf.put_event(ANN.user_id, "Booked while off", *soon(4))
    await world.bridge.wait_idle()  # its change event was read and, with Ann off, routed to no one
    await _restart(world, [ANN, BOB])
    subjects = [i.subject for i in world.ex.items[ANN.mailbox].values()]
    assert "Booked while off" in subjects  # the window was read, not only the mailbox caught up


async def test_r_del_6_switching_off_is_not_held_by_the_mass_delete_guard(world: World) -> None:
    for n in range(12):  # more than R-DEL-10's 10 deletions, and every pair of the user
        world.sf.put_event(ANN.user_id, f"Meeting {n}", *soon(n + 1))
    await world.bridge.wait_idle()
    assert len(world.ex.items[ANN.mailbox]) == 12
    await _restart(world, [BOB], off=[ANN])
    assert world.ex.items[ANN.mailbox] == {}  # the admin's decision: no confirm is waited for
    assert not [i for i in await world.store.issues(ANN.user_id) if i.code == "E-MASS-DELETE"]


async def test_r_del_6_a_switch_off_that_loses_a_race_is_planned_again_as_a_switch_off(world: World) -> None:
    kind_a = world.ex.put_item(ANN.mailbox, "Made in Outlook", *soon(2))
    kind_b = world.sf.put_event(ANN.user_id, "Made in Salesforce", *soon(3))
    await world.bridge.wait_idle()
    mailbox = world.ex.items[ANN.mailbox]
    b_item = world.sf.events[kind_b]["Exchange_Item_Id__c"]
    a_event = mailbox[kind_a].salesforce_event_id
    # While the bridge is stopped, both copies change: the stored versions the pass writes on are stale.
    await world.bridge.stop()
    world.sf.edit_event(kind_b, Location="Room 9")
    world.ex.edit_item(ANN.mailbox, kind_a, location="Room 7")
    await _restart(world, [BOB], off=[ANN])
    assert b_item not in mailbox and kind_b in world.sf.events  # kind B: still the switch-off's writes
    assert SYNC not in mailbox[kind_a].categories and a_event in world.sf.events
    assert world.sf.events[a_event].get("Location") != "Room 7"  # no ordinary sync of a switched-off user
    assert await world.store.pairs_of(ANN.user_id) == []
