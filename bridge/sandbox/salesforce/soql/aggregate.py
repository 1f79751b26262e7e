"""Aggregate queries: `SELECT OwnerId, COUNT(Id), MAX(SystemModstamp) last FROM Event ... GROUP BY OwnerId`.

Rows that pass WHERE are grouped by the GROUP BY fields (no GROUP BY: one group, even of no rows) and each
group answers one `AggregateResult` record: the grouped fields under their field name (a parent path such as
`Event.OwnerId` under `OwnerId`, as Salesforce names it) and each aggregate under its alias or `exprN`.
COUNT counts non-null values; MAX and MIN skip nulls and are null for a group without values. Every selected
field must be grouped or aggregated, as Salesforce requires. ORDER BY takes grouped fields; HAVING is not
served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import nodes
from .errors import MALFORMED_QUERY, SoqlError
from .fields import FieldResolver, Row
from .predicates import order_key

RESULT_TYPE = "AggregateResult"


def aggregate_records(
    text: str, query: nodes.Query, resolver: FieldResolver, rows: Sequence[Row]
) -> list[dict[str, Any]]:
    """One AggregateResult record per group of `rows`, sorted and paged as the query asks."""
    grouped_names = {path.text.lower() for path in query.group_by}
    for path in query.fields:
        if path.text.lower() not in grouped_names:
            raise SoqlError(MALFORMED_QUERY, f"Field must be grouped or aggregated: {path.text}")
    for item in query.order_by:
        if item.field.text.lower() not in grouped_names:
            message = f"Ordered field must be grouped or aggregated: {item.field.text}"
            raise SoqlError(MALFORMED_QUERY, message)
    keys = [resolver.resolve(path) for path in query.group_by]
    functions = [(a, resolver.resolve(a.field)) for a in query.aggregates]
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(k.getter(row) for k in keys), []).append(row)
    if not query.group_by:
        groups = {(): list(rows)}
    ordered = list(groups.values())
    for item in reversed(query.order_by):
        sort = order_key(text, resolver, item)
        ordered.sort(key=lambda members: sort(members[0]), reverse=item.descending)
    start = query.offset or 0
    end = None if query.limit is None else start + query.limit
    selected = {path.text.lower() for path in query.fields}
    out = []
    for members in ordered[start:end]:
        record: dict[str, Any] = {"attributes": {"type": RESULT_TYPE}}
        for path, resolved in zip(query.group_by, keys, strict=True):
            if path.text.lower() in selected:
                record[resolved.field.name] = resolved.getter(members[0])
        unnamed = 0
        for aggregate, resolved in functions:
            values = [v for v in (resolved.getter(row) for row in members) if v is not None]
            if aggregate.alias is not None:
                name = aggregate.alias
            else:
                name, unnamed = f"expr{unnamed}", unnamed + 1
            if aggregate.function == "COUNT":
                record[name] = len(values)
            elif aggregate.function == "MAX":
                record[name] = max(values) if values else None
            else:
                record[name] = min(values) if values else None
        out.append(record)
    return out


__all__ = ["RESULT_TYPE", "aggregate_records"]
