"""Recurring series through the Graph adapter against the Graph sandbox (R-REC-1, R-REC-2, R-REC-4, R-REC-5):
a master read with its instances keyed by original start (a series booked in Outlook through EWS, on the same
mailboxes), a series the core plans written as one master, ended early, given a new pattern."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone
from exchangelib.recurrence import DailyPattern, NumberedPattern, Recurrence, WeeklyPattern

from bridge.core import Content, Policy, Side, Timed
from bridge.core.patterns import Anchor, Frequency, Pattern, Weekday
from bridge.core.patterns_dates import occurrence_starts
from bridge.core.patterns_ews import EwsRecurrence
from bridge.core.series import Occurrence, Series, missing
from bridge.core.series_commands import CreateSeries
from bridge.core.series_plan import plan_series
from bridge.exchange.graph import GraphMailboxes

from .conftest import ANA, BO, CY
from .test_sync import drain

BERLIN = EWSTimeZone("Europe/Berlin")
FIRST = datetime(2031, 3, 3, 9, 0, tzinfo=BERLIN)  # a Monday; 08:00 UTC before the clocks change
WINDOW = (datetime(2031, 2, 1, tzinfo=UTC), datetime(2031, 6, 1, tzinfo=UTC))
POLICY = Policy(user_id="005000000000001", user_email=ANA, mailbox_time_zone="Europe/Berlin")
# Ten Mondays at 09:00 Berlin time: 08:00 UTC, then 07:00 UTC once summer time starts on 30 March.
MONDAYS = [datetime(2031, 3, 3, 8, tzinfo=UTC) + timedelta(weeks=n) for n in range(4)] + [
    datetime(2031, 3, 31, 7, tzinfo=UTC) + timedelta(weeks=n) for n in range(6)
]


def mondays(account: Account, subject: str) -> CalendarItem:
    """Ten Mondays at 09:00 Berlin time, booked as Outlook would (through EWS, on the shared mailbox)."""
    master = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime.from_datetime(FIRST),
        end=EWSDateTime.from_datetime(FIRST + timedelta(minutes=30)),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1], first_day_of_week=1),
            boundary=NumberedPattern(start=FIRST.date(), number=10),
        ),
    )
    master.save()
    return master


def graph_id(ews_id: str) -> str:
    return ews_id.replace("/", "-").replace("+", "_")


async def test_r_rec_2_a_master_reads_with_its_instances_keyed_by_original_start(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    account = user(ANA)
    master = mondays(account, "Team sync")
    third, fifth = master.occurrence(3), master.occurrence(5)
    third.refresh()
    third.subject, third.start = "Team sync (moved)", third.start + timedelta(hours=2)
    third.end = third.start + timedelta(minutes=30)
    third.save(update_fields=["subject", "start", "end"])
    fifth.refresh()
    fifth.delete()
    found = await mailboxes.read_series(ANA, graph_id(master.id), *WINDOW, POLICY)
    assert found is not None
    assert found.rule == Pattern(
        Frequency.WEEKLY, days=frozenset({Weekday.MO}), first_day=Weekday.MO, count=10
    )
    assert found.anchor == Anchor(date(2031, 3, 3), time(9), "Europe/Berlin")
    assert [o.original_start for o in found.occurrences] == [s for s in MONDAYS if s != MONDAYS[4]]
    # Graph v1.0 lists no cancelled occurrences: the core finds the deletion where the pattern has a gap.
    assert found.deleted == frozenset() and missing(found, *WINDOW) == frozenset({MONDAYS[4]})
    (moved,) = [o for o in found.occurrences if o.exception]
    assert moved.original_start == MONDAYS[2] and moved.content.subject == "Team sync (moved)"
    assert moved.content.when.start == MONDAYS[2] + timedelta(hours=2)  # type: ignore[union-attr]
    assert found.content.subject == "Team sync" and found.version
    # An occurrence edited moves the version, as its master's update is what Graph notifies.
    second = master.occurrence(2)
    second.refresh()
    second.subject = "Team sync (agenda)"
    second.save(update_fields=["subject"])
    again = await mailboxes.read_series(ANA, graph_id(master.id), *WINDOW, POLICY)
    assert again is not None and again.version != found.version


async def test_r_rec_1_a_salesforce_series_is_written_through_graph_as_one_master(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    pattern = Pattern(Frequency.MONTHLY, days=frozenset({Weekday.TU}), position=-1, until=date(2031, 12, 31))
    start = datetime(2031, 1, 28, 15, tzinfo=UTC)  # the last Tuesday of January, 16:00 in Berlin
    anchor = Anchor(date(2031, 1, 28), time(16), "Europe/Berlin")

    def board(at: datetime) -> Content:
        return Content("Board review", Timed(at, at + timedelta(hours=1)), location="HQ")

    rows = tuple(
        Occurrence(at, f"00U{n:012d}", board(at))
        for n, at in enumerate(occurrence_starts(pattern, anchor, datetime(2031, 12, 31, tzinfo=UTC)))
    )
    source = Series(Side.SALESFORCE, "828000000000019", "s1", start, board(start), pattern, anchor, rows)
    policy = Policy(user_id="005000000000002", user_email=BO, mailbox_time_zone="Europe/Berlin")
    (create,) = plan_series(None, source, None, policy, datetime(2031, 1, 20, tzinfo=UTC)).commands
    assert isinstance(create, CreateSeries)
    fields = {**create.fields, "time_zone": "Europe/Berlin"}
    written = await mailboxes.create_series(BO, fields, create.rule, create.categories)  # type: ignore[arg-type]
    again = await mailboxes.create_series(BO, fields, create.rule, create.categories)  # type: ignore[arg-type]
    assert again.id == written.id  # a retried create is the series already made (R-MERGE-4)
    window = (datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 12, 31, tzinfo=UTC))
    back = await mailboxes.read_series(BO, written.id, *window, policy)
    assert back is not None and back.rule == pattern and back.anchor == anchor
    assert back.paired_id == "828000000000019" and "Salesforce" in back.categories
    assert len(back.occurrences) == 12 and back.occurrences[-1].original_start.date() == date(2031, 12, 30)
    # Outlook (EWS) sees the same master: 16:00 Berlin all year, across the clock change.
    view = user(BO).calendar.view(
        start=EWSDateTime.from_datetime(window[0]), end=EWSDateTime.from_datetime(window[1])
    )
    seen = [o.start.astimezone(BERLIN) for o in view if o.subject == "Board review"]
    assert len(seen) == 12 and {(s.hour, s.weekday()) for s in seen} == {(16, 1)}


async def test_r_rec_4_a_master_ended_early_keeps_only_the_earlier_occurrences(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    master = mondays(user(ANA), "Pipeline review (ends early)")
    await mailboxes.end_series(ANA, graph_id(master.id), date(2031, 3, 17))
    found = await mailboxes.read_series(ANA, graph_id(master.id), *WINDOW, POLICY)
    assert found is not None
    assert [o.original_start.date() for o in found.occurrences] == [
        date(2031, 3, 3),
        date(2031, 3, 10),
        date(2031, 3, 17),
    ]
    assert found.rule == Pattern(
        Frequency.WEEKLY, days=frozenset({Weekday.MO}), first_day=Weekday.MO, until=date(2031, 3, 17)
    )


async def test_r_rec_5_a_master_rebuilt_follows_its_new_pattern_and_start(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    master = mondays(user(ANA), "Pipeline review (moves to Wednesdays)")
    wednesday = FIRST + timedelta(days=2, hours=1)
    rule = EwsRecurrence(
        "WeeklyPattern",
        {"interval": 1, "weekdays": [3], "first_day_of_week": 1},
        "NumberedPattern",
        {"start": wednesday.date(), "number": 3},
    )
    fields = {"start": wednesday, "end": wednesday + timedelta(minutes=30), "time_zone": "Europe/Berlin"}
    await mailboxes.rebuild_series(ANA, graph_id(master.id), fields, rule)
    found = await mailboxes.read_series(ANA, graph_id(master.id), *WINDOW, POLICY)
    assert found is not None
    assert found.rule == Pattern(Frequency.WEEKLY, days=frozenset({Weekday.WE}), count=3)
    assert [o.original_start for o in found.occurrences] == [
        datetime(2031, 3, 5, 9, tzinfo=UTC) + timedelta(weeks=n) for n in range(3)
    ]
    assert found.content.subject == "Pipeline review (moves to Wednesdays)"


async def test_a_deleted_series_reads_as_gone(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    master = mondays(user(ANA), "Gone soon")
    master_id = graph_id(master.id)
    assert await mailboxes.read_series(ANA, master_id, *WINDOW, POLICY) is not None
    master.move_to_trash()  # as Outlook deletes: to Deleted Items, where Graph still answers its id
    assert await mailboxes.read_series(ANA, master_id, *WINDOW, POLICY) is None


async def test_r_rec_7_a_series_deleted_in_outlook_reaches_the_bridge_through_delta(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    """Delta lists a series as its occurrences, and a series deleted whole only as those removed: the
    master is reported for the runtime to read, and reads as gone. One occurrence deleted reports the
    master too, which still reads, without that occurrence."""
    soon = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=50)
    window = (soon - timedelta(days=1), soon + timedelta(days=10))
    _, _, state = await drain(mailboxes, CY, None)
    master = CalendarItem(
        account=user(CY), folder=user(CY).calendar, subject="Daily check-in",
        start=EWSDateTime.from_datetime(soon), end=EWSDateTime.from_datetime(soon + timedelta(minutes=15)),
        recurrence=Recurrence(
            pattern=DailyPattern(interval=1), boundary=NumberedPattern(start=soon.date(), number=3)
        ),
    )  # fmt: skip
    master.save()
    changed, _, state = await drain(mailboxes, CY, state)
    (master_id,) = [i for i, item in changed.items() if item.subject == "Daily check-in"]
    assert changed[master_id].is_recurring  # the master, for the series road
    policy = Policy(user_id="005000000000003", user_email=CY, mailbox_time_zone="UTC")
    second = master.occurrence(2)
    second.refresh()
    second.delete()
    changed, _, state = await drain(mailboxes, CY, state)
    assert master_id in changed
    kept = await mailboxes.read_series(CY, master_id, *window, policy)
    assert kept is not None and [o.original_start for o in kept.occurrences] == [
        soon,
        soon + timedelta(days=2),
    ]
    master.refresh()
    master.move_to_trash()
    changed, _, _ = await drain(mailboxes, CY, state)
    assert master_id in changed  # named by its removed occurrences; Graph still answers its immutable id
    assert await mailboxes.read_series(CY, master_id, *window, policy) is None
