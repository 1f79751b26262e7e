"""SPEC §10 (R-MULTI) and §11 (R-LIM)."""

from __future__ import annotations

from dataclasses import replace

from bridge.core import (
    AddAttendeeRelation,
    Attendee,
    Changed,
    CloseIssue,
    CreateEvent,
    CreateItem,
    Directory,
    IssueCode,
    Kind,
    MeetingContext,
    RaiseIssue,
    Relation,
    RelationKind,
    RemoveAttendeeRelation,
    Response,
    Severity,
    Side,
    UpdateAttendeeStatus,
    UpdateEvent,
    UpdateItem,
    WriteFailed,
    meeting_owner,
    plan,
)
from bridge.core.issues import make_issue

from .factories import NOW, POLICY, USER_ID, at, content, event, item, new_event, new_item, of_type, paired

GUEST = Attendee("guest@client.example")
ENROLLED = {"me@corp.example": USER_ID, "cat@corp.example": "005CAT", "dan@corp.example": "005DAN"}


def test_r_multi_1_owner_is_the_enrolled_organizer_else_the_first_enrolled_attendee() -> None:
    assert meeting_owner("Cat@corp.example", ENROLLED, ["dan@corp.example"]) == "005CAT"
    assert (
        meeting_owner("ext@partner.example", ENROLLED, ["x@y.example", "dan@corp.example", "me@corp.example"])
        == "005DAN"
    )
    assert meeting_owner(None, ENROLLED, ["x@y.example"]) is None


def test_r_multi_1_later_enrolled_attendee_joins_the_existing_event() -> None:
    inbound = new_item(
        body=content(attendees=(GUEST,)), organizer="ext@partner.example", my_response="Accept"
    )
    context = MeetingContext(event_id="00UFIRST", event_owner_id="005DAN")
    result = plan(None, Changed(ex=inbound, meeting=context), POLICY, NOW)
    assert not of_type(result, CreateEvent)
    assert of_type(result, AddAttendeeRelation) == [
        AddAttendeeRelation("00UFIRST", USER_ID, Response.ACCEPTED)
    ]
    assert result.state is not None and result.state.kind is Kind.D and not result.state.owns_event


def test_r_multi_1_first_enrolled_attendee_creates_the_event() -> None:
    inbound = new_item(
        body=content(attendees=(GUEST,)), organizer="ext@partner.example", my_response="Accept"
    )
    result = plan(None, Changed(ex=inbound, meeting=MeetingContext()), POLICY, NOW)
    assert of_type(result, CreateEvent) and result.state is not None and result.state.owns_event


def test_r_multi_2_events_of_other_owners_are_not_created_in_this_mailbox() -> None:
    assert not of_type(plan(None, Changed(sf=new_event(owner_id="005CAT")), POLICY, NOW), CreateItem)


def test_r_multi_3_attendee_edits_change_only_their_answer() -> None:
    inbound = new_item(
        body=content(attendees=(GUEST,)), organizer="cat@corp.example", my_response="Tentative"
    )
    context = MeetingContext(organizer_user_id="005CAT", event_id="00UORG", event_owner_id="005CAT")
    joined = plan(None, Changed(ex=inbound, meeting=context), POLICY, NOW).state
    assert joined is not None and joined.kind is Kind.E
    joined = replace(joined, ex_version="ck1")
    edited = replace(
        inbound,
        version="ck2",
        my_response="Accept",
        content=content(subject="My title", attendees=(GUEST,)),
        categories=frozenset({POLICY.sync_category}),
    )
    result = plan(joined, Changed(ex=edited), POLICY, NOW)
    assert not of_type(result, UpdateEvent)
    assert of_type(result, UpdateAttendeeStatus) == [
        UpdateAttendeeStatus("00UORG", USER_ID, Response.ACCEPTED)
    ]
    assert result.state is not None
    again = plan(result.state, Changed(ex=replace(edited, version="ck3")), POLICY, NOW)
    assert not again.writes


def test_r_lim_e_too_long_is_not_synced_to_salesforce() -> None:
    fourteen_days = new_item(body=content(minutes=60 * 24 * 14))  # not longer than 14 days: synced
    assert of_type(plan(None, Changed(ex=fourteen_days), POLICY, NOW), CreateEvent)
    long = new_item(body=content(minutes=60 * 24 * 15))
    result = plan(None, Changed(ex=long), POLICY, NOW)
    assert not of_type(result, CreateEvent)
    (raised,) = of_type(result, RaiseIssue)
    assert raised.issue.code is IssueCode.TOO_LONG and raised.issue.ex_id == long.id
    (marked,) = of_type(result, UpdateItem)
    assert marked.add_categories == (POLICY.error_category,)


def test_r_lim_e_too_long_on_a_pair_holds_it_until_fixed_then_closes() -> None:
    state = paired()
    stretched = item(version="ck2", body=content(subject="Renamed", minutes=60 * 24 * 15))
    held = plan(state, Changed(ex=stretched), POLICY, NOW)
    assert not of_type(held, UpdateEvent)
    assert [c.issue.code for c in of_type(held, RaiseIssue)] == [IssueCode.TOO_LONG]
    assert held.state is not None and held.state.base_ex == state.base_ex
    fixed = item(
        version="ck3", body=content(subject="Renamed"), categories=frozenset({"Salesforce", "Sync Error"})
    )
    result = plan(replace(held.state, ex_version="ck2"), Changed(ex=fixed), POLICY, NOW)
    assert of_type(result, UpdateEvent)[0].fields["Subject"] == "Renamed"
    assert [c.code for c in of_type(result, CloseIssue)] == [IssueCode.TOO_LONG]
    assert of_type(result, UpdateItem)[0].remove_categories == (POLICY.error_category,)


def test_r_lim_e_timezone_is_not_synced() -> None:
    result = plan(None, Changed(ex=new_item(problem=IssueCode.TIMEZONE)), POLICY, NOW)
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.TIMEZONE]


def test_r_lim_e_sf_validation_keeps_salesforces_message() -> None:
    state = paired()
    result = plan(
        state, WriteFailed(Side.SALESFORCE, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Region required"), POLICY, NOW
    )
    (raised,) = of_type(result, RaiseIssue)
    assert raised.issue.code is IssueCode.SF_VALIDATION and "Region required" in raised.issue.message
    assert of_type(result, UpdateItem)[0].add_categories == (POLICY.error_category,)
    exchange = plan(state, WriteFailed(Side.EXCHANGE, "ErrorIrresolvableConflict"), POLICY, NOW)
    assert of_type(exchange, RaiseIssue)[0].issue.code is IssueCode.EXCHANGE_REFUSED


def test_r_lim_w_truncated_is_reported_and_synced_truncated() -> None:
    result = plan(None, Changed(ex=new_item(body=content(subject="s" * 300))), POLICY, NOW)
    (created,) = of_type(result, CreateEvent)
    assert len(created.fields["Subject"]) == 255  # type: ignore[arg-type]
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.TRUNCATED]
    assert not of_type(result, UpdateItem)[0].add_categories.count(POLICY.error_category)


def test_r_lim_1_issues_name_user_records_code_and_message() -> None:
    issue = make_issue(IssueCode.DUPLICATE_KEY, USER_ID, "00U1", "AAMk1", "Two items named Review.")
    assert (issue.user_id, issue.sf_id, issue.ex_id, issue.severity) == (
        USER_ID,
        "00U1",
        "AAMk1",
        Severity.ERROR,
    )
    assert issue.message.endswith("Two items named Review.") and "rename" in issue.message
    assert {code.severity for code in IssueCode} == set(Severity)


def test_r_lim_1_issue_closes_itself_when_the_cause_is_gone() -> None:
    waiting = plan(None, Changed(ex=new_item(body=content(minutes=60 * 24 * 15))), POLICY, NOW).state
    fixed = plan(waiting, Changed(ex=new_item(version="ck2")), POLICY, NOW)
    assert [c.code for c in of_type(fixed, CloseIssue)] == [IssueCode.TOO_LONG]
    assert of_type(fixed, CreateEvent)


def _crowd(count: int) -> tuple[tuple[Attendee, ...], Directory]:
    people = tuple(Attendee(f"p{i:04}@client.example") for i in range(count))
    found = tuple((a.email, (Relation(f"003P{i:04}", RelationKind.CONTACT),)) for i, a in enumerate(people))
    return people, Directory(found)


def test_r_lim_w_truncated_more_than_1000_attendees_reach_salesforce_cut_to_1000() -> None:
    people, known = _crowd(1_100)
    created = plan(None, Changed(ex=new_item(body=content(attendees=people)), directory=known), POLICY, NOW)
    assert len(of_type(created, AddAttendeeRelation)) == 1_000
    assert [c.issue.code for c in of_type(created, RaiseIssue)] == [IssueCode.TRUNCATED]
    assert created.state is not None and len(created.state.base_sf.attendees) == 1_000  # type: ignore[union-attr]
    # An existing meeting that grows past the limit is cut the same way, and says so.
    state = paired()
    grown = item(version="ck2", body=content(attendees=people))
    result = plan(state, Changed(ex=grown, directory=known), POLICY, NOW)
    assert len(of_type(result, AddAttendeeRelation)) == 1_000
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.TRUNCATED]
    # Once full, nothing more is added, and nothing is re-added on the next change.
    assert result.state is not None
    again = replace(grown, version="ck3", content=replace(grown.content, location="Hall"))
    full = replace(result.state, ex_version="ck2", sf_version="sf1")
    assert not of_type(plan(full, Changed(ex=again, directory=known), POLICY, NOW), AddAttendeeRelation)


def test_r_lim_w_truncated_a_cut_subject_is_in_step_and_never_cuts_the_item() -> None:
    # A pair recovered without its store (no base): the event holds the first 255 characters of the
    # item's subject. The newer event must not cut the item's subject down to its own.
    long = "s" * 300
    recovered = plan(
        None,
        Changed(
            sf=event(body=content(subject=long[:255]), modified=at(-1)), ex=item(body=content(subject=long))
        ),
        POLICY,
        NOW,
    )
    assert all("subject" not in update.fields for update in of_type(recovered, UpdateItem))
    assert not any("Subject" in update.fields for update in of_type(recovered, UpdateEvent))
    assert [c.issue.code for c in of_type(recovered, RaiseIssue)] == [IssueCode.TRUNCATED]


def test_r_lim_w_truncated_room_freed_by_a_removal_is_used_in_the_same_pass() -> None:
    people, known = _crowd(1_000)
    full_sf = event(
        body=content(attendees=tuple(replace(a, relation=known.lookup(a.email)[0]) for a in people))
    )
    state = paired(full_sf, item(body=content(attendees=people)))
    newcomer = Attendee("new@client.example")
    swapped = item(version="ck2", body=content(attendees=(*people[1:], newcomer)))
    directory = Directory((*known.entries, (newcomer.email, (Relation("003NEW", RelationKind.CONTACT),))))
    result = plan(state, Changed(ex=swapped, directory=directory), POLICY, NOW)
    assert [c.relation_id for c in of_type(result, RemoveAttendeeRelation)] == ["003P0000"]
    assert [c.relation_id for c in of_type(result, AddAttendeeRelation)] == ["003NEW"]
