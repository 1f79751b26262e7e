"""exchangelib's exceptions in the terms of `bridge.errors`: the runtime decides by class, never by message.

Exchange's own words are kept (E-EXCHANGE-REFUSED shows them); nothing here ever carries a credential:
exchangelib's messages hold the response code and text, and transport errors are described by their class.
"""

from __future__ import annotations

import requests
from exchangelib import errors as ews

from bridge.core.model import Side
from bridge.errors import (
    CalbridgeError,
    ConfigError,
    ConflictError,
    MappingError,
    NotFoundError,
    RefusedError,
    StreamGapError,
    TransientError,
)

# Refusals a later attempt may not meet: the server (or the path to it) is overloaded or restarting.
_TRANSIENT = (
    ews.ErrorServerBusy,
    ews.ErrorInternalServerTransientError,
    ews.ErrorInternalServerError,
    ews.ErrorTimeoutExpired,
    ews.ErrorMailboxStoreUnavailable,
    ews.ErrorConnectionFailed,
    ews.ErrorConnectionFailedTransientError,
    ews.ErrorTooManyObjectsOpened,
    ews.ErrorExceededConnectionCount,
)
# A write conditional on a ChangeKey found a newer one (NeverOverwrite).
_CONFLICT = (ews.ErrorIrresolvableConflict, ews.ErrorInvalidChangeKey, ews.ErrorStaleObject)
_GONE = (ews.ErrorItemNotFound,)


def exchange_message(exc: BaseException) -> str:
    """Exchange's own message for a refusal (exchangelib keeps it as the exception's value)."""
    value = getattr(exc, "value", None)
    return str(value if value else exc) or type(exc).__name__


def translate(exc: BaseException, *, mailbox: str, item_id: str | None = None) -> CalbridgeError:
    """The bridge error for an exchangelib (or transport) failure on `mailbox` (and `item_id`)."""
    if isinstance(exc, CalbridgeError):
        return exc
    about = f"{mailbox}, item {item_id}" if item_id else mailbox
    if isinstance(exc, ews.ErrorServerBusy):
        return TransientError(
            f"Exchange is busy ({about}); it asked to wait {exc.back_off or 0:.1f} s",
            retry_after=exc.back_off,
        )
    if isinstance(exc, _CONFLICT):
        return ConflictError(
            Side.EXCHANGE, item_id or "?", f"item {item_id} in {mailbox} changed since it was read"
        )
    if isinstance(exc, _GONE):
        return NotFoundError(Side.EXCHANGE, item_id or "?")
    if isinstance(exc, ews.ErrorInvalidSyncStateData):
        return StreamGapError(f"Exchange refused the stored sync state of {mailbox}: {exchange_message(exc)}")
    if isinstance(exc, ews.UnauthorizedError):
        return ConfigError(
            "exchange.username",
            "Exchange refused the service account's credentials; check username and password",
        )
    if isinstance(exc, _TRANSIENT):
        return TransientError(f"Exchange failed transiently ({about}): {exchange_message(exc)}")
    if isinstance(exc, ews.ResponseMessageError | ews.CASError):
        return RefusedError(Side.EXCHANGE, exchange_message(exc), code=type(exc).__name__)
    if isinstance(exc, ews.TransportError | requests.RequestException | OSError):
        # Connection refused or reset, a TLS failure, a malformed answer: the network or the server, not us.
        return TransientError(f"Exchange could not be reached ({about}): {type(exc).__name__}")
    if isinstance(exc, ews.EWSError):
        return RefusedError(Side.EXCHANGE, exchange_message(exc), code=type(exc).__name__)
    if isinstance(exc, ValueError | TypeError):
        # exchangelib checks values before it sends them (an end before the start, a malformed value).
        return MappingError(f"{about}: {exc}")
    raise exc
