"""SPEC §3 (R-PAIR): pairing, recovery and adoption."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from bridge.core import (
    AllDay,
    Changed,
    CloseIssue,
    CreateEvent,
    CreateItem,
    DeleteEvent,
    IssueCode,
    PairStatus,
    RaiseIssue,
    UpdateEvent,
    UpdateItem,
    match_unpaired,
    plan,
)
from bridge.core.pairing import adoption_key

from .factories import NOW, POLICY, at, content, event, item, new_event, new_item, of_type, paired


def test_r_pair_1_pairing_fields_are_written_on_both_sides_at_creation() -> None:
    from_event = plan(None, Changed(sf=new_event()), POLICY, NOW)
    (created,) = of_type(from_event, CreateItem)
    assert created.fields["salesforce_event_id"] == "00U000000000001"
    (update,) = of_type(from_event, UpdateEvent)
    assert set(update.fields) == {"Exchange_Item_Id__c", "Exchange_UID__c"}
    from_item = plan(None, Changed(ex=new_item()), POLICY, NOW)
    (create_event,) = of_type(from_item, CreateEvent)
    assert create_event.fields["Exchange_Item_Id__c"] == "AAMkItem1"
    (item_update,) = of_type(from_item, UpdateItem)
    assert "salesforce_event_id" in item_update.fields


def test_r_pair_1_stored_ids_recover_the_pair_without_the_store() -> None:
    sf = event(id="00UA", paired_id="AAMkB", body=content(subject="Renamed in Salesforce"))
    ex = item(id="AAMkB", paired_id="00UA")
    other = new_item(id="AAMkC", body=content(subject="Renamed in Salesforce"))
    matching = match_unpaired([sf], [ex, other])
    assert matching.pairs == ((sf, ex),)
    assert matching.singles == (other,)
    # Recovery from either side's field alone.
    assert match_unpaired([replace(sf, paired_id=None)], [ex]).pairs == ((replace(sf, paired_id=None), ex),)


def test_r_pair_1_a_copy_naming_an_unseen_partner_gets_no_second_one() -> None:
    orphan = event(paired_id="AAMkGone")
    assert match_unpaired([orphan], []).singles == (orphan,)
    assert plan(None, Changed(sf=orphan), POLICY, NOW).commands == ()


def test_r_pair_2_adoption_by_subject_and_time_creates_nothing() -> None:
    sf = new_event(body=content(subject=" Review ", start=at(24) + timedelta(seconds=20)))
    ex = new_item(body=content(subject="Review"))
    matching = match_unpaired([sf], [ex])
    assert matching.pairs == ((sf, ex),)
    result = plan(None, Changed(sf=sf, ex=ex), POLICY, NOW)
    assert not of_type(result, CreateEvent) and not of_type(result, CreateItem)
    assert result.state is not None and result.state.status is PairStatus.ACTIVE
    assert {"Exchange_Item_Id__c", "Exchange_UID__c"} <= set(of_type(result, UpdateEvent)[0].fields)


def test_r_pair_2_all_day_key_uses_dates() -> None:
    body = replace(content(), when=AllDay(date(2026, 12, 1), date(2026, 12, 2)))
    assert adoption_key(new_event(body=body)) == ("Review", date(2026, 12, 1), date(2026, 12, 2))


def test_r_pair_3_shared_keys_are_duplicates_and_neither_adopted_nor_created() -> None:
    a, b = new_item(id="AAMkA"), new_item(id="AAMkB")
    sf = new_event()
    matching = match_unpaired([sf], [a, b])
    assert matching.pairs == () and set(matching.duplicates) == {sf, a, b}
    result = plan(None, Changed(ex=a, duplicate=True), POLICY, NOW)
    assert not of_type(result, CreateEvent)
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.DUPLICATE_KEY]
    (marked,) = of_type(result, UpdateItem)
    assert marked.add_categories == (POLICY.error_category,)  # R-LIM-1: the item shows Sync Error
    # Once the other copy is renamed, the next look creates it and closes the issue.
    resolved = plan(result.state, Changed(ex=a), POLICY, NOW)
    assert of_type(resolved, CreateEvent)
    assert [c.code for c in of_type(resolved, CloseIssue)] == [IssueCode.DUPLICATE_KEY]


def test_r_pair_4_subject_and_time_changes_stay_in_the_pair() -> None:
    state = paired()
    moved = event(version="sf2", modified=at(0), body=content(subject="New title", start=at(50)))
    result = plan(state, Changed(sf=moved), POLICY, NOW)
    assert not of_type(result, CreateItem)
    (update,) = of_type(result, UpdateItem)
    assert update.fields["subject"] == "New title" and update.fields["start"] == at(50)


def test_r_pair_5_uid_recorded_in_the_pair() -> None:
    state = paired()
    assert state.uid == "uid-AAMkItem1"


@pytest.mark.parametrize(
    ("sf_fields", "ex_fields"),
    [
        ({}, {"categories": frozenset({POLICY.unsync_category})}),  # the user asked for it not to sync
        ({}, {"is_cancelled": True, "organizer": "boss@partner.example"}),
        ({}, {"is_recurring": True}),  # series are not synced yet (SPEC §15)
        ({"is_recurring": True}, {}),
        ({"owner_id": "005OTHER"}, {}),  # another user's event (R-MULTI-2)
    ],
    ids=["unsync", "cancelled", "recurring-item", "recurring-event", "other-owner"],
)
def test_r_pair_2_copies_out_of_scope_are_never_adopted(
    sf_fields: dict[str, object], ex_fields: dict[str, object]
) -> None:
    # Same subject and time, but one copy is never synced: adopting it would sync it, or run its
    # lifecycle (R-DEL-3, R-DEL-8) on an event the bridge never paired. Nothing is written, deleted or
    # created for the pair; the excluded item still reports why it is not synced.
    sf, ex = new_event(body=content(location="Hall"), **sf_fields), new_item(**ex_fields)
    result = plan(None, Changed(sf=sf, ex=ex), POLICY, NOW)
    assert result.writes == ()
    assert not of_type(result, CreateEvent) and not of_type(result, CreateItem)
    assert result.state is None or result.state.status is PairStatus.WAITING
    if ex_fields.get("is_recurring"):
        assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.RECURRING]


def test_r_pair_1_a_recovered_pair_still_ends_as_the_table_says() -> None:
    # The stored ids name each other, so this is a pair (store lost), not an adoption: R-DEL-3 applies.
    unsynced = item(categories=frozenset({POLICY.sync_category, POLICY.unsync_category}))
    result = plan(None, Changed(sf=event(), ex=unsynced), POLICY, NOW)
    assert [c.event_id for c in of_type(result, DeleteEvent)] == ["00U000000000001"]
    assert result.state is not None and result.state.status is PairStatus.ENDED


@pytest.mark.parametrize("safe_description", [True, False])
def test_r_pair_2_adoption_never_overwrites_a_value_with_an_empty_one(safe_description: bool) -> None:
    # With no base every field counts as changed on both sides (R-MERGE-2), but an empty location or
    # description on the newer copy is not an edit: adoption fills the empty side instead.
    policy = replace(POLICY, safe_description=safe_description)
    sf = new_event(modified=at(-1))  # newer, and empty
    ex = new_item(body=content(location="Room 2", description="agenda"), modified=at(-5))
    result = plan(None, Changed(sf=sf, ex=ex), policy, NOW)
    assert all({"location", "body"}.isdisjoint(u.fields) for u in of_type(result, UpdateItem))
    (update,) = of_type(result, UpdateEvent)
    assert update.fields["Location"] == "Room 2" and update.fields["Description"] == "agenda"
    # Two different values still go to the newer copy.
    both = plan(None, Changed(sf=replace(sf, content=content(location="Hall")), ex=ex), policy, NOW)
    assert [u.fields["location"] for u in of_type(both, UpdateItem)] == ["Hall"]
