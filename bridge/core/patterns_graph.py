"""Microsoft Graph's `patternedRecurrence` (reference/recurrence.md §4.2) <-> the EWS recurrence the core
writes (`EwsRecurrence`), and so the canonical `Pattern`. Exact both ways on every pattern both services
hold: `pattern_from_graph(graph_recurrence(ews_recurrence(p, first), zone)) == p`.

Graph and EWS are two views of one Exchange recurrence: `daily`/`weekly`/`absoluteMonthly`/... are EWS's
patterns, `numbered`/`endDate`/`noEnd` its ranges; weekdays are names (`monday`), a relative pattern's day
group is its list of days (all seven for `Day`, Monday..Friday for `Weekday`, Saturday and Sunday for
`WeekendDay`), `index` is `first`..`fourth`, `last`. Graph answers every field, unused ones as 0 or
defaults, so only the fields of the pattern's type are read. A rule EWS cannot hold (a relative pattern on
Monday and Friday, a yearly interval) is `Unmappable`, as from EWS.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bridge.core.patterns import Pattern, Unmappable
from bridge.core.patterns_ews import EwsRecurrence, pattern_from_ews

GRAPH_PATTERNS = {
    "daily": "DailyPattern",
    "weekly": "WeeklyPattern",
    "absoluteMonthly": "AbsoluteMonthlyPattern",
    "relativeMonthly": "RelativeMonthlyPattern",
    "absoluteYearly": "AbsoluteYearlyPattern",
    "relativeYearly": "RelativeYearlyPattern",
}
GRAPH_PATTERNS_OUT = {name: kind for kind, name in GRAPH_PATTERNS.items()}
GRAPH_RANGES = {"numbered": "NumberedPattern", "endDate": "EndDatePattern", "noEnd": "NoEndPattern"}
GRAPH_RANGES_OUT = {name: kind for kind, name in GRAPH_RANGES.items()}
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # EWS 1..7
GROUP_DAYS = {8: DAY_NAMES, 9: DAY_NAMES[:5], 10: DAY_NAMES[5:]}  # Day, Weekday, WeekendDay
INDEXES = ("first", "second", "third", "fourth", "last")  # EWS week numbers 1..5


def graph_recurrence(rule: EwsRecurrence, zone: str | None = None) -> dict[str, Any]:
    """The `recurrence` of a POST or PATCH for `rule`; `zone` (a Windows zone name) is the range's
    `recurrenceTimeZone`, the zone the series expands in (Graph defaults to the start's)."""
    args, bounds = rule.args, rule.boundary_args
    kind = GRAPH_PATTERNS_OUT[rule.pattern]
    pattern: dict[str, Any] = {"type": kind, "interval": int(str(args.get("interval", 1)))}
    if "weekdays" in args:
        pattern["daysOfWeek"] = [DAY_NAMES[int(str(n)) - 1] for n in _list(args["weekdays"])]
        pattern["firstDayOfWeek"] = DAY_NAMES[int(str(args.get("first_day_of_week", 1))) - 1]
    if "weekday" in args:
        number = int(str(args["weekday"]))
        pattern["daysOfWeek"] = list(GROUP_DAYS[number] if number in GROUP_DAYS else [DAY_NAMES[number - 1]])
        pattern["index"] = INDEXES[int(str(args["week_number"])) - 1]
    if "day_of_month" in args:
        pattern["dayOfMonth"] = int(str(args["day_of_month"]))
    if "month" in args:
        pattern["month"] = int(str(args["month"]))
    span: dict[str, Any] = {"type": GRAPH_RANGES_OUT[rule.boundary], "startDate": _iso(bounds["start"])}
    if rule.boundary == "NumberedPattern":
        span["numberOfOccurrences"] = int(str(bounds["number"]))
    if rule.boundary == "EndDatePattern":
        span["endDate"] = _iso(bounds["end"])
    if zone:
        span["recurrenceTimeZone"] = zone
    return {"pattern": pattern, "range": span}


def ews_from_graph(recurrence: object) -> EwsRecurrence:
    """Graph's `recurrence` of a master as the core's EWS recurrence. Raises ValueError naming what is
    wrong for a value that is not a patternedRecurrence; a pattern EWS has no class for keeps Graph's
    type name, which `pattern_from_ews` reports as unmappable."""
    if not isinstance(recurrence, dict):
        raise ValueError(f"a recurrence must be an object, not {recurrence!r}")
    pattern, span = recurrence.get("pattern"), recurrence.get("range")
    if not isinstance(pattern, dict) or not isinstance(span, dict):
        raise ValueError("a recurrence needs a pattern and a range")
    kind = str(pattern.get("type"))
    name = GRAPH_PATTERNS.get(kind, kind)
    args: dict[str, object] = {}
    if kind not in ("absoluteYearly", "relativeYearly"):
        args["interval"] = _int(pattern, "interval")
    elif _int(pattern, "interval", 1) != 1:
        name = f"{kind} every {pattern['interval']} years"  # EWS repeats yearly patterns every year
    days = [str(d).lower() for d in pattern.get("daysOfWeek") or ()]
    if kind == "weekly":
        args["weekdays"] = [_day(d) for d in days]
        args["first_day_of_week"] = _day(str(pattern.get("firstDayOfWeek") or "sunday").lower())
    if kind in ("relativeMonthly", "relativeYearly"):
        group = next((n for n, names in GROUP_DAYS.items() if set(names) == set(days)), None)
        if group is None and len(set(days)) != 1:
            name = f"{kind} on {', '.join(days) or 'no day'}"  # EWS names one day or one group
        args["weekday"] = group if group is not None else _day(days[0]) if days else 0
        args["week_number"] = _index(str(pattern.get("index") or "first").lower())
    if kind in ("absoluteMonthly", "absoluteYearly"):
        args["day_of_month"] = _int(pattern, "dayOfMonth")
    if kind in ("absoluteYearly", "relativeYearly"):
        args["month"] = _int(pattern, "month")
    range_kind = str(span.get("type"))
    boundary = GRAPH_RANGES.get(range_kind)
    if boundary is None:
        raise ValueError(f"a recurrence range of type {range_kind!r}")
    bounds: dict[str, object] = {"start": _date(span, "startDate")}
    if boundary == "NumberedPattern":
        bounds["number"] = _int(span, "numberOfOccurrences")
    if boundary == "EndDatePattern":
        bounds["end"] = _date(span, "endDate")
    return EwsRecurrence(name, args, boundary, bounds)


def pattern_from_graph(recurrence: object) -> Pattern | Unmappable:
    """The canonical pattern of a Graph master's `recurrence`, or why it has none."""
    try:
        return pattern_from_ews(ews_from_graph(recurrence))
    except ValueError as error:
        return Unmappable("SHAPE", str(error))


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _iso(value: object) -> str:
    if not isinstance(value, date):
        raise ValueError(f"a range date must be a date, not {value!r}")
    return value.isoformat()[:10]


def _int(values: dict[str, Any], name: str, default: int | None = None) -> int:
    value = values.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    return value


def _date(values: dict[str, Any], name: str) -> date:
    try:
        return date.fromisoformat(str(values.get(name)))
    except ValueError:
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), not {values.get(name)!r}") from None


def _day(name: str) -> int:
    if name not in DAY_NAMES:
        raise ValueError(f"{name!r} is not a day of the week")
    return DAY_NAMES.index(name) + 1


def _index(name: str) -> int:
    if name not in INDEXES:
        raise ValueError(f"{name!r} is not a week index (first..fourth, last)")
    return INDEXES.index(name) + 1
