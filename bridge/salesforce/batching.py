"""Coalescing concurrent requests into one call: the sObject Collections batching of R-API-3.

Callers `submit` one item each and await their own result. Items submitted within `linger` of the first
(or until `size` are waiting) go to `send` together; `send` returns one result or exception per item, in
order, so each caller gets its own answer and its own error. A failure of the whole call is every caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item type
R = TypeVar("R")

Send = Callable[[Sequence[I]], Awaitable[Sequence[R | BaseException]]]


class Batcher(Generic[I, R]):
    def __init__(self, send: Send[I, R], linger_s: float, size: int = 200) -> None:
        self._send = send
        self._linger_s = linger_s
        self._size = size
        self._pending: list[tuple[I, asyncio.Future[R]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0  # calls of `send` so far

    async def submit(self, item: I) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._linger_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch, self._pending = self._pending[: self._size], self._pending[self._size :]
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        self.batches += 1
        results: Sequence[R | BaseException]
        try:
            results = await self._send([item for item, _ in batch])
        except BaseException as error:  # every caller of this batch gets the failure, then it is re-raised
            results = [error] * len(batch)
            if isinstance(error, asyncio.CancelledError):
                for _, future in batch:
                    future.cancel()
                raise
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # the caller gave up waiting; the write itself has happened or failed
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Send what is waiting and wait for every batch in flight."""
        self._flush()
        if self._running:
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._running, return_exceptions=True)
