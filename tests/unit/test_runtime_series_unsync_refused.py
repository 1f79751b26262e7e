"""R-DEL-3 for a series kept whole, through the runtime over the memory ports, when Exchange refuses the
write that takes the bridge's category off the master: the series is not ended half-way (its Lightning
series already deleted, the master still tagged), the refusal is an issue (E-EXCHANGE-REFUSED, R-LIM-1),
and once Exchange takes the write the next pass finishes the unsync and closes the issue. The Lightning
series the unsync deleted is never read as deleted in Salesforce (R-DEL-5), which would delete the master."""

from __future__ import annotations

from datetime import timedelta

from bridge.core.patterns import Frequency, Pattern, Weekday

from .test_core_state_machine import MAILBOX, NOW, USERS
from .test_runtime_series_expanded import _machine, _reconcile_writes
from .test_runtime_series_undo import _series

SYNC, UNSYNC = "Salesforce", "Salesforce Unsync"


def test_r_del_3_an_unsync_whose_category_write_is_refused_is_finished_by_the_next_pass() -> None:
    machine, mailboxes = _machine()
    user, mailbox = USERS[0], MAILBOX[USERS[0]]
    start = NOW + timedelta(days=3, hours=2)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
    master = mailboxes.put_series(mailbox, "Weekly pricing", start, start + timedelta(hours=1), weekly)
    machine.settle()
    (state,) = _series(machine, user)
    assert state.sf_series is not None  # a Lightning series was made
    assert SYNC in mailboxes.items[mailbox][master].categories

    mailboxes.refuse_items[master] = "ErrorAccessDenied"
    mailboxes.edit_item(mailbox, master, categories=(SYNC, UNSYNC))
    machine.settle()
    assert not [i for i, r in machine.sf.events.items() if r.get("IsRecurrence2")]  # the series went
    (held,) = _series(machine, user)
    assert not held.ended, "not ended half-way"
    issues = machine.run(machine.store.issues(user))  # type: ignore[attr-defined]
    assert [i.code for i in issues] == ["E-EXCHANGE-REFUSED"]

    del mailboxes.refuse_items[master]
    _reconcile_writes(machine)
    (ended,) = _series(machine, user)
    assert ended.ended and ended.sf_series is None
    assert master in mailboxes.items[mailbox], "the master stays (no R-DEL-5 for the unsync's own deletion)"
    assert set(mailboxes.items[mailbox][master].categories) == {UNSYNC}
    assert machine.run(machine.store.issues(user)) == []  # type: ignore[attr-defined]
    assert not _reconcile_writes(machine)  # R-DEL-9: nothing more
