"""One authenticated REST API call as the resource handlers see it, and what they answer.

Handlers are plain functions of a `Call`, so the HTTP layer (`rest.py`) stays the only I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.sandbox.salesforce.errors import SalesforceError
from bridge.sandbox.salesforce.org import Org
from bridge.sandbox.salesforce.platform_events import PlatformEventPublisher
from bridge.sandbox.salesforce.values import to_json


@dataclass
class Call:
    org: Org
    method: str
    version: str  # "62.0"
    path: list[str]  # the parts after /services/data/vXX.X/
    params: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    user_id: str
    publisher: PlatformEventPublisher | None = None

    @property
    def client(self) -> str | None:
        """The `client=` of the Sforce-Call-Options header, if any."""
        options = self.headers.get("Sforce-Call-Options", "")
        for part in options.replace(",", ";").split(";"):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == "client" and value.strip():
                return value.strip()
        return None

    def json(self) -> Any:
        """The request body as JSON, or JSON_PARSER_ERROR as Salesforce words it."""
        text = self.body.decode("utf-8", errors="replace")
        if not text.strip():
            raise SalesforceError(
                400, "JSON_PARSER_ERROR", "No content to map due to end-of-input at [line:1, column:0]"
            )
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            shown = text[error.pos] if error.pos < len(text) else "EOF"
            raise SalesforceError(
                400,
                "JSON_PARSER_ERROR",
                f"Unexpected character ('{shown}' (code {ord(shown[0]) if shown != 'EOF' else -1})): "
                f"expected a valid value at [line:{error.lineno}, column:{error.colno}]",
            ) from None

    def json_object(self, type_name: str) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            kind = "START_ARRAY" if isinstance(data, list) else "VALUE_STRING"
            raise SalesforceError(
                400,
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {type_name} from {kind} value at [line:1, column:1]",
            )
        return data


def locate_value(body: bytes, key: str) -> tuple[int, int]:
    """Line and column (1-based) where the value of the first `"key":` in a JSON body starts."""
    text = body.decode("utf-8", errors="replace")
    match = re.search(r'"' + re.escape(key) + r'"\s*:\s*', text, re.IGNORECASE)
    position = match.end() if match else 0
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column


@dataclass
class Reply:
    status: int
    body: Any = None


def record_url(version: str, sobject: str, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"


def serialize(value: Any, version: str) -> Any:
    """A stored value or SOQL result row as JSON; rows get their `attributes.url`."""
    if isinstance(value, dict):
        out = {k: serialize(v, version) for k, v in value.items()}
        attributes = out.get("attributes")
        if isinstance(attributes, dict) and "url" not in attributes and isinstance(value.get("Id"), str):
            out["attributes"] = {**attributes, "url": record_url(version, attributes["type"], value["Id"])}
        return out
    if isinstance(value, list):
        return [serialize(v, version) for v in value]
    return to_json(value)
