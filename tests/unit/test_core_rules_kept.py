"""Rules that must hold when one side is unread, a limit holds or a pair resumes (the core's invariant:
a recorded version means the base is that copy), and the SPEC changes that came with them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bridge.core import (
    AllDay,
    Attendee,
    Changed,
    CloseIssue,
    CreateEvent,
    CreateItem,
    IssueCode,
    LeftWindow,
    MeetingContext,
    PairStatus,
    Policy,
    RaiseIssue,
    RemoveAttendeeRelation,
    Timed,
    UpdateEvent,
    UpdateItem,
    plan,
)
from bridge.core.fields import ExchangeItem, exchange_fields, item_from_exchange

from .factories import NOW, POLICY, at, content, event, item, new_event, new_item, of_type, paired, person

LONG = content(minutes=20 * 24 * 60)  # 20 days: over Salesforce's 14 (E-TOO-LONG)


def held_too_long() -> tuple:
    """A pair whose item was made 20 days long: E-TOO-LONG open, nothing synced."""
    state = paired()
    long_item = item(version="ck2", body=LONG, modified=at(-0.5))
    result = plan(state, Changed(ex=long_item), POLICY, NOW)
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.TOO_LONG]
    assert result.state is not None
    return result.state, long_item


# -------------------------------------------------------------------------------- 1, 2: R-LIM-2


def test_r_lim_2_an_edit_made_while_a_limit_holds_is_sent_once_the_cause_is_gone() -> None:
    state, _ = held_too_long()
    edited = event(version="sf2", body=content(subject="Renamed"), modified=at(-0.2))
    held = plan(state, Changed(sf=edited), POLICY, NOW)
    assert not held.writes  # nothing written while the limit holds
    assert held.state is not None
    # The same version read again is no replay that swallows the edit: once the item is short again, the
    # subject edited in Salesforce reaches it.
    fixed = item(version="ck3", body=content(), modified=at(-0.1))
    result = plan(held.state, Changed(ex=fixed), POLICY, NOW)
    (update,) = of_type(result, UpdateItem)
    assert update.fields["subject"] == "Renamed"
    assert [c.code for c in of_type(result, CloseIssue)] == [IssueCode.TOO_LONG]


def test_r_lim_2_the_recorded_versions_stay_with_their_bases_while_a_limit_holds() -> None:
    state, long_item = held_too_long()
    # The item's version was not taken as in step with a base that is not its content.
    assert state.ex_version != long_item.version or state.base_ex == long_item.content


def test_r_lim_2_an_issue_stays_open_while_the_item_is_unread() -> None:
    state, _ = held_too_long()
    edited = event(version="sf2", body=content(subject="Renamed"), modified=at(-0.2))
    result = plan(state, Changed(sf=edited), POLICY, NOW)
    assert not of_type(result, CloseIssue)
    assert result.state is not None and IssueCode.TOO_LONG in result.state.open_issues


def test_r_lim_2_an_issue_closes_on_a_fresh_read_that_shows_the_cause_gone() -> None:
    state, _ = held_too_long()
    still_long = item(version="ck3", body=replace(LONG, location="Room 9"), modified=at(-0.1))
    assert not of_type(plan(state, Changed(ex=still_long), POLICY, NOW), CloseIssue)


# -------------------------------------------------------------------------------- 3, 4: resuming


def paused() -> tuple:
    sf, ex = event(body=content(start=at(-24 * 40))), item(body=content(start=at(-24 * 40)))
    state = replace(paired(sf, ex), status=PairStatus.OUT_OF_WINDOW)
    return state, sf, ex


def test_r_del_4_a_pair_resuming_from_salesforce_gets_its_category_back() -> None:
    state, sf, _ = paused()
    back = replace(sf, version="sf2", content=content(subject="Back"), modified=at(-0.1))
    result = plan(state, Changed(sf=back), POLICY, NOW)
    (update,) = of_type(result, UpdateItem)
    assert POLICY.sync_category in update.add_categories
    assert result.state is not None and result.state.status is PairStatus.ACTIVE


def test_r_merge_5_writes_planned_on_resume_are_conditional() -> None:
    state, sf, ex = paused()
    back = replace(sf, version="sf2", content=content(subject="Back"), modified=at(-0.1))
    (update,) = of_type(plan(state, Changed(sf=back, ex=ex), POLICY, NOW), UpdateItem)
    assert update.if_version == ex.version
    (alone,) = of_type(plan(state, Changed(sf=back), POLICY, NOW), UpdateItem)
    assert alone.if_version == state.ex_version is not None


# -------------------------------------------------------------------------------- 5: R-PRIV-1


def test_r_priv_1_an_item_turning_private_takes_the_attendees_off_the_event() -> None:
    ann = person("ann@client.example")
    sf = event(body=content(attendees=(ann,)))
    ex = item(body=content(attendees=(Attendee(ann.email),)))
    state = paired(sf, ex)
    private = replace(ex, version="ck2", content=replace(ex.content, private=True), modified=at(-0.1))
    result = plan(state, Changed(sf=sf, ex=private), POLICY, NOW)
    assert [c.relation_id for c in of_type(result, RemoveAttendeeRelation)] == [ann.relation.relation_id]
    (update,) = of_type(result, UpdateEvent)
    assert update.fields["IsPrivate"] is True and update.fields["Subject"] == "Private"
    assert result.state is not None and result.state.base_sf is not None
    assert result.state.base_sf.attendees == ()
    # The real attendees stay on the item.
    assert all("required_attendees" not in u.fields for u in of_type(result, UpdateItem))


# -------------------------------------------------------------------------------- 6: R-PAIR-5


def test_r_pair_5_the_uid_decides_the_meeting_not_subject_and_time() -> None:
    # An attendee's copy of a meeting the enrolled organizer owns is not adopted into a look-alike event.
    copy = new_item(
        organizer="cat@corp.example", my_response="Accept", body=content(attendees=(Attendee("a@x.example"),))
    )
    twin = new_event()
    context = MeetingContext(organizer_user_id="005CAT", event_id="00UCAT", event_owner_id="005CAT")
    result = plan(None, Changed(sf=twin, ex=copy, meeting=context), POLICY, NOW)
    assert result.state is not None and result.state.sf_id == "00UCAT" and not result.state.owns_event
    assert not of_type(result, UpdateEvent)


def test_r_pair_5_an_attendee_copy_waits_for_the_organizer_rather_than_adopting() -> None:
    copy = new_item(
        organizer="cat@corp.example", my_response="Accept", body=content(attendees=(Attendee("a@x.example"),))
    )
    context = MeetingContext(organizer_user_id="005CAT")
    result = plan(None, Changed(sf=new_event(), ex=copy, meeting=context), POLICY, NOW)
    assert result.state is not None and result.state.status is PairStatus.WAITING
    assert result.state.sf_id is None
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.WAIT_ORGANIZER]


# -------------------------------------------------------------------------------- 7: E-TIMEZONE


BAD_ZONE = replace(POLICY, mailbox_time_zone="Mars/Olympus_Mons")


def raw_item(**fields: object) -> ExchangeItem:
    values: dict = dict(
        item_id="AAMk9",
        change_key="ck1",
        subject="Offsite",
        start=(NOW + timedelta(days=2)).date(),
        end=(NOW + timedelta(days=3)).date(),
        is_all_day=True,
        last_modified_time=NOW,
    )
    values.update(fields)
    return ExchangeItem(**values)


def test_r_lim_e_timezone_an_unmappable_mailbox_zone_is_reported_not_taken_as_utc() -> None:
    copy = item_from_exchange(raw_item(), BAD_ZONE)
    assert copy.problem is IssueCode.TIMEZONE
    result = plan(None, Changed(ex=copy), BAD_ZONE, NOW)
    assert not of_type(result, CreateEvent)
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.TIMEZONE]


def test_r_lim_e_timezone_all_day_writes_never_pass_a_bad_zone_on() -> None:
    all_day = replace(
        content(), when=AllDay((NOW + timedelta(days=2)).date(), (NOW + timedelta(days=3)).date())
    )
    result = plan(None, Changed(sf=new_event(body=all_day)), BAD_ZONE, NOW)
    assert not of_type(result, CreateItem)
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.TIMEZONE]
    assert "time_zone" not in exchange_fields(content(), ("when",), BAD_ZONE)
    assert exchange_fields(all_day, ("when",), POLICY)["time_zone"] == "Europe/Berlin"


def test_r_lim_e_timezone_holds_a_pair_of_a_mailbox_whose_zone_cannot_be_mapped() -> None:
    state = paired()
    edited = event(version="sf2", body=content(subject="Renamed"), modified=at(-0.1))
    result = plan(state, Changed(sf=edited), BAD_ZONE, NOW)
    assert not result.writes
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.TIMEZONE]


_ = (Policy, Timed, LeftWindow)
