"""Demo seed: what seed_mailboxes says it puts in each mailbox is what exchangelib finds there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from exchangelib import UTC, Account, EWSDateTime

from bridge.sandbox.exchange import ExchangeSandbox
from bridge.sandbox.exchange.seed import seed_mailboxes

NOW = dt.datetime(2031, 6, 2, 10, 30, tzinfo=dt.UTC)


def test_seed_gives_each_mailbox_a_realistic_week_and_one_shared_meeting(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    addresses = ["maria.lopez@calbridge.test", "tom.becker@calbridge.test", "ana.silva@calbridge.test"]
    summary = seed_mailboxes(sandbox, addresses, now=NOW)
    week = (EWSDateTime(2031, 6, 2, 10, 30, tzinfo=UTC), EWSDateTime(2031, 6, 9, 10, 30, tzinfo=UTC))
    calendars = {}
    for address in addresses:
        items = list(account_for(address).calendar.view(*week))
        calendars[address] = items
        assert sorted(i.subject for i in items) == sorted(summary["items"][address])
        assert any(i.is_all_day for i in items)
        assert any(i.sensitivity == "Private" for i in items)
        assert any(i.categories == ["Personal"] for i in items)
        for item in items:
            assert item.sf_id is None and "00U" not in f"{item.subject}{item.body or ''}"
            assert item.organizer.email_address.endswith("@calbridge.test")
    organizer_copy = next(i for i in calendars[addresses[0]] if i.is_meeting)
    attendee_copy = next(i for i in calendars[addresses[1]] if i.is_meeting)
    assert organizer_copy.uid == attendee_copy.uid == summary["meeting_uid"]
    assert [a.mailbox.email_address for a in organizer_copy.required_attendees] == [addresses[1]]
    assert attendee_copy.my_response_type == "NoResponseReceived"
    assert not any(i.is_meeting for i in calendars[addresses[2]])
    # Spread over the days of the week, not piled on one.
    assert (
        len({i.start if isinstance(i.start, dt.date) else i.start.date() for i in calendars[addresses[0]]})
        >= 3
    )


def test_seeding_again_adds_nothing_to_mailboxes_that_have_items(
    sandbox: ExchangeSandbox, account_for: Callable[..., Account]
) -> None:
    addresses = ["li.wei@calbridge.test", "omar.haddad@calbridge.test"]
    seed_mailboxes(sandbox, addresses, now=NOW)
    before = len(list(account_for(addresses[0]).calendar.all()))
    again = seed_mailboxes(sandbox, addresses, now=NOW)
    assert again == {"items": {}, "meeting_uid": None}
    assert len(list(account_for(addresses[0]).calendar.all())) == before
