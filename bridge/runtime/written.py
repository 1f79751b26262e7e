"""What a write leaves behind: the state's version after it and the raw copy the store keeps in step.

The executor records every version a write returned on the plan's state (R-MERGE-3: the bridge's own
writes are recognised when they come back) and keeps the raw copies of the store as they were written, so a
later change is applied onto them without a read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from bridge.core.commands import UpdateItem
from bridge.core.fields import ExchangeItem
from bridge.core.model import PairState, Side
from bridge.ports import EventRecord, Written
from bridge.runtime import records

ITEM_FIELDS = frozenset(f.name for f in fields(ExchangeItem))


def after_write(state: PairState | None, side: Side, written: Written) -> PairState | None:
    if state is None:
        return None
    return records.with_ids(state, side, written.id, written.version)


def event_written(written: Written, record: EventRecord) -> Written:
    """A Salesforce write's version as the core reads it: the stamp the service gave, with the digest of the
    record as written (`bridge.core.fields.salesforce_version`)."""
    return replace(written, version=records.event_version(record)) if written.version else written


def version_fields(written: Written) -> dict[str, object]:
    # The stored record's version must be the written one, not the one before the write.
    return {"SystemModstamp": written.version} if written.version else {}


def new_item(
    written: Written, values: Mapping[str, object], categories: tuple[str, ...], now: datetime
) -> ExchangeItem | None:
    known: dict[str, Any] = {k: v for k, v in values.items() if k in ITEM_FIELDS}
    try:
        return ExchangeItem(
            **{
                "item_id": written.id,
                "change_key": written.version or "",
                "last_modified_time": now,
                "uid": written.uid,
                "categories": tuple(categories),
                **known,
            }
        )
    except TypeError:
        return None


def updated_item(
    item: ExchangeItem | None, written: Written, values: Mapping[str, object], command: UpdateItem
) -> ExchangeItem | None:
    if item is None:
        return None
    categories = [c for c in item.categories if c not in command.remove_categories]
    categories += [c for c in command.add_categories if c not in categories]
    known: dict[str, Any] = {k: v for k, v in values.items() if k in ITEM_FIELDS}
    return replace(item, change_key=written.version or item.change_key, categories=tuple(categories), **known)


def uid_of_created(item: ExchangeItem) -> str | None:
    """The UID of an item the bridge just created, read back because the create's answer lacked it (EWS
    answers CreateItem with the id only); None when Exchange has not given it one."""
    return item.uid or None
