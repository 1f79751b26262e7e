"""SyncFolderItems through exchangelib's sync_items: opaque states, collapsing, paging, invalid states."""

from __future__ import annotations

import pytest
from exchangelib import UTC, Account, CalendarItem, EWSDateTime
from exchangelib.errors import ErrorInvalidSyncStateData

from bridge.sandbox.exchange import ExchangeSandbox


def _save(account: Account, subject: str) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime(2030, 7, 1, 9, tzinfo=UTC),
        end=EWSDateTime(2030, 7, 1, 10, tzinfo=UTC),
        sf_id=f"sf-{subject}",
    )
    item.save()
    return item


def _changes(account: Account, state: str | None, **options: object) -> tuple[list[tuple[str, str]], str]:
    out: list[tuple[str, str]] = []
    for kind, obj in account.calendar.sync_items(sync_state=state, **options):
        out.append((kind, obj.subject if kind in ("create", "update") else obj.id))
    return out, account.calendar.item_sync_state


def test_first_sync_lists_everything_as_create_then_nothing(fresh: Account) -> None:
    _save(fresh, "a")
    _save(fresh, "b")
    changes, state = _changes(fresh, None)
    assert sorted(changes) == [("create", "a"), ("create", "b")]
    assert _changes(fresh, state)[0] == []


def test_changes_since_a_state_collapse_per_item(fresh: Account) -> None:
    kept = _save(fresh, "kept")
    gone = _save(fresh, "gone")
    _, state = _changes(fresh, None)
    kept.subject = "kept2"
    kept.save(update_fields=["subject"])
    gone_id = gone.id
    gone.delete()
    fleeting = _save(fresh, "fleeting")
    fleeting.delete()
    _save(fresh, "new")
    changes, _ = _changes(fresh, state)
    assert sorted(changes) == sorted([("update", "kept2"), ("delete", gone_id), ("create", "new")])
    # Full items come with a sync, extended properties included.
    created = [obj for kind, obj in fresh.calendar.sync_items(sync_state=state) if kind == "create"]
    assert created[0].sf_id == "sf-new"


def test_soft_delete_reads_as_delete_for_the_calendar(fresh: Account) -> None:
    item = _save(fresh, "soft")
    _, state = _changes(fresh, None)
    item_id = item.id
    item.soft_delete()
    assert _changes(fresh, state)[0] == [("delete", item_id)]


def test_paging_with_max_changes_returned(fresh: Account) -> None:
    for n in range(7):
        _save(fresh, f"p{n}")
    changes, state = _changes(fresh, None, max_changes_returned=3)  # exchangelib loops over 3 pages
    assert sorted(s for _, s in changes) == [f"p{n}" for n in range(7)]
    assert _changes(fresh, state)[0] == []


def test_forged_and_invalidated_states_are_invalid_sync_state_data(
    fresh: Account, sandbox: ExchangeSandbox
) -> None:
    _save(fresh, "x")
    _, state = _changes(fresh, None)
    with pytest.raises(ErrorInvalidSyncStateData):
        _changes(fresh, state[:-4] + "AAAA")
    sandbox.faults.invalidate_sync_states(fresh.primary_smtp_address)
    with pytest.raises(ErrorInvalidSyncStateData):
        _changes(fresh, state)
    fresh.calendar.item_sync_state = None  # exchangelib would otherwise reuse the rejected state
    changes, _ = _changes(fresh, None)  # a full resync still works
    assert changes == [("create", "x")]
