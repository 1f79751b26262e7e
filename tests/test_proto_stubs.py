"""The committed Pub/Sub stubs are exactly what `make proto` generates from proto/pubsub_api.proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUBS = ("pubsub_api_pb2.py", "pubsub_api_pb2_grpc.py", "pubsub_api_pb2.pyi")


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is a dev dependency; `make setup` installs it")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-Ibridge/wire={ROOT / 'proto'}",
            f"--python_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            "bridge/wire/pubsub_api.proto",
        ],
        check=True,
        cwd=ROOT,
    )
    for name in STUBS:
        generated = (tmp_path / "bridge" / "wire" / name).read_text()
        committed = (ROOT / "bridge" / "wire" / name).read_text()
        assert generated == committed, (
            f"bridge/wire/{name} drifted from proto/pubsub_api.proto: run `make proto`"
        )


def test_stubs_speak_the_published_interface() -> None:
    from bridge.wire import pubsub_api_pb2 as pb

    service = pb.DESCRIPTOR.services_by_name["PubSub"]
    assert pb.DESCRIPTOR.package == "eventbus.v1"
    assert {m.name for m in service.methods} == {
        "Subscribe",
        "GetSchema",
        "GetTopic",
        "Publish",
        "PublishStream",
        "ManagedSubscribe",
    }
    fetch = pb.FetchRequest.DESCRIPTOR.fields_by_name
    assert [
        (f, fetch[f].number)
        for f in ("topic_name", "replay_preset", "replay_id", "num_requested", "auth_refresh")
    ] == [
        ("topic_name", 1),
        ("replay_preset", 2),
        ("replay_id", 3),
        ("num_requested", 4),
        ("auth_refresh", 5),
    ]
    assert pb.ReplayPreset.Value("CUSTOM") == 2
    assert pb.FetchResponse.DESCRIPTOR.fields_by_name["pending_num_requested"].number == 4
