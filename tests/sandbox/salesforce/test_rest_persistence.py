"""The org survives a restart when it has a state file: records, deleted rows, sessions, the connected app,
and the retained change events with their replay ids."""

from __future__ import annotations

from pathlib import Path

import grpc

from bridge.sandbox.salesforce.eventbus import replay_bytes
from bridge.sandbox.salesforce.server import running_salesforce_sandbox
from bridge.sandbox.tls import SandboxTLS
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc
from tests.sandbox.salesforce.conftest import client
from tests.support.avro_decode import decode
from tests.support.pubsub_client import Subscription


def test_state_file_keeps_data_sessions_and_ids_across_restart(
    sf_tls: SandboxTLS, ca_path: Path, tmp_path: Path
) -> None:
    state = tmp_path / "org.json"
    with running_salesforce_sandbox(sf_tls, state_file=state) as first:
        endpoints = first.endpoints()
        sf = client(first, ca_path)
        contact = sf.Contact.create({"FirstName": "Kenji", "LastName": "Sato"})["id"]
        event = sf.Event.create(
            {
                "Subject": "Quarterly review",
                "StartDateTime": "2026-12-02T09:00:00Z",
                "DurationInMinutes": 60,
                "WhoId": contact,
            }
        )["id"]
        gone = sf.Event.create(
            {"Subject": "Cancelled", "StartDateTime": "2026-12-03T09:00:00Z", "DurationInMinutes": 30}
        )["id"]
        sf.Event.delete(gone)
        usage = first.org.api_usage
    assert state.exists()
    with running_salesforce_sandbox(sf_tls, state_file=state) as second:
        assert second.endpoints()["org_id"] == endpoints["org_id"]
        assert second.endpoints()["client_id"] == endpoints["client_id"]
        sf = client(second, ca_path, endpoints["access_token"])
        restored = sf.Event.get(event)
        assert (restored["Subject"], restored["StartDateTime"], restored["WhoId"]) == (
            "Quarterly review",
            "2026-12-02T09:00:00.000+0000",
            contact,
        )
        relations = sf.query(f"SELECT RelationId FROM EventRelation WHERE EventId = '{event}'")["records"]
        assert [r["RelationId"] for r in relations] == [contact]
        deleted = sf.query_all(f"SELECT IsDeleted FROM Event WHERE Id = '{gone}'", include_deleted=True)
        assert deleted["records"][0]["IsDeleted"] is True
        newer = sf.Event.create(
            {"Subject": "After restart", "StartDateTime": "2026-12-04T09:00:00Z", "DurationInMinutes": 30}
        )["id"]
        assert newer not in (event, gone)
        assert second.org.api_usage > usage


def test_periodic_save_writes_without_stopping(sf_tls: SandboxTLS, ca_path: Path, tmp_path: Path) -> None:
    import time

    state = tmp_path / "org.json"
    with running_salesforce_sandbox(sf_tls, state_file=state, save_interval_s=0.05) as running:
        client(running, ca_path).Account.create({"Name": "Saved Soon"})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (not state.exists() or "Saved Soon" not in state.read_text()):
            time.sleep(0.05)
        assert "Saved Soon" in state.read_text()


def test_r_time_2_replay_ids_stay_valid_across_restart(
    sf_tls: SandboxTLS, ca_path: Path, tmp_path: Path
) -> None:
    """A subscriber that stored a replay id before the sandbox restarted resumes right after it."""
    state = tmp_path / "org.json"
    with running_salesforce_sandbox(sf_tls, state_file=state) as first:
        sf = client(first, ca_path)
        sf.Event.create(
            {"Subject": "Before", "StartDateTime": "2026-12-02T09:00:00Z", "DurationInMinutes": 30}
        )
        stored_replay = replay_bytes(first.bus.latest_replay)
        missed = sf.Event.create(
            {"Subject": "Missed while away", "StartDateTime": "2026-12-02T10:00:00Z", "DurationInMinutes": 30}
        )["id"]
    with running_salesforce_sandbox(sf_tls, state_file=state) as second:
        endpoints = second.endpoints()
        metadata = (
            ("accesstoken", endpoints["access_token"]),
            ("instanceurl", endpoints["instance_url"]),
            ("tenantid", endpoints["org_id"]),
        )
        credentials = grpc.ssl_channel_credentials(root_certificates=sf_tls.ca_pem)
        with grpc.secure_channel(endpoints["pubsub"], credentials) as channel:
            stub = pb_grpc.PubSubStub(channel)
            first_request = pb.FetchRequest(
                topic_name="/data/EventChangeEvent", replay_preset=pb.CUSTOM, replay_id=stored_replay,
                num_requested=1,
            )  # fmt: skip
            subscription = Subscription(stub, first_request, metadata)
            [event] = subscription.events(1)
            subscription.close()
            schema = stub.GetSchema(pb.SchemaRequest(schema_id=event.event.schema_id), metadata=metadata)
    record = decode(schema.schema_json, event.event.payload)
    assert record["ChangeEventHeader"]["recordIds"] == [missed]
    assert record["Subject"] == "Missed while away"
