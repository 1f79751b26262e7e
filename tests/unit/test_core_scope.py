"""SPEC §2 (R-SCOPE): what is synced."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bridge.core import (
    AllDay,
    Attendee,
    Changed,
    CreateEvent,
    CreateItem,
    Direction,
    Filter,
    IssueCode,
    MeetingContext,
    PairStatus,
    Policy,
    PrivatePolicy,
    RaiseIssue,
    RelationKind,
    match_unpaired,
    plan,
)
from bridge.core.scope import Verdict, admit_event, admit_item, in_window

from .factories import NOW, POLICY, at, content, directory, item, new_event, new_item, of_type, paired, person

EXTERNAL = "guest@client.example"


def creates(copy_plan: object) -> bool:
    return bool(of_type(copy_plan, CreateEvent) or of_type(copy_plan, CreateItem))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("start_hours", "minutes", "inside"),
    [
        (-30 * 24 - 2, 60, False),  # ended before now - 30 days
        (-30 * 24 - 1, 90, True),  # ends just after now - 30 days
        (60 * 24 - 1, 60, True),  # starts before now + 60 days
        (60 * 24, 60, False),
    ],
)
def test_r_scope_1_window(start_hours: int, minutes: int, inside: bool) -> None:
    assert in_window(content(start=at(start_hours), minutes=minutes).when, POLICY, NOW) is inside


def test_r_scope_1_window_is_configurable_within_limits() -> None:
    wide = replace(POLICY, past_days=365, future_days=730)
    assert in_window(content(start=at(-300 * 24)).when, wide, NOW)
    with pytest.raises(ValueError, match="past_days"):
        Policy(past_days=366)
    with pytest.raises(ValueError, match="future_days"):
        Policy(future_days=731)


@pytest.mark.parametrize(
    ("direction", "from_sf", "from_ex"),
    [
        (Direction.BOTH, True, True),
        (Direction.TO_EXCHANGE, True, False),
        (Direction.TO_SALESFORCE, False, True),
    ],
)
def test_r_scope_2_direction(direction: Direction, from_sf: bool, from_ex: bool) -> None:
    policy = replace(POLICY, direction=direction)
    assert creates(plan(None, Changed(sf=new_event()), policy, NOW)) is from_sf
    assert creates(plan(None, Changed(ex=new_item()), policy, NOW)) is from_ex


def test_r_scope_2_mirror_edits_are_not_sent_back() -> None:
    mirror_policy = replace(POLICY, direction=Direction.TO_EXCHANGE)
    state = paired(policy=mirror_policy)
    edited_item = item(version="ck2", body=content(subject="Edited in the mirror"))
    assert not plan(state, Changed(ex=edited_item), mirror_policy, NOW).writes


@pytest.mark.parametrize(
    ("chosen", "meeting", "linked", "created"),
    [
        (Filter.ALL, False, False, True),
        (Filter.MEETINGS, False, False, False),
        (Filter.MEETINGS, True, False, True),
        (Filter.LINKED, True, False, False),
        (Filter.LINKED, True, True, True),
        (Filter.EXISTING, True, True, False),
    ],
)
def test_r_scope_3_filter_towards_salesforce(
    chosen: Filter, meeting: bool, linked: bool, created: bool
) -> None:
    policy = replace(POLICY, filter_to_salesforce=chosen)
    attendees = (Attendee(EXTERNAL),) if meeting else ()
    found = directory(person(EXTERNAL, RelationKind.CONTACT)) if linked else directory()
    result = plan(None, Changed(ex=new_item(body=content(attendees=attendees)), directory=found), policy, NOW)
    assert creates(result) is created


@pytest.mark.parametrize(
    ("chosen", "attendees", "created"),
    [
        (Filter.MEETINGS, (), False),
        (Filter.LINKED, ("lead",), True),
        (Filter.LINKED, ("user",), False),
        (Filter.EXISTING, (), False),
    ],
)
def test_r_scope_3_filter_towards_exchange(chosen: Filter, attendees: tuple[str, ...], created: bool) -> None:
    policy = replace(POLICY, filter_to_exchange=chosen)
    kinds = {"lead": RelationKind.LEAD, "user": RelationKind.USER}
    people = tuple(person(f"{name}@x.example", kinds[name]) for name in attendees)
    assert creates(plan(None, Changed(sf=new_event(body=content(attendees=people))), policy, NOW)) is created


def test_r_scope_4_internal_meetings_are_excluded_unless_sync_internal() -> None:
    internal = new_item(body=content(attendees=(Attendee("cat@corp.example"),)))
    assert not creates(plan(None, Changed(ex=internal), POLICY, NOW))
    assert creates(plan(None, Changed(ex=internal), replace(POLICY, sync_internal=True), NOW))
    mixed = new_item(body=content(attendees=(Attendee("cat@corp.example"), Attendee(EXTERNAL))))
    assert creates(plan(None, Changed(ex=mixed), POLICY, NOW))
    # Internal attendees but an external organizer: not an internal meeting.
    invited = replace(internal, organizer=EXTERNAL, my_response="Accept")
    assert creates(plan(None, Changed(ex=invited), POLICY, NOW))


def test_r_scope_4_blocked_categories_are_excluded() -> None:
    personal = new_item(categories=frozenset({"Personal"}))
    assert not creates(plan(None, Changed(ex=personal), POLICY, NOW))


def test_r_scope_4_private_items_follow_the_private_policy() -> None:
    private = new_item(body=content(private=True))
    assert creates(plan(None, Changed(ex=private), POLICY, NOW))  # mask: synced, masked
    assert not creates(plan(None, Changed(ex=private), replace(POLICY, private=PrivatePolicy.SKIP), NOW))
    # Towards Exchange too: a private event is not created as an item under `skip`.
    secret = new_event(body=content(private=True))
    assert creates(plan(None, Changed(sf=secret), POLICY, NOW))
    assert not creates(plan(None, Changed(sf=secret), replace(POLICY, private=PrivatePolicy.SKIP), NOW))


def test_r_scope_5_salesforce_category_opts_in_whatever_filters_say() -> None:
    policy = replace(POLICY, filter_to_salesforce=Filter.EXISTING)
    opted = new_item(categories=frozenset({"Personal", POLICY.sync_category}), body=content(private=True))
    assert creates(plan(None, Changed(ex=opted), replace(policy, private=PrivatePolicy.SKIP), NOW))


@pytest.mark.parametrize(
    ("answer", "synced"),
    [("Accept", True), ("Tentative", True), ("Decline", False), ("NoResponseReceived", False), (None, False)],
)
def test_r_scope_6_unanswered_inbound_meetings_wait_with_w_unanswered(
    answer: str | None, synced: bool
) -> None:
    inbound = new_item(body=content(attendees=(Attendee(EXTERNAL),)), organizer=EXTERNAL, my_response=answer)
    result = plan(None, Changed(ex=inbound), POLICY, NOW)
    assert creates(result) is synced
    if not synced:
        assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.UNANSWERED]
        assert result.state is not None and result.state.status is PairStatus.WAITING
        assert creates(plan(None, Changed(ex=inbound), replace(POLICY, sync_unanswered=True), NOW))


def test_r_scope_6_attendee_copy_waits_for_the_enrolled_organizer() -> None:
    inbound = new_item(
        body=content(attendees=(Attendee(EXTERNAL),)), organizer="cat@corp.example", my_response="Accept"
    )
    waiting = MeetingContext(organizer_user_id="005CAT")
    result = plan(None, Changed(ex=inbound, meeting=waiting), POLICY, NOW)
    assert not creates(result)
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.WAIT_ORGANIZER]
    again = plan(result.state, Changed(ex=inbound, meeting=waiting), POLICY, NOW)
    assert again.commands == () and again.state == result.state  # raised once, not on every look
    ready = MeetingContext(organizer_user_id="005CAT", event_id="00UORG", event_owner_id="005CAT")
    joined = plan(result.state, Changed(ex=inbound, meeting=ready), POLICY, NOW)
    assert joined.state is not None and joined.state.sf_id == "00UORG" and not joined.state.owns_event
    assert (
        "CloseIssue" in [type(c).__name__ for c in joined.commands] or joined.state.open_issues == frozenset()
    )


def test_r_scope_7_child_events_are_never_synced() -> None:
    assert admit_event(new_event(is_child=True), POLICY, NOW).verdict is Verdict.SKIP


def test_r_scope_other_users_events_are_not_created_in_this_mailbox() -> None:
    assert admit_event(new_event(owner_id="005OTHER"), POLICY, NOW).verdict is Verdict.SKIP


@pytest.mark.parametrize("hours", [2, 30])
def test_recurring_series_are_skipped_with_an_info_entry(hours: int) -> None:
    series = new_item(is_recurring=True, body=content(minutes=60 * hours))
    admission = admit_item(series, POLICY, NOW, directory(), None)
    expected = IssueCode.RECURRING if hours <= 24 else IssueCode.RECURRING_TOO_LONG
    assert (admission.verdict, admission.issue) == (Verdict.SKIP, expected)
    assert admit_event(new_event(is_recurring=True), POLICY, NOW).issue is IssueCode.RECURRING


def test_unsync_category_and_cancelled_items_are_not_created() -> None:
    assert not creates(
        plan(None, Changed(ex=new_item(categories=frozenset({POLICY.unsync_category}))), POLICY, NOW)
    )
    assert not creates(plan(None, Changed(ex=new_item(is_cancelled=True)), POLICY, NOW))


def test_r_scope_7_child_events_are_never_adopted_either() -> None:
    # A child event is Salesforce's copy for an invitee: adopting it by subject and time would sync it.
    child, own = new_event(is_child=True), new_item()
    found = match_unpaired([child], [own])
    assert found.pairs == () and found.duplicates == ()
    assert set(found.singles) == {child, own}
    # Shown together to the planner, the item is planned alone, as if the child event were not there.
    assert plan(None, Changed(sf=child, ex=own), POLICY, NOW) == plan(None, Changed(ex=own), POLICY, NOW)
    assert plan(None, Changed(sf=child), POLICY, NOW).commands == ()
    # Nor does it make a real event's key a duplicate.
    real = new_event(id="00U000000000002")
    assert match_unpaired([child, real], [own]).pairs == ((real, own),)


def test_r_scope_1_window_ends_exactly_at_now_minus_past_is_out() -> None:
    assert not in_window(content(start=at(-30 * 24 - 1), minutes=60).when, POLICY, NOW)
    assert in_window(content(start=at(-30 * 24 - 1), minutes=61).when, POLICY, NOW)


def test_r_scope_1_all_day_items_are_in_the_window_by_their_dates_in_the_mailbox_zone() -> None:
    # Mailbox in Berlin (UTC+1 in November): a day starts at 23:00 UTC the evening before.
    last_day_out = (NOW - timedelta(days=31)).date()  # ends at local midnight before now - 30 days
    assert not in_window(AllDay(last_day_out, last_day_out + timedelta(days=1)), POLICY, NOW)
    today_minus_30 = (NOW - timedelta(days=30)).date()  # still running at now - 30 days
    assert in_window(AllDay(today_minus_30, today_minus_30 + timedelta(days=1)), POLICY, NOW)
    day_60 = (NOW + timedelta(days=60)).date()  # starts at local midnight, before now + 60 days
    assert in_window(AllDay(day_60, day_60 + timedelta(days=1)), POLICY, NOW)
    day_61 = day_60 + timedelta(days=1)
    assert not in_window(AllDay(day_61, day_61 + timedelta(days=1)), POLICY, NOW)
    # Near midnight the zone decides: Berlin's 1 January starts at 23:00 UTC on 31 December.
    eve = datetime(2026, 12, 31, 23, 30, tzinfo=UTC) - timedelta(days=60)
    new_year = date(2027, 1, 1)
    assert in_window(AllDay(new_year, new_year + timedelta(days=1)), POLICY, eve)
    assert not in_window(
        AllDay(new_year, new_year + timedelta(days=1)), replace(POLICY, mailbox_time_zone="UTC"), eve
    )
