"""Recurring Events as Salesforce stores them: one Event row per occurrence (reference/recurrence.md §1-2).

Lightning event series (``IsRecurrence2``): created by writing ``Recurrence2PatternText`` (API 52.0+), saved
normalised (``rrule.py``); one pattern row (GroupEventType 3) plus one row per occurrence, in one
transaction, so Change Data Capture sends 1 + N change events sharing a transaction, each carrying the
series' ``ActivityRecurrence2Id`` (key prefix 828). From API 58.0 an edit of a future occurrence changes
the whole series, one of a past occurrence makes that row an exception; a time change of the series
deletes and re-creates every row (new Ids, new series id), as Salesforce does for a "critical change".
``DELETE .../fromThisEventOnwards`` answers at once and deletes later, in its own transaction.

Classic recurring events (``IsRecurrence``): a main row holding the pattern plus one row per occurrence, all
with ``RecurrenceActivityId`` = the main row's Id; capped at 100 daily, 53 weekly, 59 monthly, 9 yearly
occurrences. The bridge only reads them.

Where Salesforce's behaviour is undocumented the choices are in docs/sandbox-series.md; those that are real
doubts are switches on :data:`OPTIONS`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bridge.sandbox.salesforce import activities, events, rrule
from bridge.sandbox.salesforce.errors import SalesforceError, field_integrity, record_error
from bridge.sandbox.salesforce.records import Record
from bridge.sandbox.salesforce.schema import SObjectDef

if TYPE_CHECKING:
    from bridge.sandbox.salesforce.org import Org
    from bridge.sandbox.salesforce.writes import Writer

SERIES_KEY_PREFIX = "828"
PATTERN_ROW = "3"
DELETING_MESSAGE = "We're deleting the selected events from the series. Wait for all events to be removed."
CLASSIC_CAPS = {"Daily": 100, "Weekly": 53, "Monthly": 59, "Yearly": 9}
_CLASSIC_FIELDS = (
    "RecurrenceStartDateTime", "RecurrenceEndDateOnly", "RecurrenceType", "RecurrenceInterval",
    "RecurrenceDayOfWeekMask", "RecurrenceDayOfMonth", "RecurrenceInstance", "RecurrenceMonthOfYear",
    "RecurrenceTimeZoneSidKey",
)  # fmt: skip
_CLASSIC_REQUIRED = {
    "RecursDaily": ("RecurrenceInterval",),
    "RecursEveryWeekday": ("RecurrenceDayOfWeekMask",),
    "RecursWeekly": ("RecurrenceInterval", "RecurrenceDayOfWeekMask"),
    "RecursMonthly": ("RecurrenceInterval", "RecurrenceDayOfMonth"),
    "RecursMonthlyNth": ("RecurrenceInterval", "RecurrenceInstance", "RecurrenceDayOfWeekMask"),
    "RecursYearly": ("RecurrenceDayOfMonth", "RecurrenceMonthOfYear"),
    "RecursYearlyNth": ("RecurrenceDayOfWeekMask", "RecurrenceInstance", "RecurrenceMonthOfYear"),
}
_MASK_DAYS = (("SU", 1), ("MO", 2), ("TU", 4), ("WE", 8), ("TH", 16), ("FR", 32), ("SA", 64))
_INSTANCES = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip


@dataclass
class SeriesOptions:
    """``indefinite_days``: a Lightning series without COUNT or UNTIL gets rows for occurrences starting
    within this many days of its start (Salesforce's horizon is undocumented).
    ``delete_delay``: seconds before ``fromThisEventOnwards`` deletes (it is asynchronous in Salesforce).
    ``async_delete_client``: whether those deletions carry the caller's ``client=`` in changeOrigin
    (undocumented; by default they do not, being done later by Salesforce itself)."""

    indefinite_days: int = 365
    delete_delay: float = 0.2
    async_delete_client: bool = False


OPTIONS = SeriesOptions()


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (KeyError, ValueError):
        return UTC


def _owner_zone(w: Writer, record: Record) -> str:
    """The zone a series follows: its owner's (the person whose calendar it is), not that of the user who
    wrote it through the API (an integration user's zone would move occurrences to another date)."""
    owner = w.org.store.get(str(record.get("OwnerId") or w.user_id)) or w.org.store.get(w.user_id) or {}
    return str(owner.get("TimeZoneSidKey") or "America/Los_Angeles")


def starts(rule: rrule.Rule, first: datetime, zone_name: str, all_day: bool) -> Iterator[datetime]:
    """Occurrence starts (UTC): each pattern date at ``first``'s local time of day, within the rule's end."""
    zone = UTC if all_day else _zone(zone_name)
    local = first.astimezone(zone)
    horizon = first + timedelta(days=OPTIONS.indefinite_days)
    for produced, day in enumerate(rrule.dates(rule, local.date())):
        start = datetime.combine(day, local.time(), tzinfo=zone).astimezone(UTC)
        if rule.count is not None and produced >= rule.count:
            return
        if rule.until is not None and start > rule.until:
            return
        if rule.count is None and rule.until is None and start > horizon:
            return
        yield start


def _occurrence(template: Record, start: datetime) -> dict[str, Any]:
    times = events.resolve(
        None,
        {
            "IsAllDayEvent": bool(template.get("IsAllDayEvent")),
            "StartDateTime": start,
            "ActivityDate": start.date(),
            "DurationInMinutes": template["DurationInMinutes"],
        },
    )
    return {**template, **times}


def series_rows(w: Writer, series_id: str) -> list[Record]:
    rows = [
        r
        for r in w.org.store.rows("Event")
        if r.get("ActivityRecurrence2Id") == series_id and not r.get("IsDeleted") and not r.get("IsChild")
    ]
    return sorted(rows, key=lambda r: (r.get("GroupEventType") != PATTERN_ROW, r["StartDateTime"], r["Id"]))


# ---- Lightning: create ---------------------------------------------------------------------------------


def create_lightning(w: Writer, sobject: SObjectDef, record: Record, api_version: str) -> str:
    """Store a new Lightning series from an Event being created; returns its first occurrence's Id."""
    if float(api_version) < 52.0:
        raise record_error(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: Recurrence2PatternText. Please check the security settings of "
            "this field and verify that it is read/write for your profile or permission set.",
            ["Recurrence2PatternText"],
        )
    if record.get("IsRecurrence"):
        raise field_integrity(
            "You can't use IsRecurrence and Recurrence2PatternText together.", ["Recurrence2PatternText"]
        )
    rule = rrule.parse(str(record["Recurrence2PatternText"]))
    return _materialise(w, sobject, record, rule, _owner_zone(w, record))


def _materialise(w: Writer, sobject: SObjectDef, record: Record, rule: rrule.Rule, zone: str) -> str:
    found = list(starts(rule, record["StartDateTime"], zone, bool(record.get("IsAllDayEvent"))))
    if not found:
        raise field_integrity(
            "Recurrence2PatternText: the pattern has no occurrences.", ["Recurrence2PatternText"]
        )
    who_list = w.who_lists.pop(record["Id"], None)
    common = {
        "IsRecurrence2": True,
        "IsRecurrence2Exception": False,
        "IsRecurrence2Exclusion": False,
        "Recurrence2PatternText": rule.text(),
        "Recurrence2PatternVersion": "1",
        "Recurrence2PatternStartDate": record["StartDateTime"],
        "Recurrence2PatternTimeZone": zone,
        "ActivityRecurrence2Id": w.org.store.new_id(SERIES_KEY_PREFIX),
    }
    pattern = {
        **record,
        **common,
        "GroupEventType": PATTERN_ROW,
        "Id": w.org.store.new_id(sobject.key_prefix),
    }
    w.log.insert(sobject.name, pattern)
    first_id = ""
    for start in found:
        row = {**_occurrence(record, start), **common, "GroupEventType": "0"}
        row["Id"] = w.org.store.new_id(sobject.key_prefix)
        first_id = first_id or row["Id"]
        w.log.insert(sobject.name, row)
        if who_list is not None:
            w.who_lists[row["Id"]] = list(who_list)
        activities.after_create(w, sobject, row)
    return first_id


# ---- Lightning: update -----------------------------------------------------------------------------------


def update_lightning(w: Writer, sobject: SObjectDef, current: Record, given: dict[str, Any]) -> bool:
    """An API edit of an occurrence. True when handled here (the whole series changed); False when the
    caller goes on with a single-row edit, which makes that row an exception."""
    if current.get("GroupEventType") == PATTERN_ROW:
        raise field_integrity("You can't edit the pattern of an event series through the API.")
    if float(w.api_version) < 58.0 or current["StartDateTime"] < w.now:
        return False
    times = events.resolve(current, given) if events.touches_times(given) else None
    if times is not None and any(times[k] != current.get(k) for k in events.TIME_FIELDS):
        delta = times["StartDateTime"] - current["StartDateTime"]
        rows = series_rows(w, current["ActivityRecurrence2Id"])
        pattern = rows[0] if rows and rows[0].get("GroupEventType") == PATTERN_ROW else current
        plain = {k: v for k, v in given.items() if k not in events.TIME_FIELDS}
        template = {**pattern, **plain, "DurationInMinutes": times["DurationInMinutes"]}
        template["StartDateTime"] = pattern["Recurrence2PatternStartDate"] + delta
        template["IsAllDayEvent"] = times["IsAllDayEvent"]
        recreate(
            w, sobject, current["ActivityRecurrence2Id"], template, str(pattern["Recurrence2PatternText"])
        )
        return True
    for row in series_rows(w, current["ActivityRecurrence2Id"]):
        if row.get("IsRecurrence2Exception") and row["Id"] != current["Id"]:
            continue
        changed = {**row, **given}
        if changed != row:
            w.replace_internal(changed)
            activities.after_update(w, sobject, row, changed)
    return True


def recreate(w: Writer, sobject: SObjectDef, series_id: str, template: Record, pattern_text: str) -> str:
    """A critical change: every row of the series deleted and the series created anew (new Ids)."""
    zone = str(template.get("Recurrence2PatternTimeZone") or _owner_zone(w, template))
    for row in series_rows(w, series_id):
        activities.before_delete(w, sobject, row)
        w.delete_internal(row)
    fresh = {
        k: v
        for k, v in template.items()
        if k not in ("ActivityRecurrence2Id", "Recurrence2PatternStartDate", "IsRecurrence2Exception")
    }
    wanted = ("IsAllDayEvent", "StartDateTime", "DurationInMinutes")
    timing = {k: v for k, v in fresh.items() if k in wanted}
    fresh.update(events.resolve(None, {**timing, "ActivityDate": fresh["StartDateTime"].date()}))
    fresh["Id"] = w.org.store.new_id(sobject.key_prefix)
    return _materialise(w, sobject, fresh, rrule.parse(pattern_text), zone)


def change_pattern(org: Org, user_id: str, series_id: str, pattern_text: str) -> str:
    """What a Lightning Experience user does when editing a series' pattern: delete and re-create it.
    Returns the new first occurrence's Id. (The API itself cannot change a pattern.)"""
    with org.transaction(user_id) as w:
        sobject = w.sobject("Event")
        rows = series_rows(w, series_id)
        if not rows:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return recreate(w, sobject, series_id, dict(rows[0]), pattern_text)


# ---- Lightning: delete from this event onwards ---------------------------------------------------------


def delete_from_onwards(org: Org, user_id: str, record_id: str, client: str | None, api_version: str) -> None:
    """Check the call as Salesforce does, then delete later in a transaction of its own."""
    with org.lock:
        found = org.lookup(record_id)
        if found is None or found[0].name != "Event" or found[1].get("IsDeleted"):
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        event = dict(found[1])
    if not event.get("IsRecurrence2") or event.get("IsRecurrence2Exclusion"):
        raise field_integrity("This event isn't part of an event series you can delete from onwards.")
    if event.get("IsChild"):
        raise field_integrity("You can't delete an invitee's copy of an event series.")
    if (
        event.get("GroupEventType") != PATTERN_ROW
        and event["StartDateTime"] < event["Recurrence2PatternStartDate"]
    ):
        raise field_integrity("You can't delete from an event that starts before its series.")
    series_id = event["ActivityRecurrence2Id"]

    def later() -> None:
        with org.transaction(user_id, client if OPTIONS.async_delete_client else None, api_version) as w:
            sobject = w.sobject("Event")
            rows = series_rows(w, series_id)
            occurrences = [r for r in rows if r.get("GroupEventType") != PATTERN_ROW]
            doomed = [r for r in occurrences if r["StartDateTime"] >= event["StartDateTime"]]
            if len(doomed) == len(occurrences):
                doomed += [r for r in rows if r.get("GroupEventType") == PATTERN_ROW]
            for row in doomed:
                activities.before_delete(w, sobject, row)
                w.delete_internal(row)

    timer = threading.Timer(OPTIONS.delete_delay, later)
    timer.daemon = True
    timer.start()


# ---- Classic ---------------------------------------------------------------------------------------------


def _classic_rule(record: Record) -> tuple[rrule.Rule, str]:
    kind = str(record["RecurrenceType"])
    interval = int(record.get("RecurrenceInterval") or 1)
    mask = int(record.get("RecurrenceDayOfWeekMask") or 0)
    days = [code for code, bit in _MASK_DAYS if mask & bit]
    days.sort(key=rrule.DAYS.index)
    month = _MONTHS.index(record["RecurrenceMonthOfYear"]) + 1 if record.get("RecurrenceMonthOfYear") else 0
    position = _INSTANCES.get(str(record.get("RecurrenceInstance")), 1)
    day_of_month = int(record.get("RecurrenceDayOfMonth") or 1)
    if kind == "RecursDaily":
        return rrule.Rule("DAILY", interval=interval), "Daily"
    if kind == "RecursEveryWeekday":
        if set(days) - set(rrule.DAYS[:5]):
            raise field_integrity(
                "Every-weekday events can't recur on Saturday or Sunday.", ["RecurrenceDayOfWeekMask"]
            )
        return rrule.Rule("WEEKLY", by_day=days), "Daily"
    if kind == "RecursWeekly":
        return rrule.Rule("WEEKLY", interval=interval, by_day=days), "Weekly"
    if kind == "RecursMonthly":
        return rrule.Rule("MONTHLY", interval=interval, by_month_day=[day_of_month]), "Monthly"
    if kind == "RecursMonthlyNth":
        return rrule.Rule("MONTHLY", interval=interval, by_day=days, by_set_pos=position), "Monthly"
    if kind == "RecursYearly":
        return rrule.Rule("YEARLY", by_month=[month], by_month_day=[day_of_month]), "Yearly"
    return rrule.Rule("YEARLY", by_month=[month], by_day=days, by_set_pos=position), "Yearly"


def create_classic(w: Writer, sobject: SObjectDef, record: Record) -> str:
    """A Classic recurring event: the main row and one row per occurrence up to RecurrenceEndDateOnly."""
    if record.get("Recurrence2PatternText"):
        raise field_integrity(
            "You can't use IsRecurrence and Recurrence2PatternText together.", ["IsRecurrence"]
        )
    kind = record.get("RecurrenceType")
    required = ("RecurrenceStartDateTime", "RecurrenceEndDateOnly", "RecurrenceType")
    missing = [f for f in required if record.get(f) is None]
    missing += [f for f in _CLASSIC_REQUIRED.get(str(kind), ()) if record.get(f) is None]
    if missing:
        raise record_error(
            "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
        )
    extra = [
        f
        for f in _CLASSIC_FIELDS[3:8]
        if record.get(f) is not None
        and f not in _CLASSIC_REQUIRED[str(kind)]
        and not (f == "RecurrenceInterval" and kind == "RecursEveryWeekday")
    ]
    if extra:
        raise field_integrity(f"Fields not used by {kind} must be empty: {', '.join(extra)}", extra)
    if record["DurationInMinutes"] > events.MINUTES_PER_DAY:
        raise field_integrity("A recurring event can't last longer than 24 hours.", ["DurationInMinutes"])
    start: datetime = record["RecurrenceStartDateTime"]
    last = record["RecurrenceEndDateOnly"]
    if start.date() > last:
        raise field_integrity("The recurrence start must come before its end.", ["RecurrenceEndDateOnly"])
    rule, family = _classic_rule(record)
    zone = _zone(record.get("RecurrenceTimeZoneSidKey") or _owner_zone(w, record))
    local = start.astimezone(UTC if record.get("IsAllDayEvent") else zone)
    found: list[datetime] = []
    for day in rrule.dates(rule, local.date()):
        if day > last:
            break
        clock = time(0) if record.get("IsAllDayEvent") else local.time()
        found.append(datetime.combine(day, clock, tzinfo=local.tzinfo).astimezone(UTC))
        if len(found) > CLASSIC_CAPS[family]:
            raise field_integrity(
                f"A {family.lower()} recurring event can have at most {CLASSIC_CAPS[family]} occurrences.",
                ["RecurrenceEndDateOnly"],
            )
    if not found:
        raise field_integrity("The recurrence has no occurrences.", ["RecurrenceEndDateOnly"])
    main = {**_occurrence(record, found[0]), "RecurrenceActivityId": record["Id"]}
    w.log.insert(sobject.name, main)
    activities.after_create(w, sobject, main)
    blank = dict.fromkeys(_CLASSIC_FIELDS)
    for when in found:
        row = {
            **_occurrence(record, when),
            **blank,
            "IsRecurrence": False,
            "RecurrenceActivityId": record["Id"],
        }
        row["Id"] = w.org.store.new_id(sobject.key_prefix)
        w.log.insert(sobject.name, row)
        activities.after_create(w, sobject, row)
    return str(record["Id"])
