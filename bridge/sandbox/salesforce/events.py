"""How Salesforce keeps an Event's time fields consistent, as a pure function.

A writer may give any subset of StartDateTime, EndDateTime, ActivityDateTime, ActivityDate,
DurationInMinutes and IsAllDayEvent; Salesforce derives the rest:

- timed event: start is StartDateTime or ActivityDateTime (both only if equal); the end is EndDateTime or
  DurationInMinutes (both only if they agree); ActivityDate and EndDate are the UTC dates of start and end.
  Moving only the start keeps the duration.
- all-day event: ActivityDate is the first day, stored as midnight UTC in StartDateTime and ActivityDateTime;
  DurationInMinutes is 1440 x days; EndDate is the last day and EndDateTime its midnight. With no end given it
  lasts one day (or keeps its length on update).
- no event lasts longer than 14 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bridge.sandbox.salesforce.errors import SalesforceError, field_integrity, record_error

TIME_FIELDS = (
    "IsAllDayEvent",
    "StartDateTime",
    "EndDateTime",
    "ActivityDateTime",
    "ActivityDate",
    "DurationInMinutes",
    "EndDate",
)
MINUTES_PER_DAY = 1440
MAX_DAYS = 14


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _too_long() -> SalesforceError:
    return field_integrity("Multiday events can't last longer than 14 days.", ["EndDateTime"])


def _mismatch() -> SalesforceError:
    return field_integrity(
        "Event end date and time and DurationInMinutes don't match.", ["EndDateTime", "DurationInMinutes"]
    )


def _end_before_start() -> SalesforceError:
    return field_integrity(
        "End Date Time: The end time can't be earlier than the start time.", ["EndDateTime"]
    )


def touches_times(given: Mapping[str, Any]) -> bool:
    return any(name in given for name in TIME_FIELDS)


def resolve(current: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """The seven time fields after a write of `given` (coerced values, nulls meaning "not given") onto
    `current` (the stored record, or None on create). Raises SalesforceError for inconsistent input."""
    supplied = {k: v for k, v in given.items() if k in TIME_FIELDS and v is not None}
    all_day_value = supplied.get("IsAllDayEvent", current.get("IsAllDayEvent") if current else False)
    if all_day_value:
        return _resolve_all_day(current, supplied)
    return _resolve_timed(current, supplied)


def _resolve_timed(current: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict[str, Any]:
    start_given = given.get("StartDateTime")
    activity_given = given.get("ActivityDateTime")
    if start_given and activity_given and start_given != activity_given:
        raise field_integrity(
            "StartDateTime and ActivityDateTime must be the same.", ["StartDateTime", "ActivityDateTime"]
        )
    start: datetime | None = start_given or activity_given
    activity_date: date | None = given.get("ActivityDate")
    if start is not None and activity_date is not None and activity_date != start.date():
        raise field_integrity("ActivityDate must match the date of StartDateTime.", ["ActivityDate"])
    if start is None and current is not None and current.get("StartDateTime") is not None:
        # Keep the stored start (an all-day event turned timed starts at its first day's midnight); a new
        # ActivityDate alone moves it to that day at the same time.
        start = current["StartDateTime"]
        if activity_date is not None:
            start = datetime.combine(activity_date, start.timetz())
    if start is None:
        raise record_error(
            "REQUIRED_FIELD_MISSING", "Required fields are missing: [ActivityDateTime]", ["ActivityDateTime"]
        )
    end_given: datetime | None = given.get("EndDateTime")
    duration_given: int | None = given.get("DurationInMinutes")
    if end_given is not None:
        if end_given < start:
            raise _end_before_start()
        duration = int((end_given - start).total_seconds() // 60)
        if duration_given is not None and duration_given != duration:
            raise _mismatch()
        end = end_given
    elif duration_given is not None:
        duration = duration_given
        end = start + timedelta(minutes=duration)
    elif current is not None and current.get("DurationInMinutes") is not None:
        duration = int(current["DurationInMinutes"])
        end = start + timedelta(minutes=duration)
    else:
        raise record_error(
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [DurationInMinutes]",
            ["DurationInMinutes"],
        )
    if duration < 0:
        raise _end_before_start()
    if duration > MAX_DAYS * MINUTES_PER_DAY:
        raise _too_long()
    return {
        "IsAllDayEvent": False,
        "StartDateTime": start,
        "ActivityDateTime": start,
        "ActivityDate": start.date(),
        "DurationInMinutes": duration,
        "EndDateTime": end,
        "EndDate": end.date(),
    }


def _first_day(current: Mapping[str, Any] | None, given: Mapping[str, Any]) -> date:
    candidates = [
        given.get("ActivityDate"),
        given["StartDateTime"].date() if "StartDateTime" in given else None,
        given["ActivityDateTime"].date() if "ActivityDateTime" in given else None,
    ]
    days: set[date] = {c for c in candidates if c is not None}
    if len(days) > 1:
        raise field_integrity(
            "ActivityDate, StartDateTime and ActivityDateTime must be the same day.", ["ActivityDate"]
        )
    if days:
        return days.pop()
    if current is not None and current.get("ActivityDate") is not None:
        first: date = current["ActivityDate"]
        return first
    raise record_error(
        "REQUIRED_FIELD_MISSING", "Required fields are missing: [ActivityDate]", ["ActivityDate"]
    )


def _resolve_all_day(current: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict[str, Any]:
    first = _first_day(current, given)
    end_given: datetime | None = given.get("EndDateTime")
    duration_given: int | None = given.get("DurationInMinutes")
    if end_given is not None:
        days = (end_given.date() - first).days + 1
        if days < 1:
            raise _end_before_start()
        if duration_given is not None and duration_given != days * MINUTES_PER_DAY:
            raise _mismatch()
    elif duration_given is not None:
        if duration_given <= 0:
            raise _end_before_start()
        days = -(-duration_given // MINUTES_PER_DAY)
    elif current is not None and current.get("DurationInMinutes"):
        days = max(1, -(-int(current["DurationInMinutes"]) // MINUTES_PER_DAY))
    else:
        days = 1
    if days > MAX_DAYS:
        raise _too_long()
    last = first + timedelta(days=days - 1)
    return {
        "IsAllDayEvent": True,
        "StartDateTime": _midnight(first),
        "ActivityDateTime": _midnight(first),
        "ActivityDate": first,
        "DurationInMinutes": days * MINUTES_PER_DAY,
        "EndDateTime": _midnight(last),
        "EndDate": last,
    }
