"""The platform engineer's view of a running bridge (docs/ops.md): /readyz, /metrics, /issues, the log, the
CLI run as processes beside `calbridge run`, and SIGTERM/SIGINT while changes flow. Over EWS and over Graph
(R-GRAPH-1); over Graph only the tests whose outcome the provider can change (the reasons are by the tests).
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.cli import main
from bridge.config import load_config
from bridge.logs import SECRET_KEY
from bridge.ports import Intent
from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import wait_until
from bridge.store import open_store

from .conftest import World
from .helpers import paired_with

PROVIDERS = ("ews", "graph")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _get(world: World, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(world.bridge.ops_url + path, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _samples(world: World) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(world.bridge.metrics())
        for s in family.samples
    }


def _calbridge(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def _crossed_both_ways(world: World, label: str) -> tuple[str, str]:
    """An event made in Salesforce and an item booked in Outlook, each seen on the other side. One after the
    other: a pass started by the new event reads the user's window, and an item booked at that moment would
    cross in it as part of that read, without a notice of its own to time it by."""
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, f"{label} from Salesforce", start, end)
    wait_until(lambda: (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c"))
    item = outlook.book(f"{label} from Outlook", start, end)
    wait_until(lambda: paired_with(world, item.id))
    return event_id, item.id


def test_r_sec_3_readyz_names_each_check_and_is_200_once_streams_store_and_first_sync_are_up(
    world: World,
) -> None:
    status, body = _get(world, "/readyz")
    assert status == 200 and body["ready"] is True
    assert body["checks"] == {
        "store": True,
        "salesforce_stream": True,
        "exchange_subscriptions": True,
        "first_sync": True,
    }
    assert _get(world, "/healthz") == (200, {"status": "alive"})


def test_r_time_1_metrics_count_and_time_the_changes_that_crossed_each_way(world: World) -> None:
    before = _samples(world)
    _crossed_both_ways(world, "Metrics")
    propagated = "calbridge_changes_propagated_total"

    def counted() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        # A pass counts its change when it commits, a moment after the write the test saw land.
        now = _samples(world)
        done = all(
            now.get((propagated, (("direction", d),)), 0.0)
            > before.get((propagated, (("direction", d),)), 0.0)
            for d in ("to_exchange", "to_salesforce")
        )
        return now if done else None

    after, _ = wait_until(counted, timeout=10)

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    for direction in ("to_exchange", "to_salesforce"):
        labels = (("direction", direction),)
        assert grew("calbridge_changes_propagated_total", labels) >= 1, direction
        assert grew("calbridge_propagation_seconds_count", labels) >= 1, direction
        # every change crossed within the 60 s bucket, i.e. seconds, not minutes (R-TIME-1)
        assert (
            after[("calbridge_propagation_seconds_bucket", (*labels, ("le", "60.0")))]
            == after[("calbridge_propagation_seconds_count", labels)]
        )
    assert grew("calbridge_salesforce_calls_total", (("kind", "write"),)) >= 1
    assert 0 < after[("calbridge_salesforce_calls_per_change", ())] < 50
    assert after[("calbridge_stream_connected", (("stream", "salesforce"),))] == 1
    assert after[("calbridge_stream_connected", (("stream", "exchange"),))] == 1
    assert after[("calbridge_mailboxes_subscribed", ())] == len(world.endpoints["users"])
    assert ("calbridge_queue_depth", ()) in after and ("calbridge_actors", ()) in after


def test_r_lim_1_an_issue_shows_in_the_ops_endpoint_the_metrics_and_the_cli(world: World) -> None:
    owner, address = world.user(0)
    outlook = world.outlook(0)
    start, _ = world.slot()
    outlook.book("Three-week offsite", start, start + timedelta(days=21))

    def too_long() -> list[dict[str, Any]]:
        issues = _get(world, f"/issues?user={address}")[1]["issues"]
        return [i for i in issues if i["code"] == "E-TOO-LONG"]

    (issue,), _ = wait_until(too_long, timeout=30)
    assert issue["user_id"] == owner and issue["exchange_id"] and issue["message"]
    assert _samples(world)[("calbridge_issues_open", (("code", "E-TOO-LONG"),))] >= 1
    listed = _calbridge("issues", "--config", str(world.bridge.config), "--user", address)
    assert listed.returncode == 0, listed.stderr
    assert "E-TOO-LONG" in listed.stdout and owner in listed.stdout
    other = _calbridge("issues", "--config", str(world.bridge.config), "--user", world.user(1)[1])
    assert other.returncode == 0 and "E-TOO-LONG" not in other.stdout


@pytest.mark.providers("ews", reason="reads the store's marks; changes crossing over Graph: the metrics test")
def test_status_shows_each_user_with_the_last_sync_each_way_and_open_issues(world: World) -> None:
    _crossed_both_ways(world, "Status")
    shown = _calbridge("status", "--config", str(world.bridge.config))
    assert shown.returncode == 0, shown.stderr
    owner, address = world.user(0)
    row = next(line for line in shown.stdout.splitlines() if owner in line)
    assert address in row
    # both "last to Exchange" and "last to Salesforce" hold a time, not "never"
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", row)) == 2, row
    assert "last to Exchange" in shown.stdout and "open issues" in shown.stdout


def test_r_time_5_sync_now_asks_the_running_bridge_and_backfill_runs_in_process(world: World) -> None:
    owner, address = world.user(0)
    config = str(world.bridge.config)
    asked = _calbridge("sync-now", "--config", config, address)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.strip() == f"{owner}: synced by the running bridge"
    filled = _calbridge("backfill", "--config", config, "--all")
    assert filled.returncode == 0, filled.stderr
    assert f"{len(world.endpoints['users'])} users reconciled in this process" in filled.stdout


@pytest.mark.providers("ews", reason="argument and config-file errors, before any provider is reached")
def test_bad_input_is_one_line_and_a_non_zero_exit_never_a_traceback(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(world.bridge.config)
    cases = [
        (("sync-now", "--config", config, "nobody@example.com"), 2, "no enrolled user 'nobody@example.com'"),
        (("issues", "--config", config, "--user", "nobody"), 2, "no enrolled user"),
        (("status", "--config", str(tmp_path / "missing.toml")), 2, "no such file"),
        (("run", "--config", config), 1, "is in use"),  # the running bridge holds its ops port
        (("backfill", "--config", config), 2, "one of the arguments"),
    ]
    for args, code, words in cases:
        answer = _calbridge(*args)
        assert answer.returncode == code, (args, answer.stderr)
        assert words in answer.stderr, (args, answer.stderr)
        assert "Traceback" not in answer.stderr
        lines = answer.stderr.strip().splitlines()
        assert len(lines) == 1 or args[0] == "backfill", (args, lines)  # argparse adds its usage line
    # --help of every command, in this process (the same parser; a process each would cost seconds)
    for command in ("run", "status", "issues", "sync-now", "backfill", "check-config", "sandbox", "demo"):
        with pytest.raises(SystemExit) as ended:
            main([command, "--help"])
        assert ended.value.code == 0
        helped = capsys.readouterr().out
        assert helped.startswith("usage: calbridge " + command), helped
        if command not in ("check-config", "sandbox", "demo"):
            assert "--config FILE" in helped and "CALBRIDGE_" in helped, helped


def test_r_sec_1_the_bridge_log_holds_no_secret_of_the_sandbox_and_one_line_per_write(world: World) -> None:
    _crossed_both_ways(world, "Log")
    text = world.bridge.log.read_text()
    secrets: list[str] = []

    def collect(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                collect(v, str(k))
        elif isinstance(value, list):
            for v in value:
                collect(v, key)
        elif isinstance(value, str) and SECRET_KEY.search(key) and len(value) >= 4:
            secrets.append(value)

    collect(world.endpoints)
    assert secrets, "endpoints.json names its secrets"
    for secret in secrets:
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    written = [line for line in lines if line.get("event") == "pass_written"]
    assert written and all(line["user"] and line["pair"] and line["commands"] for line in written)
    assert any(line["latency_s"] is not None for line in written)
    quiet = ("alembic", "exchangelib", "aiohttp.access")
    assert not [line for line in lines if line["level"] == "info" and line["logger"].startswith(quiet)]


def _stop_while_changes_flow(world: World, signum: signal.Signals, label: str) -> None:
    owner, _ = world.user(2)
    base, _ = world.slot()
    made: list[str] = []
    errors: list[BaseException] = []

    def salesforce_side() -> None:
        try:
            for n in range(12):
                start = base + timedelta(minutes=30 * n)
                made.append(
                    world.desk.create_event(owner, f"{label}-{n:02d}", start, start + timedelta(minutes=30))
                )
        except BaseException as error:
            errors.append(error)

    writer = threading.Thread(target=salesforce_side)
    writer.start()
    wait_until(lambda: len(made) >= 4)
    process = world.bridge.process
    assert process is not None
    process.send_signal(signum)
    assert process.wait(30) == 0, world.bridge.tail()
    world.bridge.stop()  # already ended: only closes its log file
    writer.join()
    assert not errors, errors
    assert "stopping: finishing the plans in flight" in world.bridge.tail(200)
    # every write begun was committed with its plan: no intent is left for a restart to recover
    assert asyncio.run(_pending_intents(world.bridge.config)) == []
    world.bridge = BridgeProcess(world.bridge.config).start()
    # nothing the bridge had taken up, nor what came while it was down, is lost (R-TIME-2)
    for event_id in made:

        def paired(e: str = event_id) -> object:
            return (world.desk.event(e) or {}).get("Exchange_Item_Id__c")

        wait_until(paired, timeout=30)


async def _pending_intents(config: Path) -> list[Intent]:
    store = open_store(load_config(config).store_url)
    try:
        return await store.pending_intents()
    finally:
        await store.close()


def test_r_time_2_sigterm_while_changes_flow_finishes_what_is_in_flight_and_exits_0(world: World) -> None:
    _stop_while_changes_flow(world, signal.SIGTERM, "term")


@pytest.mark.providers("ews", reason="the signal is the runtime's; Graph writes in flight: the SIGTERM test")
def test_r_time_2_sigint_does_the_same(world: World) -> None:
    _stop_while_changes_flow(world, signal.SIGINT, "int")
