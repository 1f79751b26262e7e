"""bridge.logs: JSON lines by default, and no secret ever reaches a log line (R-SEC-1, R-SEC-2)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bridge.config import Config
from bridge.logs import (
    NOISY_LIBRARIES,
    REDACTED,
    Redactor,
    add_secret,
    configure_from,
    configure_logging,
    get_logger,
)

SECRET = "s3cr3t-client-secret-value"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in NOISY_LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in libraries.items():
        logging.getLogger(name).setLevel(was)
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_by_default_when_not_a_terminal() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    get_logger("bridge.test").info("pair_synced", user="005x", seconds=0.25)
    (line,) = _lines(out)
    assert line["event"] == "pair_synced" and line["user"] == "005x" and line["seconds"] == 0.25
    assert line["level"] == "info" and line["logger"] == "bridge.test" and "timestamp" in line


def test_console_rendering_is_for_people() -> None:
    out = io.StringIO()
    configure_logging(fmt="console", stream=out)
    get_logger("bridge.test").warning("stream_lost", stream="sf")
    text = out.getvalue()
    assert "stream_lost" in text and "stream=sf" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_r_sec_1_keys_named_like_secrets_are_redacted_at_any_depth() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    get_logger().info(
        "request",
        access_token="abc",
        headers={"Authorization": "Bearer xyz", "Accept": "json"},
        client_secret="x",
        Password="p",
        sessionId="q",
        nested=[{"refresh_token": "r"}],
        tokens_used=None,
    )
    (line,) = _lines(out)
    assert line["access_token"] == line["client_secret"] == line["Password"] == line["sessionId"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert line["nested"] == [{"refresh_token": REDACTED}]
    assert line["tokens_used"] is None


def test_r_sec_1_configured_secret_values_are_cut_out_of_every_string_and_traceback() -> None:
    out = io.StringIO()
    configure_logging(secrets=[SECRET, "ab"], stream=out)
    log = get_logger("bridge.test")
    log.info(f"login with {SECRET} failed", detail=("x", f"url?secret={SECRET}"), about="ab cab")
    try:
        raise RuntimeError(f"bad credentials {SECRET}")
    except RuntimeError:
        log.exception("auth_failed")
    add_secret("learnt-access-token-1234")
    log.info("refreshed", note="got learnt-access-token-1234")
    text = out.getvalue()
    assert SECRET not in text and "learnt-access-token-1234" not in text
    first, failed, refreshed = _lines(out)
    assert first["event"] == f"login with {REDACTED} failed"
    assert first["detail"] == ["x", f"url?secret={REDACTED}"]
    assert first["about"] == "ab cab", "secrets too short to be real are not hunted in text"
    assert "RuntimeError: bad credentials [redacted]" in str(failed["exception"])
    assert refreshed["note"] == f"got {REDACTED}"


def test_r_sec_1_library_log_records_are_redacted_too() -> None:
    out = io.StringIO()
    configure_logging(secrets=[SECRET], stream=out)
    logging.getLogger("exchangelib.protocol").warning("sending %s", f"password={SECRET}")
    logging.getLogger("urllib3").warning("header Authorization: Bearer eyJhbGciOi.abc.def")
    one, two = _lines(out)
    assert one["event"] == f"sending password={REDACTED}" and one["logger"] == "exchangelib.protocol"
    assert two["event"] == f"header Authorization: Bearer {REDACTED}"


def test_the_level_filters() -> None:
    out = io.StringIO()
    configure_logging(level="warning", stream=out)
    get_logger().info("quiet")
    get_logger().warning("loud")
    assert [line["event"] for line in _lines(out)] == ["loud"]


def test_redactor_alone_is_a_structlog_processor() -> None:
    redactor = Redactor(["hunter2-long"])
    cleaned = redactor(None, "info", {"event": "pw hunter2-long", "api_key": "k", "n": 3})
    assert cleaned == {"event": f"pw {REDACTED}", "api_key": REDACTED, "n": 3}


def test_r_sec_2_configure_from_logs_an_insecure_tls_setting_loudly_and_redacts_config_secrets() -> None:
    config = Config.model_validate(
        {
            "salesforce": {
                "instance_url": "https://x.my.salesforce.com",
                "client_id": "c",
                "client_secret": SECRET,
            },
            "exchange": {"ews_url": "https://m/EWS/Exchange.asmx", "username": "u", "password": "pw-12345"},
            "sync": {"insecure_skip_tls_verify": True},
            "log": {"format": "json"},
        }
    )
    out = io.StringIO()
    configure_from(config, stream=out)
    get_logger().info(f"secret is {SECRET} and pw-12345")
    lines = _lines(out)
    assert lines[0]["level"] == "error" and lines[0]["event"] == "tls_verification_disabled"
    assert "NOT verified" in str(lines[0]["detail"])
    assert lines[-1]["event"] == f"secret is {REDACTED} and {REDACTED}"


def test_library_chatter_is_kept_to_warnings_unless_the_level_is_debug() -> None:
    out = io.StringIO()
    configure_logging(level="info", stream=out)
    for name in ("alembic.runtime.plugins", "exchangelib.protocol", "aiohttp.access"):
        logging.getLogger(name).info("setting up")
    logging.getLogger("exchangelib.protocol").warning("server busy")
    get_logger("bridge.runtime").info("pass_written")
    assert [(line["logger"], line["event"]) for line in _lines(out)] == [
        ("exchangelib.protocol", "server busy"),
        ("bridge.runtime", "pass_written"),
    ]
    debug = io.StringIO()
    configure_logging(level="debug", stream=debug)
    logging.getLogger("alembic.runtime.plugins").info("setting up")
    assert [line["event"] for line in _lines(debug)] == ["setting up"]


def test_a_stdlib_records_extra_fields_become_keys_of_its_line_and_are_redacted() -> None:
    out = io.StringIO()
    configure_logging(secrets=[SECRET], stream=out)
    logging.getLogger("bridge.runtime.passes").info(
        "pass_written",
        extra={"user": "005A", "commands": {"UpdateItem": 1}, "reason": f"refused {SECRET}", "token": "t"},
    )
    (line,) = _lines(out)
    assert line["event"] == "pass_written" and line["user"] == "005A"
    assert line["commands"] == {"UpdateItem": 1}
    assert line["reason"] == f"refused {REDACTED}" and line["token"] == REDACTED
