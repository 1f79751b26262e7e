"""The `Store` contract, run over the memory store, SQLite and PostgreSQL alike (see conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.core.model import PairStatus, Side
from bridge.ports import Commit, EventRecord, Intent, StoredPair, StreamPosition
from tests.store import strategies as s
from tests.store.conftest import Backend

T0 = s.T0


async def test_migrate_is_idempotent(backend: Backend) -> None:
    store = await backend.open()
    await store.migrate()
    await store.migrate()
    assert await store.pairs_of("005A") == []
    again = await backend.reopen(store)
    await again.migrate()
    assert await again.issues(open_only=False) == []


# ------------------------------------------------------------------------------------------- pairs


async def test_pairs_round_trip_with_their_raw_copies(store: Any) -> None:
    timed = s.pair("005A", "00UA", "AAMkA", uid="uid-1")
    waiting = s.pair("005A", None, "AAMkB")
    all_day = StoredPair("005A", s.state(None, "AAMkC"), item=s.all_day_item("AAMkC"))
    await store.commit(Commit("005A", pairs=[timed, waiting, all_day]))
    assert await store.pairs_of("005A") == sorted([timed, waiting, all_day], key=lambda p: p.state.key)
    assert await store.pairs_of("005B") == []


async def test_claimed_item_ids_are_the_items_of_every_pair_but_a_waiting_one(store: Any) -> None:
    """What a pass reads to learn which items it paired (R-DEL-2): a tombstone still claims its item."""
    await store.commit(
        Commit(
            "005A",
            pairs=[
                s.pair("005A", "00UA", "AAMkA"),
                s.pair("005A", None, "AAMkB", status=PairStatus.WAITING),
                s.pair("005A", "00UC", "AAMkC", status=PairStatus.ENDED),
                s.pair("005A", "00UD", None),
            ],
        )
    )
    await store.commit(Commit("005B", pairs=[s.pair("005B", "00UE", "AAMkE")]))
    assert await store.claimed_item_ids("005A") == {"AAMkA", "AAMkC"}
    assert await store.claimed_item_ids("005C") == set()


async def test_a_commit_updates_a_pair_in_place(store: Any) -> None:
    first = s.pair("005A", "00UA", None)
    await store.commit(Commit("005A", pairs=[first]))
    later = s.pair("005A", "00UA", "AAMkA", key=first.state.key, subject="Renamed")
    await store.commit(Commit("005A", pairs=[later]))
    assert await store.pairs_of("005A") == [later]
    assert await store.pair_by_record(Side.EXCHANGE, "AAMkA") == later


async def test_the_last_copy_of_a_pair_in_one_commit_wins(store: Any) -> None:
    first = s.pair("005A", "00UA", None)
    second = s.pair("005A", "00UA", "AAMkA", subject="Second")
    await store.commit(Commit("005A", pairs=[first, second]))
    assert await store.pairs_of("005A") == [second]


async def test_forget_drops_only_the_commit_users_pair(store: Any) -> None:
    """A key is unique among one user's pairs; two users' pairs of one shared event may share it."""
    mine = s.pair("005A", "00UA", None)
    theirs = s.pair("005B", "00UA", None, owns_event=False)
    assert mine.state.key == theirs.state.key
    await store.commit(Commit("005A", pairs=[mine]))
    await store.commit(Commit("005B", pairs=[theirs]))
    await store.commit(Commit("005A", forget=[mine.state.key, "sf:never-stored"]))
    assert await store.pairs_of("005A") == []
    assert await store.pairs_of("005B") == [theirs]


async def test_pair_by_record_finds_either_side_r_pair_1(store: Any) -> None:
    paired = s.pair("005A", "00UA", "AAMkA", uid="uid-1")
    await store.commit(Commit("005A", pairs=[paired, s.pair("005A", "00UB", "AAMkB")]))
    assert await store.pair_by_record(Side.SALESFORCE, "00UA") == paired
    assert await store.pair_by_record(Side.EXCHANGE, "AAMkA") == paired
    assert await store.pair_by_record(Side.SALESFORCE, "AAMkA") is None
    assert await store.pair_by_record(Side.EXCHANGE, "00UA") is None
    assert await store.pair_by_record(Side.EXCHANGE, "nothing") is None


async def test_pair_by_record_prefers_a_live_owner_over_a_sharer_or_a_tombstone(store: Any) -> None:
    ended = s.pair("005A", "00UA", "AAMk1", status=PairStatus.ENDED)
    sharer = s.pair("005B", "00UA", "AAMk2", owns_event=False)
    owner = s.pair("005C", "00UA", "AAMk3")
    for found in (ended, sharer, owner):
        await store.commit(Commit(found.user_id, pairs=[found]))
    assert await store.pair_by_record(Side.SALESFORCE, "00UA") == owner
    await store.commit(Commit("005C", forget=[owner.state.key]))
    assert await store.pair_by_record(Side.SALESFORCE, "00UA") == sharer
    await store.commit(Commit("005B", forget=[sharer.state.key]))
    assert await store.pair_by_record(Side.SALESFORCE, "00UA") == ended


async def test_pairs_by_uid_finds_every_users_pair_of_a_meeting_r_multi(store: Any) -> None:
    b = s.pair("005B", None, "AAMkB", uid="uid-1")
    a = s.pair("005A", "00UA", "AAMkA", uid="uid-1")
    other = s.pair("005A", None, "AAMkC", uid="uid-2")
    await store.commit(Commit("005B", pairs=[b]))
    await store.commit(Commit("005A", pairs=[a, other]))
    assert await store.pairs_by_uid("uid-1") == [a, b]
    assert await store.pairs_by_uid("uid-3") == []
    # A first sync asks for the meetings of a whole calendar in one read: the same answer, by UID.
    assert await store.pairs_by_uids(["uid-2", "uid-1", "uid-3"]) == {"uid-1": [a, b], "uid-2": [other]}
    many = [f"uid-{n}" for n in range(1_200)]  # more than one IN (...) slice
    assert await store.pairs_by_uids(many) == {"uid-1": [a, b], "uid-2": [other]}


# --------------------------------------------------------------------------------------- positions


async def test_positions_survive_a_restart_r_time_2(backend: Backend) -> None:
    store = await backend.open()
    await store.commit(
        Commit(
            "005A",
            positions=[
                StreamPosition("sf:/data/EventChangeEvent", "00ff"),
                StreamPosition("ex:ann@example.com", "sync-1"),
                StreamPosition("ex:bob@example.com", "sync-2"),
            ],
        )
    )
    await store.commit(Commit("005A", positions=[StreamPosition("ex:ann@example.com", "sync-3")]))
    store = await backend.reopen(store)
    assert await store.position("sf:/data/EventChangeEvent") == "00ff"
    assert await store.position("sf:/event/Calbridge_Command__e") is None
    assert await store.positions("ex:") == {"ex:ann@example.com": "sync-3", "ex:bob@example.com": "sync-2"}
    assert list(await store.positions("")) == sorted(
        ["sf:/data/EventChangeEvent", *await store.positions("ex:")]
    )


async def test_positions_prefix_is_literal_and_case_sensitive(store: Any) -> None:
    await store.commit(
        Commit(
            "005A", positions=[StreamPosition(name, "v") for name in ("ex:a", "EX:b", "ex%c", "ex_d", "e")]
        )
    )
    assert list(await store.positions("ex:")) == ["ex:a"]
    assert list(await store.positions("ex%")) == ["ex%c"]
    assert list(await store.positions("ex_")) == ["ex_d"]
    assert await store.positions("exchange:") == {}


# ----------------------------------------------------------------------------------------- intents


def intent(token: str, user_id: str = "005A", side: Side = Side.EXCHANGE) -> Intent:
    return Intent(user_id, "sf:00UA", side, f"update item ({token})", token)


async def test_an_intent_left_by_a_crash_is_pending_after_restart_r_merge_4(backend: Backend) -> None:
    store = await backend.open()
    await store.record_intent(intent("t1"))
    await store.record_intent(intent("t2", "005B", Side.SALESFORCE))
    # The process dies here: the write may or may not have run, and no commit followed.
    store = await backend.reopen(store)
    assert await store.pending_intents() == [intent("t1"), intent("t2", "005B", Side.SALESFORCE)]
    assert await store.pending_intents("005B") == [intent("t2", "005B", Side.SALESFORCE)]
    await store.commit(Commit("005A", intents_done=["t1", "unknown-token"]))
    assert await store.pending_intents() == [intent("t2", "005B", Side.SALESFORCE)]


async def test_recording_an_intent_again_keeps_one(store: Any) -> None:
    await store.record_intent(intent("t1"))
    again = replace(intent("t1"), description="update item, retried")
    await store.record_intent(again)
    assert await store.pending_intents() == [again]


# ------------------------------------------------------------------------------------------ issues


async def test_issues_open_update_and_close_r_lim_1(backend: Backend) -> None:
    store = await backend.open()
    later = T0 + timedelta(minutes=5)
    await store.commit(Commit("005A", issues_opened=[s.issue("005A", "E-TIMEZONE", None, "AAMkA")]))
    await store.commit(
        Commit(
            "005A", issues_opened=[s.issue("005A", "E-TIMEZONE", None, "AAMkA", message="Still", seen=later)]
        )
    )
    [found] = await store.issues("005A")
    assert (found.first_seen, found.last_seen, found.message) == (T0, later, "Still")
    assert (found.sf_id, found.ex_id, found.closed_at) == (None, "AAMkA", None)

    store = await backend.reopen(store)
    await store.commit(Commit("005A", issues_closed=[("E-TIMEZONE", None, "AAMkA")]))
    assert await store.issues("005A") == []
    [closed] = await store.issues("005A", open_only=False)
    assert closed.closed_at is not None and closed.first_seen == T0

    # The cause comes back: a new issue, first seen again.
    reopened_at = T0 + timedelta(hours=1)
    await store.commit(
        Commit("005A", issues_opened=[s.issue("005A", "E-TIMEZONE", None, "AAMkA", seen=reopened_at)])
    )
    history = await store.issues("005A", open_only=False)
    assert [(i.first_seen, i.closed_at is None) for i in history] == [(T0, False), (reopened_at, True)]


async def test_an_issue_is_one_per_user_code_event_and_item(store: Any) -> None:
    opened = [
        s.issue("005A", "W-TRUNCATED", "00UA", None),
        s.issue("005A", "W-TRUNCATED", "00UA", "AAMkA"),
        s.issue("005A", "W-TRUNCATED", None, None),
        s.issue("005A", "E-TOO-LONG", "00UA", None),
        s.issue("005B", "W-TRUNCATED", "00UA", None),
    ]
    await store.commit(Commit("005A", issues_opened=opened))
    assert len(await store.issues()) == 5
    assert len(await store.issues("005A")) == 4
    # Closing names the commit's user: 005B's issue stays open.
    await store.commit(
        Commit("005A", issues_closed=[("W-TRUNCATED", "00UA", None), ("W-TRUNCATED", None, None)])
    )
    left = {(i.user_id, i.code, i.sf_id, i.ex_id) for i in await store.issues()}
    assert left == {
        ("005A", "W-TRUNCATED", "00UA", "AAMkA"),
        ("005A", "E-TOO-LONG", "00UA", None),
        ("005B", "W-TRUNCATED", "00UA", None),
    }


async def test_issue_times_come_back_as_utc(store: Any) -> None:
    from datetime import timezone

    local = datetime(2024, 5, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    await store.commit(Commit("005A", issues_opened=[s.issue("005A", seen=local)]))
    [found] = await store.issues()
    assert found.first_seen == T0 and found.first_seen.utcoffset() == timedelta(0)


# ------------------------------------------------------------------------------------------ commit


async def test_a_commit_no_store_could_keep_changes_nothing(store: Any) -> None:
    before = s.pair("005A", "00UA", None)
    await store.commit(Commit("005A", pairs=[before], positions=[StreamPosition("ex:a", "1")]))
    await store.record_intent(intent("t1"))
    bad_record = replace(s.pair("005A", "00UB", None), event=EventRecord(fields={"X": object()}))
    for bad in (
        Commit("005A", pairs=[s.pair("005A", "00UC", None), bad_record], forget=[before.state.key]),
        Commit("005A", forget=[before.state.key], positions=[StreamPosition("ex:a", None)]),  # type: ignore[arg-type]
        Commit("005A", intents_done=["t1"], issues_opened=[replace(s.issue("005A"), message=None)]),  # type: ignore[arg-type]
        Commit("005A", intents_done=["t1"], positions=[StreamPosition("ex:a", "bad\x00")]),
    ):
        with pytest.raises((TypeError, ValueError)):
            await store.commit(bad)
    assert await store.pairs_of("005A") == [before]
    assert await store.positions("") == {"ex:a": "1"}
    assert await store.pending_intents() == [intent("t1")]
    assert await store.issues() == []


async def test_one_commit_does_everything_at_once(store: Any) -> None:
    old = s.pair("005A", "00UA", None)
    await store.commit(Commit("005A", pairs=[old], issues_opened=[s.issue("005A", "E-TOO-LONG", "00UA")]))
    await store.record_intent(intent("t1"))
    new = s.pair("005A", None, "AAMkN")
    await store.commit(
        Commit(
            "005A",
            pairs=[new],
            forget=[old.state.key],
            positions=[StreamPosition("ex:ann@example.com", "s2")],
            issues_opened=[s.issue("005A", "W-TRUNCATED", None, "AAMkN")],
            issues_closed=[("E-TOO-LONG", "00UA", None)],
            intents_done=["t1"],
        )
    )
    assert await store.pairs_of("005A") == [new]
    assert await store.position("ex:ann@example.com") == "s2"
    assert [i.code for i in await store.issues()] == ["W-TRUNCATED"]
    assert await store.pending_intents() == []


async def test_an_empty_commit_is_fine(store: Any) -> None:
    await store.commit(Commit("005A"))
    assert await store.pairs_of("005A") == []


async def test_times_are_utc_aware(store: Any) -> None:
    naive = datetime(2024, 5, 1, 9, 0)
    await store.commit(Commit("005A", issues_opened=[s.issue("005A", seen=naive)]))
    [found] = await store.issues()
    assert found.first_seen == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


async def test_answers_come_in_code_point_order_on_every_engine(store: Any) -> None:
    """As Python sorts, not as a database locale would (where "ex:B" may follow "ex:a")."""
    names = ["ex:a", "ex:B", "ex:_c", "ex:Z9", "ex:é"]
    await store.commit(Commit("005A", pairs=[s.pair("005A", None, f"AAMk{n}", key=n) for n in names]))
    await store.commit(Commit("005A", positions=[StreamPosition(n, "v") for n in names]))
    assert [p.state.key for p in await store.pairs_of("005A")] == sorted(names)
    assert list(await store.positions("ex:")) == sorted(names)
