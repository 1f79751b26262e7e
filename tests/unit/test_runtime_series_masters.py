"""What the mailbox sync's masters and deletions mean to the series road (bridge.runtime.series_masters):
R-REC-7 (a series deleted whole, known from the store across a restart) and R-MULTI-1 (a colleague's meeting
series is the organizer's, not the attendee's)."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.core.fields import ExchangeItem
from bridge.core.model import Side
from bridge.core.series import OccurrencePair, SeriesState
from bridge.ports import StoredSeries
from bridge.runtime.series_masters import followed_masters, masters_of_deleted

START = datetime(2026, 12, 8, 16, tzinfo=UTC)
ENROLLED = {"ana@corp.example": "005ANA", "ben@corp.example": "005BEN"}


def _stored(master: str, occurrences: tuple[str, ...]) -> StoredSeries:
    pairs = tuple(OccurrencePair(START, f"00U{n}", o) for n, o in enumerate(occurrences))
    return StoredSeries(
        "005ANA", SeriesState(f"series:ex:{master}", Side.EXCHANGE, "828A", master, occurrences=pairs)
    )


def _master(item_id: str, organizer: str | None) -> ExchangeItem:
    return ExchangeItem(item_id=item_id, change_key="ck", subject="Weekly", start=START, end=START,
                        last_modified_time=START, is_recurring=True, organizer=organizer)  # fmt: skip


def test_r_rec_7_an_occurrence_deleted_names_its_stored_master() -> None:
    stored = [_stored("M1", ("M1#1", "M1#2")), _stored("M2", ("M2#1",))]
    assert masters_of_deleted(["M1#2", "X"], stored) == {"M1"}
    assert masters_of_deleted(["X"], stored) == set()


def test_r_multi_1_a_colleagues_meeting_series_is_left_to_the_organizer() -> None:
    items = [
        _master("C", "ben@corp.example"),  # a colleague organizes: the organizer's series is the one
        _master("O", "ana@corp.example"),  # the user's own
        _master("D", "host@partner.example"),  # an outside organizer (kind D): synced by this user
        _master("S", "ben@corp.example"),  # already stored for this user: keeps syncing
    ]
    assert followed_masters(items, [_stored("S", ())], ENROLLED, "005ANA") == {"C"}
