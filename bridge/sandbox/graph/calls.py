"""One Graph request and its answer, independent of HTTP, so ``$batch`` members run through the same code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import GraphError, error_body
from .prefer import Preferences

JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


@dataclass
class Call:
    method: str
    path: str  # below /v1.0/, without the leading slash
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    prefer: Preferences
    base: str  # the graph_url, for links

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, exc: GraphError) -> Reply:
        return cls(exc.status, error_body(exc.code, exc.message), dict(exc.headers))
