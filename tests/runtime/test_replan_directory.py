"""A re-plan after a lost race resolves the attendee addresses the pass had not resolved (R-ATT-3, R-ATT-8).

The directory of a pass is resolved from the copies read at its start; an attendee the user adds while the
bridge is writing arrives only with the re-read after the lost race, and must be looked up then, not
reported unresolved against the pass's old directory (and never related to the event, since the item's
next notice is the bridge's own write)."""

from __future__ import annotations

from typing import Any

from bridge.core.fields import ExchangeAttendee
from bridge.core.model import Relation, RelationKind
from tests.runtime.conftest import ANN, World, soon

PAT = ExchangeAttendee("pat@customer.example")
LEE = ExchangeAttendee("lee@customer.example")


def _people(world: World) -> None:
    world.sf.people["pat@customer.example"] = Relation("003000000000PAT", RelationKind.CONTACT)
    world.sf.people["lee@customer.example"] = Relation("003000000000LEE", RelationKind.CONTACT)


def _edit_on_next_update(world: World, **changes: Any) -> None:
    """The user edits the item just before the bridge's next write of it lands: that write loses the race."""
    update_item = world.ex.update_item

    async def edited_meanwhile(mailbox: str, item_id: str, *args: Any, **kwargs: Any) -> Any:
        world.ex.update_item = update_item  # type: ignore[method-assign]
        world.ex.edit_item(mailbox, item_id, **changes)
        return await update_item(mailbox, item_id, *args, **kwargs)

    world.ex.update_item = edited_meanwhile  # type: ignore[method-assign]


async def test_r_att_3_an_attendee_added_while_the_new_event_is_made_is_related(world: World) -> None:
    """The user books a meeting with Pat in Outlook and adds Lee at once: the bridge has made the event from
    the booking (Pat resolved), and its write of the pairing fields to the item loses the race. The re-read
    item has Lee, who is looked up then and related to the event, with no unresolved-attendee entry."""
    _people(world)
    start, end = soon()
    _edit_on_next_update(world, required_attendees=(PAT, LEE))
    item_id = world.ex.put_item(ANN.mailbox, "Renewal", start, end, required_attendees=(PAT,))
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    (event_id,) = [i for i, e in world.sf.events.items() if e.get("Subject") == "Renewal"]
    assert sorted(r.relation_id for r in world.sf.relations[event_id]) == [
        "003000000000LEE",
        "003000000000PAT",
    ]
    assert world.ex.items[ANN.mailbox][item_id].salesforce_event_id == event_id
    issues = await world.store.issues(ANN.user_id)
    assert not [i for i in issues if i.code == "I-UNRESOLVED-ATTENDEE"]


async def test_r_att_3_an_attendee_added_while_the_bridge_writes_a_paired_item_is_related(
    world: World,
) -> None:
    """A paired meeting moved in Salesforce: the bridge's write of the item loses the race to the user adding
    Lee in Outlook. The re-plan moves the item and relates Lee, looked up at the re-read."""
    _people(world)
    start, end = soon()
    item_id = world.ex.put_item(ANN.mailbox, "Review", start, end, required_attendees=(PAT,))
    await world.bridge.wait_idle()
    (event_id,) = [i for i, e in world.sf.events.items() if e.get("Subject") == "Review"]
    _edit_on_next_update(world, required_attendees=(PAT, LEE))
    world.sf.edit_event(event_id, Location="Room 7")
    await world.bridge.wait_idle()
    await world.bridge.wait_idle()
    assert world.ex.items[ANN.mailbox][item_id].location == "Room 7"
    assert sorted(r.relation_id for r in world.sf.relations[event_id]) == [
        "003000000000LEE",
        "003000000000PAT",
    ]
    issues = await world.store.issues(ANN.user_id)
    assert not [i for i in issues if i.code == "I-UNRESOLVED-ATTENDEE"]
