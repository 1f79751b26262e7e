"""bridge.config: a TOML file plus CALBRIDGE_* overrides; secrets from the environment or files (R-SEC-1)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.config import (
    Config,
    ConfigProblems,
    PolicySettings,
    UserSettings,
    build_config,
    env_name,
    load_config,
)
from bridge.core.model import Direction, Filter, Policy, PrivatePolicy, Side
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SF_SECRET = "sf-secret-value-123"
EX_PASSWORD = "ex-password-value-456"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("CALBRIDGE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    (tmp_path / "sf_secret").write_text(SF_SECRET + "\n")
    (tmp_path / "ex_password").write_text(EX_PASSWORD)
    return tmp_path


def _toml(secrets_dir: Path, extra: str = "", *, salesforce: str = "", exchange: str = "") -> str:
    return f"""
state_dir = "{secrets_dir / "state"}"

[salesforce]
instance_url = "https://acme.my.salesforce.com/"
client_id = "3MVG9-client"
client_secret_file = "{secrets_dir / "sf_secret"}"
{salesforce}

[exchange]
ews_url = "https://mail.acme.com/EWS/Exchange.asmx"
username = "svc-calbridge@acme.com"
password_file = "{secrets_dir / "ex_password"}"
{exchange}

{extra}
"""


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "calbridge.toml"
    path.write_text(text)
    return load_config(path)


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigProblems) as caught:
        _load(tmp_path, text)
    assert isinstance(caught.value, ConfigError)
    return [str(p) for p in caught.value.problems]


USERS = """
[[users]]
email = "Ana.Lopez@acme.com"
salesforce_user_id = "005000000000001AAA"

[[users]]
email = "bo@acme.com"
salesforce_user_id = "005000000000002"
direction = "to_exchange"
past_days = 7
blocked_categories = ["Personal", "Family"]
enabled = false
"""


def test_a_minimal_file_loads_with_the_documented_defaults(secrets_dir: Path) -> None:
    config = _load(secrets_dir, _toml(secrets_dir))
    sf, ex = config.salesforce, config.exchange
    assert sf.instance_url == "https://acme.my.salesforce.com"
    assert sf.token_endpoint == "https://acme.my.salesforce.com/services/oauth2/token"
    assert (sf.auth, sf.pubsub, sf.api_version, sf.api_budget) == (
        "client_credentials",
        "api.pubsub.salesforce.com:7443",
        "62.0",
        0.8,
    )
    assert sf.client_secret is not None and sf.client_secret.get_secret_value() == SF_SECRET
    assert ex.password is not None and ex.password.get_secret_value() == EX_PASSWORD
    assert (ex.provider, ex.auth_type) == ("ews", "basic")
    assert config.bridge_id == "calbridge"
    assert config.store_url == f"sqlite+aiosqlite:///{secrets_dir / 'state' / 'calbridge.db'}"
    assert (config.ops.host, config.ops.port, config.ops.token) == ("127.0.0.1", 8765, None)
    assert (config.sync.reconcile_hours, config.sync.insecure_skip_tls_verify) == (6, False)
    assert config.users == []


def test_policy_defaults_are_the_specs_for_every_policy_field() -> None:
    core = {f.name for f in dataclasses.fields(Policy)} - {"user_id", "user_email", "mailbox_time_zone"}
    assert set(PolicySettings.model_fields) - {"observe"} == core  # observe: a runtime switch (issue 9)
    assert core <= set(UserSettings.model_fields), "every policy key can be overridden per user"
    config = Config.model_construct(policy=PolicySettings())
    user = UserSettings(email="a@acme.com", salesforce_user_id="005000000000001")
    assert config.policy_for(user) == Policy(user_id="005000000000001", user_email="a@acme.com")


def test_policy_for_merges_the_org_defaults_and_the_users_own_keys(secrets_dir: Path) -> None:
    org = """
[policy]
direction = "to_salesforce"
private = "skip"
internal_domains = ["Acme.com", "@acme.co.uk"]
future_days = 90
tie_winner = "exchange"
"""
    config = _load(secrets_dir, _toml(secrets_dir, org + USERS))
    ana = config.policy_for("ana.lopez@acme.com", mailbox_time_zone="Europe/Madrid")
    assert (ana.user_id, ana.user_email, ana.mailbox_time_zone) == (
        "005000000000001AAA",
        "ana.lopez@acme.com",
        "Europe/Madrid",
    )
    assert (ana.direction, ana.private, ana.future_days, ana.tie_winner) == (
        Direction.TO_SALESFORCE,
        PrivatePolicy.SKIP,
        90,
        Side.EXCHANGE,
    )
    assert ana.internal_domains == frozenset({"acme.com", "acme.co.uk"})
    assert ana.is_internal("x@ACME.com")
    bo = config.policy_for(config.users[1])
    assert (bo.direction, bo.past_days, bo.future_days, bo.private) == (
        Direction.TO_EXCHANGE,
        7,
        90,
        PrivatePolicy.SKIP,
    )
    assert bo.blocked_categories == frozenset({"Personal", "Family"})
    assert bo.filter_to_exchange is Filter.ALL
    assert [u.email for u in config.enabled_users] == ["ana.lopez@acme.com"]
    assert config.policy_for("005000000000002").user_email == "bo@acme.com"
    with pytest.raises(KeyError):
        config.policy_for("nobody@acme.com")


def test_the_environment_overrides_the_file_with_nested_names(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALBRIDGE_POLICY__PAST_DAYS", "12")
    monkeypatch.setenv("CALBRIDGE_SALESFORCE__API_BUDGET", "0.5")
    monkeypatch.setenv("CALBRIDGE_OPS__PORT", "9000")
    config = _load(secrets_dir, _toml(secrets_dir, "[policy]\npast_days = 3\n"))
    assert (config.policy.past_days, config.salesforce.api_budget, config.ops.port) == (12, 0.5, 9000)
    assert env_name("salesforce.client_secret") == "CALBRIDGE_SALESFORCE__CLIENT_SECRET"


def test_r_sec_1_secrets_come_from_the_environment(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALBRIDGE_SALESFORCE__CLIENT_SECRET", "from-the-environment")
    text = _toml(secrets_dir).replace(f'client_secret_file = "{secrets_dir / "sf_secret"}"', "")
    config = _load(secrets_dir, text)
    assert config.salesforce.client_secret is not None
    assert config.salesforce.client_secret.get_secret_value() == "from-the-environment"
    assert set(config.secrets()) == {"from-the-environment", EX_PASSWORD}


def test_r_sec_1_secrets_never_show_in_reprs_dumps_or_the_summary(secrets_dir: Path) -> None:
    (secrets_dir / "db").write_text("db-password-789")
    (secrets_dir / "ops").write_text("ops-token-000")
    extra = f"""
[store]
url = "postgresql+asyncpg://calbridge@db.acme.com/calbridge"
password_file = "{secrets_dir / "db"}"

[ops]
host = "0.0.0.0"
token_file = "{secrets_dir / "ops"}"
"""
    config = _load(secrets_dir, _toml(secrets_dir, extra))
    assert config.store_url == "postgresql+asyncpg://calbridge:db-password-789@db.acme.com/calbridge"
    shown = repr(config) + str(config) + config.model_dump_json() + "\n".join(config.summary())
    for secret in (SF_SECRET, EX_PASSWORD, "db-password-789", "ops-token-000"):
        assert secret not in shown
    assert "calbridge:***@db.acme.com" in "\n".join(config.summary())


def test_r_sec_1_a_secret_written_in_the_file_is_refused_with_where_it_belongs(secrets_dir: Path) -> None:
    text = _toml(secrets_dir, '[ops]\ntoken = "abc"\n', exchange='[exchange.graph]\nclient_secret = "x"')
    problems = _problems(secrets_dir, text)
    assert (
        "ops.token: a secret does not belong in the config file; set CALBRIDGE_OPS__TOKEN or write it to a "
        "file named by token_file" in problems
    )
    assert any(p.startswith("exchange.graph.client_secret: a secret does not belong") for p in problems)
    url = '[store]\nurl = "postgresql://u:hunter2@db/x"\n'
    problems = _problems(secrets_dir, _toml(secrets_dir, url))
    assert problems == ["store.url: holds a password; remove it from the URL and use store.password_file"]
    assert all("hunter2" not in p for p in problems)


def test_secret_files_that_are_missing_or_empty_are_named(secrets_dir: Path) -> None:
    (secrets_dir / "ex_password").write_text("\n")
    text = _toml(secrets_dir).replace("sf_secret", "no_such_file")
    problems = _problems(secrets_dir, text)
    assert problems == [
        f"salesforce.client_secret_file: '{secrets_dir / 'no_such_file'}' does not exist; "
        "write the secret there",
        f"exchange.password_file: '{secrets_dir / 'ex_password'}' is empty; write the secret there",
    ]


def test_a_wrong_choice_names_the_key_the_value_and_the_choices(secrets_dir: Path) -> None:
    problems = _problems(secrets_dir, _toml(secrets_dir, '[policy]\ndirection = "both-ways"\n'))
    assert problems == ["policy.direction: 'both-ways' is not one of both, to_exchange, to_salesforce"]


def test_a_value_from_the_environment_says_so(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALBRIDGE_POLICY__PRIVATE", "hide")
    problems = _problems(secrets_dir, _toml(secrets_dir))
    assert problems == [
        "policy.private: 'hide' (from CALBRIDGE_POLICY__PRIVATE) is not one of mask, skip, full"
    ]


def test_ranges_are_the_specs(secrets_dir: Path) -> None:
    extra = """
[policy]
past_days = 366
future_days = 731
mass_delete_fraction = 1.5

[salesforce_extra_placeholder]
"""
    problems = _problems(secrets_dir, _toml(secrets_dir, extra.replace("[salesforce_extra_placeholder]", "")))
    assert problems == [
        "policy.past_days: 366 is out of range; use a value from 0 to 365",
        "policy.future_days: 731 is out of range; use a value from 0 to 730",
        "policy.mass_delete_fraction: 1.5 is out of range; use a value from 0.0 to 1.0",
    ]
    ok = _load(secrets_dir, _toml(secrets_dir, "[policy]\npast_days = 365\nfuture_days = 730\n"))
    assert (ok.policy.past_days, ok.policy.future_days) == (365, 730)


def test_a_typo_is_an_error_that_suggests_the_nearest_key(secrets_dir: Path) -> None:
    text = _toml(
        secrets_dir,
        '[polcy]\ndirection = "both"\n' + USERS + 'tie_winer = "exchange"\n',
        salesforce='clinet_id = "x"',
    )
    problems = _problems(secrets_dir, text)
    assert "salesforce.clinet_id: unknown key; did you mean client_id?" in problems
    assert "polcy: unknown key; did you mean policy?" in problems
    assert "users[1].tie_winer: unknown key; did you mean tie_winner?" in problems
    assert len(problems) == 3


def test_missing_keys_say_where_to_add_them(secrets_dir: Path) -> None:
    text = _toml(secrets_dir, '[[users]]\nemail = "a@acme.com"\n').replace('client_id = "3MVG9-client"', "")
    problems = _problems(secrets_dir, text)
    assert problems == [
        "salesforce.client_id: required; add it to [salesforce] or set CALBRIDGE_SALESFORCE__CLIENT_ID",
        "users[0].salesforce_user_id: required; add it to the users[0] table",
    ]


def test_a_typo_in_an_environment_variable_names_the_variable(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALBRIDGE_SALESFORCE__CLIENT_SECRTE", "x")
    problems = _problems(secrets_dir, _toml(secrets_dir))
    assert problems == [
        "salesforce.client_secrte: unknown key (from CALBRIDGE_SALESFORCE__CLIENT_SECRTE); "
        "did you mean client_secret?"
    ]


def test_every_problem_is_reported_at_once(secrets_dir: Path) -> None:
    text = _toml(
        secrets_dir,
        '[policy]\ndirection = "sideways"\npast_days = -1\n[sync]\nworkers = 0\n',
        salesforce='api_budget = 2\norg_id = "nope"',
    )
    problems = _problems(secrets_dir, text)
    keys = [p.partition(":")[0] for p in problems]
    assert keys == [
        "salesforce.org_id",
        "salesforce.api_budget",
        "sync.workers",
        "policy.direction",
        "policy.past_days",
    ]


def test_jwt_needs_a_username_and_a_private_key(secrets_dir: Path) -> None:
    text = _toml(secrets_dir, salesforce='auth = "jwt"').replace(
        f'client_secret_file = "{secrets_dir / "sf_secret"}"', ""
    )
    problems = _problems(secrets_dir, text)
    assert problems == [
        'salesforce.private_key: required with auth = "jwt"; set CALBRIDGE_SALESFORCE__PRIVATE_KEY or '
        "salesforce.private_key_file",
        'salesforce.username: required with auth = "jwt"; set the run-as username',
    ]
    (secrets_dir / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
    fixed = text.replace(
        'auth = "jwt"',
        f'auth = "jwt"\nusername = "int@acme.com"\nprivate_key_file = "{secrets_dir / "key.pem"}"',
    )
    config = _load(secrets_dir, fixed)
    assert config.salesforce.private_key is not None
    assert config.salesforce.private_key.get_secret_value().startswith("-----BEGIN PRIVATE KEY-----")


def test_graph_needs_its_own_keys_and_not_the_ews_ones(secrets_dir: Path) -> None:
    text = f"""
[salesforce]
instance_url = "https://acme.my.salesforce.com"
client_id = "c"
client_secret_file = "{secrets_dir / "sf_secret"}"

[exchange]
provider = "graph"
"""
    assert _problems(secrets_dir, text) == [
        'exchange.graph.authority: required with provider = "graph"',
        'exchange.graph.client_id: required with provider = "graph"',
        'exchange.graph.client_secret: required with provider = "graph"; set '
        "CALBRIDGE_EXCHANGE__GRAPH__CLIENT_SECRET or exchange.graph.client_secret_file",
    ]


def test_r_sec_3_ops_off_loopback_needs_a_token(secrets_dir: Path) -> None:
    problems = _problems(secrets_dir, _toml(secrets_dir, '[ops]\nhost = "0.0.0.0"\n'))
    assert problems == [
        "ops.token: required when ops.host (0.0.0.0) is not loopback (R-SEC-3); set CALBRIDGE_OPS__TOKEN or "
        "ops.token_file"
    ]
    assert _load(secrets_dir, _toml(secrets_dir, '[ops]\nhost = "::1"\n')).ops.token is None
    assert _load(secrets_dir, _toml(secrets_dir, '[ops]\nhost = "localhost"\n')).ops.loopback


def test_users_are_enrolled_once(secrets_dir: Path) -> None:
    dup = USERS + '\n[[users]]\nemail = "ANA.lopez@acme.com"\nsalesforce_user_id = "005000000000003"\n'
    problems = _problems(secrets_dir, _toml(secrets_dir, dup))
    assert problems == ["users[2]: ana.lopez@acme.com is already enrolled by users[0]; remove one"]
    bad = '[[users]]\nemail = "not-an-address"\nsalesforce_user_id = "003000000000001"\n'
    problems = _problems(secrets_dir, _toml(secrets_dir, bad))
    assert problems == [
        "users[0].email: 'not-an-address' is not an email address; use the user's mailbox address",
        "users[0].salesforce_user_id: '003000000000001' is not a Salesforce user id; copy the 005... id from "
        "the User record",
    ]


def test_r_sec_2_skipping_tls_verification_is_a_warning_and_a_missing_ca_bundle_an_error(
    secrets_dir: Path,
) -> None:
    config = _load(secrets_dir, _toml(secrets_dir, "[sync]\ninsecure_skip_tls_verify = true\n" + USERS))
    assert any("NOT verified" in w for w in config.warnings())
    problems = _problems(
        secrets_dir, _toml(secrets_dir, salesforce=f'ca_bundle = "{secrets_dir / "none.pem"}"')
    )
    assert problems == [
        f"salesforce.ca_bundle: '{secrets_dir / 'none.pem'}' is not a file; "
        "name a PEM file of CA certificates"
    ]


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[salesforce\n")
    with pytest.raises(ConfigError, match=r"bad.toml: is not valid TOML: .*line 1"):
        load_config(tmp_path / "bad.toml")


def test_build_config_takes_parsed_values(secrets_dir: Path) -> None:
    config = build_config(
        {
            "salesforce": {
                "instance_url": "https://x.my.salesforce.com",
                "client_id": "c",
                "client_secret_file": str(secrets_dir / "sf_secret"),
            },
            "exchange": {
                "provider": "graph",
                "graph": {
                    "authority": "https://login.microsoftonline.com/t",
                    "client_id": "g",
                    "client_secret_file": str(secrets_dir / "sf_secret"),
                },
            },
        }
    )
    assert config.exchange.graph.graph_url == "https://graph.microsoft.com"


def _check_config(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "check-config", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_check_config_prints_ok_and_a_summary_without_secrets(secrets_dir: Path) -> None:
    path = secrets_dir / "calbridge.toml"
    path.write_text(_toml(secrets_dir, USERS))
    result = _check_config(str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "ok"
    assert "1 enabled of 2" in result.stdout
    assert "https://acme.my.salesforce.com" in result.stdout and "ews" in result.stdout
    assert SF_SECRET not in result.stdout + result.stderr and EX_PASSWORD not in result.stdout + result.stderr


def test_check_config_prints_every_error_and_exits_1(secrets_dir: Path) -> None:
    path = secrets_dir / "calbridge.toml"
    path.write_text(_toml(secrets_dir, '[policy]\ndirection = "both-ways"\npast_days = 400\n'))
    result = _check_config(str(path))
    assert result.returncode == 1
    assert "policy.direction: 'both-ways' is not one of both, to_exchange, to_salesforce" in result.stderr
    assert "policy.past_days: 400 is out of range" in result.stderr
    assert "Traceback" not in result.stderr
    missing = _check_config(str(secrets_dir / "nope.toml"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_r_api_2_budget_poll_seconds_reaches_the_salesforce_connection(secrets_dir: Path) -> None:
    import asyncio

    from bridge.runtime.supervisor import open_salesforce_port

    assert _load(secrets_dir, _toml(secrets_dir)).salesforce.budget_poll_seconds == 60
    config = _load(secrets_dir, _toml(secrets_dir, salesforce="budget_poll_seconds = 5"))

    async def poll_seconds() -> float:
        # Opened inside a running loop, as the bridge does: grpc.aio binds its channel to it.
        port = open_salesforce_port(config)
        try:
            return float(getattr(port, "connection").budget_poll_s)  # noqa: B009 - the adapter's, not the port's
        finally:
            await port.close()

    assert asyncio.run(poll_seconds()) == 5
    problems = _problems(secrets_dir, _toml(secrets_dir, salesforce="budget_poll_seconds = 0"))
    assert [p.partition(":")[0] for p in problems] == ["salesforce.budget_poll_seconds"]


def test_issue_9_observe_is_set_for_the_org_and_overridden_per_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.config import build_config

    base = {
        "salesforce": {"instance_url": "https://acme.my.salesforce.com", "client_id": "id"},
        "exchange": {
            "provider": "graph",
            "graph": {"authority": "https://login.example/t", "client_id": "c"},
        },
        "policy": {"observe": True},
        "journal": {"keep_days": 7},
        "users": [
            {"email": "ann@acme.example", "salesforce_user_id": "005000000000001"},
            {"email": "bob@acme.example", "salesforce_user_id": "005000000000002", "observe": False},
        ],
    }
    # monkeypatch, not os.environ: a secret left in the environment reaches every later test's config
    # and every `calbridge run` they start ("set both by CALBRIDGE_... and by ..._file").
    monkeypatch.setenv("CALBRIDGE_SALESFORCE__CLIENT_SECRET", "s")
    monkeypatch.setenv("CALBRIDGE_EXCHANGE__GRAPH__CLIENT_SECRET", "s")
    config = build_config(base)
    assert config.observing("ann@acme.example") and not config.observing("bob@acme.example")
    assert config.journal.keep_days == 7
    assert not hasattr(config.policy_for("ann@acme.example"), "observe")
