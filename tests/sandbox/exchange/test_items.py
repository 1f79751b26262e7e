"""Calendar items through the real exchangelib: create, read, view, update, delete, with the wire pitfalls."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from exchangelib import (
    Account,
    Attendee,
    CalendarItem,
    EWSDateTime,
    EWSTimeZone,
    HTMLBody,
    Mailbox,
)
from exchangelib.errors import ErrorIrresolvableConflict, ErrorItemNotFound
from exchangelib.folders import DeletedItems
from exchangelib.items import HARD_DELETE, NEVER_OVERWRITE

PARIS = EWSTimeZone("Europe/Paris")
UTC = EWSTimeZone("UTC")


def _item(account: Account, **fields: object) -> CalendarItem:
    defaults: dict[str, object] = {
        "subject": "Pipeline review",
        "start": EWSDateTime(2030, 5, 1, 10, tzinfo=PARIS),
        "end": EWSDateTime(2030, 5, 1, 11, tzinfo=PARIS),
    }
    defaults.update(fields)
    return CalendarItem(account=account, folder=account.calendar, **defaults)


def test_create_then_get_returns_every_bridge_field(fresh: Account) -> None:
    item = _item(
        fresh,
        body="Agenda: numbers",
        location="Room 4",
        legacy_free_busy_status="OOF",
        sensitivity="Private",
        categories=["Salesforce", "Customer"],
        sf_id="00U000000000001",
        required_attendees=[Attendee(mailbox=Mailbox(email_address="ext@elsewhere.example"))],
        optional_attendees=[Attendee(mailbox=Mailbox(email_address="opt@elsewhere.example"))],
    )
    item.save()
    got = fresh.calendar.get(id=item.id)
    assert got.subject == "Pipeline review"
    assert str(got.body) == "Agenda: numbers"
    assert got.location == "Room 4"
    assert got.legacy_free_busy_status == "OOF"
    assert got.sensitivity == "Private"
    assert got.categories == ["Salesforce", "Customer"]
    assert got.sf_id == "00U000000000001"  # extended property echoed exactly, so exchangelib matches it
    assert got.start == EWSDateTime(2030, 5, 1, 8, tzinfo=UTC)  # returned in UTC with Z
    assert got._start_timezone == PARIS and got._end_timezone == PARIS
    assert got.organizer.email_address == fresh.primary_smtp_address
    assert [a.mailbox.email_address for a in got.required_attendees] == ["ext@elsewhere.example"]
    assert [a.mailbox.email_address for a in got.optional_attendees] == ["opt@elsewhere.example"]
    # Booleans come back as true/false: sent as 1/0 they would read as None.
    assert got.is_all_day is False and got.is_cancelled is False and got.reminder_is_set is False
    assert got.is_meeting is True and got.my_response_type == "Organizer"
    assert got.uid and got.changekey == item.changekey
    assert got.last_modified_time is not None and got.datetime_created is not None


def test_html_body_round_trips_as_html(fresh: Account) -> None:
    item = _item(fresh, body=HTMLBody("<p>Hello <b>there</b></p>"))
    item.save()
    got = fresh.calendar.get(id=item.id)
    assert isinstance(got.body, HTMLBody) and "<b>there</b>" in got.body


def test_all_day_items_are_snapped_to_local_midnight(fresh: Account) -> None:
    item = _item(fresh, is_all_day=True, start=dt.date(2030, 5, 2), end=dt.date(2030, 5, 3))
    item.save()
    got = fresh.calendar.get(id=item.id)
    assert got.is_all_day is True
    assert (got.start, got.end) == (dt.date(2030, 5, 2), dt.date(2030, 5, 3))


def test_all_day_with_off_midnight_times_snaps_outward(fresh: Account) -> None:
    item = _item(
        fresh,
        start=EWSDateTime(2030, 6, 1, 9, 30, tzinfo=PARIS),
        end=EWSDateTime(2030, 6, 2, 15, 0, tzinfo=PARIS),
    )
    item.save()
    item.is_all_day = True
    item.save(update_fields=["is_all_day"])
    got = fresh.calendar.get(id=item.id)
    # Stored as Paris midnight 1 June .. Paris midnight 3 June; exchangelib shows the last day, 2 June.
    assert got.is_all_day is True
    assert got.start == dt.date(2030, 6, 1) and got.end == dt.date(2030, 6, 2)


def test_view_returns_overlapping_items_including_one_ending_at_window_start(fresh: Account) -> None:
    _item(
        fresh,
        subject="before",
        start=EWSDateTime(2030, 5, 1, 6, tzinfo=UTC),
        end=EWSDateTime(2030, 5, 1, 8, tzinfo=UTC),
    ).save()
    _item(
        fresh,
        subject="inside",
        start=EWSDateTime(2030, 5, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2030, 5, 1, 10, tzinfo=UTC),
    ).save()
    _item(
        fresh,
        subject="after",
        start=EWSDateTime(2030, 5, 1, 12, tzinfo=UTC),
        end=EWSDateTime(2030, 5, 1, 13, tzinfo=UTC),
    ).save()
    window = fresh.calendar.view(
        start=EWSDateTime(2030, 5, 1, 8, tzinfo=UTC), end=EWSDateTime(2030, 5, 1, 12, tzinfo=UTC)
    )
    assert sorted(i.subject for i in window) == ["before", "inside"]
    # IncludesLastItemInRange lets exchangelib stop paging; max_items exercises MaxEntriesReturned.
    limited = fresh.calendar.view(
        start=EWSDateTime(2030, 5, 1, tzinfo=UTC), end=EWSDateTime(2030, 5, 2, tzinfo=UTC), max_items=2
    )
    assert len(list(limited)) == 2


def test_update_changes_changekey_and_last_modified(fresh: Account) -> None:
    item = _item(fresh)
    item.save()
    first_key, first_modified = item.changekey, fresh.calendar.get(id=item.id).last_modified_time
    time.sleep(1.05)  # EWS times have whole seconds: let one pass so LastModifiedTime must move
    item.subject = "Pipeline review (moved)"
    item.start = EWSDateTime(2030, 5, 1, 12, tzinfo=PARIS)
    item.end = EWSDateTime(2030, 5, 1, 13, tzinfo=PARIS)
    item.save(update_fields=["subject", "start", "end"])
    assert item.changekey != first_key
    got = fresh.calendar.get(id=item.id)
    assert got.subject == "Pipeline review (moved)"
    assert got.start == EWSDateTime(2030, 5, 1, 10, tzinfo=UTC)
    assert got.last_modified_time > first_modified


def test_full_save_with_delete_item_fields_for_unset_fields_is_accepted(fresh: Account) -> None:
    item = _item(fresh, location="Room 1", sf_id="00U9")
    item.save()
    item.location = None
    item.save()  # every field: SetItemField or DeleteItemField (InReplyTo, When, Recurrence, ...)
    got = fresh.calendar.get(id=item.id)
    assert got.location is None and got.sf_id == "00U9"


def test_delete_item_field_removes_extended_property(fresh: Account) -> None:
    item = _item(fresh, sf_id="00U7")
    item.save()
    item.sf_id = None
    item.save(update_fields=["sf_id"])
    assert fresh.calendar.get(id=item.id).sf_id is None


def test_stale_changekey_under_never_overwrite_is_irresolvable_conflict(fresh: Account) -> None:
    item = _item(fresh)
    item.save()
    stale = fresh.calendar.get(id=item.id)
    item.subject = "first writer"
    item.save(update_fields=["subject"])
    stale.subject = "second writer"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(update_fields=["subject"], conflict_resolution=NEVER_OVERWRITE)
    assert fresh.calendar.get(id=item.id).subject == "first writer"
    # With the current key the same update goes through.
    item.subject = "third writer"
    item.save(update_fields=["subject"], conflict_resolution=NEVER_OVERWRITE)
    assert fresh.calendar.get(id=item.id).subject == "third writer"


def test_hard_delete_removes_the_item(fresh: Account) -> None:
    item = _item(fresh)
    item.save()
    item_id = item.id
    item.delete()
    with pytest.raises(ErrorItemNotFound):
        fresh.calendar.get(id=item_id)


def test_move_to_trash_lands_in_deleted_items(fresh: Account) -> None:
    item = _item(fresh, subject="to trash")
    item.save()
    item.move_to_trash()
    assert [i.subject for i in fresh.calendar.all()] == []
    assert [i.subject for i in fresh.root.get_default_folder(DeletedItems).all()] == ["to trash"]


def test_bulk_operations_answer_each_item_in_order(fresh: Account) -> None:
    items = [_item(fresh, subject=f"bulk {n}") for n in range(5)]
    created = fresh.bulk_create(folder=fresh.calendar, items=items)
    ids = [(c.id, c.changekey) for c in created]
    fetched = list(fresh.fetch(ids=[*ids, ("AAAA", None)]))
    assert [f.subject for f in fetched[:5]] == [f"bulk {n}" for n in range(5)]
    assert type(fetched[5]).__name__ == "ErrorInvalidIdMalformed"
    results = fresh.bulk_delete(ids=ids, delete_type=HARD_DELETE)
    assert results == [True] * 5


def test_move_out_of_the_calendar_gives_a_new_id(fresh: Account) -> None:
    from exchangelib.folders import Inbox

    item = _item(fresh, subject="wander")
    item.save()
    old_id = item.id
    inbox = fresh.root.get_default_folder(Inbox)
    item.move(inbox)
    assert item.id != old_id
    assert list(fresh.calendar.all()) == []
    assert [i.subject for i in inbox.all()] == ["wander"]


def test_subscribe_sets_the_affinity_cookie_exchangelib_echoes(fresh: Account) -> None:
    fresh.calendar.subscribe_to_streaming()
    assert fresh.affinity_cookie and fresh.affinity_cookie.startswith("SANDBOX-MBX01~")


def test_setting_a_read_only_field_is_invalid_property_set_and_changes_nothing(fresh: Account) -> None:
    from exchangelib.errors import ErrorInvalidPropertySet
    from exchangelib.services import UpdateItem

    item = _item(fresh, subject="guarded")
    item.save()
    item.subject = "also changed"
    svc = UpdateItem(account=fresh)
    payload = svc.get_payload(
        items=[(item, ["subject"])],
        conflict_resolution="AutoResolve",
        message_disposition="SaveOnly",
        send_meeting_invitations_or_cancellations="SendToNone",
        suppress_read_receipts=True,
    )
    types = "{http://schemas.microsoft.com/exchange/services/2006/types}"
    # Ask to set MyResponseType (computed by the server) alongside the subject.
    for uri in payload.iter(f"{types}FieldURI"):
        uri.set("FieldURI", "calendar:MyResponseType")
    for subject in payload.iter(f"{types}Subject"):
        subject.tag, subject.text = f"{types}MyResponseType", "Accept"
    with pytest.raises(ErrorInvalidPropertySet):
        list(svc._get_elements(payload=payload))
    got = fresh.calendar.get(id=item.id)
    assert (got.subject, got.my_response_type, got.changekey) == ("guarded", "Organizer", item.changekey)
