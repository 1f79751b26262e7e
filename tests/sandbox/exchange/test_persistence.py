"""The state file: ids, ChangeKeys and sync states a client stored before a restart still work after it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from exchangelib import UTC, Account, CalendarItem, EWSDateTime
from exchangelib.errors import ErrorInvalidSubscription, ErrorIrresolvableConflict, ErrorSubscriptionNotFound
from exchangelib.items import NEVER_OVERWRITE, SEND_ONLY_TO_ALL
from exchangelib.properties import Attendee, Mailbox
from exchangelib.protocol import close_connections

from bridge.sandbox.exchange import ExchangeSandbox, SandboxTimings, running_exchange_sandbox
from bridge.sandbox.exchange.client_tls import trust_ca
from bridge.sandbox.tls import SandboxTLS

from .conftest import make_config

ALICE, BOB = "alice@calbridge.test", "bob@calbridge.test"


@contextmanager
def _run(state: Path, autosave: float = 10.0) -> Iterator[ExchangeSandbox]:
    tls = SandboxTLS.generate()  # a new CA and password on every start, as `calbridge sandbox` does
    trust_ca(tls.ca_pem)
    timings = SandboxTimings(minute=1.0, heartbeat=0.5, autosave=autosave)
    with running_exchange_sandbox(tls, [ALICE, BOB], timings=timings, state_file=state) as sandbox:
        yield sandbox
    close_connections()


def _account(sandbox: ExchangeSandbox, address: str = ALICE) -> Account:
    return Account(address, config=make_config(sandbox), autodiscover=False, default_timezone=UTC)


def test_ids_change_keys_sync_states_and_meetings_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "exchange.json"
    with _run(state) as first:
        alice = _account(first)
        item = CalendarItem(
            account=alice,
            folder=alice.calendar,
            subject="kept",
            start=EWSDateTime(2030, 4, 1, 9, tzinfo=UTC),
            end=EWSDateTime(2030, 4, 1, 10, tzinfo=UTC),
            sf_id="00UKEPT",
            required_attendees=[Attendee(mailbox=Mailbox(email_address=BOB))],
        )
        item.save(send_meeting_invitations=SEND_ONLY_TO_ALL)
        list(alice.calendar.sync_items())
        sync_state = alice.calendar.item_sync_state
        subscription_id = alice.calendar.subscribe_to_streaming()
        saved_id, saved_key, uid = item.id, item.changekey, item.refresh().uid
    assert state.exists()
    with _run(state) as second:
        alice = _account(second)
        (got,) = alice.fetch(ids=[(saved_id, saved_key)])
        assert (got.subject, got.sf_id, got.uid, got.changekey) == ("kept", "00UKEPT", uid, saved_key)
        bob_copy = next(iter(_account(second, BOB).calendar.all()))
        assert bob_copy.uid == uid and bob_copy.my_response_type == "NoResponseReceived"
        # The ChangeKey issued before the restart still guards the item; a new one never repeats an old one.
        got.subject = "changed after restart"
        got.save(update_fields=["subject"], conflict_resolution=NEVER_OVERWRITE)
        assert got.changekey != saved_key
        stale = CalendarItem(account=alice, folder=alice.calendar, id=saved_id, changekey=saved_key)
        stale.subject = "stale writer"
        with pytest.raises(ErrorIrresolvableConflict):
            stale.save(update_fields=["subject"], conflict_resolution=NEVER_OVERWRITE)
        # The sync state stored before the restart resumes: only the change made since comes back.
        changes = [(kind, obj.subject) for kind, obj in alice.calendar.sync_items(sync_state=sync_state)]
        assert changes == [("update", "changed after restart")]
        # Subscriptions do not survive a restart, as on Exchange: the client resubscribes.
        with pytest.raises(ErrorInvalidSubscription):
            list(alice.calendar.get_streaming_events(subscription_id, connection_timeout=1))
        with pytest.raises(ErrorSubscriptionNotFound):
            alice.calendar.unsubscribe(subscription_id)
        assert alice.calendar.subscribe_to_streaming()


def test_a_running_sandbox_saves_changes_periodically_and_atomically(tmp_path: Path) -> None:
    state = tmp_path / "exchange.json"
    with _run(state, autosave=0.1) as sandbox:
        alice = _account(sandbox)
        CalendarItem(
            account=alice,
            folder=alice.calendar,
            subject="autosaved",
            start=EWSDateTime(2030, 4, 2, 9, tzinfo=UTC),
            end=EWSDateTime(2030, 4, 2, 10, tzinfo=UTC),
        ).save()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if state.exists() and "autosaved" in state.read_text():
                break
            time.sleep(0.05)
        saved = json.loads(state.read_text())  # readable while running: written whole, then renamed
        assert [i["subject"] for i in saved["items"]] == ["autosaved"]
        assert list(tmp_path.glob("*.tmp")) == []
        assert state.stat().st_mode & 0o077 == 0  # holds the secret that signs sync states
