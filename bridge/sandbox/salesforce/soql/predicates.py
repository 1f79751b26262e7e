"""WHERE and ORDER BY compiled once per query into plain Python callables over rows.

Values are type-checked against the field here, with Salesforce's wording. Semantics follow SOQL rather
than SQL: text compares case-insensitively, `!=` and `NOT IN` match empty (null) fields, a comparison with
`null` is a null test, and a relative date literal stands for a whole range of days.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from . import nodes
from .dates import datetime_range, day_range
from .errors import INVALID_FIELD, INVALID_QUERY_FILTER_OPERATOR, SoqlError, at_position
from .fields import FieldResolver, ResolvedField, Row

Predicate = Callable[[Row], bool]

_TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "combobox", "encryptedstring"}
)
_ID_TYPES = frozenset({"id", "reference"})
_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
# Longer text areas are "long text area" fields, which SOQL will neither filter nor sort on.
_MAX_FILTERABLE_TEXTAREA = 255
_ID_SHAPE = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?")


def value_kind(field_type: str) -> str:
    """The comparison family of a describe type: text, id, boolean, number, date or datetime."""
    if field_type in _TEXT_TYPES:
        return "text"
    if field_type in _ID_TYPES:
        return "id"
    if field_type in _NUMBER_TYPES:
        return "number"
    return field_type  # boolean, date, datetime


def _id_key(value: str) -> str:
    """15- and 18-character forms of an id compare equal; the first 15 characters are case-sensitive."""
    return value[:15] if len(value) == 18 else value


def _normalizer(kind: str) -> Callable[[Any], Any]:
    if kind == "text":
        return lambda value: value.casefold() if isinstance(value, str) else value
    if kind == "id":
        return lambda value: _id_key(value) if isinstance(value, str) else value
    return lambda value: value


class ConditionCompiler:
    def __init__(self, query_text: str, resolver: FieldResolver, today: date) -> None:
        self.query_text = query_text
        self.resolver = resolver
        self.today = today

    def compile(self, condition: nodes.Condition) -> Predicate:
        match condition:
            case nodes.And(operands):
                parts = tuple(self.compile(operand) for operand in operands)
                return lambda row: all(part(row) for part in parts)
            case nodes.Or(operands):
                parts = tuple(self.compile(operand) for operand in operands)
                return lambda row: any(part(row) for part in parts)
            case nodes.Not(operand):
                inner = self.compile(operand)
                return lambda row: not inner(row)
            case nodes.Comparison():
                return self._comparison(condition)
            case nodes.InList():
                return self._in_list(condition)
            case nodes.Like():
                return self._like(condition)
        raise AssertionError(condition)

    # -- field and value checks ----------------------------------------------------------------------------

    def _filterable(self, path: nodes.FieldPath) -> ResolvedField:
        resolved = self.resolver.resolve(path)
        if _is_long_text(resolved):
            message = f"field '{resolved.field.name}' can not be filtered in query call"
            raise at_position(self.query_text, path.position, INVALID_FIELD, message)
        return resolved

    def _check(self, resolved: ResolvedField, value: nodes.Value) -> None:
        kind = value_kind(resolved.field.type)
        accepted: tuple[type, ...] = {
            "text": (nodes.StringValue,),
            "id": (nodes.StringValue,),
            "boolean": (nodes.BooleanValue,),
            "number": (nodes.NumberValue,),
            "date": (nodes.DateValue, nodes.RelativeDate),
            "datetime": (nodes.DateTimeValue, nodes.RelativeDate),
        }.get(kind, (nodes.StringValue,))
        if isinstance(value, (nodes.NullValue, *accepted)):
            text = value.value if isinstance(value, nodes.StringValue) else ""
            if kind == "id" and text and not _ID_SHAPE.fullmatch(text):
                message = f"invalid ID field: {text}"
                raise at_position(self.query_text, value.position, INVALID_QUERY_FILTER_OPERATOR, message)
            return
        soap_type = {"text": "string", "number": resolved.field.type, "datetime": "dateTime"}.get(kind, kind)
        quoting = (
            "should be enclosed in quotes" if kind in ("text", "id") else "should not be enclosed in quotes"
        )
        message = (
            f"value of filter criterion for field '{resolved.field.name}' must be of type {soap_type} "
            f"and {quoting}"
        )
        raise at_position(self.query_text, value.position, INVALID_FIELD, message)

    def _bounds(self, resolved: ResolvedField, value: nodes.Value) -> tuple[Any, Any]:
        """[low, high) for a range literal; (point, None) for every other value, already normalised."""
        if isinstance(value, nodes.RelativeDate):
            if value_kind(resolved.field.type) == "date":
                return day_range(value, self.today)
            return datetime_range(value, self.today)
        raw = None if isinstance(value, nodes.NullValue) else value.value
        return _normalizer(value_kind(resolved.field.type))(raw), None

    # -- operators -----------------------------------------------------------------------------------------

    def _comparison(self, condition: nodes.Comparison) -> Predicate:
        resolved = self._filterable(condition.field)
        self._check(resolved, condition.value)
        get, normal = resolved.getter, _normalizer(value_kind(resolved.field.type))
        low, high = self._bounds(resolved, condition.value)
        operator = condition.operator
        if high is not None:
            return _range_predicate(get, operator, low, high)
        if low is None:  # `= null` / `!= null`; ordering against null matches nothing
            if operator in ("=", "!="):
                wanted = operator == "="
                return lambda row: (get(row) is None) == wanted
            return lambda row: False
        if operator == "=":
            return lambda row: normal(get(row)) == low
        if operator == "!=":
            return lambda row: normal(get(row)) != low
        compare = _ORDERING[operator]

        def ordered(row: Row) -> bool:
            value = get(row)
            return value is not None and compare(normal(value), low)

        return ordered

    def _in_list(self, condition: nodes.InList) -> Predicate:
        resolved = self._filterable(condition.field)
        points: set[Any] = set()
        ranges: list[tuple[Any, Any]] = []
        for value in condition.values:
            self._check(resolved, value)
            low, high = self._bounds(resolved, value)
            if high is None:
                points.add(low)
            else:
                ranges.append((low, high))
        get, normal = resolved.getter, _normalizer(value_kind(resolved.field.type))
        frozen = frozenset(points)

        def member(row: Row) -> bool:
            value = get(row)
            if value is None:
                return None in frozen
            return normal(value) in frozen or any(low <= value < high for low, high in ranges)

        if condition.negated:
            return lambda row: not member(row)
        return member

    def _like(self, condition: nodes.Like) -> Predicate:
        resolved = self._filterable(condition.field)
        kind = value_kind(resolved.field.type)
        if kind != "text":
            message = f"invalid operator on {resolved.field.type} field"
            raise at_position(self.query_text, condition.operator_position, INVALID_FIELD, message)
        self._check(resolved, condition.pattern)
        if not isinstance(condition.pattern, nodes.StringValue):
            return lambda row: False  # LIKE null matches nothing
        pattern = re.compile(condition.pattern.like_regex, re.IGNORECASE | re.DOTALL)
        get = resolved.getter

        def like(row: Row) -> bool:
            value = get(row)
            return isinstance(value, str) and pattern.fullmatch(value) is not None

        return like


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _range_predicate(get: Callable[[Row], Any], operator: str, low: Any, high: Any) -> Predicate:
    """A relative date literal against a field: `=` means within [low, high), `<` before it, `>` after."""
    inside: Callable[[Any], bool] = {
        "=": lambda v: low <= v < high,
        "!=": lambda v: not low <= v < high,
        "<": lambda v: v < low,
        "<=": lambda v: v < high,
        ">": lambda v: v >= high,
        ">=": lambda v: v >= low,
    }[operator]
    if operator == "!=":
        return lambda row: (value := get(row)) is None or inside(value)
    return lambda row: (value := get(row)) is not None and inside(value)


INDEXED_KINDS = frozenset({"text", "id"})


@dataclass(frozen=True)
class EqualityKeys:
    """`field = 'x'` or `field IN ('x', ...)` on a text or id field: every matching row's field has one
    of `keys` as its `index_key(kind)`."""

    field: ResolvedField
    kind: str
    keys: frozenset[Any]


def equality_keys(resolver: FieldResolver, condition: nodes.Condition) -> EqualityKeys | None:
    """The values a condition asks a text or id field to equal, keyed as an index keys them; None for any
    other condition (null among the values, negation, other operators or types), which an index cannot
    narrow. Call after compiling the condition, which refuses what Salesforce refuses."""
    match condition:
        case nodes.Comparison(field=path, operator="=", value=nodes.StringValue() as value):
            values: tuple[nodes.Value, ...] = (value,)
        case nodes.InList(field=path, values=values, negated=False):
            pass
        case _:
            return None
    texts = [value.value for value in values if isinstance(value, nodes.StringValue)]
    if len(texts) != len(values):
        return None
    resolved = resolver.resolve(path)
    kind = value_kind(resolved.field.type)
    if kind not in INDEXED_KINDS:
        return None
    normal = _normalizer(kind)
    return EqualityKeys(resolved, kind, frozenset(normal(text) for text in texts))


def index_key(kind: str) -> Callable[[Any], Any]:
    """How an index keys a stored value of a text or id field, so that `=` and IN find it by the query's
    value under the same normaliser; None (left out) for a value that is not text, which never equals
    a quoted value."""
    normal = _normalizer(kind)
    return lambda value: normal(value) if isinstance(value, str) else None


def _is_long_text(resolved: ResolvedField) -> bool:
    field = resolved.field
    return field.type == "textarea" and (field.length or 0) > _MAX_FILTERABLE_TEXTAREA


def order_key(query_text: str, resolver: FieldResolver, item: nodes.OrderItem) -> Callable[[Row], Any]:
    """A sort key for one ORDER BY item, for use with `reverse=item.descending`: nulls sort where the item
    asks whatever the direction, and text sorts case-insensitively."""
    resolved = resolver.resolve(item.field)
    if _is_long_text(resolved):
        message = f"field '{resolved.field.name}' can not be sorted in a query call"
        raise at_position(query_text, item.field.position, INVALID_FIELD, message)
    get, normal = resolved.getter, _normalizer(value_kind(resolved.field.type))
    # With reverse=True the larger rank comes first, so nulls-first means a high rank there.
    null_rank = 1 if item.nulls_first == item.descending else 0

    def key(row: Row) -> tuple[int, Any]:
        value = get(row)
        return (null_rank, 0) if value is None else (1 - null_rank, normal(value))

    return key


__all__ = [
    "INDEXED_KINDS",
    "ConditionCompiler",
    "EqualityKeys",
    "Predicate",
    "SoqlError",
    "equality_keys",
    "index_key",
    "order_key",
    "value_kind",
]
