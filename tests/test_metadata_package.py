"""The shipped metadata package (salesforce_metadata/) is complete, consistent, least-privilege (R-SEC-5)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from bridge import doctor
from bridge.config import PolicySettings
from bridge.ports import CommandKind
from bridge.salesforce import changes
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


# Where each metadata type lives in the source tree, and how a file's path names its component.
_KINDS = {
    "CustomField": ("objects/*/fields/*.field-meta.xml", lambda p: f"{p.parent.parent.name}.{_stem(p)}"),
    "ListView": ("objects/*/listViews/*.listView-meta.xml", lambda p: f"{p.parent.parent.name}.{_stem(p)}"),
    "ValidationRule": (
        "objects/*/validationRules/*.validationRule-meta.xml",
        lambda p: f"{p.parent.parent.name}.{_stem(p)}",
    ),
    "CustomObject": ("objects/*/*.object-meta.xml", lambda p: _stem(p)),
    "PermissionSet": ("permissionsets/*.permissionset-meta.xml", lambda p: _stem(p)),
    "PlatformEventChannelMember": ("platformEventChannelMembers/*.xml", lambda p: _stem(p)),
    "CustomTab": ("tabs/*.tab-meta.xml", lambda p: p.name.removesuffix(".tab-meta.xml")),
    "Layout": ("layouts/*.layout-meta.xml", lambda p: p.name.removesuffix(".layout-meta.xml")),
    "Flow": ("flows/*.flow-meta.xml", lambda p: p.name.removesuffix(".flow-meta.xml")),
    "QuickAction": (
        "quickActions/*.quickAction-meta.xml",
        lambda p: p.name.removesuffix(".quickAction-meta.xml"),
    ),
}


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def test_manifest_lists_exactly_the_source_components() -> None:
    found = {kind: {name(p) for p in SOURCE.glob(pattern)} for kind, (pattern, name) in _KINDS.items()}
    found["Report"] = {
        p.name.removesuffix(".reportFolder-meta.xml") for p in SOURCE.glob("reports/*.reportFolder-meta.xml")
    } | {
        f"{p.parent.name}/{p.name.removesuffix('.report-meta.xml')}"
        for p in SOURCE.glob("reports/*/*.report-meta.xml")
    }
    assert _manifest() == found


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


def _fields(obj: str, *, required: bool | None = None) -> set[str]:
    """The package's fields of `obj`; `required=False`: only those that take field-level security."""
    out = set()
    for path in (SOURCE / "objects" / obj / "fields").glob("*.xml"):
        is_required = ElementTree.parse(path).getroot().findtext(NS + "required") == "true"
        if required is None or is_required == required:
            out.add(path.name.split(".")[0])
    return out


def _grants(name: str) -> dict[str, bool]:
    """Field -> editable, as the permission set grants it."""
    return {
        fp.findtext(NS + "field", ""): fp.findtext(NS + "editable") == "true"
        for fp in _permission_set(name).findall(NS + "fieldPermissions")
    }


def test_r_sec_5_integration_set_covers_event_and_task_fls_for_every_activity_field() -> None:
    granted = _grants("Calbridge_Integration")
    # Event and Task share field-level security: a missing Task entry disables the field.
    activity = {f"{obj}.{f}" for obj in ("Event", "Task") for f in _fields("Activity")}
    issue = {f"Calbridge_Issue__c.{f}" for f in _fields("Calbridge_Issue__c", required=False)}
    settings = {f"Calbridge_Settings__c.{f}" for f in _fields("Calbridge_Settings__c", required=False)}
    assert set(granted) == activity | issue | settings
    assert all(granted[f] for f in activity | issue)  # it writes pairing fields and issues
    assert not any(granted[f] for f in settings)  # and only reads the settings admins keep
    perms = {
        up.findtext(NS + "name")
        for up in _permission_set("Calbridge_Integration").findall(NS + "userPermissions")
        if up.findtext(NS + "enabled") == "true"
    }
    # ViewAllData: Event change events; ViewSetup: calbridge doctor reads assignments and CDC selections.
    assert perms == {"ApiEnabled", "EditEvent", "ViewAllData", "ViewSetup"}


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


# ------------------------------------------------------------------------------------ the settings object

# Config keys and the settings field that holds each; shared_activities is a fact of the org, not a choice.
_POLICY_FIELD = {
    name: "_".join(part.capitalize() for part in name.split("_")) + "__c"
    for name in PolicySettings.model_fields
    if name != "shared_activities"
}


def test_r_scope_2_settings_object_has_a_field_for_every_policy_and_the_enrolment_switch() -> None:
    fields = _fields("Calbridge_Settings__c")
    assert set(_POLICY_FIELD.values()) | {"User__c", "Sync_Enabled__c"} == fields
    assert set(doctor.SETTINGS_FIELDS) == fields  # what calbridge doctor checks is what the package ships


@pytest.mark.parametrize("key", sorted(_POLICY_FIELD), ids=str)
def test_r_scope_2_settings_values_are_the_config_values(key: str) -> None:
    """A picklist offers exactly the values calbridge.toml accepts; booleans are on/off so that blank can
    mean "inherit"; nothing is required, so a user's row sets only what differs."""
    root = ElementTree.parse(
        SOURCE / "objects" / "Calbridge_Settings__c" / "fields" / f"{_POLICY_FIELD[key]}.field-meta.xml"
    ).getroot()
    assert root.findtext(NS + "required") in (None, "false")
    annotation = PolicySettings.model_fields[key].annotation
    if root.findtext(NS + "type") == "Picklist":
        values = [v.findtext(NS + "fullName") for v in root.iter(NS + "value")]
        expected = ["on", "off"] if annotation is bool else [m.value for m in annotation]  # type: ignore[union-attr]
        assert values == expected
    elif annotation is bool:
        pytest.fail(f"{key}: a boolean policy needs a blank state; use an on/off picklist")


def test_r_scope_1_settings_validation_rules_bound_the_window_as_the_config_does() -> None:
    rules = {
        p.name.split(".")[0]: ElementTree.parse(p).getroot()
        for p in (SOURCE / "objects" / "Calbridge_Settings__c" / "validationRules").glob("*.xml")
    }
    assert "Past_Days__c > 365" in (rules["Past_Days_Range"].findtext(NS + "errorConditionFormula") or "")
    assert "Future_Days__c > 730" in (rules["Future_Days_Range"].findtext(NS + "errorConditionFormula") or "")


def _referenced_fields(obj: str) -> set[str]:
    """Custom fields named by the object's layouts, list views and reports."""
    named: set[str] = set()
    paths = [
        *SOURCE.glob(f"layouts/{obj}-*.xml"),
        *SOURCE.glob(f"objects/{obj}/listViews/*.xml"),
        *SOURCE.glob("reports/*/*.xml"),
    ]
    for path in paths:
        for tag in ("field", "columns", "column"):
            for element in ElementTree.parse(path).getroot().iter(NS + tag):
                text = (element.text or "").strip().removeprefix(f"{obj}.")
                if text.endswith("__c") and "." not in text:
                    named.add(text)
    return named


@pytest.mark.parametrize("obj", ["Calbridge_Settings__c", "Calbridge_Issue__c"])
def test_r_lim_1_layouts_list_views_and_reports_name_only_fields_that_exist(obj: str) -> None:
    assert _referenced_fields(obj) <= _fields(obj)
    layout = next(SOURCE.glob(f"layouts/{obj}-*.xml"))
    on_layout = {(e.text or "") for e in ElementTree.parse(layout).getroot().iter(NS + "field")}
    assert _fields(obj) <= on_layout  # an admin sees every field on the page
    assert (SOURCE / "tabs" / f"{obj}.tab-meta.xml").exists()


def test_r_lim_1_a_user_sees_their_own_open_issues_and_admins_a_report_by_code_and_user() -> None:
    issue = ElementTree.parse(
        SOURCE / "objects" / "Calbridge_Issue__c" / "Calbridge_Issue__c.object-meta.xml"
    ).getroot()
    assert issue.findtext(NS + "sharingModel") == "Private"  # each issue is owned by its user
    mine = ElementTree.parse(
        SOURCE / "objects" / "Calbridge_Issue__c" / "listViews" / "My_Open_Issues.listView-meta.xml"
    ).getroot()
    assert mine.findtext(NS + "filterScope") == "Mine"
    report = ElementTree.parse(
        next(SOURCE.glob("reports/*/Open_Issues_by_Code_and_User.report-meta.xml"))
    ).getroot()
    groups = [g.findtext(NS + "field") for g in report.findall(NS + "groupingsDown")]
    assert groups == ["Calbridge_Issue__c.Code__c", "Calbridge_Issue__c.User__c"]
    criteria = report.find(f"{NS}filter/{NS}criteriaItems")
    assert criteria is not None and criteria.findtext(NS + "column") == "Calbridge_Issue__c.Is_Open__c"


def test_r_time_5_the_event_quick_action_publishes_sync_now_for_its_event() -> None:
    action = ElementTree.parse(
        SOURCE / "quickActions" / "Event.Calbridge_Sync_Now.quickAction-meta.xml"
    ).getroot()
    assert action.findtext(NS + "type") == "Flow"
    flow = ElementTree.parse(
        SOURCE / "flows" / f"{action.findtext(NS + 'flowDefinition')}.flow-meta.xml"
    ).getroot()
    create = flow.find(NS + "recordCreates")
    assert create is not None and create.findtext(NS + "object") == "Calbridge_Command__e"
    values = {
        a.findtext(NS + "field"): a.findtext(f"{NS}value/{NS}stringValue")
        or a.findtext(f"{NS}value/{NS}elementReference")
        for a in create.findall(NS + "inputAssignments")
    }
    assert values == {"Command__c": "sync_now", "Event_Id__c": "recordId"}
    assert CommandKind(values["Command__c"]) is CommandKind.SYNC_NOW  # the value the bridge reads
    flows = {f.findtext(NS + "flow") for f in _permission_set("Calbridge_User").findall(NS + "flowAccesses")}
    assert "Calbridge_Sync_Now" in flows


def test_r_sec_5_the_sandbox_org_has_every_field_object_permission_and_channel_the_bridge_uses() -> None:
    """Deploying the package to the sandbox org: what calbridge (and its doctor) reads and writes exists."""
    objects = load_objects(ROOT)
    granted = _grants("Calbridge_Integration")
    for obj, (read, written) in doctor.BRIDGE_FIELDS.items():
        sobject = objects[obj.lower()]
        for name in {*read, *written}:
            assert sobject.field(name) is not None, f"{obj}.{name}"
            custom = name.endswith("__c") and not obj.endswith("__e")
            if custom and name not in _fields(obj if obj != "Event" else "Activity", required=True):
                assert f"{obj}.{name}" in granted, f"{obj}.{name} has no field-level security"
        for name in written:
            if f"{obj}.{name}" in granted:
                assert granted[f"{obj}.{name}"], f"{obj}.{name} is read-only for the bridge"
    for topic, entity in changes.TOPICS.items():
        assert objects[entity.lower()].change_events or objects[entity.lower()].platform_event, topic
    members = {
        ElementTree.parse(p).getroot().findtext(NS + "selectedEntity")
        for p in SOURCE.glob("platformEventChannelMembers/*.xml")
    }
    assert set(doctor.CDC_ENTITIES) <= members
    settings = objects["calbridge_settings__c"]
    direction = settings.field("Direction__c")
    assert direction is not None and direction.picklist_values == ("both", "to_exchange", "to_salesforce")
    assert settings.field("User__c") is not None and settings.field("User__c").reference_to == ("User",)  # type: ignore[union-attr]
