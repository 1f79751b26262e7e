"""deploy/replicas (docs/replicas.md): the kustomize component that runs three replicas over PostgreSQL,
rendered with `kubectl kustomize` (no cluster needed) and read back as the configuration each pod gets."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import Config, build_config
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SECRET_DIR = "/run/secrets/calbridge"


def _rendered(tmp_path: Path) -> dict[str, dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomize component cannot be rendered here")
    (tmp_path / "deploy").symlink_to(ROOT / "deploy")  # kustomize refuses absolute resource paths
    (tmp_path / "kustomization.yaml").write_text("resources: [deploy]\ncomponents: [deploy/replicas]\n")
    out = subprocess.run([kubectl, "kustomize", str(tmp_path)], capture_output=True, text=True, check=True)
    return {d["kind"]: d for d in yaml.safe_load_all(out.stdout) if d}


def _pod_config(manifests: dict[str, dict[str, Any]], tmp_path: Path, env: pytest.MonkeyPatch) -> Config:
    """The config a pod reads: the ConfigMap, then the container's environment (and only that) over it."""
    container = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    text = manifests["ConfigMap"]["data"]["calbridge.toml"].replace(SECRET_DIR, str(tmp_path))
    for name in [n for n in os.environ if n.startswith("CALBRIDGE_")]:
        env.delenv(name)
    for variable in container["env"]:
        env.setenv(variable["name"], variable.get("value", "pod-name").replace(SECRET_DIR, str(tmp_path)))
    for name in ("salesforce-client-secret", "exchange-password", "ops-token", "store-password"):
        (tmp_path / name).write_text("placeholder\n")
    return build_config(tomllib.loads(text))


def test_three_replicas_each_named_after_its_pod_share_a_postgresql_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = _rendered(tmp_path)
    deployment = manifests["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "PersistentVolumeClaim" not in manifests  # no SQLite volume: the store is the database
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "persistentVolumeClaim" not in volumes["state"] and "emptyDir" in volumes["state"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    (named,) = (e for e in container["env"] if e["name"] == "CALBRIDGE_REPLICA__ID")
    assert named["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    config = _pod_config(manifests, tmp_path, monkeypatch)
    assert config.replica.enabled and config.replica.replica_id == "pod-name"
    assert config.store_url.startswith("postgresql+asyncpg://") and "placeholder" in config.store_url


def test_replicas_over_sqlite_are_refused_naming_the_fix(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("placeholder\n")
    values = {
        "state_dir": str(tmp_path),
        "salesforce": {
            "instance_url": "https://acme.my.salesforce.com",
            "client_id": "c",
            "client_secret_file": str(secret),
        },
        "exchange": {
            "ews_url": "https://mail.acme.com/EWS/Exchange.asmx",
            "username": "svc",
            "password_file": str(secret),
        },
        "replica": {"enabled": True},
    }
    with pytest.raises(
        ConfigError, match=r"replica\.enabled: replicas share one store: set store\.url to a PostgreSQL"
    ):
        build_config(values)
