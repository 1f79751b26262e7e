"""What the runtime measures, behind one small interface the ops server exports.

`RuntimeMetrics` keeps the numbers in memory (tests and `status` read them); the supervisor hands the same
calls on to the ops server's Prometheus registry when one is running (`Forward`).
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Protocol


class MetricsSink(Protocol):
    def latency(self, direction: str, seconds: float) -> None: ...

    def queue_depth(self, depth: int) -> None: ...

    def actors(self, count: int) -> None: ...

    def plans(self, count: int) -> None: ...

    def writes(self, side: str, count: int) -> None: ...

    def issue(self, code: str) -> None: ...

    def salesforce_calls_per_change(self, calls: float) -> None: ...

    def failure(self, kind: str) -> None: ...


@dataclass
class RuntimeMetrics:
    """In-memory numbers: the last 1,000 latencies per direction, counters, gauges."""

    latencies: dict[str, deque[float]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=1000))
    )
    counters: Counter[str] = field(default_factory=Counter)
    gauges: dict[str, float] = field(default_factory=dict)
    forward: list[MetricsSink] = field(default_factory=list)

    def latency(self, direction: str, seconds: float) -> None:
        self.latencies[direction].append(seconds)
        for sink in self.forward:
            sink.latency(direction, seconds)

    def queue_depth(self, depth: int) -> None:
        self.gauges["queue_depth"] = depth
        for sink in self.forward:
            sink.queue_depth(depth)

    def actors(self, count: int) -> None:
        self.gauges["actors"] = count
        for sink in self.forward:
            sink.actors(count)

    def plans(self, count: int) -> None:
        self.counters["plans"] += count
        for sink in self.forward:
            sink.plans(count)

    def writes(self, side: str, count: int) -> None:
        self.counters[f"writes_{side}"] += count
        for sink in self.forward:
            sink.writes(side, count)

    def issue(self, code: str) -> None:
        self.counters[f"issue_{code}"] += 1
        for sink in self.forward:
            sink.issue(code)

    def salesforce_calls_per_change(self, calls: float) -> None:
        self.gauges["salesforce_calls_per_change"] = calls
        for sink in self.forward:
            sink.salesforce_calls_per_change(calls)

    def failure(self, kind: str) -> None:
        self.counters[f"failure_{kind}"] += 1
        for sink in self.forward:
            sink.failure(kind)

    def percentile(self, direction: str, fraction: float) -> float | None:
        values = sorted(self.latencies.get(direction, ()))
        if not values:
            return None
        return values[min(len(values) - 1, int(fraction * len(values)))]
