"""SPEC §6 (R-PRIV) and §7 (R-DESC)."""

from __future__ import annotations

from dataclasses import replace

from bridge.core import (
    AddAttendeeRelation,
    Attendee,
    Changed,
    CreateEvent,
    CreateItem,
    PrivatePolicy,
    Side,
    UpdateEvent,
    UpdateItem,
    plan,
)

from .factories import (
    NOW,
    POLICY,
    at,
    content,
    directory,
    event,
    item,
    new_event,
    new_item,
    of_type,
    paired,
    person,
)

SECRET = content(
    subject="Layoffs",
    description="names",
    location="HR room",
    attendees=(Attendee("a@x.example"),),
    private=True,
)


def test_r_priv_1_mask_sends_a_private_busy_block() -> None:
    result = plan(
        None, Changed(ex=new_item(body=SECRET), directory=directory(person("a@x.example"))), POLICY, NOW
    )
    (created,) = of_type(result, CreateEvent)
    assert (created.fields["Subject"], created.fields["Description"], created.fields["Location"]) == (
        "Private",
        "",
        "",
    )
    assert created.fields["IsPrivate"] is True and created.fields["ShowAs"] == "Busy"
    assert not of_type(result, AddAttendeeRelation)
    assert result.state is not None and result.state.masked is Side.SALESFORCE


def test_r_priv_1_mask_applies_towards_exchange_too() -> None:
    (created,) = of_type(
        plan(None, Changed(sf=new_event(body=replace(SECRET, attendees=()))), POLICY, NOW), CreateItem
    )
    assert created.fields["subject"] == "Private" and created.fields["sensitivity"] == "Private"


def test_r_priv_1_the_mask_never_flows_back_over_the_real_values() -> None:
    created = plan(None, Changed(ex=new_item(body=SECRET)), POLICY, NOW).state
    assert created is not None
    state = replace(created, sf_id="00U1", sf_version="sf1", ex_version="ck1")
    masked_event = event(
        id="00U1",
        paired_id="AAMkItem1",
        version="sf2",
        body=replace(SECRET, subject="Private edited", description="", location="", attendees=()),
    )
    assert not of_type(plan(state, Changed(sf=masked_event), POLICY, NOW), UpdateItem)
    moved = replace(
        masked_event, version="sf3", content=replace(masked_event.content, when=content(start=at(30)).when)
    )
    (update,) = of_type(plan(state, Changed(sf=moved), POLICY, NOW), UpdateItem)
    assert set(update.fields) == {"start", "end", "is_all_day"}  # time still syncs


def test_r_priv_1_an_item_made_private_later_masks_the_other_side() -> None:
    state = paired()
    made_private = item(version="ck2", body=content(subject="Layoffs", private=True))
    (update,) = of_type(plan(state, Changed(ex=made_private), POLICY, NOW), UpdateEvent)
    assert update.fields["Subject"] == "Private" and update.fields["IsPrivate"] is True


def test_r_priv_1_no_longer_private_unmasks() -> None:
    state = paired()
    masked = plan(
        state, Changed(ex=item(version="ck2", body=content(subject="Layoffs", private=True))), POLICY, NOW
    ).state
    assert masked is not None
    masked = replace(masked, sf_version="sf2")
    public = item(version="ck3", body=content(subject="Reorg"))
    (update,) = of_type(plan(masked, Changed(ex=public), POLICY, NOW), UpdateEvent)
    assert update.fields["Subject"] == "Reorg" and update.fields["IsPrivate"] is False


def test_r_priv_2_skip_syncs_opted_in_items_in_full_without_the_flag() -> None:
    policy = replace(POLICY, private=PrivatePolicy.SKIP)
    opted = new_item(body=SECRET, categories=frozenset({POLICY.sync_category}))
    (created,) = of_type(plan(None, Changed(ex=opted), policy, NOW), CreateEvent)
    assert created.fields["Subject"] == "Layoffs" and created.fields["IsPrivate"] is False


def test_r_priv_3_full_syncs_with_the_flag() -> None:
    policy = replace(POLICY, private=PrivatePolicy.FULL)
    (created,) = of_type(plan(None, Changed(ex=new_item(body=SECRET)), policy, NOW), CreateEvent)
    assert created.fields["Subject"] == "Layoffs" and created.fields["IsPrivate"] is True


def test_r_desc_1_safe_description_is_copied_once_at_creation() -> None:
    (created,) = of_type(
        plan(None, Changed(sf=new_event(body=content(description="agenda"))), POLICY, NOW), CreateItem
    )
    assert created.fields["body"] == "agenda"
    state = paired()
    edited = event(version="sf2", body=content(description="private notes"))
    assert plan(state, Changed(sf=edited), POLICY, NOW).writes == ()
    edited_item = item(version="ck2", body=content(description="minutes"))
    assert plan(state, Changed(ex=edited_item), POLICY, NOW).writes == ()


def test_r_desc_1_adoption_only_fills_an_empty_description() -> None:
    sf = new_event(body=content(description="sf notes"))
    ex = new_item(body=content(description=""))
    (update,) = of_type(plan(None, Changed(sf=sf, ex=ex), POLICY, NOW), UpdateItem)
    assert update.fields["body"] == "sf notes"
    both = plan(None, Changed(sf=sf, ex=replace(ex, content=content(description="ex notes"))), POLICY, NOW)
    assert all("body" not in u.fields for u in of_type(both, UpdateItem))
    assert all("Description" not in u.fields for u in of_type(both, UpdateEvent))
    reverse = plan(
        None,
        Changed(sf=replace(sf, content=content()), ex=replace(ex, content=content(description="x"))),
        POLICY,
        NOW,
    )
    assert of_type(reverse, UpdateEvent)[0].fields["Description"] == "x"


def test_r_desc_2_off_syncs_the_description_like_any_field() -> None:
    policy = replace(POLICY, safe_description=False)
    state = paired(policy=policy)
    (update,) = of_type(
        plan(state, Changed(sf=event(version="sf2", body=content(description="v2"))), policy, NOW), UpdateItem
    )
    assert update.fields == {"body": "v2", "body_type": "Text"}


def test_r_priv_1_adopting_a_private_event_never_masks_over_the_items_real_values() -> None:
    # Both copies existed before the pair: the item's own description, location and attendees are real
    # values the user wrote in Exchange; the mask must not overwrite them, and they must not reach the
    # private event either. The item only gets the private flag.
    sf = new_event(body=content(private=True, description="notes", location="HR room"))
    ex = new_item(body=content(description="agenda", location="Room 2"), modified=at(-5))
    adopted = plan(None, Changed(sf=sf, ex=ex), POLICY, NOW)
    (update,) = of_type(adopted, UpdateItem)
    assert {k: v for k, v in update.fields.items() if k != "salesforce_event_id"} == {
        "sensitivity": "Private"
    }
    (event_update,) = of_type(adopted, UpdateEvent)
    assert set(event_update.fields) == {"Exchange_Item_Id__c", "Exchange_UID__c"}
    assert adopted.state is not None and adopted.state.masked is Side.EXCHANGE
    # From then on the mask holds: an edit of the private event's subject stays in Salesforce.
    state = replace(adopted.state, sf_version="sf1", ex_version="ck1")
    renamed = replace(sf, version="sf2", paired_id=ex.id, content=replace(sf.content, subject="Layoffs"))
    assert not of_type(plan(state, Changed(sf=renamed), POLICY, NOW), UpdateItem)


def test_r_priv_1_attendees_of_a_masked_pair_stay_on_the_real_side() -> None:
    state = paired()
    ann = person("ann@client.example")
    made_private = item(version="ck2", body=content(private=True))
    masked = plan(state, Changed(ex=made_private), POLICY, NOW).state
    assert masked is not None and masked.masked is Side.SALESFORCE
    masked = replace(masked, sf_version="sf2", ex_version="ck2")
    invited = item(version="ck3", body=content(private=True, attendees=(Attendee(ann.email),)))
    result = plan(masked, Changed(ex=invited, directory=directory(ann)), POLICY, NOW)
    assert not of_type(result, AddAttendeeRelation) and not of_type(result, UpdateEvent)


def test_r_priv_1_a_pair_recovered_from_its_pairing_fields_keeps_its_mask_both_ways() -> None:
    # A pass killed right after it made the masked copy of a private record: the copies name each other
    # (R-PAIR-1) and the store has no state, so there are no bases. The masked copy is the mask, in step
    # with its private partner whichever is newer: nothing is written but what differs beyond the mask.
    real = replace(SECRET, attendees=())
    mask = content(subject="Private", private=True, show_as=SECRET.show_as)
    for sf_body, ex_body, masked_side in ((mask, real, Side.SALESFORCE), (real, mask, Side.EXCHANGE)):
        for sf_at, ex_at in ((at(-1), at(-2)), (at(-2), at(-1))):
            sf = event(body=sf_body, modified=sf_at)
            ex = item(body=ex_body, modified=ex_at)
            recovered = plan(None, Changed(sf=sf, ex=ex), POLICY, NOW)
            assert not of_type(recovered, UpdateEvent) and not of_type(recovered, UpdateItem)
            assert recovered.state is not None and recovered.state.masked is masked_side
            # Only what genuinely differs beyond the mask crosses: the real record moved meanwhile.
            moved = content(start=at(30))
            ex_moved = replace(ex, content=replace(ex.content, when=moved.when), modified=at(0))
            later = plan(None, Changed(sf=sf, ex=ex_moved), POLICY, NOW)
            (update,) = of_type(later, UpdateEvent)
            assert set(update.fields) == {"StartDateTime", "EndDateTime", "IsAllDayEvent"}, update.fields
            assert not of_type(later, UpdateItem)
