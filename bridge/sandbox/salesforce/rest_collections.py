"""sObject Collections (`composite/sobjects`): create, update, delete and read up to 200 records a call.

One call is one transaction. Each record is tried under a savepoint; a failed one is rolled back alone, or,
with allOrNone, the whole call is rolled back and every other record reports
ALL_OR_NONE_OPERATION_ROLLED_BACK. Results come in request order and name errors by `statusCode`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.calls import Call, Reply
from bridge.sandbox.salesforce.errors import SalesforceError, record_error
from bridge.sandbox.salesforce.rest_records import field_list, method_not_allowed, record_json
from bridge.sandbox.salesforce.values import DeserializeError
from bridge.sandbox.salesforce.writes import Writer

MAX_RECORDS = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": (
        "Record rolled back because not all records were valid and the request was using AllOrNone header"
    ),
    "fields": [],
}


class _RolledBack(Exception):
    """Raised inside the transaction to undo an allOrNone call that had a failure."""


def _too_many() -> SalesforceError:
    return SalesforceError(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
    )


def _as_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _collection_error(error: SalesforceError) -> dict[str, Any]:
    if error.error_code in ("NOT_FOUND",):
        return {
            "statusCode": "INVALID_CROSS_REFERENCE_KEY",
            "message": "invalid cross reference id",
            "fields": [],
        }
    return error.collection_item()


def _run(
    call: Call, items: list[Any], all_or_none: bool, apply: Callable[[Writer, Any], str | None]
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    failed = False
    try:
        client = call.client if call.org.collections_carry_client else None
        with call.org.transaction(call.user_id, client, call.version) as writer:
            for item in items:
                savepoint = writer.savepoint()
                try:
                    record_id = apply(writer, item)
                    results.append({"id": record_id, "success": True, "errors": []})
                except DeserializeError:
                    raise  # the body itself does not parse: the whole call fails with 400
                except SalesforceError as error:
                    writer.rollback(savepoint)
                    failed = True
                    result: dict[str, Any] = {"success": False, "errors": [_collection_error(error)]}
                    if isinstance(item, str):
                        result = {"id": item, **result}
                    results.append(result)
            if failed and all_or_none:
                raise _RolledBack
    except _RolledBack:
        for position, result in enumerate(results):
            if result["success"]:
                results[position] = {"id": None, "success": False, "errors": [dict(ROLLED_BACK)]}
    return results


def _type_of(writer: Writer, item: Any) -> str:
    attributes = item.get("attributes") if isinstance(item, dict) else None
    name = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(name, str) or not name:
        raise record_error("INVALID_TYPE", "Must send a concrete entity type.")
    sobject = writer.org.describe(name)
    if sobject is None or sobject.platform_event or sobject.name == "Organization":
        raise record_error("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return sobject.name


def _create(writer: Writer, item: Any) -> str:
    name = _type_of(writer, item)
    return writer.create(name, item)


def _update(writer: Writer, item: Any) -> str:
    name = _type_of(writer, item)
    raw_id = item.get("id") or item.get("Id")
    if not isinstance(raw_id, str) or not raw_id:
        raise record_error("MISSING_ARGUMENT", "Id not specified in an update call")
    record_id = ids.normalize(raw_id)
    if record_id is None:
        raise record_error("MALFORMED_ID", f"malformed id {raw_id}")
    fields = {k: v for k, v in item.items() if k not in ("id", "Id")}
    writer.update(name, record_id, fields)
    return record_id


def _delete(writer: Writer, raw_id: Any) -> str:
    record_id = ids.normalize(raw_id)
    if record_id is None:
        raise record_error("MALFORMED_ID", f"malformed id {raw_id}")
    writer.delete(None, record_id)
    return record_id


def _records_body(call: Call) -> tuple[list[Any], bool]:
    body = call.json_object("SObjectCollection")
    records = body.get("records")
    if not isinstance(records, list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Required field 'records' is missing")
    if len(records) > MAX_RECORDS:
        raise _too_many()
    return records, _as_bool(body.get("allOrNone", False))


def handle(call: Call) -> Reply:
    """`composite/sobjects` (POST, PATCH, DELETE) and `composite/sobjects/{Type}` (GET)."""
    if len(call.path) == 3:
        if call.method != "GET":
            raise method_not_allowed(call.method, "GET,POST")
        return _read(call, call.path[2])
    if call.method == "POST":
        records, all_or_none = _records_body(call)
        return Reply(200, _run(call, records, all_or_none, _create))
    if call.method == "PATCH":
        records, all_or_none = _records_body(call)
        return Reply(200, _run(call, records, all_or_none, _update))
    if call.method == "DELETE":
        raw_ids = [i for i in call.params.get("ids", "").split(",") if i]
        if not raw_ids:
            raise SalesforceError(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(raw_ids) > MAX_RECORDS:
            raise _too_many()
        return Reply(200, _run(call, raw_ids, _as_bool(call.params.get("allOrNone", "false")), _delete))
    raise method_not_allowed(call.method, "POST,PATCH,DELETE")


def _read(call: Call, type_name: str) -> Reply:
    sobject = call.org.describe(type_name)
    if sobject is None:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    raw_ids = [i for i in call.params.get("ids", "").split(",") if i]
    if not raw_ids:
        raise SalesforceError(400, "MISSING_ARGUMENT", "ids parameter is required")
    if len(raw_ids) > MAX_RECORDS:
        raise _too_many()
    fields = field_list(sobject, call.params.get("fields"))
    if not fields:
        raise SalesforceError(400, "MISSING_ARGUMENT", "fields parameter is required")
    out: list[dict[str, Any] | None] = []
    for raw_id in raw_ids:
        record_id = ids.normalize(raw_id)
        if record_id is None:
            raise SalesforceError(400, "MALFORMED_ID", f"malformed id {raw_id}", [])
        record = call.org.store.get(record_id)
        if record is None or record.get("IsDeleted") or call.org.store.entity_of[record_id] != sobject.name:
            out.append(None)
        else:
            out.append(record_json(call, sobject, record, fields))
    return Reply(200, out)
