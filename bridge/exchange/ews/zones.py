"""The time zone of a mailbox, as an IANA name (all-day dates are calendar dates there, R-FLD).

Exchange keeps the zone a user chose in Outlook on the web in the `OWA.UserOptions` configuration of the
mailbox root (key `timezone`, a Windows id). A mailbox never opened there, or a server without that
configuration, has none; then the zone its owner's own items are made in is the best evidence (the most
frequent StartTimeZone other than UTC of the items they organize around now), and UTC when there is
none.
Windows ids are mapped with exchangelib's CLDR table; an unmappable id is returned as it is, so the core
raises E-TIMEZONE rather than syncing dates in a guessed zone.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from exchangelib import Account
from exchangelib.errors import EWSError

from .items import iana_zone
from .reading import RecentItems, window

EVIDENCE_DAYS = 30


def _configured(account: Account) -> str | None:
    try:
        options = account.root.get_user_configuration(name="OWA.UserOptions", properties="Dictionary")
    except EWSError:  # not there (never opened in OWA), or not offered by this server
        return None
    dictionary = getattr(options, "dictionary", None) or {}
    value = dictionary.get("timezone")
    return str(value) if value else None


def mailbox_zone(account: Account, recent: RecentItems | None = None) -> str:
    """The mailbox's zone: configured, else the zone of its owner's items, else UTC (blocking)."""
    configured = _configured(account)
    if configured:
        return iana_zone(configured) or "UTC"
    now = datetime.now(UTC)
    items = window(account, now - timedelta(days=EVIDENCE_DAYS), now + timedelta(days=EVIDENCE_DAYS), recent)
    own = [
        i.time_zone for i in items if i.time_zone and (not i.is_meeting or i.my_response_type == "Organizer")
    ]
    # Items the bridge wrote carry UTC (timed items need no zone of their own): other zones say more.
    local = [zone for zone in own if zone != "UTC"]
    if not local:
        return "UTC"
    return str(Counter(local).most_common(1)[0][0])
