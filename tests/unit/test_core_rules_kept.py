"""Rules that must hold when one side is unread, a limit holds or a pair resumes (the core's invariant:
a recorded version means the base is that copy), and the SPEC changes that came with them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bridge.core import (
    AllDay,
    Attendee,
    Changed,
    CloseIssue,
    CreateEvent,
    CreateItem,
    DeleteEvent,
    Invitations,
    IssueCode,
    LeftWindow,
    MeetingContext,
    PairStatus,
    Policy,
    PrivatePolicy,
    RaiseIssue,
    RelationKind,
    RemoveAttendeeRelation,
    Side,
    Timed,
    UpdateEvent,
    UpdateItem,
    plan,
)
from bridge.core.fields import ExchangeItem, exchange_fields, item_from_exchange

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


# -------------------------------------------------------------------------------- SPEC changes

SKIP = replace(POLICY, private=PrivatePolicy.SKIP)


def from_exchange(categories: frozenset[str] = frozenset(), policy: Policy = POLICY) -> tuple:
    """A pair the bridge made from an item (the event created, the category put on by the bridge)."""
    ex = new_item(categories=categories, body=content(attendees=(Attendee("ann@client.example"),)))
    ann = person("ann@client.example")
    created = plan(None, Changed(ex=ex, directory=directory(ann)), policy, NOW)
    assert created.state is not None and of_type(created, CreateEvent)
    state = created.state.after_write(Side.SALESFORCE, "00UNEW", "sf1").after_write(
        Side.EXCHANGE, ex.id, "ck2"
    )
    sf = event(id="00UNEW", body=state.base_sf, paired_id=ex.id)
    return (
        state,
        replace(ex, version="ck2", categories=categories | {policy.sync_category}, paired_id="00UNEW"),
        sf,
    )


def test_r_scope_5_the_bridges_own_category_is_remembered_and_opts_nothing_in() -> None:
    state, _, _ = from_exchange()
    assert state.bridge_category
    mine, _, _ = from_exchange(frozenset({POLICY.sync_category}))
    assert not mine.bridge_category


def test_r_scope_8_an_item_turning_private_under_skip_ends_the_pair_and_masks_the_event() -> None:
    state, ex, sf = from_exchange(policy=SKIP)
    private = replace(ex, version="ck3", content=replace(ex.content, private=True), modified=at(-0.1))
    result = plan(state, Changed(sf=sf, ex=private), SKIP, NOW)
    (update,) = of_type(result, UpdateEvent)
    assert update.fields["Subject"] == "Private" and update.fields["IsPrivate"] is True
    assert of_type(result, RemoveAttendeeRelation)  # R-PRIV-1: no attendees on a masked event
    (item_update,) = of_type(result, UpdateItem)
    assert item_update.remove_categories == (SKIP.sync_category,)
    assert not of_type(result, DeleteEvent)
    assert result.state is not None and result.state.status is PairStatus.ENDED
    # Nothing syncs until the user opts the item in again; then the same event is taken up again.
    later = replace(private, version="ck4", categories=frozenset())
    assert not plan(result.state, Changed(ex=later), SKIP, NOW).writes
    opted = replace(later, version="ck5", categories=frozenset({SKIP.sync_category}), modified=at(-0.05))
    masked_event = replace(sf, version="sf2", content=replace(sf.content, subject="Private", private=True))
    back = plan(result.state, Changed(sf=masked_event, ex=opted), SKIP, NOW)
    assert not of_type(back, CreateEvent)
    assert back.state is not None and back.state.status is PairStatus.ACTIVE and back.state.sf_id == "00UNEW"


def test_r_scope_8_a_blocked_category_ends_the_pair_but_the_users_opt_in_keeps_it() -> None:
    state, ex, _ = from_exchange()
    blocked = replace(ex, version="ck3", categories=ex.categories | {"Personal"})
    result = plan(state, Changed(ex=blocked), POLICY, NOW)
    assert result.state is not None and result.state.status is PairStatus.ENDED
    assert not of_type(result, UpdateEvent)  # not private: the event stays as it is
    mine, ex_mine, _ = from_exchange(frozenset({POLICY.sync_category}))
    kept = plan(
        mine,
        Changed(ex=replace(ex_mine, version="ck3", categories=ex_mine.categories | {"Personal"})),
        POLICY,
        NOW,
    )
    assert kept.state is not None and kept.state.status is PairStatus.ACTIVE


def test_r_scope_8_pairs_that_began_in_salesforce_are_not_affected() -> None:
    sf = new_event()
    created = plan(None, Changed(sf=sf), POLICY, NOW)
    assert created.state is not None
    state = created.state.after_write(Side.EXCHANGE, "AAMkNEW", "ck1").after_write(
        Side.SALESFORCE, sf.id, "sf2"
    )
    blocked = item(id="AAMkNEW", version="ck2", categories=frozenset({POLICY.sync_category, "Personal"}))
    result = plan(state, Changed(ex=blocked), POLICY, NOW)
    assert result.state is not None and result.state.status is PairStatus.ACTIVE


def test_r_pair_2_the_twin_of_an_excluded_copy_is_neither_adopted_nor_created_from() -> None:
    blocked = new_item(categories=frozenset({"Personal"}))
    result = plan(None, Changed(sf=new_event(), ex=blocked), POLICY, NOW)
    assert not result.writes and result.state is None
    private = new_item(body=content(private=True))
    assert not plan(None, Changed(sf=new_event(), ex=private), SKIP, NOW).writes
    # Opted in, it is adopted after all (R-SCOPE-5 comes first).
    opted = new_item(categories=frozenset({"Personal", POLICY.sync_category}))
    adopted = plan(None, Changed(sf=new_event(), ex=opted), POLICY, NOW)
    assert adopted.state is not None and adopted.state.status is PairStatus.ACTIVE


@pytest.mark.parametrize(
    ("invitations", "guest", "sent"),
    [
        (Invitations.NONE, "cat@corp.example", False),
        (Invitations.INTERNAL, "cat@corp.example", True),
        (Invitations.INTERNAL, "ann@client.example", False),
        (Invitations.ALL, "ann@client.example", True),
    ],
)
def test_r_att_12_invitations_internal_sends_only_when_every_attendee_is_internal(
    invitations: Invitations, guest: str, sent: bool
) -> None:
    policy = replace(POLICY, invitations=invitations)
    state = paired()
    added = event(version="sf2", body=content(attendees=(person(guest),)), modified=at(-0.1))
    (update,) = of_type(plan(state, Changed(sf=added), policy, NOW), UpdateItem)
    assert update.send_invitations is sent


def test_r_cat_1_sync_error_only_for_open_errors() -> None:
    state = paired()
    unresolved = item(version="ck2", body=content(attendees=(Attendee("zed@nowhere.example"),)))
    result = plan(state, Changed(ex=unresolved), POLICY, NOW)
    assert [c.issue.code for c in of_type(result, RaiseIssue)] == [IssueCode.UNRESOLVED_ATTENDEE]
    assert all(POLICY.error_category not in u.add_categories for u in of_type(result, UpdateItem))
    held, _ = held_too_long()
    assert held.open_issues == {IssueCode.TOO_LONG}


def test_r_lim_2_the_sync_error_write_of_a_held_pair_records_no_version() -> None:
    state, long_item = held_too_long()
    after = state.after_write(Side.EXCHANGE, long_item.id, "ck9")
    assert after.ex_version == state.ex_version  # the base is not the long item: no version vouches for it


def test_r_multi_2_under_invitations_none_enrolled_invitees_keep_their_relation() -> None:
    cat = person("cat@corp.example", RelationKind.USER, rid="005CAT")
    result = plan(None, Changed(sf=new_event(body=content(attendees=(cat,)))), POLICY, NOW)
    (create,) = of_type(result, CreateItem)
    assert create.send_invitations is False
    assert not of_type(result, RemoveAttendeeRelation)


def test_r_lim_e_timezone_the_mapping_refuses_all_day_dates_in_a_bad_zone() -> None:
    all_day = replace(content(), when=AllDay(NOW.date(), NOW.date() + timedelta(days=1)))
    with pytest.raises(ValueError, match="unmappable time zone"):
        exchange_fields(all_day, ("when",), BAD_ZONE)
