"""How a pair's status changes (`PairStatus`), as one table, the way `deletion` keeps R-DEL.

    cause                                               |  new      waiting  active   out      ended
    ----------------------------------------------------+-----------------------------------------------
    WAIT      seen, not synced yet (an issue says why)  |  waiting  waiting  .        .        .
    DROP      seen, nothing to sync and nothing to say  |  forget   forget   .        .        .
    PAIR      partner created, event joined, adopted    |  active   active   .        .        .
    LEAVE     left the window (R-DEL-4)                 |  .        .        out      .        .
    RETURN    back in the window                        |  .        .        .        active   .
    DELETE    a copy deleted (R-DEL-2, R-DEL-5)         |  .        forget   ended    ended    .
    UNSYNC    unsync category or cancelled (R-DEL-3/8)  |  .        .        ended    .        .
    SCOPE     the item left the scope (R-SCOPE-8)       |  .        .        ended    .        .
    OPT_IN    the `Salesforce` category again (R-DEL-9) |  .        .        .        .        active
    OFF       the user's sync switched off (R-DEL-6)    |  .        forget   forget   forget   forget

    new: no state stored yet    out: OUT_OF_WINDOW    forget: the store drops the pair (no state)
    .: the cause changes nothing in that status (a paused pair ignores an unsync: its item keeps no
       category and is not read; a tombstone ignores everything but the opt-in)

The plan consults `after(status, cause)` wherever it sets a pair's status, and `apply_action` asks it
first what an R-DEL action does to a pair that is not active (`cause_of`). A pair's status changes only
through this table: a merge that moves an active pair out of the window is LEAVE, a paused pair that
comes back is RETURN (its kind B item created again, or the pair carrying on from its bases).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from bridge.core.deletion import Action
from bridge.core.model import PairStatus


class Cause(StrEnum):
    WAIT = "seen, not synced yet"
    DROP = "seen, nothing to sync"
    PAIR = "paired"
    LEAVE = "R-DEL-4"
    RETURN = "back in the window"
    DELETE = "R-DEL-2/5"
    UNSYNC = "R-DEL-3/8"
    SCOPE = "R-SCOPE-8"
    OPT_IN = "R-DEL-9"
    OFF = "R-DEL-6"


class _Stays:
    """A cell where the cause changes nothing."""

    def __repr__(self) -> str:
        return "."


STAYS: Final = _Stays()
FORGET: Final = None
Cell = PairStatus | _Stays | None

_W, _A, _O, _E = PairStatus.WAITING, PairStatus.ACTIVE, PairStatus.OUT_OF_WINDOW, PairStatus.ENDED
_ = STAYS
# The columns: no state yet, then each status.
COLUMNS: tuple[PairStatus | None, ...] = (None, _W, _A, _O, _E)
_ROWS: dict[Cause, tuple[Cell, ...]] = {
    #                 new      waiting  active   out      ended
    Cause.WAIT:     (_W,      _W,      _,       _,       _),
    Cause.DROP:     (FORGET,  FORGET,  _,       _,       _),
    Cause.PAIR:     (_A,      _A,      _,       _,       _),
    Cause.LEAVE:    (_,       _,       _O,      _,       _),
    Cause.RETURN:   (_,       _,       _,       _A,      _),
    Cause.DELETE:   (_,       FORGET,  _E,      _E,      _),
    Cause.UNSYNC:   (_,       _,       _E,      _,       _),
    Cause.SCOPE:    (_,       _,       _E,      _,       _),
    Cause.OPT_IN:   (_,       _,       _,       _,       _A),
    Cause.OFF:      (_,       FORGET,  FORGET,  FORGET,  FORGET),
}  # fmt: skip

STATUS_TABLE: dict[tuple[Cause, PairStatus | None], Cell] = {
    (cause, status): cell for cause, row in _ROWS.items() for status, cell in zip(COLUMNS, row, strict=True)
}

# What each R-DEL action is to a pair's status. R-DEL-1 (the category put back) changes no status.
_CAUSES: dict[Action, Cause] = {
    Action.DELETED_IN_EXCHANGE: Cause.DELETE,
    Action.DELETED_IN_SALESFORCE: Cause.DELETE,
    Action.UNSYNC_CATEGORY: Cause.UNSYNC,
    Action.CANCELLED: Cause.UNSYNC,
    Action.LEFT_WINDOW: Cause.LEAVE,
    Action.USER_SWITCHED_OFF: Cause.OFF,
}


def cause_of(action: Action) -> Cause | None:
    """The status cause an R-DEL action is, or None for one that changes no status (R-DEL-1)."""
    return _CAUSES.get(action)


def changes(status: PairStatus | None, cause: Cause) -> bool:
    """Whether `cause` moves a pair in `status` at all."""
    return STATUS_TABLE[(cause, status)] is not STAYS


def after(status: PairStatus | None, cause: Cause) -> PairStatus | None:
    """The status a pair in `status` (None: no state yet) takes on `cause`; None: the pair is forgotten.

    Raises ValueError for a cell where the cause changes nothing: a plan that asks there has taken a road
    the table does not have, which is a bug in the core, not bad input."""
    cell = STATUS_TABLE[(cause, status)]
    if isinstance(cell, _Stays):
        raise ValueError(f"{cause.name} does not move a pair that is {status or 'new'}")
    return cell


def kept(status: PairStatus | None, cause: Cause) -> PairStatus:
    """`after` for a cause that keeps the pair (pairing, pausing, resuming, ending with a tombstone)."""
    new = after(status, cause)
    if new is None:
        raise ValueError(f"{cause.name} forgets a pair that is {status or 'new'}")
    return new
