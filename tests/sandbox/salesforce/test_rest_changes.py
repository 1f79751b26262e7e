"""What the org hands its change sink for REST writes: one transaction per call, record changes in order,
changed/nulled/diff fields, and the writer's `client=` in the origin."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from bridge.sandbox.salesforce.changes import RecordChange
from bridge.sandbox.salesforce.errors import SalesforceError
from bridge.sandbox.salesforce.server import SalesforceSandbox
from tests.sandbox.salesforce.conftest import ListSink, unique

BRIDGE = {"Sforce-Call-Options": "client=calbridge-test"}
TIMES = {"StartDateTime": "2026-11-21T10:00:00Z", "DurationInMinutes": 30}


def _only(sink: ListSink) -> list[RecordChange]:
    assert len(sink.transactions) == 1, sink.transactions
    return sink.transactions[0]


def test_r_merge_3_create_carries_client_origin_and_one_transaction(
    sf: Salesforce, sandbox: SalesforceSandbox, sink: ListSink, make_contact: Callable[..., str]
) -> None:
    contact = make_contact()
    sink.transactions.clear()
    event_id = sf.Event.create({"Subject": unique("Demo"), "WhoId": contact, **TIMES}, headers=BRIDGE)["id"]
    changes = _only(sink)
    assert [(c.entity, c.change_type) for c in changes] == [("Event", "CREATE"), ("EventRelation", "CREATE")]
    assert [c.sequence for c in changes] == [1, 2]
    assert len({c.transaction_key for c in changes}) == 1
    assert {c.origin for c in changes} == {"com/salesforce/api/rest/62.0;client=calbridge-test"}
    assert {c.commit_user for c in changes} == {sandbox.client.run_as_user_id}
    event = changes[0]
    assert event.record_id == event_id
    assert event.values["WhoId"] == contact and event.values["DurationInMinutes"] == 30
    assert event.commit_number > 0 and event.commit_timestamp_ms > 0


def test_origin_without_call_options_has_no_client(sf: Salesforce, sink: ListSink) -> None:
    sf.Event.create({"Subject": unique("Plain"), **TIMES})
    assert _only(sink)[0].origin == "com/salesforce/api/rest/62.0"


def test_update_lists_changed_nulled_and_diff_fields(sf: Salesforce, sink: ListSink) -> None:
    event_id = sf.Event.create({"Subject": unique("Edit"), "Location": "Room 1", **TIMES})["id"]
    sink.transactions.clear()
    sf.Event.update(
        event_id, {"Location": None, "Description": "New agenda", "Subject": "Edited"}, headers=BRIDGE
    )
    (change,) = _only(sink)
    assert change.change_type == "UPDATE"
    assert change.changed == {"Location", "Description", "Subject", "LastModifiedDate"}
    assert change.nulled == {"Location"}
    assert change.diff == {"Description"}
    assert change.values["Subject"] == "Edited"


def test_time_change_reports_every_derived_field(sf: Salesforce, sink: ListSink) -> None:
    event_id = sf.Event.create({"Subject": unique("Shift"), **TIMES})["id"]
    sink.transactions.clear()
    sf.Event.update(event_id, {"StartDateTime": "2026-11-22T10:00:00Z"})
    (change,) = _only(sink)
    assert {"StartDateTime", "EndDateTime", "ActivityDateTime", "ActivityDate", "EndDate"} <= change.changed
    assert "DurationInMinutes" not in change.changed


def test_user_invitee_creates_relation_child_and_parent_update_in_one_transaction(
    sf: Salesforce, sink: ListSink, make_user: Callable[[], str]
) -> None:
    invitee = make_user()
    event_id = sf.Event.create({"Subject": unique("Team"), **TIMES})["id"]
    sink.transactions.clear()
    sf.EventRelation.create({"EventId": event_id, "RelationId": invitee}, headers=BRIDGE)
    changes = _only(sink)
    kinds = [(c.entity, c.change_type) for c in changes]
    assert kinds == [("EventRelation", "CREATE"), ("Event", "CREATE"), ("Event", "UPDATE")]
    assert changes[1].values["IsChild"] is True and changes[1].values["OwnerId"] == invitee
    assert changes[2].record_id == event_id and "IsGroupEvent" in changes[2].changed


def test_delete_reports_the_record_before_deletion(sf: Salesforce, sink: ListSink) -> None:
    subject = unique("Bye")
    event_id = sf.Event.create({"Subject": subject, **TIMES})["id"]
    sink.transactions.clear()
    sf.Event.delete(event_id)
    (change,) = _only(sink)
    assert (change.change_type, change.record_id, change.values["Subject"]) == ("DELETE", event_id, subject)


def test_failed_write_publishes_nothing(sf: Salesforce, sink: ListSink) -> None:
    with pytest.raises(SalesforceMalformedRequest):
        sf.Event.create({"Subject": "x" * 300, **TIMES})
    assert sink.transactions == []


def test_objects_without_change_data_capture_are_not_published(sf: Salesforce, sink: ListSink) -> None:
    sf.Contact.create({"LastName": "Quiet"})
    assert sink.transactions == []


def test_collection_call_is_one_transaction(sf: Salesforce, sink: ListSink) -> None:
    records = [{"attributes": {"type": "Event"}, "Subject": unique("Batch"), **TIMES} for _ in range(3)]
    records.append({"attributes": {"type": "Event"}, "Subject": "broken"})
    sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}, headers=BRIDGE
    )
    changes = _only(sink)
    assert [c.sequence for c in changes] == [1, 2, 3]
    assert len({c.transaction_key for c in changes}) == 1
    sink.transactions.clear()
    sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert sink.transactions == []


def test_undelete_from_python_restores_the_record_and_reports_undelete(
    sf: Salesforce, sandbox: SalesforceSandbox, sink: ListSink
) -> None:
    event_id = sf.Event.create({"Subject": unique("Back"), **TIMES})["id"]
    sf.Event.delete(event_id)
    sink.transactions.clear()
    with sandbox.org.transaction(sandbox.client.run_as_user_id) as writer:
        writer.undelete(event_id)
    (change,) = _only(sink)
    assert (change.change_type, change.record_id) == ("UNDELETE", event_id)
    assert sf.Event.get(event_id)["IsDeleted"] is False


def test_undelete_restores_the_relations_and_child_events_deleted_with_the_event(
    sf: Salesforce,
    sandbox: SalesforceSandbox,
    sink: ListSink,
    make_user: Callable[[], str],
    make_contact: Callable[..., str],
) -> None:
    invitee, who, dropped = make_user(), make_contact(), make_user()
    event_id = sf.Event.create({"Subject": unique("Restored"), "WhoId": who, **TIMES})["id"]
    sf.EventRelation.create({"EventId": event_id, "RelationId": invitee})
    earlier = sf.EventRelation.create({"EventId": event_id, "RelationId": dropped})["id"]
    sf.EventRelation.delete(earlier)  # removed on its own before the event: stays removed
    sf.Event.delete(event_id)
    sink.transactions.clear()
    with sandbox.org.transaction(sandbox.client.run_as_user_id) as writer:
        writer.undelete(event_id)
    relations = sf.query(f"SELECT RelationId, IsParent FROM EventRelation WHERE EventId = '{event_id}'")
    assert {r["RelationId"]: r["IsParent"] for r in relations["records"]} == {who: True, invitee: False}
    children = sf.query(
        f"SELECT Id, OwnerId, Subject FROM Event WHERE IsChild = true AND OwnerId = '{invitee}'"
    )
    assert [c["OwnerId"] for c in children["records"]] == [invitee]
    assert sf.query(f"SELECT COUNT() FROM Event WHERE OwnerId = '{dropped}'")["totalSize"] == 0
    changes = _only(sink)
    assert {(c.entity, c.change_type) for c in changes} == {
        ("Event", "UNDELETE"),
        ("EventRelation", "UNDELETE"),
    }
    assert len(changes) == 4 and changes[0].record_id == event_id
    sf.Event.update(event_id, {"Subject": "Mirrored again"})
    assert sf.Event.get(children["records"][0]["Id"])["Subject"] == "Mirrored again"


def test_undelete_of_an_invitee_brings_back_its_child_event_and_group_flag(
    sf: Salesforce, sandbox: SalesforceSandbox, make_user: Callable[[], str]
) -> None:
    invitee = make_user()
    event_id = sf.Event.create({"Subject": unique("Regroup"), **TIMES})["id"]
    relation = sf.EventRelation.create({"EventId": event_id, "RelationId": invitee})["id"]
    child = sf.query(f"SELECT Id FROM Event WHERE IsChild = true AND OwnerId = '{invitee}'")["records"][0][
        "Id"
    ]
    sf.EventRelation.delete(relation)
    assert sf.Event.get(event_id)["IsGroupEvent"] is False
    with sandbox.org.transaction(sandbox.client.run_as_user_id) as writer:
        writer.undelete(relation)
    assert sf.Event.get(child)["IsChild"] is True
    assert sf.Event.get(event_id)["IsGroupEvent"] is True
    with (
        pytest.raises(SalesforceError) as caught,
        sandbox.org.transaction(sandbox.client.run_as_user_id) as w,
    ):
        w.undelete(relation)
    assert caught.value.error_code == "UNDELETE_FAILED"


@pytest.mark.parametrize("carry", [True, False], ids=["collections-carry-client", "collections-drop-client"])
def test_r_merge_3_collections_client_origin_is_switchable(
    sf: Salesforce, sandbox: SalesforceSandbox, sink: ListSink, carry: bool
) -> None:
    """Whether Salesforce puts `client=` into changeOrigin for sObject Collections is unverified; the sandbox
    can play either answer, so the bridge's second echo guard can be tested without it."""
    sandbox.org.collections_carry_client = carry
    try:
        records = [{"attributes": {"type": "Event"}, "Subject": unique("Batch"), **TIMES}]
        sf.restful(
            "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}, headers=BRIDGE
        )
    finally:
        sandbox.org.collections_carry_client = True
    expected = "com/salesforce/api/rest/62.0" + (";client=calbridge-test" if carry else "")
    assert _only(sink)[0].origin == expected
