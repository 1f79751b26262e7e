"""The org's setup as records: the package's permission sets, who is assigned them, and the entities selected
for Change Data Capture, so `calbridge doctor` reads them here as it does in a real org.

- `PermissionSet` and `PermissionSetAssignment` are data-API objects, as on Salesforce
  (`SELECT AssigneeId FROM PermissionSetAssignment WHERE PermissionSet.Name = 'Calbridge_User'`); an
  assignment is removed with a REST delete.
- `PlatformEventChannelMember` is a Tooling API object on Salesforce; the sandbox serves it through its one
  query engine. Its rows are the package's `platformEventChannelMembers/` files.

`install(org, metadata_dir, admin_id)` writes the rows the package implies and the org lacks (a reloaded org
keeps its own, an assignment removed stays removed); `assign(org, user_ids, name)` assigns a set.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from xml.etree import ElementTree

from bridge.sandbox.salesforce.org import Org
from bridge.sandbox.salesforce.schema import METADATA_NS

INTEGRATION_SET = "Calbridge_Integration"
USER_SET = "Calbridge_User"


def _text(root: ElementTree.Element, tag: str) -> str:
    child = root.find(METADATA_NS + tag)
    return (child.text or "") if child is not None else ""


def _live(org: Org, sobject: str) -> list[dict[str, object]]:
    return [dict(r) for r in org.store.rows(sobject) if not r.get("IsDeleted")]


def install(org: Org, metadata_dir: Path, admin_id: str) -> None:
    """Write the package's permission sets and channel members the org does not have yet, as `admin_id`."""
    source = metadata_dir / "force-app" / "main" / "default"
    sets = {
        p.name.split(".")[0]: ElementTree.parse(p).getroot()
        for p in sorted((source / "permissionsets").glob("*.permissionset-meta.xml"))
    }
    members = {
        p.name.split(".")[0]: ElementTree.parse(p).getroot()
        for p in sorted(
            (source / "platformEventChannelMembers").glob("*.platformEventChannelMember-meta.xml")
        )
    }
    with org.lock:
        have_sets = {str(r["Name"]) for r in _live(org, "PermissionSet")}
        have_members = {str(r["DeveloperName"]) for r in _live(org, "PlatformEventChannelMember")}
        with org.transaction(admin_id) as writer:
            for name, root in sets.items():
                if name not in have_sets:
                    fields = {"Name": name, "Label": _text(root, "label") or name}
                    writer.create(
                        "PermissionSet", {**fields, "Description": _text(root, "description")[:255]}
                    )
            for name, root in members.items():
                if name not in have_members:
                    writer.create(
                        "PlatformEventChannelMember",
                        {
                            "DeveloperName": name,
                            "EventChannel": _text(root, "eventChannel"),
                            "SelectedEntity": _text(root, "selectedEntity"),
                        },
                    )


def assign(org: Org, user_ids: Iterable[str], name: str, admin_id: str) -> None:
    """Assign the permission set `name` to each user that does not have it yet, as `admin_id` (nothing when
    the org lacks the set)."""
    with org.lock:
        found = [r for r in _live(org, "PermissionSet") if r["Name"] == name]
        if not found:
            return
        set_id = str(found[0]["Id"])
        assigned = {
            str(r["AssigneeId"])
            for r in _live(org, "PermissionSetAssignment")
            if r["PermissionSetId"] == set_id
        }
        with org.transaction(admin_id) as writer:
            for user_id in user_ids:
                if user_id not in assigned:
                    writer.create(
                        "PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": set_id}
                    )
