"""Expanded series (R-REC-6): a pattern the other side cannot hold syncs occurrence by occurrence, each as
a single copy on the other side, still paired by (series, original start).

The series stays on its origin's side; the other side holds one single copy per occurrence in the window
(with the `Salesforce` category in Outlook, R-CAT-1). An occurrence's pair keeps one base: the content
both copies held when last in step. Each copy is compared with it in the terms its side holds (the fields
the bridge would write there), so what a side cannot hold (invitees on a Salesforce row, a description
kept apart under R-DESC-1) is no change. Then:

- an occurrence new in the window: its single copy is created;
- an occurrence changed in the series: its single copy is updated;
- a single copy changed: the occurrence becomes an exception in the series (R-REC-3: split out of a
  Lightning series where Salesforce cannot hold it); changed on both, R-MERGE-2's tie winner decides;
- an occurrence deleted in the series: its single copy is deleted (R-REC-4); a single copy deleted: the
  occurrence is deleted in the series;
- a pattern changed (Salesforce re-creates the series under a new id, which the runtime re-keys): the
  occurrences the new pattern no longer gives have no row, so their copies go, and the new ones come;
- the whole series gone: each copy under the R-DEL table, as one unit (`plan_expanded_gone`, R-REC-7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from bridge.core.commands import (
    CloseIssue,
    Command,
    DeleteEvent,
    DeleteItem,
    FieldValues,
    UpdateEvent,
    UpdateItem,
    frozen_fields,
)
from bridge.core.deletion import Action, Outcome, outcome
from bridge.core.fields import EX_EVENT_ID_FIELD, SF_ITEM_ID_FIELD, exchange_fields
from bridge.core.issues import IssueCode
from bridge.core.model import SCALAR_FIELDS, Content, Kind, Policy, Side, Timed
from bridge.core.patterns import Anchor, Pattern, Unmappable
from bridge.core.private import mask_target, project
from bridge.core.series import Occurrence, OccurrencePair, Series, SeriesState
from bridge.core.series_commands import CreateSingle, DeleteOccurrence, DeleteSeries
from bridge.core.series_writes import (
    fields_for,
    info,
    invitees_added,
    unanswered,
    writable,
    write_exception,
)

_SINGLES = Unmappable("SHAPE", "the single copies of an expanded series")
_PEOPLE = ("attendees",)


def singles_series(side: Side, occurrences: Sequence[Occurrence], like: Series | None) -> Series:
    """The single copies of an expanded series on `side` as the `Series` `plan_expanded` diffs: only its
    occurrences count (keyed by the original starts the pairs hold); the rest is `like`'s, or neutral."""
    found = tuple(sorted(occurrences, key=lambda o: o.original_start))
    version = "+".join(f"{o.id}:{o.version}" for o in found)
    if like is not None:
        return Series(side, "", version, like.modified, like.content, _SINGLES, like.anchor, found)
    first = found[0].original_start if found else datetime(1970, 1, 1, tzinfo=UTC)
    content = found[0].content if found else Content("", Timed(first, first))
    anchor = Anchor(first.date(), first.time().replace(tzinfo=None), "UTC")
    return Series(side, "", version, first, content, _SINGLES, anchor, found)


def plan_expanded(
    state: SeriesState, series: Series, singles: Series | None, policy: Policy, now: datetime
) -> tuple[tuple[Command, ...], SeriesState]:
    """R-REC-6: each occurrence of an unmappable series in the window syncs as a single copy on the other
    side, paired by (series, original start); edits and deletions travel one by one. `singles` is None
    when the other side's copies were not read: then nothing of theirs is taken for deleted."""
    source, target = series.side, series.side.other
    if _unsync_asked(series, singles, policy):
        return _unsynced(state, series, singles, policy)
    commands: list[Command] = info(IssueCode.RECURRING_EXPANDED, state, policy, _reason(series))
    travels = writable(target, state, None, policy)
    if source is Side.EXCHANGE and travels and policy.sync_category not in series.categories:
        # R-CAT-1: the Outlook series, synced now, carries the category, as a series kept whole does.
        commands.append(UpdateItem(series.id, None, add_categories=(policy.sync_category,)))
    start, end = now - policy.past, now + policy.future
    created = _names(target, policy, later=False)
    keys = {p.original_start for p in state.occurrences} | {o.original_start for o in series.occurrences}
    pairs: list[OccurrencePair] = []
    split = False
    for key in sorted(keys):
        own = series.occurrence(key)
        twin = singles.occurrence(key) if singles is not None else None
        pair = state.pair_at(key)
        own_id = _id_on(source, pair)
        twin_id = _id_on(target, pair)
        if pair is None or twin_id is None:  # no single copy yet (or its create did not happen)
            if own is not None and start <= key < end and writable(target, state, None, policy):
                content = project(
                    own.content, target, policy, mask_target(own.content, policy, target) is not None
                )
                content = unanswered(content) if target is Side.EXCHANGE else content
                fields = fields_for(target, content, created, policy)
                fields[EX_EVENT_ID_FIELD if target is Side.EXCHANGE else SF_ITEM_ID_FIELD] = own.id
                categories = (policy.sync_category,) if target is Side.EXCHANGE else ()
                commands.append(CreateSingle(target, key, frozen_fields(fields), categories))
                pairs.append(_pair(source, key, own.id, None, own.content))
            continue
        if own is None:
            if start <= key < end or source is Side.SALESFORCE:  # deleted in the series (R-REC-4)
                if (twin is not None or singles is None) and writable(target, state, None, policy):
                    commands.append(_delete_single(target, twin_id))
                continue
            pairs.append(pair)  # an Exchange occurrence out of the window is only not read
            continue
        if twin is None and singles is not None:  # the single copy was deleted (R-REC-4)
            if own_id is not None and writable(source, state, None, policy):
                commands.append(DeleteOccurrence(source, series.id, key, own_id))
            continue
        pair = _with_id(pair, source, own.id)
        # No base: a pairing recovered without the store (R-PAIR-1); the series' side is the truth.
        base = pair.base or (twin.content if twin is not None else own.content)
        masked = mask_target(base, policy, target) is not None
        own_changed = not _holds(source, own.content, base, policy)
        twin_changed = twin is not None and not masked and not _holds(target, twin.content, base, policy)
        if own_changed and (not twin_changed or policy.tie_winner is source):
            if writable(target, state, None, policy):
                shown = project(own.content, target, policy, masked)
                values = frozen_fields(fields_for(target, shown, _names(target, policy), policy))
                commands.append(_update_single(target, twin_id, values))
            pair = replace(pair, base=own.content)
        elif twin_changed and twin is not None:
            if writable(source, state, None, policy):
                back = _names(source, policy)
                was_split = pair.split
                written, pair = write_exception(source, series.id, pair, twin.content, back, policy, now)
                split = split or (pair.split and not was_split)
                commands += written
            else:
                pair = replace(pair, base=twin.content)
        read = twin.categories if twin is not None and source is Side.SALESFORCE else None
        if read is not None and policy.sync_category not in read and writable(target, state, None, policy):
            # R-DEL-1: the `Salesforce` category taken off a single item is put back, as on any synced item.
            commands.append(UpdateItem(twin_id, None, add_categories=(policy.sync_category,)))
        if source is Side.SALESFORCE and twin is not None and pair.base is not None:
            # R-REC-7 with R-ATT-1/2: a row's invitees added since the base join its item; removed, stay.
            joined = invitees_added(own.content, base, twin.content, policy)
            if joined and not masked and writable(target, state, None, policy):
                people = replace(twin.content, attendees=(*twin.content.attendees, *joined))
                commands.append(
                    UpdateItem(twin_id, None, frozen_fields(exchange_fields(people, _PEOPLE, policy)))
                )
            pair = replace(pair, base=replace(pair.base, attendees=own.content.attendees))
        pairs.append(pair)
    opened = state.open_issues | {IssueCode.RECURRING_EXPANDED}
    if split:
        commands += info(IssueCode.OCCURRENCE_SPLIT, state, policy)
        opened |= {IssueCode.OCCURRENCE_SPLIT}
    state = replace(
        state,
        occurrences=tuple(pairs),
        open_issues=opened,
        sf_version=series.version if source is Side.SALESFORCE else state.sf_version,
        ex_version=series.version if source is Side.EXCHANGE else state.ex_version,
    )
    return tuple(commands), state


def plan_expanded_gone(
    state: SeriesState, singles: Series | None, policy: Policy
) -> tuple[tuple[Command, ...], SeriesState | None]:
    """R-REC-7: the series of an expanded pairing gone on its origin's side: every single copy goes under
    the R-DEL table as one unit (deleted, or its `Salesforce` category removed). The state is forgotten
    when no copy is left, else kept as the tombstone (R-DEL-9) that still holds the copies left, so the
    pair road never takes them for new ones. An occurrence split out of the Lightning series (R-REC-3)
    goes with its series, as `bridge.core.series_gone` has it."""
    gone, other = state.origin, state.origin.other
    copies = {o.original_start: o for o in (singles.occurrences if singles is not None else ())}
    action = Action.DELETED_IN_SALESFORCE if gone is Side.SALESFORCE else Action.DELETED_IN_EXCHANGE
    commands: list[Command] = []
    kept: list[OccurrencePair] = []
    for pair in state.occurrences:
        if gone is Side.SALESFORCE and pair.split and pair.sf_id:  # split out of the series: goes with it
            commands.append(DeleteEvent(pair.sf_id, None))
        record = _id_on(other, pair)
        copy = copies.get(pair.original_start)
        if record is None or copy is None:
            continue
        kind = _kind(state, copy.content)
        cell = outcome(action, kind, policy)
        if cell in (Outcome.DELETE_EVENT, Outcome.DELETE_ITEM) and writable(other, state, None, policy):
            commands.append(_delete_single(other, record))
            continue
        if cell is Outcome.REMOVE_CATEGORY and other is Side.EXCHANGE:
            commands.append(UpdateItem(record, None, remove_categories=(policy.sync_category,)))
        kept.append(_with_id(pair, gone, None))
    if not kept:
        return tuple(commands), None
    ended = replace(state, ended=True, occurrences=tuple(kept), open_issues=frozenset())
    if gone is Side.SALESFORCE:
        return tuple(commands), replace(ended, sf_series=None, sf_version=None)
    return tuple(commands), replace(ended, ex_series=None, ex_version=None)


def _unsync_asked(series: Series, singles: Series | None, policy: Policy) -> bool:
    """R-DEL-3: `Salesforce Unsync` on the Outlook series, or on any single item of a Lightning series
    expanded in Outlook: the series is one unit (R-REC-7), so any of its items asks for all of it."""
    if series.side is Side.EXCHANGE:
        return policy.unsync_category in series.categories
    return singles is not None and any(
        policy.unsync_category in (o.categories or ()) for o in singles.occurrences
    )


def _unsynced(
    state: SeriesState, series: Series, singles: Series | None, policy: Policy
) -> tuple[tuple[Command, ...], SeriesState]:
    """R-DEL-3 for an expanded series, as one unit (R-REC-7): the Salesforce side goes where the table
    says ("event deleted": the Lightning series with its split events, or each single event made for an
    Outlook series; in a one-way setting nothing is deleted there), every Outlook copy stays without the
    bridge's categories, and the state ends as the series' tombstone (R-DEL-9), never synced again."""
    content = state.base_of(Side.SALESFORCE) or series.content
    made = state.origin if state.origin is not None else series.side
    kind = (
        Kind.C
        if content.attendees or series.content.attendees
        else Kind.A
        if made is Side.EXCHANGE
        else Kind.B
    )
    cell = outcome(Action.UNSYNC_CATEGORY, kind, policy)
    deletes = cell is Outcome.DELETE_EVENT and writable(Side.SALESFORCE, state, None, policy)
    ours = (policy.sync_category, policy.error_category)
    commands: list[Command] = []
    if series.side is Side.SALESFORCE:
        if deletes:
            commands.append(DeleteSeries(Side.SALESFORCE, series.id))
            commands += [DeleteEvent(p.sf_id, None) for p in state.occurrences if p.split and p.sf_id]
        for copy in singles.occurrences if singles is not None else ():
            held = tuple(c for c in ours if c in (copy.categories or ()))
            if held:
                commands.append(UpdateItem(copy.id, None, remove_categories=held))
    else:
        if deletes:
            commands += [DeleteEvent(p.sf_id, None) for p in state.occurrences if p.sf_id]
        held = tuple(c for c in ours if c in series.categories)
        if held:
            commands.append(UpdateItem(series.id, None, remove_categories=held))
    kept = tuple(replace(p, sf_id=None, split=False) for p in state.occurrences if p.ex_id)
    closed = [CloseIssue(code, state.sf_series, state.ex_series) for code in sorted(state.open_issues)]
    ended = replace(
        state,
        ended=True,
        occurrences=kept,
        open_issues=frozenset(),
        sf_series=None if deletes else state.sf_series,
        sf_version=None,
        ex_version=None,
    )
    return (*closed, *commands), ended


def _kind(state: SeriesState, content: Content) -> Kind:
    """The copy's kind of SPEC §8: a meeting when it has invitees, else where the series began."""
    if content.attendees:
        return Kind.C
    return Kind.A if state.origin is Side.EXCHANGE else Kind.B


def _names(side: Side, policy: Policy, later: bool = True) -> tuple[str, ...]:
    """The fields written to `side`: invitees travel to Exchange only, on creation (a Lightning row read
    with its series carries none); later, the description only without R-DESC-1."""
    names = (*SCALAR_FIELDS, "attendees") if side is Side.EXCHANGE and not later else SCALAR_FIELDS
    if later and policy.safe_description:
        names = tuple(n for n in names if n != "description")
    return names


def _holds(side: Side, found: Content, base: Content, policy: Policy) -> bool:
    """Whether a copy on `side` still holds `base`, in what the bridge writes there after creation."""
    names = _names(side, policy)
    held = fields_for(side, project(found, side, policy, False), names, policy)
    return held == fields_for(side, project(base, side, policy, False), names, policy)


def _reason(series: Series) -> str:
    return series.rule.reason if not isinstance(series.rule, Pattern) else ""


def _id_on(side: Side, pair: OccurrencePair | None) -> str | None:
    if pair is None:
        return None
    return pair.sf_id if side is Side.SALESFORCE else pair.ex_id


def _with_id(pair: OccurrencePair, side: Side, record_id: str | None) -> OccurrencePair:
    if side is Side.SALESFORCE:
        return replace(pair, sf_id=record_id)
    return replace(pair, ex_id=record_id)


def _pair(source: Side, key: datetime, own_id: str, twin_id: str | None, base: Content) -> OccurrencePair:
    if source is Side.SALESFORCE:
        return OccurrencePair(key, own_id, twin_id, base)
    return OccurrencePair(key, twin_id, own_id, base)


def _delete_single(target: Side, record_id: str) -> Command:
    if target is Side.EXCHANGE:
        return DeleteItem(record_id, None, send_cancellations=False)
    return DeleteEvent(record_id, None)


def _update_single(target: Side, record_id: str, fields: FieldValues) -> Command:
    if target is Side.EXCHANGE:
        return UpdateItem(record_id, None, fields)
    return UpdateEvent(record_id, None, fields)
