"""Auth, impersonation and delegation, the version probe, and how bad requests are answered."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from exchangelib import DELEGATE, UTC, Account, CalendarItem, EWSDateTime
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorInvalidOperation,
    UnauthorizedError,
)
from exchangelib.properties import ItemId
from exchangelib.protocol import close_connections
from lxml import etree

from bridge.sandbox.exchange import ExchangeSandbox
from bridge.sandbox.exchange.client_tls import ca_bundle

from .conftest import make_config

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
S = "http://schemas.xmlsoap.org/soap/envelope/"


def _post(sandbox: ExchangeSandbox, body: bytes, auth: tuple[str, str] | None = None) -> requests.Response:
    ends = sandbox.endpoints()
    return requests.post(
        ends["ews_url"],
        data=body,
        auth=auth or (ends["username"], ends["password"]),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        verify=ca_bundle(sandbox.tls.ca_pem),
        timeout=10,
    )


def _envelope(body: str, header: str = "") -> bytes:
    return (
        f'<s:Envelope xmlns:s="{S}" xmlns:m="{M}" xmlns:t="{T}"><s:Header>'
        f'<t:RequestServerVersion Version="Exchange2016"/>{header}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _impersonate(address: str) -> str:
    return (
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>"
        f"{address}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    )


def _codes(response: requests.Response) -> list[str]:
    root = etree.fromstring(response.content)
    return [e.text or "" for e in root.iter(f"{{{M}}}ResponseCode")]


def test_every_answer_carries_server_version_info(sandbox: ExchangeSandbox) -> None:
    body = _envelope(
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>"
        '<t:DistinguishedFolderId Id="calendar"/><t:DistinguishedFolderId Id="nosuchfolder"/></m:FolderIds>'
        "</m:GetFolder>",
        _impersonate("alice@sandbox.example"),
    )
    response = _post(sandbox, body)
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    info = root.find(f"{{{S}}}Header/{{{T}}}ServerVersionInfo")
    assert (
        info is not None and info.get("Version") == "Exchange2016" and info.get("MajorBuildNumber") == "2507"
    )
    assert _codes(response) == ["NoError", "ErrorFolderNotFound"]  # one message per folder id, in order


def test_bad_credentials_get_401_with_basic_challenge(sandbox: ExchangeSandbox) -> None:
    response = _post(sandbox, _envelope("<m:GetFolder/>"), auth=(sandbox.username, "wrong"))
    assert response.status_code == 401
    assert "basic" in response.headers["WWW-Authenticate"].lower()
    config = make_config(sandbox, password="not-the-password")
    account = Account("alice@sandbox.example", config=config, autodiscover=False, default_timezone=UTC)
    with pytest.raises(UnauthorizedError):
        account.calendar.refresh()
    close_connections()


def test_impersonating_a_mailbox_without_rights_is_denied(account_for: Callable[..., Account]) -> None:
    with pytest.raises(ErrorImpersonateUserDenied):
        account_for("locked@sandbox.example").calendar.refresh()


def test_delegate_access_reaches_the_mailbox_named_in_the_folder_id(
    account_for: Callable[..., Account], sandbox: ExchangeSandbox
) -> None:
    carol = account_for("carol@sandbox.example", DELEGATE)
    item = CalendarItem(
        account=carol,
        folder=carol.calendar,
        subject="delegated",
        start=EWSDateTime(2031, 1, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2031, 1, 1, 10, tzinfo=UTC),
    )
    item.save()
    seen_by_impersonation = account_for("carol@sandbox.example").calendar.get(id=item.id)
    assert seen_by_impersonation.subject == "delegated"
    with pytest.raises(ErrorAccessDenied):
        account_for("locked@sandbox.example", DELEGATE).calendar.refresh()


def test_version_probe_without_version_uses_convert_id(sandbox: ExchangeSandbox) -> None:
    close_connections()
    config = make_config(sandbox, version=None)
    assert config.version is None
    account = Account("alice@sandbox.example", config=config, autodiscover=False, default_timezone=UTC)
    assert account.version.api_version == "Exchange2016"
    assert account.calendar.name == "Calendar"
    close_connections()


def test_auth_type_probe_finds_basic(sandbox: ExchangeSandbox) -> None:
    close_connections()
    ends = sandbox.endpoints()
    from exchangelib import Configuration, Credentials

    config = Configuration(
        service_endpoint=ends["ews_url"], credentials=Credentials(ends["username"], ends["password"])
    )
    account = Account("alice@sandbox.example", config=config, autodiscover=False, default_timezone=UTC)
    assert account.protocol.auth_type == "basic"
    close_connections()


def test_malformed_xml_is_a_schema_validation_fault_and_service_goes_on(
    sandbox: ExchangeSandbox, alice: Account
) -> None:
    response = _post(sandbox, b"<s:Envelope xmlns:s='x'><unclosed>")
    assert response.status_code == 500
    assert response.content.startswith(b"<?xml")
    assert b"ErrorSchemaValidation" in response.content
    doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    response = _post(sandbox, doctype)
    assert response.status_code == 500 and b"ErrorSchemaValidation" in response.content
    assert alice.calendar.name == "Calendar"


def test_unknown_operation_is_a_per_message_error_not_a_version_error(sandbox: ExchangeSandbox) -> None:
    response = _post(sandbox, _envelope("<m:FlyToTheMoon/>", _impersonate("alice@sandbox.example")))
    assert response.status_code == 200
    assert _codes(response) == ["ErrorInvalidOperation"]
    assert b"FlyToTheMoonResponse" in response.content


def test_unknown_and_malformed_ids(alice: Account) -> None:
    results = list(alice.fetch(ids=[ItemId(id="AABJ" + "A" * 28, changekey=None), ItemId(id="bogus")]))
    assert [type(r).__name__ for r in results] == ["ErrorItemNotFound", "ErrorInvalidIdMalformed"]
    assert alice.calendar.name == "Calendar"


def test_malformed_changekey_is_rejected(fresh: Account) -> None:
    item = CalendarItem(
        account=fresh,
        folder=fresh.calendar,
        subject="ck",
        start=EWSDateTime(2031, 2, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2031, 2, 1, 10, tzinfo=UTC),
    )
    item.save()
    item._id = ItemId(id=item.id, changekey="not-a-change-key")
    item.subject = "changed"
    with pytest.raises(Exception) as caught:
        item.save(update_fields=["subject"])
    assert type(caught.value).__name__ == "ErrorInvalidChangeKey"


def test_calendar_view_with_restriction_is_invalid_operation(alice: Account) -> None:
    window = alice.calendar.view(
        start=EWSDateTime(2030, 1, 1, tzinfo=UTC), end=EWSDateTime(2030, 1, 2, tzinfo=UTC)
    ).filter(subject="x")
    with pytest.raises(ErrorInvalidOperation):
        list(window)


def test_unknown_field_uris_in_a_shape_are_ignored(sandbox: ExchangeSandbox) -> None:
    body = _envelope(
        "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        '<t:FieldURI FieldURI="folder:NoSuchThing"/></t:AdditionalProperties></m:FolderShape>'
        '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>',
        _impersonate("alice@sandbox.example"),
    )
    assert _codes(_post(sandbox, body)) == ["NoError"]


def test_endpoints_shape(sandbox: ExchangeSandbox) -> None:
    ends = sandbox.endpoints()
    assert set(ends) == {"ews_url", "username", "password", "mailboxes"}
    assert ends["ews_url"].startswith("https://127.0.0.1:") and ends["ews_url"].endswith("/EWS/Exchange.asmx")
    assert "alice@sandbox.example" in ends["mailboxes"]
    assert sandbox.admin_url.endswith("/_sandbox/faults") and sandbox.admin_token


def test_times_without_offset_are_read_in_the_request_time_zone(
    sandbox: ExchangeSandbox, fresh: Account
) -> None:
    address = fresh.primary_smtp_address
    body = _envelope(
        '<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem>'
        "<t:Subject>naive</t:Subject><t:Start>2030-01-15T09:00:00</t:Start><t:End>2030-01-15T10:00:00</t:End></t:CalendarItem></m:Items>"
        "</m:CreateItem>",
        _impersonate(address)
        + '<t:TimeZoneContext><t:TimeZoneDefinition Id="Eastern Standard Time"/></t:TimeZoneContext>',
    )
    assert _codes(_post(sandbox, body)) == ["NoError"]
    (item,) = list(fresh.calendar.all())
    assert item.start == EWSDateTime(2030, 1, 15, 14, tzinfo=UTC)  # 09:00 in New York in winter


def test_plaintext_switch_serves_http_for_debugging() -> None:
    from bridge.sandbox.exchange import running_exchange_sandbox
    from bridge.sandbox.tls import SandboxTLS

    with running_exchange_sandbox(SandboxTLS.generate(), ["plain@sandbox.example"], plaintext=True) as plain:
        assert plain.endpoints()["ews_url"].startswith("http://")
        config = make_config(plain)
        account = Account("plain@sandbox.example", config=config, autodiscover=False, default_timezone=UTC)
        assert account.calendar.name == "Calendar"
        close_connections()


def test_extended_field_uri_is_echoed_exactly_as_the_request_spelled_it(
    sandbox: ExchangeSandbox, fresh: Account
) -> None:
    item = CalendarItem(
        account=fresh,
        folder=fresh.calendar,
        subject="echo",
        start=EWSDateTime(2031, 3, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2031, 3, 1, 10, tzinfo=UTC),
        sf_id="00UECHO",
    )
    item.save()
    upper = "6A1F0C2E-3B7D-4A59-9C1E-5F0B8D2A7E11"
    body = _envelope(
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        f'<t:ExtendedFieldURI PropertySetId="{upper}" PropertyName="SalesforceEventId" '
        'PropertyType="String"/>'
        '<t:FieldURI FieldURI="calendar:NoSuchField"/></t:AdditionalProperties></m:ItemShape>'
        f'<m:ItemIds><t:ItemId Id="{item.id}"/></m:ItemIds></m:GetItem>',
        _impersonate(fresh.primary_smtp_address),
    )
    root = etree.fromstring(_post(sandbox, body).content)
    uri = root.find(f".//{{{T}}}ExtendedProperty/{{{T}}}ExtendedFieldURI")
    assert uri is not None and uri.get("PropertySetId") == upper
    assert root.findtext(f".//{{{T}}}ExtendedProperty/{{{T}}}Value") == "00UECHO"
