"""What the metadata package tells the bridge about its users, read and written with few calls.

- `read_enrolment`: who holds the `Calbridge User` permission set, every `Calbridge_Settings__c` row, and the
  Email and IsActive of the users they name: three SOQL queries whatever the number of users (the User
  query one per 200 ids). The runtime turns them into bindings (`bridge.runtime.settings`).
- `holds`: whether a user holds one of some permission sets (a command's sender, `Calbridge Admin`).
- Issues (`Calbridge_Issue__c`): `open_issues` reads the open records once; creates and updates go through
  the adapter's sObject Collections batchers like every other write (R-API-3).

Change Data Capture on `Calbridge_Settings__c` (`SETTINGS_TOPIC`) tells the runtime when to read again.
Salesforce offers no change events for `PermissionSetAssignment` (it is not among the objects Change Data
Capture supports, and `PermissionSetEvent` needs Shield and covers critical permissions only), so
assignments are re-read with the periodic reconcile, on a `sync_now`, and whenever a settings row changes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.salesforce import soql
from bridge.salesforce.rest import RestClient

SETTINGS_TOPIC = "/data/Calbridge_Settings__ChangeEvent"
SETTINGS_OBJECT = "Calbridge_Settings__c"
ISSUE_OBJECT = "Calbridge_Issue__c"
USER_SET = "Calbridge_User"
ADMIN_SET = "Calbridge_Admin"
INTEGRATION_SET = "Calbridge_Integration"

# Every policy field of the settings object (docs/metadata.md) and the config key it stands for.
POLICY_FIELDS: Mapping[str, str] = {
    "Direction__c": "direction",
    "Filter_To_Exchange__c": "filter_to_exchange",
    "Filter_To_Salesforce__c": "filter_to_salesforce",
    "Past_Days__c": "past_days",
    "Future_Days__c": "future_days",
    "Private__c": "private",
    "Safe_Description__c": "safe_description",
    "Continuous_Attendees__c": "continuous_attendees",
    "Invitations__c": "invitations",
    "Tie_Winner__c": "tie_winner",
    "Delete_In_Exchange__c": "delete_in_exchange",
    "Observe__c": "observe",
    "Sync_Internal__c": "sync_internal",
    "Sync_Unanswered__c": "sync_unanswered",
    "Blocked_Categories__c": "blocked_categories",
    "Internal_Domains__c": "internal_domains",
    "Sync_Category__c": "sync_category",
    "Unsync_Category__c": "unsync_category",
    "Error_Category__c": "error_category",
    "Mass_Delete_Min__c": "mass_delete_min",
    "Mass_Delete_Fraction__c": "mass_delete_fraction",
}
SETTINGS_FIELDS = ("Id", "User__c", "Sync_Enabled__c", *POLICY_FIELDS)
ISSUE_FIELDS = ("Id", "User__c", "Code__c", "Event_Id__c", "Item_Id__c", "Message__c", "Last_Seen__c")


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What Salesforce says, unjudged: the holders of `Calbridge User`, the settings rows (REST field
    names), and `{user id: {"Email", "IsActive"}}` for every user either of them names."""

    assigned: frozenset[str]
    rows: tuple[Mapping[str, Any], ...]
    users: Mapping[str, Mapping[str, Any]]


def _key(record_id: str) -> str:
    return record_id[:15]


async def read_enrolment(rest: RestClient) -> Enrolment:
    holders = await rest.query(
        f"SELECT AssigneeId FROM PermissionSetAssignment WHERE PermissionSet.Name = {soql.quote(USER_SET)}"
    )
    assigned = frozenset(str(r["AssigneeId"]) for r in holders)
    rows = await rest.query(f"SELECT {', '.join(SETTINGS_FIELDS)} FROM {SETTINGS_OBJECT}")
    named = sorted(assigned | {str(r["User__c"]) for r in rows if r.get("User__c")})
    users: dict[str, Mapping[str, Any]] = {}
    for chunk in soql.chunks(named):
        for row in await rest.query(
            f"SELECT Id, Email, IsActive FROM User WHERE Id IN {soql.id_list(chunk)}"
        ):
            users[str(row["Id"])] = row
    # Ids compare on their 15-character form: a lookup may give 18 where the assignment gives 15.
    by_key = {_key(i): i for i in users}
    return Enrolment(
        frozenset(by_key.get(_key(i), i) for i in assigned),
        tuple(
            {**r, "User__c": by_key.get(_key(str(r["User__c"])), r["User__c"])} if r.get("User__c") else r
            for r in rows
        ),
        users,
    )


async def holds(rest: RestClient, user_id: str, set_names: Collection[str]) -> bool:
    """Whether `user_id` is assigned one of the permission sets `set_names`."""
    rows = await rest.query(
        "SELECT Id FROM PermissionSetAssignment "
        f"WHERE AssigneeId = {soql.record_id(user_id)} "
        f"AND PermissionSet.Name IN {soql.string_list(sorted(set_names))} LIMIT 1"
    )
    return bool(rows)


async def open_issues(rest: RestClient) -> list[dict[str, Any]]:
    """Every open `Calbridge_Issue__c` record (the ones the bridge keeps up to date)."""
    return await rest.query(f"SELECT {', '.join(ISSUE_FIELDS)} FROM {ISSUE_OBJECT} WHERE Is_Open__c = true")


def issue_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """A record's fields cut to the object's lengths (docs/metadata.md), so a long item id or message never
    makes Salesforce refuse the record."""
    limits = {"Event_Id__c": 18, "Item_Id__c": 255, "Code__c": 40, "Message__c": 32768}
    return {
        name: value[: limits[name]] if isinstance(value, str) and name in limits else value
        for name, value in values.items()
    }


__all__: Sequence[str] = [
    "ADMIN_SET",
    "INTEGRATION_SET",
    "ISSUE_OBJECT",
    "POLICY_FIELDS",
    "SETTINGS_TOPIC",
    "USER_SET",
    "Enrolment",
    "holds",
    "issue_fields",
    "open_issues",
    "read_enrolment",
]
