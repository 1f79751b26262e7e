"""What the runtime needs from the world, as Protocols; the adapters implement them.

The runtime (`bridge.runtime`) depends on these names only: `SalesforcePort` (bridge.salesforce),
`MailboxPort` (bridge.exchange.ews, later bridge.exchange.graph) and `Store` (bridge.store). Tests of the
runtime use the real adapters against the sandboxes; the core's state machine drives the same executor
over in-memory ports.

Records cross these ports in each service's own terms, the terms `bridge.core.fields` maps:
- a Salesforce event is an `EventRecord`: the Event's REST fields and its invitee relations;
- an Exchange item is a `bridge.core.fields.ExchangeItem`.

Versions. A Salesforce event's version is its `LastModifiedDate` (ISO, as REST gives it and as a change event
carries it; the condition of `If-Unmodified-Since`), joined with the newest relation time when relations
changed later (adding an EventRelation does not touch the Event). An Exchange item's version is its ChangeKey.

Every method may raise the errors of `bridge.errors`; nothing else escapes an adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from bridge.core.fields import EX_EVENT_ID_FIELD, ExchangeItem, SalesforceRelation
from bridge.core.model import Directory, PairState, Response, Side
from bridge.core.series import SeriesState

# ------------------------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A Salesforce Event as the bridge last knew it: REST field names (`Id`, `OwnerId`, `Subject`,
    `StartDateTime`, ..., `LastModifiedDate`, the pairing fields) and its invitee relations."""

    fields: Mapping[str, object]
    relations: tuple[SalesforceRelation, ...] = ()

    @property
    def id(self) -> str:
        return str(self.fields["Id"])

    @property
    def owner_id(self) -> str | None:
        owner = self.fields.get("OwnerId")
        return str(owner) if owner else None


# The item fields a command may carry, in exchangelib attribute terms: what `bridge.core.fields`'s
# `exchange_fields` gives, the IANA zone of the item's start and end, and the pairing field. Every MailboxPort
# takes exactly these on create and update.
ITEM_COMMAND_FIELDS = frozenset(
    {
        *("subject", "start", "end", "is_all_day", "body", "body_type", "location"),
        *("legacy_free_busy_status", "sensitivity", "required_attendees", "optional_attendees"),
        *("time_zone", EX_EVENT_ID_FIELD),
    }
)


@dataclass(frozen=True, slots=True)
class Written:
    """What a write returned: the record's id, its new version when the service says it (None when only a
    later read or the echo of the write will tell), and an item's UID."""

    id: str
    version: str | None = None
    uid: str | None = None


# ------------------------------------------------------------------------------------ Salesforce stream


class ChangeType(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    UNDELETE = "UNDELETE"


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a stream resumes: a Pub/Sub topic's replay id (bytes, kept as hex) or a mailbox's sync state."""

    stream: str  # "sf:/data/EventChangeEvent", "ex:<mailbox address>", ...
    value: str


@dataclass(frozen=True, slots=True)
class EventChange:
    """One Event or EventRelation change event, decoded. `fields` holds the body's non-null fields plus
    the nulled ones (as None), in REST names; for an update only what changed. An echo of the bridge's own
    write (`changeOrigin` carries our client id) has `echo=True`: it updates the stored copy only."""

    entity: str  # "Event" or "EventRelation"
    change_type: ChangeType
    record_ids: tuple[str, ...]
    fields: Mapping[str, object]
    diff_fields: frozenset[str]  # fields sent as a diff: the stored copy cannot apply them; re-read
    committed_at: datetime
    position: StreamPosition
    echo: bool = False
    transaction_key: str = ""


class GapKind(StrEnum):
    GAP = "gap"  # a GAP_* event: these records changed, the content is unknown: re-read them
    OVERFLOW = "overflow"  # GAP_OVERFLOW: too many changes: reconcile every user
    REPLAY_EXPIRED = "replay_expired"  # the stored replay id is past retention: reconcile, then LATEST


@dataclass(frozen=True, slots=True)
class StreamGap:
    entity: str
    kind: GapKind
    record_ids: tuple[str, ...]
    position: StreamPosition | None


class CommandKind(StrEnum):
    SYNC_NOW = "sync_now"
    CONFIRM = "confirm"
    BACKFILL = "backfill"


@dataclass(frozen=True, slots=True)
class BridgeCommand:
    """A `Calbridge_Command__e` platform event."""

    kind: CommandKind
    user_id: str | None
    event_id: str | None
    requested_by: str | None
    position: StreamPosition


SalesforceNotice = EventChange | StreamGap | BridgeCommand


# ---------------------------------------------------------------------------------------- Exchange stream


@dataclass(frozen=True, slots=True)
class MailboxNotice:
    """Something changed in `mailbox`'s calendar (a streaming notification): read it with `sync`.
    `lost=True` says the subscription was lost and the catch-up must not trust the notice stream alone."""

    mailbox: str
    item_ids: tuple[str, ...] = ()
    committed_at: datetime | None = None
    lost: bool = False


@dataclass(frozen=True, slots=True)
class MailboxChanges:
    """One SyncFolderItems page: items created or changed (read with the fields the core needs), ids gone
    (deleted or moved out of the calendar, R-DEL-11), the new sync state, and whether more pages follow."""

    changed: tuple[ExchangeItem, ...]
    deleted: tuple[str, ...]
    sync_state: str
    more: bool = False
    unchanged: tuple[str, ...] = ()  # listed as changed, but at the ChangeKey the caller knew: not read


# ------------------------------------------------------------------------------------------------ ports


class SalesforcePort(Protocol):
    def notices(self, resume: Mapping[str, str]) -> AsyncIterator[SalesforceNotice]:
        """Change events and commands from every topic the bridge reads, resuming from the positions in
        `resume` (stream name -> replay id hex; LATEST where absent). Reconnects on its own; yields a
        `StreamGap(REPLAY_EXPIRED)` when a stored replay id is refused, then continues from LATEST."""
        ...

    async def read_events(self, event_ids: Collection[str]) -> dict[str, EventRecord]:
        """The events with their relations; an id missing from the answer is deleted."""
        ...

    async def window_events(
        self, owner_ids: Collection[str], start: datetime, end: datetime
    ) -> dict[str, list[EventRecord]]:
        """Every event of these owners overlapping [start, end), child events included (the core skips
        them), grouped by owner. Batched: one SOQL for many owners."""
        ...

    async def resolve(self, emails: Collection[str]) -> Directory:
        """Users, Contacts and Leads by email (R-ATT-8), batched and cached."""
        ...

    async def create_event(self, fields: Mapping[str, object], who_ids: Sequence[str]) -> Written: ...

    async def update_event(
        self, event_id: str, if_version: str | None, fields: Mapping[str, object]
    ) -> Written: ...

    async def delete_event(self, event_id: str, if_version: str | None) -> None: ...

    async def add_relation(self, event_id: str, relation_id: str, status: Response) -> None: ...

    async def update_relation(self, event_id: str, relation_id: str, status: Response) -> None: ...

    async def remove_relation(self, event_id: str, relation_id: str) -> None: ...

    async def close(self) -> None: ...


class MailboxPort(Protocol):
    def notices(self, mailboxes: Collection[str]) -> AsyncIterator[MailboxNotice]:
        """Streaming notifications for these mailboxes, re-subscribing when a subscription is lost (then a
        notice with `lost=True`). `watch`/`unwatch` change the set while it runs."""
        ...

    async def watch(self, mailbox: str) -> None: ...

    async def unwatch(self, mailbox: str) -> None: ...

    async def sync(
        self, mailbox: str, sync_state: str | None, known: Mapping[str, str] | None = None
    ) -> MailboxChanges:
        """The next page of calendar changes since `sync_state` (None: from the start). A refused state
        raises `StreamGapError`. An item listed at the ChangeKey `known` gives for its id is the version the
        bridge last saw or wrote (most often its own write coming back): a port may list it in `unchanged`
        instead of reading it."""
        ...

    async def read_items(self, mailbox: str, item_ids: Collection[str]) -> dict[str, ExchangeItem]:
        """The items; an id missing from the answer is gone."""
        ...

    async def window_items(self, mailbox: str, start: datetime, end: datetime) -> list[ExchangeItem]: ...

    async def time_zone(self, mailbox: str) -> str:
        """The mailbox's time zone as an IANA name (unmappable Windows ids passed through as they are)."""
        ...

    async def create_item(
        self,
        mailbox: str,
        fields: Mapping[str, object],
        categories: Sequence[str],
        send_invitations: bool,
    ) -> Written: ...

    async def update_item(
        self,
        mailbox: str,
        item_id: str,
        if_version: str | None,
        fields: Mapping[str, object],
        add_categories: Sequence[str],
        remove_categories: Sequence[str],
        send_invitations: bool,
    ) -> Written: ...

    async def delete_item(
        self, mailbox: str, item_id: str, if_version: str | None, send_cancellations: bool
    ) -> None: ...

    async def close(self) -> None: ...


# ------------------------------------------------------------------------------------------------- store


@dataclass(frozen=True, slots=True)
class StoredPair:
    """A pair state as the store keeps it, with the raw copies the bridge last knew of each side (so a
    change event is applied without a read, and an Exchange change is diffed without another)."""

    user_id: str
    state: PairState
    event: EventRecord | None = None
    item: ExchangeItem | None = None


@dataclass(frozen=True, slots=True)
class StoredSeries:
    """A recurring series' state (SPEC §15) as the store keeps it, one row per series and user."""

    user_id: str
    state: SeriesState


@dataclass(frozen=True, slots=True)
class Intent:
    """A write about to be made (R-MERGE-4): recorded before it runs, cleared in the commit that follows.
    A restart that finds one re-reads the pair before planning again, so the write is never doubled."""

    user_id: str
    pair_key: str
    side: Side
    description: str
    token: str


@dataclass(frozen=True, slots=True)
class StoredIssue:
    user_id: str
    code: str
    sf_id: str | None
    ex_id: str | None
    message: str
    first_seen: datetime
    last_seen: datetime
    closed_at: datetime | None = None


@dataclass(slots=True)
class Commit:
    """Everything one plan (or one batch of plans) changes in the store, written in one transaction."""

    user_id: str
    pairs: list[StoredPair] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)  # pair keys whose state the plan dropped
    positions: list[StreamPosition] = field(default_factory=list)
    issues_opened: list[StoredIssue] = field(default_factory=list)
    issues_closed: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # code, sf, ex
    intents_done: list[str] = field(default_factory=list)  # tokens
    series: list[StoredSeries] = field(default_factory=list)
    forget_series: list[str] = field(default_factory=list)  # series keys


class Store(Protocol):
    async def migrate(self) -> None:
        """Create or upgrade the schema (Alembic) to the version this code expects."""
        ...

    async def pairs_of(self, user_id: str) -> list[StoredPair]: ...

    async def claimed_item_ids(self, user_id: str) -> set[str]:
        """The Exchange ids the user's pairs claim (every pair but a waiting one): `pairs_of` without
        decoding a pair, for a pass that only needs to know which items are paired now."""
        ...

    async def pair_by_record(self, side: Side, record_id: str) -> StoredPair | None: ...

    async def pairs_by_uid(self, uid: str) -> list[StoredPair]:
        """Every enrolled user's pair of one meeting (R-MULTI)."""
        ...

    async def pairs_by_uids(self, uids: Collection[str]) -> dict[str, list[StoredPair]]:
        """`pairs_by_uid` of many meetings in one read, by UID (a UID with no pair is left out)."""
        ...

    async def series_of(self, user_id: str) -> list[StoredSeries]:
        """The user's recurring series (SPEC §15), by key."""
        ...

    async def series_by_record(self, side: Side, record_id: str) -> StoredSeries | None:
        """The stored series holding `record_id` on `side` (`SeriesState.holds`), any user's: how a change
        of a row no pair holds, a deleted one above all, finds its user (SPEC §15)."""
        ...

    async def position(self, stream: str) -> str | None: ...

    async def positions(self, prefix: str) -> dict[str, str]: ...

    async def record_intent(self, intent: Intent) -> None: ...

    async def record_intents(self, many: Sequence[Intent]) -> None:
        """Every intent of `many` in one transaction."""
        ...

    async def pending_intents(self, user_id: str | None = None) -> list[Intent]: ...

    async def commit(self, commit: Commit) -> None: ...

    async def issues(self, user_id: str | None = None, *, open_only: bool = True) -> list[StoredIssue]: ...

    async def claim_meetings(self, holder: str, uids: Collection[str], ttl: timedelta) -> set[str]:
        """R-MULTI-1 across processes: claim every one of `uids` (meetings' Exchange UIDs) for `holder`
        until now + `ttl`, all or nothing. A UID never claimed, released, expired or already `holder`'s is
        free (a claim of `holder`'s is renewed); the answer is the UIDs another holder has unexpired, and
        when there are any, nothing was claimed."""
        ...

    async def release_meetings(self, holder: str, uids: Collection[str] | None = None) -> None:
        """`holder`'s claims on `uids` (every one of theirs by default) given up."""
        ...

    async def close(self) -> None: ...
