"""The shipped metadata package (salesforce_metadata/) is complete, consistent, least-privilege (R-SEC-5)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from bridge.sandbox.salesforce.schema import load_objects

ROOT = Path(__file__).resolve().parents[1] / "salesforce_metadata"
SOURCE = ROOT / "force-app" / "main" / "default"
NS = "{http://soap.sforce.com/2006/04/metadata}"
ALL_XML = sorted(ROOT.rglob("*.xml"))


def _manifest() -> dict[str, set[str]]:
    root = ElementTree.parse(ROOT / "manifest" / "package.xml").getroot()
    return {
        t.findtext(NS + "name", ""): {m.text or "" for m in t.findall(NS + "members")}
        for t in root.findall(NS + "types")
    }


def _permission_set(name: str) -> ElementTree.Element:
    return ElementTree.parse(SOURCE / "permissionsets" / f"{name}.permissionset-meta.xml").getroot()


@pytest.mark.parametrize("path", ALL_XML, ids=lambda p: p.name)
def test_every_file_is_metadata_xml(path: Path) -> None:
    root = ElementTree.parse(path).getroot()
    assert root.tag.startswith(NS), f"{path.name} is not in the Metadata API namespace"


def test_manifest_lists_exactly_the_source_components() -> None:
    fields = {
        f"{p.parent.parent.name}.{p.name.split('.')[0]}"
        for p in SOURCE.glob("objects/*/fields/*.field-meta.xml")
    }
    objects = {p.name for p in (SOURCE / "objects").iterdir() if p.name.endswith(("__c", "__e"))}
    permission_sets = {p.name.split(".")[0] for p in (SOURCE / "permissionsets").glob("*.xml")}
    members = {p.name.split(".")[0] for p in (SOURCE / "platformEventChannelMembers").glob("*.xml")}
    assert _manifest() == {
        "CustomField": fields,
        "CustomObject": objects,
        "PermissionSet": permission_sets,
        "PlatformEventChannelMember": members,
    }


def test_pairing_fields_are_on_activity_as_plain_text() -> None:
    fields = {p.name.split(".")[0] for p in (SOURCE / "objects" / "Activity" / "fields").glob("*.xml")}
    assert {"Exchange_Item_Id__c", "Exchange_UID__c"} <= fields  # R-PAIR-1
    for name in ("Exchange_Item_Id__c", "Exchange_UID__c"):
        root = ElementTree.parse(
            SOURCE / "objects" / "Activity" / "fields" / f"{name}.field-meta.xml"
        ).getroot()
        # External ID / unique on Activity fields is unconfirmed; pairing must work through a plain query.
        assert root.findtext(NS + "type") == "Text"
        assert root.findtext(NS + "externalId") == "false"
        assert root.findtext(NS + "unique") == "false"


def test_r_sec_5_integration_set_covers_event_and_task_fls_for_every_activity_field() -> None:
    activity = {p.name.split(".")[0] for p in (SOURCE / "objects" / "Activity" / "fields").glob("*.xml")}
    granted = {
        fp.findtext(NS + "field", "")
        for fp in _permission_set("Calbridge_Integration").findall(NS + "fieldPermissions")
    }
    # Event and Task share field-level security: a missing Task entry disables the field.
    assert granted == {f"{obj}.{f}" for obj in ("Event", "Task") for f in activity}
    perms = {
        up.findtext(NS + "name")
        for up in _permission_set("Calbridge_Integration").findall(NS + "userPermissions")
        if up.findtext(NS + "enabled") == "true"
    }
    assert "ViewAllData" in perms  # needed to receive Event change events


def test_r_sec_5_user_set_grants_nothing_the_bridge_alone_needs() -> None:
    user_set = _permission_set("Calbridge_User")
    assert not user_set.findall(NS + "userPermissions")
    assert all(fp.findtext(NS + "editable") == "false" for fp in user_set.findall(NS + "fieldPermissions"))
    issue = next(
        op
        for op in user_set.findall(NS + "objectPermissions")
        if op.findtext(NS + "object") == "Calbridge_Issue__c"
    )
    assert issue.findtext(NS + "allowEdit") == "false"
    assert issue.findtext(NS + "viewAllRecords") == "false"


def test_sandbox_org_always_has_the_package_fields() -> None:
    objects = load_objects(ROOT)
    event = objects["event"]
    for name in ("Exchange_Item_Id__c", "Exchange_UID__c", "Calbridge_Sync_Hash__c"):
        field = event.field(name)
        assert field is not None and field.custom and field.type == "string" and field.length
    issue = objects["calbridge_issue__c"]
    assert issue.change_events
    assert issue.field("User__c") is not None and issue.field("User__c").reference_to == ("User",)  # type: ignore[union-attr]
    command = objects["calbridge_command__e"]
    assert command.platform_event and command.field("Command__c") is not None
