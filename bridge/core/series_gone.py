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
(`plan_unsync`); an expanded series has its own (`series_expand`). An unsync is planned again, whole, until
it is done: a pass that stopped part-way (a write refused, or a service away) keeps the series as it was
(`unsync_interrupted`), and the next pass finishes it (`finish_unsync`), never reading the Lightning series
the unsync deleted as a deletion made in Salesforce.

A tombstone whose Outlook series the user gives the `Salesforce` category again is taken up again
(`opted_in_again`, R-DEL-9): the Outlook series syncs anew, as a series first seen.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bridge.core.commands import CloseIssue, Command, DeleteEvent, UpdateItem
from bridge.core.deletion import Action, Outcome, outcome
from bridge.core.issues import IssueCode
from bridge.core.model import Kind, PairState, PairStatus, Policy, Side, Tombstone
from bridge.core.series import Series, SeriesState
from bridge.core.series_commands import DeleteOccurrence, DeleteSeries

# An attendee's tombstone for another's series they left (R-DEL-2/3 kind E, or a follower of an outside
# organizer's series): `series:left:<that Lightning series>:<their master>`. Their copy was never synced
# on its own, so the `Salesforce` category makes them an attendee again (the runtime), never a series
# of theirs; nor does a follower's mark (`series:follow:`, bridge.runtime.series_heirs).
LEFT_PREFIX = "series:left:"
# An enrolled attendee's mark on their copy of a colleague's meeting series (kind E), which is never synced
# on its own: `series:attendee:<organizer's user id>:<organizer's master>`, the copy its `ex_series`. It names
# the organizer's Outlook series, which a new pattern keeps (R-REC-5), so the organizer's Lightning series
# is found when the copy goes (R-DEL-2) or is unsynced (R-DEL-3): the attendee leaves every row.
ATTENDEE_PREFIX = "series:attendee:"
_NOT_OWN = (LEFT_PREFIX, "series:follow:", ATTENDEE_PREFIX)


def left_key(sf_series: str, master_id: str) -> str:
    return f"{LEFT_PREFIX}{sf_series}:{master_id}"


def left_series(key: str) -> str | None:
    """The Lightning series an attendee's tombstone names (`left_key`)."""
    return key.removeprefix(LEFT_PREFIX).split(":", 1)[0] if key.startswith(LEFT_PREFIX) else None


def attendee_key(organizer: str, organizer_master: str) -> str:
    return f"{ATTENDEE_PREFIX}{organizer}:{organizer_master}"


def attended(key: str) -> tuple[str, str] | None:
    """(the organizer's user id, their Outlook master) an attendee's mark names (`attendee_key`)."""
    if not key.startswith(ATTENDEE_PREFIX):
        return None
    organizer, _, master = key.removeprefix(ATTENDEE_PREFIX).partition(":")
    return (organizer, master) if organizer and master else None


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


def opted_in_again(state: SeriesState, ex: Series | None, policy: Policy) -> bool:
    """R-DEL-9: the series' tombstone holds an Outlook series with no Lightning series left (unsynced, or
    deleted in Salesforce), and the user gave it the `Salesforce` category again (without `Salesforce
    Unsync`; the bridge took its own category off when the series ended, so the category is the user's).
    The Outlook series is then synced anew, as a series first seen (R-SCOPE-5)."""
    return (
        state.ended
        and ex is not None
        and not state.key.startswith(_NOT_OWN)
        and state.ex_series == ex.id
        and state.sf_series is None
        and policy.sync_category in ex.categories
        and policy.unsync_category not in ex.categories
    )


def unsync_pending(state: SeriesState, ex: Series | None, policy: Policy) -> bool:
    """R-DEL-3 asked on the Outlook side of a live series: on its master, or on any single item of a
    Lightning series expanded in Outlook (R-REC-6, R-REC-7)."""
    if state.ended or ex is None:
        return False
    if unsync_asked(ex, policy):
        return True
    expanded_here = state.expanded and state.origin is Side.SALESFORCE
    return expanded_here and any(policy.unsync_category in (o.categories or ()) for o in ex.occurrences)


def finish_unsync(state: SeriesState, ex: Series, policy: Policy) -> tuple[tuple[Command, ...], SeriesState]:
    """R-DEL-3 finished: an unsync that stopped part-way (a write refused, a service away) after its
    Lightning series was deleted reads that series gone. That is the unsync's own deletion, not one made in
    Salesforce (R-DEL-5 would delete a Lightning-made series' Outlook copies): what is left of the unsync is
    done, the bridge's categories off every Outlook copy and the events split out of the series deleted,
    and the state ends as the series' tombstone (R-DEL-9)."""
    if not state.expanded:
        return plan_unsync(state, ex, None, policy)
    ours = (policy.sync_category, policy.error_category)
    commands: list[Command] = [
        CloseIssue(code, state.sf_series, state.ex_series) for code in sorted(state.open_issues)
    ]
    commands += [DeleteEvent(p.sf_id, None) for p in state.occurrences if p.split and p.sf_id]
    for copy in ex.occurrences:
        held = tuple(c for c in ours if c in (copy.categories or ()))
        if held:
            commands.append(UpdateItem(copy.id, None, remove_categories=held))
    kept = tuple(replace(p, sf_id=None, split=False) for p in state.occurrences if p.ex_id)
    ended = replace(
        state,
        ended=True,
        occurrences=kept,
        open_issues=frozenset(),
        sf_series=None,
        sf_version=None,
        ex_version=None,
    )
    return tuple(commands), ended


def unsync_interrupted(prior: SeriesState, failure: IssueCode | None) -> SeriesState:
    """The state to keep when a plan that ends the series stopped on a refused write: the series as it
    was, its versions forgotten so that the next pass plans the unsync again (`finish_unsync` once its
    Lightning series is gone), and the failure's issue held so that the finished unsync closes it
    (R-LIM-2: nothing is lost, and the issue says why meanwhile)."""
    state = replace(prior, sf_version=None, ex_version=None)
    if failure is not None:
        state = replace(state, open_issues=state.open_issues | {failure})
    return state


def item_tombstones(state: SeriesState, now: datetime) -> tuple[PairState, ...] | None:
    """R-DEL-9 for a Lightning series expanded into single Outlook items (R-REC-6) that ended with its
    Lightning series gone (unsynced, or deleted in Salesforce with the items kept): nothing is left of it
    in Salesforce, so each item it leaves in Outlook stands alone from then on, kept by a pair's tombstone
    of its own (None for any other state). Like any ended pair, an item comes back only when the person
    gives it the `Salesforce` category again, as an event of its own (`bridge.core.plan`); the other
    items stay unsynced."""
    if not (state.ended and state.expanded and state.origin is Side.SALESFORCE and state.sf_series is None):
        return None
    stone = Tombstone(reason="R-REC-7", at=now)  # the series ended as one unit
    return tuple(
        PairState(
            status=PairStatus.ENDED,
            kind=Kind.B,
            origin=Side.SALESFORCE,
            key=f"ex:{p.ex_id}",
            ex_id=p.ex_id,
            tombstone=stone,
        )
        for p in state.occurrences
        if p.ex_id and not p.sf_id
    )


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
