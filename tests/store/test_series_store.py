"""Recurring series' states in the store (SPEC §15), over the memory store, SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

from bridge.core.model import Side
from bridge.core.patterns import Anchor, Frequency, Pattern, Weekday
from bridge.core.series import OccurrencePair, SeriesState
from bridge.ports import Commit, StoredSeries
from tests.store.conftest import Backend

START = datetime(2031, 3, 3, 8, tzinfo=UTC)


def weekly(key: str, sf: str | None, ex: str | None) -> SeriesState:
    return SeriesState(
        key=key,
        origin=Side.EXCHANGE,
        sf_series=sf,
        ex_series=ex,
        rule=Pattern(Frequency.WEEKLY, days=frozenset({Weekday.MO}), count=5),
        anchor=Anchor(date(2031, 3, 3), time(9), "Europe/Berlin"),
        occurrences=(OccurrencePair(START, "00UA", "AAMkA=occ"),),
    )


async def test_r_rec_2_a_series_survives_a_restart_with_its_occurrence_pairs(backend: Backend) -> None:
    store = await backend.open()
    mine = StoredSeries("005A", weekly("series:ex:AAMkA", "828A", "AAMkA"))
    theirs = StoredSeries("005B", weekly("series:ex:AAMkB", None, "AAMkB"))
    await store.commit(Commit("005A", series=[mine]))
    await store.commit(Commit("005B", series=[theirs]))
    again = await backend.reopen(store)
    assert await again.series_of("005A") == [mine]
    assert await again.series_of("005B") == [theirs]


async def test_a_series_is_updated_in_place_and_forgotten_by_its_user_only(store: Any) -> None:
    first = StoredSeries("005A", weekly("series:ex:AAMkA", None, "AAMkA"))
    await store.commit(Commit("005A", series=[first]))
    bound = StoredSeries("005A", replace(first.state, sf_series="828A", sf_version="v2"))
    await store.commit(Commit("005A", series=[bound]))
    assert await store.series_of("005A") == [bound]
    await store.commit(Commit("005B", forget_series=["series:ex:AAMkA"]))
    assert await store.series_of("005A") == [bound]
    await store.commit(Commit("005A", forget_series=["series:ex:AAMkA"]))
    assert await store.series_of("005A") == []


async def test_r_rec_4_a_row_no_pair_holds_is_found_by_its_series_whatever_its_case(store: Any) -> None:
    # A deleted Salesforce row cannot be read for its owner: the stored series tells whose it is.
    split = replace(weekly("series:ex:AAMkA", "828A", "AAMkA"), occurrences=(
        OccurrencePair(START, "00UA", "AAMkA=occ"),
        OccurrencePair(START.replace(day=10), "00Usingle", "AAMkA=occ2", split=True),
    ))  # fmt: skip
    await store.commit(Commit("005A", series=[StoredSeries("005A", split)]))
    await store.commit(
        Commit("005B", series=[StoredSeries("005B", weekly("series:ex:AAMkB", "828B", "AAMkB"))])
    )
    found = await store.series_by_record(Side.SALESFORCE, "00UA")
    assert found is not None and (found.user_id, found.state.key) == ("005A", "series:ex:AAMkA")
    single = await store.series_by_record(Side.SALESFORCE, "00Usingle")
    assert single is not None and single.user_id == "005A"
    mine = await store.series_by_record(Side.EXCHANGE, "AAMkB")
    assert mine is not None and mine.user_id == "005B"
    assert await store.series_by_record(Side.SALESFORCE, "00ua") is None  # 15-character ids are case-exact
    assert await store.series_by_record(Side.SALESFORCE, "AAMkA=occ") is None  # an Exchange id, not a row
    assert await store.series_by_record(Side.SALESFORCE, "00U%") is None
