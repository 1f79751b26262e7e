"""The sandbox at scale: up to 10,000 seeded users, the first eight the demo's people, the rest generated.

Checked through the people's own tools (simple-salesforce and exchangelib) on a sandbox of twelve users; the
10,000 names are checked without seeding them (bench/sandbox_seed.py measures seeding that many).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from bridge.sandbox.people import Outlook, SalesforceDesk
from bridge.sandbox.runner import Sandbox, running_sandbox
from bridge.sandbox.salesforce.seed import DOMAIN, MAX_USERS, PEOPLE, people

USERS = 12


@pytest.fixture(scope="module")
def twelve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("scale"), users=USERS, persist=False) as sandbox:
        yield sandbox


def test_ten_thousand_users_have_distinct_fictional_names_after_the_demo_people() -> None:
    names = people(MAX_USERS)
    assert names[: len(PEOPLE)] == list(PEOPLE)
    emails = {f"{first}.{last}".lower() for first, last in names}
    assert len(emails) == MAX_USERS
    # Consecutive generated users differ in both names, so a list of them reads like people.
    generated = names[len(PEOPLE) : len(PEOPLE) + 20]
    assert all(a[0] != b[0] and a[1] != b[1] for a, b in itertools.pairwise(generated))


@pytest.mark.parametrize("count", [0, MAX_USERS + 1])
def test_a_user_count_out_of_range_is_refused_before_anything_is_written(tmp_path: Path, count: int) -> None:
    with pytest.raises(ValueError, match=f"users must be between 1 and {MAX_USERS}, not {count}"):
        Sandbox(tmp_path, users=count)
    assert list(tmp_path.iterdir()) == []


def test_generated_users_each_have_a_mailbox_and_a_light_seed_on_both_sides(twelve: Sandbox) -> None:
    endpoints = twelve.endpoints()
    users = endpoints["users"]
    assert len(users) == USERS == len(endpoints["exchange"]["mailboxes"])
    assert all(u["email"].endswith("@" + DOMAIN) for u in users)
    first_generated = users[len(PEOPLE)]
    assert first_generated["email"] == "aaron.abbott@" + DOMAIN
    desk = SalesforceDesk(endpoints)
    events = desk.query(
        "SELECT Subject, WhoId, StartDateTime FROM Event WHERE OwnerId = {} AND IsChild = false",
        first_generated["salesforce_user_id"],
    )
    assert sorted(e["Subject"] for e in events) == ["Account review: Alder & Finch", "Pipeline planning"]
    assert any(e["WhoId"] for e in events)  # a meeting with a customer contact
    soon = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=8)
    items = list(Outlook(endpoints, first_generated["email"]).account.calendar.view(*soon))
    assert sorted(i.subject for i in items) == ["Focus time: quarterly report", "School concert"]
    # The demo's people keep their full week.
    demo_items = list(Outlook(endpoints, users[0]["email"]).account.calendar.view(*soon))
    assert len(demo_items) == 5


def test_usernames_stay_unique_case_insensitively_after_a_rename(twelve: Sandbox) -> None:
    desk = SalesforceDesk(twelve.endpoints())
    users = desk.sobject("User")
    taken = twelve.users[USERS - 1]["email"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        users.create({"Username": taken.upper(), "Email": taken, "LastName": "Again"})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_USERNAME"
    renamed = "renamed." + taken
    users.update(twelve.users[USERS - 1]["salesforce_user_id"], {"Username": renamed})
    created = users.create({"Username": taken, "Email": taken, "LastName": "Newcomer"})
    assert created["success"]
    with pytest.raises(SalesforceMalformedRequest) as again:
        users.create({"Username": renamed, "Email": renamed, "LastName": "Third"})
    assert again.value.content[0]["errorCode"] == "DUPLICATE_USERNAME"


def test_events_per_user_seeds_half_in_salesforce_and_half_in_each_mailbox_without_overlaps(
    tmp_path: Path,
) -> None:
    with running_sandbox(tmp_path, users=2, events_per_user=15, persist=False) as sandbox:
        endpoints = sandbox.endpoints()
        user = endpoints["users"][1]
        events = SalesforceDesk(endpoints).query(
            "SELECT Subject, StartDateTime FROM Event WHERE OwnerId = {} AND Subject LIKE 'Load test%'",
            user["salesforce_user_id"],
        )
        window = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=30)
        items = [
            i
            for i in Outlook(endpoints, user["email"]).account.calendar.view(*window)
            if i.subject.startswith("Load test")
        ]
    assert len(events) == 8 and len(items) == 7  # the odd one in Salesforce
    starts = [e["StartDateTime"] for e in events] + [i.start.isoformat() for i in items]
    assert len({s[:16] for s in starts}) == 15  # one appointment a slot, none on top of another
