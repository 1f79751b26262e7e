"""Hypothesis strategies for what the store keeps, and small builders for the store tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import strategies as st

from bridge.core.fields import ExchangeAttendee, ExchangeItem, SalesforceRelation
from bridge.core.model import Content, Kind, PairState, PairStatus, RelationKind, Side, Timed
from bridge.ports import EventRecord, StoredIssue, StoredPair

# Any text, surrogates and NUL included: the codecs must carry what the services send.
text = st.text(max_size=20)
ids = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=:-_", min_size=1, max_size=24)

offsets = st.builds(
    timezone,
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)),
)
# Fixed offsets only: an instant in a named zone's repeated hour never equals one in another zone
# (PEP 495), so a round trip through an offset could not be compared by ==.
aware = st.datetimes(timezones=st.one_of(st.just(UTC), offsets))
moments = st.one_of(aware, st.datetimes(), st.dates())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    text,
    st.dates(),
    aware,
)

relations = st.builds(
    SalesforceRelation,
    relation_id=ids,
    kind=st.sampled_from(RelationKind),
    email=st.one_of(st.none(), text),
    status=st.sampled_from(["New", "Accepted", "Declined"]) | text,
    owned_by_user=st.booleans(),
)

events = st.builds(
    EventRecord,
    fields=st.dictionaries(text, scalars, max_size=8),
    relations=st.lists(relations, max_size=4).map(tuple),
)

attendees = st.builds(ExchangeAttendee, email=text, response_type=text)

items = st.builds(
    ExchangeItem,
    item_id=ids,
    change_key=ids,
    subject=text,
    start=moments,
    end=moments,
    last_modified_time=aware,
    is_all_day=st.booleans(),
    body=text,
    body_type=st.sampled_from(["Text", "HTML"]),
    location=text,
    legacy_free_busy_status=text,
    sensitivity=text,
    categories=st.lists(text, max_size=3).map(tuple),
    required_attendees=st.lists(attendees, max_size=3).map(tuple),
    optional_attendees=st.lists(attendees, max_size=3).map(tuple),
    uid=st.one_of(st.none(), text),
    salesforce_event_id=st.one_of(st.none(), ids),
    is_cancelled=st.booleans(),
    is_meeting=st.booleans(),
    is_recurring=st.booleans(),
    my_response_type=st.one_of(st.none(), text),
    organizer=st.one_of(st.none(), text),
    time_zone=st.one_of(st.none(), text),
)

# ------------------------------------------------------------------------------------------ builders

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def state(
    sf_id: str | None = None,
    ex_id: str | None = None,
    *,
    uid: str | None = None,
    key: str = "",
    status: PairStatus = PairStatus.ACTIVE,
    owns_event: bool = True,
    subject: str = "Review",
) -> PairState:
    content = Content(subject=subject, when=Timed(T0, T0 + timedelta(hours=1)))
    return PairState(
        status=status,
        kind=Kind.B if sf_id else Kind.A,
        origin=Side.SALESFORCE if sf_id else Side.EXCHANGE,
        key=key,
        sf_id=sf_id,
        ex_id=ex_id,
        uid=uid,
        base_sf=content if sf_id else None,
        base_ex=content if ex_id else None,
        sf_version="2024-05-01T08:00:00Z" if sf_id else None,
        ex_version="CK1" if ex_id else None,
        owns_event=owns_event,
    )


def event(sf_id: str, subject: str = "Review") -> EventRecord:
    return EventRecord(
        fields={
            "Id": sf_id,
            "Subject": subject,
            "StartDateTime": "2024-05-01T09:00:00.000+0000",
            "DurationInMinutes": 60,
            "IsPrivate": False,
            "Amount__c": 1.5,
            "Description": None,
        },
        relations=(SalesforceRelation("003A", RelationKind.CONTACT, "ann@example.com", "Accepted"),),
    )


def item(ex_id: str, subject: str = "Review", uid: str | None = None) -> ExchangeItem:
    return ExchangeItem(
        item_id=ex_id,
        change_key="CK1",
        subject=subject,
        start=T0,
        end=T0 + timedelta(hours=1),
        last_modified_time=T0,
        uid=uid,
        required_attendees=(ExchangeAttendee("ann@example.com", "Accept"),),
        categories=("Salesforce",),
    )


def all_day_item(ex_id: str) -> ExchangeItem:
    return ExchangeItem(
        item_id=ex_id,
        change_key="CK2",
        subject="Offsite",
        start=date(2024, 5, 2),
        end=date(2024, 5, 3),
        last_modified_time=T0,
        is_all_day=True,
    )


def pair(
    user_id: str,
    sf_id: str | None = None,
    ex_id: str | None = None,
    *,
    uid: str | None = None,
    key: str = "",
    status: PairStatus = PairStatus.ACTIVE,
    owns_event: bool = True,
    subject: str = "Review",
) -> StoredPair:
    return StoredPair(
        user_id=user_id,
        state=state(sf_id, ex_id, uid=uid, key=key, status=status, owns_event=owns_event, subject=subject),
        event=event(sf_id, subject) if sf_id else None,
        item=item(ex_id, subject, uid) if ex_id else None,
    )


def issue(
    user_id: str,
    code: str = "W-TRUNCATED",
    sf_id: str | None = None,
    ex_id: str | None = None,
    *,
    message: str = "A value was cut.",
    seen: datetime = T0,
) -> StoredIssue:
    return StoredIssue(user_id, code, sf_id, ex_id, message, first_seen=seen, last_seen=seen)
