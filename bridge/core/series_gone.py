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

`Salesforce Unsync` on the Outlook master of a series kept whole is R-DEL-3 for the whole series
(`plan_unsync`); an expanded series has its own (`series_expand`).
"""

from __future__ import annotations

from dataclasses import replace

from bridge.core.commands import CloseIssue, Command, UpdateItem
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


def unsync_asked(ex: Series | None, policy: Policy) -> bool:
    """R-DEL-3 for a series kept whole: `Salesforce Unsync` set on the Outlook master (a Lightning series
    carries no categories; its Outlook twin is where the user asks)."""
    return ex is not None and policy.unsync_category in ex.categories


def plan_unsync(
    state: SeriesState, ex: Series, sf: Series | None, policy: Policy
) -> tuple[tuple[Command, ...], SeriesState]:
    """R-DEL-3 for a series kept whole, as one unit (R-REC-7), whoever made it (an Outlook series or a
    Lightning one): the Lightning series, with the events split out of it (R-REC-3), is deleted where the
    table says "event deleted" and the setting lets the bridge write to Salesforce; the Outlook master
    stays, without the bridge's categories (the user's `Salesforce Unsync` stays theirs); the state ends as
    the series' tombstone (R-DEL-9), so neither side is synced again."""
    cell = outcome(Action.UNSYNC_CATEGORY, _kind(state, ex), policy)
    classic = sf is not None and sf.classic
    deletes = (
        cell is Outcome.DELETE_EVENT
        and policy.direction.allows(Side.EXCHANGE)
        and not classic
        and state.sf_series is not None
    )
    commands: list[Command] = [
        CloseIssue(code, state.sf_series, state.ex_series) for code in sorted(state.open_issues)
    ]
    if deletes:
        assert state.sf_series is not None
        commands += [DeleteSeries(Side.SALESFORCE, state.sf_series), *split_events(state)]
    held = tuple(c for c in (policy.sync_category, policy.error_category) if c in ex.categories)
    if held:
        commands.append(UpdateItem(ex.id, None, remove_categories=held))
    ended = replace(state, ended=True, open_issues=frozenset(), sf_version=None, ex_version=None)
    if deletes:
        kept = tuple(replace(p, sf_id=None, split=False) for p in state.occurrences if p.ex_id)
        ended = replace(ended, sf_series=None, occurrences=kept)
    return tuple(commands), ended


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
