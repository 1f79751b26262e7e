"""The sandbox's people at work: a Salesforce user and a mailbox owner, acting through the real clients.

The demo, the end-to-end tests and the benchmarks play their stories with these: a change is made the way a
person's tools would make it (simple-salesforce for Salesforce, exchangelib for Outlook), and `wait_until`
measures how long the other side takes to show it. Nothing here knows the bridge; like the sandbox, it speaks
only the services' protocols.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

from bridge.sandbox.exchange.client_tls import sandbox_account

T = TypeVar("T")


class WaitedTooLong(AssertionError):
    """The other side did not show the change in time."""


def wait_until(probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.05) -> tuple[T, float]:
    """Call `probe` until it returns something truthy; that value and the seconds taken."""
    started = time.monotonic()
    while True:
        found = probe()
        if found:
            return found, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise WaitedTooLong(f"nothing after {timeout:.0f} s")
        time.sleep(every)


def iso(value: datetime) -> str:
    """A Salesforce dateTime literal in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class SalesforceDesk:
    """Salesforce as its users change it: the org's REST API through simple-salesforce, as another app
    would call it (so its changes are not the bridge's own)."""

    def __init__(self, endpoints: Mapping[str, Any]) -> None:
        conf = endpoints["salesforce"]
        ca_bundle = endpoints["ca_bundle"]
        answer = requests.post(
            conf["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": conf["client_id"],
                "client_secret": conf["client_secret"],
            },
            verify=ca_bundle,
            timeout=10,
        )
        answer.raise_for_status()
        token = answer.json()
        session = requests.Session()
        session.verify = ca_bundle
        session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the sandbox CA
        self.sf = Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            session=session,
            version=conf["api_version"],
        )

    def sobject(self, name: str) -> Any:
        """simple-salesforce's handle on one object type (`sf.Event`, typed loosely by the library)."""
        return getattr(self.sf, name)

    def query(self, soql: str, *values: Any) -> list[dict[str, Any]]:
        """SOQL with each value escaped by simple-salesforce's `format_soql`."""
        return list(self.sf.query_all(format_soql(soql, *values))["records"])

    def create_event(self, owner_id: str, subject: str, start: datetime, end: datetime, **fields: Any) -> str:
        record = {
            "OwnerId": owner_id,
            "Subject": subject,
            "StartDateTime": iso(start),
            "EndDateTime": iso(end),
            **fields,
        }
        return str(self.sobject("Event").create(record)["id"])

    def update_event(self, event_id: str, **fields: Any) -> None:
        self.sobject("Event").update(event_id, fields)

    def move_event(self, event_id: str, start: datetime, end: datetime) -> None:
        self.update_event(event_id, StartDateTime=iso(start), EndDateTime=iso(end))

    def delete_event(self, event_id: str) -> None:
        self.sobject("Event").delete(event_id)

    def event(self, event_id: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT Id, Subject, StartDateTime, EndDateTime, IsPrivate, Description, Location, "
            "Exchange_Item_Id__c, Exchange_UID__c FROM Event WHERE Id = {}",
            event_id,
        )
        return rows[0] if rows else None

    def events_of(self, owner_id: str, subject: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT Id, Subject, StartDateTime, EndDateTime, IsPrivate, Description, Location, "
            "Exchange_Item_Id__c, Exchange_UID__c FROM Event "
            "WHERE OwnerId = {} AND Subject = {} AND IsChild = false",
            owner_id,
            subject,
        )

    def invitees(self, event_id: str) -> set[str]:
        """The ids of the event's invitees (Contacts, Leads, Users)."""
        rows = self.query(
            "SELECT RelationId FROM EventRelation WHERE EventId = {} AND IsInvitee = true", event_id
        )
        return {row["RelationId"] for row in rows}

    def invite(self, event_id: str, relation_id: str) -> str:
        row = {"EventId": event_id, "RelationId": relation_id, "IsInvitee": True}
        return str(self.sobject("EventRelation").create(row)["id"])

    def uninvite(self, event_id: str, relation_id: str) -> None:
        rows = self.query(
            "SELECT Id FROM EventRelation WHERE EventId = {} AND RelationId = {}", event_id, relation_id
        )
        for row in rows:
            self.sobject("EventRelation").delete(row["Id"])

    def contact(self, email: str) -> str:
        return str(self.query("SELECT Id FROM Contact WHERE Email = {}", email)[0]["Id"])

    def contacts(self, limit: int = 5) -> list[tuple[str, str]]:
        """(id, email) of a few contacts, for stories that invite customers."""
        rows = self.query("SELECT Id, Email FROM Contact WHERE Email != null ORDER BY Email LIMIT {}", limit)
        return [(row["Id"], row["Email"]) for row in rows]


class Outlook:
    """One person's Exchange calendar, as Outlook changes it: exchangelib on their mailbox."""

    def __init__(self, endpoints: Mapping[str, Any], address: str) -> None:
        ca_pem = Path(endpoints["ca_bundle"]).read_bytes()
        self.address = address
        self.account = sandbox_account(endpoints["exchange"], ca_pem, address)

    def book(self, subject: str, start: datetime, end: datetime, **fields: Any) -> Any:
        from exchangelib import CalendarItem

        item = CalendarItem(folder=self.account.calendar, subject=subject, start=start, end=end, **fields)
        item.save(send_meeting_invitations="SendToNone")
        return item

    def find(self, subject: str) -> list[Any]:
        return list(self.account.calendar.filter(subject=subject))

    def by_id(self, item_id: str) -> Any | None:
        from exchangelib.errors import ErrorItemNotFound

        try:
            return self.account.calendar.get(id=item_id)
        except ErrorItemNotFound:
            return None
        except Exception as error:  # exchangelib raises DoesNotExist from the queryset
            if type(error).__name__ == "DoesNotExist":
                return None
            raise

    def change(self, item: Any, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(item, name, value)
        item.save(update_fields=list(fields), send_meeting_invitations="SendToNone")

    def add_attendee(self, item: Any, email: str) -> None:
        from exchangelib import Attendee, Mailbox

        attendees = list(item.required_attendees or [])
        attendees.append(Attendee(mailbox=Mailbox(email_address=email), response_type="Unknown"))
        self.change(item, required_attendees=attendees)

    def remove_attendee(self, item: Any, email: str) -> None:
        attendees = [
            a for a in item.required_attendees or [] if a.mailbox.email_address.lower() != email.lower()
        ]
        self.change(item, required_attendees=attendees or None)

    def attendees(self, item: Any) -> set[str]:
        return {a.mailbox.email_address.lower() for a in (item.required_attendees or [])} | {
            a.mailbox.email_address.lower() for a in (item.optional_attendees or [])
        }

    def delete(self, item: Any) -> None:
        item.delete(send_meeting_cancellations="SendToNone")


def book_series(
    outlook: Outlook, subject: str, start: datetime, end: datetime, recurrence: Any, zone: str
) -> Any:
    """A recurring appointment as Outlook books it: the start and end in the person's zone, one master."""
    from exchangelib import EWSTimeZone

    tz = EWSTimeZone(zone)
    return outlook.book(subject, start.astimezone(tz), end.astimezone(tz), recurrence=recurrence)


def occurrences(outlook: Outlook, master: Any, start: datetime, end: datetime) -> list[Any]:
    """The master's occurrences and exceptions in [start, end), as Outlook's calendar view shows them."""
    from exchangelib import EWSDateTime

    uid = master.uid or outlook.account.calendar.get(id=master.id).uid  # a saved item comes back without it
    view = outlook.account.calendar.view(
        start=EWSDateTime.from_datetime(start), end=EWSDateTime.from_datetime(end)
    )
    return sorted(
        (i for i in view if getattr(i, "uid", None) == uid and i.type in ("Occurrence", "Exception")),
        key=lambda i: i.start,
    )
