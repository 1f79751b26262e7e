"""Expanded series (R-REC-6): a pattern the other side cannot hold syncs occurrence by occurrence, each as
a single copy on the other side, still paired by (series, original start)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bridge.core.commands import (
    Command,
    DeleteEvent,
    DeleteItem,
    FieldValues,
    UpdateEvent,
    UpdateItem,
    frozen_fields,
)
from bridge.core.fields import EX_EVENT_ID_FIELD, SF_ITEM_ID_FIELD
from bridge.core.issues import IssueCode
from bridge.core.model import SCALAR_FIELDS, Content, Policy, Side
from bridge.core.patterns import Pattern
from bridge.core.private import mask_target, project
from bridge.core.series import OccurrencePair, Series, SeriesState
from bridge.core.series_commands import CreateSingle, DeleteOccurrence
from bridge.core.series_writes import fields_for, info, writable, write_exception


def plan_expanded(
    state: SeriesState, series: Series, singles: Series | None, policy: Policy, now: datetime
) -> tuple[tuple[Command, ...], SeriesState]:
    """R-REC-6: each occurrence of an unmappable series in the window syncs as a single copy on the other
    side, paired by (series, original start); edits and deletions travel one by one."""
    source, target = series.side, series.side.other
    commands: list[Command] = info(IssueCode.RECURRING_EXPANDED, state, policy, _reason(series))
    start, end = now - policy.past, now + policy.future
    names = (*SCALAR_FIELDS, "attendees") if target is Side.EXCHANGE else SCALAR_FIELDS
    keys = {p.original_start for p in state.occurrences} | {o.original_start for o in series.occurrences}
    if singles is not None:
        keys |= {o.original_start for o in singles.occurrences}
    pairs: list[OccurrencePair] = []
    for key in sorted(keys):
        own = series.occurrence(key)
        twin = singles.occurrence(key) if singles is not None else None
        pair = state.pair_at(key)
        if pair is None:
            if own is not None and start <= key < end and writable(target, state, None, policy):
                content = project(
                    own.content, target, policy, mask_target(own.content, policy, target) is not None
                )
                fields = fields_for(target, content, names, policy)
                fields[EX_EVENT_ID_FIELD if target is Side.EXCHANGE else SF_ITEM_ID_FIELD] = own.id
                categories = (policy.sync_category,) if target is Side.EXCHANGE else ()
                commands.append(CreateSingle(target, key, frozen_fields(fields), categories))
                pairs.append(_pair(source, key, own.id, None, own.content))
            continue
        own_id = pair.sf_id if source is Side.SALESFORCE else pair.ex_id
        twin_id = pair.ex_id if source is Side.SALESFORCE else pair.sf_id
        if own is None and start <= key < end:  # deleted in the series (R-REC-4)
            if twin_id is not None and writable(target, state, None, policy):
                commands.append(_delete_single(target, twin_id))
            continue
        if twin is None and singles is not None and twin_id is not None:  # the single was deleted
            if own_id is not None and writable(source, state, None, policy):
                commands.append(DeleteOccurrence(source, series.id, key, own_id))
            continue
        if own is not None and pair.base is not None and own.content != pair.base and twin_id is not None:
            values = fields_for(target, project(own.content, target, policy, False), names, policy)
            commands.append(_update_single(target, twin_id, frozen_fields(values)))
            pair = replace(pair, base=own.content)
        elif twin is not None and pair.base is not None and twin.content != pair.base:
            back = (*SCALAR_FIELDS, "attendees") if source is Side.EXCHANGE else SCALAR_FIELDS
            written, pair = write_exception(source, series.id, pair, twin.content, back, policy, now)
            commands += written
        pairs.append(pair)
    opened = state.open_issues | {IssueCode.RECURRING_EXPANDED}
    versions = {series.side: series.version}
    state = replace(
        state,
        occurrences=tuple(pairs),
        open_issues=opened,
        sf_version=versions.get(Side.SALESFORCE, state.sf_version),
        ex_version=versions.get(Side.EXCHANGE, state.ex_version),
    )
    return tuple(commands), state


def _reason(series: Series) -> str:
    return series.rule.reason if not isinstance(series.rule, Pattern) else ""


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
