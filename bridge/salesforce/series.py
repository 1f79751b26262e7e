"""Lightning event series in Salesforce (SPEC §15): read a series' rows as a core `Series`.

Salesforce keeps one row per occurrence plus a pattern row (GroupEventType 3), all carrying the series key
`ActivityRecurrence2Id` and the rule `Recurrence2PatternText`. The pattern row is not an occurrence and is
left out. Salesforce has no OriginalStart: a row's original start is the one the bridge recorded for its
id, and for a row not seen before, where the pattern puts it (`bridge.core.series.original_start`).
The rule is read in the series' zone (`Recurrence2PatternTimeZone`) at the first occurrence's local time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.core.fields import SalesforceRelation, event_from_salesforce, parse_datetime, utc_span
from bridge.core.model import Copy, Side
from bridge.core.patterns import Anchor, Unmappable
from bridge.core.patterns_dates import occurrence_starts
from bridge.core.patterns_rrule import pattern_from_rrule
from bridge.core.series import Occurrence, Series, original_start
from bridge.errors import MappingError
from bridge.salesforce import soql
from bridge.salesforce.reads import EVENT_FIELDS, RELATION_FIELDS, event_records
from bridge.salesforce.rest import RestClient

SERIES_FIELDS = tuple(
    dict.fromkeys(
        (
            *EVENT_FIELDS,
            "IsRecurrence2",
            "IsRecurrence2Exception",
            "Recurrence2PatternText",
            "Recurrence2PatternTimeZone",
            "ActivityRecurrence2Id",
            "GroupEventType",
            "SystemModstamp",
        )
    )
)
PATTERN_ROW = "3"  # GroupEventType of the series pattern row


async def read_series(rest: RestClient, series_id: str, known: Mapping[str, datetime]) -> Series | None:
    """The series `series_id` (an ActivityRecurrence2Id) with every occurrence row; None when no row is
    left. `known` maps row ids to the original starts the bridge recorded."""
    rows = await rest.query(
        f"SELECT {', '.join(SERIES_FIELDS)} FROM Event "
        f"WHERE ActivityRecurrence2Id = {soql.quote(series_id)} ORDER BY StartDateTime"
    )
    if not rows:
        return None
    return series_from_rows(rows, known, await _invitees(rest, rows))


async def _invitees(
    rest: RestClient, rows: Sequence[Mapping[str, Any]]
) -> dict[str, tuple[SalesforceRelation, ...]]:
    """Each row's invitees (R-REC-7: a Lightning row's invitees reach its Outlook copy, R-ATT-1/9), as
    `read_events` reads a single event's: one query per 200 rows, the primary Who included."""
    relations: list[dict[str, Any]] = []
    ids = [str(r["Id"]) for r in rows]
    for chunk in soql.chunks(ids):
        relations += await rest.query(
            f"SELECT {', '.join(RELATION_FIELDS)} FROM EventRelation "
            f"WHERE EventId IN {soql.id_list(chunk)} AND IsInvitee = true"
        )
    records = event_records([dict(r) for r in rows], relations)
    return {event_id: record.relations for event_id, record in records.items()}


def series_from_rows(
    rows: Sequence[Mapping[str, Any]],
    known: Mapping[str, datetime],
    relations: Mapping[str, Sequence[SalesforceRelation]] | None = None,
) -> Series:
    """A `Series` from the rows of one Lightning series (pattern row included or not)."""
    occurrences = [
        r for r in rows if str(r.get("GroupEventType") or "0") != PATTERN_ROW and not r.get("IsChild")
    ]
    if not occurrences:
        raise MappingError(f"Salesforce series {rows[0].get('ActivityRecurrence2Id')} has no occurrence rows")
    head = occurrences[0]
    series_id = str(head.get("ActivityRecurrence2Id") or head["Id"])
    text = str(head.get("Recurrence2PatternText") or "")
    zone = str(head.get("Recurrence2PatternTimeZone") or "UTC")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MappingError(f"Salesforce series {series_id}: time zone {zone!r} is unknown") from exc
    copies = [event_from_salesforce(row, (relations or {}).get(str(row["Id"]), ())) for row in occurrences]
    first = min(parse_datetime(r.get("Recurrence2PatternStartDate")) or _start(c, tz)
                for r, c in zip(occurrences, copies, strict=True))  # fmt: skip
    local = first.astimezone(tz)
    anchor = Anchor(local.date(), local.time(), zone)
    rule = pattern_from_rrule(text, anchor) if text else Unmappable("SYNTAX", "no Recurrence2PatternText")
    last = max(_start(c, tz) for c in copies)
    expected = occurrence_starts(rule, anchor, last) if not isinstance(rule, Unmappable) else []
    found = [
        Occurrence(
            original_start(copy.id, _start(copy, tz), known, expected),
            copy.id,
            copy.content,
            copy.version,
            exception=bool(row.get("IsRecurrence2Exception")),
        )
        for row, copy in zip(occurrences, copies, strict=True)
    ]
    newest = max(copies, key=lambda c: c.modified)
    plain = [o for o in found if not o.exception] or found
    series_content = min(plain, key=lambda o: o.original_start).content
    return Series(
        side=Side.SALESFORCE,
        id=series_id,
        version=series_version(newest.version, [f"{c.id}:{c.version}" for c in copies]),
        modified=newest.modified,
        content=series_content,
        rule=rule,
        anchor=anchor,
        occurrences=tuple(sorted(found, key=lambda o: o.original_start)),
        paired_id=copies[0].paired_id,
        uid=copies[0].uid,
        last_start=max(o.original_start for o in found),
    )


def series_version(newest: str, rows: Sequence[str]) -> str:
    """A series' version: its newest row's, and every row's id and version. Deleting a row modifies no
    other, so the newest row alone would take a deletion for a replay (R-MERGE-4) and lose it (R-REC-4);
    and rows modified in the same second tie on SystemModstamp, so the "newest" may not be the one edited
    (a past row edited just after the series was made was lost, R-REC-3)."""
    rows = hashlib.sha256(",".join(sorted(rows)).encode()).hexdigest()[:12]
    return f"{newest}/{rows}"


def _start(copy: Copy, zone: ZoneInfo) -> datetime:
    return utc_span(copy.content.when, zone)[0]


async def series_ids(rest: RestClient, event_ids: Sequence[str]) -> dict[str, str]:
    """Row id -> ActivityRecurrence2Id for the rows of `event_ids` that belong to a Lightning series (a
    change event names the series only on create: an edit or deletion of one row names the row)."""
    if not event_ids:
        return {}
    found: dict[str, str] = {}
    for chunk in soql.chunks(list(event_ids)):
        rows = await rest.query(
            f"SELECT Id, ActivityRecurrence2Id FROM Event WHERE Id IN {soql.id_list(chunk)} "
            "AND ActivityRecurrence2Id != null"
        )
        found.update((str(row["Id"]), str(row["ActivityRecurrence2Id"])) for row in rows)
    return found


async def delete_onwards(rest: RestClient, row_id: str) -> None:
    """Delete the series from row `row_id` onwards (R-REC-4 "this and following"; from the first row, the
    whole series). Salesforce answers at once and deletes asynchronously: the rows go a moment later."""
    checked = soql.record_id(row_id).strip("'")
    await rest.restful("write", f"sobjects/Event/{checked}/fromThisEventOnwards", "DELETE", record_id=row_id)


async def create_series(rest: RestClient, fields: Mapping[str, object], rule: str) -> str:
    """A Lightning series of `fields` (its first occurrence) following `rule` (Recurrence2PatternText,
    API 52.0+); its ActivityRecurrence2Id. Salesforce answers with the first occurrence's id only."""
    values = {**fields, "Recurrence2PatternText": rule}
    answer = await rest.restful("write", "sobjects/Event/", "POST", json=values)
    first = str(answer["id"])
    rows = await rest.query(f"SELECT ActivityRecurrence2Id FROM Event WHERE Id = {soql.record_id(first)}")
    if not rows or not rows[0].get("ActivityRecurrence2Id"):
        raise MappingError(f"Salesforce event {first} was created without a series")
    return str(rows[0]["ActivityRecurrence2Id"])
