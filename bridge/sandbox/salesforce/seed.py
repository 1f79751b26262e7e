"""Demo data: users, each with an account, contacts, leads and a week of events with invitees.

The first eight users are the demo's people, each with a full week. Larger orgs (up to `MAX_USERS`, for load
tests) go on with generated fictional names, each with a light seed: one account, one contact, two events. The
generated users' records stand for data an org held before its change events' retention began: they publish
no change events (encoding them was most of the seeding time, and a bridge starts from a read of the window,
not from the stream's history).

Load tests ask for more: `events_per_user` adds that many plain appointments to every user, spread over the
next seven weeks (inside the bridge's default window) and published as no change events either.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
# Beyond PEOPLE, names are pairs of these: as many given names as family names, so that `generated_people`
# can walk every pair once (see there). No pair is one of PEOPLE.
_GIVEN = """
    Aaron Abigail Adele Aiko Alba Alec Amara Anders Anika Arjun Astrid Basil Bianca Bruno Camila Carlos
    Cecile Chidi Clara Dara Dimitri Elif Elena Emil Esme Fatima Felix Freya Gabriel Gemma Hana Hassan
    Helga Ibrahim Ida Ingrid Irene Isaac Ivan Jana Jasper Joana Jonas Kai Kamala Karin Kofi Lara Leon
    Lucia Lukas Mael Malik Mara Mateo Mia Milan Nadia Naveen Nia Nils Noor Olga Oscar Paola Pavel Petra
    Quentin Rafael Rania Rosa Ruben Sara Selim Sofia Stefan Tariq Tessa Theo Uma Valeria Victor Vera
    Wanda Wei Xavier Yara Yusuf Zara Zoltan Adrian Beatriz Cyrus Dalia Enzo Flora Goran Hiro Ilse Jorge
"""
GIVEN_NAMES = tuple(_GIVEN.split())
_FAMILY = """
    Abbott Achebe Alvarez Andersen Bakker Baptiste Bauer Bergstrom Bianchi Brandt Castro Chen Costa Dahl
    Dias Dubois Eriksen Esposito Farah Ferreira Fontaine Garcia Gomez Gruber Hansen Hartmann Horvat
    Ibarra Ito Jansen Jovanovic Kaplan Kowalski Kumar Larsen Laurent Leclerc Lindberg Mahmoud Marino
    Meyer Moreno Mori Nakamura Nguyen Nielsen Nowak Obi Olsen Ortiz Park Patel Pereira Petrov Quinn
    Ramos Rossi Russo Saleh Santos Schmidt Sharma Sorensen Suzuki Takahashi Tanaka Torres Urban Varga
    Vasquez Vogel Wagner Weber Yilmaz Young Zhang Ziegler Adeyemi Blanco Carvalho Dragan Engel Falk
    Gallo Haas Iqbal Jensen Keller Lund Mendes Novotny Orlov Pham Reyes Sato Toth Ueda Vidal Wolff
    Zamora
"""
FAMILY_NAMES = tuple(_FAMILY.split())
MAX_USERS = 10_000
assert len(GIVEN_NAMES) == len(FAMILY_NAMES) and len(PEOPLE) + len(GIVEN_NAMES) ** 2 >= MAX_USERS
CUSTOMERS = (
    ("Northwind Traders", (("Lena", "Fischer"), ("Omar", "Aziz"), ("Priya", "Raman"))),
    ("Blue Harbor Logistics", (("Tom", "Becker"), ("Ines", "Moreau"), ("Kenji", "Sato"))),
    ("Alder & Finch", (("Maya", "Cohen"), ("Luis", "Ortega"), ("Nora", "Walsh"))),
)
PROSPECTS = (("Sam", "Rivera", "Quarry Labs"), ("Jo", "Mensah", "Tidewater Studio"))
DOMAIN = "calbridge.test"


def generated_people() -> Iterator[tuple[str, str]]:
    """Every (given, family) pair of the two lists once, in an order that varies both names from one user to
    the next: the n-th pair is (GIVEN[r], FAMILY[(q + r) % size]) with q, r = divmod(n, size), and for each r
    the family index runs through all `size` values as q does."""
    size = len(GIVEN_NAMES)
    for n in range(size * size):
        q, r = divmod(n, size)
        yield GIVEN_NAMES[r], FAMILY_NAMES[(q + r) % size]


def people(count: int) -> list[tuple[str, str]]:
    """The first `count` users' (first, last) names: PEOPLE, then generated ones."""
    if not 1 <= count <= MAX_USERS:
        raise ValueError(f"users must be between 1 and {MAX_USERS}, not {count}")
    names = list(PEOPLE[:count])
    more = generated_people()
    while len(names) < count:
        names.append(next(more))
    return names


def _email(first: str, last: str, domain: str = DOMAIN) -> str:
    return f"{first.lower()}.{last.lower()}@{domain}"


def seed_org(
    org: Org, users: int = 3, now: datetime | None = None, events_per_user: int = 0
) -> list[dict[str, Any]]:
    """Create `users` users (1 to MAX_USERS) with their contacts, leads and events, owned by each user; the
    first eight get a full week, the others a light seed, and every user `events_per_user` more plain
    appointments (see `_seed_bulk`). Returns `[{"salesforce_user_id", "email"}, ...]` in creation order."""
    if events_per_user < 0:
        raise ValueError(f"events_per_user must be 0 or more, not {events_per_user}")
    start_of_day = (
        (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    admin = next(iter(org.clients.values())).run_as_user_id if org.clients else None
    created: list[dict[str, Any]] = []
    for index, (first, last) in enumerate(people(users)):
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
        if index < len(PEOPLE):
            _seed_user(org, user_id, index, start_of_day, [u["salesforce_user_id"] for u in created[:-1]])
        else:
            with _no_change_events(org):
                _seed_light(org, user_id, index, start_of_day)
        if events_per_user:
            with _no_change_events(org):
                _seed_bulk(org, user_id, events_per_user, start_of_day)
    return created


class _Unpublished:
    def publish_transaction(self, changes: Sequence[Any]) -> None:
        return None


@contextmanager
def _no_change_events(org: Org) -> Iterator[None]:
    sink, org.change_sink = org.change_sink, _Unpublished()
    try:
        yield
    finally:
        org.change_sink = sink


def _seed_light(org: Org, user_id: str, index: int, day: datetime) -> None:
    """A generated user's handful: one account with one contact, a meeting with them and a plain
    appointment, on days and hours that vary from user to user."""
    account_name, customers = CUSTOMERS[index % len(CUSTOMERS)]
    first, last = customers[index % len(customers)]
    with org.transaction(user_id, client="calbridge-seed") as writer:
        account_id = writer.create("Account", {"Name": f"{account_name} ({index + 1})"})
        contact_id = writer.create(
            "Contact",
            {
                "FirstName": first,
                "LastName": last,
                "AccountId": account_id,
                "Email": _email(first, last, f"customer{index + 1}.example"),
            },
        )
        start = day + timedelta(days=1 + index % 5, hours=8 + index % 8)
        writer.create(
            "Event",
            {
                "Subject": f"Account review: {account_name}",
                "StartDateTime": start,
                "DurationInMinutes": 30,
                "WhoId": contact_id,
            },
        )
        writer.create(
            "Event",
            {
                "Subject": "Pipeline planning",
                "StartDateTime": start + timedelta(days=1, hours=1),
                "DurationInMinutes": 60,
                "ShowAs": "Busy",
            },
        )


def _seed_bulk(org: Org, user_id: str, count: int, day: datetime) -> None:
    """`count` plain appointments of 30 minutes in one transaction, six a working day from tomorrow on
    (8:00 to 13:00 UTC), so 100 of them end within three weeks and none overlap."""
    with org.transaction(user_id, client="calbridge-seed") as writer:
        for n in range(count):
            days, slot = divmod(n, 6)
            writer.create(
                "Event",
                {
                    "Subject": f"Load test appointment {n + 1}",
                    "StartDateTime": day + timedelta(days=1 + days, hours=8 + slot),
                    "DurationInMinutes": 30,
                    "ShowAs": "Busy",
                },
            )


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
