"""A whole series gone on one side, under the R-DEL table (R-REC-7): the series is one unit, so an Outlook
master deleted is R-DEL-2 for the whole series and every row of a Salesforce series deleted is R-DEL-5.

The cell of `bridge.core.deletion.outcome` says what the other side's series becomes: deleted (the state is
forgotten: nothing is left to come back), its `Salesforce` category removed, or left as it is. A series
that survives is kept by an `ended` state, the series' tombstone (R-DEL-9), so it is never created anew.
What the cell calls "the user's attendee relation removed" or "event passed on" is not written for a
series: the survivor is left as it is and the state ends (docs/behaviour.md says so).

An occurrence split out of a Lightning series (R-REC-3) is a single event in Salesforce but one of the
series' occurrences to the bridge: it goes where its series goes. When the Salesforce series is deleted
(by the user, or by the bridge under the cell) its split events are deleted with it; when the Salesforce
series survives, the tombstone keeps them, so the pair road never takes them for new single events.
"""

from __future__ import annotations

from dataclasses import replace

from bridge.core.commands import Command, UpdateItem
from bridge.core.deletion import Action, Outcome, outcome
from bridge.core.model import Kind, Policy, Side
from bridge.core.series import Series, SeriesState
from bridge.core.series_commands import DeleteOccurrence, DeleteSeries

_ACTION = {Side.EXCHANGE: Action.DELETED_IN_EXCHANGE, Side.SALESFORCE: Action.DELETED_IN_SALESFORCE}


def plan_gone(
    state: SeriesState, gone: Side, survivor: Series | None, policy: Policy
) -> tuple[tuple[Command, ...], SeriesState | None]:
    """The commands and the state to keep (None: forget it) once `gone`'s series is no more. `survivor`
    is the other side's series as read now, None when it is gone too."""
    other = gone.other
    survivor_id = state.series_of(other)
    splits = split_events(state)
    if survivor is None or survivor_id is None:
        return splits, None
    cell = outcome(_ACTION[gone], _kind(state, survivor), policy)
    if cell in (Outcome.DELETE_EVENT, Outcome.DELETE_ITEM):
        return (DeleteSeries(other, survivor_id), *splits), None
    commands: tuple[Command, ...] = ()
    if cell is Outcome.REMOVE_CATEGORY and other is Side.EXCHANGE:
        commands = (UpdateItem(survivor_id, None, remove_categories=(policy.sync_category,)),)
    ended = replace(state, ended=True, occurrences=(), open_issues=frozenset())
    if gone is Side.SALESFORCE:
        return (*commands, *splits), replace(ended, sf_series=None, sf_version=None)
    kept = tuple(replace(p, ex_id=None) for p in state.occurrences if p.split and p.sf_id)
    return commands, replace(ended, ex_series=None, ex_version=None, occurrences=kept)


def split_events(state: SeriesState) -> tuple[Command, ...]:
    """The deletions of the single events split out of the state's Lightning series (R-REC-3)."""
    series_id = state.sf_series or ""
    return tuple(
        DeleteOccurrence(Side.SALESFORCE, series_id, p.original_start, p.sf_id)
        for p in state.occurrences
        if p.split and p.sf_id
    )


def _kind(state: SeriesState, survivor: Series) -> Kind:
    """The series' kind of SPEC §8: where it began, and a meeting when it has attendees."""
    content = state.base_of(survivor.side) or survivor.content
    if content.attendees:
        return Kind.C
    return Kind.A if state.origin is Side.EXCHANGE else Kind.B
