"""Recurring series as the core sees them (SPEC §15): both sides' series, their occurrences keyed by original
start, and the status row of a paired series.

Theory
======

Exchange stores one master and computes its occurrences; Salesforce stores a row per occurrence. The core
meets them in the middle: a `Series` is the series' own fields and pattern plus the occurrences one side
holds in the window, each an `Occurrence` keyed by its *original start* in UTC, the start the pattern gives
it whatever it was moved to. Two occurrences are one when their series are paired and their original
starts are equal (R-REC-2), never by subject and time. Exchange names the original start (`OriginalStart`);
Salesforce does not, so a Salesforce row's original start is the one the bridge recorded for its id, and
for a row it has not seen, where the pattern puts it (`original_start`).

An occurrence that differs from its series is an *exception*. Only exceptions are compared one by one: an
edit of the series changes every plain occurrence at once, and that is one change of the series, not one
per occurrence. What a side no longer holds is known by expanding the pattern (`patterns.occurrence_starts`):
an original start the pattern gives, inside the window, with no occurrence, is deleted on that side.

`SeriesState` is the store's row for a paired series: both series ids, each side's base content of the
series (as for a pair: a mask or a truncated subject may rightly differ), the pattern, and one
`OccurrencePair` per original start the bridge has seen on both sides, with the occurrence's base when it
is an exception. `bridge.core.series_plan` decides what to write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bridge.core.issues import IssueCode
from bridge.core.model import Content, Side
from bridge.core.patterns import Anchor, Pattern, Unmappable
from bridge.core.patterns_dates import occurrence_starts
from bridge.core.spans import duration


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence as one side holds it. `id` is the Salesforce row or the Exchange occurrence's ItemId;
    `exception` says the side marks it as differing from its series (EWS `Exception`, Salesforce
    `IsRecurrence2Exception`, or a row the bridge split out)."""

    original_start: datetime
    id: str
    content: Content
    version: str = ""
    exception: bool = False
    # An expanded series' single Outlook item's categories (R-DEL-1/3); None: not read (a series' occurrence)
    categories: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """One side's series. `id` is the Exchange master's ItemId or Salesforce's ActivityRecurrence2Id;
    `content` holds the series' fields with `when` spanning its first occurrence; `occurrences` are those
    in the window, exceptions included; `deleted` the original starts the side lists as deleted (Exchange's
    DeletedOccurrences; Salesforce lists none: a deleted row is simply missing). `classic` marks a
    Salesforce Classic recurrence, which the bridge reads and never writes (R-REC-1). `last_start` is
    the latest original start the side still holds, inside the window or not (Salesforce: its last row),
    which tells a series ended early ("this and following" deleted, R-REC-4) from single deletions.

    For an expanded series (R-REC-6) the other side has no series: the runtime passes its single copies
    paired with the series' occurrences as a `Series` of that side whose `occurrences` are those singles."""

    side: Side
    id: str
    version: str
    modified: datetime
    content: Content
    rule: Pattern | Unmappable
    anchor: Anchor
    occurrences: tuple[Occurrence, ...] = ()
    deleted: frozenset[datetime] = frozenset()
    paired_id: str | None = None
    uid: str | None = None
    categories: frozenset[str] = frozenset()
    classic: bool = False
    last_start: datetime | None = None  # the latest original start the side holds at all, when known

    def occurrence(self, original_start: datetime) -> Occurrence | None:
        return next((o for o in self.occurrences if o.original_start == original_start), None)

    @property
    def mappable(self) -> bool:
        return isinstance(self.rule, Pattern)

    def longest(self) -> timedelta:
        """The longest occurrence, the series' own span included (E-RECURRING-TOO-LONG, R-REC-7)."""
        spans = [duration(self.content.when), *(duration(o.content.when) for o in self.occurrences)]
        return max(spans)


@dataclass(frozen=True, slots=True)
class OccurrencePair:
    """Two occurrences that are one (R-REC-2). `base` is the occurrence's content when last in step if it
    is an exception, None while it follows its series. `split` says the Salesforce side is a single event
    that left its series (R-REC-3); `sf_id` is then that event."""

    original_start: datetime
    sf_id: str | None
    ex_id: str | None
    base: Content | None = None
    split: bool = False


@dataclass(frozen=True, slots=True)
class SeriesState:
    """The status row of one paired series. `rule` is None for an expanded series (R-REC-6): its
    occurrences are paired with single copies on the other side, by original start all the same.
    `ended` is the series' tombstone (R-DEL-9): one side's series was deleted or unsynced and the other
    kept (`bridge.core.series_gone`); such a state plans nothing, so the survivor never comes back."""

    key: str
    origin: Side
    sf_series: str | None
    ex_series: str | None
    base_sf: Content | None = None
    base_ex: Content | None = None
    masked: Side | None = None
    rule: Pattern | None = None
    anchor: Anchor | None = None
    sf_version: str | None = None
    ex_version: str | None = None
    occurrences: tuple[OccurrencePair, ...] = ()
    open_issues: frozenset[IssueCode] = frozenset()
    ended: bool = False  # R-DEL-9: one side's series went under the R-DEL table; never re-created
    # Salesforce rows the bridge deleted "this and following" (R-REC-4): Salesforce deletes them
    # asynchronously, so a read may still show them; they count as gone until a read no longer does.
    deleting: frozenset[str] = frozenset()

    @property
    def expanded(self) -> bool:
        return self.rule is None

    def series_of(self, side: Side) -> str | None:
        return self.sf_series if side is Side.SALESFORCE else self.ex_series

    def version_of(self, side: Side) -> str | None:
        return self.sf_version if side is Side.SALESFORCE else self.ex_version

    def base_of(self, side: Side) -> Content | None:
        return self.base_sf if side is Side.SALESFORCE else self.base_ex

    def bound(self, sf: Series | None, ex: Series | None) -> SeriesState:
        """The state with the id of a series this state's plan created, once it is read (the runtime
        may also record it at once with `after_create`)."""
        state = self
        if sf is not None and state.sf_series is None:
            state = replace(state, sf_series=sf.id)
        if ex is not None and state.ex_series is None:
            state = replace(state, ex_series=ex.id)
        return state

    def after_create(self, side: Side, series_id: str) -> SeriesState:
        """The state once the runtime created this side's series and learnt its id."""
        if side is Side.SALESFORCE:
            return replace(self, sf_series=series_id)
        return replace(self, ex_series=series_id)

    def pair_at(self, original_start: datetime) -> OccurrencePair | None:
        return next((p for p in self.occurrences if p.original_start == original_start), None)

    def holds(self, side: Side, record_id: str) -> bool:
        """Whether `record_id` is one of this series' records on `side`: the series itself or one of its
        occurrences (a split occurrence's single event included, R-REC-3)."""
        if self.series_of(side) == record_id:
            return True
        own = (p.sf_id if side is Side.SALESFORCE else p.ex_id for p in self.occurrences)
        return record_id in own


def original_start(
    row_id: str, start: datetime, known: Mapping[str, datetime], expected: Iterable[datetime]
) -> datetime:
    """A Salesforce row's original start (R-REC-2): the one recorded for its id; for a row not seen
    before, its start when the pattern gives that start, else the nearest start the pattern gives (a
    row moved before the bridge saw it)."""
    if row_id in known:
        return known[row_id]
    starts = sorted(expected)
    if start in starts or not starts:
        return start
    return min(starts, key=lambda candidate: abs(candidate - start))


def expected_starts(series: Series, through: datetime) -> list[datetime]:
    """The original starts the series' pattern gives up to `through` (none for an unmappable rule: its
    rows are what Salesforce materialised, and they are all there is)."""
    if not isinstance(series.rule, Pattern):
        return []
    return occurrence_starts(series.rule, series.anchor, through)


def missing(series: Series, start: datetime, end: datetime) -> frozenset[datetime]:
    """Original starts in [start, end) that the pattern gives and the side no longer holds: deleted there
    (R-REC-4). Exchange lists its deletions; for Salesforce the gap in its rows is the deletion."""
    held = {o.original_start for o in series.occurrences}
    gone = {s for s in expected_starts(series, end) if start <= s < end and s not in held}
    return frozenset(gone | {s for s in series.deleted if start <= s < end})


def without_deleting(state: SeriesState, sf: Series) -> tuple[SeriesState, Series]:
    """The Salesforce series without the rows the bridge is deleting (`SeriesState.deleting`), and the
    state holding only those a read still shows. Read with them, a series the bridge ended would show
    its old end again (a new pattern, written back over the other side) or a gap (a deletion)."""
    if not state.deleting:
        return state, sf
    pending = state.deleting & {o.id for o in sf.occurrences}
    kept = tuple(o for o in sf.occurrences if o.id not in pending)
    last = max((o.original_start for o in kept), default=None) if pending else sf.last_start
    return replace(state, deleting=pending), replace(sf, occurrences=kept, last_start=last)


def recreation(state: SeriesState, deleted_ids: Iterable[str], created: Series) -> SeriesState | None:
    """R-REC-5: Salesforce re-creates a series on a critical change (new start, new pattern) by deleting
    every row and creating new ones in one transaction. When the rows deleted in a transaction are all
    the rows the state knows of its Salesforce series, and that transaction created `created`, it is one
    change of the series, never a deletion: the state is re-keyed to the new series, and the occurrences
    whose original start the new pattern still gives keep their pairs, bound to the new rows. None when
    the deletions are something else."""
    if created.side is not Side.SALESFORCE or created.id == state.sf_series:
        return None
    known = {p.sf_id for p in state.occurrences if p.sf_id and not p.split}
    if not known or not known <= set(deleted_ids):
        return None
    new_rows = {o.original_start: o.id for o in created.occurrences}
    kept = tuple(
        replace(pair, sf_id=new_rows[pair.original_start])
        for pair in state.occurrences
        if pair.original_start in new_rows or pair.split
    )
    return replace(state, sf_series=created.id, sf_version=None, occurrences=kept, deleting=frozenset())
