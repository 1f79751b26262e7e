"""What is synced (SPEC §2, R-SCOPE), seen from both people's tools with the bridge running as a process.

The three seeded users get their own settings (written into their `[[users]]` tables, then one restart):
the first keeps both directions but creates nothing new in Exchange (`existing`), the second is a one-way
`to_exchange` user, the third a one-way `to_salesforce` user that only takes items linked to a customer.
The org's mail domain is internal, so meetings among the seeded users are internal meetings. Every test runs
over EWS and over Graph (R-GRAPH-1).
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import Attendee, Mailbox

from bridge.sandbox.people import Outlook, wait_until

from .conftest import World

PROVIDERS = ("ews", "graph")
BRIDGE_SETTINGS = """
[policy]
internal_domains = ["calbridge.test"]
"""

# Per user (by index): keys of their [[users]] table (docs/config.md).
USER_SETTINGS: dict[int, dict[str, str]] = {
    0: {"filter_to_exchange": "existing"},
    1: {"direction": "to_exchange"},
    2: {"direction": "to_salesforce", "filter_to_salesforce": "linked"},
}
QUIET = 2.0  # long enough for the bridge to have acted on a change it should ignore


@pytest.fixture(scope="module")
def scoped(world: World) -> World:
    """The module's world with USER_SETTINGS written into the users' tables and the bridge restarted."""
    text = world.bridge.config.read_text()
    for index, keys in USER_SETTINGS.items():
        user_id = world.user(index)[0]
        anchor = f'salesforce_user_id = "{user_id}"'
        assert anchor in text, "the sandbox's config names each user by its Salesforce id"
        lines = "".join(f'\n{key} = "{value}"' for key, value in keys.items())
        text = text.replace(anchor, anchor + lines)
    world.bridge.config.write_text(text)
    world.restart()
    return world


def _event_for_item(world: World, item_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        rows = world.desk.query(
            "SELECT Id, Subject, OwnerId FROM Event WHERE Exchange_Item_Id__c = {}", world.stored_id(item_id)
        )
        return rows[0] if rows else None

    return wait_until(probe)[0]


def _item_for_event(world: World, index: int, event_id: str) -> Any:
    outlook = world.outlook(index)

    def probe() -> Any:
        item_id = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return outlook.by_id(world.ews_id(item_id)) if item_id else None

    return wait_until(probe)[0]


def _attending(email: str) -> Attendee:
    return Attendee(mailbox=Mailbox(email_address=email), response_type="Unknown")


def _not_in_salesforce(world: World, index: int, subject: str, marker: Outlook | None = None) -> None:
    """Nothing named `subject` reaches the user's Salesforce calendar. A marker item booked after it, when
    the user syncs to Salesforce, proves the bridge has read past it; otherwise a quiet wait does."""
    owner = world.user(index)[0]
    if marker is not None:
        start, end = world.slot()
        booked = marker.book(f"Marker after {subject}", start, end, categories=["Salesforce"])
        _event_for_item(world, booked.id)
    else:
        time.sleep(QUIET)
    assert world.desk.events_of(owner, subject) == []


def _issues(world: World, code: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
        body = json.loads(answer.read())
    return [issue for issue in body["issues"] if issue["code"] == code]


# -- R-SCOPE-1: the window ------------------------------------------------------------------------------


def test_r_scope_1_an_item_inside_the_past_window_syncs_and_one_before_it_does_not(scoped: World) -> None:
    outlook = scoped.outlook(0)
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    old = today - timedelta(days=31, hours=2)
    recent = today - timedelta(days=29)
    outlook.book("Window: ended 31 days ago", old, old + timedelta(hours=1))
    kept = outlook.book("Window: ended 29 days ago", recent, recent + timedelta(hours=1))
    assert _event_for_item(scoped, kept.id)["Subject"] == "Window: ended 29 days ago"
    _not_in_salesforce(scoped, 0, "Window: ended 31 days ago", marker=outlook)


def test_r_scope_1_an_event_past_the_future_window_stays_out_of_exchange(scoped: World) -> None:
    owner, _ = scoped.user(1)
    outlook = scoped.outlook(1)
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    far, near = today + timedelta(days=61), today + timedelta(days=59)
    far_id = scoped.desk.create_event(owner, "Window: in 61 days", far, far + timedelta(hours=1))
    near_id = scoped.desk.create_event(owner, "Window: in 59 days", near, near + timedelta(hours=1))
    assert _item_for_event(scoped, 1, near_id).subject == "Window: in 59 days"
    assert outlook.find("Window: in 61 days") == []
    assert not (scoped.desk.event(far_id) or {}).get("Exchange_Item_Id__c")


# -- R-SCOPE-2: one-way users get mirrors ---------------------------------------------------------------


def test_r_scope_2_to_exchange_an_outlook_edit_of_the_mirror_is_not_sent_back(scoped: World) -> None:
    owner, _ = scoped.user(1)
    outlook = scoped.outlook(1)
    start, end = scoped.slot()
    event_id = scoped.desk.create_event(owner, "One way: pipeline review", start, end)
    item = _item_for_event(scoped, 1, event_id)
    outlook.change(item, subject="One way: edited in Outlook")
    mine = outlook.book("One way: booked in Outlook", *scoped.slot())
    time.sleep(QUIET)
    assert (scoped.desk.event(event_id) or {})["Subject"] == "One way: pipeline review"
    assert scoped.desk.events_of(owner, "One way: booked in Outlook") == []
    assert outlook.by_id(mine.id) is not None
    # Salesforce stays the source: its next edit still reaches the mirror.
    scoped.desk.update_event(event_id, Subject="One way: pipeline review (moved)")
    wait_until(lambda: outlook.by_id(item.id).subject == "One way: pipeline review (moved)")


def test_r_scope_2_to_salesforce_a_salesforce_edit_of_the_mirror_is_not_sent_back(scoped: World) -> None:
    owner, _ = scoped.user(2)
    outlook = scoped.outlook(2)
    _, (contact_id, contact_email) = scoped.desk.contacts(2)
    start, end = scoped.slot()
    item = outlook.book("Mirror: demo for a customer", start, end)
    outlook.add_attendee(outlook.by_id(item.id), contact_email)  # `linked`: a Contact attends
    event = _event_for_item(scoped, item.id)
    scoped.desk.update_event(event["Id"], Subject="Mirror: edited in Salesforce")
    made_in_salesforce = scoped.desk.create_event(owner, "Mirror: made in Salesforce", *scoped.slot())
    time.sleep(QUIET)
    assert outlook.by_id(item.id).subject == "Mirror: demo for a customer"
    assert outlook.find("Mirror: made in Salesforce") == []
    assert not (scoped.desk.event(made_in_salesforce) or {}).get("Exchange_Item_Id__c")
    outlook.change(outlook.by_id(item.id), location="Customer site")
    wait_until(
        lambda: (
            scoped.desk.query("SELECT Location FROM Event WHERE Id = {}", event["Id"])[0]["Location"]
            == "Customer site"
        )
    )
    assert contact_id in scoped.desk.invitees(event["Id"])


# -- R-SCOPE-3: filters ---------------------------------------------------------------------------------


def test_r_scope_3_linked_only_items_with_a_customer_attending_reach_salesforce(scoped: World) -> None:
    outlook = scoped.outlook(2)
    (_, contact_email), _ = scoped.desk.contacts(2)
    start, end = scoped.slot()
    outlook.book("Linked: focus time", start, end)
    linked = outlook.book("Linked: with a customer", start, end)
    outlook.add_attendee(outlook.by_id(linked.id), contact_email)
    _event_for_item(scoped, linked.id)
    _not_in_salesforce(scoped, 2, "Linked: focus time")


def test_r_scope_3_existing_creates_nothing_new_but_keeps_existing_pairs_in_step(scoped: World) -> None:
    owner, _ = scoped.user(0)
    outlook = scoped.outlook(0)
    start, end = scoped.slot()
    new_id = scoped.desk.create_event(owner, "Existing: new in Salesforce", start, end)
    item = outlook.book("Existing: paired from Outlook", start, end)
    event = _event_for_item(scoped, item.id)
    scoped.desk.update_event(event["Id"], Location="Board room")
    wait_until(lambda: outlook.by_id(item.id).location == "Board room")
    assert outlook.find("Existing: new in Salesforce") == []
    assert not (scoped.desk.event(new_id) or {}).get("Exchange_Item_Id__c")


# -- R-SCOPE-4 and R-SCOPE-5: exclusions, and the opt-in that overrides them ---------------------------


def test_r_scope_4_an_internal_meeting_stays_out_of_salesforce(scoped: World) -> None:
    outlook = scoped.outlook(0)
    colleague = scoped.user(1)[1]
    (_, contact_email), _ = scoped.desk.contacts(2)
    start, end = scoped.slot()
    # Booked with its attendee at once: an appointment alone is in scope and would sync before the invite.
    outlook.book("Internal: sales huddle", start, end, required_attendees=[_attending(colleague)])
    external = outlook.book("Internal plus a customer", start, end)
    outlook.add_attendee(outlook.by_id(external.id), colleague)
    outlook.add_attendee(outlook.by_id(external.id), contact_email)
    _event_for_item(scoped, external.id)
    _not_in_salesforce(scoped, 0, "Internal: sales huddle", marker=outlook)


def test_r_scope_5_the_users_salesforce_category_opts_in_an_excluded_item(scoped: World) -> None:
    outlook = scoped.outlook(0)
    colleague = scoped.user(1)[1]
    start, end = scoped.slot()
    attending = [_attending(colleague)]
    internal = outlook.book("Opt-in: internal forecast", start, end, required_attendees=attending)
    personal = outlook.book("Opt-in: personal but wanted", start, end, categories=["Personal", "Salesforce"])
    _event_for_item(scoped, personal.id)
    _not_in_salesforce(scoped, 0, "Opt-in: internal forecast")
    outlook.change(outlook.by_id(internal.id), categories=["Salesforce"])
    assert _event_for_item(scoped, internal.id)["Subject"] == "Opt-in: internal forecast"


def test_r_scope_5_opt_in_overrides_the_linked_filter(scoped: World) -> None:
    outlook = scoped.outlook(2)
    item = outlook.book("Opt-in: no customer here", *scoped.slot(), categories=["Salesforce"])
    assert _event_for_item(scoped, item.id)["OwnerId"] == scoped.user(2)[0]


# -- R-SCOPE-6: inbound meetings not answered -----------------------------------------------------------


def test_r_scope_6_an_unanswered_invitation_waits_with_w_unanswered_until_accepted(scoped: World) -> None:
    _, address = scoped.user(0)
    outlook = scoped.outlook(0)
    start, end = scoped.slot()
    subject = "Inbound: partner briefing"
    scoped.sandbox.exchange.deliver_external_meeting([address], "host@partner.example", subject, start, end)
    copy = wait_until(lambda: outlook.find(subject))[0][0]
    stored = scoped.stored_id(copy.id)
    wait_until(lambda: any(i["exchange_id"] == stored for i in _issues(scoped, "W-UNANSWERED")))
    assert scoped.desk.events_of(scoped.user(0)[0], subject) == []
    copy.accept()
    assert _event_for_item(scoped, copy.id)["Subject"] == subject
    wait_until(lambda: not any(i["exchange_id"] == stored for i in _issues(scoped, "W-UNANSWERED")))


# -- R-SCOPE-7: child events ----------------------------------------------------------------------------


def test_r_scope_7_a_salesforce_child_event_never_becomes_an_item(scoped: World) -> None:
    """The second user is invited as a User: Salesforce makes a child event they own, which a
    `to_exchange` user with the `all` filter would otherwise get."""
    organizer, _ = scoped.user(0)
    invitee, _ = scoped.user(1)
    outlook = scoped.outlook(1)
    start, end = scoped.slot()
    event_id = scoped.desk.create_event(organizer, "Child: account planning", start, end)
    scoped.desk.invite(event_id, invitee)
    children = scoped.desk.query(
        "SELECT Id FROM Event WHERE OwnerId = {} AND IsChild = true AND Subject = {}",
        invitee,
        "Child: account planning",
    )
    assert children, "the sandbox makes a child event per User invitee"
    marker = scoped.desk.create_event(invitee, "Child: marker", start, end)
    _item_for_event(scoped, 1, marker)
    assert outlook.find("Child: account planning") == []


# -- R-SCOPE-8: a pair from Exchange ends when the item leaves scope ------------------------------------


def test_r_scope_8_a_blocked_category_ends_an_outlook_pair_and_keeps_the_event(scoped: World) -> None:
    outlook = scoped.outlook(0)
    start, end = scoped.slot()
    item = outlook.book("Ends: lunch with a friend", start, end)
    event = _event_for_item(scoped, item.id)
    wait_until(lambda: "Salesforce" in (outlook.by_id(item.id).categories or []))
    found = outlook.by_id(item.id)
    outlook.change(found, categories=[*(found.categories or []), "Personal"])
    wait_until(lambda: "Salesforce" not in (outlook.by_id(item.id).categories or []))
    assert outlook.by_id(item.id).categories == ["Personal"]
    outlook.change(outlook.by_id(item.id), subject="Ends: renamed after it left")
    time.sleep(QUIET)
    assert (scoped.desk.event(event["Id"]) or {})["Subject"] == "Ends: lunch with a friend"
    # Only the user's own opt-in takes it up again, with the same event.
    found = outlook.by_id(item.id)
    outlook.change(found, categories=[*(found.categories or []), "Salesforce"])
    wait_until(lambda: (scoped.desk.event(event["Id"]) or {}).get("Subject") == "Ends: renamed after it left")
