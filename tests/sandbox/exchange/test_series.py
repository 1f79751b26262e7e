"""Recurring masters, occurrences and exceptions, driven through exchangelib as the bridge drives them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from exchangelib import UTC, Account, Attendee, CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, Mailbox
from exchangelib.errors import (
    ErrorCalendarCannotMoveOrCopyOccurrence,
    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorCalendarViewRangeTooBig,
    ErrorOccurrenceCrossingBoundary,
)
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from bridge.sandbox.exchange import ExchangeSandbox
from bridge.sandbox.exchange.persistence import restore, snapshot
from bridge.sandbox.exchange.series import OPTIONS
from bridge.sandbox.exchange.store import Store
from tests.sandbox.exchange.test_protocol import _codes, _envelope, _impersonate, _post

MONDAY, WEDNESDAY, FRIDAY, SUNDAY, WEEKDAY = 1, 3, 5, 7, 9
PARIS = EWSTimeZone("Europe/Paris")


def _series(
    account: Account,
    pattern: object,
    boundary: object,
    start: EWSDateTime,
    minutes: int = 30,
    **fields: object,
) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=str(fields.pop("subject", "Standup")),
        start=start,
        end=start + dt.timedelta(minutes=minutes),
        recurrence=Recurrence(pattern=pattern, boundary=boundary),
        **fields,
    )
    item.save()
    item.refresh()
    return item


def _starts(account: Account, first: EWSDateTime, last: EWSDateTime) -> list[EWSDateTime]:
    return [o.start for o in account.calendar.view(start=first, end=last)]


def _weekly(account: Account) -> CalendarItem:
    start = EWSDateTime(2031, 3, 3, 9, tzinfo=UTC)  # a Monday
    return _series(
        account,
        WeeklyPattern(interval=1, weekdays=[MONDAY, WEDNESDAY]),
        NumberedPattern(start=start.date(), number=6),
        start,
    )


def test_a_master_reads_back_with_its_pattern_range_and_first_and_last_occurrences(fresh: Account) -> None:
    master = _weekly(fresh)
    assert master.type == "RecurringMaster"
    assert master.is_recurring is False  # EWS reports false for the organizer's own master
    pattern, boundary = master.recurrence.pattern, master.recurrence.boundary
    assert (
        isinstance(pattern, WeeklyPattern)
        and pattern.weekdays == [MONDAY, WEDNESDAY]
        and pattern.interval == 1
    )
    assert isinstance(boundary, NumberedPattern) and boundary.number == 6
    assert type(boundary.start) is EWSDate and boundary.start == EWSDate(
        2031, 3, 3
    )  # answered with an offset
    assert master.first_occurrence.start == EWSDateTime(2031, 3, 3, 9, tzinfo=UTC)
    assert master.last_occurrence.start == EWSDateTime(2031, 3, 19, 9, tzinfo=UTC)
    assert master.last_occurrence.original_start == master.last_occurrence.start
    assert master.modified_occurrences is None and master.deleted_occurrences is None


def test_calendar_view_expands_occurrences_and_plain_find_returns_the_master(fresh: Account) -> None:
    master = _weekly(fresh)
    window = (EWSDateTime(2031, 3, 1, tzinfo=UTC), EWSDateTime(2031, 4, 1, tzinfo=UTC))
    occurrences = list(fresh.calendar.view(*window))
    assert [o.start.day for o in occurrences] == [3, 5, 10, 12, 17, 19]
    assert {o.type for o in occurrences} == {"Occurrence"} and all(o.is_recurring for o in occurrences)
    assert all(o.uid == master.uid and o.subject == "Standup" for o in occurrences)
    assert len({o.id for o in occurrences}) == 6 and master.id not in {o.id for o in occurrences}
    assert [i.id for i in fresh.calendar.all()] == [master.id]


def test_occurrence_by_index_becomes_an_exception_when_updated(fresh: Account) -> None:
    master = _weekly(fresh)
    second = master.occurrence(2)
    second.refresh()
    assert second.type == "Occurrence" and second.start == EWSDateTime(2031, 3, 5, 9, tzinfo=UTC)
    assert second.original_start == second.start and second.recurrence_id == second.start
    second.subject = "Moved standup"
    second.start += dt.timedelta(hours=2)
    second.end += dt.timedelta(hours=2)
    second.save()
    master.refresh()
    (modified,) = master.modified_occurrences
    assert modified.original_start == EWSDateTime(2031, 3, 5, 9, tzinfo=UTC)
    assert modified.start == EWSDateTime(2031, 3, 5, 11, tzinfo=UTC)
    assert modified.id == second.id and modified.changekey == master.changekey
    seen = {
        o.start: o
        for o in fresh.calendar.view(EWSDateTime(2031, 3, 5, tzinfo=UTC), EWSDateTime(2031, 3, 6, tzinfo=UTC))
    }
    changed = seen[EWSDateTime(2031, 3, 5, 11, tzinfo=UTC)]
    assert changed.type == "Exception" and changed.subject == "Moved standup"
    again = changed.recurring_master()
    again.refresh()
    assert again.id == master.id and again.type == "RecurringMaster"
    master.subject = "Team standup"  # a series change reaches occurrences, not what an exception overrides
    master.save()
    subjects = {
        o.start.day: o.subject
        for o in fresh.calendar.view(EWSDateTime(2031, 3, 1, tzinfo=UTC), EWSDateTime(2031, 3, 8, tzinfo=UTC))
    }
    assert subjects == {3: "Team standup", 5: "Moved standup"}


def test_a_deleted_occurrence_is_listed_on_the_master_and_left_out_of_views(fresh: Account) -> None:
    master = _weekly(fresh)
    third = master.occurrence(3)
    third.refresh()
    third.delete()
    master.refresh()
    assert [d.start for d in master.deleted_occurrences] == [EWSDateTime(2031, 3, 10, 9, tzinfo=UTC)]
    assert EWSDateTime(2031, 3, 10, 9, tzinfo=UTC) not in _starts(
        fresh, EWSDateTime(2031, 3, 1, tzinfo=UTC), EWSDateTime(2031, 4, 1, tzinfo=UTC)
    )
    with pytest.raises(ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        master.occurrence(3).refresh()
    with pytest.raises(ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange):
        master.occurrence(7).refresh()
    first = master.occurrence(1)
    first.refresh()
    first.delete()
    master.refresh()
    assert master.first_occurrence.start == EWSDateTime(2031, 3, 5, 9, tzinfo=UTC)


def test_occurrences_cannot_cross_a_neighbour_or_be_moved(fresh: Account) -> None:
    master = _weekly(fresh)
    second = master.occurrence(2)
    second.refresh()
    second.start = EWSDateTime(2031, 3, 10, 12, tzinfo=UTC)  # the day of the third
    second.end = second.start + dt.timedelta(minutes=30)
    with pytest.raises(ErrorOccurrenceCrossingBoundary):
        second.save()
    second.refresh()
    with pytest.raises(ErrorCalendarCannotMoveOrCopyOccurrence):
        second.move(fresh.trash)


def test_occurrence_changes_reach_sync_and_notifications_as_master_updates(fresh: Account) -> None:
    master = _weekly(fresh)
    state = fresh.calendar.item_sync_state = None
    list(fresh.calendar.sync_items())
    state = fresh.calendar.item_sync_state
    subscription, watermark = fresh.calendar.subscribe_to_pull()
    occurrence = master.occurrence(4)
    occurrence.refresh()
    occurrence.location = "Room 4"
    occurrence.save()
    master.occurrence(5).delete()
    fresh.calendar.item_sync_state = state
    changes = list(fresh.calendar.sync_items())
    assert [(kind, item.id) for kind, item in changes] == [("update", master.id)]
    events = [e for n in fresh.calendar.get_events(subscription, watermark) for e in n.events]
    assert {type(e).__name__ for e in events} == {"ModifiedEvent"}
    assert {e.item_id.id for e in events} == {master.id}
    fresh.calendar.unsubscribe(subscription)


def test_a_pattern_change_rebuilds_the_series_and_drops_exceptions(fresh: Account) -> None:
    master = _weekly(fresh)
    occurrence = master.occurrence(2)
    occurrence.refresh()
    occurrence.subject = "Special"
    occurrence.save()
    master.occurrence(3).delete()
    master.refresh()
    master.recurrence = Recurrence(
        pattern=DailyPattern(interval=1), boundary=NumberedPattern(start=EWSDate(2031, 3, 3), number=3)
    )
    master.save()
    master.refresh()
    assert master.modified_occurrences is None and master.deleted_occurrences is None
    days = [
        s.day
        for s in _starts(fresh, EWSDateTime(2031, 3, 1, tzinfo=UTC), EWSDateTime(2031, 4, 1, tzinfo=UTC))
    ]
    assert days == [3, 4, 5]


def test_the_choice_to_keep_matching_exceptions_on_a_pattern_change(fresh: Account) -> None:
    OPTIONS.keep_exceptions_on_pattern_change = True
    try:
        master = _weekly(fresh)
        for index, subject in ((2, "Wednesday special"), (3, "Monday special")):
            occurrence = master.occurrence(index)
            occurrence.refresh()
            occurrence.subject = subject
            occurrence.save()
        master.refresh()
        master.recurrence = Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[MONDAY]),
            boundary=NumberedPattern(start=EWSDate(2031, 3, 3), number=4),
        )
        master.save()
        master.refresh()
        assert [o.original_start.day for o in master.modified_occurrences] == [10]
    finally:
        OPTIONS.keep_exceptions_on_pattern_change = False


@pytest.mark.parametrize(
    ("pattern", "boundary", "expected"),
    [
        (
            DailyPattern(interval=3),
            NumberedPattern(start=EWSDate(2031, 1, 30), number=4),
            ["01-30", "02-02", "02-05", "02-08"],
        ),
        (
            WeeklyPattern(interval=2, weekdays=[FRIDAY, SUNDAY], first_day_of_week=MONDAY),
            EndDatePattern(start=EWSDate(2031, 1, 1), end=EWSDate(2031, 1, 31)),
            ["01-03", "01-05", "01-17", "01-19", "01-31"],
        ),
        (
            AbsoluteMonthlyPattern(interval=1, day_of_month=31),
            NumberedPattern(start=EWSDate(2031, 1, 1), number=3),
            ["01-31", "02-28", "03-31"],
        ),
        (
            RelativeMonthlyPattern(interval=2, weekday=WEEKDAY, week_number=5),
            NumberedPattern(start=EWSDate(2031, 1, 1), number=3),
            ["01-31", "03-31", "05-30"],
        ),
        (
            RelativeMonthlyPattern(interval=1, weekday=MONDAY, week_number=1),
            NumberedPattern(start=EWSDate(2031, 1, 10), number=2),
            ["02-03", "03-03"],
        ),
        (
            AbsoluteYearlyPattern(day_of_month=29, month=2),
            NumberedPattern(start=EWSDate(2031, 1, 1), number=2),
            ["02-28", "02-29"],
        ),
        (
            RelativeYearlyPattern(weekday=10, week_number=1, month=6),
            NoEndPattern(start=EWSDate(2031, 1, 1)),
            ["06-01", "06-05"],
        ),
    ],
)
def test_every_pattern_and_range_expands_as_exchange_does(
    fresh: Account, pattern: object, boundary: object, expected: list[str]
) -> None:
    first = boundary.start  # type: ignore[attr-defined]
    _series(fresh, pattern, boundary, EWSDateTime(first.year, first.month, first.day, 9, tzinfo=UTC))
    found = _starts(fresh, EWSDateTime(2031, 1, 1, tzinfo=UTC), EWSDateTime(2032, 12, 31, tzinfo=UTC))
    assert [s.strftime("%m-%d") for s in found][: len(expected)] == expected


def test_a_series_keeps_its_local_time_across_daylight_saving(fresh: Account) -> None:
    start = EWSDateTime(2031, 3, 20, 9, tzinfo=PARIS)
    master = _series(
        fresh, WeeklyPattern(interval=1, weekdays=[4]), NumberedPattern(start=start.date(), number=3), start
    )
    starts = _starts(fresh, EWSDateTime(2031, 3, 1, tzinfo=UTC), EWSDateTime(2031, 4, 30, tzinfo=UTC))
    assert [s.astimezone(PARIS).hour for s in starts] == [9, 9, 9]
    assert [s.astimezone(UTC).hour for s in starts] == [
        8,
        8,
        7,
    ]  # Paris moves to summer time on 30 March 2031
    assert master.recurrence.boundary.start == EWSDate(2031, 3, 20)


def test_the_master_moves_onto_its_first_occurrence(fresh: Account) -> None:
    start = EWSDateTime(2031, 5, 1, 14, tzinfo=UTC)  # a Thursday; the pattern wants Mondays
    master = _series(
        fresh,
        WeeklyPattern(interval=1, weekdays=[MONDAY]),
        NumberedPattern(start=start.date(), number=2),
        start,
    )
    assert master.start == EWSDateTime(2031, 5, 5, 14, tzinfo=UTC)


def _create_raw(sandbox: ExchangeSandbox, mailbox: str, recurrence: str) -> list[str]:
    body = (
        '<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem><t:Subject>x</t:Subject>'
        "<t:Start>2031-01-06T09:00:00Z</t:Start><t:End>2031-01-06T09:30:00Z</t:End>"
        f"<t:Recurrence>{recurrence}</t:Recurrence></t:CalendarItem></m:Items></m:CreateItem>"
    )
    return _codes(_post(sandbox, _envelope(body, _impersonate(mailbox))))


@pytest.mark.parametrize(
    ("recurrence", "code"),
    [
        (
            "<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Weekday</t:DaysOfWeek>"
            "</t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>2031-01-06</t:StartDate></t:NoEndRecurrence>",
            "ErrorCalendarInvalidDayForWeeklyRecurrence",
        ),
        (
            "<t:WeeklyRecurrence><t:Interval>100</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek>"
            "</t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>2031-01-06</t:StartDate></t:NoEndRecurrence>",
            "ErrorCalendarInvalidRecurrence",
        ),
        (
            "<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence><t:NumberedRecurrence>"
            "<t:StartDate>2031-01-06</t:StartDate><t:NumberOfOccurrences>1000</t:NumberOfOccurrences>"
            "</t:NumberedRecurrence>",
            "ErrorCalendarInvalidRecurrence",
        ),
        (
            "<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence><t:EndDateRecurrence>"
            "<t:StartDate>2031-01-06</t:StartDate><t:EndDate>4501-01-01</t:EndDate></t:EndDateRecurrence>",
            "ErrorRecurrenceEndDateTooBig",
        ),
        (
            "<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval>"
            "<t:DaysOfWeek>Monday Tuesday</t:DaysOfWeek><t:DayOfWeekIndex>First</t:DayOfWeekIndex>"
            "</t:RelativeMonthlyRecurrence><t:NoEndRecurrence>"
            "<t:StartDate>2031-01-06</t:StartDate></t:NoEndRecurrence>",
            "ErrorSchemaValidation",
        ),
    ],
)
def test_exchange_refuses_what_it_refuses(
    sandbox: ExchangeSandbox, fresh: Account, recurrence: str, code: str
) -> None:
    assert _create_raw(sandbox, fresh.primary_smtp_address, recurrence) == [code]


def test_calendar_views_are_at_most_two_years(fresh: Account) -> None:
    with pytest.raises(ErrorCalendarViewRangeTooBig):
        list(fresh.calendar.view(EWSDateTime(2031, 1, 1, tzinfo=UTC), EWSDateTime(2034, 1, 1, tzinfo=UTC)))


def test_recurrence_dates_carry_the_series_offset_on_the_wire(
    sandbox: ExchangeSandbox, fresh: Account
) -> None:
    start = EWSDateTime(2031, 7, 1, 9, tzinfo=PARIS)
    master = _series(
        fresh, DailyPattern(interval=1), EndDatePattern(start=start.date(), end=EWSDate(2031, 7, 9)), start
    )
    body = (
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        '<t:FieldURI FieldURI="calendar:Recurrence"/></t:AdditionalProperties></m:ItemShape>'
        f'<m:ItemIds><t:ItemId Id="{master.id}"/></m:ItemIds></m:GetItem>'
    )
    answer = _post(sandbox, _envelope(body, _impersonate(fresh.primary_smtp_address))).text
    assert "<t:StartDate>2031-07-01+02:00</t:StartDate>" in answer
    assert "<t:EndDate>2031-07-09+02:00</t:EndDate>" in answer


def test_a_no_end_series_expands_in_any_window(fresh: Account) -> None:
    start = EWSDateTime(2031, 1, 1, 9, tzinfo=UTC)
    master = _series(fresh, DailyPattern(interval=1), NoEndPattern(start=start.date()), start)
    assert master.last_occurrence is None
    found = _starts(fresh, EWSDateTime(2040, 6, 1, tzinfo=UTC), EWSDateTime(2040, 6, 3, tzinfo=UTC))
    assert [s.day for s in found] == [1, 2]


def test_a_recurring_meeting_reaches_attendees_as_a_series(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account], fresh: Account
) -> None:
    address = f"series-att-{fresh.primary_smtp_address}"
    sandbox.add_mailbox(address)
    attendee = account_for(address)
    start = EWSDateTime(2031, 3, 3, 9, tzinfo=UTC)
    meeting = CalendarItem(
        account=fresh,
        folder=fresh.calendar,
        subject="Weekly review",
        start=start,
        end=start + dt.timedelta(hours=1),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[MONDAY]), start=start.date(), number=4
        ),
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=address), response_type="NoResponseReceived")
        ],
    )
    meeting.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    meeting.refresh()
    (copy,) = list(attendee.calendar.all())
    assert copy.type == "RecurringMaster" and copy.is_recurring is True and copy.uid == meeting.uid
    occurrence = meeting.occurrence(2)
    occurrence.refresh()
    occurrence.delete(send_meeting_cancellations=SEND_TO_ALL_AND_SAVE_COPY)
    copy.refresh()
    assert [d.start for d in copy.deleted_occurrences] == [EWSDateTime(2031, 3, 10, 9, tzinfo=UTC)]
    third = copy.occurrence(3)
    third.refresh()
    third.decline()
    copy.refresh()
    assert len(copy.deleted_occurrences) == 2


def test_series_survive_a_restart() -> None:
    from bridge.sandbox.exchange import recurrence, series

    store = Store()
    mailbox = store.add_mailbox("keep@sandbox.example")
    master = store.new_item(mailbox.folder("calendar"))
    master.start = dt.datetime(2031, 3, 3, 9, tzinfo=dt.UTC)
    master.end = master.start + dt.timedelta(minutes=30)
    master.recurrence = recurrence.Recurrence(
        pattern="DailyRecurrence", range="NumberedRecurrence", start_date=dt.date(2031, 3, 3), count=5
    )
    series.settle(master)
    store.insert(master)
    occurrence = series.by_index(master, 2)
    edited = series.view(master, occurrence.original_start)  # type: ignore[arg-type]
    edited.subject = "Changed"
    series.store_exception(master, occurrence, edited)
    series.delete_occurrence(master, master.start + dt.timedelta(days=3))
    again = Store()
    restore(again, snapshot(store))
    copy = again.items[master.item_id]
    assert copy.recurrence == master.recurrence
    assert copy.deleted_occurrences == master.deleted_occurrences
    assert copy.exceptions == master.exceptions == {occurrence.original_start: {"subject": "Changed"}}
