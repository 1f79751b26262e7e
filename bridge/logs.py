"""Logging: structlog, one JSON object a line by default, readable lines when stderr is a terminal.

    from bridge.logs import configure_from, get_logger
    configure_from(config)                      # once, at start; logs the config's warnings (R-SEC-2)
    log = get_logger(__name__)
    log.info("pair_synced", user=user_id, event=event_id, seconds=0.4)

Everything goes through the standard library's root logger, so the lines of exchangelib, aiohttp and the other
libraries get the same format and the same redaction. A stdlib record's `extra={...}` fields become keys of
its line, so the runtime logs structured lines without depending on structlog. The libraries' own chatter
(`NOISY_LIBRARIES`: alembic's plugin set-up, exchangelib, aiohttp's access log, ...) is kept to warnings
and above unless the level is `debug`. Redaction (R-SEC-1) runs last before rendering, on
every line: the value of any key named like a secret (token, secret, password, authorization, cookie,
private key, credential, api key) becomes `[redacted]`, and any configured secret's value is cut out of
every string, tracebacks included. Secrets learnt later (an OAuth access token) are added with `add_secret`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, Literal, TextIO

import structlog

if TYPE_CHECKING:
    from bridge.config import Config

REDACTED = "[redacted]"
SECRET_KEY = re.compile(
    r"token|secret|passw(or)?d|authori[sz]ation|cookie|private[_-]?key|credential|api[_-]?key|session[_-]?id",
    re.IGNORECASE,
)
MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words; no real secret is this short

Format = Literal["auto", "json", "console"]

# Loggers that say at info level what only matters when debugging the bridge itself.
NOISY_LIBRARIES = (
    "alembic",
    "exchangelib",
    "aiohttp.access",
    "aiohttp.server",
    "asyncio",
    "grpc",
    "urllib3",
    "requests_oauthlib",
    "simple_salesforce",
)


class Redactor:
    """A structlog processor that removes secrets from an event dict (see the module docstring)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        fresh = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH} - self._secrets
        if fresh:
            self._secrets |= fresh
            # Longest first, so a secret that contains another is removed whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        for key in list(event_dict):
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict

    def _clean(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and SECRET_KEY.search(key) and value is not None and value != "":
            return REDACTED
        if isinstance(value, str):
            return self._scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return type(value)(self._clean(None, v) for v in value)
        if isinstance(value, bytes | int | float | bool) or value is None:
            return value
        # Anything else renders through str() or repr(): scrub that text.
        text = str(value)
        scrubbed = self._scrub(text)
        return value if scrubbed == text else scrubbed

    def _scrub(self, text: str) -> str:
        text = _AUTH_HEADER.sub(r"\1" + REDACTED, text)
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)


# An Authorization header or a bearer token written inside a message.
_AUTH_HEADER = re.compile(
    r"((?:authorization|bearer)[\"']?\s*[:=]?\s*[\"']?(?:bearer\s+|basic\s+|ntlm\s+)?)[A-Za-z0-9._~+/=!-]{8,}",
    re.IGNORECASE,
)

_redactor = Redactor()


def add_secret(*values: str) -> None:
    """Never log these values from now on (for secrets learnt while running, such as access tokens)."""
    _redactor.add(*values)


def configure_logging(
    level: str = "info",
    fmt: Format = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Redactor:
    """Set up structlog and the root logger; returns the redactor in use (also reachable by `add_secret`).

    `fmt="auto"` renders for a person when `stream` (default stderr) is a terminal, JSON lines otherwise."""
    global _redactor
    stream = stream if stream is not None else sys.stderr
    _redactor = Redactor(secrets)
    console = fmt == "console" or (fmt == "auto" and _isatty(stream))
    renderer: Any = (
        structlog.dev.ConsoleRenderer(
            colors=_isatty(stream), exception_formatter=structlog.dev.plain_traceback
        )
        if console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    foreign = [*shared, structlog.stdlib.ExtraAdder()]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _redactor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_calbridge", False):
            root.removeHandler(old)
    handler._calbridge = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.NOTSET if level.lower() == "debug" else logging.WARNING
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return _redactor


def configure_from(config: Config, stream: TextIO | None = None) -> Redactor:
    """`configure_logging` from `[log]`, redacting every configured secret, then log the config's warnings
    (an insecure TLS setting is logged at error level: it must not go unnoticed, R-SEC-2)."""
    redactor = configure_logging(config.log.level, config.log.format, config.secrets(), stream)
    log = get_logger("bridge.config")
    if config.sync.insecure_skip_tls_verify:
        log.error("tls_verification_disabled", detail=config.warnings()[0])
    for warning in config.warnings():
        if not warning.startswith("sync.insecure_skip_tls_verify"):
            log.warning("config_warning", detail=warning)
    return redactor


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (bound to the stdlib logger `name`)."""
    return structlog.stdlib.get_logger(name)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def redact(text: str) -> str:
    """`text` without any secret the running redactor knows (for messages printed outside the log)."""
    return _redactor._scrub(text)
