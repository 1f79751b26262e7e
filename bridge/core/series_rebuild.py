"""A paired series whose pattern or start changed on one side (R-REC-4, R-REC-5): the other side's series
ends earlier when only its end came earlier, or is rebuilt, keeping the exceptions whose original start
the new pattern still gives and dropping the rest (the runtime logs an info entry for each)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.core.commands import Command, frozen_fields
from bridge.core.fields import SF_ITEM_ID_FIELD
from bridge.core.model import SCALAR_FIELDS, Policy, Side, Timed
from bridge.core.patterns import Pattern
from bridge.core.patterns_dates import occurrence_dates
from bridge.core.series import OccurrencePair, Series, SeriesState, expected_starts, missing
from bridge.core.series_commands import DeleteOccurrence, EndSeries, RebuildSeries
from bridge.core.series_writes import fields_for, rule_for, write_exception
from bridge.core.spans import duration


def repattern(
    state: SeriesState, source: Series, target: Series | None, policy: Policy, now: datetime
) -> tuple[list[Command], SeriesState, tuple[datetime, ...]]:
    """R-REC-4/5: the other side follows a new pattern or start. Only an earlier end ends the series
    there; anything else rebuilds it, keeping the exceptions whose original start still exists."""
    assert isinstance(source.rule, Pattern) and state.rule is not None
    other = source.side.other
    series_id = state.series_of(other)
    assert series_id is not None
    horizon = now + policy.future
    starts = set(expected_starts(source, horizon))
    if source.anchor == state.anchor and _ended_earlier(state.rule, source.rule, source.anchor.first):
        remaining = sorted(starts)
        gone = [p.original_start for p in state.occurrences if p.original_start not in starts]
        after = min(gone) if gone else horizon
        last = (
            remaining[-1].astimezone(ZoneInfo(source.anchor.zone)).date()
            if remaining
            else source.anchor.first
        )
        kept = tuple(p for p in state.occurrences if p.original_start in starts)
        end = EndSeries(other, series_id, last, after)
        return [end], replace(state, rule=source.rule, occurrences=kept), ()
    base = state.base_of(other) or source.content
    content = replace(base, when=first_span(source))
    fields = fields_for(other, content, SCALAR_FIELDS if other is Side.SALESFORCE else ("when",), policy)
    if other is Side.SALESFORCE:  # a new Salesforce series: it names its Outlook twin as the first did
        fields[SF_ITEM_ID_FIELD] = state.ex_series
    commands: list[Command] = [
        RebuildSeries(other, series_id, frozen_fields(fields), rule_for(other, source))
    ]
    kept_pairs: list[OccurrencePair] = []
    dropped: list[datetime] = []
    names = (*SCALAR_FIELDS, "attendees") if other is Side.EXCHANGE else SCALAR_FIELDS
    for pair in state.occurrences:
        if pair.original_start not in starts:
            if pair.base is not None:
                dropped.append(pair.original_start)
            continue
        rebound = replace(pair, sf_id=None) if other is Side.SALESFORCE else replace(pair, ex_id=None)
        if pair.base is not None and state.masked is None:
            written, rebound = write_exception(other, series_id, rebound, pair.base, names, policy, now)
            commands += written
        kept_pairs.append(rebound)
    start = now - policy.past
    commands += [DeleteOccurrence(other, series_id, s) for s in sorted(missing(source, start, horizon))]
    new_base = {source.side: replace(state.base_of(source.side) or source.content, when=first_span(source))}
    new_base[other] = content
    state = replace(
        state,
        rule=source.rule,
        anchor=source.anchor,
        occurrences=tuple(kept_pairs),
        base_sf=new_base[Side.SALESFORCE],
        base_ex=new_base[Side.EXCHANGE],
    )
    return commands, state, tuple(dropped)


_ENDS_HORIZON = timedelta(days=3 * 366)  # far enough to tell two ends apart, bounded for no-end rules


def _ended_earlier(old: Pattern, new: Pattern, first: date) -> bool:
    """The same pattern whose occurrences now stop earlier: an end date or count that cut it short
    (either form of end: Outlook may turn a count into a date)."""
    if replace(old, count=None, until=None) != replace(new, count=None, until=None):
        return False
    through = first + _ENDS_HORIZON
    before, after = occurrence_dates(old, first, through), occurrence_dates(new, first, through)
    return len(after) < len(before) and before[: len(after)] == after


def first_span(series: Series) -> Timed:
    start = series.anchor.until_instant(series.anchor.first)
    return Timed(start, start + duration(series.content.when))
