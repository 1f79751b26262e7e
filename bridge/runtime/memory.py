"""In-memory `SalesforcePort` and `MailboxPort`, for unit tests of the executor, actors and router.

They keep records in each service's own terms (Event fields, `ExchangeItem`), check versions like the real
services (a stale `if_version` raises ConflictError), emit change events and mailbox notices for every
change (the bridge's own writes as echoes), and count calls. End-to-end tests use the real adapters against
the sandboxes instead.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.core.fields import SF_STATUS, ExchangeItem, SalesforceRelation, parse_datetime, version_stamp
from bridge.core.model import Directory, Relation, RelationKind, Response, Side
from bridge.errors import ConflictError, NotFoundError, RefusedError, StreamGapError, TransientError
from bridge.ports import (
    ChangeType,
    EventChange,
    EventRecord,
    MailboxChanges,
    MailboxNotice,
    SalesforceNotice,
    StreamPosition,
    Written,
)

SF_STREAM = "sf:/data/EventChangeEvent"


@dataclass
class Clock:
    """A clock tests move by hand; every write ticks it one second."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 12, 0, tzinfo=UTC))

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def __call__(self) -> datetime:
        return self.now


class MemorySalesforce:
    """Salesforce Events and their relations, the directory of people, and the change stream."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.events: dict[str, dict[str, object]] = {}
        self.relations: dict[str, list[SalesforceRelation]] = defaultdict(list)
        self.people: dict[str, Relation] = {}
        self.calls: dict[str, int] = defaultdict(int)
        self.refuse: dict[str, str] = {}  # operation -> message: the next such write is refused
        self.busy_subjects: dict[str, int] = {}  # subject -> creates of such events that fail transiently
        self.conflict_once: set[str] = set()  # event ids whose next conditional write loses a race
        # Event id -> a person's changes, each run as the bridge's next write of that event (or of its
        # relations) arrives, before its version is checked: a change made at that moment wins the race.
        self.meanwhile: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self.return_versions = True
        self._ids = itertools.count(1)
        self._replay = itertools.count(1)
        self._stream: asyncio.Queue[SalesforceNotice] = asyncio.Queue()

    # ------------------------------------------------------------------------- as a person changes it

    def put_event(
        self,
        owner_id: str,
        subject: str,
        start: datetime,
        end: datetime,
        relations: Sequence[SalesforceRelation] = (),
        **more: object,
    ) -> str:
        """A user creates an event, with these invitees (not the bridge: the change is no echo)."""
        event_id = f"00U{next(self._ids):012d}"
        self.relations[event_id] = list(relations)
        self.events[event_id] = {
            "Id": event_id,
            "OwnerId": owner_id,
            "Subject": subject,
            "StartDateTime": start.isoformat(),
            "EndDateTime": end.isoformat(),
            "IsAllDayEvent": False,
            **more,
        }
        self._stamp(event_id)
        self._emit(event_id, ChangeType.CREATE, dict(self.events[event_id]), echo=False)
        return event_id

    def edit_event(self, event_id: str, **changes: object) -> None:
        self.events[event_id].update(changes)
        self._stamp(event_id)
        self._emit(event_id, ChangeType.UPDATE, {**changes, **self._stamps(event_id)}, echo=False)

    def remove_event(self, event_id: str) -> None:
        del self.events[event_id]
        self._emit(event_id, ChangeType.DELETE, {}, echo=False)

    def invite(self, event_id: str, relation_id: str) -> None:
        """A user adds an invitee (a person the directory knows) by hand: an EventRelation change."""
        email = next((e for e, r in self.people.items() if r.relation_id == relation_id), None)
        kind = self.people[email].kind if email else RelationKind.USER
        rows = [r for r in self.relations[event_id] if r.relation_id != relation_id]
        self.relations[event_id] = [*rows, SalesforceRelation(relation_id, kind, email, "New")]
        self._emit_relation(event_id, ChangeType.CREATE)

    def uninvite(self, event_id: str, relation_id: str) -> None:
        self.relations[event_id] = [r for r in self.relations[event_id] if r.relation_id != relation_id]
        self._emit_relation(event_id, ChangeType.DELETE)

    def pending(self) -> list[SalesforceNotice]:
        """The notices not consumed yet, taken off the stream: for tests that run the runtime step by step
        instead of reading `notices`."""
        taken = []
        while not self._stream.empty():
            taken.append(self._stream.get_nowait())
        return taken

    # ---------------------------------------------------------------------------------------- the port

    async def notices(self, resume: Mapping[str, str]) -> AsyncIterator[SalesforceNotice]:
        while True:
            yield await self._stream.get()

    async def read_events(self, event_ids: Collection[str]) -> dict[str, EventRecord]:
        self.calls["read_events"] += 1
        return {i: self._record(i) for i in event_ids if i in self.events}

    async def window_events(
        self, owner_ids: Collection[str], start: datetime, end: datetime
    ) -> dict[str, list[EventRecord]]:
        self.calls["window_events"] += 1
        found: dict[str, list[EventRecord]] = {o: [] for o in owner_ids}
        for event_id, fields in sorted(self.events.items()):
            owner = str(fields.get("OwnerId"))
            first = parse_datetime(fields.get("StartDateTime"))
            last = parse_datetime(fields.get("EndDateTime"))
            if owner in found and first is not None and last is not None and last > start and first < end:
                found[owner].append(self._record(event_id))
        return found

    async def resolve(self, emails: Collection[str]) -> Directory:
        self.calls["resolve"] += 1
        hits = [(e.lower(), (self.people[e.lower()],)) for e in emails if e.lower() in self.people]
        return Directory(tuple(hits))

    async def create_event(self, fields: Mapping[str, object], who_ids: Sequence[str]) -> Written:
        self._check("create_event")
        subject = str(fields.get("Subject") or "")
        if self.busy_subjects.get(subject):
            self.busy_subjects[subject] -= 1
            raise TransientError(f"Salesforce is busy (creating {subject!r})")
        event_id = f"00U{next(self._ids):012d}"
        self.events[event_id] = {"Id": event_id, **_readable(fields)}
        if who_ids:
            self.events[event_id]["WhoId"] = who_ids[0]
        version = self._stamp(event_id)
        self._emit(event_id, ChangeType.CREATE, dict(self.events[event_id]), echo=True)
        return Written(event_id, version if self.return_versions else None)

    async def update_event(
        self, event_id: str, if_version: str | None, fields: Mapping[str, object]
    ) -> Written:
        self._check("update_event", event_id, if_version)
        self.events[event_id].update(_readable(fields))
        version = self._stamp(event_id)
        self._emit(event_id, ChangeType.UPDATE, {**fields, **self._stamps(event_id)}, echo=True)
        return Written(event_id, version if self.return_versions else None)

    async def delete_event(self, event_id: str, if_version: str | None) -> None:
        self._check("delete_event", event_id, if_version)
        del self.events[event_id]
        self._emit(event_id, ChangeType.DELETE, {}, echo=True)

    async def add_relation(self, event_id: str, relation_id: str, status: Response) -> None:
        self._check("add_relation", event_id)
        email = next((e for e, r in self.people.items() if r.relation_id == relation_id), None)
        kind = self.people[email].kind if email else RelationKind.USER
        rows = [r for r in self.relations[event_id] if r.relation_id != relation_id]
        self.relations[event_id] = [*rows, SalesforceRelation(relation_id, kind, email, SF_STATUS[status])]

    async def update_relation(self, event_id: str, relation_id: str, status: Response) -> None:
        self._check("update_relation", event_id)
        self.relations[event_id] = [
            replace(r, status=SF_STATUS[status]) if r.relation_id == relation_id else r
            for r in self.relations[event_id]
        ]

    async def remove_relation(self, event_id: str, relation_id: str) -> None:
        self._check("remove_relation", event_id)
        self.relations[event_id] = [r for r in self.relations[event_id] if r.relation_id != relation_id]

    async def close(self) -> None:
        pass

    # ------------------------------------------------------------------------------------- internals

    def _check(self, operation: str, event_id: str | None = None, if_version: str | None = None) -> None:
        self.calls[operation] += 1
        if operation in self.refuse:
            raise RefusedError(Side.SALESFORCE, self.refuse.pop(operation))
        if event_id is None:
            return
        if event_id not in self.events:
            raise NotFoundError(Side.SALESFORCE, event_id)
        if self.meanwhile.get(event_id):
            self.meanwhile[event_id].pop(0)()
        if event_id in self.conflict_once:
            self.conflict_once.discard(event_id)
            raise ConflictError(Side.SALESFORCE, event_id)
        if if_version is not None and version_stamp(if_version) != self.events[event_id].get(
            "SystemModstamp"
        ):
            raise ConflictError(Side.SALESFORCE, event_id)

    def _stamp(self, event_id: str) -> str:
        now = self.clock.tick()
        version = now.isoformat()
        fields = self.events[event_id]
        fields.update(SystemModstamp=version, LastModifiedDate=version)
        first, minutes = fields.get("ActivityDate"), fields.get("DurationInMinutes")
        if fields.get("IsAllDayEvent") and isinstance(first, str) and isinstance(minutes, int):
            # As Salesforce does: an all-day event's span also reads as midnights UTC, the last day inclusive.
            start = datetime.fromisoformat(first).replace(tzinfo=UTC)
            last = start + timedelta(days=max(1, minutes // 1440) - 1)
            fields.update(StartDateTime=start.isoformat(), EndDateTime=last.isoformat())
        return version

    def _stamps(self, event_id: str) -> dict[str, object]:
        fields = self.events[event_id]
        return {"SystemModstamp": fields["SystemModstamp"], "LastModifiedDate": fields["LastModifiedDate"]}

    def _record(self, event_id: str) -> EventRecord:
        return EventRecord(dict(self.events[event_id]), tuple(self.relations[event_id]))

    def _emit_relation(self, event_id: str, kind: ChangeType) -> None:
        position = StreamPosition(SF_STREAM, f"{next(self._replay):08x}")
        change = EventChange(
            "EventRelation",
            kind,
            (f"0RE{event_id}",),
            {"EventId": event_id},
            frozenset(),
            self.clock.now,
            position,
        )
        self._stream.put_nowait(change)

    def _emit(
        self, event_id: str, kind: ChangeType, fields: dict[str, object], *, echo: bool, transaction: str = ""
    ) -> None:
        position = StreamPosition(SF_STREAM, f"{next(self._replay):08x}")
        change = EventChange(
            "Event", kind, (event_id,), fields, frozenset(), self.clock.now, position, echo, transaction
        )
        self._stream.put_nowait(change)


def _readable(fields: Mapping[str, object]) -> dict[str, object]:
    """The fields of a write that a read gives back: Salesforce takes `EventWhoIds` (Shared Activities) on a
    write and never returns it on a read (the runtime's stored records leave it out too)."""
    return {name: value for name, value in fields.items() if name != "EventWhoIds"}


class MemoryMailbox:
    """Calendars of many mailboxes with a change log per mailbox for `sync`, and notices."""

    def __init__(self, clock: Clock | None = None, zones: Mapping[str, str] | None = None) -> None:
        self.clock = clock or Clock()
        self.items: dict[str, dict[str, ExchangeItem]] = defaultdict(dict)
        self.log: dict[str, list[tuple[str, bool]]] = defaultdict(list)  # (item id, deleted)
        self.zones = dict(zones or {})
        self.calls: dict[str, int] = defaultdict(int)
        self.refuse: dict[str, str] = {}
        self.refuse_items: dict[str, str] = {}  # item id -> message: every write of it is refused
        # Item id -> a person's changes, each run as the bridge's next write of that item arrives, before
        # its version is checked: a change made at that moment wins the race.
        self.meanwhile: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self.refuse_sync_state: set[str] = set()
        # As EWS SyncFolderItems and Graph delta: a sync state reports deleted only the items it knew, so
        # an item made and deleted after it is never reported (off: every deletion logged is reported, which
        # hides the cases where the runtime must find such a deletion itself).
        self.reports_only_known = True
        self.page_size = 50
        self._ids = itertools.count(1)
        self._notices: asyncio.Queue[MailboxNotice] = asyncio.Queue()
        self.watched: set[str] = set()

    # ------------------------------------------------------------------------- as a person changes it

    def put_item(self, mailbox: str, subject: str, start: datetime, end: datetime, **more: Any) -> str:
        item_id = f"AAMk{next(self._ids):08d}"
        values: dict[str, Any] = {"uid": f"uid-{item_id}", **more}
        item = ExchangeItem(
            item_id=item_id,
            change_key="",
            subject=subject,
            start=start,
            end=end,
            last_modified_time=self.clock.now,
            **values,
        )
        self.items[mailbox][item_id] = item
        self._stamp(mailbox, item_id)
        return item_id

    def edit_item(self, mailbox: str, item_id: str, **changes: Any) -> None:
        self.items[mailbox][item_id] = replace(self.items[mailbox][item_id], **changes)
        self._stamp(mailbox, item_id)

    def remove_item(self, mailbox: str, item_id: str) -> None:
        del self.items[mailbox][item_id]
        self._changed(mailbox, item_id, deleted=True)

    def pending(self) -> list[MailboxNotice]:
        """The notices not consumed yet, taken: for tests that run the runtime step by step."""
        taken = []
        while not self._notices.empty():
            taken.append(self._notices.get_nowait())
        return taken

    # ---------------------------------------------------------------------------------------- the port

    async def notices(self, mailboxes: Collection[str]) -> AsyncIterator[MailboxNotice]:
        self.watched.update(mailboxes)
        while True:
            notice = await self._notices.get()
            if notice.mailbox in self.watched:
                yield notice

    async def watch(self, mailbox: str) -> None:
        self.watched.add(mailbox)

    async def unwatch(self, mailbox: str) -> None:
        self.watched.discard(mailbox)

    async def sync(
        self, mailbox: str, sync_state: str | None, known: Mapping[str, str] | None = None
    ) -> MailboxChanges:
        self.calls["sync"] += 1
        if sync_state in self.refuse_sync_state:
            raise StreamGapError(f"sync state {sync_state} refused")
        start = int(sync_state) if sync_state else 0
        log = self.log[mailbox]
        end = min(len(log), start + self.page_size)
        changed: dict[str, ExchangeItem] = {}
        deleted: list[str] = []
        listed: dict[str, bool] = {}  # item id -> whether the state knew it (last logged as present)
        if self.reports_only_known:
            for item_id, gone in log[:start]:
                listed[item_id] = not gone
        for item_id, gone in log[start:end]:
            current = self.items[mailbox].get(item_id)
            if (gone or current is None) and self.reports_only_known and not listed.get(item_id):
                changed.pop(item_id, None)
                continue
            if gone or current is None:
                changed.pop(item_id, None)
                if item_id not in deleted:
                    deleted.append(item_id)
            else:
                changed[item_id] = current
                if item_id in deleted:
                    deleted.remove(item_id)
        # As EWS: an item at the version the caller knows is listed, not read.
        unchanged = [i for i, item in changed.items() if (known or {}).get(i) == item.change_key]
        return MailboxChanges(
            tuple(item for i, item in changed.items() if i not in unchanged),
            tuple(deleted),
            str(end),
            more=end < len(log),
            unchanged=tuple(unchanged),
        )

    async def read_items(self, mailbox: str, item_ids: Collection[str]) -> dict[str, ExchangeItem]:
        self.calls["read_items"] += 1
        return {i: self.items[mailbox][i] for i in item_ids if i in self.items[mailbox]}

    async def window_items(self, mailbox: str, start: datetime, end: datetime) -> list[ExchangeItem]:
        self.calls["window_items"] += 1
        found = []
        for item in self.items[mailbox].values():
            first, last = item.start, item.end
            if isinstance(first, datetime) and isinstance(last, datetime):
                if last > start and first < end:
                    found.append(item)
            else:
                found.append(item)
        return sorted(found, key=lambda i: i.item_id)

    async def time_zone(self, mailbox: str) -> str:
        return self.zones.get(mailbox, "UTC")

    async def create_item(
        self, mailbox: str, fields: Mapping[str, object], categories: Sequence[str], send_invitations: bool
    ) -> Written:
        self._check("create_item", mailbox)
        item_id = f"AAMk{next(self._ids):08d}"
        values: dict[str, Any] = dict(fields)
        item = ExchangeItem(
            item_id=item_id,
            change_key="",
            last_modified_time=self.clock.now,
            uid=f"uid-{item_id}",
            categories=tuple(categories),
            **values,
        )
        self.items[mailbox][item_id] = item
        version = self._stamp(mailbox, item_id)
        return Written(item_id, version, item.uid)

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
        self._check("update_item", mailbox, item_id, if_version)
        current = self.items[mailbox][item_id]
        categories = [c for c in current.categories if c not in remove_categories]
        categories += [c for c in add_categories if c not in categories]
        values: dict[str, Any] = dict(fields)
        self.items[mailbox][item_id] = replace(current, categories=tuple(categories), **values)
        version = self._stamp(mailbox, item_id)
        return Written(item_id, version, current.uid)

    async def delete_item(
        self, mailbox: str, item_id: str, if_version: str | None, send_cancellations: bool
    ) -> None:
        self._check("delete_item", mailbox, item_id, if_version)
        self.remove_item(mailbox, item_id)

    async def close(self) -> None:
        pass

    # ------------------------------------------------------------------------------------- internals

    def _check(
        self, operation: str, mailbox: str, item_id: str | None = None, if_version: str | None = None
    ) -> None:
        self.calls[operation] += 1
        if operation in self.refuse:
            raise RefusedError(Side.EXCHANGE, self.refuse.pop(operation))
        if item_id is None:
            return
        if item_id in self.refuse_items:
            raise RefusedError(Side.EXCHANGE, self.refuse_items[item_id])
        if item_id in self.items[mailbox] and self.meanwhile.get(item_id):
            self.meanwhile[item_id].pop(0)()
        current = self.items[mailbox].get(item_id)
        if current is None:
            raise NotFoundError(Side.EXCHANGE, item_id)
        if if_version is not None and if_version != current.change_key:
            raise ConflictError(Side.EXCHANGE, item_id)

    def _stamp(self, mailbox: str, item_id: str) -> str:
        version = f"ck{next(self._ids):08d}"
        item = self.items[mailbox][item_id]
        self.items[mailbox][item_id] = replace(item, change_key=version, last_modified_time=self.clock.tick())
        self._changed(mailbox, item_id, deleted=False)
        return version

    def _changed(self, mailbox: str, item_id: str, *, deleted: bool) -> None:
        self.log[mailbox].append((item_id, deleted))
        self._notices.put_nowait(MailboxNotice(mailbox, (item_id,), self.clock.now))
