"""Writes of one mailbox sent together: the creates, updates and deletes issued at the same moment go in
one `$batch` call (up to 20), each caller getting its own answer or failure.

A write waits `LINGER` seconds for others to join; a write alone is sent as itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .client import BATCH_LIMIT, Answer, GraphClient, Request
from .failures import GraphFailure

LINGER = 0.005


@dataclass
class _Queue:
    waiting: list[tuple[Request, asyncio.Future[Answer]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class WriteBatcher:
    def __init__(self, client: GraphClient, linger: float = LINGER) -> None:
        self._client = client
        self._linger = linger
        self._queues: dict[str, _Queue] = {}

    async def send(self, mailbox: str, request: Request) -> Answer:
        """`request`'s answer; raises `GraphFailure` or what the client raises, as `GraphClient.send`."""
        key = mailbox.lower()
        queue = self._queues.setdefault(key, _Queue())
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        queue.waiting.append((request, future))
        if queue.task is None or queue.task.done():
            queue.task = asyncio.create_task(self._flush(mailbox, queue), name=f"graph-writes-{key}")
        return await future

    async def _flush(self, mailbox: str, queue: _Queue) -> None:
        await asyncio.sleep(self._linger)
        while queue.waiting:
            chunk, queue.waiting = queue.waiting[:BATCH_LIMIT], queue.waiting[BATCH_LIMIT:]
            try:
                answers = await self._client.batch(mailbox, [request for request, _ in chunk])
            except BaseException as exc:  # the whole call failed: every caller learns why
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), answer in zip(chunk, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, GraphFailure):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
