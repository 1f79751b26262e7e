"""Catching up with a calendar through Graph: delta pages, deletions, refused delta tokens, throttling and
an unavailable service (R-TIME-2, R-TIME-3, R-DEL-11, R-GRAPH-2, R-GRAPH-4)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime

from bridge.core.fields import ExchangeItem
from bridge.errors import StreamGapError, TransientError
from bridge.exchange.graph import GraphMailboxes

from .conftest import BO, CY, Sandboxes

# Inside the delta window, which runs from a year back to two years ahead of now.
START = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=40)


async def drain(
    mailboxes: GraphMailboxes, mailbox: str, state: str | None
) -> tuple[dict[str, ExchangeItem], set[str], str]:
    """Every page from `state` on: changed items by id, deleted ids, the final state."""
    changed: dict[str, ExchangeItem] = {}
    deleted: set[str] = set()
    while True:
        page = await mailboxes.sync(mailbox, state)
        changed.update({item.item_id: item for item in page.changed})
        deleted.update(page.deleted)
        state = page.sync_state
        if not page.more:
            return changed, deleted, state


def user_item(account: Account, subject: str, hours: int = 0) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime.from_datetime(START + timedelta(hours=hours)),
        end=EWSDateTime.from_datetime(START + timedelta(hours=hours, minutes=30)),
    )
    item.save()
    return item


def by_subject(changed: dict[str, ExchangeItem], subject: str) -> ExchangeItem:
    (item,) = [i for i in changed.values() if i.subject == subject]
    return item


async def test_r_time_2_sync_resumes_from_its_state(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    _, _, state = await drain(mailboxes, BO, None)
    mine = user_item(user(BO), "Planning")
    changed, deleted, state = await drain(mailboxes, BO, state)
    item = by_subject(changed, "Planning")
    assert len(changed) == 1 and not deleted
    assert item.start == START and item.uid

    mine.subject = "Planning (v2)"
    mine.save(update_fields=["subject"])
    changed, _, state = await drain(mailboxes, BO, state)
    assert changed[item.item_id].subject == "Planning (v2)"  # the same immutable id
    changed, deleted, _ = await drain(mailboxes, BO, state)
    assert not changed and not deleted


async def test_sync_pages_through_many_changes(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    _, _, state = await drain(mailboxes, BO, None)
    account = user(BO)
    items = [
        CalendarItem(
            account=account,
            folder=account.calendar,
            subject=f"Slot {n}",
            start=EWSDateTime.from_datetime(START + timedelta(days=1, hours=n)),
            end=EWSDateTime.from_datetime(START + timedelta(days=1, hours=n, minutes=30)),
        )
        for n in range(130)
    ]
    account.bulk_create(folder=account.calendar, items=items)
    first = await mailboxes.sync(BO, state)
    assert first.more and len(first.changed) == 100
    second = await mailboxes.sync(BO, first.sync_state)
    assert not second.more and len(second.changed) == 30
    assert all(i.subject.startswith("Slot ") for i in (*first.changed, *second.changed))


async def test_r_del_11_an_item_moved_out_of_the_calendar_is_deleted(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    moved = user_item(user(CY), "To the bin")
    erased = user_item(user(CY), "Erased", hours=1)
    known, _, state = await drain(mailboxes, CY, None)
    ids = {by_subject(known, "To the bin").item_id, by_subject(known, "Erased").item_id}

    moved.move(user(CY).trash)
    erased.delete()
    changed, deleted, _ = await drain(mailboxes, CY, state)
    assert ids <= deleted
    assert not ids & set(changed)
    assert await mailboxes.read_items(CY, ids) == {}  # the copy in Deleted Items is not ours


async def test_r_time_3_a_refused_delta_token_is_a_stream_gap(
    mailboxes: GraphMailboxes, sandbox: Sandboxes
) -> None:
    _, _, state = await drain(mailboxes, BO, None)
    sandbox.graph.faults.expire_delta_tokens(BO)
    with pytest.raises(StreamGapError, match=BO):
        await mailboxes.sync(BO, state)
    _, _, state = await drain(mailboxes, BO, None)  # starting over works
    sandbox.graph.faults.resync_delta(BO)  # 410 resyncRequired with a Location
    with pytest.raises(StreamGapError):
        await mailboxes.sync(BO, state)
    with pytest.raises(StreamGapError, match="not one this bridge wrote"):
        await mailboxes.sync(BO, "SyncState-of-EWS")


async def test_r_graph_4_a_429_waits_the_retry_after_graph_sends(
    mailboxes: GraphMailboxes, sandbox: Sandboxes
) -> None:
    sandbox.graph.faults.throttle(count=2, retry_after=1, mailbox=BO)
    began = time.monotonic()
    page = await mailboxes.sync(BO, None)
    assert page.sync_state
    assert time.monotonic() - began >= 2  # two waits of 1 s, as asked


async def test_r_graph_4_throttling_that_persists_is_transient_with_the_wait(
    mailboxes: GraphMailboxes, sandbox: Sandboxes
) -> None:
    sandbox.graph.faults.throttle(count=50, retry_after=120, mailbox=BO)
    began = time.monotonic()
    with pytest.raises(TransientError) as busy:
        await mailboxes.read_items(BO, ["AAMkAGI2"])
    assert busy.value.retry_after == 120  # the runtime waits, not a request
    assert time.monotonic() - began < 2


async def test_r_graph_4_at_most_four_requests_in_flight_per_mailbox(
    mailboxes: GraphMailboxes, sandbox: Sandboxes, user: Callable[[str], Account]
) -> None:
    user_item(user(CY), "Crowded", hours=5)
    refused_before = sandbox.state()["throttled"]
    sandbox.graph.faults.latency(0.1)
    start, end = START + timedelta(hours=5), START + timedelta(hours=6)
    windows = await asyncio.gather(*(mailboxes.window_items(CY, start, end) for _ in range(12)))
    assert all([i.subject for i in found] == ["Crowded"] for found in windows)
    assert sandbox.state()["throttled"] == refused_before  # Graph never had to refuse a fifth


async def test_http_503_is_tried_again_then_transient(mailboxes: GraphMailboxes, sandbox: Sandboxes) -> None:
    sandbox.graph.faults.unavailable(count=1, status=503)
    assert (await mailboxes.sync(BO, None)).sync_state  # one 503 is retried at once
    sandbox.graph.faults.unavailable(count=20, status=502)
    with pytest.raises(TransientError, match="unavailable"):
        await mailboxes.read_items(BO, ["AAMkAGI2"])


async def test_an_expired_token_is_replaced(mailboxes: GraphMailboxes, sandbox: Sandboxes) -> None:
    await mailboxes.sync(BO, None)
    sandbox.graph.faults.expire_tokens()
    assert (await mailboxes.sync(BO, None)).sync_state
