"""Series writes in the journal and in observe mode's report (issue 9, SPEC §15), as the pair road's are.

Every series write carried out is journaled (`bridge.store.journal.JournalEntry`) under the series' key:
what was written, in the bridge's field terms (`bridge.runtime.journal` encodes them). The writes of a
single record keep the pair road's actions, so `calbridge undo` reverts them as it does a pair's: a split
occurrence's single event edited ("update" of a Salesforce event), a master's category added or removed
("update" of an Exchange item). A write of a series as a whole or of one of its occurrences has an action
of its own (`SERIES_ACTIONS`), which undo reports and leaves as it is.

For a user in observe mode the series road plans and writes nothing: `observed` is what the plan would
do, the commands in words (`describe`) and the issues it would raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bridge.core.commands import Command, RaiseIssue, UpdateEvent, UpdateItem
from bridge.core.issues import Issue
from bridge.core.model import Side
from bridge.core.series_commands import (
    CreateSeries,
    DeleteOccurrence,
    DeleteSeries,
    EndSeries,
    RebuildSeries,
    SplitOccurrence,
    UpdateOccurrence,
    UpdateSeries,
)
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
) -> JournalEntry | None:
    """The journal entry of one series command carried out on `record_id` (the series, or the occurrence
    or single event it wrote); `made`, the id of a record it created (a series, a split's single event);
    `categories`, a master's categories before a category change, when read. None for a command that
    writes nothing (an issue raised or closed)."""
    after: dict[str, object]
    if isinstance(command, UpdateEvent):
        after = {"fields": journal.encode_fields(command.fields)}
        return JournalEntry(user_id, key, Side.SALESFORCE, "update", record_id, at, after=after)
    if isinstance(command, UpdateItem):
        after = {
            "fields": journal.encode_fields(command.fields),
            "add_categories": list(command.add_categories),
            "remove_categories": list(command.remove_categories),
        }
        before = {"fields": {}, "categories": list(categories)} if categories is not None else None
        return JournalEntry(user_id, key, Side.EXCHANGE, "update", record_id, at, before=before, after=after)
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
    return JournalEntry(user_id, key, side, action, record_id, at, after=after)


def observed(
    user_id: str, key: str, commands: Sequence[Command], at: datetime, issues: Sequence[Issue] = ()
) -> ObservedPlan | None:
    """What one series plan would do, for observe mode's report; None when it would do nothing."""
    writes = [c for c in commands if isinstance(c, (UpdateEvent, UpdateItem, *_ACTIONS))]
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
    if isinstance(command, UpdateEvent):
        return f"update salesforce event {_id(command.event_id)} (an occurrence split out of its series)"
    if isinstance(command, UpdateItem):
        parts = [f"+{c}" for c in command.add_categories] + [f"-{c}" for c in command.remove_categories]
        return f"update exchange series {_id(command.item_id)} (categories {' '.join(parts)})"
    return type(command).__name__


def _id(record_id: object) -> str:
    return record_id if isinstance(record_id, str) else "(created in the same plan)"


def _when(value: datetime) -> str:
    return value.isoformat(" ", "minutes")


def _rule(rule: object) -> str:
    return rule if isinstance(rule, str) else str(getattr(rule, "pattern", rule))
