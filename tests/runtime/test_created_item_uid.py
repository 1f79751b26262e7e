"""An item the bridge creates whose UID Exchange did not give with the create (EWS answers CreateItem with the
id only; the adapter reads the UID back, and reads nothing from an item deleted already).

R-DEL-2: the person deleted the new item at once: the event it was made for is deleted in the same pass,
not left standing with a pass that never commits. R-PAIR-1: an item still there gets its UID read again,
so the event's pairing fields carry it."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from bridge.core.model import PairStatus
from bridge.ports import Written
from tests.runtime.conftest import ANN, World, soon


def _create_answers_without_uid(world: World, *, delete_at_once: bool, no_uid: bool = False) -> None:
    """The next create answers with the id and ChangeKey only, as EWS's does when its UID read-back found
    nothing; with `delete_at_once`, the person deleted the item in between; with `no_uid`, the item has
    none to read."""
    create_item = world.ex.create_item

    async def without_uid(mailbox: str, *args: Any, **kwargs: Any) -> Written:
        world.ex.create_item = create_item  # type: ignore[method-assign]
        written = await create_item(mailbox, *args, **kwargs)
        if delete_at_once:
            world.ex.remove_item(mailbox, written.id)
        elif no_uid:
            items = world.ex.items[mailbox]
            items[written.id] = replace(items[written.id], uid=None)
        return Written(written.id, written.version, None)

    world.ex.create_item = without_uid  # type: ignore[method-assign]


async def test_r_del_2_an_item_made_for_an_event_and_deleted_at_once_takes_the_event_with_it(
    world: World,
) -> None:
    start, end = soon()
    _create_answers_without_uid(world, delete_at_once=True)
    event_id = world.sf.put_event(ANN.user_id, "Made then dropped", start, end)
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    assert event_id not in world.sf.events
    assert not world.ex.items[ANN.mailbox]
    assert [p.state.status for p in await world.store.pairs_of(ANN.user_id)] == [PairStatus.ENDED]


async def test_r_pair_1_an_item_made_without_its_uid_in_the_answer_gets_it_read(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The pass that made the item commits the pair with the UID (no pass dropped and left to a recovery)."""
    start, end = soon()
    _create_answers_without_uid(world, delete_at_once=False)
    event_id = world.sf.put_event(ANN.user_id, "Made, UID read later", start, end)
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    (item,) = world.ex.items[ANN.mailbox].values()
    assert item.uid and item.salesforce_event_id == event_id
    assert world.sf.events[event_id]["Exchange_Item_Id__c"] == item.item_id
    assert world.sf.events[event_id]["Exchange_UID__c"] == item.uid
    (pair,) = await world.store.pairs_of(ANN.user_id)
    assert pair.state.status is PairStatus.ACTIVE and pair.state.uid == item.uid
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_r_pair_1_an_item_made_with_no_uid_to_read_is_paired_by_its_id(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Exchange gave the new item no UID (none to read back): the pair is made and committed all the same,
    the event naming the item by id; the UID field stays empty."""
    start, end = soon()
    _create_answers_without_uid(world, delete_at_once=False, no_uid=True)
    event_id = world.sf.put_event(ANN.user_id, "Made, no UID", start, end)
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    (item,) = world.ex.items[ANN.mailbox].values()
    assert item.salesforce_event_id == event_id
    assert world.sf.events[event_id]["Exchange_Item_Id__c"] == item.item_id
    assert not world.sf.events[event_id].get("Exchange_UID__c")
    (pair,) = await world.store.pairs_of(ANN.user_id)
    assert pair.state.status is PairStatus.ACTIVE and pair.state.ex_id == item.item_id
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
