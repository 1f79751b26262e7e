"""SPEC §15, R-REC-6 and R-REC-7 in the core: an expanded series' single copies through their later life
(compared in what each side holds, deleted under the R-DEL table as one unit), and an Outlook series'
invitees on every Lightning row (R-ATT asymmetry)."""

from __future__ import annotations

from dataclasses import replace

from bridge.core import CloseIssue, Command, DeleteEvent, DeleteItem, IssueCode, RaiseIssue, Side, UpdateItem
from bridge.core.commands import AddAttendeeRelation, RemoveAttendeeRelation, UpdateAttendeeStatus
from bridge.core.model import Attendee, Response
from bridge.core.patterns import Unmappable
from bridge.core.series import Occurrence, Series, SeriesState
from bridge.core.series_commands import (
    CreateSeries,
    CreateSingle,
    DeleteOccurrence,
    DeleteSeries,
    UpdateOccurrence,
)
from bridge.core.series_expand import plan_expanded_gone, singles_series
from bridge.core.series_invitees import series_invitee_writes
from bridge.core.series_plan import plan_series

from .factories import NOW, POLICY, USER_EMAIL, USER_ID, directory, person
from .test_core_series import body, series, utc

WEEKS = Unmappable("BYWEEKNO")


def expanded() -> tuple[SeriesState, Series, Series]:
    """A Salesforce series expanded into ten Outlook items, paired, both read back as written."""
    sf = series(Side.SALESFORCE, rule=WEEKS)
    first = plan_series(None, sf, None, POLICY, NOW)
    assert first.state is not None and len([c for c in first.commands if isinstance(c, CreateSingle)]) == 10
    state = replace(
        first.state,
        occurrences=tuple(replace(p, ex_id=f"AAMkSingle{n}") for n, p in enumerate(first.state.occurrences)),
    )
    copies = [
        Occurrence(o.original_start, f"AAMkSingle{n}", o.content, f"ck{n}")
        for n, o in enumerate(sf.occurrences)
    ]
    return state, sf, singles_series(Side.EXCHANGE, copies, sf)


def of(commands: tuple[Command, ...], kind: type[Command]) -> list[Command]:
    return [c for c in commands if isinstance(c, kind)]


# ------------------------------------------------------------------------------------------ R-REC-6


def test_r_rec_6_items_read_back_as_written_plan_nothing() -> None:
    state, sf, singles = expanded()
    result = plan_series(state, replace(sf, version="s2"), singles, POLICY, NOW)
    assert result.commands == ()
    assert result.state is not None and result.state.occurrences == state.occurrences


def test_r_rec_6_what_a_side_does_not_hold_is_no_change() -> None:
    """A description kept apart (R-DESC-1) and invitees an Outlook item gained are not written back."""
    state, sf, singles = expanded()
    key = utc(11, 30)
    noted = body(key, description="Bring the Q4 numbers", attendees=(Attendee("ann@example.com"),))
    singles = replace(
        singles,
        occurrences=tuple(
            replace(o, content=noted) if o.original_start == key else o for o in singles.occurrences
        ),
    )
    assert plan_series(state, replace(sf, version="s2"), singles, POLICY, NOW).commands == ()


def test_r_rec_6_a_past_item_edited_makes_its_row_an_exception() -> None:
    state, sf, singles = expanded()
    key = utc(11, 9)  # before NOW: Salesforce holds an API edit of a past row as an exception
    singles = replace(
        singles,
        occurrences=tuple(
            replace(o, content=body(key, location="Room 3")) if o.original_start == key else o
            for o in singles.occurrences
        ),
    )
    result = plan_series(state, replace(sf, version="s2"), singles, POLICY, NOW)
    (update,) = result.commands
    assert isinstance(update, UpdateOccurrence) and update.side is Side.SALESFORCE
    assert update.original_start == key and update.fields["Location"] == "Room 3"
    assert update.record_id == "00U000000000001"


def test_r_rec_6_an_item_deleted_deletes_its_row_and_a_row_deleted_its_item() -> None:
    state, sf, singles = expanded()
    item_gone, row_gone = utc(11, 16), utc(12, 7)
    singles = replace(
        singles, occurrences=tuple(o for o in singles.occurrences if o.original_start != item_gone)
    )
    sf2 = replace(
        sf, version="s2", occurrences=tuple(o for o in sf.occurrences if o.original_start != row_gone)
    )
    result = plan_series(state, sf2, singles, POLICY, NOW)
    (deleted_row,) = of(result.commands, DeleteOccurrence)
    assert isinstance(deleted_row, DeleteOccurrence) and deleted_row.original_start == item_gone
    assert of(result.commands, DeleteItem) == [DeleteItem("AAMkSingle5", None)]
    assert result.state is not None
    assert {p.original_start for p in result.state.occurrences}.isdisjoint({item_gone, row_gone})


def test_r_rec_6_a_copy_whose_create_did_not_happen_is_created_again() -> None:
    state, sf, singles = expanded()
    key = utc(11, 23)
    state = replace(
        state,
        occurrences=tuple(
            replace(p, ex_id=None) if p.original_start == key else p for p in state.occurrences
        ),
    )
    singles = replace(singles, occurrences=tuple(o for o in singles.occurrences if o.original_start != key))
    result = plan_series(state, replace(sf, version="s2"), singles, POLICY, NOW)
    (create,) = result.commands
    assert isinstance(create, CreateSingle) and create.original_start == key
    assert create.categories == (POLICY.sync_category,)


# ------------------------------------------------------------------------------------ R-REC-7, R-DEL


def test_r_rec_7_an_expanded_series_deleted_in_salesforce_deletes_each_item_made_from_it() -> None:
    """Kind B: R-DEL-5 deletes every single item; nothing is left, the state is forgotten."""
    state, _, singles = expanded()
    commands, after = plan_expanded_gone(state, singles, POLICY)
    assert len(of(commands, DeleteItem)) == 10 and after is None


def test_r_rec_7_an_expanded_meeting_deleted_in_salesforce_leaves_its_items_uncategorised() -> None:
    """Kind C (the items have invitees): R-DEL-5 removes the category; the tombstone keeps the items, so
    they are never taken for new ones (R-DEL-9)."""
    state, _, singles = expanded()
    invited = tuple(
        replace(o, content=replace(o.content, attendees=(Attendee("ann@example.com"),)))
        for o in singles.occurrences
    )
    commands, after = plan_expanded_gone(state, replace(singles, occurrences=invited), POLICY)
    assert commands[0] == UpdateItem("AAMkSingle0", None, remove_categories=(POLICY.sync_category,))
    assert len(commands) == 10 and not of(commands, DeleteItem)
    assert after is not None and after.ended and after.sf_series is None
    assert {p.ex_id for p in after.occurrences} == {f"AAMkSingle{n}" for n in range(10)}
    assert all(p.sf_id is None for p in after.occurrences)
    assert plan_series(after, None, replace(singles, occurrences=invited), POLICY, NOW).commands == ()


def test_r_rec_6_the_info_entry_is_raised_once() -> None:
    state, sf, singles = expanded()
    assert IssueCode.RECURRING_EXPANDED in state.open_issues
    result = plan_series(state, replace(sf, version="s3"), singles, POLICY, NOW)
    assert not of(result.commands, RaiseIssue)


# ---------------------------------------------------------------------------------- R-REC-7, invitees


ROWS = ("00U000000000001", "00U000000000002")
ANN = person("ann@example.com", rid="003ann")
BOB = person("bob@example.com", rid="003bob")
PEOPLE = directory(ANN, BOB)


def test_r_rec_7_every_invitee_of_a_new_series_goes_to_every_row() -> None:
    me = Attendee(USER_EMAIL)
    unknown = Attendee("nobody@elsewhere.example")
    current = (Attendee(ANN.email), Attendee(BOB.email, Response.ACCEPTED), me, unknown)
    writes = series_invitee_writes(None, current, {r: {} for r in ROWS}, PEOPLE, POLICY)
    assert writes == [
        AddAttendeeRelation(ROWS[0], "003ann", Response.UNDECIDED),
        AddAttendeeRelation(ROWS[0], "003bob", Response.ACCEPTED),
        AddAttendeeRelation(ROWS[1], "003ann", Response.UNDECIDED),
        AddAttendeeRelation(ROWS[1], "003bob", Response.ACCEPTED),
    ]


def test_r_rec_7_outlook_changes_reach_every_row_and_salesforce_removals_stay() -> None:
    base = (Attendee(ANN.email),)
    current = (Attendee(ANN.email), Attendee(BOB.email))
    # A Salesforce user took Ann off the second row: she is not put back (R-ATT-2); Bob joins both (R-ATT-3).
    rows = {ROWS[0]: {"003ann": "New"}, ROWS[1]: {}}
    assert series_invitee_writes(base, current, rows, PEOPLE, POLICY) == [
        AddAttendeeRelation(ROWS[0], "003bob", Response.UNDECIDED),
        AddAttendeeRelation(ROWS[1], "003bob", Response.UNDECIDED),
    ]
    # Removed in Outlook: off every row that has her, whatever her status (R-ATT-4).
    rows = {ROWS[0]: {"003ann": "Accepted", "003bob": "New"}, ROWS[1]: {"003bob": "New"}}
    assert series_invitee_writes(current, (Attendee(BOB.email),), rows, PEOPLE, POLICY) == [
        RemoveAttendeeRelation(ROWS[0], "003ann")
    ]


def test_r_rec_7_an_answer_in_outlook_becomes_every_rows_status() -> None:
    base = (Attendee(ANN.email),)
    rows = {r: {"003ann": "New"} for r in ROWS}
    accepted = (Attendee(ANN.email, Response.ACCEPTED),)
    assert series_invitee_writes(base, accepted, rows, PEOPLE, POLICY) == [
        UpdateAttendeeStatus(r, "003ann", Response.ACCEPTED) for r in ROWS
    ]
    # An answer that did not change in Outlook leaves a status set in Salesforce alone.
    rows = {r: {"003ann": "Declined"} for r in ROWS}
    assert series_invitee_writes(accepted, accepted, rows, PEOPLE, POLICY) == []


def test_r_rec_7_without_continuous_attendees_invitees_go_once() -> None:
    once = replace(POLICY, continuous_attendees=False)
    rows = {r: {} for r in ROWS}
    assert len(series_invitee_writes(None, (Attendee(ANN.email),), rows, PEOPLE, once)) == 2
    assert series_invitee_writes((), (Attendee(ANN.email),), rows, PEOPLE, once) == []


def test_r_rec_7_the_user_is_never_their_own_invitee() -> None:
    me = person(USER_EMAIL, rid=USER_ID)
    rows = {r: {} for r in ROWS}
    assert series_invitee_writes(None, (Attendee(USER_EMAIL),), rows, directory(me), POLICY) == []


# ------------------------------------------------------------------------------ R-REC-5 with R-REC-6


def _made_in_salesforce() -> SeriesState:
    created = plan_series(None, series(Side.SALESFORCE), None, POLICY, NOW)
    assert created.state is not None
    both = plan_series(
        created.state, series(Side.SALESFORCE, version="s1"), series(Side.EXCHANGE), POLICY, NOW
    )
    assert both.commands == () and both.state is not None
    return both.state


def test_r_rec_5_6_a_lightning_pattern_exchange_cannot_hold_replaces_the_outlook_series_by_items() -> None:
    state = _made_in_salesforce()
    # Salesforce re-created the series (a Lightning user's pattern edit) with week numbers: the same
    # rows' starts, under a new series id; the runtime re-keyed the state to it.
    renewed = series(Side.SALESFORCE, rule=WEEKS, id="828000000000002", version="s2", modified=NOW)
    rekeyed = replace(state, sf_series=renewed.id, sf_version=None)
    result = plan_series(rekeyed, renewed, series(Side.EXCHANGE), POLICY, NOW)
    assert result.commands[0] == DeleteSeries(Side.EXCHANGE, "AAMkMaster")
    assert len(of(result.commands, CreateSingle)) == 10
    assert [c.issue.code for c in of(result.commands, RaiseIssue) if isinstance(c, RaiseIssue)] == [
        IssueCode.RECURRING_EXPANDED
    ]
    assert result.state is not None and result.state.expanded and result.state.key == state.key
    assert result.state.ex_series is None and result.state.sf_series == renewed.id


def test_r_rec_5_6_an_outlook_made_series_is_never_replaced_by_items() -> None:
    created = plan_series(None, None, series(Side.EXCHANGE), POLICY, NOW)
    assert created.state is not None
    renewed = series(Side.SALESFORCE, rule=WEEKS, id="828000000000002", version="s2", modified=NOW)
    rekeyed = replace(created.state, sf_series=renewed.id)
    result = plan_series(rekeyed, renewed, series(Side.EXCHANGE), POLICY, NOW)
    assert not of(result.commands, DeleteSeries) and not of(result.commands, CreateSingle)


def test_r_rec_5_6_an_expanded_series_given_a_pattern_exchange_holds_is_one_series_again() -> None:
    state, _, singles = expanded()
    renewed = series(Side.SALESFORCE, id="828000000000002", version="s2", modified=NOW)
    rekeyed = replace(state, sf_series=renewed.id)
    result = plan_series(rekeyed, renewed, singles, POLICY, NOW)
    assert of(result.commands, DeleteItem) == [DeleteItem(f"AAMkSingle{n}", None) for n in range(10)]
    (create,) = of(result.commands, CreateSeries)
    assert isinstance(create, CreateSeries) and create.side is Side.EXCHANGE
    assert CloseIssue(IssueCode.RECURRING_EXPANDED, renewed.id, None) in result.commands
    assert result.state is not None and not result.state.expanded and result.state.key == state.key


def test_r_rec_7_an_occurrence_split_out_of_an_expanded_series_goes_with_it() -> None:
    state, _, singles = expanded()
    key = utc(12, 7)
    state = replace(
        state,
        occurrences=tuple(
            replace(p, sf_id="00USplit", split=True) if p.original_start == key else p
            for p in state.occurrences
        ),
    )
    commands, after = plan_expanded_gone(state, singles, POLICY)
    assert DeleteEvent("00USplit", None) in commands and len(of(commands, DeleteItem)) == 10
    assert after is None
