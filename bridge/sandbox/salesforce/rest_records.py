"""sObject resources: describeGlobal, basic info, describe, and single-record create/read/update/delete."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

from bridge.sandbox.salesforce import describe, series
from bridge.sandbox.salesforce.calls import Call, Reply, record_url, serialize
from bridge.sandbox.salesforce.errors import SalesforceError, not_found, record_error
from bridge.sandbox.salesforce.records import Record
from bridge.sandbox.salesforce.schema import SObjectDef
from bridge.sandbox.salesforce.values import parse_datetime, to_json

ALLOWED = {"record": "GET,PATCH,HEAD,DELETE", "type": "GET,HEAD,POST"}


def method_not_allowed(method: str, allowed: str) -> SalesforceError:
    return SalesforceError(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    )


def _sobject(call: Call, name: str) -> SObjectDef:
    sobject = call.org.describe(name)
    if sobject is None:
        raise not_found()
    return sobject


def record_json(call: Call, sobject: SObjectDef, record: Record, fields: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {"type": sobject.name, "url": record_url(call.version, sobject.name, record["Id"])}
    }
    names = fields if fields is not None else [f.name for f in sobject.fields]
    for name in names:
        out[name] = serialize(record.get(name), call.version)
    return out


def field_list(sobject: SObjectDef, text: str | None) -> list[str] | None:
    """`?fields=` as schema field names, or INVALID_FIELD for one the object lacks."""
    if text is None:
        return None
    names: list[str] = []
    for raw in text.split(","):
        if not raw.strip():
            continue
        fdef = sobject.field(raw.strip())
        if fdef is None:
            raise record_error(
                "INVALID_FIELD",
                f"No such column '{raw.strip()}' on entity '{sobject.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        names.append(fdef.name)
    return names


def handle(call: Call) -> Reply:
    """Everything under `sobjects`."""
    parts = call.path[1:]
    if not parts:
        if call.method != "GET":
            raise method_not_allowed(call.method, "GET,HEAD")
        return Reply(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [describe.basic(o, call.version) for o in call.org.objects.values()],
            },
        )
    sobject = _sobject(call, parts[0])
    if len(parts) == 1:
        if call.method == "GET":
            return Reply(200, {"objectDescribe": describe.basic(sobject, call.version), "recentItems": []})
        if call.method == "POST":
            return _create(call, sobject)
        raise method_not_allowed(call.method, ALLOWED["type"])
    if len(parts) == 2 and parts[1] == "describe":
        if call.method != "GET":
            raise method_not_allowed(call.method, "GET,HEAD")
        return Reply(200, describe.full(sobject, call.version))
    if len(parts) == 2 and parts[1] in ("updated", "deleted"):
        if call.method != "GET":
            raise method_not_allowed(call.method, "GET,HEAD")
        return _changed_since(call, sobject, parts[1])
    if len(parts) == 3 and parts[2] == "fromThisEventOnwards" and sobject.name == "Event":
        if call.method != "DELETE":
            raise method_not_allowed(call.method, "DELETE")
        series.delete_from_onwards(call.org, call.user_id, parts[1], call.client, call.version)
        return Reply(200, {"success": series.DELETING_MESSAGE})
    if len(parts) != 2:
        raise not_found()
    record_id = parts[1]
    if call.method == "GET":
        found_def, record = call.org.get_record(sobject, record_id)
        since = _header_date(call, "If-Modified-Since")
        if since is not None and record["LastModifiedDate"] <= since:
            return Reply(304)
        return Reply(
            200, record_json(call, found_def, record, field_list(found_def, call.params.get("fields")))
        )
    if call.method == "PATCH":
        data = call.json_object(sobject.name)
        unmodified_since = _header_date(call, "If-Unmodified-Since")
        with call.org.transaction(call.user_id, call.client, call.version) as writer:
            if unmodified_since is not None:
                _, current = call.org.get_record(sobject, record_id)
                if current["LastModifiedDate"] > unmodified_since:
                    raise SalesforceError(
                        412,
                        "PRECONDITION_FAILED",
                        "The record was modified after the date in the If-Unmodified-Since header.",
                    )
            writer.update(sobject.name, record_id, data)
        return Reply(204)
    if call.method == "DELETE":
        with call.org.transaction(call.user_id, call.client, call.version) as writer:
            writer.delete(sobject.name, record_id)
        return Reply(204)
    raise method_not_allowed(call.method, ALLOWED["record"])


def _create(call: Call, sobject: SObjectDef) -> Reply:
    if sobject.platform_event and call.publisher is not None:
        return _publish(call, sobject)
    if sobject.platform_event or sobject.name == "Organization":
        raise SalesforceError(
            400, "INVALID_TYPE", f"Cannot create records of type {sobject.name} through this resource", []
        )
    data = call.json_object(sobject.name)
    with call.org.transaction(call.user_id, call.client, call.version) as writer:
        record_id = writer.create(sobject.name, data)
    return Reply(201, {"id": record_id, "success": True, "errors": []})


def _publish(call: Call, sobject: SObjectDef) -> Reply:
    """A platform event published through REST: fields checked like a write, nothing stored."""
    assert call.publisher is not None
    data = call.json_object(sobject.name)
    with call.org.transaction(call.user_id, call.client, call.version) as writer:
        given = writer.checked_fields(sobject, data)
        record_id = call.org.store.new_id(sobject.key_prefix)
        event_uuid = call.publisher.publish(sobject, given, call.user_id, writer.now)
    enqueued = {"statusCode": "OPERATION_ENQUEUED", "message": event_uuid, "fields": []}
    return Reply(201, {"id": record_id, "success": True, "errors": [enqueued]})


def _header_date(call: Call, name: str) -> datetime | None:
    """A conditional request's HTTP date (`Tue, 24 Nov 2026 09:00:00 GMT`); 400 when it is not one."""
    raw = call.headers.get(name)
    if raw is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise SalesforceError(400, "INVALID_HEADER_TYPE", f"{name} is not a valid HTTP date: {raw}")
    return parsed.astimezone(UTC)


def _window(call: Call) -> tuple[datetime, datetime]:
    bounds: list[datetime] = []
    for name in ("start", "end"):
        raw = call.params.get(name)
        parsed = parse_datetime(raw) if raw else None
        if parsed is None:
            raise SalesforceError(
                400, "INVALID_REPLICATION_DATE", f"{name} must be a dateTime, e.g. 2026-11-21T10:00:00+00:00"
            )
        bounds.append(parsed)
    if bounds[0] > bounds[1]:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", "end date is before start date")
    return bounds[0], bounds[1]


def _changed_since(call: Call, sobject: SObjectDef, kind: str) -> Reply:
    """`sobjects/{Type}/updated` and `/deleted`: ids changed or deleted within [start, end]."""
    start, end = _window(call)
    with call.org.lock:
        everything = call.org.store.rows(sobject.name)
    rows = [r for r in everything if start <= r["SystemModstamp"] <= end]
    covered = to_json(end.replace(second=0))
    if kind == "updated":
        return Reply(
            200, {"ids": [r["Id"] for r in rows if not r.get("IsDeleted")], "latestDateCovered": covered}
        )
    deleted = [
        {"id": r["Id"], "deletedDate": to_json(r["SystemModstamp"])} for r in rows if r.get("IsDeleted")
    ]
    earliest = min((r["CreatedDate"] for r in everything), default=start)
    return Reply(
        200,
        {"deletedRecords": deleted, "earliestDateAvailable": to_json(earliest), "latestDateCovered": covered},
    )
