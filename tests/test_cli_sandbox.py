"""`calbridge sandbox --state-dir DIR` and `calbridge demo`, run as a user would run them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from exchangelib import UTC, Account, CalendarItem, EWSDateTime
from simple_salesforce import Salesforce

from bridge.sandbox.exchange.client_tls import sandbox_account

ROOT = Path(__file__).resolve().parents[1]


def _start(state_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bridge", "sandbox", "--state-dir", str(state_dir), "--users", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_endpoints(process: subprocess.Popen[str], state_dir: Path) -> dict:
    path = state_dir / "endpoints.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else "sandbox exited"
        if path.exists() and path.stat().st_size:
            return json.loads(path.read_text())
        time.sleep(0.1)
    raise AssertionError("endpoints.json never appeared")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


def _mailbox(endpoints: dict, address: str) -> Account:
    return sandbox_account(endpoints["exchange"], Path(endpoints["ca_bundle"]).read_bytes(), address)


def _salesforce(endpoints: dict) -> Salesforce:
    session = requests.Session()
    session.verify = endpoints["ca_bundle"]
    session.trust_env = False
    sf_conf = endpoints["salesforce"]
    return Salesforce(
        instance_url=sf_conf["instance_url"],
        session_id=sf_conf["access_token"],
        session=session,
        version=sf_conf["api_version"],
    )


def test_sandbox_command_writes_endpoints_serves_and_keeps_the_org_across_restarts(tmp_path: Path) -> None:
    process = _start(tmp_path)
    try:
        endpoints = _wait_for_endpoints(process, tmp_path)
        assert set(endpoints) >= {"ca_bundle", "salesforce", "exchange", "users"}
        assert set(endpoints["salesforce"]) >= {
            "instance_url",
            "token_url",
            "client_id",
            "client_secret",
            "access_token",
            "org_id",
            "api_version",
            "pubsub",
        }
        assert set(endpoints["exchange"]) >= {"ews_url", "username", "password", "mailboxes"}
        assert (tmp_path / "ca.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        assert oct((tmp_path / "endpoints.json").stat().st_mode & 0o777) == "0o600"
        users = endpoints["users"]
        assert len(users) == 2
        # Every seeded Salesforce user has a mailbox with the same address.
        assert [u["email"] for u in users] == endpoints["exchange"]["mailboxes"]
        sf = _salesforce(endpoints)
        mailbox = _mailbox(endpoints, users[0]["email"])
        seeded = {i.subject for i in mailbox.calendar.all()}
        assert len(seeded) >= 3, "each mailbox is seeded with a few items"
        item = CalendarItem(
            account=mailbox,
            folder=mailbox.calendar,
            subject="also kept across restarts",
            start=EWSDateTime(2026, 12, 1, 14, tzinfo=UTC),
            end=EWSDateTime(2026, 12, 1, 15, tzinfo=UTC),
        )
        item.save()
        created = sf.Event.create(
            {
                "Subject": "kept across restarts",
                "OwnerId": users[0]["salesforce_user_id"],
                "StartDateTime": "2026-12-01T10:00:00Z",
                "EndDateTime": "2026-12-01T11:00:00Z",
            }
        )
    finally:
        output = _stop(process)
    # The terminal shows addresses, never the secrets.
    for secret in (
        endpoints["salesforce"]["client_secret"],
        endpoints["salesforce"]["access_token"],
        endpoints["exchange"]["password"],
    ):
        assert secret not in output
    assert endpoints["salesforce"]["instance_url"] in output

    assert (tmp_path / "org.json").exists() and (tmp_path / "exchange.json").exists()
    (tmp_path / "endpoints.json").unlink()
    process = _start(tmp_path)
    try:
        again = _wait_for_endpoints(process, tmp_path)
        assert again["users"] == users
        record = _salesforce(again).Event.get(created["id"])
        assert record["Subject"] == "kept across restarts"
        mailbox = _mailbox(again, users[0]["email"])
        kept = mailbox.calendar.get(id=item.id)
        assert (kept.subject, kept.changekey) == ("also kept across restarts", item.changekey)
        # Seeding does not run again over a mailbox that already has items.
        assert {i.subject for i in mailbox.calendar.all()} == seeded | {"also kept across restarts"}
    finally:
        _stop(process)


def test_sandbox_command_rejects_a_bad_user_count(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "sandbox", "--state-dir", str(tmp_path), "--users", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--users must be between 1 and 8" in result.stderr


def test_demo_shows_both_sandboxes_answering() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CREATE change event" in result.stdout
    assert "client=calbridge-demo" in result.stdout
    assert "EWS streaming notification                   CreatedEvent" in result.stdout
    assert "both sandboxes answered" in result.stdout
