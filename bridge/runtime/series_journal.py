"""Series writes in the journal and in observe mode's report (issue 9, SPEC §15), as the pair road's are.

Every series write carried out is journaled (`bridge.store.journal.JournalEntry`) under the series' key:
what was written, in the bridge's field terms (`bridge.runtime.journal` encodes them). The writes of a
single record keep the pair road's actions, so `calbridge undo` reverts them as it does a pair's: a split
occurrence's single event edited ("update" of a Salesforce event), a master's category added or removed
("update" of an Exchange item), and an expanded series' single copies (R-REC-6) made, edited and deleted
("create", "update", "delete", with the copy as read before the write). Each entry keeps the series'
state before its plan (`pair_before`), which undo stores again once every write of the series since is
reverted (none before: the series is forgotten). A write of a series as a whole or of one of its
occurrences has an action of its own (`SERIES_ACTIONS`), which undo reports and leaves as it is.

For a user in observe mode the series road plans and writes nothing: `observed` is what the plan would
do, the commands in words (`describe`) and the issues it would raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bridge.core.commands import Command, DeleteEvent, DeleteItem, RaiseIssue, UpdateEvent, UpdateItem
from bridge.core.fields import ExchangeItem
from bridge.core.issues import Issue
from bridge.core.model import Side
from bridge.core.series import SeriesState
from bridge.core.series_commands import (
    CreateSeries,
    CreateSingle,
    DeleteOccurrence,
    DeleteSeries,
    EndSeries,
    RebuildSeries,
    SplitOccurrence,
    UpdateOccurrence,
    UpdateSeries,
)
from bridge.core.series_serial import series_from_dict, series_to_dict
from bridge.ports import EventRecord
from bridge.runtime import journal
from bridge.store.journal import JournalEntry, ObservedPlan

SERIES_ACTIONS = (
    "series_create",
    "series_update",
    "series_end",
    "series_rebuild",
    "series_delete",
    "occurrence_update",
    "occurrence_delete",
    "occurrence_split",
)
# The writes of one record the series road makes: a master's category, an expanded series' single copies
# (R-REC-6) and a split occurrence's single event (R-REC-3); journaled in the pair road's terms.
_SINGLES = (CreateSingle, UpdateEvent, UpdateItem, DeleteEvent, DeleteItem)
_ACTIONS: dict[type[Command], str] = {
    CreateSeries: "series_create",
    UpdateSeries: "series_update",
    EndSeries: "series_end",
    RebuildSeries: "series_rebuild",
    DeleteSeries: "series_delete",
    UpdateOccurrence: "occurrence_update",
    DeleteOccurrence: "occurrence_delete",
    SplitOccurrence: "occurrence_split",
}


def entry(
    user_id: str,
    key: str,
    command: Command,
    record_id: str,
    at: datetime,
    made: str | None = None,
    categories: Sequence[str] | None = None,
    copy: EventRecord | ExchangeItem | None = None,
    prior: SeriesState | None = None,
) -> JournalEntry | None:
    """The journal entry of one series command carried out on `record_id` (the series, or the occurrence
    or single event it wrote); `made`, the id of a record it created (a series, a split's single event);
    `categories`, a master's categories before a category change, when read; `copy`, a single record
    (an expanded series' copy, a split occurrence's event) as read before the write; `prior`, the series'
    state before the plan, which undo puts back once every write of the series since is reverted. None
    for a command that writes nothing (an issue raised or closed)."""
    after: dict[str, object]
    was = _was(prior)
    if isinstance(command, UpdateEvent):
        after = {"fields": journal.encode_fields(command.fields)}
        before = journal.event_before(copy, command.fields) if isinstance(copy, EventRecord) else None
        return JournalEntry(
            user_id,
            key,
            Side.SALESFORCE,
            "update",
            record_id,
            at,
            before=before,
            after=after,
            pair_before=was,
        )
    if isinstance(command, UpdateItem):
        after = {
            "fields": journal.encode_fields(command.fields),
            "add_categories": list(command.add_categories),
            "remove_categories": list(command.remove_categories),
        }
        if isinstance(copy, ExchangeItem):  # an expanded series' single item (R-REC-6)
            before = journal.item_before(copy, command.fields)
        else:
            before = {"fields": {}, "categories": list(categories)} if categories is not None else None
        return JournalEntry(
            user_id, key, Side.EXCHANGE, "update", record_id, at, before=before, after=after, pair_before=was
        )
    if isinstance(command, DeleteEvent | DeleteItem):  # a single copy (R-REC-6) or a split event
        side = Side.SALESFORCE if isinstance(command, DeleteEvent) else Side.EXCHANGE
        gone = journal.whole_event(copy) if isinstance(copy, EventRecord) else None
        gone = journal.whole_item(copy) if isinstance(copy, ExchangeItem) else gone
        return JournalEntry(user_id, key, side, "delete", record_id, at, before=gone, pair_before=was)
    action = _ACTIONS.get(type(command))
    if action is None:
        return None
    side = getattr(command, "side", Side.SALESFORCE)  # a split is Salesforce's
    after = {"command": describe(command)}
    fields = getattr(command, "fields", None)
    if fields is not None:
        after["fields"] = journal.encode_fields(fields)
    original = getattr(command, "original_start", None)
    if isinstance(original, datetime):
        after["original_start"] = original.isoformat()
    if made is not None:
        after["created"] = made
    return JournalEntry(user_id, key, side, action, record_id, at, after=after, pair_before=was)


def created(
    user_id: str,
    key: str,
    command: CreateSingle,
    record_id: str,
    values: Mapping[str, object],
    at: datetime,
    prior: SeriesState | None,
) -> JournalEntry:
    """An expanded series' single copy made (R-REC-6), journaled as the pair road journals a creation, so
    undo deletes it while it still holds what the bridge wrote."""
    after: dict[str, object] = {"fields": journal.encode_fields(values)}
    if command.side is Side.EXCHANGE:
        after["categories"] = list(command.categories)
    was = _was(prior)
    return JournalEntry(user_id, key, command.side, "create", record_id, at, after=after, pair_before=was)


def holds_prior(data: object) -> bool:
    """Whether a journal entry's `pair_before` says what the series' state was before its plan (entries
    written before series states were journaled do not)."""
    return isinstance(data, dict) and "series" in data


def prior_state(data: object) -> SeriesState | None:
    """The series state a journal entry's `pair_before` holds (`entry`, `created`); None: there was none."""
    if isinstance(data, dict) and data.get("series") is not None:
        return series_from_dict(data["series"])
    return None


def _was(prior: SeriesState | None) -> dict[str, object]:
    return {"series": series_to_dict(prior) if prior is not None else None}


def stored_row(state: SeriesState) -> dict[str, object]:
    """A stored series' state as a journal entry's `pair_before` holds it: what `calbridge undo` journals
    with its own writes, so that undoing the undo puts the series' state back as it was before it."""
    return _was(state)


def observed(
    user_id: str, key: str, commands: Sequence[Command], at: datetime, issues: Sequence[Issue] = ()
) -> ObservedPlan | None:
    """What one series plan would do, for observe mode's report; None when it would do nothing."""
    writes = [c for c in commands if isinstance(c, (*_SINGLES, *_ACTIONS))]
    raised = [c.issue for c in commands if isinstance(c, RaiseIssue)] + list(issues)
    if not writes and not raised:
        return None
    return ObservedPlan(
        user_id,
        key,
        at,
        writes=tuple(type(c).__name__ for c in writes),
        lines=tuple(describe(c) for c in writes),
        issues=tuple(f"{i.code.value}: {i.message}" for i in raised),
    )


def describe(command: Command) -> str:
    """One planned series write as an admin reads it."""
    if isinstance(command, CreateSeries):
        subject = command.fields.get("Subject", command.fields.get("subject", ""))
        return f"create a {command.side} series {str(subject)!r} ({_rule(command.rule)})"
    if isinstance(command, UpdateSeries):
        return f"update {command.side} series {_id(command.series_id)}: {', '.join(sorted(command.fields))}"
    if isinstance(command, EndSeries):
        return f"end {command.side} series {_id(command.series_id)} on {command.last.isoformat()}"
    if isinstance(command, RebuildSeries):
        rule = _rule(command.rule)
        return f"rebuild {command.side} series {_id(command.series_id)} on a new pattern ({rule})"
    if isinstance(command, DeleteSeries):
        return f"delete {command.side} series {_id(command.series_id)}"
    if isinstance(command, UpdateOccurrence):
        return (
            f"update the occurrence of {_when(command.original_start)} in {command.side} series "
            f"{_id(command.series_id)}: {', '.join(sorted(command.fields))}"
        )
    if isinstance(command, DeleteOccurrence):
        return (
            f"delete the occurrence of {_when(command.original_start)} from {command.side} series "
            f"{_id(command.series_id)}"
        )
    if isinstance(command, SplitOccurrence):
        return (
            f"split the occurrence of {_when(command.original_start)} out of salesforce series "
            f"{_id(command.series_id)} as a single event"
        )
    if isinstance(command, CreateSingle):
        subject = command.fields.get("Subject", command.fields.get("subject", ""))
        made = "salesforce event" if command.side is Side.SALESFORCE else "exchange item"
        return (
            f"create a single {made} {str(subject)!r} for the occurrence of {_when(command.original_start)}"
        )
    if isinstance(command, UpdateEvent):
        return (
            f"update salesforce event {_id(command.event_id)} (an occurrence's single event): "
            + ", ".join(sorted(command.fields))
        )
    if isinstance(command, DeleteEvent):
        return f"delete salesforce event {_id(command.event_id)} (an occurrence's single event)"
    if isinstance(command, DeleteItem):
        return f"delete exchange item {_id(command.item_id)} (an occurrence's single item)"
    if isinstance(command, UpdateItem):
        parts = [f"+{c}" for c in command.add_categories] + [f"-{c}" for c in command.remove_categories]
        changed = ", ".join(sorted(command.fields))
        what = " ".join(x for x in (changed, f"(categories {' '.join(parts)})" if parts else "") if x)
        return (
            f"update exchange item {_id(command.item_id)} (a series or an occurrence's single item): {what}"
        )
    return type(command).__name__


def _id(record_id: object) -> str:
    return record_id if isinstance(record_id, str) else "(created in the same plan)"


def _when(value: datetime) -> str:
    return value.isoformat(" ", "minutes")


def _rule(rule: object) -> str:
    return rule if isinstance(rule, str) else str(getattr(rule, "pattern", rule))
