"""Composite (`POST composite`): up to 25 REST subrequests in one call, which counts as one API call.

Each subrequest is an ordinary call of this sandbox (sObject rows, queries, sObject Collections) made as the
same user, answered in request order as `{"body", "httpHeaders", "httpStatusCode", "referenceId"}`. At most
five of them may be queries or sObject Collections. A later subrequest may use an earlier one's answer as
`@{referenceId.field}` (dotted names and `[n]` indexes) in its url or body. With `allOrNone`, the first
failure halts the rest, which report PROCESSING_HALTED; a subrequest naming a failed one's answer fails the
same way without it. Fidelity gap: writes made before a failure under `allOrNone` are kept here, where
Salesforce rolls them back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bridge.sandbox.salesforce.calls import Call, Reply
from bridge.sandbox.salesforce.errors import SalesforceError

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5  # queries and sObject Collections together
_REFERENCE = re.compile(r"@\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)\}")
_DATA_PATH = re.compile(r"^/services/data/v(\d+\.\d)/(.*)$")
HALTED = "The transaction was rolled back since another operation in the same transaction failed."


def handle(call: Call, route: Callable[[Call], Reply]) -> Reply:
    """`composite` POST; `route` answers one subrequest (the sandbox's own REST router)."""
    if call.method != "POST":
        raise SalesforceError(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed. Allowed are POST"
        )
    body = call.json_object("CompositeRequest")
    requests = body.get("compositeRequest")
    if not isinstance(requests, list) or not requests:
        raise SalesforceError(400, "INVALID_INPUT", "compositeRequest: at least one subrequest is required")
    if len(requests) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400, "LIMIT_EXCEEDED", f"Composite request limited to {MAX_SUBREQUESTS} subrequests"
        )
    subcalls = [_subcall(call, n, request) for n, request in enumerate(requests)]
    if sum(1 for _, sub in subcalls if _counts_as_query(sub)) > MAX_QUERIES:
        raise SalesforceError(
            400,
            "LIMIT_EXCEEDED",
            f"Composite request limited to {MAX_QUERIES} query or sObject Collections subrequests",
        )
    all_or_none = body.get("allOrNone") is True
    answers: dict[str, Any] = {}
    failed: set[str] = set()
    halted = False
    results = []
    for reference, request in subcalls:
        named = set(
            _REFERENCE.findall(json.dumps([request.path, dict(request.params), request.body.decode()]))
        )
        if halted or {name for name, _ in named} & failed:
            results.append(_halted(reference))
            failed.add(reference)
            continue
        try:
            resolved = _resolve(request, answers)
            reply = route(resolved)
            status, answer = reply.status, reply.body
        except SalesforceError as error:
            status, answer = error.status, error.body()
        results.append(
            {"body": answer, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}
        )
        if status >= 400:
            failed.add(reference)
            halted = all_or_none
        else:
            answers[reference] = answer
    return Reply(200, {"compositeResponse": results})


def _subcall(call: Call, n: int, request: Any) -> tuple[str, Call]:
    if not isinstance(request, dict):
        raise SalesforceError(400, "INVALID_INPUT", f"compositeRequest[{n}]: expected an object")
    reference, method, url = request.get("referenceId"), request.get("method"), request.get("url")
    if not isinstance(reference, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", reference):
        raise SalesforceError(
            400,
            "INVALID_INPUT",
            f"compositeRequest[{n}]: referenceId must be letters, digits and underscores",
        )
    if method not in ("GET", "POST", "PATCH", "PUT", "DELETE") or not isinstance(url, str):
        raise SalesforceError(400, "INVALID_INPUT", f"compositeRequest[{n}] ({reference}): method and url")
    parts = urlsplit(url)
    match = _DATA_PATH.match(parts.path)
    if match is None:
        raise SalesforceError(
            400, "INVALID_INPUT", f"{reference}: the url must start with /services/data/vXX.X/"
        )
    path = [p for p in match.group(2).split("/") if p]
    if path[:1] == ["composite"] and path[1:2] != ["sobjects"]:
        raise SalesforceError(400, "INVALID_INPUT", f"{reference}: a composite call cannot hold another")
    payload = request.get("body")
    sub = Call(
        org=call.org,
        method=method,
        version=match.group(1),
        path=path,
        params=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={**call.headers, **(request.get("httpHeaders") or {})},
        body=json.dumps(payload).encode() if payload is not None else b"",
        user_id=call.user_id,
        publisher=call.publisher,
    )
    return reference, sub


def _counts_as_query(sub: Call) -> bool:
    return sub.path[:1] in (["query"], ["queryAll"]) or sub.path[:2] == ["composite", "sobjects"]


def _resolve(sub: Call, answers: dict[str, Any]) -> Call:
    """`sub` with every `@{ref.path}` replaced by that earlier answer's value."""

    def value(match: re.Match[str]) -> str:
        reference, trail = match.group(1), match.group(2)
        found: Any = answers.get(reference)
        for step in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", trail):
            name, index = step
            try:
                found = found[int(index)] if index else found[name]
            except (KeyError, IndexError, TypeError):
                found = None
            if found is None:
                raise SalesforceError(
                    400,
                    "INVALID_REFERENCE",
                    f"Invalid reference specified. No value for {reference}{trail} found in {reference}.",
                )
        return str(found)

    def sub_text(text: str) -> str:
        return _REFERENCE.sub(value, text)

    return Call(
        org=sub.org,
        method=sub.method,
        version=sub.version,
        path=[sub_text(p) for p in sub.path],
        params={k: sub_text(v) for k, v in sub.params.items()},
        headers=sub.headers,
        body=sub_text(sub.body.decode()).encode(),
        user_id=sub.user_id,
        publisher=sub.publisher,
    )


def _halted(reference: str) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": HALTED}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": reference,
    }
