"""Graph's ``dateTimeTimeZone``: ``{"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "UTC"}``.

Graph accepts Windows zone names and IANA ids; the shared store keeps Windows ids (as EWS carries them), so an
IANA id is stored as its Windows zone (CLDR's table, as exchangelib ships it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib.winzone import CLDR_TO_MS_TIMEZONE_MAP

from ..exchange.timezones import WINDOWS_TO_IANA
from .errors import GraphError

_ALIASES = {"utc": "UTC", "etc/utc": "UTC", "gmt": "UTC", "z": "UTC"}
_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_WINDOWS_BY_LOWER = {name.lower(): name for name in WINDOWS_TO_IANA}


def windows_zone(name: str) -> str:
    """The Windows id for a Graph ``timeZone``; 400 TimeZoneNotSupportedException for an unknown one."""
    key = name.strip()
    if key.lower() in _ALIASES:
        return "UTC"
    if key.lower() in _WINDOWS_BY_LOWER:
        return _WINDOWS_BY_LOWER[key.lower()]
    if key in CLDR_TO_MS_TIMEZONE_MAP:
        return str(CLDR_TO_MS_TIMEZONE_MAP[key][0])
    raise GraphError(
        400,
        "TimeZoneNotSupportedException",
        f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'.",
    )


def zone_info(name: str | None) -> tzinfo:
    """A zone for output (``Prefer: outlook.timezone``): Windows or IANA; unknown means UTC."""
    if not name or name.lower() in _ALIASES:
        return UTC
    iana = WINDOWS_TO_IANA.get(_WINDOWS_BY_LOWER.get(name.lower(), ""), None) or name
    try:
        return UTC if iana == "UTC" else ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_dtz(value: object, field: str) -> tuple[datetime, str]:
    """A ``dateTimeTimeZone`` -> (aware UTC datetime, Windows zone id)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphError(400, "RequestBodyRead", f"The property '{field}' must be a dateTimeTimeZone.")
    zone_name = value.get("timeZone") or "UTC"
    if not isinstance(zone_name, str):
        raise GraphError(400, "RequestBodyRead", f"The property '{field}/timeZone' must be a string.")
    windows = windows_zone(zone_name)
    match = _DATE_TIME.match(value["dateTime"].strip())
    if match is None:
        raise GraphError(
            400, "RequestBodyRead", f"Cannot convert the literal '{value['dateTime']}' to a dateTime."
        )
    date, clock, _fraction, offset = match.groups()
    local = datetime.fromisoformat(f"{date}T{clock}")
    if offset:
        aware = datetime.fromisoformat(f"{date}T{clock}{'+00:00' if offset == 'Z' else offset}")
    else:
        aware = local.replace(tzinfo=zone_info(windows))
    return aware.astimezone(UTC).replace(microsecond=0), windows


def format_dtz(moment: datetime, zone_name: str | None) -> dict[str, str]:
    zone = zone_info(zone_name)
    local = moment.astimezone(zone)
    shown = "UTC" if zone is UTC else (zone_name or "UTC")
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": shown}


def parse_instant(value: str, name: str) -> datetime:
    """A query string time (``startDateTime``): ISO 8601, UTC when it carries no offset."""
    text = value.strip().replace(" ", "+")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(
            400, "ErrorInvalidParameter", f"The value '{value}' of parameter '{name}' is invalid."
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def iso_utc(moment: datetime | None) -> str:
    if moment is None:
        return "0001-01-01T00:00:00Z"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def iso_precise(moment: datetime) -> str:
    """``2026-03-04T09:00:00.0000000Z``-style times of created/modified stamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-6] + "0000000Z"
