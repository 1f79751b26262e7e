"""The canonical model: what the core knows about a pair, as frozen values.

Everything here is immutable and compares by value, so a plan is a pure function of its inputs and two
runs over the same inputs give equal plans.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from bridge.core.issues import HOLDING, IssueCode


class Side(StrEnum):
    SALESFORCE = "salesforce"
    EXCHANGE = "exchange"

    @property
    def other(self) -> Side:
        return Side.EXCHANGE if self is Side.SALESFORCE else Side.SALESFORCE


class ShowAs(StrEnum):
    BUSY = "busy"
    OUT_OF_OFFICE = "out_of_office"
    FREE = "free"


class Response(StrEnum):
    """An attendee's answer as Salesforce can hold it; Exchange's six answers fold onto these (R-ATT-5)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    UNDECIDED = "undecided"


class RelationKind(StrEnum):
    """What a Salesforce EventRelation points at, in the order an address resolves (R-ATT-8)."""

    USER = "user"
    CONTACT = "contact"
    LEAD = "lead"


class Kind(StrEnum):
    """Item kinds of SPEC §8: they decide what deleting or unsyncing does (the R-DEL table)."""

    A = "A"  # appointment created in Exchange
    B = "B"  # appointment created in Salesforce
    C = "C"  # meeting organized by the user
    D = "D"  # meeting with an external organizer
    E = "E"  # meeting with an internal organizer who is enrolled


class Direction(StrEnum):
    BOTH = "both"
    TO_EXCHANGE = "to_exchange"
    TO_SALESFORCE = "to_salesforce"

    def allows(self, source: Side) -> bool:
        """Whether changes made on `source` travel to the other side (R-SCOPE-2)."""
        if self is Direction.BOTH:
            return True
        return (self is Direction.TO_EXCHANGE) == (source is Side.SALESFORCE)


class Filter(StrEnum):
    ALL = "all"
    MEETINGS = "meetings"
    LINKED = "linked"
    EXISTING = "existing"


class PrivatePolicy(StrEnum):
    MASK = "mask"
    SKIP = "skip"
    FULL = "full"


class Invitations(StrEnum):
    NONE = "none"
    INTERNAL = "internal"  # only when every attendee is internal (R-ATT-12)
    ALL = "all"


class PairStatus(StrEnum):
    WAITING = "waiting"  # one copy seen, not synced yet (an issue says why)
    ACTIVE = "active"
    OUT_OF_WINDOW = "out_of_window"  # paired, but left the window (R-DEL-4): resumes when it comes back
    ENDED = "ended"  # a tombstone (R-DEL-9)


@dataclass(frozen=True, slots=True)
class Timed:
    """A timed span: aware UTC datetimes, exact to the second (R-FLD-2)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class AllDay:
    """An all-day span: calendar dates in the mailbox time zone, `end` exclusive."""

    first: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.first).days


When = Timed | AllDay


@dataclass(frozen=True, slots=True)
class Relation:
    """A Salesforce record an address resolved to."""

    relation_id: str
    kind: RelationKind
    owned_by_user: bool = False


@dataclass(frozen=True, slots=True)
class Attendee:
    """One attendee, keyed by lower-case address. Salesforce copies also carry the relation behind it."""

    email: str
    response: Response = Response.UNDECIDED
    relation: Relation | None = None
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Content:
    """The synced fields of one copy in canonical form (SPEC §1). Attendees are sorted by address."""

    subject: str
    when: When
    description: str = ""
    location: str = ""
    show_as: ShowAs = ShowAs.BUSY
    private: bool = False
    attendees: tuple[Attendee, ...] = ()


SCALAR_FIELDS: tuple[str, ...] = ("subject", "when", "description", "location", "show_as", "private")


@dataclass(frozen=True, slots=True)
class Copy:
    """What the bridge read of one side: the content plus the facts around it.

    `version` is what a conditional write is checked against (ChangeKey, or Salesforce's
    LastModifiedDate/SystemModstamp); `modified` decides conflicts (R-MERGE-2); `paired_id` is the other
    side's id stored on this copy (R-PAIR-1); `organizer` is None when the user organizes it.
    """

    side: Side
    id: str
    version: str
    modified: datetime
    content: Content
    paired_id: str | None = None
    uid: str | None = None
    categories: frozenset[str] = frozenset()
    organizer: str | None = None
    owner_id: str | None = None
    who_ids: tuple[str, ...] = ()
    my_response: str | None = None
    is_meeting: bool = False
    is_child: bool = False
    is_recurring: bool = False
    is_cancelled: bool = False
    problem: IssueCode | None = None  # a mapping problem found while reading (E-TIMEZONE)

    @property
    def meeting(self) -> bool:
        return self.is_meeting or bool(self.content.attendees)


@dataclass(frozen=True, slots=True)
class Policy:
    """One user's settings, with the defaults of SPEC.md."""

    user_id: str = ""
    user_email: str = ""
    mailbox_time_zone: str = "UTC"
    direction: Direction = Direction.BOTH
    filter_to_exchange: Filter = Filter.ALL
    filter_to_salesforce: Filter = Filter.ALL
    past_days: int = 30
    future_days: int = 60
    private: PrivatePolicy = PrivatePolicy.MASK
    safe_description: bool = True
    continuous_attendees: bool = True
    invitations: Invitations = Invitations.NONE
    tie_winner: Side = Side.SALESFORCE
    delete_in_exchange: bool = False
    sync_internal: bool = False
    sync_unanswered: bool = False
    blocked_categories: frozenset[str] = frozenset({"Personal"})
    internal_domains: frozenset[str] = frozenset()
    shared_activities: bool = True
    sync_category: str = "Salesforce"
    unsync_category: str = "Salesforce Unsync"
    error_category: str = "Sync Error"
    mass_delete_min: int = 10
    mass_delete_fraction: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.past_days <= 365:
            raise ValueError(f"past_days must be 0..365, got {self.past_days}")
        if not 0 <= self.future_days <= 730:
            raise ValueError(f"future_days must be 0..730, got {self.future_days}")

    @property
    def past(self) -> timedelta:
        return timedelta(days=self.past_days)

    @property
    def future(self) -> timedelta:
        return timedelta(days=self.future_days)

    def is_internal(self, address: str) -> bool:
        domain = address.rpartition("@")[2].lower()
        return domain in {d.lower() for d in self.internal_domains}


@dataclass(frozen=True, slots=True)
class Tombstone:
    """Why and when a pair ended; it is never re-created automatically (R-DEL-9)."""

    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Held:
    """A copy read while a limit held its pair (R-LIM-2): its edits are not in the base yet, and stand in
    for that side until they are merged, so that nothing edited meanwhile is lost."""

    side: Side
    version: str
    modified: datetime
    content: Content


@dataclass(frozen=True, slots=True)
class PairState:
    """The status row of one pair, kept by the store between plans.

    `key` names the row for good: fixed when the state is first made and never changed afterwards (plan
    keeps it), so the store can keep a pair that has one id only (a waiting copy) and find it again when
    the other id appears. It is unique among one user's pairs: `sf:<event id>` or `ex:<item id>` of the
    copy the pair began with; an adopted pair (both copies found at once) is keyed by its item, the copy
    that always belongs to this user alone. Left empty, it is made from the ids that way.

    The base is kept per side, because the two sides may rightly differ: a masked private item, a
    description that stays where it was edited, a truncated subject, attendees Salesforce cannot hold.
    A side has changed when its content differs from its base. `sf_version`/`ex_version` are the versions
    the bridge last saw or wrote, under one invariant: a recorded version means the base of that side is
    the content of that side's copy at that version (so a copy read at that version is no change, and a
    side not read is its base). A version the plan cannot vouch for is None (after a write, until the
    runtime records the new one with `after_write`).

    `bridge_category` is whether the bridge put the `Salesforce` category on the item (R-SCOPE-5): only a
    category the user set opts an item in.
    """

    status: PairStatus
    kind: Kind
    origin: Side
    key: str = ""
    sf_id: str | None = None
    ex_id: str | None = None
    uid: str | None = None
    base_sf: Content | None = None
    base_ex: Content | None = None
    sf_version: str | None = None
    ex_version: str | None = None
    masked: Side | None = None
    owns_event: bool = True
    organizer_user_id: str | None = None
    my_status: Response | None = None  # the user's own answer last sent, for a shared event (R-MULTI-3)
    unresolved: frozenset[str] = frozenset()
    open_issues: frozenset[IssueCode] = frozenset()
    tombstone: Tombstone | None = None
    bridge_category: bool = False
    held: tuple[Held, ...] = ()  # at most one per side

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self._first_key())
        for side in Side:
            if self.version_of(side) is not None and (self.base_of(side) is None or not self.id_of(side)):
                raise ValueError(f"pair {self.key}: a {side} version is recorded without its base and id")

    def _first_key(self) -> str:
        if self.sf_id and (self.origin is Side.SALESFORCE or not self.ex_id):
            return "sf:" + self.sf_id
        if self.ex_id:
            return "ex:" + self.ex_id
        raise ValueError("a pair state needs a key or the id of one of its copies")

    def id_of(self, side: Side) -> str | None:
        return self.sf_id if side is Side.SALESFORCE else self.ex_id

    def version_of(self, side: Side) -> str | None:
        return self.sf_version if side is Side.SALESFORCE else self.ex_version

    def base_of(self, side: Side) -> Content | None:
        return self.base_sf if side is Side.SALESFORCE else self.base_ex

    def held_of(self, side: Side) -> Held | None:
        return next((held for held in self.held if held.side is side), None)

    @property
    def holding(self) -> bool:
        """A limit stops the pair (R-LIM-2): nothing is merged, so writes make no base."""
        return bool(self.open_issues & HOLDING)

    def after_write(self, side: Side, record_id: str, version: str) -> PairState:
        """The state once the runtime has executed a write on `side` and learnt its id and version. The
        plan's base of that side is what the write made, so the version is recorded with it; a side
        without a base (a shared event, a tombstone) tracks no version, and neither does a pair a limit
        holds (its only write is the `Sync Error` category, its bases wait for the merge)."""
        in_step = self.base_of(side) is not None and self.status is not PairStatus.ENDED and not self.holding
        if not in_step:
            return (
                replace(self, sf_id=record_id) if side is Side.SALESFORCE else replace(self, ex_id=record_id)
            )
        keep = version
        if side is Side.SALESFORCE:
            return replace(self, sf_id=record_id, sf_version=keep)
        return replace(self, ex_id=record_id, ex_version=keep)


@dataclass(frozen=True, slots=True)
class MeetingContext:
    """What the runtime knows about other enrolled users' copies of one meeting (R-MULTI, by UID).

    `holders` are the other enrolled users whose pair shares this meeting's event and still has their
    item, in the order they synced: the event passes to the first of them when its owner's copy goes
    (R-MULTI-4)."""

    organizer_user_id: str | None = None  # the organizer, when enrolled
    event_id: str | None = None  # the Salesforce event already synced for this UID, if any
    event_owner_id: str | None = None
    holders: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Directory:
    """Addresses resolved by the runtime: every Salesforce record per lower-case address (R-ATT-8)."""

    entries: tuple[tuple[str, tuple[Relation, ...]], ...] = ()
    _index: dict[str, tuple[Relation, ...]] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {email.lower(): found for email, found in self.entries})

    def lookup(self, email: str) -> tuple[Relation, ...]:
        return self._index.get(email.lower(), ())
