"""Pub/Sub API errors as Salesforce reports them: a gRPC status, a message ending in `rpcId: <uuid>`, and
the trailer `error-code` with a `sfdc.platform.eventbus.grpc.` code (salesforce.md §1.5).

Statuses of the replay-id errors are documented; the others are the closest gRPC status to their meaning.
"""

from __future__ import annotations

import uuid
from typing import NoReturn

import grpc
import grpc.aio

PREFIX = "sfdc.platform.eventbus.grpc."


class PubSubError(Exception):
    """An RPC failure to report to the client; raise it anywhere in a handler."""

    def __init__(self, status: grpc.StatusCode, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = PREFIX + code
        self.message = message


def new_rpc_id() -> str:
    return str(uuid.uuid4())


async def abort_with(context: grpc.aio.ServicerContext[object, object], error: PubSubError) -> NoReturn:
    await context.abort(
        error.status,
        f"{error.message} rpcId: {new_rpc_id()}",
        trailing_metadata=(("error-code", error.error_code),),
    )
    raise AssertionError("context.abort returned")  # abort always raises; this keeps the type checker honest


def auth_headers_invalid() -> PubSubError:
    return PubSubError(
        grpc.StatusCode.UNAUTHENTICATED,
        "service.auth.headers.invalid",
        "The request is missing authentication headers: accesstoken, instanceurl and tenantid are required.",
    )


def auth_error() -> PubSubError:
    return PubSubError(
        grpc.StatusCode.UNAUTHENTICATED,
        "service.auth.error",
        "The session is invalid or expired, or the instance URL or tenant id does not match it.",
    )


def unavailable() -> PubSubError:
    return PubSubError(
        grpc.StatusCode.UNAVAILABLE, "service.unavailable", "The service is unavailable. Try again later."
    )


def topic_not_found(org_id: str, topic: str) -> PubSubError:
    return PubSubError(
        grpc.StatusCode.NOT_FOUND,
        "topic.not.found",
        f"The topic information for org {org_id} and topic {topic} not found. "
        "Ensure the topic name is correct and that the topic exists.",
    )


def schema_not_found(schema_id: str) -> PubSubError:
    return PubSubError(
        grpc.StatusCode.NOT_FOUND, "schema.not.found", f"The schema with id {schema_id} was not found."
    )


def publish_not_allowed(topic: str) -> PubSubError:
    return PubSubError(
        grpc.StatusCode.PERMISSION_DENIED,
        "publish.not.allowed",
        f"Publishing to topic {topic} is not allowed; only platform event topics accept events.",
    )


def replay_corrupted() -> PubSubError:
    return PubSubError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "subscription.fetch.replayid.corrupted",
        "The Replay ID validation failed. Ensure that the Replay ID is valid; "
        "it may be outside the retention window.",
    )


def replay_missing() -> PubSubError:
    return PubSubError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "subscription.fetch.replayid.validation.failed",
        "The Replay ID validation failed: the CUSTOM replay preset requires a replay id.",
    )


def topic_mismatch(subscribed: str, requested: str) -> PubSubError:
    return PubSubError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "subscription.fetch.topic.mismatch",
        f"The topic name {requested} does not match the subscribed topic {subscribed}.",
    )


def requested_events_invalid(requested: int) -> PubSubError:
    return PubSubError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "subscription.fetch.requested.events.invalid",
        f"The number of requested events must be greater than zero, got {requested}.",
    )


def managed_subscribe_unimplemented() -> PubSubError:
    return PubSubError(
        grpc.StatusCode.UNIMPLEMENTED,
        "managed.subscribe.unimplemented",
        "ManagedSubscribe (open beta) is not offered by this sandbox; use Subscribe with a stored replay id.",
    )
