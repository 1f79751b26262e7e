"""Subscriptions: streaming (one chunked response of several envelopes) and pull, through exchangelib.

The session's sandbox runs with a one-second EWS minute, so ConnectionTimeout=1 closes a stream after ~1 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from exchangelib import UTC, Account, CalendarItem, EWSDateTime
from exchangelib.errors import ErrorExpiredSubscription, ErrorInvalidSubscription, ErrorSubscriptionNotFound
from exchangelib.properties import CreatedEvent, DeletedEvent, ModifiedEvent, MovedEvent, Notification

from bridge.sandbox.exchange import ExchangeSandbox
from bridge.sandbox.exchange.client_tls import ca_bundle


def _save(account: Account, subject: str) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime(2030, 8, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2030, 8, 1, 10, tzinfo=UTC),
    )
    item.save()
    return item


def _events(notifications: Iterator[Notification]) -> list[Any]:
    return [event for n in notifications for event in n.events]


def test_streaming_delivers_events_queued_before_and_during_the_connection(fresh: Account) -> None:
    subscription_id = fresh.calendar.subscribe_to_streaming()
    first = _save(fresh, "before connecting")  # queued, delivered in the first part
    later: list[str] = []

    def writer() -> None:
        time.sleep(0.3)
        item = _save(fresh, "while streaming")
        item.subject = "changed"
        item.save(update_fields=["subject"])
        later.append(item.id)
        item.delete()

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    events = _events(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=1))
    thread.join()
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 5  # ended by the server's Closed part after ConnectionTimeout
    kinds = [type(e) for e in events]
    assert kinds == [CreatedEvent, CreatedEvent, ModifiedEvent, DeletedEvent]
    assert events[0].item_id.id == first.id
    assert events[1].item_id.id == later[0] and events[1].parent_folder_id.id == fresh.calendar.id
    fresh.calendar.unsubscribe(subscription_id)


def test_one_chunked_response_carries_several_envelopes(fresh: Account, sandbox: ExchangeSandbox) -> None:
    subscription_id = fresh.calendar.subscribe_to_streaming()
    _save(fresh, "one")
    body = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
        '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body><m:GetStreamingEvents>'
        f"<m:SubscriptionIds><t:SubscriptionId>{subscription_id}</t:SubscriptionId></m:SubscriptionIds>"
        "<m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents></s:Body></s:Envelope>"
    )
    ends = sandbox.endpoints()
    response = requests.post(
        ends["ews_url"],
        data=body.encode(),
        auth=(ends["username"], ends["password"]),
        headers={"Content-Type": "text/xml; charset=utf-8", "X-AnchorMailbox": fresh.primary_smtp_address},
        verify=ca_bundle(sandbox.tls.ca_pem),
        stream=True,
        timeout=10,
    )
    assert response.headers.get("Transfer-Encoding") == "chunked"
    text = response.content.decode()
    assert text.count("<s:Envelope") >= 2  # the first part and the final Closed part at least
    assert text.index("CreatedEvent") < text.rindex("<m:ConnectionStatus>Closed</m:ConnectionStatus>")
    assert text.count("<m:ConnectionStatus>OK</m:ConnectionStatus>") >= 1


def test_max_notifications_returned_returns_at_the_first_notification(fresh: Account) -> None:
    subscription_id = fresh.calendar.subscribe_to_streaming()
    _save(fresh, "quick")
    started = time.monotonic()
    notes = list(
        fresh.calendar.get_streaming_events(
            subscription_id, connection_timeout=30, max_notifications_returned=1
        )
    )
    assert len(notes) == 1 and time.monotonic() - started < 2


def test_soft_delete_is_a_moved_event_out_of_the_calendar(fresh: Account) -> None:
    item = _save(fresh, "soft")
    subscription_id = fresh.calendar.subscribe_to_streaming()
    item.soft_delete()
    events = _events(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=1))
    assert [type(e) for e in events] == [MovedEvent]
    assert events[0].old_parent_folder_id.id == fresh.calendar.id


def test_unknown_streaming_subscription_is_invalid(fresh: Account) -> None:
    with pytest.raises(ErrorInvalidSubscription):
        list(fresh.calendar.get_streaming_events("nope", connection_timeout=1))


def test_expired_subscriptions_fault(fresh: Account, sandbox: ExchangeSandbox) -> None:
    streaming = fresh.calendar.subscribe_to_streaming()
    pull, watermark = fresh.calendar.subscribe_to_pull()
    assert sandbox.faults.expire_subscriptions(fresh.primary_smtp_address) == 2
    with pytest.raises(ErrorInvalidSubscription):
        list(fresh.calendar.get_streaming_events(streaming, connection_timeout=1))
    with pytest.raises(ErrorExpiredSubscription):
        list(fresh.calendar.get_events(pull, watermark))


def test_dropped_stream_breaks_the_client_read(fresh: Account, sandbox: ExchangeSandbox) -> None:
    subscription_id = fresh.calendar.subscribe_to_streaming()
    threading.Timer(0.4, sandbox.faults.drop_streams).start()
    with pytest.raises(Exception) as caught:
        list(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=5))
    assert "Closed" not in str(caught.value)
    # The subscription survives a dropped connection; reconnecting works.
    _save(fresh, "after drop")
    events = _events(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=1))
    assert [type(e) for e in events] == [CreatedEvent]


def test_pull_subscription_get_events_and_watermarks(fresh: Account) -> None:
    subscription_id, watermark = fresh.calendar.subscribe_to_pull(timeout=5)
    notes = list(fresh.calendar.get_events(subscription_id, watermark))
    assert [type(e).__name__ for n in notes for e in n.events] == ["StatusEvent"]
    created = [_save(fresh, f"pull {n}") for n in range(60)]  # more than 50: MoreEvents pages
    notes = list(fresh.calendar.get_events(subscription_id, watermark))
    events = [e for n in notes for e in n.events]
    assert len(notes) == 2 and notes[0].more_events is True and notes[1].more_events is False
    assert [e.item_id.id for e in events] == [c.id for c in created]
    last = events[-1].watermark
    assert [type(e).__name__ for n in fresh.calendar.get_events(subscription_id, last) for e in n.events] == [
        "StatusEvent"
    ]
    fresh.calendar.unsubscribe(subscription_id)
    with pytest.raises(ErrorSubscriptionNotFound):
        fresh.calendar.unsubscribe(subscription_id)


def test_streaming_subscription_context_manager_unsubscribes(fresh: Account) -> None:
    with fresh.calendar.streaming_subscription() as subscription_id:
        _save(fresh, "inside")
        events = _events(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=1))
        assert [type(e) for e in events] == [CreatedEvent]
    with pytest.raises(ErrorInvalidSubscription):
        list(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=1))


def test_account_level_subscription_hears_all_folders(fresh: Account) -> None:
    subscription_id = fresh.subscribe_to_streaming()
    item = _save(fresh, "anywhere")
    item.move_to_trash()
    events = _events(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=1))
    assert [type(e) for e in events] == [CreatedEvent, MovedEvent]


def test_a_newer_connection_takes_the_subscription_over(fresh: Account) -> None:
    subscription_id = fresh.calendar.subscribe_to_streaming()
    outcome: list[float] = []

    def older() -> None:
        started = time.monotonic()
        list(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=30))
        outcome.append(time.monotonic() - started)

    thread = threading.Thread(target=older)
    thread.start()
    time.sleep(0.3)
    _save(fresh, "for the newer reader")
    time.sleep(0.1)
    events = _events(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=1))
    thread.join(timeout=10)
    # The older stream got its Closed part long before its 30 "minutes"; events go to whoever reads.
    assert outcome and outcome[0] < 5
    assert len(events) <= 1


def test_idle_pull_subscription_expires(sandbox: ExchangeSandbox, fresh: Account) -> None:
    subscription_id, watermark = fresh.calendar.subscribe_to_pull(timeout=1)  # one (shrunk) minute
    list(fresh.calendar.get_events(subscription_id, watermark))  # each call resets the idle timer
    time.sleep(1.2)
    with pytest.raises(ErrorExpiredSubscription):
        list(fresh.calendar.get_events(subscription_id, watermark))


def test_forged_watermark_is_rejected(fresh: Account) -> None:
    from exchangelib.errors import ErrorInvalidWatermark

    subscription_id, watermark = fresh.calendar.subscribe_to_pull()
    with pytest.raises(ErrorInvalidWatermark):
        list(fresh.calendar.get_events(subscription_id, "AAAA" + watermark[4:]))


def test_another_mailbox_cannot_read_or_remove_a_subscription(fresh: Account, bob: Account) -> None:
    from exchangelib.errors import ErrorSubscriptionAccessDenied

    subscription_id, watermark = fresh.calendar.subscribe_to_pull()
    with pytest.raises(ErrorSubscriptionAccessDenied):
        list(bob.calendar.get_events(subscription_id, watermark))
    with pytest.raises(ErrorSubscriptionAccessDenied):
        bob.calendar.unsubscribe(subscription_id)
    fresh.calendar.unsubscribe(subscription_id)


def test_connection_timeout_outside_1_to_30_minutes_is_refused(fresh: Account) -> None:
    from exchangelib.errors import ErrorInvalidArgument

    subscription_id = fresh.calendar.subscribe_to_streaming()
    with pytest.raises(ErrorInvalidArgument):
        list(fresh.calendar.get_streaming_events(subscription_id, connection_timeout=31))
