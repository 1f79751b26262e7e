"""Reads (few SOQL calls, every value escaped), the directory cache, and OAuth tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce.api import Salesforce

from bridge.core.fields import event_from_salesforce, version_stamp
from bridge.core.model import RelationKind
from bridge.errors import ConfigError, MappingError
from bridge.ports import StreamPosition
from bridge.salesforce import SalesforceAdapter, SalesforceConnection, open_salesforce, soql
from bridge.salesforce.changes import EVENT_TOPIC, EventSchema, change_notice
from bridge.salesforce.reads import UNSETTLED_S
from bridge.sandbox.runner import Sandbox
from bridge.sandbox.salesforce.server import INTEGRATION_USERNAME
from tests.adapters.salesforce.conftest import unique


async def test_read_events_gives_fields_invitees_with_emails_and_a_core_copy(
    salesforce: SalesforceAdapter, plain: Salesforce, make_event: Callable[..., str]
) -> None:
    contact = str(plain.Contact.create({"LastName": "Reader", "Email": "Reader.One@Example.test"})["id"])
    event_id = make_event(Location="Room 9")
    plain.EventRelation.create({"EventId": event_id, "RelationId": contact, "Status": "Accepted"})
    before = salesforce.calls["query"]
    records = await salesforce.read_events([event_id, "00U00000000zzzzAAA"])
    assert salesforce.calls["query"] - before == 2  # events, then their relations
    assert set(records) == {event_id}  # the missing id is deleted
    record = records[event_id]
    [relation] = record.relations
    assert (relation.relation_id, relation.kind, relation.email, relation.status) == (
        contact,
        RelationKind.CONTACT,
        "Reader.One@Example.test",
        "Accepted",
    )
    copy = event_from_salesforce(record.fields, record.relations)
    assert copy.content.location == "Room 9"
    assert version_stamp(copy.version) == record.fields["LastModifiedDate"]
    assert [a.email for a in copy.content.attendees] == ["reader.one@example.test"]


async def test_r_time_4_window_of_many_owners_in_one_query(
    salesforce: SalesforceAdapter, endpoints: dict[str, Any]
) -> None:
    owners = [u["salesforce_user_id"] for u in endpoints["users"]]
    now = dt.datetime.now(dt.UTC)
    before = salesforce.calls["query"]
    window = await salesforce.window_events(owners, now - dt.timedelta(days=30), now + dt.timedelta(days=60))
    assert salesforce.calls["query"] - before == 2  # events and relations, for every owner at once
    assert set(window) == set(owners) and all(window[o] for o in owners)
    for owner, records in window.items():
        assert all(r.owner_id == owner for r in records)
    assert any(r.relations for records in window.values() for r in records)


async def test_r_time_4_window_digests_are_one_query_for_every_owner_and_change_with_the_window(
    salesforce: SalesforceAdapter,
    plain: Salesforce,
    endpoints: dict[str, Any],
    owner: str,
    make_event: Callable[..., str],
) -> None:
    owners = [u["salesforce_user_id"] for u in endpoints["users"]]
    nobody = "005000000000000AAA"  # an owner with no events
    now = dt.datetime.now(dt.UTC)
    span = (now - dt.timedelta(days=30), now + dt.timedelta(days=60))
    event_id = make_event()
    await asyncio.sleep(UNSETTLED_S + 0.1)  # SystemModstamp counts seconds: a fresh change is never "equal"
    before = salesforce.calls["query"]
    first = await salesforce.window_digests([*owners, nobody], *span)
    assert salesforce.calls["query"] - before == 1
    assert first[nobody] == "" and all(first[o] for o in owners)
    assert await salesforce.window_digests(owners, *span) == {o: first[o] for o in owners}
    plain.Event.update(event_id, {"Location": "Moved"})
    changed = await salesforce.window_digests(owners, *span)
    assert changed[owner] != first[owner]
    assert {o: d for o, d in changed.items() if o != owner} == {o: first[o] for o in owners if o != owner}
    # Changed again within the same second: the stamp cannot tell, so a fresh digest equals no other.
    plain.Event.update(event_id, {"Location": "Moved again"})
    assert (await salesforce.window_digests([owner], *span))[owner] != changed[owner]
    plain.Event.delete(event_id)
    assert (await salesforce.window_digests([owner], *span))[owner] != first[owner]


async def test_r_att_8_resolve_users_contacts_leads_case_insensitively_and_cached(
    salesforce: SalesforceAdapter, plain: Salesforce, endpoints: dict[str, Any]
) -> None:
    user_email = endpoints["users"][0]["email"]
    lead_email = f"{unique('lead').replace(' ', '')}@prospect.test"
    lead = str(plain.Lead.create({"LastName": "Prospect", "Company": "Quarry", "Email": lead_email})["id"])
    first = salesforce.calls["query"]
    directory = await salesforce.resolve([user_email.upper(), lead_email, "nobody@nowhere.test"])
    assert salesforce.calls["query"] == first + 1  # User, Contact and Lead asked in one composite call
    assert [r.kind for r in directory.lookup(user_email)] == [RelationKind.USER]
    assert [(r.relation_id, r.kind) for r in directory.lookup(lead_email)] == [(lead, RelationKind.LEAD)]
    assert directory.lookup("nobody@nowhere.test") == ()
    before = salesforce.calls["query"]
    again = await salesforce.resolve([lead_email, user_email])
    assert salesforce.calls["query"] == before  # addresses found are answered from the cache
    assert again.lookup(lead_email) == directory.lookup(lead_email)
    # A miss is asked again: the address resolves once a Contact has it (tried at the next change).
    contact = str(plain.Contact.create({"LastName": "Nobody", "Email": "nobody@nowhere.test"})["id"])
    later = await salesforce.resolve(["NOBODY@nowhere.test"])
    assert [(r.relation_id, r.kind) for r in later.lookup("nobody@nowhere.test")] == [
        (contact, RelationKind.CONTACT)
    ]


async def test_r_sec_4_soql_values_with_quotes_and_backslashes_are_data(
    salesforce: SalesforceAdapter, plain: Salesforce
) -> None:
    tricky = "o'brien\\x\"@example.test"
    contact = str(plain.Contact.create({"LastName": "Quote", "Email": tricky})["id"])
    injection = "x' OR Email != 'y"
    directory = await salesforce.resolve([tricky, injection, "back\\slash@example.test\\"])
    assert [r.relation_id for r in directory.lookup(tricky)] == [contact]
    assert directory.lookup(injection) == ()  # not a query that matches every contact
    with pytest.raises(MappingError):
        await salesforce.read_events(["00U' OR Id != '"])  # an id that is not an id never reaches SOQL


def test_r_sec_4_quote_escapes_salesforce_s_reserved_characters() -> None:
    assert soql.quote("a'b") == "'a\\'b'"
    assert soql.quote("a\\b") == "'a\\\\b'"
    assert soql.quote('a"b\nc') == "'a\\\"b\\nc'"
    assert soql.id_list(["00U000000000001AAA"]) == "('00U000000000001AAA')"


async def test_r_sec_1_rest_gets_a_new_token_after_the_sandbox_invalidates_it(
    salesforce: SalesforceAdapter, sandbox: Sandbox, make_event: Callable[..., str]
) -> None:
    event_id = make_event()
    await salesforce.read_events([event_id])
    org = sandbox.salesforce.org
    with org.lock:
        token = await salesforce.tokens.current()
        del org.sessions[token]
    assert event_id in await salesforce.read_events([event_id])
    await salesforce.update_event(event_id, None, {"Subject": "after a new token"})
    assert salesforce.tokens.refreshed == 2 and await salesforce.tokens.current() != token


def _signing_key(sandbox: Sandbox) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calbridge-adapter-test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    app = sandbox.salesforce.org.clients[sandbox.salesforce.client.client_id]
    app.certificates.append(certificate.public_bytes(serialization.Encoding.PEM).decode())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


async def test_jwt_bearer_flow_serves_rest(
    connection: SalesforceConnection, sandbox: Sandbox, make_event: Callable[..., str]
) -> None:
    jwt_connection = replace(
        connection,
        auth="jwt",
        client_secret="",
        username=INTEGRATION_USERNAME,
        private_key=_signing_key(sandbox),
    )
    assert "PRIVATE KEY" not in repr(jwt_connection)
    event_id = make_event()
    async with open_salesforce(jwt_connection) as adapter:
        assert event_id in await adapter.read_events([event_id])
        assert adapter.calls["auth"] == 1


async def test_r_sec_1_refused_credentials_are_a_config_error_without_the_secret(
    connection: SalesforceConnection,
) -> None:
    wrong = replace(connection, client_secret="not-the-secret-" + "9" * 20)
    async with open_salesforce(wrong) as adapter:
        with pytest.raises(ConfigError) as refused:
            await adapter.read_events(["00U000000000001AAA"])
    assert "invalid_client" in str(refused.value) and wrong.client_secret not in str(refused.value)


def test_r_sec_1_secrets_never_in_reprs(connection: SalesforceConnection) -> None:
    assert connection.client_secret and connection.client_secret not in repr(connection)

    async def reprs() -> str:
        async with open_salesforce(connection) as adapter:
            token = await adapter.tokens.current()
            text = repr(adapter) + repr(adapter.tokens)
            assert token not in text
            return text

    assert connection.client_secret not in asyncio.run(reprs())


def test_configuration_errors_name_the_key(connection: SalesforceConnection) -> None:
    with pytest.raises(ConfigError, match=r"salesforce\.api_budget"):
        replace(connection, api_budget=1.5)
    with pytest.raises(ConfigError, match=r"salesforce\.private_key"):
        replace(connection, auth="jwt", username="someone")


def _event_schema(sandbox: Sandbox) -> EventSchema:
    topic = sandbox.salesforce.bus.topic(EVENT_TOPIC)
    assert topic is not None and topic.schema is not None
    return EventSchema.parse(topic.schema_id, topic.schema.schema_json)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ({"changedFields": ["0x" + "F" * 40]}, "past the schema"),
        ({"changedFields": ["nonsense"]}, "names no field"),
        ({"changeType": "RENAME"}, "unknown change type"),
        ({"recordIds": []}, "no record ids"),
    ],
)
def test_malformed_change_event_is_a_mapping_error_naming_the_record(
    sandbox: Sandbox, header: dict[str, Any], problem: str
) -> None:
    base = {
        "entityName": "Event",
        "recordIds": ["00U000000000042AAA"],
        "changeType": "UPDATE",
        "changeOrigin": "",
        "commitTimestamp": int(time.time() * 1000),
        "changedFields": [],
        "nulledFields": [],
        "diffFields": [],
    }
    datum = {"ChangeEventHeader": {**base, **header}}
    with pytest.raises(MappingError) as error:
        change_notice(_event_schema(sandbox), datum, StreamPosition("sf:" + EVENT_TOPIC, "2a"), "calbridge")
    assert problem in str(error.value) and "replay 2a" in str(error.value)
    if header.get("recordIds") != []:
        assert "00U000000000042AAA" in str(error.value)
