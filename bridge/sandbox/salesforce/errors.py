"""Errors the org and the REST layer raise, carrying what Salesforce puts in its error bodies."""

from __future__ import annotations

from typing import Any


class SalesforceError(Exception):
    """A refused request or write: HTTP status, Salesforce error code, message and the fields at fault.

    `fields` is None for request-level errors whose bodies carry no `fields` key (session, limits, not found).
    `retry_after` (seconds) goes out as a `Retry-After` header (throttling).
    """

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        fields: list[str] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields
        self.retry_after = retry_after

    def body(self) -> list[dict[str, Any]]:
        """The single-record error body: `[{"message", "errorCode", "fields"?}]`."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = list(self.fields)
        return [item]

    def collection_item(self) -> dict[str, Any]:
        """The error as sObject Collections report it: `statusCode` instead of `errorCode`."""
        return {"statusCode": self.error_code, "message": self.message, "fields": list(self.fields or [])}


def record_error(error_code: str, message: str, fields: list[str] | None = None) -> SalesforceError:
    """A write refused for the record's content (HTTP 400, with `fields`)."""
    return SalesforceError(400, error_code, message, list(fields or []))


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def entity_is_deleted() -> SalesforceError:
    return SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted", [])


def invalid_session() -> SalesforceError:
    return SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def limit_exceeded() -> SalesforceError:
    return SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def field_integrity(message: str, fields: list[str] | None = None) -> SalesforceError:
    return record_error("FIELD_INTEGRITY_EXCEPTION", message, fields)
