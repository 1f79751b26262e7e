"""Small builders for core tests: one user, a fixed clock, copies with sensible defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.core import (
    Attendee,
    Changed,
    Command,
    Content,
    Copy,
    Directory,
    PairState,
    Plan,
    Policy,
    Relation,
    RelationKind,
    Side,
    Timed,
    plan,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
USER_ID = "005000000000001"
USER_EMAIL = "me@corp.example"
POLICY = Policy(
    user_id=USER_ID,
    user_email=USER_EMAIL,
    internal_domains=frozenset({"corp.example"}),
    mailbox_time_zone="Europe/Berlin",
)


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def content(
    subject: str = "Review", start: datetime | None = None, minutes: int = 60, **fields: Any
) -> Content:
    begin = start or at(24)
    return Content(subject=subject, when=Timed(begin, begin + timedelta(minutes=minutes)), **fields)


def event(
    id: str = "00U000000000001", body: Content | None = None, version: str = "sf1", **fields: Any
) -> Copy:
    fields.setdefault("modified", at(-1))
    fields.setdefault("owner_id", USER_ID)
    fields.setdefault("paired_id", "AAMkItem1")
    fields.setdefault("uid", "uid-AAMkItem1")
    return Copy(side=Side.SALESFORCE, id=id, version=version, content=body or content(), **fields)


def item(id: str = "AAMkItem1", body: Content | None = None, version: str = "ck1", **fields: Any) -> Copy:
    fields.setdefault("modified", at(-1))
    fields.setdefault("categories", frozenset({POLICY.sync_category}))
    fields.setdefault("uid", "uid-" + id)
    fields.setdefault("paired_id", "00U000000000001")
    return Copy(side=Side.EXCHANGE, id=id, version=version, content=body or content(), **fields)


def new_event(**fields: Any) -> Copy:
    """An event the bridge has not paired yet."""
    return event(paired_id=None, uid=None, **fields)


def new_item(**fields: Any) -> Copy:
    """An item the bridge has not paired yet: no SalesforceEventId, no `Salesforce` category."""
    fields.setdefault("categories", frozenset())
    return item(paired_id=None, **fields)


def person(
    email: str, kind: RelationKind = RelationKind.CONTACT, rid: str | None = None, **kw: Any
) -> Attendee:
    relation = Relation(rid or "003" + email.split("@")[0], kind, kw.pop("owned_by_user", False))
    return Attendee(email, relation=relation, **kw)


def directory(*attendees: Attendee) -> Directory:
    return Directory(tuple((a.email, (a.relation,)) for a in attendees if a.relation))


def paired(sf: Copy | None = None, ex: Copy | None = None, policy: Policy = POLICY, **seen: Any) -> PairState:
    """The state of a pair created from `sf` (or `ex`) and recorded as in step with both copies."""
    sf = sf or event()
    ex = ex or item(
        body=replace(sf.content, attendees=tuple(Attendee(a.email) for a in sf.content.attendees))
    )
    adopted = plan(None, Changed(sf=sf, ex=ex, **seen), policy, NOW).state
    assert adopted is not None
    return replace(adopted, sf_version=sf.version, ex_version=ex.version)


def of_type(result: Plan, kind: type[Command]) -> list[Any]:
    return [c for c in result.commands if isinstance(c, kind)]
