"""Recurring masters, their occurrences and exceptions: ids, views, and the changes EWS makes to them.

Exchange stores one item, the master. Occurrences are computed (``recurrence.py``) and never stored; an
exception is kept on its master as the fields that differ, keyed by the occurrence's original start; a
deleted occurrence is only its original start. So a change to one occurrence is a change of the master: new
ChangeKey, a ``ModifiedEvent`` and a SyncFolderItems ``Update`` for the master, as on a real server.

Ids: an occurrence's ItemId encodes its master's id and its original start, so it is stable (the same before
and after it becomes an exception) and needs no storage. Occurrences share the master's ChangeKey.
"""

from __future__ import annotations

import base64
import copy
import struct
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from .model import CalendarItem
from .recurrence import Recurrence, occurrence_starts, write_recurrence
from .timezones import zone_for
from .wire import Element, EWSError, fmt_time, sub, t

_ITEM_TAG = b"\x00\x00\x49"
_OCCURRENCE_TAG = b"\x00\x00\x4f"
MAX_VIEW_SPAN = timedelta(days=2 * 365 + 1)  # CalendarView window: two years

# Fields an exception never overrides (identity, series data, mailbox bookkeeping).
_FIXED = frozenset(
    {
        "item_id", "change_key", "mailbox", "folder_id", "created", "last_modified", "uid", "recurrence",
        "exceptions", "deleted_occurrences", "master_id", "original_start", "is_exception", "organizer",
        "sequence", "meeting_request_was_sent", "is_read", "start_tz", "end_tz",
    }
)  # fmt: skip
OVERRIDABLE = tuple(f.name for f in fields(CalendarItem) if f.name not in _FIXED)


@dataclass
class SeriesOptions:
    """Choices where Exchange's behaviour is not documented (docs/sandbox-series.md).

    ``keep_exceptions_on_pattern_change``: when a master's pattern or time changes, Outlook warns that
    exceptions are lost and the sandbox drops them and the deletions (default); True keeps those whose
    original start still falls on the new pattern.
    """

    keep_exceptions_on_pattern_change: bool = False


OPTIONS = SeriesOptions()


# ---- ids ---------------------------------------------------------------------------------------------------


def occurrence_id(master: CalendarItem, original_start: datetime) -> str:
    raw = base64.b64decode(master.item_id)
    return base64.b64encode(
        _OCCURRENCE_TAG + raw[3:] + struct.pack(">q", int(original_start.timestamp()))
    ).decode()


def parse_occurrence_id(value: str) -> tuple[str, datetime] | None:
    """(master id, original start) when ``value`` is an occurrence id, else None."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return None
    if len(raw) != 32 or not raw.startswith(_OCCURRENCE_TAG):
        return None
    master_id = base64.b64encode(_ITEM_TAG + raw[3:24]).decode()
    (stamp,) = struct.unpack(">q", raw[24:])
    return master_id, datetime.fromtimestamp(stamp, UTC)


# ---- expansion ---------------------------------------------------------------------------------------------


def duration(master: CalendarItem) -> timedelta:
    assert master.start is not None and master.end is not None
    return master.end - master.start


def original_starts(master: CalendarItem) -> Iterator[datetime]:
    assert master.recurrence is not None and master.start is not None
    return occurrence_starts(master.recurrence, master.start, master.start_tz)


def view(master: CalendarItem, original_start: datetime) -> CalendarItem:
    """The occurrence (or exception) of ``master`` that originally starts at ``original_start``."""
    item = copy.copy(master)
    item.item_id = occurrence_id(master, original_start)
    item.master_id = master.item_id
    item.original_start = original_start
    item.start = original_start
    item.end = original_start + duration(master)
    item.recurrence = None
    item.exceptions = {}
    item.deleted_occurrences = []
    overrides = master.exceptions.get(original_start)
    item.is_exception = overrides is not None
    for name, value in (overrides or {}).items():
        setattr(item, name, value)
    return item


def live_views(master: CalendarItem, until: datetime | None = None) -> Iterator[tuple[int, CalendarItem]]:
    """(1-based instance index, view) of each occurrence not deleted, originally starting before ``until``."""
    deleted = set(master.deleted_occurrences)
    for index, start in enumerate(original_starts(master), 1):
        if until is not None and start >= until:
            return
        if start not in deleted:
            yield index, view(master, start)


def in_window(master: CalendarItem, start: datetime, end: datetime) -> list[CalendarItem]:
    """Occurrences and exceptions overlapping [start, end) (one ending at ``start`` counts, like singles)."""
    moved_in = [k for k, o in master.exceptions.items() if k >= end and o.get("start", k) < end]
    horizon = max([end, *moved_in]) + timedelta(
        seconds=1
    )  # exceptions moved earlier than their original start
    found: list[CalendarItem] = []
    for _, item in live_views(master, horizon):
        assert item.start is not None and item.end is not None
        if item.start < end and item.end >= start:
            found.append(item)
    return found


def by_index(master: CalendarItem, index: int) -> CalendarItem:
    if master.recurrence is None:
        raise EWSError(
            "ErrorCalendarCannotUseIdForOccurrenceId", "The item id is not the id of a recurring master."
        )
    if index >= 1:
        for position, start in enumerate(original_starts(master), 1):
            if position == index:
                if start in master.deleted_occurrences:
                    raise EWSError(
                        "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                        "Occurrence with this index was previously deleted from the recurrence.",
                    )
                return view(master, start)
            if position > index:
                break
    raise EWSError(
        "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
        "Occurrence index is out of recurrence range.",
    )


def by_original_start(master: CalendarItem, original_start: datetime) -> CalendarItem:
    if master.recurrence is not None:
        for start in original_starts(master):
            if start == original_start:
                if start in master.deleted_occurrences:
                    raise EWSError(
                        "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                        "Occurrence with this index was previously deleted from the recurrence.",
                    )
                return view(master, start)
            if start > original_start:
                break
    raise EWSError("ErrorItemNotFound", "The specified object was not found in the store.")


# ---- changes -----------------------------------------------------------------------------------------------


def settle(master: CalendarItem, before: CalendarItem | None = None) -> None:
    """After a create or an update of ``master``: a start date for the range, the master moved onto its first
    occurrence (as Exchange shows it), and, when the pattern or time changed, the exceptions rebuilt."""
    rec = master.recurrence
    if rec is None:
        master.exceptions, master.deleted_occurrences = {}, []
        return
    changed = before is None or _pattern_key(before) != _pattern_key(master)
    if before is not None and before.recurrence is not None and changed and before.recurrence == rec:
        # The time moved without a new pattern: the series starts on the new start's date.
        assert master.start is not None
        rec.start_date = master.start.astimezone(zone_for(master.start_tz)).date()
    _check_duration(master)
    assert master.start is not None
    length = duration(master)
    first = next(occurrence_starts(rec, master.start, master.start_tz), None)
    if first is None:
        raise EWSError("ErrorRecurrenceHasNoOccurrence", "The recurrence pattern has no occurrences.")
    master.start, master.end = first, first + length
    if before is not None and changed:
        if OPTIONS.keep_exceptions_on_pattern_change:
            still = set(_limited_starts(master, set(master.exceptions) | set(master.deleted_occurrences)))
            master.exceptions = {k: v for k, v in master.exceptions.items() if k in still}
            master.deleted_occurrences = [d for d in master.deleted_occurrences if d in still]
        else:
            master.exceptions, master.deleted_occurrences = {}, []


def _limited_starts(master: CalendarItem, wanted: set[datetime]) -> Iterator[datetime]:
    latest = max(wanted, default=None)
    if latest is None:
        return
    for start in original_starts(master):
        if start > latest:
            return
        if start in wanted:
            yield start


def _pattern_key(item: CalendarItem) -> tuple[Any, ...]:
    return (item.recurrence, item.start, item.end, item.start_tz)


def _check_duration(item: CalendarItem) -> None:
    if item.start is not None and item.end is not None and item.end - item.start > timedelta(days=5 * 365):
        raise EWSError("ErrorCalendarDurationIsTooLong", "The duration of the calendar item is too long.")


def store_exception(master: CalendarItem, occurrence: CalendarItem, draft: CalendarItem) -> None:
    """Record ``draft`` (an edited copy of ``occurrence``) as an exception on ``master``."""
    assert draft.original_start is not None and draft.start is not None
    plain = view(_without_exception(master, draft.original_start), draft.original_start)
    _check_boundaries(master, draft)
    overrides = {
        name: copy.deepcopy(getattr(draft, name))
        for name in OVERRIDABLE
        if getattr(draft, name) != getattr(plain, name)
    }
    master.exceptions[draft.original_start] = overrides


def _without_exception(master: CalendarItem, original_start: datetime) -> CalendarItem:
    bare = copy.copy(master)
    bare.exceptions = {k: v for k, v in master.exceptions.items() if k != original_start}
    return bare


def _check_boundaries(master: CalendarItem, draft: CalendarItem) -> None:
    """An occurrence may not move onto or past the day of a neighbour (ErrorOccurrenceCrossingBoundary)."""
    assert draft.start is not None and draft.original_start is not None
    before: CalendarItem | None = None
    after: CalendarItem | None = None
    for _, other in live_views(master):
        if other.original_start == draft.original_start:
            continue
        assert other.original_start is not None
        if other.original_start < draft.original_start:
            before = other
        else:
            after = other
            break
    if (before is not None and before.start is not None and draft.start.date() <= before.start.date()) or (
        after is not None and after.start is not None and draft.start.date() >= after.start.date()
    ):
        raise EWSError(
            "ErrorOccurrenceCrossingBoundary",
            "An occurrence cannot be moved to or before the day of the previous occurrence, or to or after "
            "the day of the next occurrence.",
        )


def delete_occurrence(master: CalendarItem, original_start: datetime) -> None:
    master.exceptions.pop(original_start, None)
    if original_start not in master.deleted_occurrences:
        master.deleted_occurrences.append(original_start)
        master.deleted_occurrences.sort()


# ---- writing -----------------------------------------------------------------------------------------------


def is_recurring(item: CalendarItem) -> bool:
    """EWS's documented quirk: false for singles and for the organizer's own master."""
    if item.master_id is not None:
        return True
    return item.recurrence is not None and item.my_response_type != "Organizer"


def _write_occurrence(parent: Element, tag: str, item: CalendarItem) -> None:
    assert item.start is not None and item.end is not None and item.original_start is not None
    out = sub(parent, t(tag))
    sub(out, t("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
    sub(out, t("Start"), fmt_time(item.start))
    sub(out, t("End"), fmt_time(item.end))
    sub(out, t("OriginalStart"), fmt_time(item.original_start))


def write_series_fields(out: Element, item: CalendarItem, wants: Any) -> None:
    """Recurrence, FirstOccurrence, LastOccurrence, ModifiedOccurrences, DeletedOccurrences (masters only)."""
    rec = item.recurrence
    if rec is None:
        return
    if wants("calendar:Recurrence"):
        write_recurrence(out, rec, item.start_tz)
    if wants("calendar:FirstOccurrence") or wants("calendar:LastOccurrence"):
        first, last = first_and_last(item)
        if wants("calendar:FirstOccurrence") and first is not None:
            _write_occurrence(out, "FirstOccurrence", first)
        if wants("calendar:LastOccurrence") and last is not None:
            _write_occurrence(out, "LastOccurrence", last)
    if wants("calendar:ModifiedOccurrences") and item.exceptions:
        group = sub(out, t("ModifiedOccurrences"))
        for start in sorted(item.exceptions):
            _write_occurrence(group, "Occurrence", view(item, start))
    if wants("calendar:DeletedOccurrences") and item.deleted_occurrences:
        group = sub(out, t("DeletedOccurrences"))
        for start in item.deleted_occurrences:
            sub(sub(group, t("DeletedOccurrence")), t("Start"), fmt_time(start))


def first_and_last(master: CalendarItem) -> tuple[CalendarItem | None, CalendarItem | None]:
    """The first and last occurrences not deleted; no last one for a series without an end."""
    rec: Recurrence | None = master.recurrence
    assert rec is not None
    first: CalendarItem | None = None
    last: CalendarItem | None = None
    if rec.range == "NoEndRecurrence":
        first = next((v for _, v in live_views(master)), None)
        return first, None
    for _, item in live_views(master):
        first = first or item
        last = item
    return first, last
