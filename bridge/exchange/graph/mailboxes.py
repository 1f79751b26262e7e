"""`GraphMailboxes`: the `MailboxPort` over Microsoft Graph, and `open_graph` that makes one.

Every call names its mailbox, goes through the per-mailbox limits of `GraphClient`, and raises only
`bridge.errors`. Writes of one mailbox issued together share a `$batch` call (`WriteBatcher`). Changes
are announced by delta polling (`Poller`). Change notifications (`notification_url`) are not built yet:
they need a route on the ops server for Graph's POSTs; until then polling is used whatever the setting.
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
from bridge.errors import NotFoundError
from bridge.ports import MailboxChanges, MailboxNotice, Written

from . import reading, series, writing
from .batching import WriteBatcher
from .client import GraphClient
from .connection import GraphConnection
from .notifications import Handler, Notifications
from .polling import Poller

log = logging.getLogger(__name__)

ZONE_TTL = 3600.0  # seconds a mailbox's time zone is trusted before it is read again


class GraphMailboxes:
    """Exchange Online calendars of many mailboxes through one app registration (MailboxPort)."""

    def __init__(self, connection: GraphConnection) -> None:
        self.connection = connection
        self.client = GraphClient(connection)
        self._writes = WriteBatcher(self.client)
        self._queue: asyncio.Queue[MailboxNotice] = asyncio.Queue()
        self._watcher: Poller | None = None
        self._pushed: Notifications | None = None
        self._zones: dict[str, tuple[float, str]] = {}
        # Per mailbox, the master of each occurrence delta showed: a series deleted whole shows in delta
        # only as its occurrences removed (reading.sync_page).
        self._masters: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"GraphMailboxes({self.connection!r})"

    # ---- notifications -----------------------------------------------------------------------------------

    def deliver(self, notice: MailboxNotice) -> None:
        self._queue.put_nowait(notice)

    def _watching(self) -> Poller:
        if self._watcher is None:
            self._watcher = Poller(self.client, self.connection, self.deliver)
        return self._watcher

    def _notifications(self) -> Notifications | None:
        if self._pushed is None and self.connection.notification_urls is not None:
            self._pushed = Notifications(self.client, self.connection, self.deliver, self._watching())
        return self._pushed

    def routes(self) -> list[tuple[str, str, Handler]]:
        """The routes Graph posts change notifications to, for the ops server (none without a
        `notification_url`). Served before the first `watch`: Graph validates them as it subscribes."""
        pushed = self._notifications()
        return pushed.routes() if pushed is not None else []

    @property
    def subscribed(self) -> frozenset[str]:
        """The watched mailboxes (lower case), all of which delta polling covers. Those with a live
        subscription are not singled out: /readyz must not fail over a notification route that a not-ready
        pod would never be sent (Graph could not validate it, and the pod would never become ready)."""
        return self._watcher.watched if self._watcher is not None else frozenset()

    @property
    def pushed(self) -> frozenset[str]:
        """The watched mailboxes (lower case) with a live change notification subscription."""
        return self._pushed.subscribed if self._pushed is not None else frozenset()

    async def notices(self, mailboxes: Collection[str]) -> AsyncIterator[MailboxNotice]:
        for mailbox in mailboxes:
            await self.watch(mailbox)
        while True:
            yield await self._queue.get()

    async def watch(self, mailbox: str) -> None:
        self._watching().watch(mailbox)
        pushed = self._notifications()
        if pushed is not None:
            pushed.watch(mailbox)

    async def unwatch(self, mailbox: str) -> None:
        if self._pushed is not None:
            await self._pushed.unwatch(mailbox)
        if self._watcher is not None:
            await self._watcher.unwatch(mailbox)

    # ---- reading -----------------------------------------------------------------------------------------

    async def sync(
        self, mailbox: str, sync_state: str | None, known: Mapping[str, str] | None = None
    ) -> MailboxChanges:
        # A delta page carries no extended properties, so each event it lists is read again (`$batch`),
        # except those at the changeKey the runtime knows (the bridge's own writes coming back).
        masters = self._masters.setdefault(mailbox.lower(), {})
        return await reading.sync_page(self.client, mailbox, sync_state, masters=masters, versions=known)

    async def read_items(self, mailbox: str, item_ids: Collection[str]) -> dict[str, ExchangeItem]:
        return await reading.read(self.client, mailbox, item_ids)

    async def window_items(self, mailbox: str, start: datetime, end: datetime) -> list[ExchangeItem]:
        start, end = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in (start, end))
        return await reading.window(self.client, mailbox, start, end)

    async def time_zone(self, mailbox: str) -> str:
        key = mailbox.lower()
        cached = self._zones.get(key)
        if cached is not None and time.monotonic() - cached[0] < ZONE_TTL:
            return cached[1]
        zone = await reading.mailbox_zone(self.client, mailbox)
        self._zones[key] = (time.monotonic(), zone)
        return zone

    # ---- recurring series (SPEC §15) -------------------------------------------------------------------

    async def read_series(
        self, mailbox: str, master_id: str, start: datetime, end: datetime, policy: Policy
    ) -> Series | None:
        """The series of `master_id` with its instances in [start, end); None when the master is gone."""
        start, end = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in (start, end))
        try:
            return await series.read_series(self.client, mailbox, master_id, start, end, policy)
        except NotFoundError:
            return None

    async def create_series(
        self, mailbox: str, fields: Mapping[str, object], rule: EwsRecurrence, categories: Sequence[str]
    ) -> Written:
        return await series.create_series(self.client, mailbox, fields, rule, categories)

    async def end_series(self, mailbox: str, master_id: str, last: date) -> Written:
        return await series.end_series(self.client, mailbox, master_id, last)

    async def rebuild_series(
        self, mailbox: str, master_id: str, fields: Mapping[str, object], rule: EwsRecurrence
    ) -> Written:
        return await series.rebuild_series(self.client, mailbox, master_id, fields, rule)

    # ---- writing -----------------------------------------------------------------------------------------

    async def create_item(
        self, mailbox: str, fields: Mapping[str, object], categories: Sequence[str], send_invitations: bool
    ) -> Written:
        return await writing.create(
            self.client, self._writes.send, mailbox, fields, categories, send_invitations
        )

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
        return await writing.update(
            self.client,
            self._writes.send,
            mailbox,
            item_id,
            if_version,
            fields,
            add_categories,
            remove_categories,
            send_invitations,
        )

    async def delete_item(
        self, mailbox: str, item_id: str, if_version: str | None, send_cancellations: bool
    ) -> None:
        # Graph mails cancellations when an organizer deletes a meeting with invited attendees; items the
        # bridge made under invitations = none have none (R-GRAPH-3), so nothing is mailed for them.
        await writing.delete(self._writes.send, mailbox, item_id, if_version)

    async def close(self) -> None:
        if self._pushed is not None:
            await self._pushed.close()
            self._pushed = None
        if self._watcher is not None:
            await self._watcher.close()
            self._watcher = None
        await self.client.close()


def open_graph(connection: GraphConnection) -> GraphMailboxes:
    """The Graph MailboxPort for `connection`. Nothing is sent until the first call."""
    return GraphMailboxes(connection)
