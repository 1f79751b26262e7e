"""The store keeps a pair state as data (bridge.core.serial): every field comes back, and bad data is refused
with a message that names the field. R-TIME-2: after a restart the bridge resumes from its stored states."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core import (
    AllDay,
    Attendee,
    Content,
    IssueCode,
    Kind,
    PairState,
    PairStatus,
    Relation,
    RelationKind,
    Response,
    ShowAs,
    Side,
    Timed,
    Tombstone,
)
from bridge.core.model import Held
from bridge.core.serial import state_from_dict, state_to_dict

TEXT = st.text(max_size=12)
IDS = st.text(alphabet="0123456789ABCDEFabcdef", min_size=1, max_size=18)
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))
WHENS = st.one_of(
    st.builds(
        lambda start, minutes: Timed(start, start + timedelta(minutes=minutes)),
        INSTANTS,
        st.integers(0, 9999),
    ),
    st.builds(lambda first, days: AllDay(first, first + timedelta(days=days)), DATES, st.integers(1, 30)),
)
RELATIONS = st.builds(Relation, IDS, st.sampled_from(list(RelationKind)), st.booleans())
ATTENDEES = st.builds(
    Attendee, st.emails(), st.sampled_from(list(Response)), st.none() | RELATIONS, st.booleans()
)
CONTENTS = st.builds(
    Content,
    subject=TEXT,
    when=WHENS,
    description=TEXT,
    location=TEXT,
    show_as=st.sampled_from(list(ShowAs)),
    private=st.booleans(),
    attendees=st.lists(ATTENDEES, max_size=4).map(tuple),
)


@st.composite
def states(draw: st.DrawFn) -> PairState:
    sf_id, ex_id = draw(st.none() | IDS), draw(st.none() | IDS)
    if sf_id is None and ex_id is None:
        sf_id = draw(IDS)
    base_sf, base_ex = draw(st.none() | CONTENTS), draw(st.none() | CONTENTS)
    return PairState(
        status=draw(st.sampled_from(list(PairStatus))),
        kind=draw(st.sampled_from(list(Kind))),
        origin=draw(st.sampled_from(list(Side))),
        key=draw(st.just("") | TEXT.filter(bool)),
        sf_id=sf_id,
        ex_id=ex_id,
        uid=draw(st.none() | TEXT),
        base_sf=base_sf,
        base_ex=base_ex,
        sf_version=draw(st.none() | TEXT) if base_sf is not None and sf_id else None,
        ex_version=draw(st.none() | TEXT) if base_ex is not None and ex_id else None,
        masked=draw(st.none() | st.sampled_from(list(Side))),
        owns_event=draw(st.booleans()),
        organizer_user_id=draw(st.none() | IDS),
        my_status=draw(st.none() | st.sampled_from(list(Response))),
        unresolved=draw(st.frozensets(st.emails(), max_size=3)),
        open_issues=draw(st.frozensets(st.sampled_from(list(IssueCode)))),
        tombstone=draw(st.none() | st.builds(Tombstone, TEXT, INSTANTS)),
        bridge_category=draw(st.booleans()),
        held=tuple(
            Held(side, draw(TEXT), draw(INSTANTS), draw(CONTENTS))
            for side in draw(st.lists(st.sampled_from(list(Side)), max_size=2, unique=True))
        ),
    )


@given(states())
def test_r_time_2_a_stored_state_comes_back_equal_through_json(state: PairState) -> None:
    data = state_to_dict(state)
    assert data["v"] == 1
    assert state_from_dict(json.loads(json.dumps(data))) == state


@given(states())
def test_r_time_2_equal_states_give_equal_data(state: PairState) -> None:
    assert json.dumps(state_to_dict(state)) == json.dumps(
        state_to_dict(state_from_dict(state_to_dict(state)))
    )


def sample() -> dict[str, object]:
    when = Timed(datetime(2026, 1, 1, 9, tzinfo=UTC), datetime(2026, 1, 1, 10, tzinfo=UTC))
    person = Attendee("ann@client.example", relation=Relation("003ANN", RelationKind.CONTACT))
    state = PairState(
        status=PairStatus.ACTIVE,
        kind=Kind.C,
        origin=Side.SALESFORCE,
        sf_id="00U1",
        ex_id="AAMk1",
        base_sf=Content("Review", when, attendees=(person,)),
        base_ex=Content("Review", AllDay(date(2026, 1, 1), date(2026, 1, 2))),
        sf_version="v1",
    )
    return state_to_dict(state)


def test_the_key_is_the_first_copys_and_survives_the_round_trip() -> None:
    assert sample()["key"] == "sf:00U1"
    assert state_from_dict(sample()).key == "sf:00U1"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"v": 2}, "state.v: unknown format version 2"),
        ({"v": True}, "state.v"),
        ({"status": "paused"}, "state.status: 'paused' is not one of"),
        ({"owns_event": "yes"}, "state.owns_event: expected bool"),
        ({"sf_id": 7}, "state.sf_id: expected str"),
        ({"open_issues": ["E-NOPE"]}, "state.open_issues[0]"),
        ({"unresolved": "a@b.example"}, "state.unresolved: expected list"),
        ({"tombstone": {"reason": "R-DEL-2", "at": "yesterday"}}, "state.tombstone.at"),
        ({"tombstone": {"reason": "R-DEL-2", "at": "2026-01-01T00:00:00"}}, "has no UTC offset"),
        ({"extra": 1}, "state: unknown fields extra"),
        ({"key": ""}, "state.key: empty"),
        ({"base_sf": []}, "state.base_sf: expected an object"),
        ({"base_ex": {"subject": "x"}}, "state.base_ex.when: missing"),
        ({"sf_version": "v1", "base_sf": None}, "version is recorded without its base"),
        (
            {"held": [{"side": "salesforce", "version": "v", "modified": "2026-01-01T00:00:00+00:00"}]},
            "content: missing",
        ),
        (
            {"held": [{"side": "sf", "version": "v", "modified": "x", "content": None}]},
            "state.held[0].content",
        ),
    ],
)
def test_bad_data_is_refused_with_the_field_named(change: dict[str, object], named: str) -> None:
    data = sample() | change
    with pytest.raises(ValueError, match=re.escape(named)):
        state_from_dict(data)


def test_a_missing_field_and_bad_nested_values_are_named() -> None:
    data = sample()
    del data["kind"]
    with pytest.raises(ValueError, match=re.escape("state.kind: missing")):
        state_from_dict(data)
    base = dict(sample()["base_sf"])  # type: ignore[call-overload]
    base["attendees"] = [{"email": "a@b.example", "response": "maybe", "optional": False, "relation": None}]
    with pytest.raises(ValueError, match=r"state.base_sf.attendees\[0\].response"):
        state_from_dict(sample() | {"base_sf": base})
    base["when"] = {"first": "2026-13-01", "end": "2026-01-02"}
    with pytest.raises(ValueError, match=re.escape("state.base_sf.when.first")):
        state_from_dict(sample() | {"base_sf": base})
    with pytest.raises(ValueError, match="state: expected an object"):
        state_from_dict([1])
