"""The Salesforce time zone of a user (`User.TimeZoneSidKey`): Salesforce repeats a Lightning series in its
owner's zone, whoever writes it (reference/recurrence.md §2; `bridge.core.series_zones`)."""

from __future__ import annotations

from bridge.salesforce import soql
from bridge.salesforce.rest import RestClient


async def time_zone(rest: RestClient, user_id: str) -> str | None:
    """The user's `TimeZoneSidKey` (an IANA name), None when Salesforce shows no such user."""
    rows = await rest.query(f"SELECT TimeZoneSidKey FROM User WHERE Id = {soql.quote(user_id)}")
    found = rows[0].get("TimeZoneSidKey") if rows else None
    return str(found) if found else None
