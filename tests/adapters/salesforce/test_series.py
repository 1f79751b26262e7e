"""Lightning event series read through the Salesforce adapter against the sandbox (R-REC-1, R-REC-2, R-REC-6):
the rows of one series as a core `Series`, the pattern row left out, the rule read by meaning."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from simple_salesforce.api import Salesforce

from bridge.core.patterns import Frequency, Pattern, Unmappable, Weekday
from bridge.salesforce import SalesforceAdapter
from bridge.salesforce.series import read_series

from .conftest import unique

START = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)  # a Monday


def person_creates_series(plain: Salesforce, subject: str, rule: str) -> str:
    """A Lightning series created as a person would (API 52.0+: Recurrence2PatternText on create)."""
    first = plain.Event.create(
        {
            "Subject": subject,
            "StartDateTime": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "EndDateTime": (START + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Recurrence2PatternText": rule,
        }
    )["id"]
    (row,) = plain.query(f"SELECT ActivityRecurrence2Id FROM Event WHERE Id = '{first}'")["records"]
    return str(row["ActivityRecurrence2Id"])


async def test_r_rec_2_a_series_reads_as_its_occurrence_rows_keyed_by_original_start(
    salesforce: SalesforceAdapter, plain: Salesforce
) -> None:
    subject = unique("Weekly pipeline")
    series_id = person_creates_series(plain, subject, "FREQ=WEEKLY;BYDAY=MO;COUNT=5")
    found = await read_series(salesforce.rest, series_id, {})
    assert found is not None and found.id == series_id
    # Salesforce saved the rule normalised (WKST from the user's locale); the core reads it by meaning.
    assert found.rule == Pattern(
        Frequency.WEEKLY, days=frozenset({Weekday.MO}), first_day=Weekday.SU, count=5
    )
    zone = ZoneInfo(found.anchor.zone)  # the creating user's zone: occurrences keep its wall-clock time
    local = START.astimezone(zone)
    assert (found.anchor.first, found.anchor.time_of_day) == (local.date(), local.time())
    mondays = [datetime.combine(local.date() + timedelta(weeks=n), local.time(), zone) for n in range(5)]
    assert [o.original_start for o in found.occurrences] == [m.astimezone(UTC) for m in mondays]
    assert all(o.content.subject == subject for o in found.occurrences)  # the pattern row is no occurrence
    assert found.last_start == mondays[-1].astimezone(UTC)
    # A row the bridge knows keeps the original start it recorded for it (R-REC-2).
    recorded = found.occurrences[1].original_start - timedelta(hours=1)
    again = await read_series(salesforce.rest, series_id, {found.occurrences[1].id: recorded})
    assert again is not None and again.occurrence(recorded) is not None


async def test_r_rec_6_a_week_number_series_reads_as_unmappable_with_its_rows(
    salesforce: SalesforceAdapter, plain: Salesforce
) -> None:
    series_id = person_creates_series(
        plain, unique("Week 10 review"), "FREQ=YEARLY;BYWEEKNO=10;BYDAY=MO;COUNT=3"
    )
    found = await read_series(salesforce.rest, series_id, {})
    assert found is not None and isinstance(found.rule, Unmappable) and found.rule.code == "BYWEEKNO"
    assert len(found.occurrences) == 3
    assert await read_series(salesforce.rest, "828000000000zzz", {}) is None


async def test_r_rec_4_a_deleted_row_changes_the_series_version(
    salesforce: SalesforceAdapter, plain: Salesforce
) -> None:
    # Deleting a row modifies no other row: the version must still change, or the deletion reads as a replay.
    series_id = person_creates_series(plain, unique("Weekly forecast"), "FREQ=WEEKLY;BYDAY=MO;COUNT=3")
    before = await read_series(salesforce.rest, series_id, {})
    assert before is not None
    plain.Event.delete(before.occurrences[1].id)
    after = await read_series(salesforce.rest, series_id, {})
    assert after is not None and len(after.occurrences) == 2
    assert after.version != before.version


async def test_r_rec_3_a_past_row_edited_changes_the_series_version(
    salesforce: SalesforceAdapter, plain: Salesforce
) -> None:
    # A past row edited is an exception of its own (API 58.0), in the same second as the series was made:
    # the rows tie on SystemModstamp, and the version must still move, or the edit reads as a replay.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(weeks=3)
    first = plain.Event.create(
        {
            "Subject": unique("Weekly retro"),
            "StartDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "EndDateTime": (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Recurrence2PatternText": "FREQ=DAILY;COUNT=3",
        }
    )["id"]
    (row,) = plain.query(f"SELECT ActivityRecurrence2Id FROM Event WHERE Id = '{first}'")["records"]
    before = await read_series(salesforce.rest, str(row["ActivityRecurrence2Id"]), {})
    assert before is not None
    plain.Event.update(before.occurrences[1].id, {"Location": "Lab"})
    after = await read_series(salesforce.rest, before.id, {})
    assert after is not None and after.occurrences[1].exception
    assert after.version != before.version


async def test_r_rec_4_this_and_following_deleted_leaves_the_earlier_rows(
    salesforce: SalesforceAdapter, plain: Salesforce
) -> None:
    # Salesforce deletes "this and following" asynchronously: the call answers at once, the rows go soon.
    series_id = person_creates_series(plain, unique("Weekly standup"), "FREQ=WEEKLY;BYDAY=MO;COUNT=4")
    before = await read_series(salesforce.rest, series_id, {})
    assert before is not None
    await salesforce.delete_onwards(before.occurrences[2].id)
    for _ in range(50):
        after = await read_series(salesforce.rest, series_id, {})
        if after is not None and len(after.occurrences) == 2:
            break
        await asyncio.sleep(0.1)
    assert after is not None
    assert [o.id for o in after.occurrences] == [o.id for o in before.occurrences[:2]]
