"""Describe results (describeGlobal, sObject basic info, sObject describe) built from the schema."""

from __future__ import annotations

import re
from typing import Any

from bridge.sandbox.salesforce.schema import FieldDef, SObjectDef

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "junctionidlist": "tns:ID",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "int": "xsd:int",
    "double": "xsd:double",
}
# Standard picklists Salesforce restricts to their values (custom ones follow their metadata).
_RESTRICTED = frozenset({"ShowAs", "Status"})


def label(name: str) -> str:
    """`Exchange_Item_Id__c` -> `Exchange Item Id`; `ShowAs` -> `Show As`."""
    base = name.removesuffix("__c").removesuffix("__e")
    if "_" in base:
        return base.replace("_", " ")
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)


def _field(sobject: SObjectDef, fdef: FieldDef) -> dict[str, Any]:
    picklist = [
        {"active": True, "defaultValue": v == fdef.default, "label": v, "validFor": None, "value": v}
        for v in fdef.picklist_values
    ]
    length = fdef.length or 0
    return {
        "name": fdef.name,
        "label": label(fdef.name),
        "type": fdef.type,
        "soapType": _SOAP_TYPES.get(fdef.type, "xsd:string"),
        "length": length if fdef.type not in ("id", "reference") else 18,
        "byteLength": (length if fdef.type not in ("id", "reference") else 18) * 3,
        "precision": 0,
        "scale": 0,
        "digits": 9 if fdef.type == "int" else 0,
        "nillable": fdef.nillable,
        "createable": fdef.createable,
        "updateable": fdef.updateable,
        "custom": fdef.custom,
        "calculated": False,
        "unique": False,
        "externalId": False,
        "idLookup": fdef.name == "Id",
        "filterable": fdef.type != "junctionidlist",
        "sortable": fdef.type not in ("textarea", "junctionidlist"),
        "groupable": fdef.type not in ("textarea", "datetime", "double", "junctionidlist"),
        "defaultedOnCreate": fdef.default is not None or not fdef.createable,
        "defaultValue": fdef.default,
        "picklistValues": picklist,
        "restrictedPicklist": bool(picklist) and (fdef.custom or fdef.name in _RESTRICTED),
        "referenceTo": list(fdef.reference_to),
        "relationshipName": fdef.relationship_name,
        "polymorphicForeignKey": len(fdef.reference_to) > 1,
        "nameField": fdef.name == "Name",
        "htmlFormatted": False,
        "encrypted": False,
    }


def urls(sobject: SObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{sobject.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def basic(sobject: SObjectDef, version: str) -> dict[str, Any]:
    """The describeGlobal entry of one object."""
    plural = label(sobject.name) + "s"
    writable = not sobject.platform_event and sobject.name != "Organization"
    return {
        "name": sobject.name,
        "label": label(sobject.name),
        "labelPlural": plural,
        "keyPrefix": sobject.key_prefix,
        "custom": sobject.custom,
        "customSetting": False,
        "createable": writable or sobject.platform_event,
        "updateable": writable,
        "deletable": writable,
        "undeletable": writable,
        "queryable": sobject.queryable,
        "retrieveable": sobject.queryable,
        "searchable": sobject.queryable,
        "triggerable": True,
        "replicateable": sobject.queryable,
        "layoutable": writable,
        "mergeable": False,
        "activateable": False,
        "feedEnabled": False,
        "deprecatedAndHidden": False,
        "urls": urls(sobject, version),
    }


def full(sobject: SObjectDef, version: str) -> dict[str, Any]:
    """`sobjects/{Type}/describe`."""
    result = basic(sobject, version)
    result.update(
        {
            "fields": [_field(sobject, f) for f in sobject.fields],
            "childRelationships": [],
            "recordTypeInfos": [],
            "supportedScopes": [{"label": "All", "name": "everything"}, {"label": "Mine", "name": "mine"}],
        }
    )
    return result
