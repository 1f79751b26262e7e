"""The Graph connection: settings checked with the key named, no secret in reprs or errors, refused
credentials a ConfigError (R-SEC-1)."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.exchange.graph import GraphConnection, open_graph

from .conftest import ANA


async def test_r_sec_1_the_secret_is_in_no_repr_and_no_error(endpoints: dict[str, Any]) -> None:
    secret = endpoints["graph"]["client_secret"]
    connection = GraphConnection.from_sandbox(endpoints, client_secret="not-the-secret-" + secret[:4])
    port = open_graph(connection)
    try:
        assert secret not in repr(port) and "not-the-secret" not in repr(port)
        with pytest.raises(ConfigError) as refused:
            await port.time_zone(ANA)
        assert refused.value.key == "exchange.graph.client_secret"
        assert "invalid_client" in str(refused.value) and "not-the-secret" not in str(refused.value)
    finally:
        await port.close()


def test_bad_settings_name_their_key() -> None:
    good: dict[str, Any] = {
        "authority": "https://login.example/tenant",
        "client_id": "app",
        "client_secret": "s",
    }
    with pytest.raises(ConfigError) as bad:
        GraphConnection(**{**good, "authority": "login.example"})
    assert bad.value.key == "exchange.graph.authority"
    with pytest.raises(ConfigError) as bad:
        GraphConnection(**{**good, "client_secret": ""})
    assert bad.value.key == "exchange.graph.client_secret"
    with pytest.raises(ConfigError) as bad:
        GraphConnection(**good, graph_url="http://graph.example")
    assert bad.value.key == "exchange.graph.graph_url"
    assert (
        GraphConnection(**good, graph_url="https://graph.example/v1.0/").api == "https://graph.example/v1.0"
    )
