"""Less travelled roads through `plan`: each test names the situation a user would be in."""

from __future__ import annotations

from dataclasses import replace

from bridge.core import (
    Attendee,
    Changed,
    CreateItem,
    Deleted,
    MeetingContext,
    PairStatus,
    PrivatePolicy,
    Side,
    UnsyncRequested,
    UpdateAttendeeStatus,
    UpdateEvent,
    UpdateItem,
    plan,
)

from .factories import NOW, POLICY, at, content, directory, event, item, new_item, of_type, paired, person

OUT = content(start=at(-24 * 100))


def test_an_observation_about_an_unknown_pair_does_nothing() -> None:
    assert plan(None, Deleted(Side.EXCHANGE), POLICY, NOW).state is None
    assert plan(None, Changed(), POLICY, NOW).commands == ()


def test_a_pair_found_already_out_of_the_window_removes_the_category() -> None:
    state = paired()
    result = plan(
        state, Changed(sf=event(version="sf2", body=OUT), ex=item(version="ck2", body=OUT)), POLICY, NOW
    )
    assert result.state is not None and result.state.status is PairStatus.OUT_OF_WINDOW
    assert POLICY.sync_category in of_type(result, UpdateItem)[0].remove_categories
    assert plan(result.state, Changed(ex=item(version="ck3", body=OUT)), POLICY, NOW).commands == ()
    assert plan(result.state, UnsyncRequested(), POLICY, NOW).commands == ()  # nothing left to unsync
    gone = plan(result.state, Deleted(Side.SALESFORCE), POLICY, NOW)
    assert gone.state is not None and gone.state.status is PairStatus.ENDED and not gone.writes


def test_a_pair_without_a_base_and_one_copy_seen_waits_for_both() -> None:
    state = replace(paired(), base_sf=None, sf_version=None)
    assert plan(state, Changed(ex=item(version="ck2")), POLICY, NOW).commands == ()


def test_shared_activities_write_every_chosen_contact() -> None:
    state = paired()
    people = (person("a@client.example"), person("b@client.example"))
    added = item(version="ck2", body=content(attendees=tuple(Attendee(p.email) for p in people)))
    (update,) = of_type(
        plan(state, Changed(ex=added, directory=directory(*people)), POLICY, NOW), UpdateEvent
    )
    assert update.fields["EventWhoIds"] == ["003a", "003b"] and update.fields["WhoId"] == "003a"


def shared_pair() -> tuple[object, object]:
    inbound = new_item(
        body=content(attendees=(Attendee("x@client.example"),)),
        organizer="cat@corp.example",
        my_response="Accept",
    )
    context = MeetingContext(organizer_user_id="005CAT", event_id="00UORG", event_owner_id="005CAT")
    state = plan(None, Changed(ex=inbound, meeting=context), POLICY, NOW).state
    assert state is not None
    return replace(state, ex_version="ck1"), inbound


def test_an_attendee_copy_is_followed_through_the_window_and_its_category() -> None:
    state, inbound = shared_pair()
    assert plan(state, Changed(sf=event(version="sf9")), POLICY, NOW).commands == ()  # type: ignore[arg-type]
    uncategorised = replace(inbound, version="ck2", categories=frozenset())  # type: ignore[type-var]
    result = plan(state, Changed(ex=uncategorised), POLICY, NOW)  # type: ignore[arg-type]
    assert of_type(result, UpdateItem)[0].add_categories == (POLICY.sync_category,)
    assert not of_type(result, UpdateAttendeeStatus)  # the answer did not change
    gone = replace(inbound, version="ck3", content=OUT)  # type: ignore[type-var]
    left = plan(state, Changed(ex=gone), POLICY, NOW)  # type: ignore[arg-type]
    assert left.state is not None and left.state.status is PairStatus.OUT_OF_WINDOW


def test_a_paused_appointment_without_its_event_in_view_stays_paused() -> None:
    state = replace(
        paired(), status=PairStatus.OUT_OF_WINDOW, ex_id=None, ex_version=None, kind=type(paired().kind)("B")
    )
    assert plan(state, Changed(ex=item(version="ck5")), POLICY, NOW).commands == ()
    back = plan(state, Changed(sf=event(version="sf5", body=content(start=at(5)))), POLICY, NOW)
    assert of_type(back, CreateItem)


def test_private_flag_does_not_travel_under_skip() -> None:
    policy = replace(POLICY, private=PrivatePolicy.SKIP)
    state = paired(policy=policy)
    assert plan(state, Changed(ex=item(version="ck2", body=content(private=True))), policy, NOW).writes == ()
