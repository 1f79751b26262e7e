"""EventWhoIds (Shared Activities, a JunctionIdList) through simple-salesforce: the whole Who list of an
event set on create and update, WhoId as its primary, null keeping only the WhoId, and the Who limits;
the Organization row and where the org shows its settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from bridge.sandbox.salesforce.server import SalesforceSandbox
from tests.sandbox.salesforce.conftest import unique

TIMES = {"StartDateTime": "2026-11-24T09:00:00.000+0000", "DurationInMinutes": 30}


def _whos(sf: Salesforce, event_id: str) -> set[str]:
    rows = sf.query(
        "SELECT RelationId FROM EventRelation "
        f"WHERE EventId = '{event_id}' AND IsParent = true AND IsWhat = false"
    )["records"]
    return {r["RelationId"] for r in rows}


def _create(sf: Salesforce, **fields: Any) -> str:
    return str(sf.Event.create({"Subject": unique("Whos"), **TIMES, **fields})["id"])


def _refused(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        call()
    return dict(caught.value.content[0])


def test_r_att_10_event_who_ids_is_described_as_a_junction_id_list(sf: Salesforce) -> None:
    described = {f["name"]: f for f in sf.Event.describe()["fields"]}["EventWhoIds"]
    assert described["type"] == "junctionidlist"
    assert (described["createable"], described["updateable"], described["filterable"]) == (True, True, False)
    assert described["referenceTo"] == ["Contact", "Lead"]


def test_r_att_10_create_with_a_list_makes_the_first_the_who_id(
    sf: Salesforce, make_contact: Callable[..., str]
) -> None:
    contacts = [make_contact() for _ in range(3)]
    event_id = _create(sf, EventWhoIds=contacts)
    assert sf.Event.get(event_id)["WhoId"] == contacts[0]
    assert _whos(sf, event_id) == set(contacts)


def test_r_att_10_a_given_who_id_stays_primary_and_joins_the_list(
    sf: Salesforce, make_contact: Callable[..., str]
) -> None:
    primary, *others = [make_contact() for _ in range(3)]
    event_id = _create(sf, WhoId=primary, EventWhoIds=others)
    assert sf.Event.get(event_id)["WhoId"] == primary
    assert _whos(sf, event_id) == {primary, *others}


def test_r_att_10_update_with_a_list_replaces_the_whos(
    sf: Salesforce, make_contact: Callable[..., str]
) -> None:
    first, second, third = (make_contact() for _ in range(3))
    event_id = _create(sf, EventWhoIds=[first, second])
    sf.Event.update(event_id, {"EventWhoIds": [first, third]})
    assert _whos(sf, event_id) == {first, third}
    assert sf.Event.get(event_id)["WhoId"] == first
    sf.Event.update(event_id, {"EventWhoIds": [third]})  # the primary left the list: the next one leads
    assert _whos(sf, event_id) == {third}
    assert sf.Event.get(event_id)["WhoId"] == third
    sf.Event.update(event_id, {"WhoId": None, "EventWhoIds": [second, first]})
    assert (_whos(sf, event_id), sf.Event.get(event_id)["WhoId"]) == ({first, second}, second)


def test_r_att_10_setting_it_to_null_removes_all_but_the_who_id(
    sf: Salesforce, make_contact: Callable[..., str]
) -> None:
    contacts = [make_contact() for _ in range(4)]
    event_id = _create(sf, EventWhoIds=contacts)
    sf.Event.update(event_id, {"EventWhoIds": None})
    assert _whos(sf, event_id) == {contacts[0]}
    assert sf.Event.get(event_id)["WhoId"] == contacts[0]


def test_r_att_10_who_that_is_also_an_invitee_keeps_its_invitation(
    sf: Salesforce, make_contact: Callable[..., str]
) -> None:
    primary, guest = make_contact(), make_contact()
    event_id = _create(sf, EventWhoIds=[primary, guest])
    invited = sf.query(
        f"SELECT Id FROM EventRelation WHERE EventId = '{event_id}' AND RelationId = '{guest}'"
    )
    sf.EventRelation.update(invited["records"][0]["Id"], {"IsInvitee": True})
    sf.Event.update(event_id, {"EventWhoIds": None})
    row = sf.EventRelation.get(invited["records"][0]["Id"])
    assert (row["IsInvitee"], row["IsParent"]) == (True, False)


def test_r_att_10_list_limits_and_kinds(
    sf: Salesforce,
    make_contact: Callable[..., str],
    make_lead: Callable[[], str],
    make_user: Callable[[], str],
) -> None:
    contact, lead = make_contact(), make_lead()
    error = _refused(lambda: _create(sf, EventWhoIds=[contact, lead]))
    assert (error["errorCode"], error["fields"]) == ("FIELD_INTEGRITY_EXCEPTION", ["EventWhoIds"])
    assert sf.Event.get(_create(sf, EventWhoIds=[lead]))["WhoId"] == lead
    error = _refused(lambda: _create(sf, EventWhoIds=[contact, make_user()]))
    assert (error["errorCode"], error["fields"]) == ("FIELD_INTEGRITY_EXCEPTION", ["EventWhoIds"])
    error = _refused(lambda: _create(sf, EventWhoIds=["003000000000000AAA"]))
    assert error["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    error = _refused(lambda: _create(sf, EventWhoIds=["not an id"]))
    assert error["errorCode"] == "MALFORMED_ID"
    error = _refused(lambda: _create(sf, EventWhoIds=contact))
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    error = _refused(lambda: _create(sf, EventWhoIds=[contact], IsPrivate=True))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_r_att_10_at_most_50_contacts_in_the_list(sf: Salesforce, make_contact: Callable[..., str]) -> None:
    contacts = [make_contact() for _ in range(51)]
    error = _refused(lambda: _create(sf, EventWhoIds=contacts))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    event_id = _create(sf, EventWhoIds=contacts[:50])
    assert len(_whos(sf, event_id)) == 50
    assert _refused(lambda: sf.Event.update(event_id, {"EventWhoIds": contacts}))["fields"] == ["EventWhoIds"]
    assert len(_whos(sf, event_id)) == 50


def test_organization_is_queryable_with_its_name(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    [org] = sf.query("SELECT Id, Name FROM Organization")["records"]
    assert (org["Id"], org["Name"]) == (sandbox.org.org_id, sandbox.org.name)
    assert org["attributes"]["type"] == "Organization"
    # Shared Activities shows where Salesforce shows it: in describe (see also the org without it).
    relation_fields = {f["name"] for f in sf.EventRelation.describe()["fields"]}
    assert {"IsParent", "IsWhat"} <= relation_fields


def test_pubsub_default_timings_are_the_documented_ones(sandbox: SalesforceSandbox) -> None:
    assert sandbox.pubsub.keepalive == timedelta(seconds=270)
    assert sandbox.pubsub.idle_close == timedelta(seconds=60)
    assert sandbox.bus.retention == timedelta(hours=72)
