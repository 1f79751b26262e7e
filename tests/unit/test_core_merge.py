"""SPEC §4 (R-MERGE): three-way merge, conflicts, echoes, idempotence, conditional writes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.core import Changed, ShowAs, Side, SyncNow, UpdateEvent, UpdateItem, plan

from .factories import NOW, POLICY, at, content, event, item, of_type, paired


def test_r_merge_1_a_field_changed_on_one_side_is_copied_to_the_other() -> None:
    state = paired()
    result = plan(state, Changed(ex=item(version="ck2", body=content(location="Room 7"))), POLICY, NOW)
    (update,) = of_type(result, UpdateEvent)
    assert dict(update.fields) == {"Location": "Room 7"}
    assert not of_type(result, UpdateItem)


def test_r_merge_2_fields_changed_on_one_side_each_both_survive() -> None:
    state = paired()
    sf = event(version="sf2", modified=at(0), body=content(subject="From Salesforce"))
    ex = item(version="ck2", modified=at(-0.5), body=content(location="From Exchange"))
    result = plan(state, Changed(sf=sf, ex=ex), POLICY, NOW)
    assert dict(of_type(result, UpdateEvent)[0].fields) == {"Location": "From Exchange"}
    assert dict(of_type(result, UpdateItem)[0].fields) == {"subject": "From Salesforce"}


@pytest.mark.parametrize(
    ("sf_minutes", "ex_minutes", "tie_winner", "winner"),
    [
        (10, 5, Side.EXCHANGE, Side.SALESFORCE),  # Salesforce later
        (5, 10, Side.SALESFORCE, Side.EXCHANGE),  # Exchange later
        (7, 7, Side.SALESFORCE, Side.SALESFORCE),  # tie: default winner
        (7, 7, Side.EXCHANGE, Side.EXCHANGE),  # tie: configured winner
    ],
)
def test_r_merge_2_conflict_goes_to_the_later_record_then_tie_winner(
    sf_minutes: int, ex_minutes: int, tie_winner: Side, winner: Side
) -> None:
    policy = replace(POLICY, tie_winner=tie_winner)
    state = paired(policy=policy)
    sf = event(version="sf2", modified=at(sf_minutes / 60), body=content(subject="SF"))
    ex = item(version="ck2", modified=at(ex_minutes / 60), body=content(subject="EX"))
    result = plan(state, Changed(sf=sf, ex=ex), policy, NOW)
    if winner is Side.SALESFORCE:
        assert of_type(result, UpdateItem)[0].fields["subject"] == "SF" and not of_type(result, UpdateEvent)
    else:
        assert of_type(result, UpdateEvent)[0].fields["Subject"] == "EX" and not of_type(result, UpdateItem)
    assert result.state is not None and result.state.base_sf == result.state.base_ex


def test_r_merge_2_same_change_on_both_sides_writes_nothing() -> None:
    state = paired()
    sf = event(version="sf2", body=content(subject="Same"))
    ex = item(version="ck2", body=content(subject="Same"))
    assert plan(state, Changed(sf=sf, ex=ex), POLICY, NOW).writes == ()


def test_r_merge_3_own_write_coming_back_is_an_echo() -> None:
    state = paired()
    result = plan(state, Changed(sf=event(version="sf2", body=content(subject="New"))), POLICY, NOW)
    assert result.state is not None and result.state.ex_version is None  # until the runtime records it
    recorded = result.state.after_write(Side.EXCHANGE, "AAMkItem1", "ck2")
    echo = item(version="ck2", body=content(subject="New"))
    assert plan(recorded, Changed(ex=echo), POLICY, NOW).commands == ()


def test_r_merge_3_echo_with_a_new_version_equal_to_the_base_writes_nothing() -> None:
    state = paired()
    result = plan(state, Changed(sf=event(version="sf2", body=content(subject="New"))), POLICY, NOW)
    assert result.state is not None
    unrecorded_echo = item(version="ck-unknown", body=content(subject="New"))
    assert plan(result.state, Changed(ex=unrecorded_echo), POLICY, NOW).writes == ()


def test_r_merge_3_echo_normalised_by_the_server_is_not_sent_back() -> None:
    policy = replace(POLICY, safe_description=False)
    state = paired(policy=policy)
    result = plan(state, Changed(sf=event(version="sf2", body=content(description="a\nb"))), policy, NOW)
    assert result.state is not None
    recorded = result.state.after_write(Side.EXCHANGE, "AAMkItem1", "ck2")
    normalised = item(version="ck2", body=content(description="a b"))  # the server rewrote our text
    later_sf = event(version="sf3", modified=at(1), body=content(description="a\nb", location="Hall"))
    after = plan(recorded, Changed(sf=later_sf, ex=normalised), policy, NOW)
    assert not of_type(after, UpdateEvent)  # the server's spelling of our own write is not a change
    assert dict(of_type(after, UpdateItem)[0].fields) == {"location": "Hall"}


def test_r_merge_4_a_notification_delivered_twice_makes_no_second_write() -> None:
    state = paired()
    seen = Changed(ex=item(version="ck2", body=content(subject="Once")))
    first = plan(state, seen, POLICY, NOW)
    assert first.writes and first.state is not None
    stored = first.state.after_write(Side.SALESFORCE, "00U000000000001", "sf2")
    assert plan(stored, seen, POLICY, NOW).writes == ()


def test_r_merge_4_same_input_same_plan() -> None:
    state = paired()
    seen = Changed(sf=event(version="sf2", body=content(subject="A")), ex=item(version="ck2"))
    assert plan(state, seen, POLICY, NOW) == plan(state, seen, POLICY, NOW)


def test_r_merge_5_every_write_carries_the_version_it_was_planned_from() -> None:
    state = paired()
    sf = event(version="sf2", modified=at(0), body=content(subject="S"))
    ex = item(version="ck2", modified=at(-0.5), body=content(location="L"))
    result = plan(state, Changed(sf=sf, ex=ex), POLICY, NOW)
    assert of_type(result, UpdateEvent)[0].if_version == "sf2"
    assert of_type(result, UpdateItem)[0].if_version == "ck2"


def test_r_time_5_sync_now_compares_even_at_known_versions() -> None:
    state = paired()
    drifted = replace(state, base_ex=content(subject="Old"))
    ex = item(version=state.ex_version or "", body=content(subject="Current"))
    assert plan(drifted, Changed(ex=replace(ex, version="other")), POLICY, NOW).writes
    assert plan(drifted, SyncNow(sf=event(), ex=ex), POLICY, NOW).state is not None


def test_r_merge_unseen_side_is_taken_as_unchanged() -> None:
    state = paired()
    free = event(version="sf2", body=content(show_as=ShowAs.FREE))
    result = plan(state, Changed(sf=free), POLICY, NOW)
    assert of_type(result, UpdateItem)[0].fields == {"legacy_free_busy_status": "Free"}


def test_r_merge_3_salesforce_echo_at_the_recorded_version_is_not_a_change() -> None:
    # The bridge wrote the event and recorded its new version; Salesforce rewrote the value it was given
    # (a trigger, a trimmed space). The event at that version is the bridge's own write, not an edit.
    state = paired()
    result = plan(state, Changed(ex=item(version="ck2", body=content(location="Hall "))), POLICY, NOW)
    assert result.state is not None
    recorded = result.state.after_write(Side.SALESFORCE, "00U000000000001", "sf2").after_write(
        Side.EXCHANGE, "AAMkItem1", "ck2"
    )
    rewritten = event(version="sf2", body=content(location="Hall"))
    categorised = item(version="ck3", body=content(location="Hall "))  # something else moved the item on
    assert plan(recorded, Changed(sf=rewritten, ex=categorised), POLICY, NOW).writes == ()


def test_r_merge_4_a_write_retried_after_a_crash_makes_no_second_write() -> None:
    # The bridge wrote the event, then crashed before storing the new state. Re-planned from the old
    # state, the event already holds the change and the item is as it was: nothing is written again.
    state = paired()
    edited = item(version="ck2", body=content(subject="Once"), modified=at(0))
    assert of_type(plan(state, Changed(ex=edited), POLICY, NOW), UpdateEvent)
    written = event(version="sf2", body=content(subject="Once"), modified=at(0.1))
    again = plan(state, Changed(sf=written, ex=edited), POLICY, NOW)
    assert again.writes == ()
    assert again.state is not None and again.state.base_sf == again.state.base_ex == edited.content
