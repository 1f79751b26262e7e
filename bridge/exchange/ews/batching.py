"""Creates and updates of one mailbox issued together go out together (issue 10).

A window reconcile executes its plans at once, so a first sync of a hundred events issues a hundred
creates in the same moment. Each waits `LINGER` seconds for others of its mailbox and kind to join, then
they are written in one call of `writing.create_many` / `update_many` (one CreateItem or UpdateItem and one
GetItem for them all). Every caller gets its own result or its own failure, as a bridge error naming its
item; a failure of the whole call (Exchange unreachable, busy) is every caller's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from exchangelib import Account

from bridge.ports import Written

from .failures import translate
from .session import EwsSession

LINGER = 0.005
MOST = 200  # items in one call (exchangelib splits larger requests itself, 100 a request)

Request = TypeVar("Request")
Bulk = Callable[[Account, Sequence[Any]], list[Written | Exception]]


@dataclass
class _Queue(Generic[Request]):
    waiting: list[tuple[Request, asyncio.Future[Written]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class MailboxWrites:
    """Coalesces one kind of write per mailbox: `submit` waits for its own answer."""

    def __init__(
        self,
        session: EwsSession,
        bulk: Bulk,
        item_id: Callable[[Any], str | None],
        linger: float = LINGER,
    ) -> None:
        self._session = session
        self._bulk = bulk
        self._item_id = item_id
        self._linger = linger
        self._queues: dict[str, _Queue[Any]] = {}
        self.calls = 0  # bulk calls made, for tests and benchmarks

    async def submit(self, mailbox: str, request: object) -> Written:
        key = mailbox.lower()
        queue = self._queues.setdefault(key, _Queue())
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        queue.waiting.append((request, future))
        if queue.task is None or queue.task.done():
            queue.task = asyncio.create_task(self._flush(mailbox, queue), name=f"ews-writes-{key}")
        return await future

    def _call(self, requests: Sequence[Any]) -> Callable[[Account], list[Written | Exception]]:
        return lambda account: self._bulk(account, requests)

    async def _flush(self, mailbox: str, queue: _Queue[Any]) -> None:
        await asyncio.sleep(self._linger)
        while queue.waiting:
            chunk, queue.waiting = queue.waiting[:MOST], queue.waiting[MOST:]
            requests = [request for request, _ in chunk]
            self.calls += 1
            try:  # a write alone is named in the error of a failed call, as it always was
                alone = self._item_id(requests[0]) if len(requests) == 1 else None
                results = await self._session.run(mailbox, self._call(requests), item_id=alone)
            except BaseException as exc:  # the whole call failed: every caller learns why
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (request, future), result in zip(chunk, results, strict=True):
                if future.done():
                    continue  # the caller gave up waiting; the write itself has happened or failed
                if isinstance(result, Exception):
                    item_id = self._item_id(request)
                    try:
                        error: BaseException = translate(result, mailbox=mailbox, item_id=item_id)
                    except Exception as unknown:  # not an Exchange failure: the caller sees it as it is
                        error = unknown
                    future.set_exception(error)
                else:
                    future.set_result(result)
