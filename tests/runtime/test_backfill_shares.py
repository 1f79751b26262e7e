"""`calbridge backfill --all --workers N` deals the users into shares (issue 10): each user in exactly one
share, in order, the shares as even as can be and none empty."""

from __future__ import annotations

from bridge.runtime.backfill import default_workers, shares


def test_every_user_is_in_exactly_one_share_in_order_and_the_shares_are_even() -> None:
    users = [f"005{n:012d}" for n in range(1003)]
    for workers in (1, 2, 3, 7, 1003):
        dealt = shares(users, workers)
        assert len(dealt) == workers
        assert [u for share in dealt for u in share] == users  # disjoint, nothing left out, order kept
        assert max(map(len, dealt)) - min(map(len, dealt)) <= 1


def test_no_empty_share_when_workers_outnumber_users() -> None:
    assert shares(["a", "b"], 4) == [["a"], ["b"]]
    assert shares([], 4) == []
    assert default_workers() >= 1
