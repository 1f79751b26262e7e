"""Graph's ``patternedRecurrence`` <-> the shared store's EWS recurrence (``exchange.recurrence``).

Exchange keeps one recurrence per master whichever protocol wrote it, so a series booked through EWS reads
here in Graph's words and one posted through Graph reads through EWS. Graph answers every pattern and range
field, unused ones as 0 or defaults (``month: 0``, ``index: "first"``, ``numberOfOccurrences: 0``), as in
Microsoft's samples. ``daysOfWeek`` of a relative pattern may list several days; the store (as EWS) names
one day or a group, so only one day, the weekdays, the weekend days or all seven are taken. EWS's yearly
patterns repeat every year: a yearly ``interval`` other than 1 is refused.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..exchange.recurrence import DAY_GROUPS, DAY_NAMES, INDEXES, MONTHS, Recurrence
from ..exchange.wire import EWSError
from .errors import GraphError, bad_body

_TYPES = {
    "daily": "DailyRecurrence",
    "weekly": "WeeklyRecurrence",
    "absoluteMonthly": "AbsoluteMonthlyRecurrence",
    "relativeMonthly": "RelativeMonthlyRecurrence",
    "absoluteYearly": "AbsoluteYearlyRecurrence",
    "relativeYearly": "RelativeYearlyRecurrence",
}
_TYPES_OUT = {v: k for k, v in _TYPES.items()}
_RANGES = {"noEnd": "NoEndRecurrence", "endDate": "EndDateRecurrence", "numbered": "NumberedRecurrence"}
_RANGES_OUT = {v: k for k, v in _RANGES.items()}
_DAY = {name.lower(): name for name in DAY_NAMES}
_INDEX = {name.lower(): name for name in INDEXES}
_GROUPS_IN = {frozenset(days): group for group, days in DAY_GROUPS.items()}
_EMPTY_DATE = "0001-01-01"


def _invalid(message: str) -> GraphError:
    return GraphError(400, "ErrorPropertyValidationFailure", message)


def to_graph(rec: Recurrence, zone: str | None) -> dict[str, Any]:
    """A master's recurrence as Graph returns it, every field present."""
    days = rec.days_of_week
    if rec.pattern in ("RelativeMonthlyRecurrence", "RelativeYearlyRecurrence") and days:
        days = list(DAY_GROUPS.get(days[0], days))
    pattern = {
        "type": _TYPES_OUT[rec.pattern],
        "interval": rec.interval if "Yearly" not in rec.pattern else 1,
        "month": MONTHS.index(rec.month) + 1 if rec.month else 0,
        "dayOfMonth": rec.day_of_month or 0,
        "firstDayOfWeek": rec.first_day_of_week.lower(),
        "index": (rec.day_of_week_index or "First").lower(),
    }
    if days:
        pattern["daysOfWeek"] = [d.lower() for d in days]
    return {
        "pattern": pattern,
        "range": {
            "type": _RANGES_OUT[rec.range],
            "startDate": rec.start_date.isoformat(),
            "endDate": rec.end_date.isoformat() if rec.end_date else _EMPTY_DATE,
            "recurrenceTimeZone": zone or "UTC",
            "numberOfOccurrences": rec.count or 0,
        },
    }


def _int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_body(f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32' ({name}).")
    return value


def _date(value: object, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise bad_body(
            f"Cannot convert the literal '{value}' to the expected type 'Edm.Date' ({name})."
        ) from None


def from_graph(value: object) -> tuple[Recurrence, str | None]:
    """A POST or PATCH ``recurrence`` as the store's recurrence and its ``recurrenceTimeZone`` (None when
    not given). Errors are Graph's 400 answers and name the field."""
    if not isinstance(value, dict):
        raise bad_body("The property 'recurrence' must be a patternedRecurrence.")
    pattern, rng = value.get("pattern"), value.get("range")
    if not isinstance(pattern, dict) or not isinstance(rng, dict):
        raise _invalid("A recurrence needs a pattern and a range.")
    kind = _TYPES.get(str(pattern.get("type")))
    range_kind = _RANGES.get(str(rng.get("type")))
    if kind is None:
        raise bad_body(
            f"Cannot convert the literal '{pattern.get('type')}' to 'microsoft.graph.recurrencePatternType'."
        )
    if range_kind is None:
        raise bad_body(
            f"Cannot convert the literal '{rng.get('type')}' to 'microsoft.graph.recurrenceRangeType'."
        )
    if "startDate" not in rng:
        raise _invalid("The recurrence range needs a startDate.")
    rec = Recurrence(pattern=kind, range=range_kind, start_date=_date(rng["startDate"], "startDate"))
    rec.interval = _int(pattern.get("interval", 1), "interval")
    if "Yearly" in kind:
        if rec.interval != 1:
            raise _invalid("A yearly pattern repeats every year: its interval must be 1.")
    elif not 1 <= rec.interval <= (999 if kind == "DailyRecurrence" else 99):
        raise _invalid(f"The interval {rec.interval} is out of range for a {pattern['type']} pattern.")
    days = pattern.get("daysOfWeek") or []
    if not isinstance(days, list) or any(str(d).lower() not in _DAY for d in days):
        raise bad_body(f"Cannot convert '{days}' to a collection of 'microsoft.graph.dayOfWeek'.")
    names = [_DAY[str(d).lower()] for d in days]
    if kind == "WeeklyRecurrence":
        if not names:
            raise _invalid("A weekly pattern needs daysOfWeek.")
        rec.days_of_week = [d for d in DAY_NAMES if d in names]
        first = str(pattern.get("firstDayOfWeek") or "sunday").lower()
        if first not in _DAY:
            raise bad_body(f"Cannot convert the literal '{first}' to 'microsoft.graph.dayOfWeek'.")
        rec.first_day_of_week = _DAY[first]
    if kind in ("RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
        chosen = frozenset(names)
        if len(chosen) == 1:
            rec.days_of_week = [names[0]]
        elif chosen in _GROUPS_IN:
            rec.days_of_week = [_GROUPS_IN[chosen]]
        else:
            raise _invalid("A relative pattern takes one day, the weekdays, the weekend days or every day.")
        index = str(pattern.get("index") or "first").lower()
        if index not in _INDEX:
            raise bad_body(f"Cannot convert the literal '{index}' to 'microsoft.graph.weekIndex'.")
        rec.day_of_week_index = _INDEX[index]
    if kind in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
        rec.day_of_month = _int(pattern.get("dayOfMonth"), "dayOfMonth")
        if not 1 <= rec.day_of_month <= 31:
            raise _invalid(f"The dayOfMonth {rec.day_of_month} is out of range.")
    if "Yearly" in kind:
        month = _int(pattern.get("month"), "month")
        if not 1 <= month <= 12:
            raise _invalid(f"The month {month} is out of range.")
        rec.month = MONTHS[month - 1]
    if range_kind == "EndDateRecurrence":
        rec.end_date = _date(rng.get("endDate"), "endDate")
        if rec.end_date < rec.start_date:
            raise _invalid("The recurrence end date is earlier than its start date.")
    elif range_kind == "NumberedRecurrence":
        rec.count = _int(rng.get("numberOfOccurrences"), "numberOfOccurrences")
        if not 1 <= rec.count <= 999:
            raise _invalid(f"The numberOfOccurrences {rec.count} is out of range (1-999).")
    zone = rng.get("recurrenceTimeZone")
    return rec, str(zone) if zone else None


def graph_error(exc: EWSError) -> GraphError:
    """An EWS error the shared series code raised, as Graph answers it (same code, 400)."""
    return GraphError(400, exc.code, exc.text)
