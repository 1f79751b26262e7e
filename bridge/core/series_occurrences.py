"""A paired series occurrence by occurrence, keyed by original start (R-REC-2): a deletion on one side
deletes the twin (R-REC-4; Salesforce rows that stop early end the Exchange series), an exception edited
on one side becomes an exception on the other, split out where Salesforce cannot hold it (R-REC-3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bridge.core.commands import Command
from bridge.core.issues import IssueCode
from bridge.core.model import SCALAR_FIELDS, Content, Policy, Side, Timed
from bridge.core.private import project
from bridge.core.series import Occurrence, OccurrencePair, Series, SeriesState, missing
from bridge.core.series_commands import DeleteOccurrence, EndSeries, SplitOccurrence
from bridge.core.series_writes import info, writable, write_exception
from bridge.core.spans import duration


def plan_occurrences(
    state: SeriesState, sf: Series | None, ex: Series | None, policy: Policy, now: datetime
) -> tuple[list[Command], SeriesState]:
    """R-REC-2/3/4 occurrence by occurrence, keyed by original start."""
    start, end = now - policy.past, now + policy.future
    gone = {
        Side.SALESFORCE: missing(sf, start, end) if sf is not None else frozenset(),
        Side.EXCHANGE: missing(ex, start, end) if ex is not None else frozenset(),
    }
    commands: list[Command] = []
    ended = _ended_on(sf, state, ex)
    if ended is not None and writable(Side.EXCHANGE, state, sf, policy) and state.ex_series is not None:
        after, last = ended
        commands.append(EndSeries(Side.EXCHANGE, state.ex_series, last, after))
        gone[Side.SALESFORCE] = frozenset(s for s in gone[Side.SALESFORCE] if s < after)
        # The master now ends on `last`, as the state's pattern must: else it reads as a new pattern.
        if state.rule is not None:
            state = replace(state, rule=replace(state.rule, count=None, until=last))
    keys = {p.original_start for p in state.occurrences}
    keys |= {o.original_start for s in (sf, ex) if s is not None for o in s.occurrences}
    pairs: list[OccurrencePair] = []
    split_now = False
    for key in sorted(keys):
        if ended is not None and key >= ended[0]:
            continue
        pair = state.pair_at(key)
        o_sf = sf.occurrence(key) if sf is not None else None
        o_ex = ex.occurrence(key) if ex is not None else None
        if pair is None:
            if o_sf is not None and o_ex is not None:
                pairs.append(OccurrencePair(key, o_sf.id, o_ex.id))
            continue
        pair = replace(pair, sf_id=o_sf.id if o_sf else pair.sf_id, ex_id=o_ex.id if o_ex else pair.ex_id)
        deleted_on = next((side for side in Side if key in gone[side]), None)
        if deleted_on is not None:
            other = deleted_on.other
            still_there = key not in gone[other] and state.series_of(other) is not None
            if still_there and writable(other, state, sf, policy):
                record = pair.sf_id if other is Side.SALESFORCE else pair.ex_id
                series_id = state.series_of(other)
                assert series_id is not None
                commands.append(DeleteOccurrence(other, series_id, key, record))
            continue
        written, pair = _edited(state, pair, o_sf, o_ex, sf, ex, policy, now)
        split_now = split_now or any(isinstance(c, SplitOccurrence) for c in written)
        commands += written
        pairs.append(pair)
    if split_now:
        commands += info(IssueCode.OCCURRENCE_SPLIT, state, policy)
        state = replace(state, open_issues=state.open_issues | {IssueCode.OCCURRENCE_SPLIT})
    return commands, replace(state, occurrences=tuple(pairs))


def _ended_on(sf: Series | None, state: SeriesState, ex: Series | None) -> tuple[datetime, date] | None:
    """R-REC-4 from Salesforce: its rows stop (`last_start`) before occurrences the bridge paired, so
    "this and following" were deleted there. Returns the first original start gone and the last local
    date that remains."""
    if sf is None or sf.last_start is None:
        return None
    after = [p.original_start for p in state.occurrences if p.original_start > sf.last_start]
    if len(after) < 1 or not any(p.original_start <= sf.last_start for p in state.occurrences):
        return None
    if ex is not None and not any(o.original_start > sf.last_start for o in ex.occurrences):
        return None
    return min(after), sf.last_start.astimezone(ZoneInfo(sf.anchor.zone)).date()


def _edited(
    state: SeriesState,
    pair: OccurrencePair,
    o_sf: Occurrence | None,
    o_ex: Occurrence | None,
    sf: Series | None,
    ex: Series | None,
    policy: Policy,
    now: datetime,
) -> tuple[list[Command], OccurrencePair]:
    """R-REC-3: an exception changed on one side since the pair's base goes to the other side."""
    candidates: list[tuple[Side, Occurrence, Series]] = []
    for side, found, series in ((Side.SALESFORCE, o_sf, sf), (Side.EXCHANGE, o_ex, ex)):
        if found is not None and series is not None and (found.exception or pair.split):
            base = pair.base or _plain(state, side, pair)
            if base is None or not _same(side, found.content, base, policy):
                candidates.append((side, found, series))
    if not candidates:
        return [], pair
    side, found, series = max(candidates, key=lambda c: (c[2].modified, c[0] is policy.tie_winner))
    target = side.other
    series_id = state.series_of(target)
    content = found.content
    if side is Side.SALESFORCE and o_ex is not None:
        # A Salesforce row or single event holds no invitees of its own here: the twin keeps its own.
        content = replace(content, attendees=o_ex.content.attendees)
    if series_id is None or not writable(target, state, sf, policy) or state.masked is not None:
        return [], replace(pair, base=content)
    names = (*SCALAR_FIELDS, "attendees") if target is Side.EXCHANGE else SCALAR_FIELDS
    return write_exception(target, series_id, pair, content, names, policy, now)


def _same(side: Side, found: Content, base: Content, policy: Policy) -> bool:
    """Whether an occurrence still holds its base, in what that side can hold: a Salesforce occurrence
    carries the base as the bridge wrote it there (projected, without invitees)."""
    if side is Side.EXCHANGE:
        return found == base
    written = project(base, Side.SALESFORCE, policy, mask=False)
    return replace(found, attendees=()) == replace(written, attendees=())


def _plain(state: SeriesState, side: Side, pair: OccurrencePair) -> Content | None:
    """What a plain occurrence holds: the series' base, at its original start."""
    base = state.base_of(side)
    if base is None:
        return None
    span = duration(base.when)
    return replace(base, when=Timed(pair.original_start, pair.original_start + span))
