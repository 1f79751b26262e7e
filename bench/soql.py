"""SOQL engine speed: a filtered, sorted query over N Event rows, against a floor of the same filter and sort
written by hand in Python over the same rows (the least any in-memory engine could spend).

    .venv/bin/python -m bench.soql [rows]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.sandbox.salesforce.schema import SObjectDef, load_objects
from bridge.sandbox.salesforce.soql import run

QUERY = (
    "SELECT Id, Subject, StartDateTime, Owner.Email FROM Event "
    "WHERE (DurationInMinutes > 30 AND IsPrivate = false) OR Subject LIKE '%99' "
    "ORDER BY StartDateTime DESC"
)


class _Org:
    def __init__(self, count: int) -> None:
        self.objects = load_objects()
        self.owner = {"Id": "0055g0000000001AAA", "Email": "owner@example.com"}
        self.events: list[dict[str, Any]] = [
            {
                "Id": f"00U5g{n:010d}AAA",
                "Subject": f"Meeting {n}",
                "DurationInMinutes": n % 120,
                "IsPrivate": n % 7 == 0,
                "IsDeleted": False,
                "OwnerId": self.owner["Id"],
                "StartDateTime": datetime(2026, 1 + n % 12, 1 + n % 28, n % 24, tzinfo=UTC),
            }
            for n in range(count)
        ]

    def describe(self, sobject: str) -> SObjectDef | None:
        return self.objects.get(sobject.lower())

    def rows(self, sobject: str, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        return self.events

    def lookup(self, record_id: str) -> tuple[SObjectDef, Mapping[str, Any]] | None:
        return (self.objects["user"], self.owner) if record_id == self.owner["Id"] else None


def _floor(org: _Org) -> int:
    hits = [
        row
        for row in org.events
        if (row["DurationInMinutes"] > 30 and not row["IsPrivate"]) or row["Subject"].lower().endswith("99")
    ]
    hits.sort(key=lambda row: row["StartDateTime"], reverse=True)
    return len([{"Id": r["Id"], "Subject": r["Subject"], "Owner": org.owner["Email"]} for r in hits])


def _best_of(repeat: int, action: Callable[[], int]) -> tuple[float, int]:
    best, result = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    org = _Org(count)
    engine_s, engine_rows = _best_of(5, lambda: run(QUERY, org).total_size)
    floor_s, floor_rows = _best_of(5, lambda: _floor(org))
    assert engine_rows == floor_rows, (engine_rows, floor_rows)
    print(
        json.dumps(
            {
                "rows": count,
                "matches": engine_rows,
                "engine_ms": round(engine_s * 1000, 2),
                "floor_ms": round(floor_s * 1000, 2),
                "engine_rows_per_s": round(count / engine_s),
                "floor_rows_per_s": round(count / floor_s),
                "engine_vs_floor": round(engine_s / floor_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
