"""R-SCOPE-6 for recurring series: an inbound meeting series the user declined or has not answered is not
synced unless `sync_unanswered` is on; while it is skipped, W-UNANSWERED names its Outlook master, and the
warning closes once the user accepts (or tentatively accepts) it and the series road takes it.

The mailbox sync lists masters with the user's answer (`my_response_type`); the series road reads a master
as a series, which carries no answer, so the masters are sorted here, before the road sees them. A series
already stored keeps syncing as it does (a later decline does not end a pair, as for single meetings), and
a master the user opted in with the `Salesforce` category (R-SCOPE-5) is synced whatever the answer.

`rejoin`: an attendee who left another's series and gives their copy `Salesforce` again (R-DEL-9) is an
invitee of every row again with the answer their copy holds (R-ATT-5: Accept is Accepted, Decline
Declined, any other answer undecided), as a first sync of their copy would list them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from bridge.core.fields import EX_RESPONSE_IN, SF_STATUS, ExchangeItem
from bridge.core.issues import IssueCode, make_issue
from bridge.core.model import Policy, Response
from bridge.core.scope import ANSWERED
from bridge.core.series import Series
from bridge.errors import NotFoundError
from bridge.ports import Commit, MailboxPort, SalesforcePort, Store, StoredIssue, StoredSeries


def _inbound(item: ExchangeItem, held: Collection[str], policy: Policy) -> bool:
    """An inbound meeting series not stored yet, not opted in by the user."""
    if not item.is_recurring or item.item_id in held or not item.organizer:
        return False
    if item.my_response_type == "Organizer" or item.organizer.lower() == policy.user_email.lower():
        return False  # the user's own series (an appointment's answer may read "Unknown")
    return policy.sync_category not in item.categories


def unanswered_masters(
    items: Sequence[ExchangeItem], stored: Sequence[StoredSeries], policy: Policy
) -> set[str]:
    """The masters among `items` that R-SCOPE-6 keeps out of the series road."""
    if policy.sync_unanswered:
        return set()
    held = {s.state.ex_series for s in stored if s.state.ex_series}
    return {i.item_id for i in items if _inbound(i, held, policy) and i.my_response_type not in ANSWERED}


def answered_masters(
    items: Sequence[ExchangeItem], stored: Sequence[StoredSeries], policy: Policy
) -> set[str]:
    """The inbound masters among `items` that are answered (or let through by `sync_unanswered`): a
    W-UNANSWERED raised for one before is closed."""
    held = {s.state.ex_series for s in stored if s.state.ex_series}
    return {
        i.item_id
        for i in items
        if _inbound(i, held, policy) and (policy.sync_unanswered or i.my_response_type in ANSWERED)
    }


async def note_answers(
    store: Store,
    user_id: str,
    policy: Policy,
    items: Sequence[ExchangeItem],
    stored: Sequence[StoredSeries],
    *,
    record: bool = True,
) -> set[str]:
    """W-UNANSWERED opened for the unanswered masters among `items` and closed for the answered ones (one
    store commit, none when there is nothing to say; nothing stored when `record` is off, as in observe
    mode). Returns the unanswered masters, which the series road is not to take."""
    unanswered = unanswered_masters(items, stored, policy)
    answered = answered_masters(items, stored, policy)
    if not record or not (unanswered or answered):
        return unanswered
    now = datetime.now().astimezone()
    commit = Commit(user_id=user_id)
    for master in sorted(unanswered):
        issue = make_issue(IssueCode.UNANSWERED, user_id, None, master, "(a recurring series)")
        commit.issues_opened.append(
            StoredIssue(user_id, issue.code.value, None, master, issue.message, now, now)
        )
    commit.issues_closed += [(IssueCode.UNANSWERED.value, None, master) for master in sorted(answered)]
    await store.commit(commit)
    return unanswered


def answer_of(copy: ExchangeItem | None) -> Response:
    """The user's answer on their copy of a meeting, as Salesforce holds it (R-ATT-5)."""
    return EX_RESPONSE_IN.get(copy.my_response_type or "", Response.UNDECIDED) if copy else Response.UNDECIDED


async def rejoin(
    salesforce: SalesforcePort,
    exchange: MailboxPort,
    user_id: str,
    mailbox: str,
    master_id: str,
    series_id: str,
) -> bool:
    """The user an invitee of every row of the Lightning series `series_id` again, with the answer on their
    copy `master_id` (a row that lists them already gets that answer). False when the series is gone."""
    read = getattr(salesforce, "read_series", None)
    found = await read(series_id, {}) if read is not None else None
    if not isinstance(found, Series) or not found.occurrences:
        return False
    answer = answer_of((await exchange.read_items(mailbox, [master_id])).get(master_id))
    rows = [o.id for o in found.occurrences]
    held = {
        row: r.status
        for row, e in (await salesforce.read_events(rows)).items()
        for r in e.relations
        if r.relation_id == user_id
    }
    for row in rows:
        try:
            if row not in held:
                await salesforce.add_relation(row, user_id, answer)
            elif held[row] != SF_STATUS[answer]:
                await salesforce.update_relation(row, user_id, answer)
        except NotFoundError:
            continue  # the row is gone: its deletion is planned on its own
    return True
