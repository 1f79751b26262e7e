"""FindItem with IndexedPageItemView and Restrictions; AppendToItemField; faults on demand."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from exchangelib import (
    UTC,
    Account,
    Attendee,
    CalendarItem,
    Configuration,
    EWSDateTime,
    ExtendedProperty,
    FaultTolerance,
    Mailbox,
    Q,
)
from exchangelib.errors import ErrorInternalServerTransientError, ErrorServerBusy
from exchangelib.protocol import close_connections
from exchangelib.services import UpdateItem

from bridge.sandbox.exchange import ExchangeSandbox
from bridge.sandbox.exchange.client_tls import ca_bundle

from .conftest import make_config


def _save(account: Account, subject: str, **fields: Any) -> CalendarItem:
    fields.setdefault("start", EWSDateTime(2030, 10, 1, 9, tzinfo=UTC))
    fields.setdefault("end", EWSDateTime(2030, 10, 1, 10, tzinfo=UTC))
    item = CalendarItem(account=account, folder=account.calendar, subject=subject, **fields)
    item.save()
    return item


def test_filter_by_extended_property_and_category(fresh: Account) -> None:
    _save(fresh, "linked", sf_id="00UA", categories=["Salesforce"])
    _save(fresh, "other link", sf_id="00UB")
    _save(fresh, "plain", categories=["Personal"])
    assert [i.subject for i in fresh.calendar.filter(sf_id="00UA")] == ["linked"]
    assert sorted(i.subject for i in fresh.calendar.filter(sf_id__exists=True)) == ["linked", "other link"]
    assert [i.subject for i in fresh.calendar.filter(categories__contains=["Salesforce"])] == ["linked"]
    either = fresh.calendar.filter(Q(categories__contains=["Personal"]) | Q(sf_id="00UB"))
    assert sorted(i.subject for i in either) == ["other link", "plain"]
    assert [i.subject for i in fresh.calendar.filter(subject__icontains="PLA")] == ["plain"]
    assert fresh.calendar.filter(sf_id="00UA").count() == 1


def test_indexed_paging_walks_every_page(fresh: Account) -> None:
    for n in range(12):
        _save(fresh, f"page {n:02d}", categories=["Salesforce"])
    found = fresh.calendar.filter(categories__contains=["Salesforce"])
    found.page_size = (
        5  # three FindItem pages: IndexedPagingOffset and IncludesLastItemInRange drive the loop
    )
    assert sorted(i.subject for i in found) == [f"page {n:02d}" for n in range(12)]


def test_append_to_item_field_adds_attendees(fresh: Account) -> None:
    item = _save(
        fresh, "grow", required_attendees=[Attendee(mailbox=Mailbox(email_address="one@elsewhere.example"))]
    )
    item.required_attendees = [Attendee(mailbox=Mailbox(email_address="two@elsewhere.example"))]
    # exchangelib exposes AppendToItemField through UpdateItem's payload for list fields it appends to.
    svc = UpdateItem(account=fresh)
    payload = svc.get_payload(
        items=[(item, ["required_attendees"])],
        conflict_resolution="AutoResolve",
        message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone",
        suppress_read_receipts=True,
    )
    for elem in payload.iter("{http://schemas.microsoft.com/exchange/services/2006/types}SetItemField"):
        elem.tag = "{http://schemas.microsoft.com/exchange/services/2006/types}AppendToItemField"
    list(svc._get_elements(payload=payload))
    got = fresh.calendar.get(id=item.id)
    assert [a.mailbox.email_address for a in got.required_attendees] == [
        "one@elsewhere.example",
        "two@elsewhere.example",
    ]


def test_server_busy_carries_back_off(alice: Account, sandbox: ExchangeSandbox) -> None:
    sandbox.faults.server_busy(count=1, back_off_ms=1500, operations=["GetFolder"])
    with pytest.raises(ErrorServerBusy) as caught:
        alice.root.refresh()
    assert caught.value.back_off == 1.5
    alice.root.refresh()  # only one request was throttled


def test_fault_tolerance_retries_through_busy_and_503(sandbox: ExchangeSandbox) -> None:
    close_connections()
    config: Configuration = make_config(sandbox, retry_policy=FaultTolerance(max_wait=10))
    account = Account("alice@sandbox.example", config=config, autodiscover=False, default_timezone=UTC)
    sandbox.faults.server_busy(count=1, back_off_ms=100)
    sandbox.faults.unavailable(count=1, retry_after=1)
    assert account.calendar.name == "Calendar"
    close_connections()


def test_503_under_fail_fast(alice: Account, sandbox: ExchangeSandbox) -> None:
    sandbox.faults.unavailable(count=1)
    # exchangelib turns a 503 into ErrorInternalServerTransientError and, failing fast, re-raises it as busy.
    with pytest.raises(ErrorServerBusy) as caught:
        alice.root.refresh()
    assert isinstance(caught.value.__cause__ or caught.value.__context__, ErrorInternalServerTransientError)


def test_admin_endpoint_needs_the_token_and_applies_faults(alice: Account, sandbox: ExchangeSandbox) -> None:
    verify = ca_bundle(sandbox.tls.ca_pem)
    denied = requests.post(
        sandbox.admin_url, json={"fault": "latency", "seconds": 1}, verify=verify, timeout=5
    )
    assert denied.status_code == 403
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    bad = requests.post(
        sandbox.admin_url, json={"fault": "meteor"}, headers=headers, verify=verify, timeout=5
    )
    assert bad.status_code == 400 and "unknown fault" in bad.json()["error"]
    ok = requests.post(
        sandbox.admin_url,
        json={"fault": "latency", "seconds": 0.3},
        headers=headers,
        verify=verify,
        timeout=5,
    )
    assert ok.status_code == 200
    started = time.monotonic()
    alice.root.refresh()
    assert time.monotonic() - started >= 0.3
    busy = {"fault": "server_busy", "count": 1, "back_off_ms": 700}
    assert (
        requests.post(sandbox.admin_url, json=busy, headers=headers, verify=verify, timeout=5).status_code
        == 200
    )
    sandbox.faults.add_latency(0)
    with pytest.raises(ErrorServerBusy):
        alice.root.refresh()


def test_server_side_sort_order(fresh: Account) -> None:
    for hour, subject in ((11, "b"), (9, "c"), (10, "a")):
        _save(
            fresh,
            subject,
            start=EWSDateTime(2030, 10, 2, hour, tzinfo=UTC),
            end=EWSDateTime(2030, 10, 2, 12, tzinfo=UTC),
        )
    assert [i.subject for i in fresh.calendar.all().order_by("subject")] == ["a", "b", "c"]
    assert [i.subject for i in fresh.calendar.all().order_by("-start")] == ["b", "a", "c"]


class _Rank(ExtendedProperty):  # type: ignore[misc]
    property_set_id = "0b7c2a51-6f1e-4c3d-8a9b-2e4f6d8c0a13"
    property_name = "Rank"
    property_type = "Integer"


def test_integer_extended_properties_compare_as_numbers(fresh: Account) -> None:
    CalendarItem.register("rank", _Rank)
    try:
        for rank in (9, 10, 100):
            _save(fresh, f"rank {rank}", rank=rank)
        assert sorted(i.rank for i in fresh.calendar.filter(rank__gt=9)) == [10, 100]  # as text, "10" < "9"
        assert [i.rank for i in fresh.calendar.filter(rank__lte=10).order_by("rank")] == [9, 10]
        assert [i.subject for i in fresh.calendar.filter(rank=100)] == ["rank 100"]
    finally:
        CalendarItem.deregister("rank")


def test_find_item_returns_the_first_255_characters_of_long_text(fresh: Account) -> None:
    long_place = "L" * 200 + "M" * 100
    item = _save(fresh, "long text", location=long_place, categories=["Long"])
    # exchangelib asks GetItem for "complex" fields; unmarking location makes it read it from FindItem, as
    # exchangelib's own test_text_field_settings does to see what FindItem returns.
    location = CalendarItem.get_field_by_fieldname("location")
    location.is_complex = False
    try:
        (short,) = fresh.calendar.filter(categories__contains=["Long"]).only("location")
    finally:
        location.is_complex = True
    assert short.location == long_place[:255]
    assert fresh.calendar.get(id=item.id).location == long_place  # GetItem: the whole value
