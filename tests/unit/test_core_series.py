"""SPEC §15 (R-REC-1..7): recurring series in the core: pairing by (series, original start), exceptions,
split-out occurrences, deletions, pattern changes, a Salesforce re-creation as one change, expansion."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bridge.core import (
    CloseIssue,
    Command,
    Content,
    DeleteItem,
    IssueCode,
    RaiseIssue,
    Side,
    Timed,
    UpdateItem,
)
from bridge.core.fields import SF_ITEM_ID_FIELD
from bridge.core.model import AllDay, Attendee
from bridge.core.patterns import Anchor, Frequency, Pattern, Unmappable, Weekday
from bridge.core.patterns_ews import EwsRecurrence
from bridge.core.series import Occurrence, Series, SeriesState, expected_starts, recreation
from bridge.core.series_commands import (
    CreateSeries,
    CreateSingle,
    DeleteOccurrence,
    DeleteSeries,
    EndSeries,
    RebuildSeries,
    SplitOccurrence,
    UpdateOccurrence,
    UpdateSeries,
)
from bridge.core.series_gone import plan_gone
from bridge.core.series_plan import SeriesPlan, plan_series

from .factories import NOW, POLICY, at

# Mondays at 09:00 in Berlin (08:00 UTC in winter), ten of them from 2 November 2026; NOW is Saturday
# 21 November, so three lie in the past and every one lies in the window.
MONDAYS = Pattern(Frequency.WEEKLY, days=frozenset({Weekday.MO}), count=10)
ANCHOR = Anchor(date(2026, 11, 2), time(9), "Europe/Berlin")


def utc(month: int, day: int, hour: int = 8) -> datetime:
    return datetime(2026 if month > 6 else 2027, month, day, hour, tzinfo=NOW.tzinfo)


def body(start: datetime, subject: str = "Weekly sync", minutes: int = 60, **fields: object) -> Content:
    return Content(subject=subject, when=Timed(start, start + timedelta(minutes=minutes)), **fields)  # type: ignore[arg-type]


def series(
    side: Side,
    *,
    rule: Pattern | Unmappable = MONDAYS,
    anchor: Anchor = ANCHOR,
    subject: str = "Weekly sync",
    exceptions: dict[datetime, Content] | None = None,
    gone: tuple[datetime, ...] = (),
    version: str = "v1",
    modified: datetime | None = None,
    id: str | None = None,
    minutes: int = 60,
    **fields: object,
) -> Series:
    """A series with every occurrence in the window, the `exceptions` changed, the `gone` ones missing
    (Exchange lists them as deleted; Salesforce simply lacks the row)."""
    first = anchor.until_instant(anchor.first)
    sf = side is Side.SALESFORCE
    shell = Series(
        side, id or ("828000000000001" if sf else "AAMkMaster"), version, modified or at(-1),
        body(first, subject, minutes), rule, anchor, **fields,  # type: ignore[arg-type]
    )  # fmt: skip
    starts = expected_starts(shell, NOW + POLICY.future) if isinstance(rule, Pattern) else fields_starts()
    occurrences = []
    for n, start in enumerate(starts):
        if start in gone:
            continue
        changed = (exceptions or {}).get(start)
        occurrence_id = f"00U{n:012d}" if sf else f"AAMkOcc{n}"
        content = changed or body(start, subject, minutes)
        occurrences.append(Occurrence(start, occurrence_id, content, exception=changed is not None))
    deleted = frozenset(gone) if not sf else frozenset()
    return replace(shell, occurrences=tuple(occurrences), deleted=deleted)


def fields_starts() -> list[datetime]:
    return [utc(11, 2) + timedelta(weeks=n) for n in range(10)]


def of(result: SeriesPlan, kind: type[Command]) -> list[Command]:
    return [c for c in result.commands if isinstance(c, kind)]


def paired() -> SeriesState:
    """The state once an Exchange series was created in Salesforce and both were read again."""
    created = plan_series(None, None, series(Side.EXCHANGE), POLICY, NOW)
    assert created.state is not None
    both = plan_series(
        created.state, series(Side.SALESFORCE, version="s1"), series(Side.EXCHANGE), POLICY, NOW
    )
    assert both.commands == () and both.state is not None
    return both.state


# ------------------------------------------------------------------------------------------ R-REC-1


def test_r_rec_1_an_exchange_series_is_created_in_salesforce_as_one_series() -> None:
    result = plan_series(None, None, series(Side.EXCHANGE), POLICY, NOW)
    create, category = result.commands
    assert isinstance(create, CreateSeries) and create.side is Side.SALESFORCE
    # R-CAT-1: the Outlook series, synced now, carries the category.
    assert category == UpdateItem("AAMkMaster", None, add_categories=(POLICY.sync_category,))
    synced = replace(series(Side.EXCHANGE), categories=frozenset({POLICY.sync_category}))
    assert not of(plan_series(None, None, synced, POLICY, NOW), UpdateItem)
    assert create.rule == "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=MO;INTERVAL=1;COUNT=10"
    assert create.fields["Subject"] == "Weekly sync"
    assert create.fields["StartDateTime"] == "2026-11-02T08:00:00Z"
    assert create.fields["Exchange_Item_Id__c"] == "AAMkMaster"
    assert result.state is not None and len(result.state.occurrences) == 10


def test_r_rec_1_a_salesforce_series_is_created_in_exchange_as_one_master() -> None:
    result = plan_series(None, series(Side.SALESFORCE), None, POLICY, NOW)
    (create,) = result.commands
    assert isinstance(create, CreateSeries) and create.side is Side.EXCHANGE
    assert create.rule == EwsRecurrence(
        "WeeklyPattern",
        {"interval": 1, "weekdays": [1], "first_day_of_week": 1},
        "NumberedPattern",
        {"start": date(2026, 11, 2), "number": 10},
    )
    assert create.categories == ("Salesforce",)
    assert create.fields["salesforce_event_id"] == "828000000000001"


def test_r_rec_1_a_classic_recurrence_goes_to_exchange_and_is_never_written() -> None:
    classic = series(Side.SALESFORCE, classic=True)
    assert isinstance(plan_series(None, classic, None, POLICY, NOW).commands[0], CreateSeries)
    state = paired()
    renamed = series(Side.EXCHANGE, subject="Renamed in Outlook", version="v2", modified=at(-0.5))
    result = plan_series(state, replace(classic, version="s1"), renamed, POLICY, NOW)
    assert not [c for c in result.commands if getattr(c, "side", None) is Side.SALESFORCE]


def test_r_rec_1_a_private_series_reaches_the_other_side_masked() -> None:
    private = series(Side.EXCHANGE, subject="Therapy")
    private = replace(private, content=replace(private.content, private=True, location="Clinic"))
    create, _category = plan_series(None, None, private, POLICY, NOW).commands
    assert isinstance(create, CreateSeries)
    assert create.fields["Subject"] == "Private" and create.fields["Location"] == ""


# ------------------------------------------------------------------------------------------ R-REC-2


def test_r_rec_2_occurrences_pair_by_series_and_original_start_not_by_subject_and_time() -> None:
    state = paired()
    by_start = {p.original_start: (p.sf_id, p.ex_id) for p in state.occurrences}
    assert by_start[utc(11, 16)] == ("00U000000000002", "AAMkOcc2")
    # An Exchange occurrence moved onto another occurrence's day and time still pairs by its original start.
    moved = body(utc(11, 23), "Weekly sync")
    ex = series(Side.EXCHANGE, exceptions={utc(11, 16): moved}, version="v2", modified=at(-0.5))
    result = plan_series(state, None, ex, POLICY, NOW)
    (update,) = of(result, UpdateOccurrence)
    assert isinstance(update, UpdateOccurrence)
    assert (update.original_start, update.record_id) == (utc(11, 16), "00U000000000002")
    assert update.fields["StartDateTime"] == "2026-11-23T08:00:00Z"


def test_r_rec_2_a_replayed_series_changes_nothing() -> None:
    state = paired()
    assert plan_series(state, series(Side.SALESFORCE, version="s1"), series(Side.EXCHANGE), POLICY, NOW) == (
        SeriesPlan((), state)
    )


# ------------------------------------------------------------------------------------------ R-REC-3


def test_r_rec_3_a_past_exchange_exception_becomes_a_salesforce_exception_of_that_occurrence_only() -> None:
    state = paired()
    moved = body(utc(11, 16, 10), "Weekly sync, late")
    ex = series(Side.EXCHANGE, exceptions={utc(11, 16): moved}, version="v2", modified=at(-0.5))
    result = plan_series(state, None, ex, POLICY, NOW)
    assert [type(c) for c in result.commands] == [UpdateOccurrence]
    (update,) = result.commands
    assert isinstance(update, UpdateOccurrence) and update.side is Side.SALESFORCE
    assert update.fields["Subject"] == "Weekly sync, late"
    assert result.state is not None and result.state.pair_at(utc(11, 16)).base == moved  # type: ignore[union-attr]


def test_r_rec_3_a_future_exchange_exception_splits_the_salesforce_occurrence_out() -> None:
    state = paired()
    moved = body(utc(11, 30, 13), "Weekly sync, moved")
    ex = series(Side.EXCHANGE, exceptions={utc(11, 30): moved}, version="v2", modified=at(-0.5))
    result = plan_series(state, None, ex, POLICY, NOW)
    (split,) = of(result, SplitOccurrence)
    assert isinstance(split, SplitOccurrence) and split.record_id == "00U000000000004"
    assert split.fields["StartDateTime"] == "2026-11-30T13:00:00Z"
    (raised,) = of(result, RaiseIssue)
    assert isinstance(raised, RaiseIssue) and raised.issue.code is IssueCode.OCCURRENCE_SPLIT
    assert not of(result, UpdateSeries)
    assert result.state is not None and result.state.pair_at(utc(11, 30)).split  # type: ignore[union-attr]


def test_r_rec_3_a_split_occurrence_stays_paired_with_its_single_event() -> None:
    guest = (Attendee("ana@example.test"),)
    moved = body(utc(11, 30, 13), "Weekly sync, moved", attendees=guest)
    ex = series(Side.EXCHANGE, exceptions={utc(11, 30): moved}, version="v2", modified=at(-0.5))
    state = plan_series(paired(), None, ex, POLICY, NOW).state
    assert state is not None
    # The runtime reads the single event that took the row's place in with the series, at its original start.
    single = Occurrence(utc(11, 30), "00Usingle", replace(moved, attendees=()), "e1", exception=True)
    rows = series(Side.SALESFORCE, version="s2", gone=(utc(11, 30),))
    sf = replace(rows, occurrences=tuple(sorted((*rows.occurrences, single), key=lambda o: o.original_start)))
    quiet = plan_series(state, sf, ex, POLICY, NOW)
    assert quiet.commands == ()  # no deletion of the Outlook exception, no write back
    assert quiet.state is not None and quiet.state.pair_at(utc(11, 30)) == replace(
        state.pair_at(utc(11, 30)),
        sf_id="00Usingle",  # type: ignore[arg-type]
    )
    # The single event edited in Salesforce changes the Outlook exception, its invitees kept.
    edited = replace(single, content=replace(single.content, location="Room 9"), version="e2")
    changed = replace(
        sf, occurrences=tuple(edited if o is single else o for o in sf.occurrences), version="s3"
    )
    result = plan_series(quiet.state, replace(changed, modified=at(-0.1)), ex, POLICY, NOW)
    (update,) = result.commands
    assert isinstance(update, UpdateOccurrence) and update.side is Side.EXCHANGE
    assert (update.original_start, update.record_id) == (utc(11, 30), "AAMkOcc4")
    assert update.fields["location"] == "Room 9"
    assert [a.email for a in update.fields["required_attendees"]] == ["ana@example.test"]  # type: ignore[attr-defined]
    # The single event deleted in Salesforce deletes the Outlook occurrence (R-REC-4).
    gone = plan_series(quiet.state, replace(rows, version="s4"), ex, POLICY, NOW)
    (delete,) = gone.commands
    assert isinstance(delete, DeleteOccurrence) and (delete.side, delete.original_start) == (
        Side.EXCHANGE,
        utc(11, 30),
    )


def test_r_rec_3_a_salesforce_exception_becomes_an_exchange_exception() -> None:
    state = paired()
    edited = body(utc(11, 9), "Weekly sync", location="Room 4")
    sf = series(Side.SALESFORCE, exceptions={utc(11, 9): edited}, version="s2", modified=at(-0.5))
    result = plan_series(state, sf, None, POLICY, NOW)
    (update,) = result.commands
    assert isinstance(update, UpdateOccurrence) and update.side is Side.EXCHANGE
    assert (update.series_id, update.original_start, update.record_id) == (
        "AAMkMaster",
        utc(11, 9),
        "AAMkOcc1",
    )
    assert update.fields["location"] == "Room 4"


# ------------------------------------------------------------------------------------------ R-REC-4


def test_r_rec_4_an_occurrence_deleted_on_one_side_is_deleted_on_the_other() -> None:
    state = paired()
    ex = series(Side.EXCHANGE, gone=(utc(11, 23),), version="v2")
    (delete,) = plan_series(state, None, ex, POLICY, NOW).commands
    assert delete == DeleteOccurrence(Side.SALESFORCE, "828000000000001", utc(11, 23), "00U000000000003")
    sf = series(Side.SALESFORCE, gone=(utc(11, 30),), version="s2")
    result = plan_series(state, sf, None, POLICY, NOW)
    assert result.commands == (DeleteOccurrence(Side.EXCHANGE, "AAMkMaster", utc(11, 30), "AAMkOcc4"),)
    assert result.state is not None and result.state.pair_at(utc(11, 30)) is None


def test_r_rec_4_this_and_following_deleted_in_salesforce_ends_the_exchange_series() -> None:
    state = paired()
    later = tuple(utc(11, 30) + timedelta(weeks=n) for n in range(6))
    sf = series(Side.SALESFORCE, gone=later, version="s2", last_start=utc(11, 23))
    result = plan_series(state, sf, series(Side.EXCHANGE), POLICY, NOW)
    assert result.commands == (EndSeries(Side.EXCHANGE, "AAMkMaster", date(2026, 11, 23), utc(11, 30)),)
    assert result.state is not None and max(p.original_start for p in result.state.occurrences) == utc(11, 23)


def test_r_rec_4_an_earlier_end_in_exchange_ends_the_salesforce_series() -> None:
    state = paired()
    shorter = replace(MONDAYS, count=None, until=date(2026, 11, 23))
    ex = series(Side.EXCHANGE, rule=shorter, version="v2")
    (end,) = plan_series(state, None, ex, POLICY, NOW).commands
    assert end == EndSeries(Side.SALESFORCE, "828000000000001", date(2026, 11, 23), utc(11, 30))


def test_r_rec_4_a_salesforce_series_ended_by_the_bridge_keeps_its_text_and_is_no_new_pattern() -> None:
    # Salesforce's fromThisEventOnwards leaves the rows' pattern text (count=10) as it was; once its
    # deletions land, the rows the series keeps are those the earlier Outlook end left: nothing to write,
    # and above all no rebuild of the Outlook master back to ten occurrences.
    shorter = replace(MONDAYS, count=3)
    ex = series(Side.EXCHANGE, rule=shorter, version="v2")
    ended = plan_series(paired(), None, ex, POLICY, NOW)
    assert ended.state is not None
    later = tuple(utc(11, 23) + timedelta(weeks=n) for n in range(7))
    sf = series(Side.SALESFORCE, gone=later, version="s2", last_start=utc(11, 16))
    assert plan_series(ended.state, sf, ex, POLICY, NOW).commands == ()


def test_r_rec_4_an_outlook_series_the_bridge_ended_reads_back_as_no_new_pattern() -> None:
    later = tuple(utc(11, 30) + timedelta(weeks=n) for n in range(6))
    sf = series(Side.SALESFORCE, gone=later, version="s2", last_start=utc(11, 23))
    ended = plan_series(paired(), sf, series(Side.EXCHANGE), POLICY, NOW)
    assert ended.state is not None
    # The master as Exchange holds it after EndSeries: its range ends on the last date kept.
    ex = series(Side.EXCHANGE, rule=replace(MONDAYS, count=None, until=date(2026, 11, 23)), version="v2")
    assert plan_series(ended.state, sf, ex, POLICY, NOW).commands == ()


# ------------------------------------------------------------------------------------------ R-REC-5


def test_r_rec_5_a_new_pattern_rebuilds_the_other_side_keeping_exceptions_that_still_exist() -> None:
    state = paired()
    kept, lost = body(utc(11, 16), "Kept"), body(utc(11, 23), "Lost")
    both = {utc(11, 16): kept, utc(11, 23): lost}
    with_exceptions = plan_series(
        state, None, series(Side.EXCHANGE, exceptions=both, version="v2"), POLICY, NOW
    )
    assert with_exceptions.state is not None
    # Every second Monday from 2 November: the 16th remains, the 23rd is no longer an occurrence.
    fortnightly = replace(MONDAYS, interval=2)
    ex = series(
        Side.EXCHANGE, rule=fortnightly, exceptions={utc(11, 16): kept}, version="v3", modified=at(-0.2)
    )
    result = plan_series(with_exceptions.state, None, ex, POLICY, NOW)
    rebuild = of(result, RebuildSeries)[0]
    assert isinstance(rebuild, RebuildSeries) and rebuild.rule == (
        "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=MO;INTERVAL=2;COUNT=10"
    )
    # The new Salesforce series names its Outlook twin, as the first one did.
    assert rebuild.fields[SF_ITEM_ID_FIELD] == "AAMkMaster"
    (exception,) = of(result, UpdateOccurrence)
    assert isinstance(exception, UpdateOccurrence) and exception.original_start == utc(11, 16)
    assert result.dropped == (utc(11, 23),)
    assert result.state is not None and result.state.rule == fortnightly


def test_r_rec_5_a_salesforce_recreation_is_one_change_never_deletions() -> None:
    state = paired()
    old_rows = [p.sf_id for p in state.occurrences if p.sf_id]
    # A time change of a future occurrence: Salesforce deletes every row and creates the series anew,
    # an hour later, with new ids and a new series id, in one transaction.
    later = Anchor(ANCHOR.first, time(10), ANCHOR.zone)
    created = series(Side.SALESFORCE, anchor=later, id="828000000000002", version="s9", modified=at(-0.1))
    created = replace(
        created, occurrences=tuple(replace(o, id="00V" + o.id[3:]) for o in created.occurrences)
    )
    assert recreation(state, old_rows[:3], created) is None  # some deletions: not a re-creation
    rekeyed = recreation(state, old_rows, created)
    assert rekeyed is not None and rekeyed.sf_series == "828000000000002"
    result = plan_series(rekeyed, created, None, POLICY, NOW)
    assert not of(result, DeleteOccurrence) and not of(result, DeleteItem)
    (rebuild,) = of(result, RebuildSeries)
    assert isinstance(rebuild, RebuildSeries) and rebuild.side is Side.EXCHANGE
    assert rebuild.fields["start"] == utc(11, 2, 9)


# ------------------------------------------------------------------------------------------ R-REC-6


def test_r_rec_6_an_unmappable_salesforce_series_syncs_occurrence_by_occurrence() -> None:
    weeks = Unmappable("BYWEEKNO")
    sf = series(Side.SALESFORCE, rule=weeks)
    first = plan_series(None, sf, None, POLICY, NOW)
    creates = of(first, CreateSingle)
    assert len(creates) == 10 and all(
        isinstance(c, CreateSingle) and c.side is Side.EXCHANGE for c in creates
    )
    (info,) = of(first, RaiseIssue)
    assert isinstance(info, RaiseIssue) and info.issue.code is IssueCode.RECURRING_EXPANDED
    assert "week-number" in info.issue.message
    assert first.state is not None and first.state.expanded
    # The runtime pairs the items created; then one row changes, one is deleted, one item is edited.
    state = replace(
        first.state,
        occurrences=tuple(replace(p, ex_id=f"AAMkSingle{n}") for n, p in enumerate(first.state.occurrences)),
    )
    singles = series(Side.EXCHANGE, rule=weeks, version="v2")
    singles = replace(
        singles, occurrences=tuple(replace(o, id=f"AAMkSingle{n}") for n, o in enumerate(singles.occurrences))
    )
    edited_item = body(utc(12, 7), "Moved in Outlook")
    singles = replace(
        singles,
        occurrences=tuple(replace(o, content=edited_item) if o.original_start == utc(12, 7) else o
                          for o in singles.occurrences),
    )  # fmt: skip
    renamed_row = body(utc(11, 9), "Renamed in Salesforce")
    sf2 = series(
        Side.SALESFORCE, rule=weeks, exceptions={utc(11, 9): renamed_row}, gone=(utc(11, 16),), version="s2"
    )
    result = plan_series(state, sf2, singles, POLICY, NOW)
    (update,) = of(result, UpdateItem)
    assert isinstance(update, UpdateItem) and update.item_id == "AAMkSingle1"
    assert update.fields["subject"] == "Renamed in Salesforce"
    assert of(result, DeleteItem) == [DeleteItem("AAMkSingle2", None)]
    (split,) = of(result, SplitOccurrence)
    assert isinstance(split, SplitOccurrence) and split.original_start == utc(12, 7)
    # I-RECURRING-EXPANDED is open already; the split says so (R-REC-3).
    assert [c.issue.code for c in of(result, RaiseIssue) if isinstance(c, RaiseIssue)] == [
        IssueCode.OCCURRENCE_SPLIT
    ]


# ------------------------------------------------------------------------------------------ R-REC-7


def test_r_rec_7_an_occurrence_over_a_day_stops_the_whole_series_until_it_is_fixed() -> None:
    long_one = body(utc(11, 23), "Offsite", minutes=25 * 60)
    ex = series(Side.EXCHANGE, exceptions={utc(11, 23): long_one})
    held = plan_series(None, None, ex, POLICY, NOW)
    (raised,) = held.commands
    assert isinstance(raised, RaiseIssue) and raised.issue.code is IssueCode.RECURRING_TOO_LONG
    assert held.state is not None and IssueCode.RECURRING_TOO_LONG in held.state.open_issues
    assert plan_series(held.state, None, replace(ex, version="v2"), POLICY, NOW).commands == ()
    state = replace(paired(), open_issues=frozenset({IssueCode.RECURRING_TOO_LONG}))
    fixed = plan_series(state, None, series(Side.EXCHANGE, version="v3"), POLICY, NOW)
    assert fixed.commands == (CloseIssue(IssueCode.RECURRING_TOO_LONG, "828000000000001", "AAMkMaster"),)


def test_r_rec_7_a_series_edit_is_one_write_of_the_series_not_one_per_occurrence() -> None:
    state = paired()
    renamed = series(Side.EXCHANGE, subject="Weekly sync (new name)", version="v2", modified=at(-0.5))
    result = plan_series(state, None, renamed, POLICY, NOW)
    (update,) = result.commands
    assert isinstance(update, UpdateSeries) and update.side is Side.SALESFORCE
    assert update.fields == {"Subject": "Weekly sync (new name)"}
    # Salesforce changes a series through a future occurrence that is not an exception (API 58.0).
    sf = series(Side.SALESFORCE, version="s1")
    both = plan_series(state, sf, renamed, POLICY, NOW)
    (through,) = of(both, UpdateSeries)
    assert isinstance(through, UpdateSeries) and through.through_id == "00U000000000003"


def test_r_rec_7_a_series_with_only_past_rows_is_not_renamed_there_nor_renamed_back() -> None:
    # Three Mondays, all before NOW: Salesforce would make each edited row an exception (API 58.0), and
    # holds no future row to change the series through. Outlook keeps its new name; nothing flips back.
    past = replace(MONDAYS, count=3)
    created = plan_series(None, None, series(Side.EXCHANGE, rule=past), POLICY, NOW)
    assert created.state is not None
    sf, ex = series(Side.SALESFORCE, rule=past, version="s1"), series(Side.EXCHANGE, rule=past)
    state = plan_series(created.state, sf, ex, POLICY, NOW).state
    assert state is not None
    renamed = series(
        Side.EXCHANGE, rule=past, subject="Weekly sync (new name)", version="v2", modified=at(-0.5)
    )
    result = plan_series(state, sf, renamed, POLICY, NOW)
    assert result.commands == ()
    assert result.state is not None and plan_series(result.state, sf, renamed, POLICY, NOW).commands == ()


def test_r_rec_7_a_lightning_series_of_exceptions_only_is_no_edit_of_the_series() -> None:
    # Every row an exception: Salesforce reads the series' fields off one of them. Those are the
    # occurrences' own changes (each goes to its Outlook occurrence), never a rename of the series.
    state = paired()
    starts = [o.original_start for o in series(Side.SALESFORCE).occurrences]
    moved = {start: body(start, "Moved") for start in starts}
    sf = series(Side.SALESFORCE, subject="Moved", exceptions=moved, version="s2", modified=at(-0.5))
    result = plan_series(state, sf, series(Side.EXCHANGE), POLICY, NOW)
    assert not of(result, UpdateSeries)
    assert len(of(result, UpdateOccurrence)) == len(starts)


# ------------------------------------------------------------------------------------ storage (R-TIME-2)


def test_r_rec_2_a_series_state_is_stored_as_json_and_read_back_equal() -> None:
    import json

    from bridge.core.series_serial import series_from_dict, series_to_dict

    state = paired()
    split = replace(state.occurrences[0], base=body(utc(11, 2, 9), "Moved"), split=True)
    state = replace(state, occurrences=(split, *state.occurrences[1:]))
    data = json.loads(json.dumps(series_to_dict(state)))
    assert series_from_dict(data) == state
    data["rule"]["days"] = ["XX"]
    with pytest.raises(ValueError, match=r"series\.rule\.days\[0\]"):
        series_from_dict(data)


# --------------------------------------------------------------------------- R-REC-7 under the R-DEL table


def test_r_rec_7_an_outlook_master_deleted_deletes_the_salesforce_series_as_one_unit() -> None:
    state = paired()  # made in Outlook: kind A, R-DEL-2 deletes the event
    commands, after = plan_gone(state, Side.EXCHANGE, series(Side.SALESFORCE, version="s2"), POLICY)
    assert commands == (DeleteSeries(Side.SALESFORCE, "828000000000001"),) and after is None


def test_r_rec_7_a_salesforce_series_deleted_unsyncs_its_outlook_master_and_never_comes_back() -> None:
    state = paired()  # kind A: R-DEL-5 removes the category, the master stays in Outlook
    survivor = series(Side.EXCHANGE, version="v2")
    commands, after = plan_gone(state, Side.SALESFORCE, survivor, POLICY)
    assert commands == (UpdateItem("AAMkMaster", None, remove_categories=(POLICY.sync_category,)),)
    assert after is not None and after.ended and after.sf_series is None
    # R-DEL-9: the master is read again later (a reconcile): nothing is written, nothing re-created.
    assert plan_series(after, None, replace(survivor, version="v3"), POLICY, NOW).commands == ()
    # R-DEL-7: delete_in_exchange deletes the master instead.
    deleting = replace(POLICY, delete_in_exchange=True)
    assert plan_gone(state, Side.SALESFORCE, survivor, deleting)[0] == (
        DeleteSeries(Side.EXCHANGE, "AAMkMaster"),
    )


def test_r_rec_7_a_series_gone_on_both_sides_is_forgotten_and_an_ended_state_is_stored() -> None:
    import json

    from bridge.core.series_serial import series_from_dict, series_to_dict

    state = paired()
    assert plan_gone(state, Side.EXCHANGE, None, POLICY) == ((), None)
    _, ended = plan_gone(state, Side.SALESFORCE, series(Side.EXCHANGE), POLICY)
    assert ended is not None
    assert series_from_dict(json.loads(json.dumps(series_to_dict(ended)))) == ended


# ------------------------------------------------------------------------------------- R-REC-1, all day


def _all_day(side: Side, zone: str, **fields: object) -> Series:
    """The Monday series as all-day occurrences, its first day's midnight in `zone`."""
    made = series(side, anchor=Anchor(date(2026, 11, 2), time(0), zone), **fields)  # type: ignore[arg-type]

    def day(content: Content, start: datetime) -> Content:
        first = start.astimezone(ZoneInfo(zone)).date()
        return replace(content, when=AllDay(first, first + timedelta(days=1)))

    occurrences = tuple(replace(o, content=day(o.content, o.original_start)) for o in made.occurrences)
    return replace(made, content=day(made.content, made.anchor.until_instant(made.anchor.first)),
                   occurrences=occurrences)  # fmt: skip


def test_r_rec_1_an_all_day_series_read_in_another_zone_on_each_side_is_no_new_start() -> None:
    """Salesforce reads the series in its writer's zone, Exchange in the master's: the first day's
    midnight is another instant in each, and neither side is rebuilt (R-REC-5 stays quiet)."""
    ex = _all_day(Side.EXCHANGE, "Europe/Paris")
    created = plan_series(None, None, ex, POLICY, NOW)
    sf = _all_day(Side.SALESFORCE, "America/Los_Angeles", version="s1")
    both = plan_series(created.state, sf, ex, POLICY, NOW)
    assert both.commands == ()
    assert both.state is not None and plan_series(both.state, sf, ex, POLICY, NOW).commands == ()
