"""SPEC §10 (R-MULTI) and R-PAIR-5: several enrolled users on one meeting, as the core decides it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bridge.core import (
    Attendee,
    Cancelled,
    Changed,
    Deleted,
    DeleteEvent,
    Kind,
    MeetingContext,
    PairState,
    PairStatus,
    RemoveAttendeeRelation,
    Response,
    Side,
    UpdateEvent,
    UpdateItem,
    match_unpaired,
    plan,
)

from .factories import NOW, POLICY, USER_ID, content, event, item, new_event, new_item, of_type

OUTSIDER = "host@partner.example"
GUEST = Attendee("guest@client.example")
DAN = "005DAN"


def outside_meeting(**fields: object) -> dict[str, object]:
    return {"organizer": OUTSIDER, "my_response": "Accept", "body": content(attendees=(GUEST,)), **fields}


def owner_pair() -> PairState:
    """This user owns the event of a meeting an outside organizer sent (kind D)."""
    inbound = new_item(**outside_meeting())
    created = plan(None, Changed(ex=inbound, meeting=MeetingContext()), POLICY, NOW).state
    assert created is not None and created.kind is Kind.D and created.owns_event
    return replace(created, sf_id="00UOWN", sf_version="sf1", ex_version="ck1")


# ------------------------------------------------------------------------------ R-PAIR-5: look-alikes


def test_r_pair_5_an_event_that_looks_like_a_joined_item_is_neither_adopted_nor_created_from() -> None:
    joined = item(**outside_meeting())  # this user's copy, already a relation on another user's event
    look_alike = new_event(body=joined.content)
    other = new_event(id="00U000000000002", body=content("Lunch"))
    matching = match_unpaired([look_alike, other], [], joined=[joined.content])
    assert matching.look_alikes == (look_alike,)
    assert matching.singles == (other,)
    assert matching.pairs == () and matching.duplicates == ()


# ------------------------------------------------------------------------- R-MULTI-4: passing it on


def test_r_multi_4_owner_deletes_their_copy_and_the_event_passes_to_another_holder() -> None:
    state = owner_pair()
    result = plan(state, Deleted(Side.EXCHANGE, meeting=MeetingContext(holders=(DAN,))), POLICY, NOW)
    assert not of_type(result, DeleteEvent)
    (update,) = of_type(result, UpdateEvent)
    assert update.event_id == "00UOWN" and update.fields["OwnerId"] == DAN and update.if_version == "sf1"
    assert of_type(result, RemoveAttendeeRelation) == [RemoveAttendeeRelation("00UOWN", DAN)]
    assert result.state is not None and result.state.status is PairStatus.ENDED
    assert result.state.sf_id is None  # the event is no longer this user's


def test_r_multi_4_owner_unsyncs_their_copy_and_the_event_passes_on() -> None:
    state = owner_pair()
    unsynced = item(
        id=state.ex_id,
        paired_id="00UOWN",
        categories=frozenset({POLICY.sync_category, POLICY.unsync_category}),
        version="ck2",
        **outside_meeting(),
    )
    context = MeetingContext(event_id="00UOWN", event_owner_id=USER_ID, holders=(DAN, "005EVE"))
    result = plan(state, Changed(ex=unsynced, meeting=context), POLICY, NOW)
    assert not of_type(result, DeleteEvent)
    assert [u.fields["OwnerId"] for u in of_type(result, UpdateEvent)] == [DAN]  # the first to sync
    assert result.state is not None and result.state.status is PairStatus.ENDED


def test_r_multi_4_the_event_is_deleted_when_no_other_attendee_has_a_copy() -> None:
    state = owner_pair()
    result = plan(state, Deleted(Side.EXCHANGE, meeting=MeetingContext()), POLICY, NOW)
    assert of_type(result, DeleteEvent) == [DeleteEvent("00UOWN", "sf1")]


def test_r_multi_4_a_cancelled_meeting_is_deleted_whoever_holds_it() -> None:
    state = owner_pair()
    assert of_type(plan(state, Cancelled(), POLICY, NOW), DeleteEvent)


def test_r_multi_4_an_appointment_is_never_passed_on() -> None:
    appointment = plan(None, Changed(ex=new_item()), POLICY, NOW).state
    assert appointment is not None and appointment.kind is Kind.A
    state = replace(appointment, sf_id="00UOWN", sf_version="sf1", ex_version="ck1")
    result = plan(state, Deleted(Side.EXCHANGE, meeting=MeetingContext(holders=(DAN,))), POLICY, NOW)
    assert of_type(result, DeleteEvent) and not of_type(result, UpdateEvent)


def test_r_multi_4_the_attendee_handed_the_event_takes_the_pair_over() -> None:
    context = MeetingContext(event_id="00UOWN", event_owner_id=DAN)
    mine = new_item(**outside_meeting(my_response="Tentative"))
    joined = plan(None, Changed(ex=mine, meeting=context), POLICY, NOW).state
    assert joined is not None and not joined.owns_event
    joined = replace(joined, ex_version=mine.version)
    handed = event(id="00UOWN", paired_id="AAMkOther", body=mine.content, version="sf9")
    result = plan(joined, Changed(sf=handed), POLICY, NOW)
    state = result.state
    assert state is not None and state.owns_event and state.kind is Kind.D
    assert state.status is PairStatus.ACTIVE and state.key == joined.key
    # The event's pairing field now names this user's item (R-PAIR-1), and edits flow again (R-MERGE-1).
    (update,) = of_type(result, UpdateEvent)
    assert update.fields["Exchange_Item_Id__c"] == mine.id
    moved = replace(mine, version="ck2", content=replace(mine.content, location="Room 7"))
    after = plan(replace(state, sf_version="sf10"), Changed(ex=moved), POLICY, NOW)
    assert [u.fields.get("Location") for u in of_type(after, UpdateEvent)] == ["Room 7"]


def test_r_multi_4_another_users_event_is_not_taken_over_by_an_attendee() -> None:
    context = MeetingContext(event_id="00UOWN", event_owner_id=DAN)
    mine = new_item(**outside_meeting())
    joined = plan(None, Changed(ex=mine, meeting=context), POLICY, NOW).state
    assert joined is not None
    theirs = event(id="00UOWN", owner_id=DAN, body=mine.content, version="sf9")
    result = plan(replace(joined, ex_version=mine.version), Changed(sf=theirs), POLICY, NOW)
    assert result.state is not None and not result.state.owns_event
    assert result.state.my_status is Response.ACCEPTED


def test_r_del_4_a_shared_meeting_moved_out_of_the_window_is_written_at_the_version_just_read() -> None:
    """R-MULTI-3 + R-DEL-4 + R-MERGE-5: this user's copy of another user's event leaves the window with a
    new ChangeKey; the category comes off conditionally on that ChangeKey, not on the one recorded before
    (which lost every race and was re-planned forever), and the paused state keeps base and version
    together."""
    context = MeetingContext(event_id="00UOWN", event_owner_id=DAN)
    mine = new_item(**outside_meeting())
    joined = plan(None, Changed(ex=mine, meeting=context), POLICY, NOW).state
    assert joined is not None and not joined.owns_event
    joined = replace(joined, ex_version=mine.version)
    gone = replace(
        mine,
        version="ck7",
        categories=frozenset({POLICY.sync_category}),
        content=replace(mine.content, when=content(start=NOW + timedelta(days=200)).when),
    )
    result = plan(joined, Changed(ex=gone), POLICY, NOW)
    (update,) = of_type(result, UpdateItem)
    assert update.if_version == "ck7" and POLICY.sync_category in update.remove_categories
    state = result.state
    assert state is not None and state.status is PairStatus.OUT_OF_WINDOW
    assert state.ex_version is None or state.base_ex == gone.content
