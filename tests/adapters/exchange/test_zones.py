"""Time zones: Windows ids become IANA names with exchangelib's CLDR table; an id it does not know is passed
through as it is, so the core raises E-TIMEZONE for it (R-FLD-2, E-TIMEZONE)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from exchangelib import Account, CalendarItem, EWSDateTime, EWSTimeZone

from bridge.core.fields import item_from_exchange
from bridge.core.issues import IssueCode
from bridge.core.model import Policy
from bridge.exchange.ews import EwsMailboxes
from bridge.exchange.ews.items import iana_zone

from .conftest import CY, DEE


def user_item_in_zone(account: Account, subject: str, zone: EWSTimeZone, days: int = 1) -> str:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime.from_datetime(start).astimezone(zone),
        end=EWSDateTime.from_datetime(start + timedelta(hours=1)).astimezone(zone),
    )
    item.save()
    return str(item.id)


def test_windows_ids_map_with_the_cldr_table() -> None:
    assert iana_zone("Romance Standard Time") == "Europe/Paris"
    assert iana_zone("Tokyo Standard Time") == "Asia/Tokyo"
    assert iana_zone("UTC") == "UTC"
    assert iana_zone("Mars Standard Time") == "Mars Standard Time"
    assert iana_zone(None) is None


async def test_e_timezone_an_items_zone_is_mapped_or_passed_through(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    tokyo = user_item_in_zone(user(DEE), "In Tokyo", EWSTimeZone("Asia/Tokyo"))
    # A private zone object: EWSTimeZone("Europe/Paris") is a cached singleton the whole process shares.
    unknown_zone = EWSTimeZone.no_cache("Europe/Paris")
    unknown_zone.ms_id = "Mars Standard Time"  # a zone the CLDR table has never heard of
    unknown_zone.ms_name = ""
    mars = user_item_in_zone(user(DEE), "On Mars", unknown_zone)

    items = await mailboxes.read_items(DEE, [tokyo, mars])
    assert items[tokyo].time_zone == "Asia/Tokyo"
    assert items[mars].time_zone == "Mars Standard Time"
    policy = Policy(user_email=DEE)
    assert item_from_exchange(items[tokyo], policy).problem is None
    assert item_from_exchange(items[mars], policy).problem is IssueCode.TIMEZONE


async def test_the_mailbox_zone_is_the_one_its_owner_uses(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    assert await mailboxes.time_zone(CY) == "UTC"  # nothing to go by yet: UTC
    for day in (1, 2):
        user_item_in_zone(user(CY), "Stand-up", EWSTimeZone("Europe/Berlin"), days=day)
    user_item_in_zone(user(CY), "Call with Tokyo", EWSTimeZone("Asia/Tokyo"), days=3)
    fresh = await mailboxes.time_zone(CY)  # cached for an hour
    assert fresh == "UTC"
    mailboxes._zones.clear()
    assert await mailboxes.time_zone(CY) == "Europe/Berlin"
