"""Commands of a series plan (SPEC §15), alongside those of bridge.core.commands.

Occurrences are named by their series and original start (R-REC-2), never by an id guessed from a
subject or a time: an occurrence of a series this plan creates has no id yet, so `series_id` may be a
`Created` placeholder, filled in by the runtime as for any command. `record_id`, when set, is the
occurrence's own id (the Salesforce row, the Exchange occurrence), which saves the runtime a look-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bridge.core.commands import Command, FieldValues, RecordId
from bridge.core.model import Side
from bridge.core.patterns_ews import EwsRecurrence

Rule = str | EwsRecurrence  # Salesforce's Recurrence2PatternText, or the EWS recurrence


@dataclass(frozen=True, slots=True)
class CreateSeries(Command):
    """Create a series on `side`: fields of its first occurrence and its rule (R-REC-1)."""

    side: Side
    fields: FieldValues
    rule: Rule
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateSeries(Command):
    """Change the fields of a whole series (R-REC-7). On Salesforce the runtime writes them through
    `through_id`, a future occurrence that is no exception (API 58.0: such an edit changes the series)."""

    side: Side
    series_id: RecordId
    if_version: str | None
    fields: FieldValues
    through_id: str | None = None


@dataclass(frozen=True, slots=True)
class RebuildSeries(Command):
    """A new pattern or start (R-REC-5): Exchange updates the master's recurrence and span; Salesforce,
    whose pattern cannot be updated, deletes the series from its first occurrence and creates it anew."""

    side: Side
    series_id: RecordId
    fields: FieldValues
    rule: Rule


@dataclass(frozen=True, slots=True)
class EndSeries(Command):
    """ "This and following" were deleted on the other side (R-REC-4): end the series after `last`, the
    local date of its last remaining occurrence. `after` is the first original start to go."""

    side: Side
    series_id: RecordId
    last: date
    after: datetime


@dataclass(frozen=True, slots=True)
class DeleteSeries(Command):
    """Delete a whole series under the R-DEL table (R-REC-7): an Exchange master, or a Salesforce series
    from its first row onwards."""

    side: Side
    series_id: RecordId


@dataclass(frozen=True, slots=True)
class UpdateOccurrence(Command):
    """Make one occurrence an exception, or change one that is (R-REC-3)."""

    side: Side
    series_id: RecordId
    original_start: datetime
    fields: FieldValues
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeleteOccurrence(Command):
    """Delete one occurrence (R-REC-4)."""

    side: Side
    series_id: RecordId
    original_start: datetime
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class SplitOccurrence(Command):
    """R-REC-3 where Salesforce cannot hold an exception (a future occurrence: an API edit would change
    the whole series): delete that occurrence's row and create a single event with `fields` in its place.
    The single event is the pair's Salesforce side from then on."""

    series_id: RecordId
    original_start: datetime
    fields: FieldValues
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreateSingle(Command):
    """An occurrence of an expanded series as a single copy on `side` (R-REC-6)."""

    side: Side
    original_start: datetime
    fields: FieldValues
    categories: tuple[str, ...] = ()
