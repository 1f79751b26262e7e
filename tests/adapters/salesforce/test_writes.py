"""REST writes against the sandbox: batching (R-API-3), conditions (R-MERGE-5), errors, retries, budget."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from bridge.core.fields import event_from_salesforce
from bridge.core.model import Response, Side
from bridge.errors import ConflictError, MappingError, NotFoundError, RefusedError, TransientError
from bridge.ports import EventChange
from bridge.salesforce import SalesforceAdapter
from bridge.sandbox.runner import Sandbox
from tests.adapters.salesforce.conftest import Listener, unique


def usage(sandbox: Sandbox) -> int:
    return sandbox.salesforce.org.api_usage


def event_fields(subject: str, owner: str, hours_from_now: int = 30) -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(hours=hours_from_now)).replace(minute=0, second=0, microsecond=0)
    return {
        "Subject": subject,
        "StartDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "EndDateTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "OwnerId": owner,
    }


async def test_r_api_3_a_burst_of_50_creates_and_50_updates_costs_two_calls_each_at_most(
    salesforce: SalesforceAdapter, sandbox: Sandbox, owner: str
) -> None:
    await salesforce.tokens.current()
    before = usage(sandbox)
    written = await asyncio.gather(
        *(salesforce.create_event(event_fields(unique("Burst"), owner), ()) for _ in range(50))
    )
    assert usage(sandbox) - before == 1
    records = await salesforce.read_events([w.id for w in written])
    before = usage(sandbox)
    await asyncio.gather(
        *(
            salesforce.update_event(
                w.id, str(records[w.id].fields["LastModifiedDate"]), {"Location": f"Room {n}"}
            )
            for n, w in enumerate(written)
        )
    )
    assert usage(sandbox) - before <= 2  # one version check, one sObject Collections PATCH
    after = await salesforce.read_events([w.id for w in written])
    assert [after[w.id].fields["Location"] for w in written] == [f"Room {n}" for n in range(50)]


async def test_r_lim_e_sf_validation_each_caller_gets_its_own_error_with_salesforce_s_message(
    salesforce: SalesforceAdapter, make_event: Callable[..., str]
) -> None:
    good, bad = make_event(), make_event()
    results = await asyncio.gather(
        salesforce.update_event(good, None, {"Subject": "fine"}),
        salesforce.update_event(bad, None, {"ShowAs": "Maybe"}),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException)
    refused = results[1]
    assert isinstance(refused, RefusedError) and refused.side is Side.SALESFORCE
    assert "Maybe" in str(refused) and refused.code  # Salesforce's own words and status code
    assert (await salesforce.read_events([good]))[good].fields["Subject"] == "fine"


async def test_r_lim_e_sf_validation_on_create(salesforce: SalesforceAdapter, owner: str) -> None:
    fields = event_fields("x" * 256, owner)
    with pytest.raises(RefusedError) as refused:
        await salesforce.create_event(fields, ())
    assert "Subject" in str(refused.value)


async def test_r_merge_5_single_conditional_update_refused_when_modified_since(
    salesforce: SalesforceAdapter, make_event: Callable[..., str], plain: Salesforce
) -> None:
    event_id = make_event()
    version = str((await salesforce.read_events([event_id]))[event_id].fields["LastModifiedDate"])
    await asyncio.sleep(1.1)  # LastModifiedDate has whole seconds
    plain.Event.update(event_id, {"Subject": "a person's edit"})
    with pytest.raises(ConflictError):
        await salesforce.update_event(event_id, version, {"Subject": "the bridge's stale plan"})
    assert (await salesforce.read_events([event_id]))[event_id].fields["Subject"] == "a person's edit"


async def test_r_merge_5_batched_conditional_updates_refuse_only_the_stale_one(
    salesforce: SalesforceAdapter, make_event: Callable[..., str], plain: Salesforce
) -> None:
    fresh, stale = make_event(), make_event()
    versions = {
        i: str(r.fields["LastModifiedDate"])
        for i, r in (await salesforce.read_events([fresh, stale])).items()
    }
    await asyncio.sleep(1.1)
    plain.Event.update(stale, {"Subject": "a person's edit"})
    results = await asyncio.gather(
        salesforce.update_event(fresh, versions[fresh], {"Subject": "planned"}),
        salesforce.update_event(stale, versions[stale], {"Subject": "planned"}),
        return_exceptions=True,
    )
    assert not isinstance(results[0], BaseException)
    assert isinstance(results[1], ConflictError) and results[1].record_id == stale
    now = await salesforce.read_events([fresh, stale])
    assert now[fresh].fields["Subject"] == "planned" and now[stale].fields["Subject"] == "a person's edit"


async def test_r_merge_5_conditional_delete_refused_when_modified_since(
    salesforce: SalesforceAdapter, make_event: Callable[..., str], plain: Salesforce
) -> None:
    event_id = make_event()
    version = str((await salesforce.read_events([event_id]))[event_id].fields["LastModifiedDate"])
    await asyncio.sleep(1.1)
    plain.Event.update(event_id, {"Subject": "still wanted"})
    with pytest.raises(ConflictError):
        await salesforce.delete_event(event_id, version)
    fresh = str((await salesforce.read_events([event_id]))[event_id].fields["LastModifiedDate"])
    await salesforce.delete_event(event_id, fresh)
    assert await salesforce.read_events([event_id]) == {}


async def test_a_malformed_id_fails_only_its_own_caller(
    salesforce: SalesforceAdapter, make_event: Callable[..., str]
) -> None:
    event_id = make_event()
    version = str((await salesforce.read_events([event_id]))[event_id].fields["LastModifiedDate"])
    results = await asyncio.gather(
        salesforce.update_event("not an id", version, {"Subject": "x"}),
        salesforce.update_event(event_id, version, {"Subject": "mine"}),
        return_exceptions=True,
    )
    assert isinstance(results[0], MappingError), results
    assert not isinstance(results[1], BaseException), results
    assert (await salesforce.read_events([event_id]))[event_id].fields["Subject"] == "mine"


async def test_missing_record_is_not_found(
    salesforce: SalesforceAdapter, make_event: Callable[..., str]
) -> None:
    event_id = make_event()
    await salesforce.delete_event(event_id, None)
    with pytest.raises(NotFoundError):
        await salesforce.update_event(event_id, None, {"Subject": "gone"})
    with pytest.raises(NotFoundError):
        await salesforce.delete_event(event_id, None)
    record = await salesforce.read_events([event_id])
    assert record == {}


@pytest.mark.parametrize("kind", ["503", "500", "REQUEST_LIMIT_EXCEEDED"])
async def test_transient_failures_are_retried_with_backoff(
    salesforce: SalesforceAdapter, sandbox: Sandbox, make_event: Callable[..., str], kind: str
) -> None:
    event_id = make_event()
    await salesforce.tokens.current()
    sandbox.salesforce.faults.fail_next(2, kind)
    await salesforce.update_event(event_id, None, {"Subject": f"after {kind}"})
    assert salesforce.calls["retry"] == 2
    assert (await salesforce.read_events([event_id]))[event_id].fields["Subject"] == f"after {kind}"


async def test_transient_error_after_the_last_try(salesforce: SalesforceAdapter, sandbox: Sandbox) -> None:
    await salesforce.tokens.current()
    sandbox.salesforce.faults.fail_next(salesforce.connection.retries, "503")
    with pytest.raises(TransientError):
        await salesforce.read_events(["00U000000000001AAA"])


async def test_r_api_2_writes_wait_while_usage_is_over_the_budget_and_resume(
    salesforce: SalesforceAdapter, sandbox: Sandbox, make_event: Callable[..., str]
) -> None:
    event_id = make_event()
    org = sandbox.salesforce.org
    limit, used = org.api_limit, org.api_usage
    try:
        sandbox.salesforce.faults.set_api_usage(90, 100)
        await salesforce.read_events([event_id])  # the answer reports the usage
        assert salesforce.budget_exceeded and salesforce.api_limit == 100
        assert salesforce.api_usage is not None and salesforce.api_usage > 90
        write = asyncio.create_task(salesforce.update_event(event_id, None, {"Subject": "waited"}))
        await asyncio.sleep(0.6)
        assert not write.done()  # queued, not dropped
        assert salesforce.budget.waiting == 1
        sandbox.salesforce.faults.set_api_usage(10, 100)
        await asyncio.wait_for(write, 5)
        assert not salesforce.budget_exceeded
        assert (await salesforce.read_events([event_id]))[event_id].fields["Subject"] == "waited"
    finally:
        sandbox.salesforce.faults.set_api_usage(used + 50, limit)


async def test_r_api_2_on_shutdown_a_write_waiting_for_the_budget_fails_transiently_instead_of_waiting(
    salesforce: SalesforceAdapter, sandbox: Sandbox, make_event: Callable[..., str]
) -> None:
    event_id = make_event()
    org = sandbox.salesforce.org
    limit, used = org.api_limit, org.api_usage
    try:
        sandbox.salesforce.faults.set_api_usage(90, 100)
        await salesforce.read_events([event_id])
        write = asyncio.create_task(salesforce.update_event(event_id, None, {"Subject": "never made"}))
        await asyncio.sleep(0.6)
        assert not write.done()
        salesforce.release_budget()
        with pytest.raises(TransientError, match="after the restart"):
            await asyncio.wait_for(write, 2)
        with pytest.raises(TransientError):  # a later write over the budget does not wait either
            await asyncio.wait_for(salesforce.update_event(event_id, None, {"Subject": "nor this"}), 2)
        sandbox.salesforce.faults.set_api_usage(10, 100)
        assert (await salesforce.read_events([event_id]))[event_id].fields["Subject"] != "never made"
    finally:
        sandbox.salesforce.faults.set_api_usage(used + 50, limit)


async def test_r_merge_3_writes_carry_the_call_options_client(
    salesforce: SalesforceAdapter, listen: Any, owner: str
) -> None:
    stream: Listener = await listen()
    written = await salesforce.create_event(event_fields(unique("Echo"), owner), ())
    created = await stream.next(lambda n: isinstance(n, EventChange) and written.id in n.record_ids)
    assert isinstance(created, EventChange) and created.echo


async def test_version_of_read_events_equals_the_echo_s(
    salesforce: SalesforceAdapter, listen: Any, make_event: Callable[..., str]
) -> None:
    event_id = make_event()
    stream: Listener = await listen()
    await salesforce.update_event(event_id, None, {"Subject": "versioned"})
    echo = await stream.next(lambda n: isinstance(n, EventChange) and event_id in n.record_ids)
    assert isinstance(echo, EventChange)
    record = (await salesforce.read_events([event_id]))[event_id]
    assert record.fields["LastModifiedDate"] == echo.fields["LastModifiedDate"]


async def test_r_att_1_relations_are_added_updated_and_removed(
    salesforce: SalesforceAdapter, plain: Salesforce, make_event: Callable[..., str]
) -> None:
    email = f"{unique('guest').replace(' ', '')}@example.test"
    contact = str(plain.Contact.create({"LastName": "Guest", "Email": email})["id"])
    event_id = make_event()
    before = (await salesforce.read_events([event_id]))[event_id]
    await salesforce.add_relation(event_id, contact, Response.UNDECIDED)
    record = (await salesforce.read_events([event_id]))[event_id]
    [relation] = [r for r in record.relations if r.relation_id == contact]
    assert relation.email == email and relation.status == "New"
    # Whether or not adding a relation touches the Event's stamp (it does when the invitee also becomes the
    # Who), the version moves with its digest of the invitees: the change is not taken for a replay.
    assert (
        event_from_salesforce(record.fields, record.relations).version
        != event_from_salesforce(before.fields, before.relations).version
    )
    await salesforce.update_relation(event_id, contact, Response.ACCEPTED)
    record = (await salesforce.read_events([event_id]))[event_id]
    assert [r.status for r in record.relations if r.relation_id == contact] == ["Accepted"]
    await salesforce.remove_relation(event_id, contact)
    await salesforce.remove_relation(event_id, contact)  # already gone: nothing to do
    record = (await salesforce.read_events([event_id]))[event_id]
    assert all(r.relation_id != contact for r in record.relations)
    with pytest.raises(NotFoundError):
        await salesforce.update_relation(event_id, contact, Response.DECLINED)


async def test_r_att_10_who_ids_on_create_and_a_who_becomes_an_invitee(
    salesforce: SalesforceAdapter, plain: Salesforce, owner: str
) -> None:
    contacts = [
        str(plain.Contact.create({"LastName": unique("Who"), "Email": f"who{n}@example.test"})["id"])
        for n in range(2)
    ]
    written = await salesforce.create_event(event_fields(unique("Who"), owner), contacts)
    record = (await salesforce.read_events([written.id]))[written.id]
    assert record.fields["WhoId"] == contacts[0]
    # Who relations are not invitees; the primary Who is read as an attendee all the same (R-ATT-9).
    assert [(r.relation_id, r.email, r.status) for r in record.relations] == [
        (contacts[0], "who0@example.test", "New")
    ]
    await salesforce.add_relation(written.id, contacts[1], Response.ACCEPTED)
    record = (await salesforce.read_events([written.id]))[written.id]
    assert sorted((r.relation_id, r.status) for r in record.relations) == sorted(
        [(contacts[0], "New"), (contacts[1], "Accepted")]
    )
    await salesforce.remove_relation(written.id, contacts[1])
    rows = plain.query(f"SELECT Id, IsParent FROM EventRelation WHERE EventId = '{written.id}'")["records"]
    assert len(rows) == 2 and all(row["IsParent"] for row in rows)  # still a Who, no longer an invitee
