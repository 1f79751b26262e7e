"""The Prometheus metrics the ops server exports at /metrics.

`Metrics` holds its own `CollectorRegistry`, so a test (or two bridges in one process) can make several.
Every name starts `calbridge_`:

| attribute | Prometheus name | type | labels |
|---|---|---|---|
| propagation_seconds | calbridge_propagation_seconds | histogram, 0.05-60 s | direction (to_exchange...) |
| changes_propagated | calbridge_changes_propagated_total | counter | direction |
| queue_depth | calbridge_queue_depth | gauge: changes waiting for an actor | |
| actors | calbridge_actors | gauge: user actors running | |
| salesforce_calls | calbridge_salesforce_calls_total | counter | kind: query, read, write, auth, ... |
| issues_open | calbridge_issues_open | gauge | code: E-..., W-..., I-... |
| stream_connected | calbridge_stream_connected | gauge, 1 or 0 | stream: salesforce, exchange, ... |
| plans | calbridge_plans_total | counter | |
| writes | calbridge_writes_total | counter | side: salesforce, exchange |
| issues_raised | calbridge_issues_raised_total | counter | code |
| failures | calbridge_failures_total | counter | kind |
| salesforce_calls_per_change | calbridge_salesforce_calls_per_change | gauge: API calls / changes | |
| mailboxes_subscribed | calbridge_mailboxes_subscribed | gauge: mailboxes with a live subscription | |

Latency is measured from the source's commit time (the change event's commit timestamp, the newest
notification timestamp of the mailbox) to the moment the write on the other side returned. Only changes
that arrived through a stream are timed and counted as propagated; a reconcile's writes are counted in
`calbridge_writes_total` only.

`PrometheusSink` feeds them from the runtime's `MetricsSink` calls (`bridge.runtime.metrics`); the rest
(calls, streams) the ops server pulls from the bridge before each scrape (`OpsSource.collect`).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PROPAGATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
DIRECTIONS = ("to_exchange", "to_salesforce")
API_CALL_KINDS = frozenset({"query", "read", "write", "limits"})  # what counts against the org's daily limit


class Metrics:
    """The bridge's metrics in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.propagation_seconds = Histogram(
            "calbridge_propagation_seconds",
            "Seconds from a change committed on one side to the write on the other side",
            ["direction"],
            buckets=PROPAGATION_BUCKETS,
            registry=r,
        )
        self.changes_propagated = Counter(
            "calbridge_changes_propagated", "Changes written to the other side", ["direction"], registry=r
        )
        self.queue_depth = Gauge(
            "calbridge_queue_depth", "Changes waiting for their user's actor", registry=r
        )
        self.actors = Gauge("calbridge_actors", "User actors running", registry=r)
        self.salesforce_calls = Counter(
            "calbridge_salesforce_calls", "Salesforce API calls by kind", ["kind"], registry=r
        )
        self.issues_open = Gauge("calbridge_issues_open", "Open issues by code", ["code"], registry=r)
        self.stream_connected = Gauge(
            "calbridge_stream_connected", "1 while the change stream is connected", ["stream"], registry=r
        )
        self.plans = Counter("calbridge_plans", "Plans made by the core", registry=r)
        self.writes = Counter("calbridge_writes", "Writes made, by side", ["side"], registry=r)
        self.issues_raised = Counter(
            "calbridge_issues_raised", "Issues raised, by code", ["code"], registry=r
        )
        self.failures = Counter("calbridge_failures", "Failures by kind", ["kind"], registry=r)
        self.salesforce_calls_per_change = Gauge(
            "calbridge_salesforce_calls_per_change", "Salesforce API calls per change propagated", registry=r
        )
        self.mailboxes_subscribed = Gauge(
            "calbridge_mailboxes_subscribed", "Watched mailboxes with a live subscription", registry=r
        )
        for direction in DIRECTIONS:  # so both series exist (at zero) before the first change
            self.propagation_seconds.labels(direction)
            self.changes_propagated.labels(direction)
        self._calls_seen: dict[str, int] = {}
        self._propagated = 0
        self._open_codes: set[str] = set()

    def propagated(self, direction: str, seconds: float) -> None:
        """One change reached the other side `seconds` after it was committed."""
        self.propagation_seconds.labels(direction).observe(seconds)
        self.changes_propagated.labels(direction).inc()
        self._propagated += 1

    def count_salesforce_calls(self, totals: Mapping[str, int]) -> None:
        """Bring the call counter up to an adapter's running totals per kind (`CallCounter.snapshot()`)."""
        for kind, total in totals.items():
            delta = total - self._calls_seen.get(kind, 0)
            if delta > 0:
                self.salesforce_calls.labels(kind).inc(delta)
            self._calls_seen[kind] = max(total, self._calls_seen.get(kind, 0))
        api = sum(n for kind, n in self._calls_seen.items() if kind in API_CALL_KINDS)
        if self._propagated:
            self.salesforce_calls_per_change.set(api / self._propagated)

    def set_open_issues(self, counts: Mapping[str, int]) -> None:
        """Open issues per code; a code no longer listed drops to 0."""
        for code in self._open_codes - set(counts):
            self.issues_open.labels(code).set(0)
        for code, count in counts.items():
            self.issues_open.labels(code).set(count)
        self._open_codes |= set(counts)

    def set_stream(self, stream: str, connected: bool) -> None:
        self.stream_connected.labels(stream).set(1 if connected else 0)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class PrometheusSink:
    """The runtime's `MetricsSink` (bridge.runtime.metrics) writing into `Metrics`."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def latency(self, direction: str, seconds: float) -> None:
        self.metrics.propagated(direction, seconds)

    def queue_depth(self, depth: int) -> None:
        self.metrics.queue_depth.set(depth)

    def actors(self, count: int) -> None:
        self.metrics.actors.set(count)

    def plans(self, count: int) -> None:
        self.metrics.plans.inc(count)

    def writes(self, side: str, count: int) -> None:
        self.metrics.writes.labels(side).inc(count)

    def issue(self, code: str) -> None:
        self.metrics.issues_raised.labels(code).inc()

    def salesforce_calls_per_change(self, calls: float) -> None:
        self.metrics.salesforce_calls_per_change.set(calls)

    def failure(self, kind: str) -> None:
        self.metrics.failures.labels(kind).inc()
