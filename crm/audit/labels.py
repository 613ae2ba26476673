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
                 "visit": N_("visit"), "reminder_rule": N_("reminder rule"), "outbox": N_("reminder delivery")}
ENTITY_URLS = {"organization": "/organizations/{id}", "contact": "/contacts/{id}", "user": "/admin/users/{id}/edit",
               "task": "/tasks/{id}", "visit": "/visits/{id}", "reminder_rule": "/admin/reminders",
               "outbox": "/admin/reminders/outbox"}

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
}

# Where a record type names a field differently (a task's title is "what", a contact's title is a job title).
ENTITY_FIELD_LABELS = {"task": {"title": N_("What"), "description": N_("Details")}, "visit": {"title": N_("Subject")}}


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
    for enums in (_enum_labels(), _visit_enum_labels()):  # a visit's kinds and statuses differ from others' codes
        enum = enums.get(field)
        if enum and value in enum:
            return gettext(enum[value])
    if field == "tags" and isinstance(value, str):
        return "，".join(t for t in value.split(",") if t)
    if isinstance(value, bool):
        return gettext(N_("yes")) if value else gettext(N_("no"))
    return str(value)
