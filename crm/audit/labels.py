"""How audit entries read: labels of actions, record types and fields (message ids)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import pass_context

from crm.i18n import N_

_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?[+-]\d{2}:\d{2}$")  # an audited aware datetime

ACTION_LABELS = {"create": N_("created"), "update": N_("changed"), "archive": N_("archived"), "restore": N_("restored"),
                 "delete": N_("deleted")}
ENTITY_LABELS = {"organization": N_("organization"), "contact": N_("contact"), "user": N_("user"), "task": N_("task"),
                 "visit": N_("visit"), "reminder_rule": N_("reminder rule"), "outbox": N_("reminder delivery"),
                 "project": N_("project"), "project_decision": N_("collective decision"), "land_parcel": N_("land parcel"),
                 "groundbreaking_event": N_("groundbreaking event"), "export_enterprise": N_("export pool member"),
                 "export_figures": N_("export figures"), "export_support": N_("export support")}
ENTITY_URLS = {"organization": "/organizations/{id}", "contact": "/contacts/{id}", "user": "/admin/users/{id}/edit",
               "task": "/tasks/{id}", "visit": "/visits/{id}", "reminder_rule": "/admin/reminders",
               "outbox": "/admin/reminders/outbox", "project": "/projects/{id}",
               "project_decision": "/projects/decisions/{id}", "land_parcel": "/parcels/{id}",
               "groundbreaking_event": "/groundbreaking/{id}", "export_enterprise": "/exports",
               "export_figures": "/exports/{id}", "export_support": "/exports"}

FIELD_LABELS = {
    "name": N_("Name"),
    "name_en": N_("English name"),
    "credit_code": N_("Unified social credit code"),
    "kind": N_("Kind"),
    "industry_chain_id": N_("Industry chain"),
    "ownership": N_("Ownership"),
    "country_region": N_("Country or region"),
    "city": N_("City"),
    "address": N_("Address"),
    "website": N_("Website"),
    "tags": N_("Tags"),
    "description": N_("Description"),
    "owner_id": N_("Owning officer"),
    "archived_at": N_("Archived"),
    "organization_id": N_("Organization"),
    "title": N_("Title"),
    "mobile": N_("Mobile"),
    "phone": N_("Phone"),
    "email": N_("E-mail"),
    "wechat": N_("WeChat ID"),
    "notes": N_("Notes"),
    "username": N_("Username"),
    "display_name": N_("Display name"),
    "role": N_("Role"),
    "locale": N_("Language"),
    "is_active": N_("Active"),
    "password": N_("Password"),
    "assignee_id": N_("Who"),
    "due_on": N_("Due date"),
    "due_time": N_("Time"),
    "priority": N_("Priority"),
    "status": N_("Status"),
    "contact_id": N_("Contact"),
    "visit_id": N_("Visit"),
    "starts_at": N_("Starts"),
    "ends_at": N_("Ends"),
    "place": N_("Place"),
    "leaders": N_("Leaders on our side"),
    "purpose": N_("Purpose"),
    "summary": N_("What was discussed"),
    "outcome": N_("Outcome"),
    "interest_level": N_("Stated interest"),
    "estimated_investment": N_("Estimated investment (10k CNY)"),
    "officer_id": N_("Responsible officer"),
    "organizations": N_("Organizations"),
    "members": N_("Delegation members"),
    "hosts": N_("Our attendees"),
    "industries": N_("Industry chains of interest"),
    "stops": N_("Tour"),
    "stop_organization_id": N_("Tour stop"),
    "stop_starts_at": N_("Tour stop time"),
    "stop_host": N_("Host at the enterprise"),
    "stop_shown": N_("Shown or asked"),
    "stop_note": N_("Tour stop note"),
    "attachments": N_("Attachments"),
    "enabled": N_("On"),
    "days": N_("Days"),
    "at_time": N_("At (local time)"),
    "in_app": N_("In the CRM"),
    "webhook": N_("Webhook"),
    "total_investment_wan_cny": N_("Total investment (10k CNY)"),
    "fixed_investment_wan_cny": N_("Fixed-asset investment (10k CNY)"),
    "is_foreign_invested": N_("Foreign-invested"),
    "foreign_capital_wan_usd": N_("Foreign capital (10k USD)"),
    "registered_capital_wan_cny": N_("Registered capital (10k CNY)"),
    "land_need_mu": N_("Land needed (mu)"),
    "annual_output_wan_cny": N_("Expected annual output (10k CNY)"),
    "annual_tax_wan_cny": N_("Expected annual tax (10k CNY)"),
    "jobs": N_("Jobs"),
    "source": N_("Source"),
    "source_visit_id": N_("Visit it came from"),
    "source_note": N_("Source details"),
    "is_confidential": N_("Confidential"),
    "parcel_id": N_("Land parcel"),
    "land_certificate_no": N_("Land certificate number"),
    "target_signing_on": N_("Target signing date"),
    "target_groundbreaking_on": N_("Target groundbreaking date"),
    "target_operation_on": N_("Target operation date"),
    "signed_on": N_("Signed on"),
    "groundbreaking_on": N_("Broke ground on"),
    "operation_on": N_("In operation since"),
    "investors": N_("Investors"),
    "officers": N_("Assigned officers"),
    "stage": N_("Stage"),
    "stage_reason": N_("Reason"),
    "stage_note": N_("Note"),
    "gate_override_reason": N_("Gate overridden by a manager"),
    "decision": N_("Collective decision"),
    "visits": N_("Visits"),
    "approval_item": N_("Approval item"),
    "approval_status": N_("Approval status"),
    "approval_submitted_on": N_("Submitted on"),
    "approval_accepted_on": N_("Accepted on"),
    "approval_approved_on": N_("Approved on"),
    "approval_promised_days": N_("Promised time limit (working days)"),
    "approval_assistant": N_("Assisted by"),
    "approval_assistant_id": N_("Assisted by (CRM user)"),
    "approval_note": N_("Note"),
    "project_id": N_("Project"),
    "bounds": N_("Bounds"),
    "location": N_("Location"),
    "land_area_m2": N_("Land area (m²)"),
    "building_area_m2": N_("Building area (m²)"),
    "planned_use": N_("Planned use"),
    "households_total": N_("Households to resettle"),
    "households_signed": N_("Households signed"),
    "signing_starts_on": N_("Signing window opens"),
    "signing_ends_on": N_("Signing window closes"),
    "compensation_cash": N_("Cash compensation"),
    "compensation_swap": N_("Property swap"),
    "public_facilities": N_("Public facilities planned"),
    "code": N_("Code"),
    "held_on": N_("Date"),
    "slate": N_("Projects on the slate"),
    "tier": N_("Tier"),
    "main_products": N_("Main products"),
    "markets": N_("Main markets"),
    "support_planned": N_("Support measures planned"),
    "support_kind": N_("Support given"),
    "given_on": N_("Date"),
}

# Where a record type names a field differently (a task's title is "what", a contact's title is a job title).
ENTITY_FIELD_LABELS = {"task": {"title": N_("What"), "description": N_("Details")}, "visit": {"title": N_("Subject")},
                      "land_parcel": {"status": N_("Status")}, "export_support": {"description": N_("What was done")}}


def field_label(entity_type: str, field: str) -> str:
    return ENTITY_FIELD_LABELS.get(entity_type, {}).get(field) or FIELD_LABELS.get(field, field)


def entity_url(entry: Any) -> str:
    pattern = ENTITY_URLS.get(entry.entity_type)
    return pattern.format(id=entry.entity_id) if pattern else "#"


def _enum_labels() -> dict[str, dict[str, str]]:
    from crm.auth.schemas import ROLE_LABELS
    from crm.organizations.schemas import KIND_LABELS, OWNERSHIP_LABELS
    from crm.tasks.schemas import PRIORITY_LABELS, STATUS_LABELS

    return {"kind": dict(KIND_LABELS), "ownership": dict(OWNERSHIP_LABELS), "role": dict(ROLE_LABELS),
            "priority": dict(PRIORITY_LABELS), "status": dict(STATUS_LABELS)}


def _project_enum_labels() -> dict[str, dict[str, str]]:
    from crm.parcels import schemas as parcel_schemas
    from crm.projects import schemas as project_schemas

    return {"stage": dict(project_schemas.STAGE_LABELS), "source": dict(project_schemas.SOURCE_LABELS),
            "approval_status": dict(project_schemas.APPROVAL_STATUS_LABELS),
            "status": dict(parcel_schemas.STATUS_LABELS)}  # a parcel's; tasks' statuses are looked up first


def _export_enum_labels() -> dict[str, dict[str, str]]:
    from crm.exports import schemas as export_schemas

    return {"tier": dict(export_schemas.TIER_LABELS), "support_kind": dict(export_schemas.SUPPORT_LABELS)}


def _visit_enum_labels() -> dict[str, dict[str, str]]:
    from crm.visits import schemas as visit_schemas

    return {"kind": dict(visit_schemas.KIND_LABELS), "status": dict(visit_schemas.STATUS_LABELS),
            "interest_level": dict(visit_schemas.INTEREST_LABELS)}


@pass_context
def audit_value(context, field: str, value: Any, refs: dict, gettext) -> str:
    """An audited value as a reader wants to see it: labels instead of codes, names instead of ids, moments in
    the zone's time."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and _MOMENT.match(value):
        return datetime.fromisoformat(value).astimezone(ZoneInfo(context["timezone"])).strftime("%Y-%m-%d %H:%M")
    if field in refs and value in refs[field]:
        return refs[field][value]
    for enums in (_enum_labels(), _visit_enum_labels(), _project_enum_labels(), _export_enum_labels()):  # a visit's kinds and statuses differ from others' codes
        enum = enums.get(field)
        if enum and value in enum:
            return gettext(enum[value])
    if field == "tags" and isinstance(value, str):
        return "，".join(t for t in value.split(",") if t)
    if isinstance(value, bool):
        return gettext(N_("yes")) if value else gettext(N_("no"))
    return str(value)
