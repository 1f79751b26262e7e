"""Changes announced without a public address: delta polling per mailbox (R-TIME-1, R-GRAPH-2, R-TIME-3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from exchangelib import Account

from bridge.exchange.graph import GraphMailboxes
from bridge.ports import MailboxNotice

from .conftest import ANA, BO, Sandboxes
from .notice_steps import next_notice, user_item

START = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0) + timedelta(days=50)


async def test_r_graph_2_a_change_is_announced_within_seconds_by_polling(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    stream = mailboxes.notices([ANA, BO])
    waiting = asyncio.ensure_future(next_notice(stream))
    await asyncio.sleep(0.6)  # the pollers' first rounds: where "now" is
    made, made_at = time.monotonic(), datetime.now(UTC)
    await asyncio.to_thread(user_item, user(BO), "Polled", START)
    notice = await waiting
    assert notice.mailbox == BO and notice.item_ids and not notice.lost
    assert time.monotonic() - made < 2.0
    # timed (the propagation metrics count it, R-TIME-1): from the round that found it, not before it
    assert notice.committed_at is not None and made_at - timedelta(seconds=2) < notice.committed_at
    found = await mailboxes.read_items(BO, notice.item_ids)
    assert [i.subject for i in found.values()] == ["Polled"]

    await mailboxes.unwatch(BO)
    await asyncio.to_thread(user_item, user(BO), "Not watched", START)
    await asyncio.to_thread(user_item, user(ANA), "Watched", START)
    notice = await next_notice(stream)
    assert notice.mailbox == ANA  # BO's change, made first, was not announced


async def test_r_time_3_a_refused_poll_state_is_announced_as_lost(
    mailboxes: GraphMailboxes, sandbox: Sandboxes
) -> None:
    stream = mailboxes.notices([ANA])
    waiting = asyncio.ensure_future(next_notice(stream))
    await asyncio.sleep(0.6)
    sandbox.graph.faults.expire_delta_tokens(ANA)
    notice = await waiting
    assert notice.mailbox == ANA and notice.lost


async def test_r_graph_2_a_change_between_the_catch_up_and_the_first_poll_is_announced(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    """At start the runtime catches the mailbox up with its own delta state, then the poller begins. A change
    made in between is in the poller's first round, which only learns where "now" is: that round is
    announced, so the runtime's sync reads the change now, not at the mailbox's next change (R-TIME-1)."""
    state: str | None = None
    while True:  # the runtime's start-up catch-up
        changes = await mailboxes.sync(BO, state)
        state = changes.sync_state
        if not changes.more:
            break
    await asyncio.to_thread(user_item, user(BO), "Between catch-up and first poll", START)
    stream = mailboxes.notices([BO])
    notice = await asyncio.wait_for(anext(stream), 5.0)  # the first round's own announcement
    assert notice == MailboxNotice(BO)
    changes = await mailboxes.sync(BO, state)
    assert [i.subject for i in changes.changed] == ["Between catch-up and first poll"]
