"""The executor over in-memory ports: placeholders, versions, intents (R-PAIR-1, R-MERGE-3/4/5, R-LIM-1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.core import Changed, Created, CreateEvent, CreateItem, Plan, UpdateEvent, UpdateItem
from bridge.core.commands import frozen_fields
from bridge.core.fields import event_from_salesforce, item_from_exchange
from bridge.core.model import Content, Directory, Kind, PairState, PairStatus, Policy, Side, Timed
from bridge.errors import ConflictError, RefusedError
from bridge.runtime.executor import Executor, PlanFailed, UserContext
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.passes import Job, PassServices, run_pass
from bridge.store.memory import MemoryStore

USER = "005000000000ANN"
MAILBOX = "ann@corp.example"
CTX = UserContext(USER, MAILBOX, Policy(user_id=USER, user_email=MAILBOX))
START = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)


def world() -> tuple[MemorySalesforce, MemoryMailbox, MemoryStore, Executor]:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    return sf, ex, store, Executor(sf, ex, store)


def item_plan(event_id: str, version: str) -> Plan:
    """What the core plans for a new event: create the item, then write the pairing fields (R-PAIR-1)."""
    content = Content("Call", Timed(START, START + timedelta(hours=1)))
    state = PairState(
        status=PairStatus.ACTIVE,
        kind=Kind.B,
        origin=Side.SALESFORCE,
        sf_id=event_id,
        base_sf=content,
        base_ex=content,
    )
    fields = {
        "subject": "Call",
        "start": START,
        "end": START + timedelta(hours=1),
        "salesforce_event_id": event_id,
    }
    return Plan(
        (
            CreateItem(frozen_fields(fields), categories=("Salesforce",)),
            UpdateEvent(
                event_id,
                version,
                frozen_fields({"Exchange_Item_Id__c": Created.ITEM_ID, "Exchange_UID__c": Created.ITEM_UID}),
            ),
        ),
        state,
    )


async def test_r_pair_1_created_ids_fill_the_pairing_fields_and_versions_are_recorded() -> None:
    sf, ex, _store, executor = world()
    event_id = sf.put_event(USER, "Call", START, START + timedelta(hours=1))
    stored = sf._record(event_id)
    version = event_from_salesforce(stored.fields, stored.relations).version
    done = await executor.execute(CTX, item_plan(event_id, version), key=None, event=stored)
    item_id = next(iter(ex.items[MAILBOX]))
    assert sf.events[event_id]["Exchange_Item_Id__c"] == item_id
    assert sf.events[event_id]["Exchange_UID__c"] == ex.items[MAILBOX][item_id].uid
    assert done.state is not None
    # R-MERGE-3: the versions written are recorded, so their echoes are recognised
    assert done.state.ex_id == item_id
    assert done.state.ex_version == ex.items[MAILBOX][item_id].change_key
    written = sf._record(event_id)
    assert done.state.sf_version == event_from_salesforce(written.fields, written.relations).version
    assert done.state.uid == ex.items[MAILBOX][item_id].uid
    assert done.created and len(done.writes) == 2


async def test_r_merge_4_an_intent_is_recorded_before_a_create_and_cleared_by_the_commit() -> None:
    sf, ex, store, executor = world()
    event_id = sf.put_event(USER, "Call", START, START + timedelta(hours=1))
    version = str(sf.events[event_id]["SystemModstamp"])
    ex.refuse["create_item"] = "mailbox full"
    with pytest.raises(PlanFailed):
        await executor.execute(CTX, item_plan(event_id, version), key=None)
    pending = await store.pending_intents(USER)
    assert [i.description for i in pending] == ["CreateItem"]  # a crash here leaves the note
    done = await executor.execute(CTX, item_plan(event_id, version), key=None)
    services = PassServices(executor, RuntimeMetrics())
    await run_pass(services, CTX, [], directory=done_directory(), pair_count=0, intents_done=done.intents)
    assert [i.description for i in await store.pending_intents(USER)] == ["CreateItem"]  # the older one stays


def done_directory() -> Directory:
    return Directory()


async def test_r_merge_5_a_lost_race_re_reads_and_re_plans() -> None:
    sf, ex, store, executor = world()
    services = PassServices(executor, RuntimeMetrics())
    item_id = ex.put_item(MAILBOX, "Review", START, START + timedelta(hours=1))
    copy = item_from_exchange(ex.items[MAILBOX][item_id], CTX.policy)
    ex.edit_item(
        MAILBOX, item_id, location="Room 9"
    )  # the user edits while the plan is made: stale ChangeKey
    result = await run_pass(
        services, CTX, [Job(None, Changed(ex=copy))], directory=done_directory(), pair_count=0
    )
    # The create happened and the item write lost its race: both copies are read again and planned from
    # the event just made, so the user's edit reaches it; one event, one pair, nothing left to reconcile.
    assert not result.reconcile_next
    (event,) = sf.events.values()
    assert event["Location"] == "Room 9"
    (pair,) = await store.pairs_of(USER)
    assert pair.state.status is PairStatus.ACTIVE and pair.state.sf_id == event["Id"]
    assert ex.items[MAILBOX][item_id].salesforce_event_id == event["Id"]
    assert await store.pending_intents(USER) == []


async def test_r_lim_1_a_refused_write_becomes_an_issue() -> None:
    sf, ex, store, executor = world()
    services = PassServices(executor, RuntimeMetrics())
    item_id = ex.put_item(MAILBOX, "Review", START, START + timedelta(hours=1))
    copy = item_from_exchange(ex.items[MAILBOX][item_id], CTX.policy)
    sf.refuse["create_event"] = "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject is reserved"
    await run_pass(services, CTX, [Job(None, Changed(ex=copy))], directory=done_directory(), pair_count=0)
    issues = await store.issues(USER)
    assert [(i.code, i.ex_id) for i in issues] == [("E-SF-VALIDATION", item_id)]
    assert "Subject is reserved" in issues[0].message
    assert not sf.events


async def test_conflict_error_is_a_plan_failure_with_what_ran_before() -> None:
    sf, _ex, _store, executor = world()
    event_id = sf.put_event(USER, "Call", START, START + timedelta(hours=1))
    plan = Plan((UpdateEvent(event_id, "stale", frozen_fields({"Subject": "x"})),), None)
    with pytest.raises(PlanFailed) as failed:
        await executor.execute(CTX, plan, key=None)
    assert isinstance(failed.value.cause, ConflictError)
    assert not failed.value.wrote


async def test_refused_error_keeps_the_services_words() -> None:
    _sf, ex, _store, executor = world()
    ex.refuse["create_item"] = "ErrorQuotaExceeded"
    plan = Plan((CreateItem(frozen_fields({"subject": "x", "start": START, "end": START}), ()),), None)
    with pytest.raises(PlanFailed) as failed:
        await executor.execute(CTX, plan, key=None)
    assert isinstance(failed.value.cause, RefusedError)
    assert str(failed.value.cause) == "ErrorQuotaExceeded"


async def test_update_item_names_the_created_event() -> None:
    sf, ex, _store, executor = world()
    item_id = ex.put_item(MAILBOX, "Review", START, START + timedelta(hours=1))
    version = ex.items[MAILBOX][item_id].change_key
    state = PairState(status=PairStatus.ACTIVE, kind=Kind.A, origin=Side.EXCHANGE, ex_id=item_id)
    plan = Plan(
        (
            CreateEvent(frozen_fields({"Subject": "Review"})),
            UpdateItem(
                item_id, version, frozen_fields({"salesforce_event_id": Created.EVENT_ID}), ("Salesforce",)
            ),
        ),
        state,
    )
    done = await executor.execute(CTX, plan, key=None)
    event_id = next(iter(sf.events))
    assert ex.items[MAILBOX][item_id].salesforce_event_id == event_id
    assert sf.events[event_id]["OwnerId"] == USER
    assert done.state is not None and done.state.sf_id == event_id
    assert done.event is not None and done.event.id == event_id
