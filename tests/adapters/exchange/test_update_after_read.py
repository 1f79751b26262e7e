"""An update planned from an item the adapter has just read (a first sync writing its pairing fields onto the
items its window listed) takes the item's categories and flags from that read instead of a GetItem of its
own (issue 10); it stays conditional on the ChangeKey read (R-MERGE-5) and keeps the user's categories
(R-CAT-1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import Account, CalendarItem, EWSDateTime

from bridge.errors import ConflictError
from bridge.exchange.ews import EwsMailboxes, writing

from .conftest import ANA

START = datetime(2031, 5, 6, 10, 0, tzinfo=UTC)


def user_item(account: Account, subject: str, categories: list[str]) -> CalendarItem:
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime.from_datetime(START),
        end=EWSDateTime.from_datetime(START + timedelta(hours=1)),
        categories=categories,
    )
    item.save()
    return item


async def test_r_cat_1_an_update_from_the_window_just_read_keeps_the_users_categories(
    mailboxes: EwsMailboxes, user: Callable[[str], Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    real = writing._currents

    def currents(account: Account, item_ids: Sequence[str]) -> dict[str, Any]:
        fetched.extend(item_ids)
        return real(account, item_ids)

    monkeypatch.setattr(writing, "_currents", currents)
    mine = user_item(user(ANA), "Pipeline review", ["Personal", "Blue category"])
    listed = {i.item_id: i for i in await mailboxes.window_items(ANA, START, START + timedelta(hours=1))}
    read = listed[mine.id]
    await mailboxes.update_item(
        ANA, mine.id, read.change_key, {"subject": "Pipeline"}, ["Salesforce"], [], False
    )
    assert mine.id not in fetched  # no GetItem of its own: the window's read at that ChangeKey served
    item = (await mailboxes.read_items(ANA, [mine.id]))[mine.id]
    assert item.subject == "Pipeline"
    assert item.categories == ("Personal", "Blue category", "Salesforce")


async def test_r_merge_5_an_item_changed_since_the_read_is_a_conflict_and_keeps_the_users_edit(
    mailboxes: EwsMailboxes, user: Callable[[str], Account]
) -> None:
    mine = user_item(user(ANA), "Renewal call", ["Personal"])
    listed = {i.item_id: i for i in await mailboxes.window_items(ANA, START, START + timedelta(hours=1))}
    read = listed[mine.id]
    theirs = next(iter(user(ANA).fetch(ids=[(mine.id, None)])))
    theirs.categories = ["Personal", "Green category"]
    theirs.save(update_fields=["categories"])

    with pytest.raises(ConflictError):
        await mailboxes.update_item(ANA, mine.id, read.change_key, {}, ["Salesforce"], [], False)
    item = (await mailboxes.read_items(ANA, [mine.id]))[mine.id]
    assert item.categories == ("Personal", "Green category")
