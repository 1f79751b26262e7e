"""`calbridge observe-report` and `calbridge undo` (issue 9, safe roll-out): what an admin runs.

`observe-report` reads the store: for each user in observe mode (or the one named), the writes the bridge
would make by kind, a sample of them in words, and the issues it would raise. `undo` opens the adapters
and the store in this process and runs `bridge.runtime.undo.undo` for one user; it prints what it put back
and what it left (with why), and exits 1 when something was left.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge.runtime.commands import CommandFailed, _console


async def observe_report(config: Any, user: str | None, sample: int) -> int:
    from bridge.runtime.observe import summarize
    from bridge.runtime.supervisor import open_store_port
    from bridge.store.journal import journal_of

    users = [config.user(user)] if user else [u for u in config.users if config.observing(u)]
    if not users:
        print("no user is in observe mode (set observe = true in [policy] or for a user)")
        return 0
    store = await open_store_port(config)
    try:
        plans = await journal_of(store).observed()
    finally:
        await store.close()
    console = _console()
    for settings in users:
        report = summarize(plans, settings.salesforce_user_id, sample)
        mode = "observe mode" if config.observing(settings) else "writing (report from earlier observation)"
        console.print(f"{settings.salesforce_user_id} {settings.email}: {mode}")
        kinds = ", ".join(f"{kind} {count}" for kind, count in report.writes.items()) or "nothing"
        console.print(f"  would write: {kinds} ({report.plans} records)")
        for line in report.sample:
            console.print(f"    - {line}")
        issues = ", ".join(f"{code} {count}" for code, count in report.issues.items()) or "none"
        console.print(f"  would raise: {issues}")
        for line in report.issue_sample:
            console.print(f"    - {line}")
    return 0


async def undo(config: Any, user: str, since_text: str, *, force: bool, undo_undo: bool = False) -> int:
    from bridge.runtime.supervisor import open_mailbox_port, open_salesforce_port, open_store_port
    from bridge.runtime.undo import parse_since
    from bridge.runtime.undo import undo as revert

    settings = config.user(user)  # KeyError: not enrolled
    now = datetime.now(UTC)
    try:
        since = parse_since(since_text, now)
    except ValueError as error:
        raise CommandFailed(str(error), 2) from None
    if not config.observing(settings) and not force:
        raise CommandFailed(
            f"{settings.email} is not in observe mode: a running bridge would redo what undo reverts. Set "
            "observe = true for the user and restart the bridge, or stop it and pass --force",
            2,
        )
    store = await open_store_port(config)
    salesforce = open_salesforce_port(config)
    exchange = open_mailbox_port(config)
    try:
        report = await revert(
            salesforce,
            exchange,
            store,
            user_id=settings.salesforce_user_id,
            mailbox=settings.email,
            since=since,
            now=now,
            undo_undo=undo_undo,
        )
    finally:
        for resource in (exchange, salesforce, store):
            await resource.close()
    for line in report.undone:
        print(f"undone: {line}")
    for line in report.kept:
        print(f"not undone: {line}")
    print(f"{len(report.undone)} writes undone, {len(report.kept)} left as they are")
    return 1 if report.kept else 0
