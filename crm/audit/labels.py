"""How audit entries read: labels of actions, record types and fields (message ids), and a registry where each
domain enters its own field labels, value labels (enums) and reference-data lookups at import.

Shared code imports no domain: a domain calls `register(...)` when its service module is imported (every domain's
routes import it, so the app has them all before the first page renders). tests/test_audit_labels.py checks this
module's imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import pass_context

from crm.i18n import N_

_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?[+-]\d{2}:\d{2}$")  # an audited aware datetime

ACTION_LABELS = {"create": N_("created"), "update": N_("changed"), "archive": N_("archived"), "restore": N_("restored"),
                 "delete": N_("deleted"),
                 # security and access events (crm.audit.models.AuditAction)
                 "sign_in": N_("signed in"), "sign_in_failed": N_("sign-in failed"),
                 "sign_in_throttled": N_("sign-in throttled"), "sign_out": N_("signed out"),
                 "sign_out_everywhere": N_("signed out everywhere"), "session_end": N_("session ended"),
                 "password_changed": N_("password changed"), "second_factor_enrolled": N_("second factor set up"),
                 "second_factor_disabled": N_("second factor turned off"),
                 "second_factor_failed": N_("second-factor code refused"),
                 "second_factor_reset": N_("second factor reset"), "recovery_code_used": N_("recovery code used"),
                 "permission_refused": N_("permission refused"), "download": N_("list downloaded"),
                 "pdf": N_("PDF generated or downloaded"),
                 # backups (crm/backups): one started by an administrator, one checked
                 "backup": N_("backup started"), "backup_verify": N_("backup checked")}
OUTCOME_LABELS = {"success": N_("succeeded"), "failure": N_("failed"), "refused": N_("refused")}
ENTITY_LABELS = {"organization": N_("organization"), "contact": N_("contact"), "user": N_("user"), "task": N_("task"),
                 "visit": N_("visit"), "reminder_rule": N_("reminder rule"), "outbox": N_("reminder delivery"),
                 "project": N_("project"), "project_decision": N_("collective decision"), "land_parcel": N_("land parcel"),
                 "groundbreaking_event": N_("groundbreaking event"), "export_enterprise": N_("export pool member"),
                 "export_figures": N_("export figures"), "export_support": N_("export support"),
                 "approval_template": N_("approval template item"), "industry_chain": N_("industry chain"),
                 "webhook_subscription": N_("webhook subscription"), "backup": N_("backup"),
                 "backup_setting": N_("backup schedule")}
ENTITY_URLS = {"organization": "/organizations/{id}", "contact": "/contacts/{id}", "user": "/admin/users/{id}/edit",
               "task": "/tasks/{id}", "visit": "/visits/{id}", "reminder_rule": "/admin/reminders",
               "outbox": "/admin/reminders/outbox", "project": "/projects/{id}",
               "project_decision": "/projects/decisions/{id}", "land_parcel": "/parcels/{id}",
               "groundbreaking_event": "/groundbreaking/{id}", "export_enterprise": "/exports",
               "export_figures": "/exports/{id}", "export_support": "/exports",
               "approval_template": "/admin/approvals/{id}/edit", "industry_chain": "/admin/industries/{id}/edit",
               "webhook_subscription": "/admin/webhooks/{id}", "backup": "/admin/backups",
               "backup_setting": "/admin/backups"}

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
    "url": N_("Address (URL)"),
    "events": N_("Events"),
    "active": N_("Active"),
    "secret": N_("Signing secret"),
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


# The registry. ANY (None) stands for every record type: a field that means the same thing wherever it appears.
ANY = None


@dataclass(frozen=True)
class Reference:
    """How a field's stored values read as names in the reader's language: `load(session, values, locale)` →
    {value: name}, one query for all the values on a page. `separator`: the field holds several values joined by it
    (a visit's industry chains: "新能源, 高端装备"). A value the lookup does not know stays as stored."""

    load: Callable[[Any, set, str], Mapping[Any, str]]
    separator: str | None = None


_FIELDS: dict[str | None, dict[str, str]] = {}
_VALUES: dict[str | None, dict[str, Mapping[Any, str]]] = {}
_REFERENCES: dict[str | None, dict[str, Reference]] = {}
_ENTITY_NAMES: dict[str, Reference] = {}
ENTITY_NAMES = "#entity"  # the key in refs of the records' names (entity_label) in the reader's language


def register(entity_types: str | Iterable[str] | None, *, fields: Mapping[str, str] | None = None,
             values: Mapping[str, Mapping[Any, str]] | None = None,
             reference: Mapping[str, Reference] | None = None, label: str | None = None, url: str | None = None,
             names: Reference | None = None) -> None:
    """Enters a domain's labels for its record type(s): `fields` {field: msgid}, `values` {field: {code: msgid}},
    `reference` {field: Reference}; `label` (msgid) and `url` ("/things/{id}") of the record type; `names`: how
    the record names stored with its entries (entity_label) read in the reader's language. Called again, it adds
    to (and overrides) what was there."""
    kinds = [entity_types] if entity_types is None or isinstance(entity_types, str) else list(entity_types)
    for kind in kinds:
        if kind is not None:
            if label:
                ENTITY_LABELS[kind] = label
            if url:
                ENTITY_URLS[kind] = url
            if names:
                _ENTITY_NAMES[kind] = names
        _FIELDS.setdefault(kind, {}).update(fields or {})
        _VALUES.setdefault(kind, {}).update({name: dict(labels) for name, labels in (values or {}).items()})
        _REFERENCES.setdefault(kind, {}).update(reference or {})


def reference(entity_type: str | None, field: str) -> Reference | None:
    """The lookup for a field's stored values: the record type's own, else one registered for every type."""
    return _REFERENCES.get(entity_type, {}).get(field) or _REFERENCES.get(ANY, {}).get(field)


def entity_names(entity_type: str) -> Reference | None:
    return _ENTITY_NAMES.get(entity_type)


def entity_name(entry: Any, refs: Mapping) -> str:
    """The record's name as stored with the entry, in the reader's language where its domain can tell."""
    return refs.get(ENTITY_NAMES, {}).get((entry.entity_type, entry.entity_label), entry.entity_label)


def split(ref: Reference, value: Any) -> list[Any]:
    if ref.separator and isinstance(value, str):
        return [part for part in value.split(ref.separator) if part]
    return [value] if isinstance(value, (str, int)) else []


def _value_label(entity_type: str | None, field: str, value: Any) -> str | None:
    """A code's label: the record type's own first, then any type's (entries of types that registered none)."""
    if not isinstance(value, (str, int)):
        return None
    own = _VALUES.get(entity_type, {}).get(field)
    if own is not None and value in own:
        return own[value]
    for labels in _VALUES.values():
        if field in labels and value in labels[field]:
            return labels[field][value]
    return None


def field_label(entity_type: str, field: str) -> str:
    return (ENTITY_FIELD_LABELS.get(entity_type, {}).get(field) or _FIELDS.get(entity_type, {}).get(field)
            or FIELD_LABELS.get(field) or _FIELDS.get(ANY, {}).get(field) or field)


def entity_url(entry: Any) -> str:
    pattern = ENTITY_URLS.get(entry.entity_type)
    return pattern.format(id=entry.entity_id) if pattern else "#"


@pass_context
def audit_value(context, field: str, value: Any, refs: dict, gettext, entity_type: str | None = None) -> str:
    """An audited value as a reader wants to see it: labels instead of codes, names in the reader's language
    instead of ids and stored reference names (`refs`, from audit_service.reference_labels), moments in the zone's
    time."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and _MOMENT.match(value):
        return datetime.fromisoformat(value).astimezone(ZoneInfo(context["timezone"])).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return gettext(N_("yes")) if value else gettext(N_("no"))
    names = refs.get(field, {})
    ref = reference(entity_type, field)
    if ref is not None and ref.separator and isinstance(value, str):
        return ref.separator.join(names.get(part, part) for part in value.split(ref.separator))
    if isinstance(value, (str, int)) and value in names:
        return names[value]
    label = _value_label(entity_type, field, value)
    if label is not None:
        return gettext(label)
    if field == "tags" and isinstance(value, str):
        return "，".join(t for t in value.split(",") if t)
    return str(value)
