"""`calbridge sandbox --state-dir DIR` and `calbridge demo`, run as a user would run them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from exchangelib import UTC, Account, CalendarItem, EWSDateTime
from simple_salesforce import Salesforce

from bridge.config import load_config
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
    assert f"calbridge run --config {tmp_path / 'calbridge.toml'}" in output

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
        output = _stop(process)
    # --users on an existing org is not silently ignored.
    assert f"note: --users 2 ignored: {tmp_path / 'org.json'} already holds an org with 2 users" in output


def test_sandbox_writes_a_bridge_config_that_load_config_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.upper().startswith("CALBRIDGE_")]:
        monkeypatch.delenv(name)
    process = _start(tmp_path)
    try:
        endpoints = _wait_for_endpoints(process, tmp_path)
        path = tmp_path / "calbridge.toml"
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        config = load_config(path)
        sf, ex = endpoints["salesforce"], endpoints["exchange"]
        assert config.salesforce.instance_url == sf["instance_url"]
        assert config.salesforce.token_endpoint == sf["token_url"]
        assert (config.salesforce.pubsub, config.salesforce.org_id) == (sf["pubsub"], sf["org_id"])
        assert config.salesforce.client_secret is not None
        assert config.salesforce.client_secret.get_secret_value() == sf["client_secret"]
        assert config.exchange.ews_url == ex["ews_url"] and config.exchange.username == ex["username"]
        assert config.exchange.password is not None
        assert config.exchange.password.get_secret_value() == ex["password"]
        assert config.salesforce.ca_bundle == config.exchange.ca_bundle == tmp_path / "ca.pem"
        assert config.store_url == f"sqlite+aiosqlite:///{tmp_path / 'calbridge.db'}"
        assert [(u.email, u.salesforce_user_id) for u in config.users] == [
            (u["email"], u["salesforce_user_id"]) for u in endpoints["users"]
        ]
        assert config.ops.loopback
        # Secrets are not inline: they are in owner-only files the config names.
        text = path.read_text()
        for secret in (sf["client_secret"], ex["password"], sf["access_token"]):
            assert secret not in text
        for key in (config.salesforce.client_secret_file, config.exchange.password_file):
            assert key is not None and key.parent == tmp_path
            assert oct(key.stat().st_mode & 0o777) == "0o600"
        # Both admin endpoints have one shape: POST <admin_url>/faults and GET <admin_url>/state.
        http = requests.Session()
        http.verify = endpoints["ca_bundle"]
        http.trust_env = False
        for half in ("salesforce", "exchange"):
            admin = endpoints["admin"][half]
            auth = {"Authorization": f"Bearer {admin['admin_token']}"}
            state = http.get(admin["admin_url"] + "/state", headers=auth, timeout=10)
            assert state.status_code == 200, (half, state.text)
            assert admin["admin_token"] not in state.text
            fault = http.post(
                admin["admin_url"] + "/faults", json={"fault": "clear"}, headers=auth, timeout=10
            )
            assert fault.status_code == 200, (half, fault.text)
            assert http.get(admin["admin_url"] + "/state", timeout=10).status_code in (401, 403)
        assert http.get(
            endpoints["admin"]["exchange"]["admin_url"] + "/state",
            headers={"Authorization": f"Bearer {endpoints['admin']['exchange']['admin_token']}"},
            timeout=10,
        ).json()["mailboxes"] == len(endpoints["users"])
        # The older Exchange form, POST <admin_url> itself, still works.
        exchange_admin = endpoints["admin"]["exchange"]
        older = http.post(
            exchange_admin["admin_url"],
            json={"fault": "clear"},
            headers={"Authorization": f"Bearer {exchange_admin['admin_token']}"},
            timeout=10,
        )
        assert older.status_code == 200
    finally:
        _stop(process)


def _calbridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def _one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_version() -> None:
    result = _calbridge("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"calbridge \S+\n", result.stdout)


def test_a_state_dir_that_is_a_file_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for command in ("sandbox", "demo"):
        line = _one_clear_line(_calbridge(command, "--state-dir", str(tmp_path / "file")))
        assert line == (
            f"calbridge {command}: --state-dir {tmp_path / 'file'} is a file; name a directory "
            "(it is created if missing)"
        )


def test_an_unresolvable_host_is_one_clear_line(tmp_path: Path) -> None:
    line = _one_clear_line(
        _calbridge("sandbox", "--state-dir", str(tmp_path), "--host", "no-such-host.invalid")
    )
    assert line.startswith("calbridge sandbox: --host 'no-such-host.invalid' does not resolve")
    assert "e.g. 127.0.0.1" in line


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("org.json", "", "is empty"),
        ("org.json", '{"format": 1, "records": [', "is not valid JSON"),
        ("org.json", '{"format": 999}', "is not a state this sandbox can load"),
        ("exchange.json", "[1, 2]", "does not hold a saved sandbox state"),
        ("exchange.json", "\n", "is empty"),
    ],
)
def test_a_corrupt_state_file_is_one_line_naming_it_and_the_fix(
    tmp_path: Path, name: str, content: str, problem: str
) -> None:
    (tmp_path / name).write_text(content)
    line = _one_clear_line(_calbridge("sandbox", "--state-dir", str(tmp_path)))
    assert line.startswith(f"calbridge sandbox: {tmp_path / name} {problem}")
    assert f"move it away (e.g. mv {tmp_path / name} {tmp_path / name}.bad)" in line


@pytest.mark.parametrize("users", ["0", "10001"])
def test_sandbox_command_rejects_a_bad_user_count(tmp_path: Path, users: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "sandbox", "--state-dir", str(tmp_path), "--users", users],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert _one_clear_line(result) == "calbridge sandbox: --users must be between 1 and 10000"
    assert not (tmp_path / "org.json").exists()


def test_demo_runs_the_bridge_against_the_sandbox() -> None:
    """The demo starts the sandbox, writes its calbridge.toml, runs `calbridge run` on it, plays a story."""
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "starting the bridge: calbridge run --config" in result.stdout
    assert "steps seen on the other side" in result.stdout
    assert "bridge stopped with exit code 0" in result.stdout
