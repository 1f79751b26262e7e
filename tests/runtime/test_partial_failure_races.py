"""Random races against the bridge's writes (R-MERGE-5): a person edits a record at the moment each of the
bridge's next writes of it arrives, so those writes lose their race, some after the other side was written.
Whatever the edits, once the bridge is idle both copies agree (R-MERGE-1) and the event's invitees are the
item's attendees (R-ATT-3, R-ATT-4): no edit is lost to a partial failure, none is undone.

Made on either side, the pair is raced while it is being paired, then again once paired (an edit on one side
starts the plan, the races hit both records). `meanwhile` hooks of the memory ports place each edit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.fields import ExchangeAttendee
from bridge.core.model import Relation, RelationKind
from bridge.runtime.engine import Bridge
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.store.memory import MemoryStore
from tests.runtime.conftest import ANN, FAST, soon

PEOPLE = {
    "pat@customer.example": Relation("003000000000PAT", RelationKind.CONTACT),
    "lee@customer.example": Relation("003000000000LEE", RelationKind.CONTACT),
}
Edit = tuple[str, Any]

_texts = st.sampled_from(["", "Room 1", "Room 2"])
_subjects = st.sampled_from(["Review", "Review (moved)", "Review (final)"])
_invitees = st.sets(st.sampled_from(sorted(PEOPLE)))
item_edits = st.one_of(
    st.tuples(st.just("location"), _texts),
    st.tuples(st.just("subject"), _subjects),
    st.tuples(st.just("attendees"), _invitees),
)
event_edits = st.one_of(st.tuples(st.just("Location"), _texts), st.tuples(st.just("Subject"), _subjects))


def _on_item(ex: MemoryMailbox, item_id: str, edit: Edit) -> Callable[[], None]:
    name, value = edit
    if name == "attendees":
        value = tuple(ExchangeAttendee(email) for email in sorted(value))
        return lambda: ex.edit_item(ANN.mailbox, item_id, required_attendees=value)
    return lambda: ex.edit_item(ANN.mailbox, item_id, **{name: value})


def _on_event(sf: MemorySalesforce, event_id: str, edit: Edit) -> Callable[[], None]:
    name, value = edit
    return lambda: sf.edit_event(event_id, **{name: value})


async def _settle(bridge: Bridge) -> None:
    await bridge.wait_idle()
    await bridge.wait_idle()
    await bridge.reconcile_all()
    await bridge.wait_idle()


def _in_step(sf: MemorySalesforce, ex: MemoryMailbox) -> tuple[str, str]:
    """The pair's (event id, item id), once it is checked to be in step."""
    (event_id,) = list(sf.events)
    (item,) = ex.items[ANN.mailbox].values()
    event = sf.events[event_id]
    assert item.salesforce_event_id == event_id
    assert event.get("Exchange_Item_Id__c") == item.item_id
    assert (event["Subject"], event.get("Location") or "") == (item.subject, item.location or ""), (
        event,
        item,
    )
    attendees = {PEOPLE[a.email].relation_id for a in item.required_attendees}
    assert {r.relation_id for r in sf.relations[event_id]} == attendees, (sf.relations[event_id], item)
    return event_id, item.item_id


async def _race(
    from_outlook: bool, pairing: list[Edit], later: list[Edit], later_event: list[Edit], start_edit: Edit
) -> None:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    sf.people.update(PEOPLE)
    bridge = Bridge(sf, ex, store, [ANN], settings=FAST)
    await bridge.start()
    try:
        await bridge.wait_idle()
        start, end = soon()
        if from_outlook:
            item_id = ex.put_item(ANN.mailbox, "Review", start, end)
            ex.meanwhile[item_id] += [_on_item(ex, item_id, e) for e in pairing if e[0][0].islower()]
        else:
            event_id = sf.put_event(ANN.user_id, "Review", start, end)
            sf.meanwhile[event_id] += [_on_event(sf, event_id, e) for e in pairing if e[0][0].isupper()]
        await _settle(bridge)
        event_id, item_id = _in_step(sf, ex)
        ex.meanwhile[item_id] += [_on_item(ex, item_id, e) for e in later]
        sf.meanwhile[event_id] += [_on_event(sf, event_id, e) for e in later_event]
        if start_edit[0][0].islower():
            _on_item(ex, item_id, start_edit)()
        else:
            _on_event(sf, event_id, start_edit)()
        await _settle(bridge)
        _in_step(sf, ex)
    finally:
        await bridge.stop()


@settings(max_examples=40, deadline=None)
@given(
    from_outlook=st.booleans(),
    pairing=st.lists(st.one_of(item_edits, event_edits), min_size=1, max_size=3),
    later=st.lists(item_edits, max_size=3),
    later_event=st.lists(event_edits, max_size=2),
    start_edit=st.one_of(item_edits, event_edits),
)
def test_r_merge_5_edits_racing_the_bridge_writes_leave_both_copies_in_step(
    from_outlook: bool, pairing: list[Edit], later: list[Edit], later_event: list[Edit], start_edit: Edit
) -> None:
    asyncio.run(_race(from_outlook, pairing, later, later_event, start_edit))
