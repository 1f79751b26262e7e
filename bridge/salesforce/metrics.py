"""What the adapter counts, for the runtime to export as metrics (R-API-1).

Kinds: `query` (SOQL pages), `read` (record reads that are not SOQL), `write` (REST calls that change
data: collections, single-record PATCH/DELETE), `auth` (token requests), `limits` (budget probes),
`retry` (calls repeated after a transient failure), `mapping_error` (change events that could not be read).
"""

from __future__ import annotations

import threading
from collections import Counter


class CallCounter:
    """Thread-safe counts per kind; REST calls are counted from worker threads."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, kind: str, count: int = 1) -> None:
        with self._lock:
            self._counts[kind] += count

    def __getitem__(self, kind: str) -> int:
        with self._lock:
            return self._counts[kind]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def api_calls(self) -> int:
        """Calls that count against the org's daily API limit (everything but token requests)."""
        with self._lock:
            return sum(n for kind, n in self._counts.items() if kind in ("query", "read", "write", "limits"))
