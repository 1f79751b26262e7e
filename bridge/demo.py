"""`calbridge demo`: the bridge at work between the built-in Salesforce and Exchange, in under a minute.

It starts the sandbox (a local Salesforce and Exchange over TLS) and the bridge itself as a separate process
(`calbridge run`, SQLite store in a temporary directory), then plays a short story the way people would,
through the real clients: a meeting booked in Outlook reaches Salesforce, its time changed in Salesforce
moves it in Outlook, attendees are added and removed on each side (removals in Salesforce stay in Outlook,
by design), a private appointment arrives masked, and a deletion follows. A live view shows each step and
how long the other side took; the demo ends with a summary and exit 0 when every step was seen.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import Outlook, SalesforceDesk, WaitedTooLong, wait_until
from bridge.sandbox.runner import running_sandbox

QUIET_WAIT = 2.0  # how long a step that must change nothing is watched


@dataclass
class Step:
    title: str
    rule: str
    outcome: str = "…"
    seconds: float | None = None
    ok: bool | None = None


class Story:
    """The steps, shown live as they happen."""

    def __init__(self, console: Console) -> None:
        self.steps: list[Step] = []
        self.console = console
        self.live = Live(self.table(), console=console, refresh_per_second=8, transient=False)

    def table(self) -> Table:
        table = Table(title="calbridge: Outlook ⇄ Salesforce", expand=False)
        table.add_column("#", justify="right")
        table.add_column("what happened")
        table.add_column("rule")
        table.add_column("seen on the other side")
        table.add_column("after", justify="right")
        for number, step in enumerate(self.steps, 1):
            mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[yellow]…[/]"}[step.ok]
            after = f"{step.seconds:.2f} s" if step.seconds is not None else ""
            table.add_row(str(number), step.title, step.rule, f"{mark} {step.outcome}", after)
        return table

    def run(
        self, title: str, rule: str, act: Callable[[], Any], seen: Callable[[Any], tuple[str, float]]
    ) -> Any:
        step = Step(title, rule)
        self.steps.append(step)
        self.live.update(self.table())
        try:
            result = act()
            step.outcome, step.seconds = seen(result)
            step.ok = True
        except (WaitedTooLong, AssertionError) as failure:
            step.outcome, step.ok = f"not seen: {failure}", False
            result = None
        self.live.update(self.table())
        return result


def _play(endpoints: dict[str, Any], story: Story) -> None:
    desk = SalesforceDesk(endpoints)
    user = endpoints["users"][0]
    owner, address = user["salesforce_user_id"], user["email"]
    outlook = Outlook(endpoints, address)
    (contact_id, contact_email), (other_id, other_email) = desk.contacts(2)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    subject = "Pipeline review with Northwind"
    pair: dict[str, str] = {}

    def booked() -> Any:
        return outlook.book(subject, start, start + timedelta(hours=1), location="Room Orion")

    def reached_salesforce(item: Any) -> tuple[str, float]:
        pair["item"] = item.id
        found, seconds = wait_until(lambda: desk.events_of(owner, subject))
        pair["event"] = found[0]["Id"]
        return f"event {pair['event']}", seconds

    story.run("meeting booked in Outlook", "R-TIME-1", booked, reached_salesforce)
    if "event" not in pair:
        return
    moved = start + timedelta(hours=2)

    def item_starts_at(when: datetime) -> Callable[[], bool]:
        def probe() -> bool:
            item = outlook.by_id(pair["item"])
            return item is not None and item.start == when

        return probe

    story.run(
        "its time changed in Salesforce",
        "R-MERGE-1",
        lambda: desk.move_event(pair["event"], moved, moved + timedelta(hours=1)),
        lambda _: ("moved in Outlook", wait_until(item_starts_at(moved))[1]),
    )

    def item_has(email: str, present: bool) -> Callable[[], bool]:
        def probe() -> bool:
            item = outlook.by_id(pair["item"])
            return item is not None and (email.lower() in outlook.attendees(item)) is present

        return probe

    story.run(
        f"{contact_email} invited in Salesforce",
        "R-ATT-1",
        lambda: desk.invite(pair["event"], contact_id),
        lambda _: ("attendee in Outlook", wait_until(item_has(contact_email, True))[1]),
    )

    def still_there(_: Any) -> tuple[str, float]:
        time.sleep(QUIET_WAIT)
        assert item_has(contact_email, True)(), "the attendee was removed from Outlook"
        return "kept in Outlook, by design", QUIET_WAIT

    story.run(
        f"{contact_email} removed in Salesforce",
        "R-ATT-2",
        lambda: desk.uninvite(pair["event"], contact_id),
        still_there,
    )

    def event_has(relation_id: str, present: bool) -> Callable[[], bool]:
        return lambda: (relation_id in desk.invitees(pair["event"])) is present

    def add_in_outlook() -> None:
        item = outlook.by_id(pair["item"])
        outlook.add_attendee(item, other_email)

    story.run(
        f"{other_email} invited in Outlook",
        "R-ATT-3",
        add_in_outlook,
        lambda _: ("invitee in Salesforce", wait_until(event_has(other_id, True))[1]),
    )

    def remove_in_outlook() -> None:
        item = outlook.by_id(pair["item"])
        outlook.remove_attendee(item, other_email)

    story.run(
        f"{other_email} removed in Outlook",
        "R-ATT-4",
        remove_in_outlook,
        lambda _: ("removed in Salesforce", wait_until(event_has(other_id, False))[1]),
    )

    private_start = start + timedelta(days=1)

    def masked_in_salesforce(item: Any) -> tuple[str, float]:
        def probe() -> dict[str, Any] | None:
            rows = desk.query(
                "SELECT Id, Subject, IsPrivate FROM Event WHERE Exchange_Item_Id__c = {}", item.id
            )
            return rows[0] if rows else None

        row, seconds = wait_until(probe)
        assert row["IsPrivate"] and row["Subject"] == "Private", f"not masked: {row['Subject']!r}"
        return "busy block titled 'Private'", seconds

    story.run(
        "private 'Dentist' booked in Outlook",
        "R-PRIV-1",
        lambda: outlook.book(
            "Dentist", private_start, private_start + timedelta(hours=1), sensitivity="Private"
        ),
        masked_in_salesforce,
    )

    def delete_in_outlook() -> None:
        item = outlook.by_id(pair["item"])
        outlook.delete(item)

    story.run(
        "the meeting deleted in Outlook",
        "R-DEL-2",
        delete_in_outlook,
        lambda _: ("event deleted", wait_until(lambda: desk.event(pair["event"]) is None)[1]),
    )


def run_demo(state_dir: Path | None = None) -> int:
    console = Console(soft_wrap=True)  # a line of its own per message, also when piped (tests read it)
    with tempfile.TemporaryDirectory(prefix="calbridge-demo-") as scratch:
        root = state_dir or Path(scratch)
        console.print(f"starting the sandbox (Salesforce + Exchange over TLS) in {root}")
        with running_sandbox(root / "sandbox") as sandbox:
            endpoints = sandbox.endpoints()
            config = sandbox.write_bridge_config(root / "bridge")
            console.print("starting the bridge: calbridge run --config " + str(config))
            bridge = BridgeProcess(config)
            began = time.monotonic()
            bridge.start()
            console.print(
                f"bridge ready after {time.monotonic() - began:.1f} s (first sync of every user done)"
            )
            story = Story(console)
            with story.live:
                try:
                    _play(endpoints, story)
                finally:
                    code = bridge.stop()
            passed = [s for s in story.steps if s.ok]
            timed = sorted(
                s.seconds for s in story.steps if s.ok and s.seconds is not None and s.rule != "R-ATT-2"
            )
            console.print(
                f"\n{len(passed)} of {len(story.steps)} steps seen on the other side; "
                + (f"median {timed[len(timed) // 2]:.2f} s, slowest {timed[-1]:.2f} s; " if timed else "")
                + f"bridge stopped with exit code {code}"
            )
            if code != 0 or len(passed) != len(story.steps):
                console.print("[red]the demo did not go as told[/]; the bridge's log:\n" + bridge.tail(40))
                return 1
    return 0
