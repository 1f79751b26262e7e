"""A `SeriesState` as JSON-safe data (SPEC §15), in the manner of `bridge.core.serial` for a `PairState`.

`series_to_dict` gives only str, int, bool, None, lists and dicts, with the format version under "v";
`series_from_dict` reads it back equal to the state written, and refuses anything else with a ValueError
naming the field at fault. Contents use the pair format's own encoding (`serial`), so a change there
changes both. Patterns are stored by meaning (their canonical fields), never as either service's text.

Format versions: 1, the first.
"""

from __future__ import annotations

from datetime import date, time

from bridge.core.issues import IssueCode
from bridge.core.model import Side
from bridge.core.patterns import Anchor, Frequency, Pattern, Weekday
from bridge.core.serial import _code, _content_in, _content_out, _Fields, _instant, _parsed, _typed
from bridge.core.series import OccurrencePair, SeriesState

FORMAT_VERSION = 1


def series_to_dict(state: SeriesState) -> dict[str, object]:
    """The series state as JSON-safe data, format version 1."""
    return {
        "v": FORMAT_VERSION,
        "key": state.key,
        "origin": state.origin.value,
        "sf_series": state.sf_series,
        "ex_series": state.ex_series,
        "base_sf": _content_out(state.base_sf),
        "base_ex": _content_out(state.base_ex),
        "masked": state.masked.value if state.masked is not None else None,
        "rule": _pattern_out(state.rule),
        "anchor": _anchor_out(state.anchor),
        "sf_version": state.sf_version,
        "ex_version": state.ex_version,
        "occurrences": [
            {
                "original_start": p.original_start.isoformat(),
                "sf_id": p.sf_id,
                "ex_id": p.ex_id,
                "base": _content_out(p.base),
                "split": p.split,
            }
            for p in state.occurrences
        ],
        "open_issues": sorted(code.value for code in state.open_issues),
        **({"ended": True} if state.ended else {}),  # absent in rows written before tombstones
        **({"deleting": sorted(state.deleting)} if state.deleting else {}),  # absent when none
    }


def _pattern_out(rule: Pattern | None) -> dict[str, object] | None:
    if rule is None:
        return None
    return {
        "frequency": rule.frequency.value,
        "interval": rule.interval,
        "days": sorted(day.name for day in rule.days),
        "first_day": rule.first_day.name,
        "day_of_month": rule.day_of_month,
        "position": rule.position,
        "month": rule.month,
        "count": rule.count,
        "until": rule.until.isoformat() if rule.until is not None else None,
    }


def _anchor_out(anchor: Anchor | None) -> dict[str, object] | None:
    if anchor is None:
        return None
    return {"first": anchor.first.isoformat(), "time": anchor.time_of_day.isoformat(), "zone": anchor.zone}


def series_from_dict(data: object) -> SeriesState:
    """The series state `series_to_dict` wrote. Raises ValueError naming what is wrong with `data`."""
    fields = _Fields(data, "series")
    version = fields.get("v")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(f"series.v: unknown format version {version!r} (this build reads {FORMAT_VERSION})")
    key = fields.text("key")
    if not key:
        raise ValueError("series.key: empty")
    state = SeriesState(
        key=key,
        origin=fields.code("origin", Side),
        sf_series=fields.text_or_none("sf_series"),
        ex_series=fields.text_or_none("ex_series"),
        base_sf=_content_in(fields.get("base_sf"), "series.base_sf"),
        base_ex=_content_in(fields.get("base_ex"), "series.base_ex"),
        masked=fields.code_or_none("masked", Side),
        rule=_pattern_in(fields.get("rule"), "series.rule"),
        anchor=_anchor_in(fields.get("anchor"), "series.anchor"),
        sf_version=fields.text_or_none("sf_version"),
        ex_version=fields.text_or_none("ex_version"),
        occurrences=tuple(
            _pair_in(p, f"series.occurrences[{i}]") for i, p in enumerate(fields.items("occurrences"))
        ),
        open_issues=frozenset(
            _code(v, IssueCode, f"series.open_issues[{i}]") for i, v in enumerate(fields.items("open_issues"))
        ),
        ended=fields.flag("ended") if "ended" in fields.data else False,
        deleting=frozenset(
            _typed(v, str, f"series.deleting[{i}]") for i, v in enumerate(fields.items("deleting"))
        )
        if "deleting" in fields.data
        else frozenset(),
    )
    fields.done()
    return state


def _pair_in(data: object, where: str) -> OccurrencePair:
    fields = _Fields(data, where)
    pair = OccurrencePair(
        original_start=_instant(fields.text("original_start"), f"{where}.original_start"),
        sf_id=fields.text_or_none("sf_id"),
        ex_id=fields.text_or_none("ex_id"),
        base=_content_in(fields.get("base"), f"{where}.base"),
        split=fields.flag("split"),
    )
    fields.done()
    return pair


def _int_or_none(fields: _Fields, name: str) -> int | None:
    value = fields.get(name)
    return None if value is None else _typed(value, int, f"{fields.where}.{name}")


def _weekday(value: object, where: str) -> Weekday:
    name = _typed(value, str, where)
    if name not in Weekday.__members__:
        raise ValueError(f"{where}: {name!r} is not a weekday code")
    return Weekday[name]


def _pattern_in(data: object, where: str) -> Pattern | None:
    if data is None:
        return None
    fields = _Fields(data, where)
    until = fields.text_or_none("until")
    try:
        rule = Pattern(
            frequency=fields.code("frequency", Frequency),
            interval=_typed(fields.get("interval"), int, f"{where}.interval"),
            days=frozenset(_weekday(d, f"{where}.days[{i}]") for i, d in enumerate(fields.items("days"))),
            first_day=_weekday(fields.get("first_day"), f"{where}.first_day"),
            day_of_month=_int_or_none(fields, "day_of_month"),
            position=_int_or_none(fields, "position"),
            month=_int_or_none(fields, "month"),
            count=_int_or_none(fields, "count"),
            until=_parsed(until, date.fromisoformat, f"{where}.until") if until is not None else None,
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    fields.done()
    return rule


def _anchor_in(data: object, where: str) -> Anchor | None:
    if data is None:
        return None
    fields = _Fields(data, where)
    anchor = Anchor(
        first=_parsed(fields.text("first"), date.fromisoformat, f"{where}.first"),
        time_of_day=_parsed(fields.text("time"), time.fromisoformat, f"{where}.time"),
        zone=fields.text("zone"),
    )
    fields.done()
    return anchor
