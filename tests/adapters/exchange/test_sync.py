"""Catching up with a calendar: SyncFolderItems pages, deletions, refused sync states and a busy server
(R-TIME-2, R-TIME-3, R-DEL-11)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime

from bridge.errors import StreamGapError, TransientError
from bridge.exchange.ews import EwsMailboxes
from bridge.sandbox.exchange import ExchangeSandbox

from .conftest import BO

START = datetime(2031, 4, 1, 10, 0, tzinfo=UTC)


async def drain(
    mailboxes: EwsMailboxes, mailbox: str, state: str | None
) -> tuple[dict[str, object], set[str], str]:
    """Every page from `state` on: changed items by id, deleted ids, the final state."""
    changed: dict[str, object] = {}
    deleted: set[str] = set()
    while True:
        page = await mailboxes.sync(mailbox, state)
        changed.update({item.item_id: item for item in page.changed})
        deleted.update(page.deleted)
        state = page.sync_state
        if not page.more:
            return changed, deleted, state


def user_item(account: Account, subject: str) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime.from_datetime(START),
        end=EWSDateTime.from_datetime(START + timedelta(minutes=30)),
    )
    item.save()
    return item


async def test_r_time_2_sync_resumes_from_its_state(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    _, _, state = await drain(mailboxes, BO, None)
    mine = user_item(user(BO), "Planning")
    changed, deleted, state = await drain(mailboxes, BO, state)
    assert set(changed) == {mine.id} and not deleted
    item = changed[mine.id]
    assert item.subject == "Planning" and item.start == START  # type: ignore[attr-defined]

    mine.subject = "Planning (v2)"
    mine.save(update_fields=["subject"])
    changed, _, state = await drain(mailboxes, BO, state)
    assert changed[mine.id].subject == "Planning (v2)"  # type: ignore[attr-defined]
    changed, deleted, _ = await drain(mailboxes, BO, state)
    assert not changed and not deleted


async def test_sync_pages_through_many_changes(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    _, _, state = await drain(mailboxes, BO, None)
    account = user(BO)
    items = [
        CalendarItem(
            account=account,
            folder=account.calendar,
            subject=f"Slot {n}",
            start=EWSDateTime.from_datetime(START + timedelta(hours=n)),
            end=EWSDateTime.from_datetime(START + timedelta(hours=n, minutes=30)),
        )
        for n in range(130)
    ]
    account.bulk_create(folder=account.calendar, items=items)
    first = await mailboxes.sync(BO, state)
    assert first.more and len(first.changed) == 100
    second = await mailboxes.sync(BO, first.sync_state)
    assert not second.more and len(second.changed) == 30


async def test_r_del_11_an_item_moved_out_of_the_calendar_is_deleted(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    moved = user_item(user(BO), "To the bin")
    erased = user_item(user(BO), "Erased")
    _, _, state = await drain(mailboxes, BO, None)

    known = moved.id, erased.id
    moved.move(user(BO).trash)
    erased.delete()
    changed, deleted, _ = await drain(mailboxes, BO, state)
    assert set(known) <= deleted
    assert not set(known) & set(changed)
    assert await mailboxes.read_items(BO, [*known, moved.id]) == {}  # the copy in Deleted Items is not ours


async def test_r_time_3_a_refused_sync_state_is_a_stream_gap(
    mailboxes: EwsMailboxes, sandbox: ExchangeSandbox
) -> None:
    _, _, state = await drain(mailboxes, BO, None)
    sandbox.faults.invalidate_sync_states(BO)
    with pytest.raises(StreamGapError, match=BO):
        await mailboxes.sync(BO, state)
    page = await mailboxes.sync(BO, None)  # starting over works
    assert page.sync_state


async def test_error_server_busy_waits_the_back_off_exchange_asks_for(
    mailboxes: EwsMailboxes, sandbox: ExchangeSandbox
) -> None:
    sandbox.faults.server_busy(count=2, back_off_ms=300, operations=["SyncFolderItems"])
    began = time.monotonic()
    page = await mailboxes.sync(BO, None)
    assert page.sync_state
    assert time.monotonic() - began >= 0.6  # two waits of 300 ms, as asked


async def test_error_server_busy_that_persists_is_transient(
    mailboxes: EwsMailboxes, sandbox: ExchangeSandbox
) -> None:
    sandbox.faults.server_busy(count=20, back_off_ms=50, operations=["SyncFolderItems"])
    with pytest.raises(TransientError) as busy:
        await mailboxes.sync(BO, None)
    assert busy.value.retry_after == pytest.approx(0.05)
    sandbox.faults.clear()


async def test_http_503_is_transient(mailboxes: EwsMailboxes, sandbox: ExchangeSandbox) -> None:
    sandbox.faults.unavailable(count=1, operations=["GetItem"])
    began = time.monotonic()
    with pytest.raises(TransientError, match="unavailable"):
        await mailboxes.read_items(BO, ["AAMkAGI2"])
    assert time.monotonic() - began < 2  # no worker sits out a wait Exchange never asked for


async def test_r_time_2_an_item_at_the_version_the_bridge_knows_is_listed_not_read(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    """Each write of the bridge comes back in the next sync; at the ChangeKey the bridge recorded it is no
    change, so it costs no GetItem. A later edit (a new ChangeKey) is read as before."""
    _, _, state = await drain(mailboxes, BO, None)
    mine = user_item(user(BO), "Review")
    written = mine.changekey
    page = await mailboxes.sync(BO, state, {mine.id: written})
    assert page.unchanged == (mine.id,) and not page.changed and not page.deleted

    mine.subject = "Review (moved)"
    mine.save(update_fields=["subject"])
    assert mine.changekey != written
    page = await mailboxes.sync(BO, state, {mine.id: written})
    assert [item.subject for item in page.changed] == ["Review (moved)"]  # type: ignore[attr-defined]
    assert page.unchanged == ()


async def test_an_item_listed_again_at_the_same_changekey_is_not_read_again(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    """A first sync lists a calendar three times (zone evidence, mailbox sync, window): an item at a
    ChangeKey already read is the same item, not another GetItem. An edit gives a new ChangeKey: read."""
    mine = user_item(user(BO), "Forecast")
    start, end = START - timedelta(hours=1), START + timedelta(hours=1)
    first = {i.item_id: i for i in await mailboxes.window_items(BO, start, end)}
    changed, _, _ = await drain(mailboxes, BO, None)
    again = {i.item_id: i for i in await mailboxes.window_items(BO, start, end)}
    assert again[mine.id] is first[mine.id] and changed[mine.id] is first[mine.id]

    mine.subject = "Forecast (Q3)"
    mine.save(update_fields=["subject"])
    later = {i.item_id: i for i in await mailboxes.window_items(BO, start, end)}
    assert later[mine.id].subject == "Forecast (Q3)" and later[mine.id] is not first[mine.id]
