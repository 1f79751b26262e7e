"""Reading and writing calendar items through the Graph adapter, against the Graph sandbox (R-FLD, R-PAIR-1,
R-CAT-1, R-MERGE-5, R-GRAPH-3, R-GRAPH-4)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime, ExtendedProperty
from exchangelib.properties import Attendee, Mailbox

from bridge.core.fields import ExchangeAttendee
from bridge.errors import ConflictError, MappingError, NotFoundError, RefusedError
from bridge.exchange.ews.items import PROPERTY_NAME, PROPERTY_SET_ID
from bridge.exchange.graph import GraphMailboxes

from .conftest import ANA, BO, CY, DEE, Sandboxes

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


async def find(mailboxes: GraphMailboxes, mailbox: str, subject: str) -> str:
    items = await mailboxes.window_items(mailbox, START - timedelta(hours=1), START + timedelta(hours=2))
    (item_id,) = [i.item_id for i in items if i.subject == subject]
    return item_id


async def test_r_fld_1_every_mapped_field_round_trips(mailboxes: GraphMailboxes) -> None:
    fields = timed(
        "Pricing review",
        body="Bring the numbers",
        location="Room Vega",
        legacy_free_busy_status="OOF",
        sensitivity="Private",
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
    assert (item.body, item.body_type) == ("Bring the numbers", "Text")
    assert (item.location, item.legacy_free_busy_status, item.sensitivity) == ("Room Vega", "OOF", "Private")
    assert item.categories == ("Salesforce",)
    assert item.salesforce_event_id == "00U5g00000AbCdE"
    assert item.organizer == ANA and item.my_response_type == "Organizer" and not item.is_meeting
    assert item.time_zone == "UTC"


async def test_r_fld_2_all_day_item_keeps_its_dates_in_the_mailbox_zone(mailboxes: GraphMailboxes) -> None:
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
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    user_item(user(ANA), "Call with Lena", location="Phone", body="notes of the user")
    item_id = await find(mailboxes, ANA, "Call with Lena")
    before = (await mailboxes.read_items(ANA, [item_id]))[item_id]
    written = await mailboxes.update_item(
        ANA, item_id, before.change_key, {"subject": "Call with Lena (moved)"}, [], [], send_invitations=False
    )
    assert written.id == item_id and written.version != before.change_key
    item = (await mailboxes.read_items(ANA, [item_id]))[item_id]
    assert (item.subject, item.location, item.body) == (
        "Call with Lena (moved)",
        "Phone",
        "notes of the user",
    )
    assert item.change_key == written.version


async def test_r_pair_1_salesforce_id_is_the_ews_providers_named_property(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    written = await mailboxes.create_item(
        ANA, timed("Paired", salesforce_event_id="00U000000000001"), [], False
    )

    # Outlook through EWS, knowing only the property set GUID and the name, finds the value: a switch of
    # provider keeps every pair (R-GRAPH-1).
    class Probe(ExtendedProperty):  # type: ignore[misc]
        property_set_id = "9d5e3b1c-6f2a-4c8e-a7d4-2b1f0e9c8a63"
        property_name = "SalesforceEventId"
        property_type = "String"

    assert (Probe.property_set_id, Probe.property_name) == (PROPERTY_SET_ID, PROPERTY_NAME)
    CalendarItem.register("calbridge_probe", Probe)
    try:
        view = user(ANA).calendar.view(start=START - timedelta(hours=1), end=START + timedelta(hours=2))
        seen = [i for i in view.only("subject", "calbridge_probe") if i.subject == "Paired"]
        assert [i.calbridge_probe for i in seen] == ["00U000000000001"]
    finally:
        CalendarItem.deregister("calbridge_probe")

    await mailboxes.update_item(ANA, written.id, None, {"salesforce_event_id": None}, [], [], False)
    item = (await mailboxes.read_items(ANA, [written.id]))[written.id]
    assert item.salesforce_event_id is None


async def test_r_cat_1_only_the_named_categories_change(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    user_item(user(CY), "Lunch with Max", categories=["Personal", "Red category"])
    item_id = await find(mailboxes, CY, "Lunch with Max")
    item = (await mailboxes.read_items(CY, [item_id]))[item_id]
    await mailboxes.update_item(CY, item_id, item.change_key, {}, ["Salesforce"], ["Sync Error"], False)
    item = (await mailboxes.read_items(CY, [item_id]))[item_id]
    assert item.categories == ("Personal", "Red category", "Salesforce")

    await mailboxes.update_item(CY, item_id, item.change_key, {}, ["Sync Error"], ["salesforce"], False)
    item = (await mailboxes.read_items(CY, [item_id]))[item_id]
    assert item.categories == ("Personal", "Red category", "Sync Error")


async def test_r_graph_4_a_stale_etag_is_a_conflict_and_overwrites_nothing(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    written = await mailboxes.create_item(BO, timed("Board prep"), [], False)
    view = user(BO).calendar.view(start=START - timedelta(hours=1), end=START + timedelta(hours=2))
    (theirs,) = [i for i in view if i.subject == "Board prep"]
    theirs.subject = "Board prep (user's edit)"
    theirs.save(update_fields=["subject"])

    with pytest.raises(ConflictError) as conflict:
        await mailboxes.update_item(BO, written.id, written.version, {"subject": "bridge"}, [], [], False)
    assert conflict.value.record_id == written.id
    with pytest.raises(ConflictError):
        await mailboxes.update_item(BO, written.id, written.version, {}, ["Salesforce"], [], False)
    with pytest.raises(ConflictError):
        await mailboxes.delete_item(BO, written.id, written.version, False)
    item = (await mailboxes.read_items(BO, [written.id]))[written.id]
    assert item.subject == "Board prep (user's edit)"


async def test_r_graph_4_a_retried_create_makes_one_item(mailboxes: GraphMailboxes) -> None:
    fields = timed("Made once", salesforce_event_id="00U000000000777")
    first = await mailboxes.create_item(DEE, fields, ["Salesforce"], False)
    again = await mailboxes.create_item(DEE, fields, ["Salesforce"], False)  # the same transactionId
    assert again.id == first.id
    items = await mailboxes.window_items(DEE, START, START + timedelta(hours=1))
    assert [i.subject for i in items].count("Made once") == 1


async def test_delete_is_conditional_and_a_missing_item_is_not_found(mailboxes: GraphMailboxes) -> None:
    written = await mailboxes.create_item(ANA, timed("Scratch"), [], False)
    await mailboxes.delete_item(ANA, written.id, written.version, False)
    assert await mailboxes.read_items(ANA, [written.id]) == {}  # in Deleted Items: not in the calendar
    with pytest.raises(NotFoundError):
        await mailboxes.update_item(ANA, written.id, None, {"subject": "again"}, [], [], False)
    with pytest.raises(NotFoundError):
        await mailboxes.delete_item(ANA, "AAMkAGUnknownId0000", None, False)


async def test_e_exchange_refused_keeps_graphs_message(mailboxes: GraphMailboxes, sandbox: Sandboxes) -> None:
    sandbox.ews.add_mailbox(EVE, impersonation=False, delegate=False)
    with pytest.raises(RefusedError) as refused:
        await mailboxes.create_item(EVE, timed("Not allowed"), [], False)
    assert "Access to OData is disabled" in str(refused.value)
    assert refused.value.code == "ErrorAccessDenied"


async def test_bad_input_names_the_item_and_the_field(mailboxes: GraphMailboxes) -> None:
    with pytest.raises(MappingError, match="start must be a datetime"):
        await mailboxes.create_item(ANA, timed("Bad", start="tomorrow"), [], False)
    with pytest.raises(MappingError, match=r"Exchange item AAMk-unknown .*colour"):
        await mailboxes.update_item(ANA, "AAMk-unknown", "CK", {"colour": "red"}, [], [], False)
    with pytest.raises(MappingError, match="'end' must be greater than 'start'"):
        await mailboxes.create_item(ANA, timed("Backwards", end=START - timedelta(hours=1)), [], False)
    with pytest.raises(MappingError, match="not an email address"):
        await mailboxes.create_item(ANA, timed("Bad", required_attendees=("nobody",)), [], True)


async def test_r_graph_3_without_invitations_attendees_are_listed_not_invited(
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    people = {
        "required_attendees": (ExchangeAttendee(BO), ExchangeAttendee("lena@customer.example")),
        "optional_attendees": (ExchangeAttendee("max@customer.example"),),
    }
    quiet = await mailboxes.create_item(
        DEE, timed("Quiet", body="Agenda", **people), [], send_invitations=False
    )
    sent = await mailboxes.create_item(
        DEE, timed("Invited", required_attendees=(ExchangeAttendee(BO),)), [], send_invitations=True
    )
    uids = {item.uid for item in user(BO).calendar.all().only("uid")}
    assert sent.uid in uids and quiet.uid not in uids  # nobody was mailed for the quiet one

    # The user sees the attendees at the end of the body; the bridge reads them back as attendees.
    (seen,) = [i for i in user(DEE).calendar.all() if i.subject == "Quiet"]
    assert not seen.required_attendees and not seen.optional_attendees
    assert str(seen.body).startswith("Agenda") and "lena@customer.example" in str(seen.body)
    assert "max@customer.example (optional)" in str(seen.body)
    item = (await mailboxes.read_items(DEE, [quiet.id]))[quiet.id]
    assert [a.email for a in item.required_attendees] == [BO, "lena@customer.example"]
    assert [a.email for a in item.optional_attendees] == ["max@customer.example"]
    assert item.body == "Agenda" and item.is_meeting

    # A later change of attendees or of the description keeps the list right, and still mails nobody.
    moved = await mailboxes.update_item(
        DEE, quiet.id, item.change_key, {"required_attendees": (ExchangeAttendee(CY),)}, [], [], False
    )
    await mailboxes.update_item(
        DEE, quiet.id, moved.version, {"body": "New agenda", "body_type": "Text"}, [], [], False
    )
    item2 = (await mailboxes.read_items(DEE, [quiet.id]))[quiet.id]
    assert [a.email for a in item2.required_attendees] == [CY] and not item2.optional_attendees
    assert item2.body == "New agenda"
    assert quiet.uid not in {i.uid for i in user(CY).calendar.all().only("uid")}

    # A meeting whose attendees were invited cannot have them changed without mailing them: refused.
    with pytest.raises(RefusedError, match="invitations are off"):
        await mailboxes.update_item(
            DEE, sent.id, None, {"required_attendees": (ExchangeAttendee(CY),)}, [], [], False
        )


async def test_read_items_leaves_out_what_is_gone_and_window_finds_overlaps(
    mailboxes: GraphMailboxes,
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
    mailboxes: GraphMailboxes, user: Callable[[str], Account]
) -> None:
    user_item(
        user(ANA),
        "Customer sync",
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address="lena@customer.example"), response_type="Accept")
        ],
    )
    item_id = await find(mailboxes, ANA, "Customer sync")
    item = (await mailboxes.read_items(ANA, [item_id]))[item_id]
    assert item.required_attendees == (ExchangeAttendee("lena@customer.example", "Accept"),)
    assert item.is_meeting and item.my_response_type == "Organizer"


async def test_r_graph_4_writes_made_together_share_a_batch_and_fail_alone(mailboxes: GraphMailboxes) -> None:
    creates = [mailboxes.create_item(CY, timed(f"Batched {n}"), [], False) for n in range(5)]
    stale = mailboxes.update_item(CY, "AAMkAGUnknownId0001", "CK", {"subject": "gone"}, [], [], False)
    *made, missing = await asyncio.gather(*creates, stale, return_exceptions=True)
    assert isinstance(missing, NotFoundError)  # only its own caller learns of it
    assert all(not isinstance(w, BaseException) and w.id for w in made)
    items = await mailboxes.window_items(CY, START, START + timedelta(hours=1))
    assert sorted(i.subject for i in items if i.subject.startswith("Batched")) == [
        f"Batched {n}" for n in range(5)
    ]
