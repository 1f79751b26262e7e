"""Notices -> the actor of the user they concern.

Salesforce: an Event change goes to the user whose pair or recurring series holds the event (the store) or
for whom a pass still in flight created it (bridge.runtime.recent), else, for a CREATE, to the payload's
OwnerId; an unknown record is read once to find its owner. An EventRelation change goes where its event
goes, as a re-read. An echo nobody holds is dropped: it only ever refreshes a stored copy. Exchange notices
are per mailbox, so per user. Notices of users who are not enrolled are done at once.

Every notice takes a ticket on its stream's watermark before it is routed; the actors release it once the
pass it fed is committed (bridge.runtime.watermark).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.core.model import Side
from bridge.ports import (
    BridgeCommand,
    ChangeType,
    CommandKind,
    EventChange,
    GapKind,
    MailboxNotice,
    SalesforceNotice,
    SalesforcePort,
    Store,
    StreamGap,
)
from bridge.runtime.actor import Actors
from bridge.runtime.recent import RecentOwners
from bridge.runtime.sync import UserBinding, Work
from bridge.runtime.watermark import Ticket, Watermarks

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RouterStats:
    notices: int = 0
    dropped: int = 0
    owner_reads: int = 0
    by_user: dict[str, int] = field(default_factory=dict)


class Router:
    def __init__(
        self,
        actors: Actors,
        store: Store,
        salesforce: SalesforcePort,
        users: Mapping[str, UserBinding],
        watermarks: Watermarks,
        created: RecentOwners | None = None,
    ) -> None:
        self.actors = actors
        self.created = created if created is not None else RecentOwners()
        self.store = store
        self.salesforce = salesforce
        self.users = dict(users)
        self.by_mailbox = {b.mailbox.lower(): b.user_id for b in users.values()}
        self.watermarks = watermarks
        self.stats = RouterStats()

    # ---------------------------------------------------------------------------------- Salesforce

    async def salesforce_notice(self, notice: SalesforceNotice) -> None:
        self.stats.notices += 1
        position = notice.position
        ticket = self.watermarks.begin(position) if position is not None else None
        try:
            if isinstance(notice, EventChange):
                await self._change(notice, ticket)
            elif isinstance(notice, StreamGap):
                await self._gap(notice, ticket)
            else:
                await self._command(notice, ticket)
        finally:
            if ticket is not None:
                ticket.release()  # the router's own hold; the actors hold their own

    async def _change(self, change: EventChange, ticket: Ticket | None) -> None:
        if change.entity == "EventRelation":
            event_id = change.fields.get("EventId")
            if change.echo or not event_id:
                self.stats.dropped += 1
                return
            user = await self._owner(str(event_id), None, read=True)
            if user is not None:
                self._submit(user, Work(reread={str(event_id)}), ticket)
            return
        for event_id in change.record_ids:
            owner = change.fields.get("OwnerId") if change.change_type is ChangeType.CREATE else None
            read = not change.echo and change.change_type is not ChangeType.DELETE
            user = await self._owner(event_id, str(owner) if owner else None, read=read)
            # An event passed on to another enrolled user (R-MULTI-4, often by the bridge's own write) is
            # news to its new owner too, whose pair only shared it so far.
            passed_to = change.fields.get("OwnerId") if change.change_type is ChangeType.UPDATE else None
            users = [u for u in dict.fromkeys((user, passed_to)) if isinstance(u, str) and u in self.users]
            if not users:
                self.stats.dropped += 1
            for target in users:
                self._submit(target, Work(sf={event_id: [change]}), ticket)

    async def _owner(self, event_id: str, owner: str | None, *, read: bool) -> str | None:
        """The enrolled user an event belongs to: its pair's user, the owner given, or (when `read`)
        the owner Salesforce says."""
        pair = await self.store.pair_by_record(Side.SALESFORCE, event_id)
        if pair is not None and pair.user_id in self.users:
            return pair.user_id
        # A series row (SPEC §15) is held by its series' state: a deleted row cannot be read for its owner.
        series = await self.store.series_by_record(Side.SALESFORCE, event_id)
        if series is not None and series.user_id in self.users:
            return series.user_id
        # Created by a pass still in flight (bridge.runtime.recent): that user's actor takes it next.
        made_for = self.created.get(event_id)
        if made_for is not None and made_for in self.users:
            return made_for
        if owner is None and read:
            self.stats.owner_reads += 1
            found = await self.salesforce.read_events([event_id])
            record = found.get(event_id)
            owner = record.owner_id if record is not None else None
        return owner if owner in self.users else None

    async def _gap(self, gap: StreamGap, ticket: Ticket | None) -> None:
        if gap.kind is not GapKind.GAP or gap.entity != "Event":
            log.warning("Salesforce stream gap (%s, %s): reconciling every user", gap.kind, gap.entity)
            for user in self.users:
                self._submit(user, Work(reconcile=True), ticket)
            return
        for event_id in gap.record_ids:
            owner = await self._owner(event_id, None, read=True)
            if owner is not None:
                self._submit(owner, Work(reread={event_id}), ticket)

    async def _command(self, command: BridgeCommand, ticket: Ticket | None) -> None:
        users = [command.user_id] if command.user_id else []
        if command.event_id and not users:
            owner = await self._owner(command.event_id, None, read=True)
            users = [owner] if owner else []
        for user in users:
            if user not in self.users:
                continue
            if command.kind is CommandKind.SYNC_NOW:
                work = Work(sync_now={command.event_id}) if command.event_id else Work(sync_now_all=True)
            elif command.kind is CommandKind.CONFIRM:
                work = Work(reconcile=True, confirmed=True)
            else:
                work = Work(reconcile=True)
            self._submit(user, work, ticket)

    # ------------------------------------------------------------------------------------ Exchange

    def mailbox_notice(self, notice: MailboxNotice) -> None:
        self.stats.notices += 1
        user = self.by_mailbox.get(notice.mailbox.lower())
        if user is None:
            self.stats.dropped += 1
            return
        self._submit(
            user, Work(exchange=True, reconcile=notice.lost, exchange_since=notice.committed_at), None
        )

    # ---------------------------------------------------------------------------------- the others

    def submit(self, user_id: str, work: Work) -> None:
        """Work from elsewhere (the scheduler, the CLI, the ops page)."""
        if user_id in self.users:
            self._submit(user_id, work, None)

    def _submit(self, user: str, work: Work, ticket: Ticket | None) -> None:
        self.stats.by_user[user] = self.stats.by_user.get(user, 0) + 1
        self.actors.submit(user, work, [ticket.hold()] if ticket is not None else None)
