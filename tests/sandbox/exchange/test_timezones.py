"""All-day snapping uses the mailbox's Windows zone, for every zone Exchange knows, not a short list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.sandbox.exchange.timezones import snap_all_day


@pytest.mark.parametrize(
    ("windows_id", "start", "end"),
    [
        # UTC+5:45: 10:00Z is 15:45 in Kathmandu, so the day starts at 18:15Z the evening before.
        (
            "Nepal Standard Time",
            datetime(2026, 11, 30, 18, 15, tzinfo=UTC),
            datetime(2026, 12, 1, 18, 15, tzinfo=UTC),
        ),
        (
            "Egypt Standard Time",
            datetime(2026, 11, 30, 22, tzinfo=UTC),
            datetime(2026, 12, 1, 22, tzinfo=UTC),
        ),
        ("Pacific Standard Time", datetime(2026, 12, 1, 8, tzinfo=UTC), datetime(2026, 12, 2, 8, tzinfo=UTC)),
    ],
)
def test_all_day_snaps_to_local_midnight_of_the_windows_zone(
    windows_id: str, start: datetime, end: datetime
) -> None:
    moment = datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert snap_all_day(moment, moment, windows_id, windows_id) == (start, end)
