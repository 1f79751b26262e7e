"""Windows time zone ids (as EWS carries them in StartTimeZone/EndTimeZone) to IANA zones.

Only used to snap all-day items to local midnight, as Exchange does. An unknown id falls back to UTC rather
than failing the request.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

# The CLDR windowsZones table, as exchangelib ships it: every Windows id Exchange knows, to its IANA zone.
WINDOWS_TO_IANA: dict[str, str] = {"UTC": "UTC", **MS_TIMEZONE_TO_IANA_MAP}


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
