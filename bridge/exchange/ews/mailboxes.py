"""`EwsMailboxes`: the `MailboxPort` over Exchange Web Services, and `open_ews` that makes one.

Every call impersonates the mailbox it names, runs exchangelib on a worker thread (`EwsSession`), and
raises only `bridge.errors`. Streaming notifications come from `Streams`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, date, datetime

from bridge.core.fields import ExchangeItem
from bridge.core.model import Policy
from bridge.core.patterns_ews import EwsRecurrence
from bridge.core.series import Series
from bridge.errors import CalbridgeError, NotFoundError
from bridge.ports import MailboxChanges, MailboxNotice, Written

from . import reading, series, writing
from .batching import MailboxWrites
from .connection import EwsConnection
from .session import EwsSession
from .streaming import Streams
from .zones import mailbox_zone

log = logging.getLogger(__name__)

ZONE_TTL = 3600.0  # seconds a mailbox's time zone is trusted before it is read again


class EwsMailboxes:
    """Exchange calendars of many mailboxes through one service account (MailboxPort)."""

    def __init__(
        self,
        connection: EwsConnection,
        *,
        workers: int = 8,
        stream_connections: int = 8,
        per_connection: int = 200,
        connection_timeout: int = 30,
    ) -> None:
        self.session = EwsSession(connection, workers=workers, stream_connections=stream_connections)
        self._streams: Streams | None = None
        self._stream_options = {"per_connection": per_connection, "connection_timeout": connection_timeout}
        self._zones: dict[str, tuple[float, str]] = {}
        self._recent = reading.RecentItems()  # items at a ChangeKey already read are not parsed again
        # Writes of one mailbox issued together share one CreateItem / UpdateItem (issue 10).
        self.creates = MailboxWrites(self.session, writing.create_many, lambda _: None)
        self.updates = MailboxWrites(
            self.session,
            lambda account, changes: writing.update_many(account, changes, self._recent),
            lambda change: change.item_id,
        )

    def __repr__(self) -> str:
        return f"EwsMailboxes({self.session.connection!r})"

    # ---- notifications -----------------------------------------------------------------------------------

    def _stream(self) -> Streams:
        if self._streams is None:
            self._streams = Streams(self.session, **self._stream_options)
        return self._streams

    async def notices(self, mailboxes: Collection[str]) -> AsyncIterator[MailboxNotice]:
        """Notices of the watched mailboxes (these and any `watch`ed later), as Exchange streams them."""
        streams = self._stream()
        # Subscribed together (on the worker threads), so the first connection carries them all.
        outcomes = await asyncio.gather(*(streams.watch(m) for m in mailboxes), return_exceptions=True)
        for mailbox, outcome in zip(mailboxes, outcomes, strict=True):
            if isinstance(outcome, CalbridgeError):
                log.error("cannot watch %s: %s", mailbox, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        while True:
            yield await streams.next_notice()

    @property
    def subscribed(self) -> frozenset[str]:
        """The mailboxes (lower case) with a live streaming subscription now (for `/readyz`)."""
        return self._streams.subscribed if self._streams is not None else frozenset()

    async def watch(self, mailbox: str) -> None:
        await self._stream().watch(mailbox)

    async def unwatch(self, mailbox: str) -> None:
        if self._streams is not None:
            await self._streams.unwatch(mailbox)

    async def _before_read(self, mailbox: str) -> None:
        """A mailbox whose subscription is still waiting for its turn (a start-up's burst) is subscribed
        before it is caught up, so no change falls between the read and the subscription (R-TIME-3)."""
        if self._streams is not None:
            await self._streams.before_read(mailbox)

    # ---- reading -----------------------------------------------------------------------------------------

    async def sync(
        self, mailbox: str, sync_state: str | None, known: Mapping[str, str] | None = None
    ) -> MailboxChanges:
        await self._before_read(mailbox)
        return await self.session.run(
            mailbox, lambda account: reading.sync_page(account, sync_state, known, self._recent)
        )

    async def read_items(self, mailbox: str, item_ids: Collection[str]) -> dict[str, ExchangeItem]:
        ids = list(dict.fromkeys(item_ids))
        return await self.session.run(mailbox, lambda account: reading.read(account, ids))

    async def window_items(self, mailbox: str, start: datetime, end: datetime) -> list[ExchangeItem]:
        # Naive datetimes are UTC, as everywhere in the core.
        start, end = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in (start, end))
        await self._before_read(mailbox)
        return await self.session.run(
            mailbox, lambda account: reading.window(account, start, end, self._recent)
        )

    async def time_zone(self, mailbox: str) -> str:
        key = mailbox.lower()
        cached = self._zones.get(key)
        if cached is not None and time.monotonic() - cached[0] < ZONE_TTL:
            return cached[1]
        zone = await self.session.run(mailbox, lambda account: mailbox_zone(account, self._recent))
        self._zones[key] = (time.monotonic(), zone)
        return zone

    # ---- recurring series (SPEC §15) -------------------------------------------------------------------

    async def read_series(
        self, mailbox: str, master_id: str, start: datetime, end: datetime, policy: Policy
    ) -> Series | None:
        """The series of `master_id` with its occurrences in [start, end); None when the master is gone."""
        try:
            return await self.session.run(
                mailbox, lambda account: series.read_series(account, master_id, start, end, policy)
            )
        except NotFoundError:
            return None

    async def create_series(
        self, mailbox: str, fields: Mapping[str, object], rule: EwsRecurrence, categories: Sequence[str]
    ) -> Written:
        return await self.session.run(
            mailbox, lambda account: series.create_series(account, fields, rule, categories)
        )

    async def end_series(self, mailbox: str, master_id: str, last: date) -> Written:
        return await self.session.run(
            mailbox, lambda account: series.end_series(account, master_id, last), item_id=master_id
        )

    async def rebuild_series(
        self, mailbox: str, master_id: str, fields: Mapping[str, object], rule: EwsRecurrence
    ) -> Written:
        return await self.session.run(
            mailbox,
            lambda account: series.rebuild_series(account, master_id, fields, rule),
            item_id=master_id,
        )

    # ---- writing -----------------------------------------------------------------------------------------

    async def create_item(
        self, mailbox: str, fields: Mapping[str, object], categories: Sequence[str], send_invitations: bool
    ) -> Written:
        return await self.creates.submit(mailbox, writing.NewItem(fields, categories, send_invitations))

    async def update_item(
        self,
        mailbox: str,
        item_id: str,
        if_version: str | None,
        fields: Mapping[str, object],
        add_categories: Sequence[str],
        remove_categories: Sequence[str],
        send_invitations: bool,
    ) -> Written:
        change = writing.ItemUpdate(
            item_id, if_version, fields, add_categories, remove_categories, send_invitations
        )
        return await self.updates.submit(mailbox, change)

    async def delete_item(
        self, mailbox: str, item_id: str, if_version: str | None, send_cancellations: bool
    ) -> None:
        await self.session.run(
            mailbox,
            lambda account: writing.delete(account, item_id, if_version, send_cancellations),
            item_id=item_id,
        )

    async def close(self) -> None:
        if self._streams is not None:
            await self._streams.close()
            self._streams = None
        self.session.close()


def open_ews(connection: EwsConnection, **options: int) -> EwsMailboxes:
    """The EWS MailboxPort for `connection`. Options: workers, stream_connections, per_connection,
    connection_timeout (minutes). Nothing is sent until the first call."""
    return EwsMailboxes(connection, **options)
