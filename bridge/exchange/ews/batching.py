"""Creates and updates of one mailbox issued together go out together (issue 10).

A window reconcile executes its plans at once, so a first sync of a hundred events issues a hundred
creates in the same moment. Each waits `LINGER` seconds for others of its mailbox and kind to join, then
they are written in one call of `writing.create_many` / `update_many` (one CreateItem or UpdateItem and one
GetItem for them all), through the shared `bridge.exchange.batching.MailboxBatcher`. Every caller gets its
own result or its own failure, as a bridge error naming its item; a failure of the whole call (Exchange
unreachable, busy) is every caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from exchangelib import Account

from bridge.exchange.batching import MailboxBatcher
from bridge.ports import Written

from .failures import translate
from .session import EwsSession

LINGER = 0.005
MOST = 200  # items in one call (exchangelib splits larger requests itself, 100 a request)

Bulk = Callable[[Account, Sequence[Any]], list[Written | Exception]]


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
        self._batcher: MailboxBatcher[Any, Written] = MailboxBatcher(
            self._send, self._settle, most=MOST, linger=linger, name="ews-writes"
        )
        self.calls = 0  # bulk calls made, for tests and benchmarks

    async def submit(self, mailbox: str, request: object) -> Written:
        return await self._batcher.submit(mailbox, request)

    async def _send(self, mailbox: str, requests: list[Any]) -> list[Written | Exception]:
        self.calls += 1
        # A write alone is named in the error of a failed call, as it always was.
        alone = self._item_id(requests[0]) if len(requests) == 1 else None
        return await self._session.run(mailbox, lambda account: self._bulk(account, requests), item_id=alone)

    def _settle(self, mailbox: str, request: Any, result: Written | Exception) -> Written:
        if isinstance(result, Exception):  # a failure translate does not know is raised as it is
            raise translate(result, mailbox=mailbox, item_id=self._item_id(request))
        return result
