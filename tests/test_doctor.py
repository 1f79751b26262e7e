"""`calbridge doctor` against the sandbox: every check passes on a healthy setup, and each fails, with its
fix, under the fault that breaks what it checks (issue 9). One sandbox serves the module; faults are undone.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.config import Config, build_config
from bridge.doctor import Check, Result, diagnose, exit_code, provider_check
from bridge.sandbox.runner import Sandbox, running_sandbox
from bridge.sandbox.salesforce import setup_objects
from bridge.store import open_store

CHECKS = [
    "salesforce api",
    "permission sets",
    "fields and field-level security",
    "change data capture",
    "pub/sub",
    "exchange provider",
    "exchange mailboxes",
    "clock",
    "store",
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = tmp_path_factory.mktemp("doctor")
    with running_sandbox(root / "sandbox", persist=False) as running:
        running.write_bridge_config(root / "bridge")
        yield running


def _settings(sandbox: Sandbox) -> dict[str, Any]:
    path = sandbox.state_dir.parent / "bridge" / "calbridge.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _config(sandbox: Sandbox, **sections: dict[str, Any]) -> Config:
    data = _settings(sandbox)
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values}
    return build_config(data)


def _by_name(checks: list[Check]) -> dict[str, Check]:
    assert [c.name for c in checks] == CHECKS
    return {c.name: c for c in checks}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _store_at_future_revision(path: Path) -> str:
    store = open_store(f"sqlite+aiosqlite:///{path}")
    await store.migrate()
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = 'f00d0000beef'")
    return f"sqlite+aiosqlite:///{path}"


def test_r_sec_5_doctor_passes_on_the_deployed_package_and_prints_no_secret(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = sandbox.state_dir.parent / "bridge" / "calbridge.toml"

    code = main(["doctor", "--config", str(config_path)])

    out = capsys.readouterr().out
    assert code == 0, out
    for name in CHECKS:
        assert name in out
    assert "fail" not in out.split("calbridge doctor", 1)[1]
    assert "all checks passed" in out
    secrets = [
        sandbox.endpoints()["salesforce"]["client_secret"],
        sandbox.endpoints()["exchange"]["password"],
    ]
    assert not any(secret in out for secret in secrets)  # R-SEC-1


def test_r_time_1_each_check_fails_with_its_fix_under_the_fault_that_breaks_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    org = sandbox.salesforce.org
    admin = sandbox.salesforce.client.run_as_user_id
    first_user = sandbox.users[0]
    mailbox = sandbox.exchange.store.mailbox(sandbox.users[1]["email"])
    assert mailbox is not None
    event = org.objects["event"]
    # An admin takes the user permission set from one user, the UID field's security from the bridge, Event
    # relations out of Change Data Capture and impersonation of one mailbox from the service account.
    with org.transaction(admin) as writer:
        for row in org.rows("PermissionSetAssignment", include_deleted=False):
            if row["AssigneeId"] == first_user["salesforce_user_id"]:
                writer.delete("PermissionSetAssignment", str(row["Id"]))
        for row in org.rows("PlatformEventChannelMember", include_deleted=False):
            if row["SelectedEntity"] == "EventRelationChangeEvent":
                writer.delete("PlatformEventChannelMember", str(row["Id"]))
    org.objects["event"] = replace(
        event, fields=tuple(f for f in event.fields if f.name != "Exchange_UID__c"), field_index={}
    )
    mailbox.impersonation = False
    try:
        config = _config(
            sandbox,
            salesforce={"pubsub": f"127.0.0.1:{_closed_port()}"},
            store={"url": asyncio.run(_store_at_future_revision(tmp_path / "newer.db"))},
        )
        checks = _by_name(
            asyncio.run(diagnose(config, clock=lambda: datetime.now(UTC) + timedelta(minutes=10)))
        )
    finally:
        org.objects["event"] = event
        mailbox.impersonation = True
        setup_objects.install(org, Path(setup_objects.__file__).parents[3] / "salesforce_metadata", admin)
        setup_objects.assign(org, [first_user["salesforce_user_id"]], setup_objects.USER_SET, admin)

    assert checks["salesforce api"].result is Result.OK
    expected = {
        "permission sets": (first_user["email"], "assign Calbridge_User"),
        "fields and field-level security": ("Exchange_UID__c", "deploy salesforce_metadata/"),
        "change data capture": ("EventRelationChangeEvent", "Change Data Capture"),
        "pub/sub": ("UNAVAILABLE", "salesforce.pubsub"),
        "exchange mailboxes": (sandbox.users[1]["email"], "ApplicationImpersonation"),
        "clock": ("s off Salesforce's clock", "NTP"),
        "store": ("newer calbridge", "point store.url at another database"),
    }
    for name, (found, fix) in expected.items():
        assert checks[name].result is Result.FAIL, checks[name]
        assert found in checks[name].found, checks[name]
        assert fix in checks[name].fix, checks[name]
    assert "this host is +60" in checks["clock"].found  # ten minutes ahead, to the second the Date header has
    assert exit_code(list(checks.values())) == 1


def test_r_sec_1_refused_credentials_fail_sign_in_and_skip_what_needs_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret\n")
    store = asyncio.run(_migrated(tmp_path / "ok.db"))

    checks = _by_name(
        asyncio.run(
            diagnose(_config(sandbox, salesforce={"client_secret_file": str(wrong)}, store={"url": store}))
        )
    )

    api = checks["salesforce api"]
    assert api.result is Result.FAIL and "refused" in api.found and "client_id" in api.fix
    assert "not-the-secret" not in api.found + api.fix
    for name in ("permission sets", "fields and field-level security", "change data capture", "pub/sub"):
        assert checks[name].result is Result.SKIPPED
    assert checks["exchange mailboxes"].result is Result.OK  # the other side is checked all the same
    assert checks["store"].result is Result.OK and "at schema revision" in checks["store"].found


def test_r_time_5_under_settings_from_salesforce_doctor_checks_the_mailboxes_salesforce_enrols(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """With `settings_source = "salesforce"` and no [[users]], the mailboxes checked are those of the
    users who hold Calbridge User; one whose Email in Salesforce has no mailbox fails, with the fix there."""
    org = sandbox.salesforce.org
    admin = sandbox.salesforce.client.run_as_user_id
    third = sandbox.users[2]
    store = asyncio.run(_migrated(tmp_path / "ok.db"))
    data = _settings(sandbox)
    data.pop("users", None)
    data["sync"] = {**data.get("sync", {}), "settings_source": "salesforce"}
    data["store"] = {**data.get("store", {}), "url": store}
    config = build_config(data)
    healthy = _by_name(asyncio.run(diagnose(config)))
    assert healthy["exchange mailboxes"].result is Result.OK, healthy["exchange mailboxes"]
    assert f"all {len(sandbox.users)} enrolled mailboxes" in healthy["exchange mailboxes"].found
    assert healthy["permission sets"].result is Result.OK

    with org.transaction(admin) as writer:
        writer.update("User", third["salesforce_user_id"], {"Email": "no.mailbox@calbridge.test"})
    try:
        checks = _by_name(asyncio.run(diagnose(config)))
    finally:
        with org.transaction(admin) as writer:
            writer.update("User", third["salesforce_user_id"], {"Email": third["email"]})
    mailboxes = checks["exchange mailboxes"]
    assert mailboxes.result is Result.FAIL and "no.mailbox@calbridge.test" in mailboxes.found, mailboxes
    assert "Email in Salesforce" in mailboxes.fix
    assert exit_code(list(checks.values())) == 1


async def _migrated(path: Path) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    store = open_store(url)
    await store.migrate()
    await store.close()
    return url


def test_r_graph_1_provider_check_knows_exchange_online_from_on_premises(sandbox: Sandbox) -> None:
    on_premises = _config(sandbox)
    online = _config(sandbox, exchange={"ews_url": "https://outlook.office365.com/EWS/Exchange.asmx"})
    secret = sandbox.state_dir.parent / "bridge" / "exchange-password"  # any file: nothing signs in here
    graph_app = {
        "authority": "https://login.microsoftonline.com/tenant",
        "client_id": "app",
        "client_secret_file": str(secret),
    }
    graph = _config(sandbox, exchange={"provider": "graph", "graph": graph_app})
    now = datetime(2026, 11, 1, tzinfo=UTC)

    assert provider_check(on_premises, now).result is Result.OK
    warned = provider_check(online, now)
    assert warned.result is Result.WARN and "blocked from 2026-10-01" in warned.found
    assert provider_check(online, datetime(2027, 4, 2, tzinfo=UTC)).result is Result.FAIL
    polled = provider_check(graph, now)
    assert polled.result is Result.WARN and "delta polling every 10 s" in polled.found
    # R-GRAPH-3: admins are told that under invitations = none the attendees are listed, not invited.
    assert "invitations = none" in polled.found and "listed at the end of the item's body" in polled.found
    assert sandbox.users[0]["email"] in polled.found
    inviting = _config(
        sandbox,
        exchange={
            "provider": "graph",
            "graph": {**graph_app, "notification_url": "https://bridge.example.com"},
        },
        policy={"invitations": "all"},
    )
    pushed = provider_check(inviting, now)
    assert pushed.result is Result.OK
    assert "change notifications posted to https://bridge.example.com/graph/notify" in pushed.found
    plain = {**graph_app, "notification_url": "http://bridge.example.com"}
    refused = provider_check(_config(sandbox, exchange={"provider": "graph", "graph": plain}), now)
    assert refused.result is Result.FAIL and "not https" in refused.found and "/graph/notify" in refused.fix


def test_r_graph_1_doctor_runs_every_check_over_graph(sandbox: Sandbox, tmp_path: Path) -> None:
    graph = sandbox.endpoints()["graph"]
    secret = tmp_path / "graph-client-secret"
    secret.write_text(graph["client_secret"], encoding="utf-8")
    app = {k: graph[k] for k in ("authority", "client_id", "graph_url")} | {"client_secret_file": str(secret)}
    config = _config(sandbox, exchange={"provider": "graph", "graph": app})

    checks = _by_name(asyncio.run(diagnose(config)))

    assert checks["exchange provider"].result is Result.WARN  # invitations = none: attendees listed
    mailboxes = checks["exchange mailboxes"]
    assert mailboxes.result is Result.OK and "the app registration opens" in mailboxes.found
    assert "Graph" in checks["clock"].found
    assert exit_code(list(checks.values())) == 0
    assert not any(graph["client_secret"] in f"{c.found} {c.fix}" for c in checks.values())

    mailbox = sandbox.exchange.store.mailbox(sandbox.users[1]["email"])
    assert mailbox is not None
    mailbox.impersonation = False  # out of the app's scope
    try:
        refused = _by_name(asyncio.run(diagnose(config)))["exchange mailboxes"]
    finally:
        mailbox.impersonation = True
    assert refused.result is Result.FAIL and sandbox.users[1]["email"] in refused.found
    assert "RBAC for Applications" in refused.fix
