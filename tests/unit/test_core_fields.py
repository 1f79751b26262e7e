"""SPEC §1 (R-FLD): mapping both ways between canonical and each side's fields."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bridge.core import AllDay, RelationKind, Response, ShowAs, Timed
from bridge.core.fields import (
    ExchangeAttendee,
    ExchangeItem,
    SalesforceRelation,
    event_from_salesforce,
    exchange_fields,
    fit_salesforce,
    item_from_exchange,
    parse_date,
    parse_datetime,
    salesforce_fields,
    salesforce_when,
    version_stamp,
)
from bridge.core.html import html_to_text
from bridge.core.issues import IssueCode
from bridge.core.model import SCALAR_FIELDS

from .factories import POLICY, USER_EMAIL, USER_ID, content

T10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
T11 = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


def sf_record(**fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "Id": "00U1",
        "OwnerId": USER_ID,
        "Subject": "Review",
        "IsAllDayEvent": False,
        "StartDateTime": "2026-12-01T10:00:00.000+0000",
        "EndDateTime": "2026-12-01T11:00:00.000+0000",
        "LastModifiedDate": "2026-11-20T09:00:00.000+0000",
        "SystemModstamp": "2026-11-20T09:00:01.000+0000",
    }
    record.update(fields)
    return record


def ex_item(**fields: object) -> ExchangeItem:
    values: dict[str, object] = {
        "item_id": "AAMk1",
        "change_key": "ck1",
        "subject": "Review",
        "start": T10,
        "end": T11,
        "last_modified_time": T10,
    }
    values.update(fields)
    return ExchangeItem(**values)  # type: ignore[arg-type]


def test_r_fld_1_seven_fields_and_attendees_read_from_salesforce() -> None:
    relations = [
        SalesforceRelation("003A", RelationKind.CONTACT, "Ann@Client.example", "Accepted"),
        SalesforceRelation(USER_ID, RelationKind.USER, USER_EMAIL, "Accepted"),  # the owner: organizer
        SalesforceRelation("003N", RelationKind.CONTACT, None),  # no address: cannot reach Exchange
    ]
    record = sf_record(Description="d", Location="l", ShowAs="OutOfOffice", IsPrivate=True, WhoId="003A")
    copy = event_from_salesforce(record, relations)
    c = copy.content
    assert (c.subject, c.when, c.description, c.location) == ("Review", Timed(T10, T11), "d", "l")
    assert (c.show_as, c.private) == (ShowAs.OUT_OF_OFFICE, True)
    assert [(a.email, a.response) for a in c.attendees] == [("ann@client.example", Response.ACCEPTED)]
    assert version_stamp(copy.version) == "2026-11-20T09:00:01.000+0000" and copy.who_ids == ("003A",)


def test_r_merge_4_two_states_of_an_event_within_one_second_have_different_versions() -> None:
    """Salesforce stamps are exact to the second and an invitee added leaves the Event's stamp alone: the
    version also names what was read, so neither a quick second edit nor a new invitee passes for a replay."""
    first = event_from_salesforce(sf_record(), [])
    edited = event_from_salesforce(sf_record(Location="Room 2"), [])
    invited = event_from_salesforce(
        sf_record(), [SalesforceRelation("003A", RelationKind.CONTACT, "ann@client.example")]
    )
    assert len({first.version, edited.version, invited.version}) == 3
    assert {version_stamp(c.version) for c in (first, edited, invited)} == {"2026-11-20T09:00:01.000+0000"}
    assert event_from_salesforce(sf_record(), []).version == first.version  # the same read, the same version


def test_r_fld_1_seven_fields_and_attendees_read_from_exchange() -> None:
    item = ex_item(
        body="<p>Agenda</p>",
        body_type="HTML",
        location="Room",
        legacy_free_busy_status="OOF",
        sensitivity="Confidential",
        required_attendees=(ExchangeAttendee("Ann@client.example", "Accept"), ExchangeAttendee(USER_EMAIL)),
        optional_attendees=(ExchangeAttendee("bob@client.example", "Tentative"),),
        organizer=USER_EMAIL,
        salesforce_event_id="00U1",
    )
    copy = item_from_exchange(item, POLICY)
    c = copy.content
    assert (c.subject, c.when, c.description, c.location) == ("Review", Timed(T10, T11), "Agenda", "Room")
    assert (c.show_as, c.private) == (ShowAs.OUT_OF_OFFICE, True)
    assert [(a.email, a.response, a.optional) for a in c.attendees] == [
        ("ann@client.example", Response.ACCEPTED, False),
        ("bob@client.example", Response.UNDECIDED, True),
    ]
    assert copy.organizer is None and copy.paired_id == "00U1"


def test_r_fld_1_writes_carry_only_the_named_fields() -> None:
    body = content(description="d", location="l", show_as=ShowAs.FREE, private=True)
    assert salesforce_fields(body, ("location",)) == {"Location": "l"}
    sf = salesforce_fields(body, SCALAR_FIELDS)
    assert sf["ShowAs"] == "Free" and sf["IsPrivate"] is True and sf["StartDateTime"].endswith("Z")  # type: ignore[union-attr]
    ex = exchange_fields(body, SCALAR_FIELDS, POLICY)
    assert (ex["legacy_free_busy_status"], ex["sensitivity"], ex["body_type"]) == ("Free", "Private", "Text")


@pytest.mark.parametrize(
    ("status", "show_as"),
    [
        ("Busy", ShowAs.BUSY),
        ("OOF", ShowAs.OUT_OF_OFFICE),
        ("Free", ShowAs.FREE),
        ("Tentative", ShowAs.BUSY),
        ("NoData", ShowAs.BUSY),
        ("WorkingElsewhere", ShowAs.FREE),
    ],
)
def test_r_fld_show_as_mapping(status: str, show_as: ShowAs) -> None:
    assert item_from_exchange(ex_item(legacy_free_busy_status=status), POLICY).content.show_as is show_as


@pytest.mark.parametrize(
    ("sensitivity", "private"),
    [("Normal", False), ("Personal", False), ("Private", True), ("Confidential", True)],
)
def test_r_fld_sensitivity_mapping(sensitivity: str, private: bool) -> None:
    assert item_from_exchange(ex_item(sensitivity=sensitivity), POLICY).content.private is private


def test_r_fld_2_time_exact_to_the_second_in_utc() -> None:
    odd = datetime(2026, 12, 1, 10, 0, 7, 999_000, tzinfo=UTC)
    assert parse_datetime(odd.isoformat()) == odd.replace(microsecond=0)
    assert parse_datetime("2026-12-01T12:00:07+02:00") == odd.replace(microsecond=0)


def test_r_fld_2_all_day_items_are_dates_in_the_mailbox_time_zone() -> None:
    # Midnight in Berlin is 23:00 UTC the day before: still the 1st in the mailbox.
    start = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    end = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    copy = item_from_exchange(ex_item(is_all_day=True, start=start, end=end), POLICY)
    assert copy.content.when == AllDay(date(2026, 12, 1), date(2026, 12, 3))
    dated = item_from_exchange(
        ex_item(is_all_day=True, start=date(2026, 12, 1), end=date(2026, 12, 3)), POLICY
    )
    assert dated.content.when == copy.content.when
    fields = exchange_fields(dated.content, ("when",), POLICY)
    assert (fields["start"], fields["end"], fields["is_all_day"]) == (
        date(2026, 12, 1),
        date(2026, 12, 3),
        True,
    )


def test_r_fld_2_all_day_to_salesforce_is_activity_date_and_whole_days() -> None:
    body = content()
    all_day = type(body)(subject="Off", when=AllDay(date(2026, 12, 1), date(2026, 12, 4)))
    assert salesforce_fields(all_day, ("when",)) == {
        "IsAllDayEvent": True,
        "ActivityDate": "2026-12-01",
        "DurationInMinutes": 4320,
    }


def test_r_fld_3_change_events_derive_start_and_end() -> None:
    start_ms = int(T10.timestamp() * 1000)
    timed = {"IsAllDayEvent": False, "ActivityDateTime": start_ms, "DurationInMinutes": 60}
    assert salesforce_when(timed) == Timed(T10, T11)
    days = (date(2026, 12, 1) - date(1970, 1, 1)).days
    all_day = {"IsAllDayEvent": True, "ActivityDate": days, "DurationInMinutes": 2880}
    assert salesforce_when(all_day) == AllDay(date(2026, 12, 1), date(2026, 12, 3))
    as_ms = {"IsAllDayEvent": True, "ActivityDate": days * 86_400_000, "EndDateTime": "2026-12-01T00:00:00Z"}
    assert salesforce_when(as_ms) == AllDay(date(2026, 12, 1), date(2026, 12, 2))


def test_r_fld_3_missing_start_is_an_error() -> None:
    with pytest.raises(ValueError, match="without StartDateTime"):
        salesforce_when({"IsAllDayEvent": False})
    with pytest.raises(ValueError, match="without ActivityDate"):
        salesforce_when({"IsAllDayEvent": True})
    with pytest.raises(TypeError):
        parse_datetime(1.5)
    with pytest.raises(TypeError):
        parse_date(1.5)
    with pytest.raises(ValueError, match="date-only"):
        item_from_exchange(ex_item(start=date(2026, 12, 1)), POLICY)


def test_r_fld_dates_accept_every_form() -> None:
    assert parse_date("2026-12-01") == date(2026, 12, 1)
    assert parse_date(T10) == date(2026, 12, 1)
    assert parse_date(date(2026, 12, 1)) == date(2026, 12, 1)
    assert parse_date(None) is None and parse_datetime("") is None
    assert parse_datetime(T10.replace(tzinfo=None)) == T10


def test_w_truncated_fit_salesforce() -> None:
    long = content(subject="s" * 300, location="l" * 300, description="d" * 40_000)
    fitted, cut = fit_salesforce(long)
    assert (len(fitted.subject), len(fitted.location), len(fitted.description), cut) == (
        255,
        255,
        32_000,
        True,
    )
    assert fit_salesforce(content()) == (content(), False)


def test_e_timezone_unknown_zone_is_a_problem_of_the_copy() -> None:
    assert item_from_exchange(ex_item(time_zone="Mars Standard Time"), POLICY).problem is IssueCode.TIMEZONE
    assert item_from_exchange(ex_item(time_zone="Europe/Berlin"), POLICY).problem is None
    assert item_from_exchange(ex_item(time_zone="Not/AZone"), POLICY).problem is IssueCode.TIMEZONE
    assert item_from_exchange(ex_item(time_zone="Europe/Oslo"), POLICY).problem is None


def test_html_to_text_keeps_what_a_reader_sees() -> None:
    markup = (
        "<html><head><style>p{color:red}</style><title>t</title></head><body><p>Hello&nbsp;<b>you</b></p>"
        "<ul><li>one</li><li>two</li></ul>line<br>break<script>x()</script><div>a &amp; b</div></body></html>"
    )
    assert html_to_text(markup) == "Hello you\n\n- one\n\n- two\n\nline\nbreak\na & b"
    assert html_to_text("") == ""
