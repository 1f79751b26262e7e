"""``POST /v1.0/$batch``: up to 20 requests in one, each answered on its own (the batch itself is 200).

Members run one at a time in the order their ``dependsOn`` allows (Graph runs at most 4 per mailbox at once;
one at a time is a valid schedule of that). A member whose dependency failed gets 424. Each member passes
the throttle by itself, so a member can carry its own 429 and Retry-After.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .calls import JSON_TYPE, Call, Reply
from .errors import GraphError, error_body
from .prefer import parse_prefer
from .router import Router

MAX_REQUESTS = 20


def _check(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    requests: list[dict[str, Any]] = body["requests"]
    if not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format: the batch holds no request.")
    if len(requests) > MAX_REQUESTS:
        raise GraphError(
            400, "BadRequest", f"Number of batch request steps exceeds the maximum of {MAX_REQUESTS}."
        )
    ids: set[str] = set()
    for entry in requests:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry.get("method"):
            raise GraphError(
                400, "BadRequest", "Invalid batch payload format: every request needs an id and a method."
            )
        if entry["id"] in ids:
            raise GraphError(400, "BadRequest", f"Batch request ids must be unique: '{entry['id']}'.")
        ids.add(entry["id"])
    for entry in requests:
        for dep in entry.get("dependsOn") or []:
            if dep not in ids:
                raise GraphError(
                    400, "BadRequest", f"Request '{entry['id']}' depends on an unknown request '{dep}'."
                )
    return requests


def _member_reply(member_id: str, reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"id": member_id, "status": reply.status, "headers": dict(reply.headers)}
    if reply.body is not None:
        out["headers"]["Content-Type"] = JSON_TYPE
        out["body"] = reply.body
    return out


async def run_batch(router: Router, body: Any, base: str) -> Reply:
    requests = _check(body)
    by_id = {entry["id"]: entry for entry in requests}
    done: dict[str, dict[str, Any]] = {}
    running: set[str] = set()

    async def run(entry: dict[str, Any]) -> dict[str, Any]:
        member_id = entry["id"]
        if member_id in done:
            return done[member_id]
        if member_id in running:
            result = Reply.error(GraphError(400, "BadRequest", "The dependsOn of the batch form a cycle."))
            return _member_reply(member_id, result)
        running.add(member_id)
        failed_dependency = False
        for dep in entry.get("dependsOn") or []:
            answer = await run(by_id[dep])
            failed_dependency |= not 200 <= answer["status"] < 300
        if failed_dependency:
            reply = Reply(424, error_body("FailedDependency", "A request this one depends on failed."))
        else:
            made = _member_call(entry, base)
            reply = made if isinstance(made, Reply) else await router.run(made)
        done[member_id] = _member_reply(member_id, reply)
        running.discard(member_id)
        return done[member_id]

    for entry in requests:
        await run(entry)
    return Reply(200, {"responses": [done[entry["id"]] for entry in requests]})


def _member_call(entry: dict[str, Any], base: str) -> Call | Reply:
    url = str(entry.get("url", ""))
    headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
    if url.lower().startswith(("http://", "https://")):
        return _bad("Batch request URLs must be relative to the version, e.g. /users/{id}/events.")
    if "body" in entry and not any(k.lower() == "content-type" for k in headers):
        return _bad(f"Write request id : {entry['id']} does not contain Content-Type header or body.")
    parts = urlsplit(url)
    prefer = [v for k, v in headers.items() if k.lower() == "prefer"]
    return Call(
        method=str(entry["method"]).upper(),
        path=parts.path.lstrip("/"),
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=entry.get("body"),
        prefer=parse_prefer(prefer),
        base=base,
    )


def _bad(message: str) -> Reply:
    return Reply.error(GraphError(400, "BadRequest", message))
