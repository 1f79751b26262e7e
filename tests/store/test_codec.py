"""The JSON forms of the raw copies a pair keeps: every EventRecord and ExchangeItem comes back equal."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given

from bridge.core.fields import ExchangeItem
from bridge.errors import MappingError
from bridge.ports import EventRecord
from bridge.store.codec import dumps, event_from_dict, event_to_dict, item_from_dict, item_to_dict, loads
from tests.store import strategies as s


def through_text(data: object) -> object:
    assert isinstance(data, dict)
    return loads(dumps(data))


@given(s.events)
def test_event_round_trip(record: EventRecord) -> None:
    assert event_from_dict(through_text(event_to_dict(record))) == record


@given(s.items)
def test_item_round_trip(item: ExchangeItem) -> None:
    assert item_from_dict(through_text(item_to_dict(item))) == item


@given(s.events)
def test_event_form_is_ascii_json(record: EventRecord) -> None:
    text = dumps(event_to_dict(record))
    assert text.isascii()
    assert json.loads(text)["v"] == 1


def test_field_types_survive_exactly() -> None:
    """An int stays an int, a float a float, a bool a bool: `1 == 1.0 == True` would hide a change."""
    values = {"n": 1, "f": 1.0, "b": True, "none": None, "big": 1e308, "inf": math.inf, "d": date(2024, 5, 1)}
    back = event_from_dict(through_text(event_to_dict(EventRecord(fields=values))))
    assert back.fields == values
    assert [type(back.fields[name]) for name in values] == [type(value) for value in values.values()]


def test_datetimes_keep_their_offset_and_dates_stay_dates() -> None:
    plus_two = timezone(timedelta(hours=2))
    item = s.all_day_item("AAMk1")
    timed = s.item("AAMk2")
    start = datetime(2024, 5, 1, 11, 0, 0, 123456, tzinfo=plus_two)
    back = item_from_dict(through_text(item_to_dict(item)))
    assert type(back.start) is date and back.start == date(2024, 5, 2)
    moved = item_from_dict(through_text({**item_to_dict(timed), "start": {"datetime": start.isoformat()}}))
    assert isinstance(moved.start, datetime)
    assert moved.start.utcoffset() == timedelta(hours=2) and moved.start.microsecond == 123456
    assert moved.last_modified_time == timed.last_modified_time
    assert moved.last_modified_time.utcoffset() == timedelta(0)
    assert timed.last_modified_time.tzinfo is UTC


def test_an_older_form_without_a_new_field_reads_with_its_default() -> None:
    data = item_to_dict(s.item("AAMk1"))
    del data["time_zone"], data["is_recurring"]
    back = item_from_dict(data)
    assert back.time_zone is None and back.is_recurring is False


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"fields": {}},  # no version
        {"v": 2, "fields": {}, "relations": []},  # a later release's form
        {"v": 1, "fields": [], "relations": []},
        {"v": 1, "fields": {"X": {"set": [1]}}, "relations": []},
        {"v": 1, "fields": {}, "relations": [{"kind": "user"}]},
        {"v": 1, "fields": {}, "relations": [{"relation_id": "003", "kind": "robot"}]},
    ],
)
def test_unreadable_event_forms_raise_mapping_error(data: object) -> None:
    with pytest.raises(MappingError):
        event_from_dict(data)


@pytest.mark.parametrize(
    "change",
    [
        {"start": "2024-05-01"},
        {"start": {"date": 5}},
        {"item_id": None, "required_attendees": [{}]},
        {"v": 0},
    ],
)
def test_unreadable_item_forms_raise_mapping_error(change: dict[str, object]) -> None:
    with pytest.raises(MappingError):
        item_from_dict({**item_to_dict(s.item("AAMk1")), **change})


def test_unparseable_text_raises_mapping_error() -> None:
    with pytest.raises(MappingError):
        loads("{not json")


def test_a_field_value_no_store_can_keep_is_refused_on_the_way_in() -> None:
    with pytest.raises(TypeError, match="'Tags'"):
        event_to_dict(EventRecord(fields={"Tags": {"a", "b"}}))
