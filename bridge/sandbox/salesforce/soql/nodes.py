"""The parsed query: plain frozen dataclasses, no behaviour. Positions are 0-based offsets into the query
text so that later stages can point at the offending token the way Salesforce does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal as TypingLiteral

RelativeDateName = TypingLiteral["TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"]
Operator = TypingLiteral["=", "!=", "<", "<=", ">", ">="]
AggregateName = TypingLiteral["COUNT", "MAX", "MIN"]


@dataclass(frozen=True)
class FieldPath:
    """`Subject` or `Who.Name`, as written."""

    parts: tuple[str, ...]
    position: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class StringValue:
    value: str
    like_regex: str
    position: int


@dataclass(frozen=True)
class NumberValue:
    value: int | float
    position: int


@dataclass(frozen=True)
class BooleanValue:
    value: bool
    position: int


@dataclass(frozen=True)
class NullValue:
    position: int


@dataclass(frozen=True)
class DateValue:
    value: date
    position: int


@dataclass(frozen=True)
class DateTimeValue:
    value: datetime  # aware, UTC
    position: int


@dataclass(frozen=True)
class RelativeDate:
    """TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n; resolved against the clock at run time."""

    name: RelativeDateName
    days: int
    position: int


Value = StringValue | NumberValue | BooleanValue | NullValue | DateValue | DateTimeValue | RelativeDate


@dataclass(frozen=True)
class Comparison:
    field: FieldPath
    operator: Operator
    value: Value
    operator_position: int


@dataclass(frozen=True)
class InList:
    field: FieldPath
    values: tuple[Value, ...]
    negated: bool
    operator_position: int


@dataclass(frozen=True)
class Like:
    field: FieldPath
    pattern: Value
    operator_position: int


@dataclass(frozen=True)
class And:
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    operand: Condition


Condition = Comparison | InList | Like | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    field: FieldPath
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Aggregate:
    """`MAX(SystemModstamp) last` in a selection: the function, its field, and the alias if one is given
    (Salesforce names an unaliased one `expr0`, `expr1`, ... in select order)."""

    function: AggregateName
    field: FieldPath
    alias: str | None
    position: int


@dataclass(frozen=True)
class Query:
    """`fields` is empty for `SELECT COUNT()`. An aggregate query (`aggregates` or `group_by` given) selects
    only grouped fields and aggregates, and answers one AggregateResult row per group."""

    fields: tuple[FieldPath, ...]
    count_only: bool
    sobject: str
    sobject_position: int
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    aggregates: tuple[Aggregate, ...] = ()
    group_by: tuple[FieldPath, ...] = ()
