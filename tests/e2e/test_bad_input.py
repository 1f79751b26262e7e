"""Bad input gets a clear error or a coded issue and never stops other users or other changes.

The Salesforce sandbox publishes only well-formed change events, so the malformed one is made the way a
broken or newer Salesforce release would send it: a valid Avro record of the Event change schema whose
header names fields past the schema, appended to the sandbox's event bus (its encoder and log, reached
from Python because no admin fault produces one). Both tests run over EWS and over Graph (R-GRAPH-1): the
event made after the malformed one must still reach the mailbox, and a Graph config with a typo is refused
the same way.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bridge.sandbox.people import wait_until
from bridge.sandbox.salesforce.change_encoding import gap_datum

from .conftest import World

PROVIDERS = ("ews", "graph")


def _calbridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_malformed_change_event_is_skipped_with_a_warning_and_the_stream_carries_on(world: World) -> None:
    owner, _ = world.user(0)
    bus = world.sandbox.salesforce.bus
    topic = bus.topic("/data/EventChangeEvent")
    assert topic is not None and topic.schema is not None
    datum = gap_datum(
        topic.schema,
        record_ids=["00U000000000042AAA"],
        change_type="GAP_UPDATE",
        transaction_key=str(uuid.uuid4()),
        commit_timestamp_ms=int(datetime.now(UTC).timestamp() * 1000),
        commit_number=1,
    )
    datum["ChangeEventHeader"].update(changeType="UPDATE", changedFields=["0x" + "F" * 40])
    payload = bus.codec(topic.schema.schema_id).encode(datum)
    bus._append([(topic.schema.schema_id, bus._event_topics["event"], payload)])
    event_id = world.desk.create_event(owner, "After a malformed event", *world.slot())
    wait_until(lambda: (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c"))
    log = wait_until(lambda: "00U000000000042AAA" in (text := world.bridge.log.read_text()) and text)[0]
    warning = next(line for line in log.splitlines() if "00U000000000042AAA" in line)
    assert '"level": "warning"' in warning and "past the schema" in warning
    assert world.bridge.process is not None and world.bridge.process.poll() is None


def test_a_config_typo_is_refused_by_check_config_and_run_with_one_line_naming_the_key(
    world: World, tmp_path: Path
) -> None:
    typo = tmp_path / "calbridge.toml"
    text = world.bridge.config.read_text()
    typo.write_text(text + '\n[policy]\nprivte = "skip"\n')
    checked = _calbridge("check-config", str(typo))
    assert checked.returncode == 1
    named = [line for line in checked.stdout.splitlines() + checked.stderr.splitlines() if "privte" in line]
    assert len(named) == 1 and "policy.privte" in named[0] and "private" in named[0]
    run = _calbridge("run", "--config", str(typo))
    assert run.returncode != 0
    lines = [line for line in run.stderr.strip().splitlines() if line.strip()]
    assert any("policy.privte" in line for line in lines), run.stderr
    assert "Traceback" not in run.stderr
    assert world.bridge.process is not None and world.bridge.process.poll() is None  # the real one runs on
