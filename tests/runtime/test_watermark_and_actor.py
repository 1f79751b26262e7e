"""Watermarks (R-TIME-2) and the per-user actor: coalescing, one pass at a time, isolation."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.core.model import Policy
from bridge.errors import TransientError
from bridge.ports import ChangeType, EventChange, StreamPosition
from bridge.runtime.actor import Actors, ActorSettings
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.sync import UserBinding, Work
from bridge.runtime.watermark import Watermark, Watermarks


def test_r_time_2_watermark_waits_for_the_slowest_notice() -> None:
    mark = Watermark("sf:/data/EventChangeEvent", low="00")
    first, second, third = mark.begin("01"), mark.begin("02"), mark.begin("03")
    third.release()
    second.release()
    assert mark.low == "00"  # the first notice is still in flight: a crash replays from 00
    assert mark.take() is None
    first.release()
    assert mark.low == "03"
    assert mark.take() == StreamPosition("sf:/data/EventChangeEvent", "03")
    assert mark.take() is None


def test_a_ticket_held_by_two_actors_is_done_when_both_release() -> None:
    marks = Watermarks()
    ticket = marks.begin(StreamPosition("s", "01"))
    ticket.hold()
    ticket.release()
    assert marks.take() == []
    ticket.release()
    assert marks.take() == [StreamPosition("s", "01")]


class FakeSync:
    """Stands in for UserSync: records the work of each pass, one pass at a time."""

    def __init__(self, user_id: str, gate: asyncio.Event, fail: int = 0) -> None:
        self.binding = UserBinding(user_id, f"{user_id}@x", Policy())
        self.passes: list[Work] = []
        self.running = 0
        self.most = 0
        self.gate = gate
        self.fail = fail

    async def run(self, work: Work) -> bool:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate.wait()
            if self.fail:
                self.fail -= 1
                raise TransientError("busy", retry_after=0.01)
            if self.binding.user_id == "broken":
                raise RuntimeError("a bug")
            self.passes.append(work)
            return False
        finally:
            self.running -= 1


def change(event_id: str, n: int) -> EventChange:
    from datetime import UTC, datetime

    return EventChange(
        "Event",
        ChangeType.UPDATE,
        (event_id,),
        {"Subject": f"v{n}"},
        frozenset(),
        datetime.now(UTC),
        StreamPosition("s", f"{n:02d}"),
    )


async def test_changes_to_one_record_are_coalesced_and_one_pass_runs_at_a_time() -> None:
    gate = asyncio.Event()
    syncs: dict[str, Any] = {}
    actors = Actors(
        lambda u: syncs.setdefault(u, FakeSync(u, gate)), RuntimeMetrics(), ActorSettings(idle_s=0.1)
    )
    actors.submit("u1", Work(sf={"e1": [change("e1", 1)]}))
    await asyncio.sleep(0.01)  # the first pass starts and waits at the gate
    for n in range(2, 6):
        actors.submit("u1", Work(sf={"e1": [change("e1", n)]}))
    gate.set()
    await actors.wait_idle()
    passes = syncs["u1"].passes
    assert len(passes) == 2  # the first change, then the four that came meanwhile, planned once
    assert [c.fields["Subject"] for c in passes[1].sf["e1"]] == ["v2", "v3", "v4", "v5"]
    assert syncs["u1"].most == 1


async def test_an_idle_actor_ends_and_comes_back_on_demand() -> None:
    gate = asyncio.Event()
    gate.set()
    syncs: dict[str, Any] = {}
    actors = Actors(
        lambda u: syncs.setdefault(u, FakeSync(u, gate)), RuntimeMetrics(), ActorSettings(idle_s=0.05)
    )
    actors.submit("u1", Work(exchange=True))
    await actors.wait_idle()
    await asyncio.sleep(0.15)
    assert actors.running == {}  # idle users cost no task
    actors.submit("u1", Work(exchange=True))
    await actors.wait_idle()
    assert len(syncs["u1"].passes) == 2


async def test_transient_errors_retry_and_keep_the_tickets_until_done() -> None:
    gate = asyncio.Event()
    gate.set()
    marks = Watermarks()
    syncs: dict[str, Any] = {}
    actors = Actors(
        lambda u: syncs.setdefault(u, FakeSync(u, gate, fail=2)),
        RuntimeMetrics(),
        ActorSettings(idle_s=0.5, first_backoff_s=0.01),
    )
    ticket = marks.begin(StreamPosition("s", "07"))
    actors.submit("u1", Work(exchange=True), [ticket])
    await asyncio.sleep(0.005)
    assert marks.take() == []
    for _ in range(100):
        if syncs["u1"].passes:
            break
        await asyncio.sleep(0.01)
    assert len(syncs["u1"].passes) == 1
    assert marks.take() == [StreamPosition("s", "07")]
    await actors.stop()


async def test_one_users_failure_does_not_stop_another() -> None:
    gate = asyncio.Event()
    gate.set()
    syncs: dict[str, Any] = {}
    actors = Actors(
        lambda u: syncs.setdefault(u, FakeSync(u, gate)), RuntimeMetrics(), ActorSettings(idle_s=0.5)
    )
    actors.submit("broken", Work(exchange=True))
    actors.submit("fine", Work(exchange=True))
    await actors.wait_idle()
    actors.submit("broken", Work(exchange=True))
    await actors.wait_idle()
    assert len(syncs["fine"].passes) == 1
    await actors.stop()


async def test_a_pass_that_fails_with_a_bug_is_followed_by_one_window_reconcile() -> None:
    """The work of a pass that failed for a reason other than a service's unavailability is dropped; what
    it would have told (a mailbox sync's changes, which no notice names again) is found by a window
    reconcile at once rather than hours later. A reconcile that fails too is not tried again (no loop)."""
    gate = asyncio.Event()
    gate.set()
    tries: dict[str, list[Work]] = {"once": [], "broken": []}

    class FailingSync(FakeSync):
        async def run(self, work: Work) -> bool:
            tries[self.binding.user_id].append(work)
            if self.binding.user_id == "broken" or len(tries["once"]) == 1:
                raise RuntimeError("a bug")
            return await super().run(work)

    metrics = RuntimeMetrics()
    actors = Actors(lambda u: FailingSync(u, gate), metrics, ActorSettings(idle_s=0.5))
    actors.submit("once", Work(exchange=True))
    actors.submit("broken", Work(exchange=True))
    await actors.wait_idle()
    assert [(w.exchange, w.reconcile) for w in tries["once"]] == [(True, False), (False, True)]
    assert [(w.exchange, w.reconcile) for w in tries["broken"]] == [(True, False), (False, True)]
    assert metrics.counters["failure_bug"] == 3
    await actors.stop()


async def test_stop_finishes_the_pass_in_flight() -> None:
    gate = asyncio.Event()
    syncs: dict[str, Any] = {}
    actors = Actors(
        lambda u: syncs.setdefault(u, FakeSync(u, gate)), RuntimeMetrics(), ActorSettings(idle_s=5)
    )
    actors.submit("u1", Work(exchange=True))
    await asyncio.sleep(0.01)
    stopping = asyncio.create_task(actors.stop())
    await asyncio.sleep(0.01)
    assert not stopping.done()
    gate.set()
    await stopping
    assert len(syncs["u1"].passes) == 1


async def test_workers_bounds_the_passes_running_at_once_and_a_waiting_user_gathers_their_changes() -> None:
    """[sync] workers = 2: five users with work, never more than two passes at once; a user kept waiting
    for a turn plans everything that arrived meanwhile in one pass; every user is served."""
    gate = asyncio.Event()
    syncs: dict[str, Any] = {}
    running = {"now": 0, "most": 0}

    class CountingSync(FakeSync):
        async def run(self, work: Work) -> bool:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
            try:
                return await super().run(work)
            finally:
                running["now"] -= 1

    actors = Actors(
        lambda u: syncs.setdefault(u, CountingSync(u, gate)),
        RuntimeMetrics(),
        ActorSettings(idle_s=1, workers=2),
    )
    for user in ("u1", "u2", "u3", "u4", "u5"):
        actors.submit(user, Work(sf={"e1": [change("e1", 1)]}))
    await asyncio.sleep(0.02)
    assert running["now"] == 2  # three users wait for a turn
    actors.submit("u5", Work(sf={"e1": [change("e1", 2)]}))
    gate.set()
    await actors.wait_idle()
    assert running["most"] == 2
    assert {u: len(s.passes) for u, s in syncs.items()} == {f"u{n}": 1 for n in range(1, 6)}
    assert [c.fields["Subject"] for c in syncs["u5"].passes[0].sf["e1"]] == ["v1", "v2"]
    await actors.stop()
