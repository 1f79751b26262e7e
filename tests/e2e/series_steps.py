"""Steps the e2e series stories share: when a weekly series starts, its pattern for Outlook and for
Lightning, booking a Lightning series, reading a series' rows and Outlook items, asking for a reconcile and
reading the open issues. One copy here, so that every story books and reads a series the same way."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import Attendee, CalendarItem, EWSTimeZone, Mailbox
from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from bridge.sandbox.exchange.recurrence import Recurrence as SandboxRecurrence
from bridge.sandbox.people import Outlook, iso, wait_until

from .conftest import World
from .helpers import sync_now as calbridge_sync_now

ZONE = "Europe/Madrid"
WEEKS = 4
BOOK_S = 20  # Salesforce makes a Lightning series' rows at once; generous for a loaded machine
FIELDS = (
    "Id, Subject, OwnerId, StartDateTime, IsAllDayEvent, ActivityDate, IsRecurrence2, "
    "IsRecurrence2Exception, ActivityRecurrence2Id, Recurrence2PatternText, Location, Exchange_Item_Id__c"
)


def first_start(world: World, day_offset: int, hour: int = 16) -> tuple[datetime, datetime]:
    """`hour` UTC a week or more ahead, a day of its own per test (16:00: the afternoon in Madrid, the
    morning in Los Angeles); the start and end of a half-hour meeting."""
    start, _ = world.slot()
    start = start.replace(hour=hour) + timedelta(days=7 + day_offset)
    return start, start + timedelta(minutes=30)


def day(offset: int) -> datetime:
    """16:00 UTC `offset` days from today."""
    today = datetime.now(UTC).replace(hour=16, minute=0, second=0, microsecond=0)
    return today + timedelta(days=offset)


def weekly(start: datetime | date, weeks: int = WEEKS, zone: str = ZONE) -> Recurrence:
    """Outlook's pattern of a weekly series on `start`'s day in `zone`, `weeks` occurrences long."""
    local = start.astimezone(ZoneInfo(zone)).date() if isinstance(start, datetime) else start
    return Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[local.isoweekday()], first_day_of_week=1),
        boundary=NumberedPattern(start=local, number=weeks),
    )


def sandbox_weekly(start: datetime, weeks: int = WEEKS, zone: str = ZONE) -> SandboxRecurrence:
    """The same pattern as the sandbox mailbox writes it, for a meeting an outside organizer sends."""
    local = start.astimezone(ZoneInfo(zone)).date()
    return SandboxRecurrence(
        pattern="WeeklyRecurrence",
        range="NumberedRecurrence",
        start_date=local,
        days_of_week=[local.strftime("%A")],
        first_day_of_week="Monday",
        count=weeks,
    )


def rule(start: datetime, count: int = WEEKS, zone: str = ZONE) -> str:
    """Lightning's pattern (an RRULE) of a weekly series on `start`'s day in `zone`."""
    weekday = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[start.astimezone(ZoneInfo(zone)).weekday()]
    return f"RRULE:FREQ=WEEKLY;BYDAY={weekday};INTERVAL=1;COUNT={count}"


def monthly_rule(offsets: tuple[int, ...]) -> str:
    """A monthly pattern on the days of the month `offsets` days from today fall on (several days a
    month: a pattern Exchange cannot hold, R-REC-6)."""
    days = ",".join(str(day(o).day) for o in offsets)
    return f"RRULE:FREQ=MONTHLY;BYMONTHDAY={days};COUNT={len(offsets)}"


def rows(world: World, subject: str) -> list[dict[str, Any]]:
    """Every Event with `subject` but a series' pattern row: series rows, single events and Salesforce's
    own invitee copies, first start first."""
    return world.desk.query(
        f"SELECT {FIELDS} FROM Event WHERE Subject = {{}} AND GroupEventType != '3' ORDER BY StartDateTime",
        subject,
    )


def events(world: World, subject: str) -> list[dict[str, Any]]:
    """As `rows`, without Salesforce's own invitee copies (child events)."""
    return world.desk.query(
        f"SELECT {FIELDS} FROM Event "
        "WHERE Subject = {} AND GroupEventType != '3' AND IsChild = false ORDER BY StartDateTime",
        subject,
    )


def book(world: World, subject: str, pattern: str, first: datetime, count: int, **fields: Any) -> list[Any]:
    """A half-hour Lightning series of user 0 from `first`; its rows once Salesforce made them."""
    owner, _ = world.user(0)
    world.desk.create_event(
        owner, subject, first, first + timedelta(minutes=30), Recurrence2PatternText=pattern, **fields
    )
    made, _ = wait_until(lambda: (r := rows(world, subject)) and len(r) == count and r, timeout=BOOK_S)
    return list(made)


def statuses(world: World, rows: list[str], relation_id: str) -> list[str | None]:
    """`relation_id`'s invitee status on each of `rows` (None where it is no invitee)."""
    found: list[str | None] = []
    for row in rows:
        held = world.desk.query(
            "SELECT Status FROM EventRelation WHERE EventId = {} AND RelationId = {} AND IsInvitee = true",
            row,
            relation_id,
        )
        found.append(str(held[0]["Status"]) if held else None)
    return found


def start_of(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(row["StartDateTime"]).replace("Z", "+00:00"))


def master(outlook: Outlook, subject: str) -> Any:
    """The Outlook series (its master) with `subject`, if there is one."""
    found = [i for i in outlook.find(subject) if i.type == "RecurringMaster"]
    return found[0] if found else None


def categories(outlook: Outlook, item_id: str) -> list[str]:
    """The item's categories; none once it is gone."""
    found = outlook.by_id(item_id)
    return list(found.categories or []) if found is not None else []


def sync_now(world: World, address: str, timeout: float = 240) -> None:
    """Sync now for the user (R-TIME-5): a window reconcile, run to its end before it returns. Asked of the
    running bridge as `calbridge sync-now` asks it (POST /sync-now on its ops endpoint), without a Python
    start per call (one to five seconds, the most under load); test_ops_and_cli and test_timing_and_restart
    run the command itself. With no bridge answering, the command syncs in this process."""
    query = urllib.parse.urlencode({"user": address})
    request = urllib.request.Request(f"{world.bridge.ops_url}/sync-now?{query}", data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"sync-now for {address}: {exc.code} {exc.read()!r}") from None
    except (urllib.error.URLError, ConnectionError):
        calbridge_sync_now(world, address, timeout)
        return
    assert body.get("done") is True, body


def issues(world: World) -> list[dict[str, Any]]:
    """The open issues, as the ops page lists them."""
    with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
        found: list[dict[str, Any]] = json.loads(answer.read())["issues"]
        return found


def issue_codes(world: World) -> set[str]:
    return {issue["code"] for issue in issues(world)}


def book_monthly(world: World, subject: str, offsets: tuple[int, ...]) -> list[Any]:
    """A Lightning series on the days of the month `offsets` days from today fall on, from the first (a
    pattern Exchange cannot hold, R-REC-6); its rows once Salesforce made them."""
    return book(world, subject, monthly_rule(offsets), day(offsets[0]), len(offsets))


def move_series(world: World, outlook: Outlook, master_id: str, subject: str, moved: datetime) -> list[str]:
    """The owner moves their Outlook series (its pattern too) to start at `moved`; Salesforce cannot change a
    series' pattern, so the Lightning series is made anew (R-REC-5). Waits for its rows on the new days and
    returns their starts (to the minute)."""
    tz = ZoneInfo(ZONE)
    outlook.change(
        outlook.by_id(master_id),
        start=moved.astimezone(tz),
        end=(moved + timedelta(minutes=30)).astimezone(tz),
        recurrence=weekly(moved),
    )
    expected = [iso(moved + timedelta(weeks=n))[:16] for n in range(WEEKS)]
    wait_until(
        lambda: [r["StartDateTime"][:16] for r in rows(world, subject)] == expected or None, timeout=30
    )
    return expected


# ----------------------------------------------- an outside organizer's series sent to enrolled people

OUTSIDE = "host@partner.example"  # the sandbox plays this organizer (R-DEL kind D)
OUTSIDE_WAIT_S = 30
Rows = list[dict[str, Any]]


def deliver_outside(world: World, indexes: list[int], subject: str, day_offset: int) -> dict[int, Any]:
    """The outside organizer's weekly meeting in the mailboxes of the users at `indexes`: their masters."""
    start, end = first_start(world, day_offset)
    addresses = [world.user(i)[1] for i in indexes]
    world.sandbox.exchange.deliver_external_meeting(
        addresses, OUTSIDE, subject, start, end, time_zone=ZONE, recurrence=sandbox_weekly(start)
    )
    masters: dict[int, Any] = {}
    for index in indexes:
        masters[index], _ = wait_until(
            lambda i=index: master(world.outlook(i), subject), timeout=OUTSIDE_WAIT_S
        )
    return masters


def shared_outside_series(
    world: World, subject: str, day_offset: int
) -> tuple[list[dict[str, Any]], dict[int, Any]]:
    """Users 1 and 2 get the outside organizer's series; user 1 accepts first (its series syncs), then 2."""
    masters = deliver_outside(world, [1, 2], subject, day_offset)
    masters[1].accept()
    rows, _ = wait_until(
        lambda: (r := events(world, subject)) and len(r) == WEEKS and r, timeout=OUTSIDE_WAIT_S
    )
    # User 1's series synced to its end (its invitees are written last): user 2 is one of them.
    second_id, _ = world.user(2)
    wait_until(
        lambda: all(second_id in world.desk.invitees(r["Id"]) for r in rows) or None, timeout=OUTSIDE_WAIT_S
    )
    wait_until(
        lambda: "Salesforce" in categories(world.outlook(1), masters[1].id) or None, timeout=OUTSIDE_WAIT_S
    )
    masters[2].accept()
    _, second = world.user(2)
    sync_now(world, second)
    return rows, masters


# ------------------------------------------------------------------- a colleague's series (R-DEL kind E)

COLLEAGUE_WAIT_S = 30


def colleague_series(world: World, day_offset: int, subject: str) -> tuple[Any, Any, datetime]:
    """Kind E: user 1 sends a weekly meeting to user 0, an enrolled colleague, who accepts it. One Lightning
    series for the meeting, the organizer's, with user 0 an invitee of every row (R-MULTI-1); user 0's copy
    is not synced as a second series (R-SCOPE-6). The organizer's master, user 0's copy, the first start."""
    attendee_id, attendee = world.user(0)
    organizer = world.outlook(1)
    start, end = first_start(world, day_offset)
    tz = EWSTimeZone(ZONE)
    item = CalendarItem(
        folder=organizer.account.calendar,
        subject=subject,
        start=start.astimezone(tz),
        end=end.astimezone(tz),
        recurrence=weekly(start),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=attendee), response_type="Unknown")],
    )
    item.save(send_meeting_invitations="SendToAllAndSaveCopy")
    rows, _ = wait_until(
        lambda: (r := events(world, subject)) and len(r) == WEEKS and r, timeout=COLLEAGUE_WAIT_S
    )
    wait_until(
        lambda: all(attendee_id in world.desk.invitees(r["Id"]) for r in rows) or None,
        timeout=COLLEAGUE_WAIT_S,
    )
    mine, _ = wait_until(lambda: master(world.outlook(0), subject), timeout=COLLEAGUE_WAIT_S)
    mine.accept()
    sync_now(world, attendee)
    assert [r["Id"] for r in events(world, subject)] == [r["Id"] for r in rows], "a second series"
    organizers = organizer.by_id(item.id)
    wait_until(lambda: "Salesforce" in categories(organizer, organizers.id) or None, timeout=COLLEAGUE_WAIT_S)
    return organizers, world.outlook(0).by_id(mine.id), start
