"""SPEC §5 (R-ATT): attendees, deliberately asymmetric."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.core import (
    AddAttendeeRelation,
    Attendee,
    Changed,
    CreateEvent,
    CreateItem,
    Directory,
    Invitations,
    IssueCode,
    Plan,
    PrivatePolicy,
    RaiseIssue,
    Relation,
    RelationKind,
    RemoveAttendeeRelation,
    Response,
    UpdateAttendeeStatus,
    UpdateEvent,
    UpdateItem,
    plan,
)
from bridge.core.attendees import choose_who, resolve
from bridge.core.fields import SF_STATUS, ExchangeAttendee, ExchangeItem, item_from_exchange
from bridge.core.model import Copy, PairState

from .factories import (
    NOW,
    POLICY,
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

ANN = person("ann@client.example", RelationKind.CONTACT, "003ANN")
BOB = person("bob@client.example", RelationKind.LEAD, "00QBOB")
KNOWN = directory(ANN, BOB)


def meeting_pair(*sf_people: Attendee) -> tuple[PairState, Copy, Copy]:
    sf = event(body=content(attendees=sf_people))
    ex = item(body=content(attendees=tuple(Attendee(a.email) for a in sf_people)))
    return paired(sf, ex), sf, ex


def test_r_att_1_added_in_salesforce_reaches_exchange_as_unknown() -> None:
    state, sf, _ = meeting_pair()
    added = replace(sf, version="sf2", content=content(attendees=(replace(ANN, response=Response.ACCEPTED),)))
    (update,) = of_type(plan(state, Changed(sf=added), POLICY, NOW), UpdateItem)
    assert update.fields["required_attendees"] == (ExchangeAttendee("ann@client.example", "Unknown"),)


def test_r_att_2_removed_in_salesforce_leaves_the_item_alone() -> None:
    state, sf, _ = meeting_pair(ANN)
    removed = replace(sf, version="sf2", content=content())
    assert plan(state, Changed(sf=removed), POLICY, NOW).writes == ()


def test_r_att_3_added_in_exchange_reaches_salesforce_when_it_resolves() -> None:
    state, _, ex = meeting_pair()
    added = replace(ex, version="ck2", content=content(attendees=(Attendee(ANN.email, Response.ACCEPTED),)))
    result = plan(state, Changed(ex=added, directory=KNOWN), POLICY, NOW)
    assert of_type(result, AddAttendeeRelation) == [
        AddAttendeeRelation("00U000000000001", "003ANN", Response.ACCEPTED)
    ]


def test_r_att_4_removed_in_exchange_is_removed_from_the_event_whatever_its_status() -> None:
    state, _, ex = meeting_pair(replace(ANN, response=Response.ACCEPTED))
    removed = replace(ex, version="ck2", content=content())
    result = plan(state, Changed(ex=removed), POLICY, NOW)
    assert of_type(result, RemoveAttendeeRelation) == [RemoveAttendeeRelation("00U000000000001", "003ANN")]
    assert not of_type(result, UpdateItem)  # the removal does not bounce back to the item (R-ATT-1)


ANSWERS = [
    ("Accept", Response.ACCEPTED),
    ("Decline", Response.DECLINED),
    ("Tentative", Response.UNDECIDED),
    ("NoResponseReceived", Response.UNDECIDED),
    ("Organizer", Response.UNDECIDED),
    ("Unknown", Response.UNDECIDED),
]


@pytest.mark.parametrize(("answer", "status"), ANSWERS)
def test_r_att_5_status_mapping_exchange_to_salesforce(answer: str, status: Response) -> None:
    read = ExchangeItem(
        "AAMk1", "ck1", "Review", NOW, NOW, NOW, required_attendees=(ExchangeAttendee("a@x.example", answer),)
    )
    (attendee,) = item_from_exchange(read, POLICY).content.attendees
    assert attendee.response is status
    assert SF_STATUS[status] == {"Accept": "Accepted", "Decline": "Declined"}.get(answer, "New")


def test_r_att_6_statuses_never_go_to_exchange_and_new_items_have_unknown() -> None:
    declined = replace(ANN, response=Response.DECLINED)
    (created,) = of_type(
        plan(None, Changed(sf=new_event(body=content(attendees=(declined,)))), POLICY, NOW), CreateItem
    )
    assert created.fields["required_attendees"] == (ExchangeAttendee(ANN.email, "Unknown"),)
    state, sf, _ = meeting_pair(ANN)
    answered = replace(sf, version="sf2", content=content(attendees=(declined,)))
    assert plan(state, Changed(sf=answered), POLICY, NOW).writes == ()


def test_r_att_7_continuous_off_syncs_attendees_only_at_creation() -> None:
    policy = replace(POLICY, continuous_attendees=False)
    created = plan(
        None,
        Changed(ex=new_item(body=content(attendees=(Attendee(ANN.email),))), directory=KNOWN),
        policy,
        NOW,
    )
    assert of_type(created, AddAttendeeRelation)
    state = paired(policy=policy)
    added = item(version="ck2", body=content(attendees=(Attendee(BOB.email),)))
    assert plan(state, Changed(ex=added, directory=KNOWN), policy, NOW).writes == ()


def test_r_att_8_resolution_order_and_retry_of_unresolved_addresses() -> None:
    user = Relation("005X", RelationKind.USER)
    contact = Relation("003X", RelationKind.CONTACT)
    lead = Relation("00QX", RelationKind.LEAD)
    assert resolve("X@Example.com", Directory((("x@example.com", (lead, contact, user)),))) == user
    assert resolve("x@example.com", Directory((("x@example.com", (lead, contact)),))) == contact
    assert resolve("x@example.com", Directory()) is None
    state, _, ex = meeting_pair()
    stranger = replace(ex, version="ck2", content=content(attendees=(Attendee("new@client.example"),)))
    first = plan(state, Changed(ex=stranger), POLICY, NOW)
    assert not of_type(first, AddAttendeeRelation)
    (info,) = of_type(first, RaiseIssue)
    assert info.issue.code is IssueCode.UNRESOLVED_ATTENDEE and "new@client.example" in info.issue.message
    assert first.state is not None and first.state.unresolved == {"new@client.example"}
    found = directory(person("new@client.example", RelationKind.LEAD, "00QNEW"))
    retry = plan(first.state, Changed(ex=replace(stranger, version="ck3"), directory=found), POLICY, NOW)
    assert [a.relation_id for a in of_type(retry, AddAttendeeRelation)] == ["00QNEW"]
    assert retry.state is not None and retry.state.unresolved == frozenset()


def test_r_att_9_every_person_with_an_address_becomes_an_attendee() -> None:
    cat = person("cat@corp.example", RelationKind.USER, "005CAT")
    result = plan(None, Changed(sf=new_event(body=content(attendees=(ANN, BOB, cat)))), POLICY, NOW)
    (created,) = of_type(result, CreateItem)
    assert [a.email for a in created.fields["required_attendees"]] == [ANN.email, BOB.email, cat.email]


def test_r_att_10_who_without_shared_activities_is_one_lead_first() -> None:
    owned = person("zed@client.example", RelationKind.CONTACT, "003ZED", owned_by_user=True)
    other = person("amy@client.example", RelationKind.CONTACT, "003AMY")
    assert choose_who((other, owned, BOB), shared_activities=False) == ("00QBOB",)
    assert choose_who((other, owned), shared_activities=False) == ("003ZED",)
    assert choose_who((other, person("bea@client.example", rid="003BEA")), False) == ("003AMY",)
    assert choose_who((person("u@corp.example", RelationKind.USER),), False) == ()


def test_r_att_10_who_with_shared_activities_is_up_to_fifty_contacts_or_one_lead() -> None:
    contacts = tuple(
        person(f"c{i:02}@client.example", RelationKind.CONTACT, f"003C{i:02}") for i in range(60)
    )
    assert len(choose_who((*contacts, BOB), shared_activities=True)) == 50
    # One lead, by address when there are several.
    assert choose_who((BOB, person("b2@client.example", RelationKind.LEAD, "00QB2")), True) == ("00QB2",)


def test_r_att_10_who_is_set_on_create_and_when_the_event_has_none() -> None:
    policy = replace(POLICY, shared_activities=False)
    new = new_item(body=content(attendees=(Attendee(ANN.email), Attendee(BOB.email))))
    (created,) = of_type(plan(None, Changed(ex=new, directory=KNOWN), policy, NOW), CreateEvent)
    assert created.who_ids == ("00QBOB",)
    state, _, ex = meeting_pair()
    added = replace(ex, version="ck2", content=content(attendees=(Attendee(ANN.email),)))
    (update,) = of_type(plan(state, Changed(ex=added, directory=KNOWN), policy, NOW), UpdateEvent)
    assert update.fields["WhoId"] == "003ANN"


def test_r_att_11_answers_update_in_salesforce_from_the_organizers_copy() -> None:
    state, _, ex = meeting_pair(ANN)
    answered = replace(
        ex, version="ck2", content=content(attendees=(Attendee(ANN.email, Response.ACCEPTED),))
    )
    result = plan(state, Changed(ex=answered), POLICY, NOW)
    assert of_type(result, UpdateAttendeeStatus) == [
        UpdateAttendeeStatus("00U000000000001", "003ANN", Response.ACCEPTED)
    ]
    # The stored base holds the answer written, so Salesforce's copy of it is not an edit next time.
    assert result.state is not None and result.state.base_sf is not None
    assert [a.response for a in result.state.base_sf.attendees] == [Response.ACCEPTED]
    inbound = replace(answered, organizer="boss@partner.example")
    assert not of_type(plan(state, Changed(ex=inbound), POLICY, NOW), UpdateAttendeeStatus)


@pytest.mark.parametrize(("invitations", "sent"), [(Invitations.NONE, False), (Invitations.ALL, True)])
def test_r_att_12_no_invitations_unless_configured(invitations: Invitations, sent: bool) -> None:
    policy = replace(POLICY, invitations=invitations)
    (created,) = of_type(
        plan(None, Changed(sf=new_event(body=content(attendees=(ANN,)))), policy, NOW), CreateItem
    )
    assert created.send_invitations is sent
    state, sf, _ = meeting_pair()
    added = replace(sf, version="sf2", content=content(attendees=(ANN,)))
    (update,) = of_type(plan(state, Changed(sf=added), policy, NOW), UpdateItem)
    assert update.send_invitations is sent


def test_r_att_10_no_who_on_a_private_event() -> None:
    policy = replace(POLICY, private=PrivatePolicy.FULL)
    secret = new_item(body=content(private=True, attendees=(Attendee(ANN.email),)))
    (created,) = of_type(plan(None, Changed(ex=secret, directory=KNOWN), policy, NOW), CreateEvent)
    assert created.who_ids == ()
    state = paired(event(body=content(private=True)), item(body=content(private=True)), policy=policy)
    added = item(version="ck2", body=content(private=True, attendees=(Attendee(ANN.email),)))
    result = plan(state, Changed(ex=added, directory=KNOWN), policy, NOW)
    assert of_type(result, AddAttendeeRelation) and not of_type(result, UpdateEvent)


def test_r_att_1_to_4_over_several_rounds() -> None:
    """The asymmetry holds as the pair lives on: each round starts from the state the last one stored."""
    state, sf, ex = meeting_pair(ANN, BOB)

    def step(state: PairState, seen: Changed) -> tuple[PairState, Plan]:
        result = plan(state, seen, POLICY, NOW)
        assert result.state is not None
        sf_version = seen.sf.version if seen.sf else state.sf_version
        ex_version = seen.ex.version if seen.ex else state.ex_version
        return replace(result.state, sf_version=sf_version, ex_version=ex_version), result

    # 1. Salesforce drops Bob (R-ATT-2): the item keeps him.
    sf = replace(sf, version="sf2", content=content(attendees=(ANN,)))
    state, result = step(state, Changed(sf=sf))
    assert not of_type(result, UpdateItem)
    # 2. Bob accepts in Exchange: Salesforce no longer has him, so nothing is added back or updated.
    ex = replace(
        ex,
        version="ck2",
        content=content(attendees=(Attendee(ANN.email), Attendee(BOB.email, Response.ACCEPTED))),
    )
    state, result = step(state, Changed(ex=ex, directory=KNOWN))
    assert result.commands == ()
    # 3. Exchange drops Ann (R-ATT-4): she leaves the event and is not sent back to the item.
    ex = replace(ex, version="ck3", content=content(attendees=(Attendee(BOB.email, Response.ACCEPTED),)))
    state, result = step(state, Changed(ex=ex, directory=KNOWN))
    assert of_type(result, RemoveAttendeeRelation) == [RemoveAttendeeRelation(sf.id, "003ANN")]
    assert not of_type(result, UpdateItem)
    # 4. Salesforce adds Ann again (R-ATT-1): she reaches the item as Unknown, though she had accepted.
    sf = replace(sf, version="sf3", content=content(attendees=(replace(ANN, response=Response.ACCEPTED),)))
    state, result = step(state, Changed(sf=sf))
    (update,) = of_type(result, UpdateItem)
    assert update.fields["required_attendees"] == (
        ExchangeAttendee(ANN.email, "Unknown"),
        ExchangeAttendee(BOB.email, "Accept"),
    )
    # 5. Ann declines in Exchange (R-ATT-5, R-ATT-11): Salesforce gets Declined; nothing goes back.
    ex = replace(
        ex,
        version="ck4",
        content=content(
            attendees=(Attendee(ANN.email, Response.DECLINED), Attendee(BOB.email, Response.ACCEPTED))
        ),
    )
    state, result = step(state, Changed(ex=ex, directory=KNOWN))
    assert of_type(result, UpdateAttendeeStatus) == [UpdateAttendeeStatus(sf.id, "003ANN", Response.DECLINED)]
    assert not of_type(result, UpdateItem) and not of_type(result, AddAttendeeRelation)
    # 6. Salesforce marks Ann accepted (R-ATT-6): statuses never reach Exchange.
    sf = replace(sf, version="sf4", content=content(attendees=(replace(ANN, response=Response.ACCEPTED),)))
    state, result = step(state, Changed(sf=sf))
    assert result.writes == ()


def test_r_att_10_a_who_the_user_set_is_kept() -> None:
    state, sf, ex = meeting_pair()
    state = replace(state, sf_version="sf2")
    chosen = replace(sf, version="sf2", who_ids=("003MINE",))
    added = replace(ex, version="ck2", content=content(attendees=(Attendee(ANN.email),)))
    result = plan(state, Changed(sf=chosen, ex=added, directory=KNOWN), POLICY, NOW)
    assert of_type(result, AddAttendeeRelation)
    assert all("WhoId" not in update.fields for update in of_type(result, UpdateEvent))
