"""One exception tree for everything outside the pure core.

The runtime decides what to do with a failure by its class alone, never by its message:

    CalbridgeError
    ├── ConfigError       the configuration is wrong: names the key, the bad value and the fix; fatal at start
    ├── TransientError    worth retrying after a wait (network, 5xx, 429, ErrorServerBusy, request limit)
    ├── ConflictError     a conditional write lost a race (stale ChangeKey, record modified since): re-plan
    ├── NotFoundError     the record a write or read named is gone: report it as Deleted
    ├── RefusedError      the service refused a write for a reason a retry will not fix: an issue
    ├── MappingError      a record could not be read into the canonical model (malformed input)
    └── StreamGapError    a stream cannot resume where it left off: reconcile the window (R-TIME-3)

Messages are for people: they say what happened and what to do, and never carry a secret.
"""

from __future__ import annotations

from bridge.core.model import Side


class CalbridgeError(Exception):
    """Base of every error calbridge raises on purpose."""


class ConfigError(CalbridgeError):
    """A configuration value is wrong. The message names the key, the bad value and the fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class TransientError(CalbridgeError):
    """A failure that a later attempt may not meet. `retry_after` is the wait the service asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConflictError(CalbridgeError):
    """A write conditional on a version found a newer one: the pair is read again and re-planned."""

    def __init__(self, side: Side, record_id: str, message: str = "") -> None:
        super().__init__(message or f"{side} record {record_id} changed since it was read")
        self.side = side
        self.record_id = record_id


class NotFoundError(CalbridgeError):
    """The record is gone (deleted, or moved out of the calendar)."""

    def __init__(self, side: Side, record_id: str) -> None:
        super().__init__(f"{side} record {record_id} no longer exists")
        self.side = side
        self.record_id = record_id


class RefusedError(CalbridgeError):
    """The service refused a write; `message` is its own words, kept on the issue (E-SF-VALIDATION,
    E-EXCHANGE-REFUSED)."""

    def __init__(self, side: Side, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.side = side
        self.code = code


class MappingError(CalbridgeError):
    """A record or change event could not be read; the message names the record and what was wrong."""


class StreamGapError(CalbridgeError):
    """A stream cannot resume from its checkpoint (replay id too old, sync state refused)."""
