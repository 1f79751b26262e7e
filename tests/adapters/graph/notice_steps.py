"""Steps the Graph notice tests share: an item made in a user's calendar and the next notice worth reading."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from exchangelib import Account, CalendarItem, EWSDateTime

from bridge.ports import MailboxNotice


def user_item(account: Account, subject: str, start: datetime) -> CalendarItem:
    """A half-hour appointment the user makes in Outlook at `start`."""
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime.from_datetime(start),
        end=EWSDateTime.from_datetime(start + timedelta(minutes=30)),
    )
    item.save()
    return item


async def next_notice(stream: AsyncIterator[MailboxNotice], timeout: float = 5.0) -> MailboxNotice:
    """The next notice of a change or a loss, past the announcements of the pollers' first rounds (no ids,
    not lost: bridge/exchange/graph/polling.py)."""

    async def found() -> MailboxNotice:
        while True:
            notice = await anext(stream)
            if notice.item_ids or notice.lost:
                return notice

    return await asyncio.wait_for(found(), timeout)
