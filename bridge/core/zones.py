"""Time zones, by IANA name (E-TIMEZONE when a name cannot be mapped).

Exchange names zones the Windows way ("W. Europe Standard Time"); the Exchange adapter turns them into IANA
names with the CLDR table exchangelib ships, and hands the core None where it found no match, so the core
knows one naming only.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> ZoneInfo | None:
    """The zone for an IANA name, UTC when none is given; None when it cannot be mapped (E-TIMEZONE)."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
