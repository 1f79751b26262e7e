"""What exchangelib notices beyond series: fields read back as written, text limits, searchable fields,
ChangeKey length, a bounded deletion journal."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from exchangelib import UTC, Account, CalendarItem, EWSDateTime
from exchangelib.errors import ErrorInvalidSyncStateData

from bridge.sandbox.exchange import store as store_module
from bridge.sandbox.exchange.items_xml import TEXT_LIMITS
from bridge.sandbox.exchange.server import ExchangeSandbox
from tests.sandbox.exchange.test_protocol import _codes, _envelope, _impersonate, _post

START = EWSDateTime(2031, 6, 2, 9, tzinfo=UTC)


def _item(account: Account, **fields: object) -> CalendarItem:
    item = CalendarItem(
        account=account, folder=account.calendar, start=START, end=START + dt.timedelta(hours=1)
    )
    for name, value in {"subject": "Gaps", **fields}.items():
        setattr(item, name, value)
    item.save()
    return item


def test_every_writable_field_reads_back_as_written(fresh: Account) -> None:
    written = {
        "in_reply_to": "<abc@example.test>",
        "reminder_due_by": EWSDateTime(2031, 6, 2, 8, 45, tzinfo=UTC),
        "when": "Monday morning",
        "conference_type": 1,
        "meeting_workspace_url": "https://workspace.example.test/x",
        "net_show_url": "https://netshow.example.test/y",
        "culture": "en-US",
        "importance": "High",
        "is_response_requested": False,
        "allow_new_time_proposal": False,
    }
    item = _item(fresh, **written)
    got = fresh.calendar.get(id=item.id)
    assert {name: getattr(got, name) for name in written} == written


def test_a_subject_over_255_characters_is_cut_or_refused(sandbox: ExchangeSandbox, fresh: Account) -> None:
    long = "x" * 300
    body = (
        '<m:CreateItem SendMeetingInvitations="SendToNone"><m:Items><t:CalendarItem>'
        f"<t:Subject>{long}</t:Subject><t:Start>2031-06-02T09:00:00Z</t:Start><t:End>2031-06-02T10:00:00Z</t:End>"
        "</t:CalendarItem></m:Items></m:CreateItem>"
    )
    assert _codes(_post(sandbox, _envelope(body, _impersonate(fresh.primary_smtp_address)))) == ["NoError"]
    (got,) = list(fresh.calendar.all())
    assert got.subject == "x" * 252 + "..."
    TEXT_LIMITS.subject = "refuse"
    try:
        codes = _codes(_post(sandbox, _envelope(body, _impersonate(fresh.primary_smtp_address))))
        assert codes == ["ErrorPropertyValidationFailure"]
    finally:
        TEXT_LIMITS.subject = "truncate"


def test_restrictions_on_every_searchable_field(fresh: Account) -> None:
    wanted = _item(
        fresh, importance="High", is_all_day=False, reminder_is_set=True, legacy_free_busy_status="OOF"
    )
    _item(fresh, importance="Low", reminder_is_set=False)
    wanted.refresh()
    checks = [
        {"importance": "High"},
        {"reminder_is_set": True},
        {"legacy_free_busy_status": "OOF"},
        {"is_cancelled": False, "importance": "High"},
        {"reminder_minutes_before_start": wanted.reminder_minutes_before_start, "importance": "High"},
        {"type": "Single", "importance": "High"},
    ]
    for check in checks:
        assert [i.id for i in fresh.calendar.filter(**check)] == [wanted.id], check


def test_change_keys_have_exchanges_length(fresh: Account) -> None:
    item = _item(fresh)
    assert len(item.changekey) == 40 and len(base64.b64decode(item.changekey)) == 30


def test_the_deletion_journal_is_bounded(
    sandbox: ExchangeSandbox, fresh: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "GONE_LIMIT", 2)
    list(fresh.calendar.sync_items())
    state = fresh.calendar.item_sync_state
    for _ in range(4):
        _item(fresh).delete()
    fresh.calendar.item_sync_state = state
    with pytest.raises(ErrorInvalidSyncStateData):
        list(fresh.calendar.sync_items())
