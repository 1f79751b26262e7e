"""Windows time zone ids (as EWS carries them in StartTimeZone/EndTimeZone) to IANA zones.

Only used to snap all-day items to local midnight, as Exchange does. The table covers the zones exchangelib
maps the common IANA zones to; an unknown id falls back to UTC rather than failing the request.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

WINDOWS_TO_IANA: dict[str, str] = {
    "UTC": "UTC",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Arabian Standard Time": "Asia/Dubai",
    "India Standard Time": "Asia/Calcutta",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "E. Australia Standard Time": "Australia/Brisbane",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "W. Australia Standard Time": "Australia/Perth",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Central Standard Time": "America/Chicago",
    "Eastern Standard Time": "America/New_York",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
    "SA Pacific Standard Time": "America/Bogota",
    "Pacific SA Standard Time": "America/Santiago",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Buenos_Aires",
    "Central Standard Time (Mexico)": "America/Mexico_City",
}


def zone_for(windows_id: str | None) -> tzinfo:
    name = WINDOWS_TO_IANA.get(windows_id or "UTC", "UTC")
    return UTC if name == "UTC" else ZoneInfo(name)


def snap_all_day(
    start: datetime, end: datetime, start_tz: str | None, end_tz: str | None
) -> tuple[datetime, datetime]:
    """Start down to local midnight, end up to the next local midnight (unless already at one); both UTC."""
    start_zone, end_zone = zone_for(start_tz), zone_for(end_tz)
    local_start = start.astimezone(start_zone)
    snapped_start = datetime.combine(local_start.date(), time(0), tzinfo=start_zone)
    local_end = end.astimezone(end_zone)
    end_day = local_end.date()
    if local_end.time() != time(0):
        end_day += timedelta(days=1)
    if end_day <= local_start.date():
        end_day = local_start.date() + timedelta(days=1)
    snapped_end = datetime.combine(end_day, time(0), tzinfo=end_zone)
    return snapped_start.astimezone(UTC), snapped_end.astimezone(UTC)
