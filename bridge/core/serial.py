"""A `PairState` as JSON-safe data, so the store keeps it without knowing its insides.

`state_to_dict` gives only str, int, bool, None, lists and dicts, with the format version under "v".
`state_from_dict` reads it back, equal to the state written, and refuses anything else with a ValueError
that names the field at fault: an unknown version, a missing or extra field, a value of the wrong type or
outside its codes. Times are ISO 8601 text in UTC; enums are stored by their values (the spec's codes);
sets are sorted lists, so equal states give equal data.

Format versions: 1, the first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import TypeVar

from bridge.core.issues import IssueCode
from bridge.core.model import (
    AllDay,
    Attendee,
    Content,
    Held,
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
    When,
)

FORMAT_VERSION = 1

E = TypeVar("E", bound=Enum)
T = TypeVar("T")


# ------------------------------------------------------------------------------------------------ writing


def state_to_dict(state: PairState) -> dict[str, object]:
    """The state as JSON-safe data, format version 1."""
    return {
        "v": FORMAT_VERSION,
        "key": state.key,
        "status": state.status.value,
        "kind": state.kind.value,
        "origin": state.origin.value,
        "sf_id": state.sf_id,
        "ex_id": state.ex_id,
        "uid": state.uid,
        "base_sf": _content_out(state.base_sf),
        "base_ex": _content_out(state.base_ex),
        "sf_version": state.sf_version,
        "ex_version": state.ex_version,
        "masked": state.masked.value if state.masked is not None else None,
        "owns_event": state.owns_event,
        "organizer_user_id": state.organizer_user_id,
        "my_status": state.my_status.value if state.my_status is not None else None,
        "unresolved": sorted(state.unresolved),
        "open_issues": sorted(code.value for code in state.open_issues),
        "tombstone": (
            {"reason": state.tombstone.reason, "at": state.tombstone.at.isoformat()}
            if state.tombstone is not None
            else None
        ),
        "bridge_category": state.bridge_category,
        "held": [
            {
                "side": held.side.value,
                "version": held.version,
                "modified": held.modified.isoformat(),
                "content": _content_out(held.content),
            }
            for held in state.held
        ],
    }


def _content_out(content: Content | None) -> dict[str, object] | None:
    if content is None:
        return None
    return {
        "subject": content.subject,
        "when": _when_out(content.when),
        "description": content.description,
        "location": content.location,
        "show_as": content.show_as.value,
        "private": content.private,
        "attendees": [_attendee_out(a) for a in content.attendees],
    }


def _when_out(when: When) -> dict[str, object]:
    if isinstance(when, Timed):
        return {"start": when.start.isoformat(), "end": when.end.isoformat()}
    return {"first": when.first.isoformat(), "end": when.end.isoformat()}


def _attendee_out(attendee: Attendee) -> dict[str, object]:
    relation = attendee.relation
    return {
        "email": attendee.email,
        "response": attendee.response.value,
        "optional": attendee.optional,
        "relation": (
            {"id": relation.relation_id, "kind": relation.kind.value, "owned": relation.owned_by_user}
            if relation is not None
            else None
        ),
    }


# ------------------------------------------------------------------------------------------------ reading


class _Fields:
    """The fields of one JSON object, read once each; `done` refuses fields nobody read."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        self.data, self.where, self.read = data, where, set[str]()

    def get(self, name: str) -> object:
        if name not in self.data:
            raise ValueError(f"{self.where}.{name}: missing")
        self.read.add(name)
        return self.data[name]

    def text(self, name: str) -> str:
        return _typed(self.get(name), str, f"{self.where}.{name}")

    def text_or_none(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else _typed(value, str, f"{self.where}.{name}")

    def flag(self, name: str) -> bool:
        return _typed(self.get(name), bool, f"{self.where}.{name}")

    def code(self, name: str, enum: type[E]) -> E:
        return _code(self.get(name), enum, f"{self.where}.{name}")

    def code_or_none(self, name: str, enum: type[E]) -> E | None:
        value = self.get(name)
        return None if value is None else _code(value, enum, f"{self.where}.{name}")

    def items(self, name: str) -> list[object]:
        return _typed(self.get(name), list, f"{self.where}.{name}")

    def done(self) -> None:
        if len(self.read) == len(self.data):  # `get` reads only fields the object has: every one was read
            return
        extra = sorted(str(k) for k in self.data.keys() - self.read)
        if extra:
            raise ValueError(f"{self.where}: unknown fields {', '.join(extra)}")


def _typed(value: object, kind: type[T], where: str) -> T:
    # bool is an int to Python, never to this format
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _code(value: object, enum: type[E], where: str) -> E:
    try:
        member = enum._value2member_map_.get(value)  # what `enum(value)` looks in first, without its raise
    except TypeError:  # an unhashable value (a list, an object) is no member's
        member = None
    if member is not None and type(member.value) is type(value):  # 1 is not True, nor True 1
        return member  # type: ignore[return-value]  # the map holds members of `enum`
    for member in enum:
        if member.value == value:
            return member
    raise ValueError(f"{where}: {value!r} is not one of {', '.join(str(m.value) for m in enum)}")


def _parsed(value: str, parse: Callable[[str], T], where: str) -> T:
    try:
        return parse(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _instant(value: str, where: str) -> datetime:
    moment = _parsed(value, datetime.fromisoformat, where)
    if moment.tzinfo is None:
        raise ValueError(f"{where}: {value!r} has no UTC offset")
    return moment


def state_from_dict(data: object) -> PairState:
    """The state `state_to_dict` wrote. Raises ValueError naming what is wrong with `data`."""
    fields = _Fields(data, "state")
    version = fields.get("v")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(f"state.v: unknown format version {version!r} (this build reads {FORMAT_VERSION})")
    tombstone_data = fields.get("tombstone")
    tombstone = None
    if tombstone_data is not None:
        stone = _Fields(tombstone_data, "state.tombstone")
        tombstone = Tombstone(stone.text("reason"), _instant(stone.text("at"), "state.tombstone.at"))
        stone.done()
    key = fields.text("key")
    if not key:
        raise ValueError("state.key: empty")
    state = PairState(
        key=key,
        status=fields.code("status", PairStatus),
        kind=fields.code("kind", Kind),
        origin=fields.code("origin", Side),
        sf_id=fields.text_or_none("sf_id"),
        ex_id=fields.text_or_none("ex_id"),
        uid=fields.text_or_none("uid"),
        base_sf=_content_in(fields.get("base_sf"), "state.base_sf"),
        base_ex=_content_in(fields.get("base_ex"), "state.base_ex"),
        sf_version=fields.text_or_none("sf_version"),
        ex_version=fields.text_or_none("ex_version"),
        masked=fields.code_or_none("masked", Side),
        owns_event=fields.flag("owns_event"),
        organizer_user_id=fields.text_or_none("organizer_user_id"),
        my_status=fields.code_or_none("my_status", Response),
        unresolved=frozenset(
            _typed(v, str, f"state.unresolved[{i}]") for i, v in enumerate(fields.items("unresolved"))
        ),
        open_issues=frozenset(
            _code(v, IssueCode, f"state.open_issues[{i}]") for i, v in enumerate(fields.items("open_issues"))
        ),
        tombstone=tombstone,
        bridge_category=fields.flag("bridge_category"),
        held=tuple(_held_in(h, f"state.held[{i}]") for i, h in enumerate(fields.items("held"))),
    )
    fields.done()
    return state


def _held_in(data: object, where: str) -> Held:
    fields = _Fields(data, where)
    content = _content_in(fields.get("content"), f"{where}.content")
    if content is None:
        raise ValueError(f"{where}.content: missing")
    held = Held(
        side=fields.code("side", Side),
        version=fields.text("version"),
        modified=_instant(fields.text("modified"), f"{where}.modified"),
        content=content,
    )
    fields.done()
    return held


def _content_in(data: object, where: str) -> Content | None:
    if data is None:
        return None
    fields = _Fields(data, where)
    content = Content(
        subject=fields.text("subject"),
        when=_when_in(fields.get("when"), f"{where}.when"),
        description=fields.text("description"),
        location=fields.text("location"),
        show_as=fields.code("show_as", ShowAs),
        private=fields.flag("private"),
        attendees=tuple(
            _attendee_in(a, f"{where}.attendees[{i}]") for i, a in enumerate(fields.items("attendees"))
        ),
    )
    fields.done()
    return content


def _when_in(data: object, where: str) -> When:
    fields = _Fields(data, where)
    when: When
    if isinstance(data, Mapping) and "first" in data:
        first = _parsed(fields.text("first"), date.fromisoformat, f"{where}.first")
        when = AllDay(first, _parsed(fields.text("end"), date.fromisoformat, f"{where}.end"))
    else:
        start = _instant(fields.text("start"), f"{where}.start")
        when = Timed(start, _instant(fields.text("end"), f"{where}.end"))
    fields.done()
    return when


def _attendee_in(data: object, where: str) -> Attendee:
    fields = _Fields(data, where)
    relation_data = fields.get("relation")
    relation = None
    if relation_data is not None:
        found = _Fields(relation_data, f"{where}.relation")
        relation = Relation(found.text("id"), found.code("kind", RelationKind), found.flag("owned"))
        found.done()
    attendee = Attendee(
        email=fields.text("email"),
        response=fields.code("response", Response),
        relation=relation,
        optional=fields.flag("optional"),
    )
    fields.done()
    return attendee
