"""SOQL engine speed: a filtered, sorted query over N Event rows, against a floor of the same filter and sort
written by hand in Python over the same rows (the least any in-memory engine could spend).

The indexed case is the bridge's window query (`OwnerId IN (200 owners) AND StartDateTime < ...`) against
the sandbox org at 20,000 and 100,000 Events, two per owner as in a 10,000-user org: the org's field index
should keep it near its floor (the same owners' rows picked from a prebuilt dict, filtered, sorted and
shaped by hand) and flat as the org grows; `indexed_<n>_scan_ms` is the same query reading every row.

    .venv/bin/python -m bench.soql [rows]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.sandbox.salesforce.ids import make_id
from bridge.sandbox.salesforce.org import Org
from bridge.sandbox.salesforce.schema import SObjectDef, load_objects
from bridge.sandbox.salesforce.soql import run
from bridge.sandbox.salesforce.soql.catalog import FullScan

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


INDEXED_SIZES = (20_000, 100_000)
OWNERS_PER_QUERY = 200
WINDOW_END = datetime(2026, 7, 1, tzinfo=UTC)


def _indexed_case(count: int) -> dict[str, float | int]:
    org = Org(objects=load_objects())
    owners = [make_id("005", n + 1) for n in range(count // 2)]
    for n in range(count):
        org.store.put(
            "Event",
            {
                "Id": make_id("00U", n + 1),
                "Subject": f"Meeting {n}",
                "OwnerId": owners[n % len(owners)],
                "IsDeleted": False,
                "StartDateTime": datetime(2026, 1 + n % 12, 1 + n % 28, n % 24, tzinfo=UTC),
            },
        )
    asked = owners[len(owners) // 2 : len(owners) // 2 + OWNERS_PER_QUERY]
    query = (
        "SELECT Id, Subject, StartDateTime FROM Event WHERE OwnerId IN ("
        + ", ".join(f"'{owner}'" for owner in asked)
        + f") AND StartDateTime < {WINDOW_END.strftime('%Y-%m-%dT%H:%M:%SZ')} ORDER BY StartDateTime"
    )
    by_owner: dict[str, list[dict[str, Any]]] = {}
    for row in org.store.rows("Event"):
        by_owner.setdefault(row["OwnerId"], []).append(row)

    def floor() -> int:
        hits = [
            row
            for owner in asked
            for row in by_owner.get(owner, [])
            if not row["IsDeleted"] and row["StartDateTime"] < WINDOW_END
        ]
        hits.sort(key=lambda row: row["StartDateTime"])
        fields = ("Id", "Subject", "StartDateTime")
        return len([{name: row[name] for name in fields} for row in hits])

    run(query, org)  # builds the OwnerId index, as the first window query of a run does
    engine_s, engine_rows = _best_of(5, lambda: run(query, org).total_size)
    scan_s, scan_rows = _best_of(3, lambda: run(query, FullScan(org)).total_size)
    floor_s, floor_rows = _best_of(5, floor)
    assert engine_rows == floor_rows == scan_rows, (engine_rows, floor_rows, scan_rows)
    return {
        f"indexed_{count}_matches": engine_rows,
        f"indexed_{count}_engine_ms": round(engine_s * 1000, 2),
        f"indexed_{count}_floor_ms": round(floor_s * 1000, 2),
        f"indexed_{count}_vs_floor": round(engine_s / floor_s, 2),
        f"indexed_{count}_scan_ms": round(scan_s * 1000, 2),
    }


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
    result: dict[str, Any] = {
        "rows": count,
        "matches": engine_rows,
        "engine_ms": round(engine_s * 1000, 2),
        "floor_ms": round(floor_s * 1000, 2),
        "engine_rows_per_s": round(count / engine_s),
        "floor_rows_per_s": round(count / floor_s),
        "engine_vs_floor": round(engine_s / floor_s, 2),
    }
    for size in INDEXED_SIZES:
        result.update(_indexed_case(size))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
