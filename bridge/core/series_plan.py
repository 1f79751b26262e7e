"""`plan_series(state, sf, ex, policy, now)`: what to write for one recurring series (SPEC §15).

In the order of the rules:

1. Replay: both series at the versions recorded change nothing (R-MERGE-4).
2. Limit: an occurrence over 24 hours stops the whole series (E-RECURRING-TOO-LONG, R-REC-7); nothing is
   written and the issue closes when a fresh read shows the cause gone.
3. A series seen alone is created on the other side as a series (R-REC-1) when its pattern maps, with its
   exceptions and deletions in the window; otherwise it is expanded (R-REC-6): each occurrence in the
   window becomes a single copy, paired by (series, original start), and I-RECURRING-EXPANDED says so.
4. A paired series: a changed pattern or start rebuilds the other side, or ends it when only the end came
   earlier (R-REC-4, R-REC-5); the series' own fields merge three-way as one unit (R-REC-7, with the
   private and description rules of bridge.core.merge); then occurrence by occurrence, keyed by original
   start (R-REC-2): a deletion deletes the twin, an exception edited on one side becomes an exception on
   the other, split out of its series where Salesforce cannot hold it (R-REC-3, I-OCCURRENCE-SPLIT).
   `Salesforce Unsync` on the Outlook master unsyncs the whole series first (R-DEL-3, `series_gone`).

Salesforce Classic recurrences travel to Exchange only (R-REC-1); the bridge never writes one. Direction
settings (R-SCOPE-2) apply as for single events. A Salesforce re-creation is turned into a re-keyed state
by `series.recreation` before planning, so it plans as one change, never as deletions (R-REC-5).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bridge.core.commands import (
    CloseIssue,
    Command,
    Created,
    DeleteEvent,
    DeleteItem,
    RaiseIssue,
    UpdateItem,
    frozen_fields,
)
from bridge.core.fields import EX_EVENT_ID_FIELD, SF_ITEM_ID_FIELD, exchange_fields, salesforce_fields
from bridge.core.issues import IssueCode, make_issue
from bridge.core.merge import merge_fields
from bridge.core.model import SCALAR_FIELDS, AllDay, Copy, Policy, Side
from bridge.core.patterns import Pattern, Unmappable
from bridge.core.private import mask_target, project
from bridge.core.scope import MAX_RECURRING_OCCURRENCE
from bridge.core.series import OccurrencePair, Series, SeriesState, expected_starts, missing
from bridge.core.series_commands import (
    CreateSeries,
    DeleteOccurrence,
    DeleteSeries,
    EndSeries,
    RebuildSeries,
    SplitOccurrence,
    UpdateOccurrence,
    UpdateSeries,
)
from bridge.core.series_expand import plan_expanded
from bridge.core.series_gone import opted_in_again, plan_unsync, split_events, unsync_asked
from bridge.core.series_occurrences import plan_occurrences
from bridge.core.series_rebuild import repattern
from bridge.core.series_writes import (
    fields_for,
    fresh,
    info,
    invitees_added,
    rule_for,
    unanswered,
    writable,
    write_exception,
)

_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)
_NEXT = timedelta(days=367)  # past any next start of a pattern the bridge maps (yearly at most)
_CREATED_SERIES: dict[Side, Created] = {Side.SALESFORCE: Created.EVENT_ID, Side.EXCHANGE: Created.ITEM_ID}


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """The commands to run in order, the state to keep once they succeeded, and the original starts of
    exceptions a rebuild dropped (R-REC-5: the runtime logs an info entry for each)."""

    commands: tuple[Command, ...]
    state: SeriesState | None
    dropped: tuple[datetime, ...] = ()


def plan_series(
    state: SeriesState | None, sf: Series | None, ex: Series | None, policy: Policy, now: datetime
) -> SeriesPlan:
    """Decide what happens to one series. Pure: equal inputs give an equal plan."""
    seen = [s for s in (sf, ex) if s is not None]
    if not seen:
        return SeriesPlan((), state)
    if state is not None and state.ended:
        # R-DEL-9: the series' tombstone; given `Salesforce` again, the Outlook series syncs anew as a
        # series first seen (R-REC-1, or R-REC-6) under the tombstone's key.
        again = plan_series(None, None, ex, policy, now) if opted_in_again(state, ex, policy) else None
        if again is None or again.state is None:
            return SeriesPlan((), state)
        return replace(again, state=replace(again.state, key=state.key))
    if state is not None and all(s.version and s.version == state.version_of(s.side) for s in seen):
        return SeriesPlan((), state)
    too_long = next((s for s in seen if s.longest() > MAX_RECURRING_OCCURRENCE), None)
    if too_long is not None:
        return _hold(state, too_long, policy)
    if state is None:
        source = seen[0] if len(seen) == 1 else None
        if source is None:
            return SeriesPlan((), None)  # two unpaired series: recovery by their ids is the runtime's
        if not _travels(source, policy) or unsync_asked(ex, policy):
            return SeriesPlan((), None)  # R-SCOPE-2; R-DEL-3: an Outlook series marked unsync never syncs
        if not source.mappable:
            return SeriesPlan(*plan_expanded(fresh(source, None), source, None, policy, now))
        return _create(source, policy, now)
    closing = _close(state, IssueCode.RECURRING_TOO_LONG, policy)
    state = replace(state, open_issues=state.open_issues - {IssueCode.RECURRING_TOO_LONG})
    if state.expanded:  # the series is on the origin's side, its singles on the other (both read)
        series, other = (sf, ex) if state.origin is Side.SALESFORCE else (ex, sf)
        if series is None:
            return SeriesPlan(closing, state)
        if series.mappable and writable(series.side.other, state, sf, policy):
            found = _collapse(state, series, other, policy, now)
        else:
            commands, state = plan_expanded(state, series, other, policy, now)
            found = SeriesPlan(commands, state)
        return replace(found, commands=closing + found.commands)
    if ex is not None and unsync_asked(ex, policy):
        unsynced, ended = plan_unsync(state, ex, sf, policy)  # R-DEL-3, the series as one unit
        return SeriesPlan(closing + unsynced, ended)
    found = _paired(state, sf, ex, policy, now)
    return replace(found, commands=closing + found.commands)


def _expandable(state: SeriesState, source: Series, sf: Series | None, policy: Policy) -> bool:
    """A series whose new pattern, on its origin's side, the other side can no longer hold: a Lightning
    pattern Exchange cannot hold, or an Outlook pattern the owner's Salesforce zone cannot (an endless
    series whose zones change their clocks apart, `bridge.core.series_zones`)."""
    other = source.side.other
    made_there = source.side is state.origin
    return made_there and bool(state.series_of(other)) and writable(other, state, sf, policy)


def _expand(state: SeriesState, source: Series, policy: Policy, now: datetime) -> SeriesPlan:
    """R-REC-5 with R-REC-6: a series given a pattern the other side cannot hold (Salesforce re-created it,
    or an Outlook series changed) is expanded: the other side's series, the bridge's copy, goes and a single
    copy takes each occurrence's place (with the single events split out of a Lightning series, R-REC-3).
    The state keeps its key. Only from the series' origin: the series a person made is never replaced by
    single copies."""
    other = source.side.other
    series_id = state.series_of(other)
    assert series_id is not None
    if other is Side.EXCHANGE:
        expanded = replace(state, ex_series=None, ex_version=None, base_ex=None)
    else:
        expanded = replace(state, sf_series=None, sf_version=None, base_sf=None)
    expanded = replace(
        expanded,
        origin=source.side,
        rule=None,
        anchor=None,
        masked=None,
        occurrences=(),
        open_issues=state.open_issues - {IssueCode.OCCURRENCE_SPLIT},
    )
    splits = split_events(state) if other is Side.SALESFORCE else ()
    commands, expanded = plan_expanded(expanded, source, None, policy, now)
    return SeriesPlan((DeleteSeries(other, series_id), *splits, *commands), expanded)


def _collapse(
    state: SeriesState, series: Series, singles: Series | None, policy: Policy, now: datetime
) -> SeriesPlan:
    """The reverse: an expanded series given a pattern the other side can hold (Salesforce re-created
    it) becomes a series there again (R-REC-1); its single copies go. The state keeps its key."""
    target = series.side.other
    held = {o.original_start: o.id for o in (singles.occurrences if singles is not None else ())}
    deletes: list[Command] = []
    for pair in state.occurrences:
        copy = pair.ex_id if target is Side.EXCHANGE else pair.sf_id
        if copy is not None and (singles is None or pair.original_start in held):
            deletes.append(DeleteItem(copy, None) if target is Side.EXCHANGE else DeleteEvent(copy, None))
    created = _create(series, policy, now)
    assert created.state is not None
    closing = _close(state, IssueCode.RECURRING_EXPANDED, policy)
    return SeriesPlan((*deletes, *closing, *created.commands), replace(created.state, key=state.key))


def _travels(source: Series, policy: Policy) -> bool:
    """R-SCOPE-2, and R-REC-1: a Classic recurrence goes to Exchange only (it is never written either)."""
    return policy.direction.allows(source.side) and not (source.classic and source.side is Side.EXCHANGE)


# ------------------------------------------------------------------------------------- limits, issues


def _hold(state: SeriesState | None, series: Series, policy: Policy) -> SeriesPlan:
    """R-REC-7: E-RECURRING-TOO-LONG stops the whole series; nothing is written meanwhile."""
    held = state or replace(fresh(series, None), rule=None, anchor=None)
    code = IssueCode.RECURRING_TOO_LONG
    if code in held.open_issues:
        return SeriesPlan((), held)
    sf_id, ex_id = _ids(held, series)
    issue = make_issue(code, policy.user_id, sf_id, ex_id, f"Longest occurrence: {series.longest()}.")
    return SeriesPlan((RaiseIssue(issue),), replace(held, open_issues=held.open_issues | {code}))


def _close(state: SeriesState, code: IssueCode, policy: Policy) -> tuple[Command, ...]:
    if code not in state.open_issues:
        return ()
    return (CloseIssue(code, state.sf_series, state.ex_series),)


def _ids(state: SeriesState, series: Series) -> tuple[str | None, str | None]:
    sf_id = state.sf_series or (series.id if series.side is Side.SALESFORCE else None)
    ex_id = state.ex_series or (series.id if series.side is Side.EXCHANGE else None)
    return sf_id, ex_id


# ------------------------------------------------------------------------------------------- creation


def _create(source: Series, policy: Policy, now: datetime) -> SeriesPlan:
    """R-REC-1: the series on the other side, then its exceptions and deletions in the window."""
    target = source.side.other
    mask = mask_target(source.content, policy, target)
    content = project(source.content, target, policy, mask is not None)
    names = (*SCALAR_FIELDS, "attendees") if target is Side.EXCHANGE else SCALAR_FIELDS
    fields = fields_for(target, unanswered(content) if target is Side.EXCHANGE else content, names, policy)
    fields[EX_EVENT_ID_FIELD if target is Side.EXCHANGE else SF_ITEM_ID_FIELD] = source.id
    categories = (policy.sync_category,) if target is Side.EXCHANGE else ()
    commands: list[Command] = [
        CreateSeries(target, frozen_fields(fields), rule_for(target, source), categories)
    ]
    if target is Side.SALESFORCE and policy.sync_category not in source.categories:
        # R-CAT-1: the Outlook series now synced carries the category, as a single item does.
        commands.append(UpdateItem(source.id, None, add_categories=(policy.sync_category,)))
    assert isinstance(source.rule, Pattern)
    state = fresh(source, source.rule)
    bases = {source.side: source.content, target: content}
    state = replace(state, base_sf=bases[Side.SALESFORCE], base_ex=bases[Side.EXCHANGE], masked=mask)
    new_id = _CREATED_SERIES[target]
    pairs: list[OccurrencePair] = []
    for occurrence in source.occurrences:
        own = occurrence.id
        pair = OccurrencePair(
            occurrence.original_start,
            sf_id=own if source.side is Side.SALESFORCE else None,
            ex_id=own if source.side is Side.EXCHANGE else None,
            base=occurrence.content if occurrence.exception else None,
        )
        if occurrence.exception and mask is None:
            written, pair = write_exception(target, new_id, pair, occurrence.content, names, policy, now)
            commands += written
        pairs.append(pair)
    start, end = now - policy.past, now + policy.future
    for gone in sorted(missing(source, start, end)):
        commands.append(DeleteOccurrence(target, new_id, gone))
    if any(p.split for p in pairs):
        commands += info(IssueCode.OCCURRENCE_SPLIT, state, policy)
    opened = frozenset({IssueCode.OCCURRENCE_SPLIT}) if any(p.split for p in pairs) else frozenset()
    return SeriesPlan(tuple(commands), replace(state, occurrences=tuple(pairs), open_issues=opened))


# ------------------------------------------------------------------------------------------ a paired series


def _stand_in(state: SeriesState, side: Side, series: Series | None) -> Copy | None:
    """The series as a `Copy` for the field merge, its span pinned to the base's (a change of time is a
    change of pattern or start, planned as a rebuild); a side not read stands in as its base, and so do the
    fields of a Lightning series whose every occurrence is an exception: they are one exception's, not the
    series' (Salesforce changes no such row with its series)."""
    base = state.base_of(side)
    series_id = state.series_of(side)
    if base is None or series_id is None:
        return None
    if series is None:
        return Copy(side, series_id, state.version_of(side) or "", _LONG_AGO, base)
    own = side is Side.EXCHANGE or any(not o.exception for o in series.occurrences)
    content = replace(series.content if own else base, when=base.when)
    return Copy(side, series.id, series.version, series.modified, content, categories=series.categories)


def _paired(
    state: SeriesState, sf: Series | None, ex: Series | None, policy: Policy, now: datetime
) -> SeriesPlan:
    commands: list[Command] = []
    state = state.bound(sf, ex)
    series = {Side.SALESFORCE: sf, Side.EXCHANGE: ex}
    changed = [s for s in (sf, ex) if s is not None and _repatterned(state, s)]
    dropped: tuple[datetime, ...] = ()
    if changed:
        source = max(changed, key=lambda s: (s.modified, s.side is policy.tie_winner))
        if writable(source.side.other, state, sf, policy) and source.mappable:
            written, state, dropped = repattern(state, source, series[source.side.other], policy, now)
            commands += written
        elif _expandable(state, source, sf, policy):
            return _expand(state, source, policy, now)
        series[source.side.other] = None  # the other side's occurrences are rebuilt: nothing to diff
    merged, state = _merge_series(state, series[Side.SALESFORCE], series[Side.EXCHANGE], policy, now)
    commands += merged
    if not changed:
        written, state = plan_occurrences(state, series[Side.SALESFORCE], series[Side.EXCHANGE], policy, now)
        commands += written
    versions = {s.side: s.version for s in (sf, ex) if s is not None}
    state = replace(
        state,
        sf_version=None
        if _wrote(commands, Side.SALESFORCE)
        else versions.get(Side.SALESFORCE, state.sf_version),
        ex_version=None if _wrote(commands, Side.EXCHANGE) else versions.get(Side.EXCHANGE, state.ex_version),
    )
    return SeriesPlan(tuple(commands), state, dropped)


def _repatterned(state: SeriesState, series: Series) -> bool:
    """A new pattern or start (R-REC-5). The same series may be read in another zone on each side (a
    Lightning series follows its writer's zone, an Exchange master its start's): the first start is
    compared as an instant, not as a local time in a named zone.

    "This and following" deleted in Salesforce leaves the rows' pattern text as it was: while the text
    gives starts after the last row, its end is stale and read from the rows instead
    (`series_occurrences._ended_on`), so the end is not compared; else a series the bridge ended there
    reads as a new pattern once the asynchronous deletions land, and the old end is written back over
    the other side. A Salesforce series re-created with a new end has rows to its end: compared whole."""
    rule: Pattern | Unmappable | None = series.rule
    known: Pattern | Unmappable | None = state.rule
    if series.side is Side.SALESFORCE and _cut_short(series):
        rule, known = _endless(rule), _endless(known)
    if state.anchor is None:
        return rule != known
    base = state.base_of(series.side)
    if isinstance(series.content.when, AllDay) and base is not None and isinstance(base.when, AllDay):
        # An all-day series starts on a date: its midnight is another instant in each side's zone.
        return (rule, series.anchor.first) != (known, state.anchor.first)
    first = series.anchor.until_instant(series.anchor.first)
    return (rule, first) != (known, state.anchor.until_instant(state.anchor.first))


def _cut_short(series: Series) -> bool:
    """Whether the series' pattern gives a start after the last row it holds."""
    last = series.last_start
    if last is None or not isinstance(series.rule, Pattern):
        return False
    return any(s > last for s in expected_starts(series, last + _NEXT))


def _endless(rule: Pattern | Unmappable | None) -> Pattern | Unmappable | None:
    return replace(rule, count=None, until=None) if isinstance(rule, Pattern) else rule


def _wrote(commands: list[Command], side: Side) -> bool:
    series_writes = (CreateSeries, UpdateSeries, RebuildSeries, EndSeries, UpdateOccurrence, DeleteOccurrence)
    if side is Side.SALESFORCE and any(isinstance(c, SplitOccurrence) for c in commands):
        return True
    return any(isinstance(c, series_writes) and c.side is side for c in commands)


def _through(state: SeriesState, sf: Series | None, now: datetime) -> str | None:
    """A future Salesforce occurrence that is no exception, to write the whole series through."""
    if sf is not None:
        rows = [o.id for o in sf.occurrences if not o.exception and o.original_start > now]
    else:
        plain = (p for p in state.occurrences if p.base is None and not p.split and p.original_start > now)
        rows = [p.sf_id for p in plain if p.sf_id is not None]
    return rows[0] if rows else None


def _merge_series(
    state: SeriesState, sf: Series | None, ex: Series | None, policy: Policy, now: datetime
) -> tuple[list[Command], SeriesState]:
    """R-REC-7: the series' fields merge three-way as one unit, as a single pair's do."""
    sf_copy, ex_copy = _stand_in(state, Side.SALESFORCE, sf), _stand_in(state, Side.EXCHANGE, ex)
    if sf_copy is None or ex_copy is None or (sf is None and ex is None):
        return [], state
    merge = merge_fields(sf_copy, ex_copy, state.base_sf, state.base_ex, policy, state.masked)
    commands: list[Command] = []
    sf_id, ex_id = state.sf_series, state.ex_series
    base_sf = merge.sf
    if merge.write_sf and sf_id is not None and writable(Side.SALESFORCE, state, sf, policy):
        fields = frozen_fields(salesforce_fields(merge.sf, merge.write_sf))
        version = sf.version if sf is not None else state.sf_version
        through = _through(state, sf, now)
        if through is None:
            # Every row left is past: API 58.0 makes an edited past row an exception, never the series.
            # Nothing is written, and the base stays what Salesforce holds, so the next read is no change
            # there to write back over the other side.
            base_sf = sf_copy.content
        else:
            commands.append(UpdateSeries(Side.SALESFORCE, sf_id, version or None, fields, through))
    write_ex, ex_content = list(merge.write_ex), merge.ex
    if sf is not None and ex is not None and state.base_sf is not None and merge.masked is None:
        # R-REC-7 with R-ATT-1/2: invitees added to the Lightning rows join the Outlook series.
        joined = invitees_added(sf_copy.content, state.base_sf, ex_copy.content, policy)
        if joined:
            ex_content = replace(ex_content, attendees=(*ex_copy.content.attendees, *joined))
            write_ex.append("attendees")
    if write_ex and ex_id is not None and writable(Side.EXCHANGE, state, sf, policy):
        fields = frozen_fields(exchange_fields(ex_content, tuple(write_ex), policy))
        version = ex.version if ex is not None else state.ex_version
        commands.append(UpdateSeries(Side.EXCHANGE, ex_id, version or None, fields))
    return commands, replace(state, base_sf=base_sf, base_ex=ex_content, masked=merge.masked)
