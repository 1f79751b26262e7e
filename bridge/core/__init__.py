"""The sync core: what happens to a pair of copies, decided without I/O.

Theory
======

A *pair* is a Salesforce Event and an Exchange calendar item that the bridge keeps in step. The store
keeps one status row per pair, a `PairState`: both ids, the meeting's UID, the item *kind* of SPEC §8
(A-E), the side the pair began on, the versions the bridge last saw or wrote, the issues open on it, and
the *base*: each side's canonical content as it was when the pair was last in step. The base is kept per
side because the sides may rightly differ (a masked private item, a description that stays where it was
edited, a subject cut to 255 characters, attendees Salesforce cannot hold); a side has changed exactly
when its content differs from its own base.

The runtime reads copies and reports an *observation*: `Changed` (the current copies), `Deleted`,
`LeftWindow`, `CategoryRemoved`, `UnsyncRequested`, `UserSwitchedOff`, `Cancelled`, `SyncNow`,
`WriteFailed`. `plan(state, observation, policy, now)` returns a `Plan`: commands (create, update or
delete on either side, attendee relations, categories, issues) and the state to store once they all
succeeded. Nothing else decides; the runtime executes.

A plan for a changed pair runs in this order, each step a table or a small pure function:

1. Replay: copies whose versions are the ones already recorded change nothing (R-MERGE-4).
2. Lifecycle: cancelled, `Salesforce Unsync`, out of the window -> the R-DEL table (`deletion`).
3. Echo: a copy at a version the bridge wrote is the base (R-MERGE-3); its content adds no change.
4. Limits: a cause from SPEC §11 stops the sync of the pair and raises the issue (`scope`, `issues`).
5. Merge: field by field, three-way, later-modified wins, tie to `tie_winner` (`merge`); attendees
   asymmetrically (`attendees`); private masks and the safe description on top.
6. Build: at most one conditional write per record, checked against the version the plan read
   (R-MERGE-5), with category changes folded into the item's write (`builder`).

An unpaired copy is first offered to `match_unpaired` with every other unpaired copy of the user
(recovery by the stored ids, then adoption by subject and time, duplicates refused; child events never
take part). Pairs found are planned as `Changed(sf=..., ex=...)` with no state, and adopted unless one
copy is never synced (`scope.never_synced`: a series, a cancelled or unsynced item, another user's
event), in which case nothing is written for either; a pair recovered by its stored ids whose one copy is
the mask of the other, private, keeps it as its mask (`private.recovered_mask`, R-PRIV-1); duplicates as
`Changed(..., duplicate=True)`; the rest alone: created on the other side if `scope` admits it, or kept
`WAITING` with the issue that says why.
Ids and the UID of records a plan creates are unknown when it is made: commands name them
`Created.EVENT_ID`, `Created.ITEM_ID` and `Created.ITEM_UID` (as an id or as a field value), and the
runtime fills them in and records new versions with `PairState.after_write`, so that its own writes are
recognised when they come back. A tombstoned pair
(`PairStatus.ENDED`) comes back only through the `Salesforce` category. Deletions of a whole pass go
through `guard_deletions` before anything runs.

The invariant
=============

A recorded version means the base equals that copy: when `PairState.sf_version` (`ex_version`) is set,
`base_sf` (`base_ex`) is the content of the event (item) at that version. Everything above leans on it:
a copy read at a recorded version is no change (replay, echo), and a side not read this time stands in
as its base. So a plan records a version only together with the content it read or wrote at that
version; a plan that does not merge (a limit holds, the pair pauses or ends) keeps the versions that
match its bases and checks its own writes against the versions it just read. `PairState` refuses a
version without a base, and the state-machine test checks the invariant against both sides' records
after every step.

Where SPEC.md lives
===================

    §1  fields    R-FLD   fields (both directions), html, zones
    §2  scope     R-SCOPE scope (window, direction, filters, exclusions, opt-in, unanswered, child)
    §3  pairing   R-PAIR  pairing (recovery, adoption key, duplicates), plan._adopt (copies in scope,
                          scope.never_synced), plan._heal_pairing
    §4  merge     R-MERGE merge (three-way, tie), plan (replay, echo), commands (if_version)
    §5  attendees R-ATT   attendees (asymmetry, answers, resolution, Who), fields (status maps)
    §6  private   R-PRIV  merge (mask, skip, full)
    §7  desc.     R-DESC  merge (safe description)
    §8  deletion  R-DEL   deletion (the table), lifecycle (its commands), guard (R-DEL-10)
    §9  categories R-CAT  builder (only the bridge's categories move), lifecycle
    §10 several   R-MULTI pairing.meeting_owner, scope (join or wait), plan._shared
    §11 limits    R-LIM   issues, scope.limit_issue, fields.fit_salesforce
    storage       R-TIME-2 serial (a PairState as versioned JSON-safe data, keyed by PairState.key)
    §15 series    R-REC   patterns (the canonical pattern), patterns_rrule / patterns_ews (each
                          service's terms), patterns_dates (expansion), series (occurrences by original
                          start), series_plan (create, hold, merge), series_rebuild (R-REC-4/5),
                          series_occurrences (R-REC-2/3/4), series_expand (R-REC-6)

The core imports nothing but the standard library and itself.
"""

from bridge.core.commands import (
    AddAttendeeRelation,
    Cancelled,
    CategoryRemoved,
    Changed,
    CloseIssue,
    Command,
    Created,
    CreateEvent,
    CreateItem,
    Deleted,
    DeleteEvent,
    DeleteItem,
    LeftWindow,
    Observation,
    Plan,
    RaiseIssue,
    RecordId,
    RemoveAttendeeRelation,
    SyncNow,
    UnsyncRequested,
    UpdateAttendeeStatus,
    UpdateEvent,
    UpdateItem,
    UserSwitchedOff,
    WriteFailed,
)
from bridge.core.guard import GuardedPass, guard_deletions
from bridge.core.issues import Issue, IssueCode, Severity
from bridge.core.model import (
    AllDay,
    Attendee,
    Content,
    Copy,
    Direction,
    Directory,
    Filter,
    Held,
    Invitations,
    Kind,
    MeetingContext,
    PairState,
    PairStatus,
    Policy,
    PrivatePolicy,
    Relation,
    RelationKind,
    Response,
    ShowAs,
    Side,
    Timed,
    Tombstone,
)
from bridge.core.pairing import Matching, match_unpaired, meeting_owner
from bridge.core.plan import plan
from bridge.core.serial import state_from_dict, state_to_dict

__all__ = [
    "AddAttendeeRelation",
    "AllDay",
    "Attendee",
    "Cancelled",
    "CategoryRemoved",
    "Changed",
    "CloseIssue",
    "Command",
    "Content",
    "Copy",
    "CreateEvent",
    "CreateItem",
    "Created",
    "DeleteEvent",
    "DeleteItem",
    "Deleted",
    "Direction",
    "Directory",
    "Filter",
    "GuardedPass",
    "Held",
    "Invitations",
    "Issue",
    "IssueCode",
    "Kind",
    "LeftWindow",
    "Matching",
    "MeetingContext",
    "Observation",
    "PairState",
    "PairStatus",
    "Plan",
    "Policy",
    "PrivatePolicy",
    "RaiseIssue",
    "RecordId",
    "Relation",
    "RelationKind",
    "RemoveAttendeeRelation",
    "Response",
    "Severity",
    "ShowAs",
    "Side",
    "SyncNow",
    "Timed",
    "Tombstone",
    "UnsyncRequested",
    "UpdateAttendeeStatus",
    "UpdateEvent",
    "UpdateItem",
    "UserSwitchedOff",
    "WriteFailed",
    "guard_deletions",
    "match_unpaired",
    "meeting_owner",
    "plan",
    "state_from_dict",
    "state_to_dict",
]
