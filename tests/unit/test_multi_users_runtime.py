"""R-MULTI and R-PAIR-5 through the whole runtime over in-memory ports: two enrolled users, one meeting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bridge.core.fields import ExchangeAttendee
from bridge.core.model import Policy
from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.sync import UserBinding
from bridge.store.memory import MemoryStore

ANN = UserBinding("005000000000ANN", "ann@corp.example", Policy(user_email="ann@corp.example"))
BOB = UserBinding("005000000000BOB", "bob@corp.example", Policy(user_email="bob@corp.example"))
FAST = BridgeSettings(
    flush_s=0.02, reconcile_every_s=0, actor=ActorSettings(idle_s=0.2, first_backoff_s=0.01)
)
UID = "040000008200E00074C5B7101A82E008-partner-meeting"


@dataclass
class World:
    sf: MemorySalesforce
    ex: MemoryMailbox
    store: MemoryStore
    bridge: Bridge

    async def restart(self) -> None:
        await self.bridge.stop()
        self.store = MemoryStore(self.store.snapshot())
        self.bridge = Bridge(self.sf, self.ex, self.store, [ANN, BOB], settings=FAST)
        await self.bridge.start()
        await self.bridge.wait_idle()

    def invitation(self, user: UserBinding) -> str:
        """A meeting organized outside the org lands in `user`'s mailbox, accepted (kind D)."""
        start = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(hours=3)
        return self.ex.put_item(
            user.mailbox,
            "Partner review",
            start,
            start + timedelta(minutes=30),
            uid=UID,
            organizer="host@partner.example",
            is_meeting=True,
            my_response_type="Accept",
            required_attendees=(ExchangeAttendee(ANN.mailbox), ExchangeAttendee(BOB.mailbox)),
        )

    def events(self) -> list[dict[str, object]]:
        return [e for e in self.sf.events.values() if e.get("Subject") == "Partner review"]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    bridge = Bridge(sf, ex, store, [ANN, BOB], settings=FAST)
    await bridge.start()
    found = World(sf, ex, store, bridge)
    await bridge.wait_idle()
    yield found
    await found.bridge.stop()


async def test_r_multi_4_the_event_passes_to_the_attendee_who_still_has_the_meeting(world: World) -> None:
    ann_item = world.invitation(ANN)
    await world.bridge.wait_idle()
    bob_item = world.invitation(BOB)
    await world.bridge.wait_idle()
    (shared,) = world.events()
    assert shared["OwnerId"] == ANN.user_id
    event_id = str(shared["Id"])
    assert [r.relation_id for r in world.sf.relations[event_id]] == [BOB.user_id]

    world.ex.remove_item(ANN.mailbox, ann_item)
    await world.bridge.wait_idle()
    (kept,) = world.events()
    assert kept["Id"] == event_id and kept["OwnerId"] == BOB.user_id
    assert world.sf.relations[event_id] == []
    assert kept["Exchange_Item_Id__c"] == bob_item  # the event now names Bob's copy (R-PAIR-1)

    # Bob's copy now syncs both ways as the owner's (R-MERGE-1) ...
    world.ex.edit_item(BOB.mailbox, bob_item, location="Room 7")
    await world.bridge.wait_idle()
    assert world.sf.events[event_id].get("Location") == "Room 7"
    # ... and when the last holder deletes it, the event goes (R-DEL-2).
    world.ex.remove_item(BOB.mailbox, bob_item)
    await world.bridge.wait_idle()
    assert world.events() == []


async def test_r_pair_5_an_own_event_like_a_joined_meeting_never_gets_an_item(world: World) -> None:
    world.invitation(ANN)
    await world.bridge.wait_idle()
    await world.bridge.stop()
    # While the bridge is down, Bob notes the meeting in Salesforce by hand and receives it in Exchange.
    (shared,) = world.events()
    world.sf.put_event(
        BOB.user_id,
        "Partner review",
        datetime.fromisoformat(str(shared["StartDateTime"])),
        datetime.fromisoformat(str(shared["EndDateTime"])),
    )
    bob_item = world.invitation(BOB)
    await world.restart()
    world.bridge.backfill(BOB.user_id)  # a later reconcile sees Bob's event unpaired
    await world.bridge.wait_idle()
    assert list(world.ex.items[BOB.mailbox]) == [bob_item]  # the meeting shows once in Bob's calendar
    assert BOB.user_id in [r.relation_id for r in world.sf.relations[str(shared["Id"])]]


async def test_r_del_5_a_joined_copy_deleted_after_the_event_leaves_no_pair_behind(world: World) -> None:
    world.invitation(ANN)
    await world.bridge.wait_idle()
    bob_item = world.invitation(BOB)
    await world.bridge.wait_idle()
    (shared,) = world.events()
    world.sf.remove_event(str(shared["Id"]))  # Ann deletes the meeting's event in Salesforce
    await world.bridge.wait_idle()
    world.ex.remove_item(BOB.mailbox, bob_item)  # then Bob deletes his copy: both copies of his pair are gone
    await world.bridge.wait_idle()
    assert [p.state.ex_id for p in await world.store.pairs_of(BOB.user_id)] == []


async def test_r_multi_4_the_new_owner_takes_the_event_at_once_when_another_holder_sorts_first() -> None:
    """Three enrolled attendees; Bob's copy was moved out of his window, so the event passes from Ann to
    Carol. The change that passes it names Carol as owner and reaches her actor at once, although the store
    would hand the event's changes to Bob's pair (a live pair sorting first): Carol's copy becomes the
    event's item in the same moment, without waiting for a reconcile (none runs in this world)."""
    carol = UserBinding("005000000000CAR", "carol@corp.example", Policy(user_email="carol@corp.example"))
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    bridge = Bridge(sf, ex, store, [ANN, BOB, carol], settings=FAST)
    await bridge.start()
    world = World(sf, ex, store, bridge)
    try:
        everyone = tuple(ExchangeAttendee(u.mailbox) for u in (ANN, BOB, carol))
        start = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(hours=3)
        items = {}
        for user in (ANN, BOB, carol):
            items[user.user_id] = ex.put_item(
                user.mailbox,
                "Partner review",
                start,
                start + timedelta(minutes=30),
                uid=UID,
                organizer="host@partner.example",
                is_meeting=True,
                my_response_type="Accept",
                required_attendees=everyone,
            )
            await bridge.wait_idle()
        long_ago = start - timedelta(days=100)
        ex.edit_item(BOB.mailbox, items[BOB.user_id], start=long_ago, end=long_ago + timedelta(minutes=30))
        await bridge.wait_idle()

        ex.remove_item(ANN.mailbox, items[ANN.user_id])
        await bridge.wait_idle()
        (kept,) = world.events()
        assert kept["OwnerId"] == carol.user_id
        assert kept["Exchange_Item_Id__c"] == items[carol.user_id]
        (owner,) = [p for p in await store.pairs_of(carol.user_id) if p.state.sf_id == kept["Id"]]
        assert owner.state.owns_event
    finally:
        await bridge.stop()
