"""Reading and writing calendar items through the EWS adapter, against the Exchange sandbox (R-FLD, R-PAIR-1,
R-CAT-1, R-MERGE-5, R-ATT-12)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime, ExtendedProperty
from exchangelib.properties import Attendee, Mailbox

from bridge.core.fields import ExchangeAttendee
from bridge.errors import ConflictError, MappingError, NotFoundError, RefusedError
from bridge.exchange.ews import EwsMailboxes
from bridge.exchange.ews.items import PROPERTY_NAME, PROPERTY_SET_ID, READ_FIELDS
from bridge.exchange.ews.reading import _field_paths, _GetCalendarItems
from bridge.sandbox.exchange import ExchangeSandbox

from .conftest import ANA, BO, DEE

EVE = "eve.no-rights@calbridge.test"
START = datetime(2031, 3, 4, 9, 30, tzinfo=UTC)


def timed(subject: str, **extra: object) -> dict[str, object]:
    return {
        "subject": subject,
        "start": START,
        "end": START + timedelta(hours=1),
        "is_all_day": False,
        **extra,
    }


def user_item(account: Account, subject: str, **extra: object) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime.from_datetime(START),
        end=EWSDateTime.from_datetime(START + timedelta(hours=1)),
        **extra,
    )
    item.save()
    return item


async def test_r_fld_1_every_mapped_field_round_trips(mailboxes: EwsMailboxes) -> None:
    fields = timed(
        "Pricing review",
        body="Bring the <b>numbers</b>",
        body_type="HTML",
        location="Room Vega",
        legacy_free_busy_status="OOF",
        sensitivity="Private",
        required_attendees=(ExchangeAttendee("lena@customer.example"),),
        optional_attendees=(ExchangeAttendee("max@customer.example", "Unknown"),),
        salesforce_event_id="00U5g00000AbCdE",
    )
    written = await mailboxes.create_item(ANA, fields, ["Salesforce"], send_invitations=False)
    assert written.id and written.version and written.uid

    item = (await mailboxes.read_items(ANA, [written.id]))[written.id]
    assert item.change_key == written.version and item.uid == written.uid
    assert (item.subject, item.start, item.end, item.is_all_day) == (
        "Pricing review",
        START,
        START + timedelta(hours=1),
        False,
    )
    assert (item.body, item.body_type) == ("Bring the <b>numbers</b>", "HTML")
    assert (item.location, item.legacy_free_busy_status, item.sensitivity) == ("Room Vega", "OOF", "Private")
    assert [a.email for a in item.required_attendees] == ["lena@customer.example"]
    assert [a.email for a in item.optional_attendees] == ["max@customer.example"]
    assert item.categories == ("Salesforce",)
    assert item.salesforce_event_id == "00U5g00000AbCdE"
    assert item.is_meeting and item.organizer == ANA and item.my_response_type == "Organizer"
    assert item.time_zone == "UTC"


async def test_r_fld_2_all_day_item_keeps_its_dates_in_the_mailbox_zone(mailboxes: EwsMailboxes) -> None:
    fields = {
        "subject": "Trade fair",
        "is_all_day": True,
        "start": date(2031, 3, 10),
        "end": date(2031, 3, 12),  # exclusive: the 10th and the 11th
        "time_zone": "Europe/Paris",
    }
    written = await mailboxes.create_item(ANA, fields, [], send_invitations=False)
    item = (await mailboxes.read_items(ANA, [written.id]))[written.id]
    assert item.is_all_day
    assert (item.start, item.end) == (date(2031, 3, 10), date(2031, 3, 12))
    assert item.time_zone == "Europe/Paris"

    moved = {**fields, "start": date(2031, 3, 11), "end": date(2031, 3, 14)}
    await mailboxes.update_item(ANA, written.id, item.change_key, moved, [], [], send_invitations=False)
    item = (await mailboxes.read_items(ANA, [written.id]))[written.id]
    assert (item.start, item.end) == (date(2031, 3, 11), date(2031, 3, 14))


async def test_r_fld_1_update_writes_only_the_fields_named(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    mine = user_item(user(ANA), "Call with Lena", location="Phone", body="notes of the user")
    written = await mailboxes.update_item(
        ANA, mine.id, mine.changekey, {"subject": "Call with Lena (moved)"}, [], [], send_invitations=False
    )
    assert written.id == mine.id and written.version != mine.changekey
    item = (await mailboxes.read_items(ANA, [mine.id]))[mine.id]
    assert (item.subject, item.location, item.body) == (
        "Call with Lena (moved)",
        "Phone",
        "notes of the user",
    )
    assert item.change_key == written.version


async def test_r_pair_1_salesforce_id_is_a_named_property_of_our_own_set(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    written = await mailboxes.create_item(
        ANA, timed("Paired", salesforce_event_id="00U000000000001"), [], False
    )

    # Another client that knows only the property set GUID and the name finds the value.
    class Probe(ExtendedProperty):  # type: ignore[misc]
        property_set_id = "9d5e3b1c-6f2a-4c8e-a7d4-2b1f0e9c8a63"
        property_name = "SalesforceEventId"
        property_type = "String"

    assert (Probe.property_set_id, Probe.property_name) == (PROPERTY_SET_ID, PROPERTY_NAME)
    CalendarItem.register("calbridge_probe", Probe)
    try:
        seen = next(iter(user(ANA).fetch(ids=[(written.id, None)], only_fields=["calbridge_probe"])))
        assert seen.calbridge_probe == "00U000000000001"
    finally:
        CalendarItem.deregister("calbridge_probe")

    await mailboxes.update_item(ANA, written.id, None, {"salesforce_event_id": None}, [], [], False)
    item = (await mailboxes.read_items(ANA, [written.id]))[written.id]
    assert item.salesforce_event_id is None


async def test_r_cat_1_only_the_named_categories_change(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    mine = user_item(user(ANA), "Lunch with Max", categories=["Personal", "Red category"])
    await mailboxes.update_item(ANA, mine.id, mine.changekey, {}, ["Salesforce"], ["Sync Error"], False)
    item = (await mailboxes.read_items(ANA, [mine.id]))[mine.id]
    assert item.categories == ("Personal", "Red category", "Salesforce")

    await mailboxes.update_item(ANA, mine.id, item.change_key, {}, ["Sync Error"], ["salesforce"], False)
    item = (await mailboxes.read_items(ANA, [mine.id]))[mine.id]
    assert item.categories == ("Personal", "Red category", "Sync Error")


async def test_r_merge_5_a_stale_changekey_is_a_conflict_and_overwrites_nothing(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    written = await mailboxes.create_item(ANA, timed("Board prep"), [], False)
    theirs = next(iter(user(ANA).fetch(ids=[(written.id, None)])))
    theirs.subject = "Board prep (user's edit)"
    theirs.save(update_fields=["subject"])

    with pytest.raises(ConflictError) as conflict:
        await mailboxes.update_item(ANA, written.id, written.version, {"subject": "bridge"}, [], [], False)
    assert conflict.value.record_id == written.id
    with pytest.raises(ConflictError):
        await mailboxes.update_item(ANA, written.id, written.version, {}, ["Salesforce"], [], False)
    with pytest.raises(ConflictError):
        await mailboxes.delete_item(ANA, written.id, written.version, False)
    item = (await mailboxes.read_items(ANA, [written.id]))[written.id]
    assert item.subject == "Board prep (user's edit)"


async def test_delete_is_conditional_and_a_missing_item_is_not_found(mailboxes: EwsMailboxes) -> None:
    written = await mailboxes.create_item(ANA, timed("Scratch"), [], False)
    await mailboxes.delete_item(ANA, written.id, written.version, False)
    assert await mailboxes.read_items(ANA, [written.id]) == {}
    with pytest.raises(NotFoundError):
        await mailboxes.update_item(ANA, written.id, None, {"subject": "again"}, [], [], False)


async def test_e_exchange_refused_keeps_exchanges_message(
    mailboxes: EwsMailboxes, sandbox: ExchangeSandbox
) -> None:
    sandbox.add_mailbox(EVE, impersonation=False, delegate=False)
    with pytest.raises(RefusedError) as refused:
        await mailboxes.create_item(EVE, timed("Not allowed"), [], False)
    assert "does not have permission to impersonate" in str(refused.value)
    assert refused.value.code == "ErrorImpersonateUserDenied"


async def test_bad_input_names_the_item_and_the_field(mailboxes: EwsMailboxes) -> None:
    with pytest.raises(MappingError, match="start must be a datetime"):
        await mailboxes.create_item(ANA, timed("Bad", start="tomorrow"), [], False)
    with pytest.raises(MappingError, match=r"Exchange item AAMk-unknown .*colour"):
        await mailboxes.update_item(ANA, "AAMk-unknown", "CK", {"colour": "red"}, [], [], False)
    with pytest.raises(MappingError, match="'end' must be greater than 'start'"):
        await mailboxes.create_item(ANA, timed("Backwards", end=START - timedelta(hours=1)), [], False)
    with pytest.raises(MappingError, match="not an email address"):
        await mailboxes.create_item(ANA, timed("Bad", required_attendees=("nobody",)), [], False)


async def test_r_att_12_invitations_only_when_the_command_says(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    quiet = await mailboxes.create_item(
        DEE, timed("Quiet", required_attendees=(ExchangeAttendee(BO),)), [], send_invitations=False
    )
    sent = await mailboxes.create_item(
        DEE, timed("Invited", required_attendees=(ExchangeAttendee(BO),)), [], send_invitations=True
    )
    uids = {item.uid for item in user(BO).calendar.all().only("uid")}
    assert sent.uid in uids and quiet.uid not in uids


async def test_read_items_leaves_out_what_is_gone_and_window_finds_overlaps(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    inside = await mailboxes.create_item(DEE, timed("Inside the window"), [], False)
    gone = await mailboxes.create_item(DEE, timed("Soon gone"), [], False)
    await mailboxes.delete_item(DEE, gone.id, None, False)
    found = await mailboxes.read_items(DEE, [inside.id, gone.id])
    assert set(found) == {inside.id}

    items = await mailboxes.window_items(DEE, START + timedelta(minutes=30), START + timedelta(minutes=45))
    assert inside.id in {item.item_id for item in items}
    assert gone.id not in {item.item_id for item in items}
    later = await mailboxes.window_items(DEE, START + timedelta(hours=2), START + timedelta(hours=3))
    assert inside.id not in {item.item_id for item in later}


async def test_attendee_responses_are_read_as_exchange_has_them(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    meeting = user_item(
        user(ANA),
        "Customer sync",
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address="lena@customer.example"), response_type="Accept")
        ],
    )
    item = (await mailboxes.read_items(ANA, [meeting.id]))[meeting.id]
    assert item.required_attendees == (ExchangeAttendee("lena@customer.example", "Accept"),)


async def test_r_fld_1_a_read_parses_each_item_as_exchangelib_would(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    """The adapter builds read items from the fields it asks for only (issue 10: parsing every field of the
    model was 40% of a first sync's reads); every field it reads comes out as exchangelib's own parse of the
    same GetItem gives it, for a meeting with everything set and for an all-day item in its zone."""
    meeting = timed(
        "Quarterly review",
        body="Agenda <b>inside</b>",
        body_type="HTML",
        location="Room Lyra",
        sensitivity="Private",
        required_attendees=(ExchangeAttendee(BO),),
        optional_attendees=(ExchangeAttendee("max@customer.example", "Unknown"),),
        salesforce_event_id="00U5g00000ZyXwV",
    )
    all_day = {
        "subject": "Offsite",
        "is_all_day": True,
        "start": date(2031, 3, 10),
        "end": date(2031, 3, 12),
        "time_zone": "America/New_York",
    }
    ids = [
        (await mailboxes.create_item(ANA, fields, ["Salesforce", "Blue"], send_invitations=True)).id
        for fields in (meeting, all_day)
    ]
    account = user(ANA)
    names = (*READ_FIELDS, "id", "changekey", "parent_folder_id")
    theirs = list(
        account.fetch(ids=[(i, None) for i in ids], only_fields=[n for n in names if n != "changekey"])
    )
    service = _GetCalendarItems(account=account, chunk_size=10)
    ours = [
        item
        for item, _ in service.call(
            items=[(i, None) for i in ids], additional_fields=_field_paths(account), shape="IdOnly"
        )
    ]
    assert [o.id for o in ours] == [t.id for t in theirs] == ids
    for mine, exchangelibs in zip(ours, theirs, strict=True):
        for name in names:
            assert getattr(mine, name) == getattr(exchangelibs, name), name
    assert ours[1].start == date(2031, 3, 10) and ours[1].end == date(2031, 3, 11)  # exchangelib's last day
