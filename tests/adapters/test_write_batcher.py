"""The per-mailbox write batcher (bridge.exchange.batching): writes of one moment share a call, and a
mailbox whose writes are answered leaves nothing behind (an idle user costs no queue or task, issue 10)."""

from __future__ import annotations

import asyncio

from bridge.exchange.batching import MailboxBatcher


def _batcher(calls: list[tuple[str, list[int]]]) -> MailboxBatcher[int, int]:
    async def send(mailbox: str, requests: list[int]) -> list[int]:
        calls.append((mailbox, requests))
        return [r * 10 for r in requests]

    return MailboxBatcher(send, lambda _m, _r, answer: int(answer), most=10, linger=0.01, name="test")


async def test_writes_of_one_moment_share_a_call_and_leave_nothing_per_mailbox() -> None:
    calls: list[tuple[str, list[int]]] = []
    batcher = _batcher(calls)
    answers = await asyncio.gather(*(batcher.submit(f"User{n % 2}@corp.test", n) for n in range(4)))
    assert answers == [0, 10, 20, 30]
    assert sorted(len(requests) for _, requests in calls) == [2, 2]  # one call per mailbox
    assert batcher._queues == {}  # nothing kept for the mailboxes now idle

    assert await batcher.submit("User0@corp.test", 7) == 70  # a later write starts afresh
    assert batcher._queues == {}


async def test_a_failed_call_is_every_callers_and_leaves_nothing() -> None:
    async def send(mailbox: str, requests: list[int]) -> list[int]:
        raise ConnectionError("unreachable")

    batcher: MailboxBatcher[int, int] = MailboxBatcher(
        send, lambda _m, _r, a: int(a), most=10, linger=0.01, name="test"
    )
    results = await asyncio.gather(
        batcher.submit("a@corp.test", 1), batcher.submit("a@corp.test", 2), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert batcher._queues == {}
