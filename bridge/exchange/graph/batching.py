"""Writes of one mailbox sent together: the creates, updates and deletes issued at the same moment go in
one `$batch` call (up to 20), each caller getting its own answer or failure, through the shared
`bridge.exchange.batching.MailboxBatcher`.

A write waits `LINGER` seconds for others to join; a write alone is sent as itself.
"""

from __future__ import annotations

from bridge.exchange.batching import MailboxBatcher

from .client import BATCH_LIMIT, Answer, GraphClient, Request
from .failures import GraphFailure

LINGER = 0.005


class WriteBatcher:
    def __init__(self, client: GraphClient, linger: float = LINGER) -> None:
        self._batcher: MailboxBatcher[Request, Answer] = MailboxBatcher(
            client.batch, _settle, most=BATCH_LIMIT, linger=linger, name="graph-writes"
        )

    async def send(self, mailbox: str, request: Request) -> Answer:
        """`request`'s answer; raises `GraphFailure` or what the client raises, as `GraphClient.send`."""
        return await self._batcher.submit(mailbox, request)


def _settle(_mailbox: str, _request: Request, answer: Answer | GraphFailure) -> Answer:
    if isinstance(answer, GraphFailure):
        raise answer
    return answer
