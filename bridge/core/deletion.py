"""Deleting and unsyncing (SPEC §8, R-DEL) as the table the spec gives.

    action                                      |  A        B        C        D        E
    --------------------------------------------+----------------------------------------------
    R-DEL-1 category `Salesforce` removed       |  restore  restore  restore  restore  restore
    R-DEL-2 deleted in Exchange                 |  del-ev   del-ev   del-ev   del-ev   rm-rel
    R-DEL-3 category `Salesforce Unsync` set    |  del-ev   del-ev   del-ev   del-ev   rm-rel
    R-DEL-4 leaves the window                   |  rm-cat   del-it   rm-cat   rm-cat   rm-cat
    R-DEL-5 deleted in Salesforce               |  rm-cat   del-it   rm-cat   rm-cat   rm-cat
    R-DEL-6 user's sync switched off            |  rm-cat   del-it   rm-cat   rm-cat   rm-cat
    R-DEL-8 cancelled by the organizer          |  -        -        del-ev   del-ev   rm-rel

    restore: category restored      del-ev: event deleted        rm-rel: the user's attendee relation removed
    rm-cat:  category removed       del-it: item deleted

Four rules adjust a cell: R-DEL-7 (`delete_in_exchange`) turns every R-DEL-5 cell into "item deleted"; a
user who shares another enrolled user's event (R-MULTI-1) never deletes it: "event deleted" becomes
"relation removed"; the owner of a kind D event that another enrolled attendee still holds does not delete
it on R-DEL-2/3 but passes it on (R-MULTI-4: "event passed on"; a cancellation still deletes it); and in a
one-way setting (R-SCOPE-2) nothing done in the mirror deletes the source:
a cell that would delete or unlink the source becomes "category removed". Kinds A and B cannot be
cancelled (they have no organizer but the user); E's event belongs to the organizer's pair, which sees the
cancellation itself.
"""

from __future__ import annotations

from enum import StrEnum

from bridge.core.model import Direction, Kind, Policy


class Action(StrEnum):
    CATEGORY_REMOVED = "R-DEL-1"
    DELETED_IN_EXCHANGE = "R-DEL-2"
    UNSYNC_CATEGORY = "R-DEL-3"
    LEFT_WINDOW = "R-DEL-4"
    DELETED_IN_SALESFORCE = "R-DEL-5"
    USER_SWITCHED_OFF = "R-DEL-6"
    CANCELLED = "R-DEL-8"


class Outcome(StrEnum):
    RESTORE_CATEGORY = "category restored"
    DELETE_EVENT = "event deleted"
    REMOVE_RELATION = "the user's attendee relation removed"
    REMOVE_CATEGORY = "category removed"
    DELETE_ITEM = "item deleted"
    PASS_EVENT = "event passed to another enrolled attendee"


_ = Outcome
_RESTORE, _DEL_EV, _RM_REL = _.RESTORE_CATEGORY, _.DELETE_EVENT, _.REMOVE_RELATION
_RM_CAT, _DEL_IT = _.REMOVE_CATEGORY, _.DELETE_ITEM
_KINDS = (Kind.A, Kind.B, Kind.C, Kind.D, Kind.E)
_ROWS: dict[Action, tuple[Outcome | None, ...]] = {
    #                                  A         B         C         D         E
    Action.CATEGORY_REMOVED:      (_RESTORE, _RESTORE, _RESTORE, _RESTORE, _RESTORE),
    Action.DELETED_IN_EXCHANGE:   (_DEL_EV,  _DEL_EV,  _DEL_EV,  _DEL_EV,  _RM_REL),
    Action.UNSYNC_CATEGORY:       (_DEL_EV,  _DEL_EV,  _DEL_EV,  _DEL_EV,  _RM_REL),
    Action.LEFT_WINDOW:           (_RM_CAT,  _DEL_IT,  _RM_CAT,  _RM_CAT,  _RM_CAT),
    Action.DELETED_IN_SALESFORCE: (_RM_CAT,  _DEL_IT,  _RM_CAT,  _RM_CAT,  _RM_CAT),
    Action.USER_SWITCHED_OFF:     (_RM_CAT,  _DEL_IT,  _RM_CAT,  _RM_CAT,  _RM_CAT),
    Action.CANCELLED:             (None,     None,     _DEL_EV,  _DEL_EV,  _RM_REL),
}  # fmt: skip

DELETION_TABLE: dict[tuple[Action, Kind], Outcome | None] = {
    (action, kind): outcome
    for action, row in _ROWS.items()
    for kind, outcome in zip(_KINDS, row, strict=True)
}

_TOUCHES_EVENT = frozenset({Outcome.DELETE_EVENT, Outcome.REMOVE_RELATION, Outcome.PASS_EVENT})
# R-MULTI-4: what the owner of a meeting an outside organizer sent does with their own copy.
_PASSES_ON = frozenset({Action.DELETED_IN_EXCHANGE, Action.UNSYNC_CATEGORY})

# Which actions end the pair for good (R-DEL-9); leaving the window only pauses it.
ENDS_WITH_TOMBSTONE = frozenset(
    {Action.DELETED_IN_EXCHANGE, Action.UNSYNC_CATEGORY, Action.DELETED_IN_SALESFORCE, Action.CANCELLED}
)


def outcome(
    action: Action, kind: Kind, policy: Policy, owns_event: bool = True, others_hold: bool = False
) -> Outcome | None:
    """The cell of the table for `action` and `kind`, after R-DEL-7, the shared-event, R-MULTI-4 and
    one-way rules. `others_hold`: another enrolled attendee still has a copy of this meeting."""
    if action is Action.DELETED_IN_SALESFORCE and policy.delete_in_exchange:
        cell: Outcome | None = Outcome.DELETE_ITEM
    else:
        cell = DELETION_TABLE[(action, kind)]
    if cell is Outcome.DELETE_EVENT and not owns_event:
        cell = Outcome.REMOVE_RELATION
    if cell is Outcome.DELETE_EVENT and kind is Kind.D and others_hold and action in _PASSES_ON:
        cell = Outcome.PASS_EVENT
    if cell in _TOUCHES_EVENT and policy.direction is Direction.TO_EXCHANGE:
        return Outcome.REMOVE_CATEGORY
    if cell is Outcome.DELETE_ITEM and policy.direction is Direction.TO_SALESFORCE:
        return Outcome.REMOVE_CATEGORY
    return cell
