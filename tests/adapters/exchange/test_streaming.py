"""Streaming notifications: a change made by the user reaches the bridge within a second; many mailboxes
share one connection; lost subscriptions and broken connections are recovered and announced (R-TIME-1,
R-TIME-3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from exchangelib import Account, CalendarItem, EWSDateTime

from bridge.exchange.ews import EwsMailboxes
from bridge.ports import MailboxNotice
from bridge.sandbox.exchange import ExchangeSandbox

from .conftest import ANA, BO, CY, DEE

START = datetime(2031, 5, 6, 14, 0, tzinfo=UTC)


async def user_creates(account: Account, subject: str) -> str:
    def create() -> str:
        item = CalendarItem(
            account=account,
            folder=account.calendar,
            subject=subject,
            start=EWSDateTime.from_datetime(START),
            end=EWSDateTime.from_datetime(START + timedelta(minutes=30)),
        )
        item.save()
        return str(item.id)

    return await asyncio.to_thread(create)


async def settle(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `condition()` holds (the adapter opens connections in the background)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def streaming(sandbox: ExchangeSandbox, *mailboxes: str) -> Callable[[], bool]:
    """Whether every subscription of these mailboxes is being read by an open connection."""

    def ready() -> bool:
        subs = [s for s in sandbox.hub.subscriptions.values() if s.mailbox in mailboxes and not s.expired]
        return {s.mailbox for s in subs if s.waker is not None} == set(mailboxes)

    return ready


async def next_where(
    stream: AsyncIterator[MailboxNotice], wanted: Callable[[MailboxNotice], bool], timeout: float = 5.0
) -> MailboxNotice:
    async def find() -> MailboxNotice:
        async for notice in stream:
            if wanted(notice):
                return notice
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(find(), timeout)


async def test_r_time_1_a_users_change_is_noticed_within_a_second(
    mailboxes: EwsMailboxes, user: Callable[[str], Account], sandbox: ExchangeSandbox
) -> None:
    stream = mailboxes.notices([ANA])
    pending = asyncio.ensure_future(anext(stream))
    await settle(streaming(sandbox, ANA))
    began = time.monotonic()
    item_id = await user_creates(user(ANA), "Dropped in by the user")
    notice = await asyncio.wait_for(pending, 5)
    assert time.monotonic() - began < 1.0
    assert notice.mailbox == ANA and item_id in notice.item_ids and not notice.lost
    assert notice.committed_at is not None and abs(notice.committed_at - datetime.now(UTC)) < timedelta(
        minutes=1
    )
    await stream.aclose()


async def test_r_time_1_several_mailboxes_share_one_streaming_connection(
    mailboxes: EwsMailboxes, user: Callable[[str], Account], sandbox: ExchangeSandbox
) -> None:
    await settle(lambda: not sandbox.streams.drops)  # the earlier tests' connections have ended
    open_before = 0
    stream = mailboxes.notices([ANA, BO, CY])
    first = asyncio.ensure_future(anext(stream))
    await settle(streaming(sandbox, ANA, BO, CY))
    # One connection carries the three (a connection opened while the set was still growing ends).
    await settle(lambda: len(sandbox.streams.drops) - open_before == 1)

    ids = {mailbox: await user_creates(user(mailbox), f"For {mailbox}") for mailbox in (ANA, BO, CY)}
    seen = {(await first).mailbox}
    while seen != {ANA, BO, CY}:
        notice = await next_where(stream, lambda n: not n.lost)
        assert ids[notice.mailbox] in notice.item_ids
        seen.add(notice.mailbox)

    # watch and unwatch while running: the new set moves to a new connection, the old one ends.
    await mailboxes.watch(DEE)
    await mailboxes.unwatch(BO)
    await settle(streaming(sandbox, ANA, CY, DEE))
    await settle(lambda: len(sandbox.streams.drops) - open_before == 1)  # the older connection ended
    await user_creates(user(BO), "Nobody listens")
    dee_item = await user_creates(user(DEE), "For Dee")
    notice = await next_where(stream, lambda n: n.mailbox in (BO, DEE))
    assert notice.mailbox == DEE and dee_item in notice.item_ids
    await stream.aclose()


async def test_r_time_3_a_lost_subscription_is_renewed_and_announced(
    mailboxes: EwsMailboxes, user: Callable[[str], Account], sandbox: ExchangeSandbox
) -> None:
    stream = mailboxes.notices([ANA, CY])
    pending = asyncio.ensure_future(next_where(stream, lambda n: n.lost))
    await settle(streaming(sandbox, ANA, CY))
    sandbox.faults.expire_subscriptions(CY)
    lost = await pending
    assert lost.mailbox == CY  # only the mailbox whose subscription was lost

    await settle(streaming(sandbox, ANA, CY))
    item_id = await user_creates(user(CY), "After the loss")
    notice = await next_where(stream, lambda n: not n.lost)
    assert notice.mailbox == CY and item_id in notice.item_ids
    await stream.aclose()


async def test_r_time_3_a_broken_connection_is_reopened_and_announced(
    mailboxes: EwsMailboxes, user: Callable[[str], Account], sandbox: ExchangeSandbox
) -> None:
    stream = mailboxes.notices([ANA, BO])
    pending = asyncio.ensure_future(next_where(stream, lambda n: n.lost))
    await settle(streaming(sandbox, ANA, BO))
    sandbox.faults.drop_streams()
    lost = {(await pending).mailbox, (await next_where(stream, lambda n: n.lost)).mailbox}
    assert lost == {ANA, BO}

    await settle(streaming(sandbox, ANA, BO))  # reopened after a short back-off
    item_id = await user_creates(user(BO), "After the break")
    notice = await next_where(stream, lambda n: not n.lost)
    assert notice.mailbox == BO and item_id in notice.item_ids
    await stream.aclose()


async def test_close_unsubscribes_and_ends_the_streams(
    endpoints: dict[str, object], sandbox: ExchangeSandbox
) -> None:
    from bridge.exchange.ews import EwsConnection, open_ews

    port = open_ews(EwsConnection.from_sandbox(endpoints))
    await port.watch(ANA)
    await settle(streaming(sandbox, ANA))
    subscribed = {s.subscription_id for s in sandbox.hub.subscriptions.values() if s.mailbox == ANA}
    await port.close()
    await asyncio.sleep(0.3)
    assert not subscribed & set(sandbox.hub.subscriptions)
