"""Recurring series in EWS (SPEC §15): read a master with its occurrences and exceptions as a core `Series`,
create one, and the exchangelib <-> core translation of a recurrence (blocking; run on workers).

Exchange reports an edited or deleted occurrence as an update of its master (reference/recurrence.md §3.6),
so the runtime answers any master update with `read_series`: the master (pattern, DeletedOccurrences) and a
CalendarView of the window (occurrences and exceptions with their OriginalStart), which the core diffs
against the pairs it keeps (bridge.core.series_plan).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import exchangelib.recurrence as ews
from exchangelib import Account, CalendarItem, EWSDateTime
from exchangelib.errors import ErrorCalendarOccurrenceIsDeletedFromRecurrence
from exchangelib.items import NEVER_OVERWRITE, SAVE_ONLY, SEND_TO_NONE

from bridge.core.fields import item_from_exchange
from bridge.core.model import Policy, Side
from bridge.core.patterns import Anchor
from bridge.core.patterns_ews import EwsRecurrence, pattern_from_ews
from bridge.core.series import Occurrence, Series
from bridge.errors import MappingError, NotFoundError, TransientError
from bridge.ports import Written

from .items import READ_FIELDS, apply_fields, iana_zone, to_exchange_item

MASTER_FIELDS = (*READ_FIELDS, "type", "recurrence", "deleted_occurrences")
OCCURRENCE_FIELDS = (*READ_FIELDS, "type", "original_start")
_IN_SERIES = ("Occurrence", "Exception")
_READS = 3  # a series still changing after these is read as last seen: its next notification reads it again


def to_core(recurrence: ews.Recurrence) -> EwsRecurrence:
    """exchangelib's recurrence in the core's terms (class names and plain arguments)."""
    pattern, boundary = recurrence.pattern, recurrence.boundary
    args = {f.name: getattr(pattern, f.name) for f in pattern.FIELDS if getattr(pattern, f.name) is not None}
    bounds = {
        f.name: getattr(boundary, f.name) for f in boundary.FIELDS if getattr(boundary, f.name) is not None
    }
    return EwsRecurrence(type(pattern).__name__, args, type(boundary).__name__, bounds)


def to_exchangelib(rule: EwsRecurrence) -> ews.Recurrence:
    """The core's EWS recurrence as exchangelib objects; a name or value exchangelib refuses is a
    MappingError."""
    try:
        pattern = getattr(ews, rule.pattern)(**rule.args)
        boundary = getattr(ews, rule.boundary)(**rule.boundary_args)
    except (AttributeError, TypeError, ValueError) as exc:
        raise MappingError(f"recurrence {rule.pattern}/{rule.boundary}: {exc}") from exc
    return ews.Recurrence(pattern=pattern, boundary=boundary)


def read_series(account: Account, master_id: str, start: datetime, end: datetime, policy: Policy) -> Series:
    """The series of `master_id` with its occurrences overlapping [start, end). Raises NotFoundError when
    the master is gone.

    The view is read before the master: a master deleted between the two reads then reads as gone. The
    other way round, its occurrences would vanish from the view while the master still read as there, and
    the series would look as if every occurrence had been deleted one by one.

    The master's ChangeKey is read before the view too, and the reads are made again while it moved: a
    series changed between the view and the master (its pattern, an occurrence) would otherwise pair the
    old occurrences with the new master, and every start of a new pattern would read as deleted."""
    for _attempt in range(_READS):
        (before,) = account.fetch(ids=[(master_id, None)], only_fields=["type"])
        if isinstance(before, Exception):
            raise NotFoundError(Side.EXCHANGE, master_id)
        view = account.calendar.view(
            start=EWSDateTime.from_datetime(start), end=EWSDateTime.from_datetime(end)
        )
        try:
            in_series = [
                found
                for found in view.only(*OCCURRENCE_FIELDS)
                if isinstance(found, CalendarItem) and found.type in _IN_SERIES
            ]
        except ErrorCalendarOccurrenceIsDeletedFromRecurrence as exc:
            # Deleted between the view and the read of its fields: the series is changing, read it again.
            if _attempt + 1 == _READS:
                raise TransientError(f"series {master_id} kept changing while it was read") from exc
            continue
        (master,) = account.fetch(ids=[(master_id, None)], only_fields=list(MASTER_FIELDS))
        if isinstance(master, Exception) or master.recurrence is None:
            raise NotFoundError(Side.EXCHANGE, master_id)
        if master.changekey == before.changekey:
            break
    occurrences = tuple(_occurrence(found, policy) for found in in_series if found.uid == master.uid)
    plain = to_exchange_item(master)
    copy = item_from_exchange(plain, policy)
    zone = iana_zone(master._start_timezone.ms_id if master._start_timezone else None) or "UTC"
    rule = to_core(master.recurrence)
    local_start = _local(master.start, ZoneInfo(zone))
    first = rule.boundary_args.get("start")
    anchor = Anchor(_date(first) if first is not None else local_start.date(), local_start.time(), zone)
    deleted = frozenset(_utc(d.start) for d in master.deleted_occurrences or () if d.start is not None)
    return Series(
        side=Side.EXCHANGE,
        id=master.id,
        version=series_version(master.changekey, occurrences),
        modified=copy.modified,
        content=copy.content,
        rule=pattern_from_ews(rule),
        anchor=anchor,
        occurrences=tuple(sorted(occurrences, key=lambda o: o.original_start)),
        deleted=deleted,
        paired_id=copy.paired_id,
        uid=copy.uid,
        categories=copy.categories,
    )


def series_version(changekey: str, occurrences: Sequence[Occurrence]) -> str:
    """A series' version: its master's ChangeKey, and the occurrences as the view showed them. The view is
    read first, so an occurrence changed between the two reads gives the master's new ChangeKey beside the
    old occurrence: that version is never read again, and the next read (the change's notification) is
    planned, not taken for a replay of this one (R-MERGE-4) that would lose the change."""
    seen = sorted(f"{o.id}:{o.version}:{int(o.exception)}" for o in occurrences)
    return f"{changekey}/{hashlib.sha256(','.join(seen).encode()).hexdigest()[:12]}"


def create_series(
    account: Account, fields: Mapping[str, object], rule: EwsRecurrence, categories: Sequence[str]
) -> Written:
    """A new master with `fields` (its first occurrence) and `rule`; no invitations are sent (R-ATT-12)."""
    label = f"new series for {account.primary_smtp_address}"
    item = CalendarItem(account=account, folder=account.calendar)
    apply_fields(item, fields, label=label)
    item.recurrence = to_exchangelib(rule)
    item.categories = list(dict.fromkeys(categories)) or None
    (saved,) = account.bulk_create(
        folder=account.calendar,
        items=[item],
        message_disposition=SAVE_ONLY,
        send_meeting_invitations=SEND_TO_NONE,
    )
    if isinstance(saved, Exception):
        raise saved
    return Written(id=saved.id, version=saved.changekey)


def end_series(account: Account, master_id: str, last: date) -> Written:
    """ "This and following" deleted on the other side (R-REC-4): the master's range ends on `last`, the
    local date of its last remaining occurrence. Raises NotFoundError when the master is gone."""
    master = _master(account, master_id)
    start = master.recurrence.boundary.start
    boundary = ews.EndDatePattern(start=start, end=max(last, _date(start)))
    master.recurrence = ews.Recurrence(pattern=master.recurrence.pattern, boundary=boundary)
    return _save(account, master, ["recurrence"])


def rebuild_series(
    account: Account, master_id: str, fields: Mapping[str, object], rule: EwsRecurrence
) -> Written:
    """A new pattern or start (R-REC-5): the master's span (`fields`) and recurrence replaced in one
    update. Exchange drops the master's exceptions and deletions with it; the core writes back those whose
    original start the new pattern still gives. Raises NotFoundError when the master is gone."""
    master = _master(account, master_id)
    names = apply_fields(master, fields, label=f"series {master_id} in {account.primary_smtp_address}")
    master.recurrence = to_exchangelib(rule)
    return _save(account, master, [*names, "recurrence"])


def _master(account: Account, master_id: str) -> CalendarItem:
    (master,) = account.fetch(ids=[(master_id, None)], only_fields=list(MASTER_FIELDS))
    if isinstance(master, Exception) or master.recurrence is None:
        raise NotFoundError(Side.EXCHANGE, master_id)
    return master


def _save(account: Account, master: CalendarItem, names: Sequence[str]) -> Written:
    (saved,) = account.bulk_update(
        items=[(master, list(dict.fromkeys(names)))],
        conflict_resolution=NEVER_OVERWRITE,
        message_disposition=SAVE_ONLY,
        send_meeting_invitations_or_cancellations=SEND_TO_NONE,
    )
    if isinstance(saved, Exception):
        raise saved
    return Written(id=saved[0], version=saved[1])


def _occurrence(found: CalendarItem, policy: Policy) -> Occurrence:
    copy = item_from_exchange(to_exchange_item(found), policy)
    original = _utc(found.original_start) if found.original_start is not None else copy.content.when
    start = original if isinstance(original, datetime) else _utc(found.start)
    return Occurrence(start, found.id, copy.content, found.changekey, exception=found.type == "Exception")


def _utc(value: Any) -> datetime:
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _local(value: Any, zone: ZoneInfo) -> datetime:
    """A master's start in its zone; an all-day master's is a date (exchangelib's EWSDate): its midnight."""
    if isinstance(value, datetime):
        return value.astimezone(zone)
    return datetime.combine(value, time(0), zone)


def _date(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value
