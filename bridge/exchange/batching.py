"""Writes of one mailbox issued at the same moment go out in one call (EWS and Graph alike).

A write waits `linger` seconds for others of its mailbox to join, then up to `most` of them are sent in one
call by `send(mailbox, requests)`, which answers one entry per request in order. `settle(mailbox, request,
answer)` turns each entry into that caller's result, or raises that caller's failure. A failure of the whole
call (the service unreachable, busy) is every caller's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


@dataclass
class _Queue(Generic[Req, Res]):
    waiting: list[tuple[Req, asyncio.Future[Res]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class MailboxBatcher(Generic[Req, Res]):
    """Coalesces writes per mailbox: `submit` waits for its own answer."""

    def __init__(
        self,
        send: Callable[[str, list[Req]], Awaitable[Sequence[Any]]],
        settle: Callable[[str, Req, Any], Res],
        *,
        most: int,
        linger: float,
        name: str,
    ) -> None:
        self._send = send
        self._settle = settle
        self._most = most
        self._linger = linger
        self._name = name
        self._queues: dict[str, _Queue[Req, Res]] = {}

    async def submit(self, mailbox: str, request: Req) -> Res:
        key = mailbox.lower()
        queue = self._queues.setdefault(key, _Queue())
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        queue.waiting.append((request, future))
        if queue.task is None or queue.task.done():
            queue.task = asyncio.create_task(self._flush(mailbox, queue), name=f"{self._name}-{key}")
        return await future

    async def _flush(self, mailbox: str, queue: _Queue[Req, Res]) -> None:
        await asyncio.sleep(self._linger)
        try:
            await self._send_waiting(mailbox, queue)
        finally:
            # Emptied: forget the mailbox's queue (and this done task) until its next write, so a mailbox
            # written once does not keep them for the process's life (about 2 KB per user, issue 10).
            if not queue.waiting and self._queues.get(mailbox.lower()) is queue:
                del self._queues[mailbox.lower()]

    async def _send_waiting(self, mailbox: str, queue: _Queue[Req, Res]) -> None:
        while queue.waiting:
            chunk, queue.waiting = queue.waiting[: self._most], queue.waiting[self._most :]
            try:
                answers = await self._send(mailbox, [request for request, _ in chunk])
            except BaseException as exc:  # the whole call failed: every caller learns why
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (request, future), answer in zip(chunk, answers, strict=True):
                if future.done():
                    continue  # the caller gave up waiting; the write itself has happened or failed
                try:
                    result = self._settle(mailbox, request, answer)
                except Exception as error:  # this caller's own failure
                    future.set_exception(error)
                else:
                    future.set_result(result)
