"""Delta through Graph with the versions the runtime knows: an event listed at the changeKey the bridge last
wrote or read is reported `unchanged` and not read again (the bridge's own write coming back costs the
delta call alone, R-MERGE-3); one a person changed since is read as before (R-TIME-1)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from exchangelib import Account, CalendarItem, EWSDateTime

from bridge.exchange.graph import GraphMailboxes

from .conftest import DEE, Sandboxes

START = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=45)


async def drain(
    mailboxes: GraphMailboxes, state: str | None, known: dict[str, str] | None = None
) -> tuple[dict[str, str], set[str], set[str], str]:
    """Every page from `state`: changed ids -> subject, unchanged ids, deleted ids, and the final state."""
    changed: dict[str, str] = {}
    unchanged: set[str] = set()
    deleted: set[str] = set()
    while True:
        page = await mailboxes.sync(DEE, state, known)
        changed.update({item.item_id: item.subject for item in page.changed})
        unchanged.update(page.unchanged)
        deleted.update(page.deleted)
        state = page.sync_state
        if not page.more:
            return changed, unchanged, deleted, state


def book(account: Account, subject: str, hours: int) -> None:
    CalendarItem(
        account=account,
        folder=account.calendar,
        subject=subject,
        start=EWSDateTime.from_datetime(START + timedelta(hours=hours)),
        end=EWSDateTime.from_datetime(START + timedelta(hours=hours, minutes=30)),
    ).save()


async def test_r_merge_3_the_bridges_own_write_comes_back_unchanged_and_is_not_read(
    mailboxes: GraphMailboxes, user: Callable[[str], Account], sandbox: Sandboxes
) -> None:
    _, _, _, state = await drain(mailboxes, None)
    book(user(DEE), "Written by the bridge", 0)
    book(user(DEE), "Edited by the person", 2)
    changed, _, _, state = await drain(mailboxes, state)
    ours = next(i for i, subject in changed.items() if subject == "Written by the bridge")
    theirs = next(i for i, subject in changed.items() if subject == "Edited by the person")
    items = await mailboxes.read_items(DEE, [ours, theirs])

    # The bridge writes one (its category), and knows the version its write made; the person edits the other.
    written = await mailboxes.update_item(DEE, ours, items[ours].change_key, {}, ["Salesforce"], [], False)
    assert written.version
    person = user(DEE)
    item = next(i for i in person.calendar.filter(subject="Edited by the person"))
    item.subject = "Edited by the person, again"
    item.save(update_fields=["subject"])
    known = {ours: str(written.version), theirs: items[theirs].change_key}

    before = sandbox.graph.router.requests
    changed, unchanged, deleted, _ = await drain(mailboxes, state, known)
    assert unchanged == {ours} and ours not in changed
    assert changed == {theirs: "Edited by the person, again"}
    assert not deleted
    # The delta call, and one read of the person's event (a $batch of one is sent alone): none of ours.
    assert sandbox.graph.router.requests - before == 2
