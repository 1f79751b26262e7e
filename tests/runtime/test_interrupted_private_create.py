"""A pass killed right after it made the masked copy of a private record (R-PRIV-1), over the memory ports.

The create and the pairing fields were written, the pair was never committed: the store holds only the
create's intent (R-MERGE-4). The reconcile after the restart recovers the pair from the pairing fields
(R-PAIR-1) with no bases, and must take the masked copy for what it is: the mask of the private record,
in step with it. Neither the mask reaches the real record nor the real subject the masked copy.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from bridge.core.model import Side
from bridge.ports import Intent
from bridge.runtime.engine import Bridge
from bridge.runtime.records import pair_key
from bridge.store.memory import MemoryStore
from tests.runtime.conftest import ANN, FAST, World, soon


async def _interrupted(world: World, side: Side, description: str) -> None:
    """Restart as a kill just after the create (and its pairing fields) leaves the store: the pair is not
    committed, the create's intent is pending."""
    await world.bridge.stop()
    state = world.store.snapshot()
    ((row, pair),) = [(k, p) for k, p in state.pairs.items() if p.user_id == ANN.user_id]
    del state.pairs[row]
    intent = Intent(ANN.user_id, pair_key(pair.state), side, description, uuid.uuid4().hex)
    state.intents[intent.token] = (world.sf.clock.now, intent)
    world.store = MemoryStore(state)
    world.bridge = Bridge(world.sf, world.ex, world.store, list(world.bridge.users.values()), settings=FAST)
    await world.bridge.start()
    await world.bridge.wait_idle()


async def test_r_priv_1_a_masked_event_recovered_after_an_interrupted_create_stays_the_mask(
    world: World,
) -> None:
    """A private Outlook item's masked event (Subject `Private`) was made, then the pass was killed. The
    recovered pair writes neither side: the item keeps its own subject, the event stays the mask, and
    later edits of the item's subject still never reach Salesforce."""
    start, end = soon()
    item_id = world.ex.put_item(ANN.mailbox, "Oncology follow-up", start, end, sensitivity="Private")
    await world.bridge.wait_idle()
    (event,) = world.sf.events.values()
    assert event["Subject"] == "Private"
    writes = (world.ex.calls["update_item"], world.sf.calls["update_event"])
    await _interrupted(world, Side.SALESFORCE, "CreateEvent")
    assert world.ex.items[ANN.mailbox][item_id].subject == "Oncology follow-up"
    assert event["Subject"] == "Private" and event["IsPrivate"] is True
    assert (world.ex.calls["update_item"], world.sf.calls["update_event"]) == writes, "a side was written"
    (pair,) = await world.store.pairs_of(ANN.user_id)
    assert pair.state.masked is Side.SALESFORCE and not await world.store.pending_intents(ANN.user_id)
    world.ex.edit_item(ANN.mailbox, item_id, subject="Oncology second opinion")
    await world.bridge.wait_idle()
    assert event["Subject"] == "Private", "the real subject reached Salesforce"


async def test_r_priv_1_a_recovered_mask_takes_only_what_differs_beyond_it(world: World) -> None:
    """The private item was moved while the bridge was down after the interrupted create (the item is now
    the newer copy): the recovered pair moves the masked event, and its subject stays `Private`."""
    start, end = soon()
    item_id = world.ex.put_item(ANN.mailbox, "Custody hearing", start, end, sensitivity="Private")
    await world.bridge.wait_idle()
    (event,) = world.sf.events.values()
    await world.bridge.stop()
    later = start + timedelta(hours=1)
    world.ex.edit_item(ANN.mailbox, item_id, start=later, end=later + timedelta(minutes=30))
    await _interrupted(world, Side.SALESFORCE, "CreateEvent")
    assert event["Subject"] == "Private"
    assert event["StartDateTime"][:16] == later.isoformat()[:16]
    assert world.ex.items[ANN.mailbox][item_id].subject == "Custody hearing"


async def test_r_priv_1_a_masked_item_recovered_after_an_interrupted_create_stays_the_mask(
    world: World,
) -> None:
    """The other way: a private Salesforce event's masked item (Subject `Private`) was made, then the pass
    was killed. The recovered pair writes neither side: the event keeps its own subject (the mask never
    flows back), the item stays the mask."""
    start, end = soon()
    event_id = world.sf.put_event(ANN.user_id, "Salary review", start, end, IsPrivate=True)
    await world.bridge.wait_idle()
    (item,) = world.ex.items[ANN.mailbox].values()
    assert item.subject == "Private"
    writes = (world.ex.calls["update_item"], world.sf.calls["update_event"])
    await _interrupted(world, Side.EXCHANGE, "CreateItem")
    assert world.sf.events[event_id]["Subject"] == "Salary review"
    assert world.ex.items[ANN.mailbox][item.item_id].subject == "Private"
    assert (world.ex.calls["update_item"], world.sf.calls["update_event"]) == writes, "a side was written"
    (pair,) = await world.store.pairs_of(ANN.user_id)
    assert pair.state.masked is Side.EXCHANGE
    world.sf.edit_event(event_id, Subject="Salary review 2027")
    await world.bridge.wait_idle()
    assert world.ex.items[ANN.mailbox][item.item_id].subject == "Private", "the real subject reached Outlook"
