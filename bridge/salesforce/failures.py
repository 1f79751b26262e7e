"""simple-salesforce's exceptions and collection results, mapped onto `bridge.errors` (the runtime decides
by class alone). Messages keep Salesforce's own words (E-SF-VALIDATION) and never carry a token."""

from __future__ import annotations

from typing import Any

from simple_salesforce.exceptions import SalesforceError

from bridge.core.model import Side
from bridge.errors import CalbridgeError, ConflictError, NotFoundError, RefusedError, TransientError

# Statuses a later attempt may not meet.
TRANSIENT_CODES = frozenset(
    {
        "REQUEST_LIMIT_EXCEEDED",
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "UNKNOWN_EXCEPTION",
        "API_DISABLED_FOR_ORG_TEMPORARILY",
    }
)
GONE_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND"})


class SessionExpired(Exception):
    """REST answered 401 INVALID_SESSION_ID: get a new token and try again."""


def first_error(content: Any) -> tuple[str, str]:
    """(code, message) of Salesforce's error body: `[{"errorCode"|"statusCode", "message"}]`."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        entry = content[0]
        code = str(entry.get("errorCode") or entry.get("statusCode") or "")
        return code, str(entry.get("message") or "")
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or ""), str(content.get("message") or "")
    return "", str(content or "")


def from_rest(error: SalesforceError, record_id: str | None, retry_after: float | None = None) -> Exception:
    """The bridge error for one failed REST call (`record_id`: the record the call was about, if any)."""
    status = int(error.status or 0)
    code, message = first_error(error.content)
    if status == 401:
        return SessionExpired()
    if status == 429 or status >= 500 or code in TRANSIENT_CODES:
        return TransientError(
            f"Salesforce answered {status} {code or ''}: {message or 'try again later'}".strip(),
            retry_after=retry_after,
        )
    if status == 412:
        return ConflictError(
            Side.SALESFORCE, record_id or "?", f"Salesforce event {record_id} changed since it was read"
        )
    if status == 404 or code in GONE_CODES:
        if record_id:
            return NotFoundError(Side.SALESFORCE, record_id)
        return RefusedError(Side.SALESFORCE, message or "resource not found", code=code or "NOT_FOUND")
    return RefusedError(Side.SALESFORCE, message or f"Salesforce refused the request ({status})", code=code)


def from_result(result: dict[str, Any], record_id: str | None, *, by_id: bool) -> CalbridgeError:
    """The bridge error of one failed record in an sObject Collections answer. `by_id`: the record was named
    by id (update, delete), so an invalid cross reference without fields means the record itself is gone."""
    errors = result.get("errors") or []
    entry = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = str(entry.get("statusCode") or entry.get("errorCode") or "")
    message = str(entry.get("message") or "")
    if code in TRANSIENT_CODES or code == "ALL_OR_NONE_OPERATION_ROLLED_BACK":
        return TransientError(f"Salesforce did not write {record_id or 'the record'}: {code} {message}")
    if record_id and (
        code in GONE_CODES or (by_id and code == "INVALID_CROSS_REFERENCE_KEY" and not entry.get("fields"))
    ):
        return NotFoundError(Side.SALESFORCE, record_id)
    return RefusedError(Side.SALESFORCE, message or code or "Salesforce refused the write", code=code)
