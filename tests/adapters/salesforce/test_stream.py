"""The Pub/Sub half of the adapter against the sandbox: echoes, bitmaps, gaps, resume, reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from bridge.errors import MappingError
from bridge.ports import BridgeCommand, ChangeType, CommandKind, EventChange, GapKind, StreamGap
from bridge.salesforce import SalesforceAdapter, SalesforceConnection, open_salesforce
from bridge.salesforce.changes import COMMAND_TOPIC, EVENT_TOPIC
from bridge.sandbox.runner import Sandbox
from bridge.sandbox.salesforce.bitmaps import encode_bitmap
from bridge.sandbox.salesforce.change_encoding import header_datum
from tests.adapters.salesforce.conftest import Listener, unique


def change_of(record_id: str, entity: str = "Event") -> Callable[[Any], bool]:
    return lambda n: isinstance(n, EventChange) and n.entity == entity and record_id in n.record_ids


async def test_r_merge_3_own_write_comes_back_as_echo_and_a_person_s_write_does_not(
    salesforce: SalesforceAdapter, listen: Any, make_event: Callable[..., str], plain: Salesforce
) -> None:
    event_id = make_event()
    stream: Listener = await listen()
    await salesforce.update_event(event_id, None, {"Subject": "written by the bridge"})
    ours = await stream.next(change_of(event_id))
    assert isinstance(ours, EventChange) and ours.echo
    assert ours.fields["Subject"] == "written by the bridge"
    plain.Event.update(event_id, {"Subject": "written by a person"})
    theirs = await stream.next(change_of(event_id))
    assert isinstance(theirs, EventChange) and not theirs.echo
    assert theirs.change_type is ChangeType.UPDATE and theirs.fields["Subject"] == "written by a person"
    assert theirs.position.stream == "sf:/data/EventChangeEvent" and int(theirs.position.value, 16) > 0


async def test_r_fld_3_update_carries_changed_and_nulled_fields_by_their_bitmaps(
    listen: Any, make_event: Callable[..., str], plain: Salesforce
) -> None:
    event_id = make_event(Location="Room 4", Description="short")
    stream: Listener = await listen()
    plain.Event.update(event_id, {"Location": None, "Subject": "moved", "DurationInMinutes": 90})
    change = await stream.next(change_of(event_id))
    assert isinstance(change, EventChange)
    assert change.fields["Location"] is None  # nulled, not merely unchanged
    assert change.fields["Subject"] == "moved"
    assert change.fields["DurationInMinutes"] == 90
    assert "Description" not in change.fields  # unchanged fields are absent
    # dateTimes come in REST's text form, so versions compare with what read_events gives
    assert str(change.fields["LastModifiedDate"]).endswith("+0000")
    plain.Event.update(event_id, {"Description": "x" * 400})
    diff = await stream.next(change_of(event_id))
    assert isinstance(diff, EventChange) and "Description" in diff.diff_fields


async def test_r_fld_3_create_carries_activity_date_time_and_duration(
    listen: Any, make_event: Callable[..., str]
) -> None:
    stream: Listener = await listen()
    event_id = make_event()
    change = await stream.next(change_of(event_id))
    assert isinstance(change, EventChange) and change.change_type is ChangeType.CREATE
    assert change.fields["DurationInMinutes"] == 60
    assert str(change.fields["ActivityDateTime"]).endswith(":00:00.000+0000")
    assert "StartDateTime" not in change.fields


async def test_r_merge_1_one_change_event_names_several_records(sandbox: Sandbox, listen: Any) -> None:
    stream: Listener = await listen()
    bus = sandbox.salesforce.bus
    topic = bus.topic(EVENT_TOPIC)
    assert topic is not None and topic.schema is not None
    codec = bus.codec(topic.schema_id)
    assert codec is not None
    names = [f.name for f in topic.schema.body_fields]
    subject = 1 + names.index("Subject")
    datum: dict[str, Any] = {name: None for name in names}
    datum["Subject"] = "Quarterly review"
    datum["ChangeEventHeader"] = header_datum(
        entity="Event",
        record_ids=["00U000000000001AAA", "00U000000000002AAA"],
        change_type="UPDATE",
        origin="com/salesforce/api/soap/62.0;client=SfdcInternalAPI",
        transaction_key="t-1",
        sequence=1,
        commit_timestamp_ms=1_700_000_000_000,
        commit_number=1,
        commit_user="005000000000001AAA",
        changed=encode_bitmap([subject]),
        nulled=[],
        diff=[],
    )
    bus._append([(topic.schema_id, frozenset({EVENT_TOPIC}), codec.encode(datum))])
    change = await stream.next(change_of("00U000000000002AAA"))
    assert isinstance(change, EventChange)
    assert change.record_ids == ("00U000000000001AAA", "00U000000000002AAA")
    assert change.fields == {"Subject": "Quarterly review"}


async def test_r_time_3_gap_events_name_their_records_and_overflow_asks_for_reconcile(
    sandbox: Sandbox, listen: Any, make_event: Callable[..., str]
) -> None:
    event_id = make_event()
    stream: Listener = await listen()
    sandbox.salesforce.pubsub.inject_gap("Event", event_id, "GAP_UPDATE")
    gap = await stream.next(lambda n: isinstance(n, StreamGap) and n.kind is GapKind.GAP)
    assert isinstance(gap, StreamGap) and gap.record_ids == (event_id,) and gap.entity == "Event"
    assert gap.position is not None and gap.position.stream == "sf:/data/EventChangeEvent"
    sandbox.salesforce.pubsub.inject_gap_overflow("EventRelation")
    overflow = await stream.next(lambda n: isinstance(n, StreamGap) and n.kind is GapKind.OVERFLOW)
    assert isinstance(overflow, StreamGap) and overflow.entity == "EventRelation"


async def test_r_time_2_resumes_after_the_stored_replay_id(
    salesforce: SalesforceAdapter, listen: Any, make_event: Callable[..., str], plain: Salesforce
) -> None:
    event_id = make_event()
    first: Listener = await listen()
    plain.Event.update(event_id, {"Subject": "before the restart"})
    seen = await first.next(change_of(event_id))
    await first.close()
    plain.Event.update(event_id, {"Subject": "while the bridge was down"})
    again: Listener = await listen(resume={seen.position.stream: seen.position.value})  # type: ignore[union-attr]
    missed = await again.next(change_of(event_id))
    assert isinstance(missed, EventChange) and missed.fields["Subject"] == "while the bridge was down"


async def test_r_time_3_expired_replay_id_gives_replay_expired_then_live_events(
    sandbox: Sandbox, listen: Any, make_event: Callable[..., str], plain: Salesforce
) -> None:
    event_id = make_event()
    first: Listener = await listen()
    plain.Event.update(event_id, {"Subject": "seen"})
    seen = await first.next(change_of(event_id))
    await first.close()
    sandbox.salesforce.pubsub.expire_replay_ids()
    stream: Listener = await listen(resume={seen.position.stream: seen.position.value})  # type: ignore[union-attr]
    expired = await stream.next(lambda n: isinstance(n, StreamGap))
    assert isinstance(expired, StreamGap) and expired.kind is GapKind.REPLAY_EXPIRED
    assert expired.entity == "Event"
    await asyncio.sleep(0.3)  # resubscribed from LATEST
    plain.Event.update(event_id, {"Subject": "live again"})
    live = await stream.next(change_of(event_id))
    assert isinstance(live, EventChange) and live.fields["Subject"] == "live again"


async def test_r_time_1_reconnects_after_the_streams_drop(
    sandbox: Sandbox,
    salesforce: SalesforceAdapter,
    listen: Any,
    make_event: Callable[..., str],
    plain: Salesforce,
) -> None:
    event_id = make_event()
    stream: Listener = await listen()
    plain.Event.update(event_id, {"Subject": "before the drop"})
    await stream.next(change_of(event_id))
    sandbox.salesforce.pubsub.drop_streams()
    for _ in range(300):
        if salesforce.pubsub.connects >= 6:
            break
        await asyncio.sleep(0.01)
    plain.Event.update(event_id, {"Subject": "after the drop"})
    after = await stream.next(change_of(event_id))
    assert isinstance(after, EventChange) and after.fields["Subject"] == "after the drop"
    assert salesforce.pubsub.connects >= 6


async def test_r_time_1_reconnects_with_backoff_while_pubsub_fails(
    sandbox: Sandbox,
    salesforce: SalesforceAdapter,
    listen: Any,
    make_event: Callable[..., str],
    plain: Salesforce,
) -> None:
    event_id = make_event()
    stream: Listener = await listen()
    sandbox.salesforce.pubsub.fail_next(4)
    sandbox.salesforce.pubsub.drop_streams()
    await asyncio.sleep(1.0)
    plain.Event.update(event_id, {"Subject": "after the outage"})
    after = await stream.next(change_of(event_id))
    assert isinstance(after, EventChange) and after.fields["Subject"] == "after the outage"


async def test_r_sec_1_pubsub_gets_a_new_token_when_the_session_is_invalidated(
    sandbox: Sandbox,
    salesforce: SalesforceAdapter,
    listen: Any,
    make_event: Callable[..., str],
    plain: Salesforce,
) -> None:
    event_id = make_event()
    stream: Listener = await listen()
    refreshed = salesforce.tokens.refreshed
    with sandbox.salesforce.org.lock:
        for token in [
            t
            for t, s in sandbox.salesforce.org.sessions.items()
            if s.client_id == salesforce.connection.client_id
        ]:
            if token != plain.session_id:
                del sandbox.salesforce.org.sessions[token]
    sandbox.salesforce.pubsub.drop_streams()
    await asyncio.sleep(1.0)
    plain.Event.update(event_id, {"Subject": "after the new token"})
    after = await stream.next(change_of(event_id))
    assert isinstance(after, EventChange) and after.fields["Subject"] == "after the new token"
    assert salesforce.tokens.refreshed > refreshed


async def test_flow_control_keeps_a_bounded_number_requested(
    connection: SalesforceConnection, sandbox: Sandbox, make_event: Callable[..., str], plain: Salesforce
) -> None:
    from dataclasses import replace

    async with open_salesforce(replace(connection, pubsub_batch=3)) as adapter:
        stream = adapter.notices({}).__aiter__()
        first = asyncio.ensure_future(stream.__anext__())
        for _ in range(300):
            if adapter.pubsub.connects >= 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        ids = [make_event(Subject=unique("Flow")) for _ in range(10)]
        seen: list[str] = []
        notice = await asyncio.wait_for(first, 10)
        while True:
            if isinstance(notice, EventChange) and notice.record_ids[0] in ids:
                seen.append(notice.record_ids[0])
            # never more than the batch outstanding on the server, however slowly we read
            assert all(control.pending <= 3 for control in sandbox.salesforce.pubsub._streams)
            if len(seen) == len(ids):
                break
            await asyncio.sleep(0.02)
            notice = await asyncio.wait_for(stream.__anext__(), 10)
        assert seen == ids  # all of them, in commit order
        await stream.aclose()  # type: ignore[attr-defined]


async def test_r_time_5_command_platform_event_becomes_a_bridge_command(
    listen: Any, plain: Salesforce, owner: str
) -> None:
    stream: Listener = await listen()
    plain.Calbridge_Command__e.create({"Command__c": "sync_now", "User_Id__c": owner})
    command = await stream.next(lambda n: isinstance(n, BridgeCommand))
    assert isinstance(command, BridgeCommand)
    assert command.kind is CommandKind.SYNC_NOW and command.user_id == owner and command.event_id is None
    assert command.requested_by and command.position.stream == f"sf:{COMMAND_TOPIC}"


async def test_malformed_payload_is_a_mapping_error_and_the_stream_carries_on(
    connection: SalesforceConnection, sandbox: Sandbox, plain: Salesforce, owner: str
) -> None:
    errors: list[MappingError] = []
    async with open_salesforce(connection, on_error=errors.append) as adapter:
        stream = Listener(adapter)
        await stream.ready()
        bus = sandbox.salesforce.bus
        topic = bus.topic(COMMAND_TOPIC)
        assert topic is not None
        bus.publish_platform_event(topic, "broken", b"\xff\xff\xff\xff\x01")
        plain.Calbridge_Command__e.create({"Command__c": "Confirm", "User_Id__c": owner})
        command = await stream.next(lambda n: isinstance(n, BridgeCommand))
        assert isinstance(command, BridgeCommand) and command.kind is CommandKind.CONFIRM
        assert len(errors) == 1 and COMMAND_TOPIC in str(errors[0]) and "replay" in str(errors[0])
        assert adapter.calls["mapping_error"] == 1
        await stream.close()


@pytest.mark.parametrize("command", ["SYNC NOW", "backfill", "sync-now"])
def test_r_time_5_command_names_are_read_leniently(command: str) -> None:
    from bridge.ports import StreamPosition
    from bridge.salesforce.changes import command_notice

    notice = command_notice({"Command__c": command}, StreamPosition("sf:x", "01"))
    assert notice.kind in (CommandKind.SYNC_NOW, CommandKind.BACKFILL)
