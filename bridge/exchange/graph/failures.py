"""Graph's answers in the terms of `bridge.errors`: the runtime decides by class, never by message.

Graph names a failure by its HTTP status and `error.code`; the message is kept for people (E-EXCHANGE-REFUSED
shows it). Nothing here carries a credential: request headers are never part of an error.
"""

from __future__ import annotations

from typing import Any

from bridge.core.model import Side
from bridge.errors import (
    CalbridgeError,
    ConfigError,
    ConflictError,
    NotFoundError,
    RefusedError,
    StreamGapError,
    TransientError,
)

# Delta state refused: expired, evicted, or the tenant moved (410 + Location). Start over (R-TIME-3).
_GAP_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


# An id Graph cannot find or cannot even parse names nothing there is (EWS's ErrorInvalidIdMalformed too).
_GONE_CODES = frozenset({"ErrorItemNotFound", "ErrorInvalidIdMalformed"})


class GraphFailure(Exception):
    """An answer Graph gave that is not a success, before it is translated."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def from_answer(cls, status: int, body: Any, retry_after: float | None = None) -> GraphFailure:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return cls(status, str(error.get("code") or status), str(error.get("message") or ""), retry_after)
        return cls(status, str(status), str(body or "")[:200], retry_after)


def translate(failure: GraphFailure, *, mailbox: str, item_id: str | None = None) -> CalbridgeError:
    """The bridge error for a Graph failure on `mailbox` (and `item_id`)."""
    about = f"{mailbox}, item {item_id}" if item_id else mailbox
    status, code = failure.status, failure.code
    if status == 410 or code.lower() in _GAP_CODES:
        return StreamGapError(f"Graph refused the stored delta state of {mailbox}: {code}")
    if status in (409, 412) or code == "ErrorIrresolvableConflict":
        return ConflictError(
            Side.EXCHANGE, item_id or "?", f"item {item_id} in {mailbox} changed since it was read"
        )
    if item_id is not None and (status == 404 or code in _GONE_CODES):
        return NotFoundError(Side.EXCHANGE, item_id)
    if status == 401:
        return ConfigError(
            "exchange.graph.client_secret",
            f"Graph refused the app's token ({code}); check the app registration, its secret and consent",
        )
    if status == 429 or status >= 500:
        return TransientError(
            f"Graph failed transiently ({about}): {status} {code} {failure.message}".rstrip(),
            retry_after=failure.retry_after,
        )
    return RefusedError(Side.EXCHANGE, failure.message or f"Graph answered {status} {code}", code=code)
