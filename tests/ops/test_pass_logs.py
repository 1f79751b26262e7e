"""What the runtime logs while it works, over the in-memory ports: one line per plan that wrote, warnings
for lost races, refusals and issues, each with its reason (docs/ops.md, "Logs")."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from bridge.core.model import Policy
from bridge.logs import configure_logging
from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.sync import UserBinding
from bridge.store.memory import MemoryStore

ANN = UserBinding("005000000000ANN", "ann@corp.example", Policy(user_email="ann@corp.example"))
FAST = BridgeSettings(
    flush_s=0.02, reconcile_every_s=0, actor=ActorSettings(idle_s=0.2, first_backoff_s=0.01)
)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging(stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.fixture
async def running() -> AsyncIterator[tuple[MemorySalesforce, MemoryMailbox, MemoryStore, Bridge]]:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    bridge = Bridge(sf, ex, store, [ANN], settings=FAST)
    await bridge.start()
    await bridge.wait_idle()
    yield sf, ex, store, bridge
    await bridge.stop()


def _events(out: io.StringIO, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return [line for line in lines if line["event"] == name]


def _soon() -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
    return start, start + timedelta(minutes=30)


async def test_r_time_1_each_change_that_crosses_logs_one_info_line_with_pair_commands_direction_latency(
    log_lines: io.StringIO, running: tuple[MemorySalesforce, MemoryMailbox, MemoryStore, Bridge]
) -> None:
    sf, _ex, store, bridge = running
    event_id = sf.put_event(ANN.user_id, "Quarterly review", *_soon())
    await bridge.wait_idle()
    (created,) = [line for line in _events(log_lines, "pass_written") if line["salesforce_id"] == event_id]
    assert created["level"] == "info" and created["user"] == ANN.user_id
    assert created["commands"].get("CreateItem") == 1 and created["pair"] and created["exchange_id"]
    sf.edit_event(event_id, Subject="Quarterly review (room 4)")
    await bridge.wait_idle()
    moved = [line for line in _events(log_lines, "pass_written") if line["salesforce_id"] == event_id][1]
    assert moved["direction"] == "to_exchange" and moved["source"] == "salesforce"
    assert moved["commands"] == {"UpdateItem": 1} and moved["pair"] == created["pair"]
    assert isinstance(moved["latency_s"], float) and moved["latency_s"] >= 0
    # calbridge status reads the last sync each way from the store
    marks = await store.positions("synced:")
    assert set(marks) >= {f"synced:to_exchange:{ANN.user_id}"}


async def test_r_merge_5_a_lost_race_is_a_warning_with_its_reason(
    log_lines: io.StringIO, running: tuple[MemorySalesforce, MemoryMailbox, MemoryStore, Bridge]
) -> None:
    sf, ex, _store, bridge = running
    item_id = ex.put_item(ANN.mailbox, "Board prep", *_soon())
    await bridge.wait_idle()
    event_id = next(e for e, fields in sf.events.items() if fields.get("Exchange_Item_Id__c") == item_id)
    sf.conflict_once.add(event_id)
    ex.edit_item(ANN.mailbox, item_id, subject="Board prep (moved)")
    await bridge.wait_idle()
    (race,) = _events(log_lines, "write_failed")
    assert race["level"] == "warning" and race["user"] == ANN.user_id
    assert race["failure"] == "ConflictError" and race["reason"]
    assert sf.events[event_id]["Subject"] == "Board prep (moved)"  # re-planned, then written


async def test_r_lim_1_a_refused_write_is_an_issue_logged_as_a_warning_with_salesforces_message(
    log_lines: io.StringIO, running: tuple[MemorySalesforce, MemoryMailbox, MemoryStore, Bridge]
) -> None:
    sf, ex, _store, bridge = running
    sf.refuse["create_event"] = "FIELD_CUSTOM_VALIDATION_EXCEPTION: Region is required"
    ex.put_item(ANN.mailbox, "Refused one", *_soon())
    await bridge.wait_idle()
    issues = [line for line in _events(log_lines, "issue_raised") if line["code"] == "E-SF-VALIDATION"]
    assert issues and issues[0]["level"] == "warning" and issues[0]["user"] == ANN.user_id
    assert "Region is required" in issues[0]["reason"]


async def test_r_time_1_a_new_event_and_a_new_item_are_timed_from_their_sources_commit(
    log_lines: io.StringIO, running: tuple[MemorySalesforce, MemoryMailbox, MemoryStore, Bridge]
) -> None:
    """Creates cross through the unpaired pass: they are counted and timed like updates."""
    sf, ex, _store, bridge = running
    event_id = sf.put_event(ANN.user_id, "New in Salesforce", *_soon())
    await bridge.wait_idle()
    item_id = ex.put_item(ANN.mailbox, "New in Outlook", *_soon())
    await bridge.wait_idle()
    written = _events(log_lines, "pass_written")
    to_exchange = next(line for line in written if line["salesforce_id"] == event_id)
    to_salesforce = next(line for line in written if line["exchange_id"] == item_id)
    assert (to_exchange["direction"], to_exchange["source"]) == ("to_exchange", "salesforce")
    assert (to_salesforce["direction"], to_salesforce["source"]) == ("to_salesforce", "exchange")
    assert to_exchange["latency_s"] is not None and to_salesforce["latency_s"] is not None
    assert len(bridge.metrics.latencies["to_exchange"]) == len(bridge.metrics.latencies["to_salesforce"]) == 1
