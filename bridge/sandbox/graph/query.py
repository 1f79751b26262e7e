"""OData query options on event collections: ``$select``, ``$expand`` of extended properties, a ``$filter``
subset, ``$orderby`` on start/end, ``$top`` and ``$skip``.

The ``$filter`` subset is what a sync needs: ``singleValueExtendedProperties/any(ep: ep/id eq '...' and
ep/value eq '...')`` to find an event by its Salesforce id, and ``field op 'literal'`` comparisons on
``subject``, ``iCalUId``, ``start/dateTime`` and ``end/dateTime``, joined by ``and``. Anything else is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime

from ..exchange.model import CalendarItem
from . import extended
from .errors import GraphError
from .zones import parse_instant

Predicate = Callable[[CalendarItem], bool]
_LITERAL = r"'((?:[^']|'')*)'"
_ANY = re.compile(
    r"^singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+"
    + _LITERAL
    + r"\s+and\s+\1/value\s+eq\s+"
    + _LITERAL
    + r"\s*\)$",
    re.IGNORECASE,
)
_COMPARE = re.compile(r"^([\w/]+)\s+(eq|ne|gt|ge|lt|le)\s+" + _LITERAL + r"$", re.IGNORECASE)
_EXPAND = re.compile(
    r"^singleValueExtendedProperties(?:\(\s*\$filter\s*=\s*(.*)\))?$", re.IGNORECASE | re.DOTALL
)
_OPS: dict[str, Callable[[object, object], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,  # type: ignore[operator]
    "ge": lambda a, b: a >= b,  # type: ignore[operator]
    "lt": lambda a, b: a < b,  # type: ignore[operator]
    "le": lambda a, b: a <= b,  # type: ignore[operator]
}


def _unquote(text: str) -> str:
    return text.replace("''", "'")


def _invalid(text: str) -> GraphError:
    return GraphError(400, "ErrorInvalidUrlQueryFilter", f"The query filter '{text}' is not supported.")


def _split_and(text: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    lowered = text.lower()
    i = 0
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and lowered.startswith(" and ", i):
            parts.append(text[start:i].strip())
            start = i + 5
            i += 4
        i += 1
    parts.append(text[start:].strip())
    return parts


def _field(item: CalendarItem, name: str) -> object:
    if name == "subject":
        return item.subject or ""
    if name in ("icaluid", "uid"):
        return item.uid
    if name == "start/datetime":
        return item.start
    if name == "end/datetime":
        return item.end
    raise KeyError(name)


def _compare(clause: str) -> Predicate:
    match = _COMPARE.match(clause)
    if match is None:
        raise _invalid(clause)
    name, op, raw = match.group(1).lower(), match.group(2).lower(), _unquote(match.group(3))
    if name not in ("subject", "icaluid", "uid", "start/datetime", "end/datetime"):
        raise _invalid(clause)
    value: object = parse_instant(raw, name) if name.endswith("datetime") else raw

    def test(item: CalendarItem) -> bool:
        actual = _field(item, name)
        if isinstance(value, datetime) and actual is None:
            return False
        return _OPS[op](actual, value)

    return test


def parse_filter(text: str | None) -> Predicate | None:
    if not text:
        return None
    tests: list[Predicate] = []
    for clause in _split_and(text.strip()):
        any_match = _ANY.match(clause)
        if any_match:
            key = extended.key_for(_unquote(any_match.group(2)))
            wanted = _unquote(any_match.group(3))

            def has(item: CalendarItem, key: tuple[tuple[str, str], ...] = key, wanted: str = wanted) -> bool:
                prop = item.extended.get(key)
                return prop is not None and not prop.is_array and prop.values[:1] == [wanted]

            tests.append(has)
        else:
            tests.append(_compare(clause))
    return lambda item: all(test(item) for test in tests)


def parse_select(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def parse_expand(text: str | None) -> tuple[tuple[tuple[str, str], ...], ...] | None:
    """Keys of the extended properties to expand; ``()`` for all of them; None when not asked."""
    if not text:
        return None
    match = _EXPAND.match(text.strip())
    if match is None:
        raise GraphError(
            400, "BadRequest", f"Parsing OData Select and Expand failed: '{text}' is not supported."
        )
    if match.group(1) is None:
        return ()
    keys = []
    for clause in re.split(r"\s+or\s+", match.group(1).strip(), flags=re.IGNORECASE):
        found = re.match(r"^id\s+eq\s+" + _LITERAL + r"$", clause.strip(), re.IGNORECASE)
        if found is None:
            raise _invalid(clause)
        keys.append(extended.key_for(_unquote(found.group(1))))
    return tuple(keys)


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    if name not in query:
        return default
    try:
        value = int(query[name])
    except ValueError:
        raise GraphError(
            400, "BadRequest", f"Invalid value '{query[name]}' for query option '{name}'."
        ) from None
    if value < 0:
        raise GraphError(400, "BadRequest", f"Invalid value '{query[name]}' for query option '{name}'.")
    return value


def page_window(query: Mapping[str, str], default: int, ceiling: int) -> tuple[int, int]:
    """(skip, top) from ``$skip`` and ``$top`` (``default`` when absent, at most ``ceiling``)."""
    return _int(query, "$skip", 0), min(max(1, _int(query, "$top", default)), ceiling)


def order(items: list[CalendarItem], text: str | None) -> list[CalendarItem]:
    if not text:
        return items
    name, _, direction = text.strip().partition(" ")
    field = name.lower()
    if field not in ("start/datetime", "end/datetime", "subject"):
        raise GraphError(400, "BadRequest", f"The $orderby '{text}' is not supported.")
    reverse = direction.strip().lower() == "desc"

    def key(item: CalendarItem) -> tuple[str, ...]:
        value = _field(item, field)
        return (value.isoformat() if isinstance(value, datetime) else str(value or ""),)

    return sorted(items, key=key, reverse=reverse)
