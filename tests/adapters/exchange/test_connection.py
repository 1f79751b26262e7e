"""The connection settings: secrets stay out of reprs and errors; bad settings are named (ConfigError)."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.exchange.ews import EwsConnection, open_ews

from .conftest import ANA


def test_the_password_is_never_shown(endpoints: dict[str, Any]) -> None:
    connection = EwsConnection.from_sandbox(endpoints)
    password = endpoints["exchange"]["password"]
    assert password not in repr(connection)
    assert password not in repr(open_ews(connection))


async def test_refused_credentials_are_a_config_error_without_the_secret(endpoints: dict[str, Any]) -> None:
    right = EwsConnection.from_sandbox(endpoints)
    wrong_password = "not-" + right.password
    wrong = EwsConnection(
        right.ews_url,
        "someone-else@sandbox.example",
        wrong_password,
        ca_bundle=right.ca_bundle,
        version=right.version,
    )
    port = open_ews(wrong)
    try:
        with pytest.raises(ConfigError) as refused:
            await port.sync(ANA, None)
        assert wrong_password not in str(refused.value)
        assert refused.value.key == "exchange.username"
    finally:
        await port.close()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"ews_url": "ftp://exchange/EWS/Exchange.asmx"}, "exchange.ews_url"),
        ({"auth_type": "kerberos"}, "exchange.auth_type"),
        ({"password": ""}, "exchange.username"),
        ({"version": (15,)}, "exchange.version"),
    ],
)
def test_bad_settings_name_their_key(kwargs: dict[str, Any], key: str) -> None:
    settings: dict[str, Any] = {
        "ews_url": "https://mail.example/EWS/Exchange.asmx",
        "username": "svc",
        "password": "x",
    }
    with pytest.raises(ConfigError) as bad:
        EwsConnection(**{**settings, **kwargs})
    assert bad.value.key == key
