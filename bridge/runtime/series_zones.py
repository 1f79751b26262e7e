"""The series road's time zones (SPEC §15; `bridge.core.series_zones`): the owner's Salesforce zone, read
when a series needs it, and both sides' series said in one zone before the core compares them.

Salesforce repeats a Lightning series in its owner's zone (`User.TimeZoneSidKey`); an Outlook series repeats
in its start's zone. Before planning, an Outlook series that the owner's zone cannot hold (its occurrences
would fall at other times there) is marked so (`Unmappable` "ZONE": it syncs occurrence by occurrence,
R-REC-6), and each side's pattern is said in the zone the stored series keeps, so the same series read in
two zones is no new pattern (R-REC-5). A Lightning series the bridge writes from an Outlook series gets its
pattern said in the owner's zone (`salesforce_rule`), so its rows fall on the Outlook occurrences' days.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from bridge.core.patterns import Pattern, Unmappable
from bridge.core.patterns_rrule import rrule_text
from bridge.core.series import Series, SeriesState
from bridge.core.series_zones import in_zone

log = logging.getLogger(__name__)

ZONE_TTL = 3600.0  # seconds an owner's zone is trusted before it is read again


class OwnerZones:
    """Each user's Salesforce time zone, read once an hour at most, and only when a series needs it. A
    Salesforce port that cannot tell (the in-memory one) leaves every series in its own zone."""

    def __init__(self, salesforce: object) -> None:
        self._read = getattr(salesforce, "owner_time_zone", None)
        self._known: dict[str, tuple[float, str | None]] = {}

    async def of(self, user_id: str) -> str | None:
        if self._read is None:
            return None
        cached = self._known.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < ZONE_TTL:
            return cached[1]
        zone: str | None = await self._read(user_id)
        self._known[user_id] = (time.monotonic(), zone)
        return zone

    def known(self, user_id: str) -> str | None:
        cached = self._known.get(user_id)
        return cached[1] if cached is not None else None


def in_one_zone(
    state: SeriesState | None, sf: Series | None, ex: Series | None, owner_zone: str | None
) -> tuple[Series | None, Series | None]:
    """Both sides' series as the core should compare them (see the module's docstring)."""
    if owner_zone is None:
        return sf, ex
    if ex is not None and isinstance(ex.rule, Pattern) and in_zone(ex.rule, ex.anchor, owner_zone) is None:
        detail = f"repeats in {ex.anchor.zone}, the owner's Salesforce series in {owner_zone}"
        ex = replace(ex, rule=Unmappable("ZONE", detail))
    zone = state.anchor.zone if state is not None and state.anchor is not None else None
    if zone is None:
        return sf, ex
    return _said_in(sf, zone), _said_in(ex, zone)


def _said_in(series: Series | None, zone: str) -> Series | None:
    if series is None or not isinstance(series.rule, Pattern) or series.anchor.zone == zone:
        return series
    found = in_zone(series.rule, series.anchor, zone)
    if found is None:
        return series
    return replace(series, rule=found[0], anchor=found[1])


def salesforce_rule(rule: str, source: Series | None, owner_zone: str | None) -> str:
    """The pattern text a Lightning series is written with: the Outlook series' pattern said in the owner's
    zone, where Salesforce repeats it; `rule` (the core's) when there is no other zone to say it in."""
    if owner_zone is None or source is None or not isinstance(source.rule, Pattern):
        return rule
    found = in_zone(source.rule, source.anchor, owner_zone)
    if found is None or found[1].zone == source.anchor.zone:
        return rule
    return rrule_text(*found)
