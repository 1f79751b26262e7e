"""Commands: what a plan asks the runtime to do, and observations: what the runtime saw.

Commands carry field values already mapped to the side they are written to (bridge.core.fields), so the
runtime executes them without deciding anything. Every write to an existing record carries the version it
was planned from (R-MERGE-5): the runtime makes the write conditional on it and re-plans on a lost race.
A record created earlier in the same plan is named by a `Created` member, never by None and never by
guessing from a field's name: as a command's id (`UpdateEvent.event_id`, `AddAttendeeRelation.event_id`,
`UpdateItem.item_id`, ...) or as a field value (the pairing fields of R-PAIR-1: the item's
`salesforce_event_id`, the event's `Exchange_Item_Id__c` and `Exchange_UID__c`). The runtime replaces each
member with the id or UID the create returned before it runs the command. `Created` is a plain Enum, not a
str, so a placeholder can never be written to a service by mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from bridge.core.issues import Issue, IssueCode
from bridge.core.model import Copy, Directory, MeetingContext, PairState, Response, Side

FieldValues = Mapping[str, object]


class Created(Enum):
    """Placeholders for values known only once this plan's create command has run. A plan creates at most
    one event and one item."""

    EVENT_ID = "id of the event this plan creates"
    ITEM_ID = "id of the item this plan creates"
    ITEM_UID = "UID of the item this plan creates"


RecordId = str | Created  # an existing record's id, or the record this plan creates


def frozen_fields(values: Mapping[str, object]) -> FieldValues:
    """A read-only copy of field values, so commands stay immutable."""
    return MappingProxyType(dict(values))


# ---------------------------------------------------------------------------------------------- commands


class Command:
    """Base class of everything a plan can contain."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class CreateEvent(Command):
    fields: FieldValues
    who_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateEvent(Command):
    event_id: RecordId
    if_version: str | None
    fields: FieldValues


@dataclass(frozen=True, slots=True)
class DeleteEvent(Command):
    event_id: RecordId
    if_version: str | None


@dataclass(frozen=True, slots=True)
class CreateItem(Command):
    fields: FieldValues
    categories: tuple[str, ...]
    send_invitations: bool = False


@dataclass(frozen=True, slots=True)
class UpdateItem(Command):
    """Field changes and category changes of one item in one conditional write (R-CAT-1: only the
    named categories are added or removed; the user's others stay)."""

    item_id: RecordId
    if_version: str | None
    fields: FieldValues = field(default_factory=lambda: frozen_fields({}))
    add_categories: tuple[str, ...] = ()
    remove_categories: tuple[str, ...] = ()
    send_invitations: bool = False


@dataclass(frozen=True, slots=True)
class DeleteItem(Command):
    item_id: RecordId
    if_version: str | None
    send_cancellations: bool = False


@dataclass(frozen=True, slots=True)
class AddAttendeeRelation(Command):
    event_id: RecordId
    relation_id: str
    status: Response


@dataclass(frozen=True, slots=True)
class UpdateAttendeeStatus(Command):
    event_id: RecordId
    relation_id: str
    status: Response


@dataclass(frozen=True, slots=True)
class RemoveAttendeeRelation(Command):
    event_id: RecordId
    relation_id: str


@dataclass(frozen=True, slots=True)
class RaiseIssue(Command):
    issue: Issue


@dataclass(frozen=True, slots=True)
class CloseIssue(Command):
    code: IssueCode
    sf_id: str | None
    ex_id: str | None


WRITES_SALESFORCE = (
    CreateEvent,
    UpdateEvent,
    DeleteEvent,
    AddAttendeeRelation,
    UpdateAttendeeStatus,
    RemoveAttendeeRelation,
)
WRITES_EXCHANGE = (CreateItem, UpdateItem, DeleteItem)
DELETIONS = (DeleteEvent, DeleteItem)


@dataclass(frozen=True, slots=True)
class Plan:
    """The commands to run, in order, and the pair state to store once they succeeded (None: forget)."""

    commands: tuple[Command, ...]
    state: PairState | None

    @property
    def writes(self) -> tuple[Command, ...]:
        return tuple(c for c in self.commands if isinstance(c, WRITES_SALESFORCE + WRITES_EXCHANGE))


# ------------------------------------------------------------------------------------------ observations


class Observation:
    """Base class of what the runtime reports about one pair."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Changed(Observation):
    """The current copies. A side is None when it was not read this time: it is then taken as unchanged.
    A copy that is gone is reported with `Deleted`, never as None. `duplicate` marks an unpaired copy
    that `match_unpaired` found sharing its key (R-PAIR-3)."""

    sf: Copy | None = None
    ex: Copy | None = None
    directory: Directory = field(default_factory=Directory)
    meeting: MeetingContext | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class SyncNow(Changed):
    """Like Changed, but the copies are compared even when their versions are the ones already seen
    (R-TIME-5)."""


@dataclass(frozen=True, slots=True)
class Deleted(Observation):
    """The copy on `side` is gone (an item moved out of the calendar counts, R-DEL-11). `meeting` tells
    who else holds the meeting when the runtime knows (R-MULTI-4)."""

    side: Side
    meeting: MeetingContext | None = None


@dataclass(frozen=True, slots=True)
class LeftWindow(Observation):
    pass


@dataclass(frozen=True, slots=True)
class CategoryRemoved(Observation):
    pass


@dataclass(frozen=True, slots=True)
class UnsyncRequested(Observation):
    pass


@dataclass(frozen=True, slots=True)
class UserSwitchedOff(Observation):
    pass


@dataclass(frozen=True, slots=True)
class Cancelled(Observation):
    """The organizer cancelled the meeting (R-DEL-8)."""


@dataclass(frozen=True, slots=True)
class WriteFailed(Observation):
    """A planned write was refused (for Salesforce: a validation rule or required field). The runtime
    keeps the state from before the refused plan, so the next change plans the same writes again."""

    side: Side
    message: str
