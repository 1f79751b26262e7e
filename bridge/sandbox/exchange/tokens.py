"""Opaque, signed tokens (sync states, watermarks): the client can store them but not forge or edit them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def seal(secret: bytes, payload: dict[str, Any]) -> str:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:12]
    return base64.b64encode(mac + body).decode()


def unseal(secret: bytes, token: str) -> dict[str, Any] | None:
    """The payload, or None when the token is malformed or was not made with ``secret``."""
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (ValueError, TypeError):
        return None
    mac, body = raw[:12], raw[12:]
    if len(mac) != 12 or not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()[:12]):
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
