"""An outside organizer's recurring meeting (sandbox, reference/recurrence.md §3): filed in each recipient's
calendar as a recurring master with the pattern, occurrences in a calendar view, updates and cancellation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from exchangelib import UTC, Account, EWSDateTime

from bridge.sandbox.exchange import ExchangeSandbox
from bridge.sandbox.exchange.recurrence import Recurrence

ORGANIZER = "boss@partner.example"


def _weekly(first: dt.date, count: int) -> Recurrence:
    return Recurrence(
        pattern="WeeklyRecurrence",
        range="NumberedRecurrence",
        start_date=first,
        days_of_week=[first.strftime("%A")],
        first_day_of_week="Monday",
        count=count,
    )


def test_an_outside_organizers_recurring_meeting_is_a_master_in_each_recipients_calendar(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    accounts = []
    for role in ("att1", "att2"):
        address = f"{role}-extseries@sandbox.example"
        sandbox.add_mailbox(address)
        accounts.append(account_for(address))
    start = EWSDateTime(2030, 11, 5, 14, tzinfo=UTC)
    uid = sandbox.deliver_external_meeting(
        [a.primary_smtp_address for a in accounts],
        ORGANIZER,
        "Partner weekly",
        start,
        start + dt.timedelta(hours=1),
        recurrence=_weekly(start.date(), 3),
    )
    span = (start - dt.timedelta(days=1), start + dt.timedelta(weeks=4))
    for account in accounts:
        (master,) = list(account.calendar.all())
        assert master.uid == uid and master.type == "RecurringMaster"
        assert master.organizer.email_address == ORGANIZER and master.my_response_type == "NoResponseReceived"
        assert master.recurrence.boundary.number == 3
        view = [i for i in account.calendar.view(start=span[0], end=span[1]) if i.uid == uid]
        assert [i.start for i in view] == [start + dt.timedelta(weeks=n) for n in range(3)]
        assert {i.type for i in view} == {"Occurrence"}

    # The organizer makes it four weeks: the same masters, one occurrence more; then cancels the series.
    sandbox.deliver_external_meeting(
        [accounts[0].primary_smtp_address],
        ORGANIZER,
        "Partner weekly",
        start,
        start + dt.timedelta(hours=1),
        uid=uid,
        recurrence=_weekly(start.date(), 4),
    )
    view = [i for i in accounts[0].calendar.view(start=span[0], end=span[1]) if i.uid == uid]
    assert len(view) == 4
    assert sandbox.cancel_external_meeting(uid) == 2
    assert all(next(iter(a.calendar.all())).is_cancelled for a in accounts)
