"""Record ids (15/18 characters, checksum) and the demo seed, checked through the REST API."""

from __future__ import annotations

from pathlib import Path

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.seed import seed_org
from bridge.sandbox.salesforce.server import running_salesforce_sandbox
from bridge.sandbox.tls import SandboxTLS
from tests.sandbox.salesforce.conftest import client


def test_checksum_matches_salesforce_published_example() -> None:
    # The 15-character id from Salesforce's documentation and its case-safe 18-character form.
    assert ids.checksum_suffix("001A0000006Vm9r") == "IAC"
    assert ids.normalize("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert ids.normalize("001A0000006Vm9rXXX") is None
    assert ids.normalize("short") is None


def test_seeded_users_have_contacts_leads_and_events(sf_tls: SandboxTLS, ca_path: Path) -> None:
    with running_salesforce_sandbox(sf_tls) as running:
        users = seed_org(running.org, users=3)
        assert [u["email"] for u in users] == [
            "ana.lopez@calbridge.test",
            "ben.okafor@calbridge.test",
            "chloe.martin@calbridge.test",
        ]
        sf = client(running, ca_path)
        ana = users[0]["salesforce_user_id"]
        events = sf.query(
            f"SELECT Subject, IsAllDayEvent, IsPrivate, WhoId FROM Event "
            f"WHERE OwnerId = '{ana}' AND IsChild = false"
        )["records"]
        assert len(events) == 4
        assert any(e["IsAllDayEvent"] for e in events) and any(e["IsPrivate"] for e in events)
        assert sf.query(f"SELECT COUNT() FROM Contact WHERE OwnerId = '{ana}'")["totalSize"] == 3
        assert sf.query(f"SELECT COUNT() FROM Lead WHERE OwnerId = '{ana}'")["totalSize"] == 1
        assert (
            sf.query(
                f"SELECT COUNT() FROM Event WHERE OwnerId = '{ana}' AND IsChild = true AND "
                f"Subject LIKE 'Kickoff%'"
            )["totalSize"]
            == 1
        )  # Ben invited Ana to his kickoff
