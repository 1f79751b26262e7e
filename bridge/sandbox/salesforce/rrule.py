"""The RRULE subset Salesforce accepts in ``Recurrence2PatternText``: parse, refuse, normalise, expand.

Rules (reference/recurrence.md §2.3): FREQ DAILY/WEEKLY/MONTHLY/YEARLY; parts FREQ, BYMONTH, BYMONTHDAY,
BYDAY, WKST, BYSETPOS, INTERVAL, UNTIL, COUNT, and BYWEEKNO/BYYEARDAY for YEARLY; no DTSTART, EXDATE or RDATE.
Saved text is normalised: ``RRULE:`` prefix, parts in Salesforce's order, ``INTERVAL=1`` added, and for
WEEKLY a ``WKST`` from the user's locale (the sandbox's users are en_US: ``SU``). A day of month past the
month's end means its last day, as Salesforce documents.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from bridge.sandbox.salesforce.errors import SalesforceError, field_integrity

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ORDER = ("FREQ", "BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "WKST", "BYSETPOS", "INTERVAL",
         "UNTIL", "COUNT")  # fmt: skip
INTERVAL_MAX = {"DAILY": 999, "WEEKLY": 99, "MONTHLY": 99, "YEARLY": 1}
POSITIONS = (-1, 1, 2, 3, 4)
_GROUPS = (frozenset(DAYS), frozenset(DAYS[:5]), frozenset(DAYS[5:]))


def _refuse(detail: str) -> SalesforceError:
    return field_integrity(f"Recurrence2PatternText: {detail}", ["Recurrence2PatternText"])


@dataclass
class Rule:
    freq: str
    interval: int = 1
    by_month: list[int] = field(default_factory=list)
    by_month_day: list[int] = field(default_factory=list)
    by_day: list[str] = field(default_factory=list)  # unnumbered day codes
    day_position: int | None = None  # the numeric prefix of BYDAY (one for all)
    by_set_pos: int | None = None
    by_week_no: list[int] = field(default_factory=list)
    by_year_day: list[int] = field(default_factory=list)
    wkst: str = "SU"
    until: datetime | None = None
    count: int | None = None

    def text(self) -> str:
        parts = {"FREQ": self.freq, "INTERVAL": str(self.interval)}
        if self.by_month:
            parts["BYMONTH"] = ",".join(map(str, self.by_month))
        if self.by_week_no:
            parts["BYWEEKNO"] = ",".join(map(str, self.by_week_no))
        if self.by_year_day:
            parts["BYYEARDAY"] = ",".join(map(str, self.by_year_day))
        if self.by_month_day:
            parts["BYMONTHDAY"] = ",".join(map(str, self.by_month_day))
        if self.by_day:
            prefix = "" if self.day_position is None else str(self.day_position)
            parts["BYDAY"] = ",".join(prefix + d for d in self.by_day)
        if self.freq == "WEEKLY" or self.wkst != "SU":
            parts["WKST"] = self.wkst
        if self.by_set_pos is not None:
            parts["BYSETPOS"] = str(self.by_set_pos)
        if self.until is not None:
            parts["UNTIL"] = self.until.strftime("%Y%m%dT%H%M%SZ")
        if self.count is not None:
            parts["COUNT"] = str(self.count)
        return "RRULE:" + ";".join(f"{k}={parts[k]}" for k in ORDER if k in parts)


def _ints(name: str, raw: str, allowed: range, negative: bool = False) -> list[int]:
    out: list[int] = []
    for piece in raw.split(","):
        try:
            value = int(piece)
        except ValueError:
            raise _refuse(f"{name}={raw} is not valid.") from None
        if not (value in allowed or (negative and -value in allowed)):
            raise _refuse(f"{name}={raw} is out of range.")
        out.append(value)
    return out


def parse(text: str) -> Rule:
    """Parse and check ``text`` as Salesforce does; SalesforceError (FIELD_INTEGRITY_EXCEPTION) if refused."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    parts: dict[str, str] = {}
    for piece in filter(None, body.split(";")):
        name, sep, value = piece.partition("=")
        name = name.strip().upper()
        if not sep or name in parts:
            raise _refuse(f"'{piece}' is not a valid rule part.")
        if name not in ORDER:
            raise _refuse(f"{name} isn't supported.")
        parts[name] = value.strip().upper()
    freq = parts.get("FREQ")
    if freq not in INTERVAL_MAX:
        raise _refuse("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY.")
    rule = Rule(freq=freq)
    allowed = {
        "DAILY": {"FREQ", "INTERVAL", "UNTIL", "COUNT"},
        "WEEKLY": {"FREQ", "INTERVAL", "UNTIL", "COUNT", "BYDAY", "WKST"},
        "MONTHLY": {
            "FREQ",
            "INTERVAL",
            "UNTIL",
            "COUNT",
            "BYDAY",
            "WKST",
            "BYMONTH",
            "BYMONTHDAY",
            "BYSETPOS",
        },
        "YEARLY": set(ORDER),
    }[freq]
    extra = sorted(set(parts) - allowed)
    if extra:
        raise _refuse(f"{', '.join(extra)} can't be used with FREQ={freq}.")
    if "INTERVAL" in parts:
        rule.interval = _ints("INTERVAL", parts["INTERVAL"], range(1, INTERVAL_MAX[freq] + 1))[0]
    if "UNTIL" in parts and "COUNT" in parts:
        raise _refuse("UNTIL and COUNT can't both be used.")
    if "UNTIL" in parts:
        try:
            rule.until = datetime.strptime(parts["UNTIL"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise _refuse("UNTIL must be a UTC date and time like 20210419T083000Z.") from None
    if "COUNT" in parts:
        rule.count = _ints("COUNT", parts["COUNT"], range(1, 1000))[0]
    if "WKST" in parts:
        if parts["WKST"] not in DAYS:
            raise _refuse(f"WKST={parts['WKST']} is not valid.")
        rule.wkst = parts["WKST"]
    if "BYMONTH" in parts:
        rule.by_month = _ints("BYMONTH", parts["BYMONTH"], range(1, 13))
    if "BYMONTHDAY" in parts:
        rule.by_month_day = _ints("BYMONTHDAY", parts["BYMONTHDAY"], range(1, 32))
    if "BYWEEKNO" in parts:
        rule.by_week_no = _ints("BYWEEKNO", parts["BYWEEKNO"], range(1, 54), negative=True)
    if "BYYEARDAY" in parts:
        rule.by_year_day = _ints("BYYEARDAY", parts["BYYEARDAY"], range(1, 367), negative=True)
    if "BYSETPOS" in parts:
        rule.by_set_pos = _ints("BYSETPOS", parts["BYSETPOS"], range(1, 5), negative=True)[0]
        if rule.by_set_pos not in POSITIONS:
            raise _refuse("BYSETPOS must be -1, 1, 2, 3 or 4.")
    if "BYDAY" in parts:
        _read_by_day(rule, parts["BYDAY"])
    _check_shape(rule)
    return rule


def _read_by_day(rule: Rule, raw: str) -> None:
    prefixes: set[int | None] = set()
    for piece in raw.split(","):
        code, number = piece[-2:], piece[:-2]
        if code not in DAYS:
            raise _refuse(f"BYDAY={raw} is not valid.")
        prefix = int(number) if number else None
        if prefix is not None and prefix not in POSITIONS:
            raise _refuse(f"BYDAY={raw}: a day's number must be -1, 1, 2, 3 or 4.")
        prefixes.add(prefix)
        if code not in rule.by_day:
            rule.by_day.append(code)
    if len(prefixes) > 1:
        raise _refuse(f"BYDAY={raw}: every day needs the same number.")
    rule.day_position = prefixes.pop()
    rule.by_day.sort(key=DAYS.index)


def _check_shape(rule: Rule) -> None:
    if rule.freq == "WEEKLY" and (not rule.by_day or rule.day_position is not None):
        raise _refuse("FREQ=WEEKLY needs BYDAY with days and no numbers.")
    if rule.freq in ("MONTHLY", "YEARLY"):
        if rule.by_day and frozenset(rule.by_day) not in _GROUPS and len(rule.by_day) != 1:
            raise _refuse("BYDAY takes one day, weekdays, weekend days or every day here.")
        if rule.day_position is not None and rule.by_set_pos is not None:
            raise _refuse("A numbered BYDAY can't be used with BYSETPOS.")
        by_days = bool(rule.by_day)
        if by_days == bool(rule.by_month_day) and not (rule.by_week_no or rule.by_year_day):
            raise _refuse(f"FREQ={rule.freq} needs either BYMONTHDAY or BYDAY.")
    if rule.freq == "YEARLY" and not rule.by_month and not (rule.by_week_no or rule.by_year_day):
        raise _refuse("FREQ=YEARLY needs BYMONTH.")


# ---- expansion ---------------------------------------------------------------------------------------------


def _nth(days: list[date], position: int) -> list[date]:
    if position == -1:
        return days[-1:]
    return days[position - 1 : position] if position <= len(days) else []


def _month_days(rule: Rule, year: int, month: int) -> list[date]:
    length = calendar.monthrange(year, month)[1]
    if rule.by_month_day:
        return sorted({date(year, month, min(d, length)) for d in rule.by_month_day})
    wanted = {DAYS.index(d) for d in rule.by_day}
    matching = [
        date(year, month, d) for d in range(1, length + 1) if date(year, month, d).weekday() in wanted
    ]
    position = rule.day_position or rule.by_set_pos or 1
    if rule.day_position is not None and len(rule.by_day) > 1:
        # kMO,kTU: the k-th of each day
        out: list[date] = []
        for code in rule.by_day:
            out += _nth([d for d in matching if d.weekday() == DAYS.index(code)], position)
        return sorted(out)
    return _nth(matching, position)


def _year_days(rule: Rule, year: int, start: date) -> list[date]:
    if rule.by_year_day:
        first, length = date(year, 1, 1), 366 if calendar.isleap(year) else 365
        return sorted(first + timedelta(days=(n - 1 if n > 0 else length + n)) for n in rule.by_year_day)
    if rule.by_week_no:
        out = []
        codes = rule.by_day or [DAYS[start.weekday()]]
        weeks = date(year, 12, 28).isocalendar()[1]
        for number in rule.by_week_no:
            week = number if number > 0 else weeks + 1 + number
            for code in codes:
                out.append(date.fromisocalendar(year, week, DAYS.index(code) + 1))
        return sorted(out)
    return sorted(d for month in rule.by_month for d in _month_days(rule, year, month))


def dates(rule: Rule, start: date) -> Iterator[date]:
    """Pattern dates on or after ``start``, in order, without end (the caller applies COUNT/UNTIL)."""
    if rule.freq == "DAILY":
        day = start
        while True:
            yield day
            day += timedelta(days=rule.interval)
    if rule.freq == "WEEKLY":
        first = DAYS.index(rule.wkst)
        week = start - timedelta(days=(start.weekday() - first) % 7)
        offsets = sorted((DAYS.index(d) - first) % 7 for d in rule.by_day)
        while True:
            for offset in offsets:
                day = week + timedelta(days=offset)
                if day >= start:
                    yield day
            week += timedelta(weeks=rule.interval)
    if rule.freq == "MONTHLY":
        year, month = start.year, start.month
        while year < 9999:
            if not rule.by_month or month in rule.by_month:
                yield from (d for d in _month_days(rule, year, month) if d >= start)
            month += rule.interval
            year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        return
    for year in range(start.year, 9999):
        yield from (d for d in _year_days(rule, year, start) if d >= start)
