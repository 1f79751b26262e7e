"""R-REC-5 with R-REC-7 and R-MULTI-4 in the core: rows made anew for a series (a rebuild, a split) carry the
invitees its old rows had. An attendee of the Exchange base who was on none of the old rows (taken off by a
Salesforce user, or an enrolled recipient who left the series) stays off; every other attendee joins."""

from __future__ import annotations

from dataclasses import replace

from bridge.core.commands import AddAttendeeRelation
from bridge.core.model import Attendee, Response, Side
from bridge.core.series import OccurrencePair, Series, SeriesState
from bridge.core.series_invitees import series_invitee_writes, taken_off

from .factories import POLICY, directory, person
from .test_core_series import body, series, utc

ANN = person("ann@example.com", rid="003ann")
BOB = person("Bob@Example.com", rid="005bob")
NEW = ("00U00000000000A", "00U00000000000B")


def _held(rows: Series, invited: dict[str, tuple[Attendee, ...]]) -> Series:
    """The Lightning series with each row's invitees (by row id) as a read gives them."""
    found = tuple(
        replace(o, content=replace(o.content, attendees=invited.get(o.id, ()))) for o in rows.occurrences
    )
    return replace(rows, occurrences=found)


def _state(rows: Series, attendees: tuple[Attendee, ...]) -> SeriesState:
    pairs = tuple(OccurrencePair(o.original_start, o.id, None) for o in rows.occurrences)
    base = replace(body(utc(9, 7)), attendees=attendees)
    return SeriesState(
        "series:ex:AAMkMaster", Side.EXCHANGE, rows.id, "AAMkMaster", base_ex=base, occurrences=pairs
    )


def test_r_rec_5_an_attendee_on_none_of_the_old_rows_stays_off_the_new_ones() -> None:
    old = series(Side.SALESFORCE)
    attendees = (Attendee(ANN.email), Attendee(BOB.email))
    state = _state(old, attendees)
    # Bob left the series (or a Salesforce user took him off every row); Ann is on one row at least.
    first = old.occurrences[0].id
    read = _held(old, {first: (Attendee(ANN.email),)})
    off = taken_off(state, read)
    assert off == {"bob@example.com"}
    writes = series_invitee_writes(None, attendees, {r: {} for r in NEW}, directory(ANN, BOB), POLICY, off)
    assert writes == [AddAttendeeRelation(r, "003ann", Response.UNDECIDED) for r in NEW]


def test_r_rec_5_nothing_is_kept_off_a_series_with_no_old_row() -> None:
    old = series(Side.SALESFORCE)
    state = replace(_state(old, (Attendee(ANN.email),)), occurrences=())
    assert taken_off(state, _held(old, {})) == frozenset()
    assert taken_off(None, old) == frozenset()
    assert taken_off(state, None) == frozenset()
    assert taken_off(_state(old, (Attendee(ANN.email),)), series(Side.EXCHANGE)) == frozenset()


def test_r_rec_5_attendees_on_the_old_rows_all_join_the_new_ones() -> None:
    old = series(Side.SALESFORCE)
    attendees = (Attendee(ANN.email), Attendee(BOB.email))
    state = _state(old, attendees)
    read = _held(old, {o.id: (Attendee(ANN.email), Attendee(BOB.email.lower())) for o in old.occurrences})
    assert taken_off(state, read) == frozenset()
