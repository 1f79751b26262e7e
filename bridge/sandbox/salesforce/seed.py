"""Demo data: a few users, each with an account, contacts, leads and a week of events with invitees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.sandbox.salesforce.org import Org

# Fictional people on the reserved .test domain.
PEOPLE = (
    ("Ana", "Lopez"),
    ("Ben", "Okafor"),
    ("Chloe", "Martin"),
    ("Daniel", "Kim"),
    ("Eva", "Novak"),
    ("Farid", "Haddad"),
    ("Greta", "Lindqvist"),
    ("Hugo", "Silva"),
)
CUSTOMERS = (
    ("Northwind Traders", (("Lena", "Fischer"), ("Omar", "Aziz"), ("Priya", "Raman"))),
    ("Blue Harbor Logistics", (("Tom", "Becker"), ("Ines", "Moreau"), ("Kenji", "Sato"))),
    ("Alder & Finch", (("Maya", "Cohen"), ("Luis", "Ortega"), ("Nora", "Walsh"))),
)
PROSPECTS = (("Sam", "Rivera", "Quarry Labs"), ("Jo", "Mensah", "Tidewater Studio"))
DOMAIN = "calbridge.test"


def _email(first: str, last: str, domain: str = DOMAIN) -> str:
    return f"{first.lower()}.{last.lower()}@{domain}"


def seed_org(org: Org, users: int = 3, now: datetime | None = None) -> list[dict[str, Any]]:
    """Create `users` users (up to 8) with their contacts, leads and events, owned by each user; returns
    `[{"salesforce_user_id", "email"}, ...]` in creation order."""
    start_of_day = (
        (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    admin = next(iter(org.clients.values())).run_as_user_id if org.clients else None
    created: list[dict[str, Any]] = []
    for index, (first, last) in enumerate(PEOPLE[:users]):
        email = _email(first, last)
        with org.transaction(admin or "") as writer:
            user_id = writer.create(
                "User",
                {
                    "Username": email,
                    "Email": email,
                    "FirstName": first,
                    "LastName": last,
                    "Alias": (first[0] + last[:4]).lower(),
                    "TimeZoneSidKey": "Europe/Madrid",
                },
            )
        created.append({"salesforce_user_id": user_id, "email": email})
        _seed_user(org, user_id, index, start_of_day, [u["salesforce_user_id"] for u in created[:-1]])
    return created


def _seed_user(org: Org, user_id: str, index: int, day: datetime, colleagues: list[str]) -> None:
    account_name, people = CUSTOMERS[index % len(CUSTOMERS)]
    with org.transaction(user_id, client="calbridge-seed") as writer:
        account_id = writer.create("Account", {"Name": f"{account_name} ({index + 1})"})
        contact_ids = [
            writer.create(
                "Contact",
                {
                    "FirstName": first,
                    "LastName": last,
                    "AccountId": account_id,
                    "Email": _email(first, last, account_name.split()[0].lower() + ".example"),
                },
            )
            for first, last in people
        ]
        first, last, company = PROSPECTS[index % len(PROSPECTS)]
        lead_id = writer.create(
            "Lead",
            {
                "FirstName": first,
                "LastName": last,
                "Company": company,
                "Email": _email(first, last, company.split()[0].lower() + ".example"),
            },
        )
        kickoff = writer.create(
            "Event",
            {
                "Subject": f"Kickoff with {account_name}",
                "StartDateTime": day + timedelta(days=1, hours=9),
                "DurationInMinutes": 60,
                "Location": "Video call",
                "WhoId": contact_ids[0],
                "Description": "Agenda: scope, timeline, next steps.",
            },
        )
        writer.create("EventRelation", {"EventId": kickoff, "RelationId": contact_ids[1]})
        for colleague in colleagues[-1:]:
            writer.create(
                "EventRelation", {"EventId": kickoff, "RelationId": colleague, "Status": "Accepted"}
            )
        writer.create(
            "Event",
            {
                "Subject": f"Intro call: {company}",
                "StartDateTime": day + timedelta(days=2, hours=14, minutes=30),
                "EndDateTime": day + timedelta(days=2, hours=15),
                "WhoId": lead_id,
                "ShowAs": "Busy",
            },
        )
        writer.create(
            "Event",
            {
                "Subject": "Trade fair",
                "IsAllDayEvent": True,
                "ActivityDate": (day + timedelta(days=5)).date(),
                "DurationInMinutes": 2 * 1440,
                "ShowAs": "OutOfOffice",
                "Location": "Exhibition centre",
            },
        )
        writer.create(
            "Event",
            {
                "Subject": "Dentist",
                "StartDateTime": day + timedelta(days=3, hours=8),
                "DurationInMinutes": 45,
                "IsPrivate": True,
                "ShowAs": "Busy",
            },
        )
