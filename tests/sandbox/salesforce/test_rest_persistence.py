"""The org survives a restart when it has a state file: records, deleted rows, sessions, the connected app."""

from __future__ import annotations

from pathlib import Path

from bridge.sandbox.salesforce.server import running_salesforce_sandbox
from bridge.sandbox.tls import SandboxTLS
from tests.sandbox.salesforce.conftest import client


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
