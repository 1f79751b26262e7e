"""R-MULTI-1 for a single meeting an outside organizer sends to several enrolled people who answer before the
bridge sees any of the answers: one event, whatever the timing. Over the memory ports."""

from __future__ import annotations

import asyncio

from bridge.core.fields import ExchangeAttendee
from bridge.core.model import PairStatus, Relation, RelationKind
from bridge.runtime.engine import Bridge
from bridge.runtime.reconcile import MeetingClaims
from tests.runtime.conftest import ANN, BOB, FAST, World, soon

OUTSIDE = "host@partner.example"


def _people(world: World) -> None:
    for user in (ANN, BOB):
        world.sf.people[user.mailbox] = Relation(user.user_id, RelationKind.USER, owned_by_user=True)


async def test_r_multi_1_two_recipients_answering_at_once_get_one_event(world: World) -> None:
    """Ann and Bob accept an outside organizer's meeting while the bridge is stopped: at its start both
    users' first passes see their answer in the same moment. One event is made, owned by one of them; the
    other's copy is paired to it and they are an invitee of it."""
    _people(world)
    await world.bridge.stop()
    start, end = soon()
    attendees = (ExchangeAttendee(ANN.mailbox, "Accept"), ExchangeAttendee(BOB.mailbox, "Accept"))
    meeting = {"uid": "uid-partner-call", "is_meeting": True, "organizer": OUTSIDE}
    for user in (ANN, BOB):
        world.ex.put_item(
            user.mailbox,
            "Partner call",
            start,
            end,
            my_response_type="Accept",
            required_attendees=attendees,
            **meeting,
        )
    world.bridge = Bridge(world.sf, world.ex, world.store, [ANN, BOB], settings=FAST)
    await world.bridge.start()
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    events = [e for e in world.sf.events.values() if e["Subject"] == "Partner call"]
    assert len(events) == 1, f"{len(events)} events for one meeting"
    (event,) = events
    owner = str(event["OwnerId"])
    (other,) = {ANN.user_id, BOB.user_id} - {owner}
    assert other in {r.relation_id for r in world.sf.relations[str(event["Id"])]}
    (pair,) = await world.store.pairs_of(other)
    assert pair.state.status is PairStatus.ACTIVE and pair.state.sf_id == event["Id"]
    assert not pair.state.owns_event


async def test_r_multi_1_a_pass_waiting_for_a_meeting_holds_no_claim_meanwhile() -> None:
    """The turn-taking cannot stall two users' passes on each other: Bob's pass, waiting for a meeting Ann's
    pass holds, claims nothing yet, so a third pass takes another meeting Bob wants at once; Bob goes on once
    both are let go, and only then holds his meetings."""
    claims = MeetingClaims()
    await claims.take("ann", {"uid-1", "uid-2"})
    bob = asyncio.create_task(claims.take("bob", {"uid-2", "uid-3"}))
    await asyncio.sleep(0)
    await asyncio.wait_for(claims.take("cat", {"uid-3"}), 1)  # Bob's wait did not hold uid-3
    claims.let_go("ann")
    await asyncio.sleep(0)
    assert not bob.done()  # uid-3 is Cat's
    claims.let_go("cat")
    await asyncio.wait_for(bob, 1)
    waiting = asyncio.create_task(claims.take("ann", {"uid-3"}))
    await asyncio.sleep(0)
    assert not waiting.done()
    claims.let_go("bob", ["uid-3"])
    await asyncio.wait_for(waiting, 1)
