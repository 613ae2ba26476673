"""The API's request bodies and documented responses (OpenAPI). A body's fields are checked by the pages' own
form fields (crm.api.common.parsed): the models here only give their JSON types, so an error says the same as the
page would, in the token user's language, by JSON pointer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from crm.organizations.models import OrganizationKind, Ownership
from crm.parcels.models import ParcelStatus
from crm.projects.models import ALL_STAGES, ApprovalStatus, DecisionOutcome, MeetingKind, ProjectSource
from crm.projects.schemas import START_STAGES
from crm.tasks.models import TaskPriority
from crm.visits.models import InterestLevel, VisitKind, VisitStatus

Amount = str | int | float  # a decimal: "1234.50" or 1234.5
Text = str
# A record id in a list: within the databases' integer range (a larger one never reaches a query).
RecordRef = Annotated[int, Field(ge=1, le=2_147_483_647)]


def choice(values, description: str = "") -> Any:
    """A text field whose allowed values the page's form checks (listed here for clients; null leaves it blank)."""
    return Field(None, description=description or None,
                 json_schema_extra={"enum": [*(str(v.value if hasattr(v, "value") else v) for v in values), None]})


def _body(required: list[str], example: dict[str, Any]) -> ConfigDict:
    # `required` is documented for clients; a missing field is refused by the page's form check (its message).
    # Left out on a create: kind → investor, owner/assignee → the token's user, priority → normal, stage → lead.
    return ConfigDict(extra="forbid", json_schema_extra={"required": required, "examples": [example]})


# Request bodies

class OrganizationIn(BaseModel):
    model_config = _body(["name"], {"name": "华鑫新材料科技有限公司", "kind": "investor", "city": "苏州"})
    name: Text | None = None
    name_en: Text | None = None
    credit_code: Text | None = None
    kind: Text | None = choice(OrganizationKind)
    industry_chain_id: int | None = None
    ownership: Text | None = choice(Ownership)
    country_region: Text | None = None
    city: Text | None = None
    address: Text | None = None
    website: Text | None = None
    tags: list[Text] | None = None
    description: Text | None = None
    owner_id: int | None = None


class ContactIn(BaseModel):
    model_config = _body(["organization_id", "name"], {"organization_id": 1, "name": "王伟", "mobile": "13800138000"})
    organization_id: int | None = None
    name: Text | None = None
    title: Text | None = None
    mobile: Text | None = None
    phone: Text | None = None
    email: Text | None = None
    wechat: Text | None = None
    notes: Text | None = None


class FollowUpIn(BaseModel):
    model_config = _body(["title", "due_on"],
                         {"title": "回访华鑫：报送项目建议书", "assignee_id": 2, "due_on": "2026-12-20", "priority": "normal"})
    title: Text | None = None
    description: Text | None = None
    assignee_id: int | None = None
    due_on: Text | None = Field(None, description="YYYY-MM-DD")
    due_time: Text | None = Field(None, description="HH:MM")
    priority: Text | None = choice(TaskPriority)
    organization_id: int | None = None
    contact_id: int | None = None
    visit_id: int | None = None
    project_id: int | None = None


class TourStopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organization_id: int | None = None
    starts_at: Text | None = None
    host: Text | None = None
    shown: Text | None = None
    note: Text | None = None


class VisitIn(BaseModel):
    model_config = _body(["title", "kind", "status", "starts_at", "ends_at", "officer_id"],
                         {"title": "华鑫新材料来访", "kind": "inbound", "status": "planned",
                          "starts_at": "2026-12-10T09:30:00+08:00", "ends_at": "2026-12-10T11:30:00+08:00",
                          "officer_id": 2, "organization_ids": [1], "host_ids": [2]})
    title: Text | None = None
    kind: Text | None = choice(VisitKind)
    status: Text | None = choice(VisitStatus)
    starts_at: Text | None = Field(None, description="ISO 8601; without an offset, the zone's local time")
    ends_at: Text | None = None
    place: Text | None = None
    leaders: Text | None = None
    purpose: Text | None = None
    summary: Text | None = None
    outcome: Text | None = None
    interest_level: Text | None = choice(InterestLevel)
    estimated_investment_wan_cny: Amount | None = None
    officer_id: int | None = None
    organization_ids: list[RecordRef] | None = Field(None, max_length=50)
    member_ids: list[RecordRef] | None = Field(None, max_length=200)
    host_ids: list[RecordRef] | None = Field(None, max_length=50)
    industry_chain_ids: list[RecordRef] | None = Field(None, max_length=50)
    tour_stops: list[TourStopIn] | None = Field(None, max_length=50, description="On create only")


class _ProjectFields(BaseModel):
    model_config = _body(["name"],
                         {"name": "华鑫年产5万吨新材料项目", "owner_id": 2, "stage": "lead", "organization_ids": [1],
                          "total_investment_wan_cny": "50000"})
    name: Text | None = None
    industry_chain_id: int | None = None
    description: Text | None = None
    total_investment_wan_cny: Amount | None = None
    fixed_investment_wan_cny: Amount | None = None
    is_foreign_invested: bool | None = None
    foreign_capital_wan_usd: Amount | None = None
    registered_capital_wan_cny: Amount | None = None
    land_need_mu: Amount | None = None
    annual_output_wan_cny: Amount | None = None
    annual_tax_wan_cny: Amount | None = None
    jobs: int | None = None
    source: Text | None = choice(ProjectSource)
    source_visit_id: int | None = None
    source_note: Text | None = None
    owner_id: int | None = None
    is_confidential: bool | None = None
    parcel_id: int | None = None
    land_certificate_no: Text | None = None
    target_signing_on: Text | None = None
    target_groundbreaking_on: Text | None = None
    target_operation_on: Text | None = None
    signed_on: Text | None = None
    groundbreaking_on: Text | None = None
    operation_on: Text | None = None
    organization_ids: list[RecordRef] | None = Field(None, max_length=30, description="Investors, the lead first")
    officer_ids: list[RecordRef] | None = Field(None, max_length=30)


class ProjectIn(_ProjectFields):
    stage: Text | None = choice(START_STAGES, "The stage it starts at")


class ProjectUpdate(_ProjectFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"total_investment_wan_cny": "60000"}]})
    gate_override_reason: Text | None = Field(None, description="A manager's reason to keep it past a gate it no longer meets")


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "required": ["stage"], "examples": [{"stage": "signed", "note": "签约仪式已举行"}]})
    stage: Text | None = choice(ALL_STAGES, "The stage to move to")
    note: Text | None = None
    reason: Text | None = Field(None, description="Why, when moving to on_hold or dropped")
    override_reason: Text | None = Field(None, description="A manager's reason to pass a gate not met")


class ParcelIn(BaseModel):
    model_config = _body(["code", "name", "status"], {"code": "菏泽市2019-2", "name": "纱厂地块", "status": "expropriating",
                                                      "land_area_m2": "212958.00"})
    code: Text | None = None
    name: Text | None = None
    location: Text | None = None
    bounds: Text | None = None
    land_area_m2: Amount | None = None
    building_area_m2: Amount | None = None
    planned_use: Text | None = None
    status: Text | None = choice(ParcelStatus)
    households_total: int | None = None
    households_signed: int | None = None
    signing_starts_on: Text | None = None
    signing_ends_on: Text | None = None
    compensation_cash: bool | None = None
    compensation_swap: bool | None = None
    public_facilities: Text | None = None
    notes: Text | None = None


class GroundbreakingEventIn(BaseModel):
    model_config = _body(["name", "held_on"], {"name": "12月项目集中开工", "held_on": "2026-12-20", "place": "园区"})
    name: Text | None = None
    held_on: Text | None = Field(None, description="YYYY-MM-DD")
    place: Text | None = None
    note: Text | None = None


def _patch(example: dict[str, Any]) -> ConfigDict:
    # A PATCH sends only what it changes: nothing is required.
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


class OrganizationUpdate(OrganizationIn):
    model_config = _patch({"city": "苏州", "tags": ["新材料"]})


class ContactUpdate(ContactIn):
    model_config = _patch({"mobile": "13800138000"})


class FollowUpUpdate(FollowUpIn):
    model_config = _patch({"due_on": "2026-12-24"})


class ParcelUpdate(ParcelIn):
    model_config = _patch({"households_signed": 120})


class GroundbreakingEventUpdate(GroundbreakingEventIn):
    model_config = _patch({"place": "园区北区"})


class VisitUpdate(VisitIn):
    model_config = _patch({"status": "done", "outcome": "达成投资意向"})


# Documented responses

class Page(BaseModel):
    items: list[dict[str, Any]]
    next: str | None = Field(description="The next page's link, or null on the last page")
    total: int | None = Field(None, description="Matching records (first page only)")


class UserOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 2, "username": "wang", "display_name": "王伟",
                                                               "role": "officer", "locale": "zh_CN", "department": "",
                                                               "email": "", "scopes": ["read"]}]})
    id: int
    username: str
    display_name: str
    role: str
    locale: str
    department: str
    email: str
    scopes: list[str]


class ProjectRef(BaseModel):
    id: int
    name: str
    stage: str


class OrganizationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 1, "name": "华鑫新材料科技有限公司", "name_en": "", "credit_code": None, "kind": "investor",
        "industry_chain_id": None, "ownership": "", "country_region": "", "city": "苏州", "address": "",
        "website": "", "tags": [], "description": "", "owner_id": 2, "archived": False,
        "created_at": "2026-12-01T08:00:00+00:00", "updated_at": "2026-12-01T08:00:00+00:00", "version": 1}]})
    id: int
    name: str
    name_en: str
    credit_code: str | None
    kind: str
    industry_chain_id: int | None
    ownership: str
    country_region: str
    city: str
    address: str
    website: str
    tags: list[str]
    description: str
    owner_id: int | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    version: int
    projects: list[ProjectRef] | None = Field(None, description="On the record only: its projects the caller may see")


class OrganizationPage(Page):
    items: list[OrganizationOut]  # type: ignore[assignment]


class ContactOut(BaseModel):
    id: int
    organization_id: int
    name: str
    title: str
    mobile: str
    phone: str
    email: str
    wechat: str
    notes: str
    archived: bool
    created_at: datetime
    updated_at: datetime
    version: int


class ContactPage(Page):
    items: list[ContactOut]  # type: ignore[assignment]


class MemberOut(BaseModel):
    contact_id: int
    name: str


class HostOut(BaseModel):
    user_id: int
    display_name: str


class TourStopOut(BaseModel):
    id: int
    position: int
    organization_id: int
    starts_at: datetime | None
    host: str
    shown: str
    note: str


class VisitRowOut(BaseModel):
    id: int
    title: str
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    place: str
    officer_id: int
    updated_at: datetime
    version: int


class VisitOut(VisitRowOut):
    leaders: str
    purpose: str
    summary: str
    outcome: str
    interest_level: str
    estimated_investment_wan_cny: str | None
    organization_ids: list[int]
    members: list[MemberOut]
    hosts: list[HostOut]
    industry_chain_ids: list[int]
    tour_stops: list[TourStopOut]
    created_at: datetime


class VisitPage(Page):
    items: list[VisitRowOut]  # type: ignore[assignment]


class FollowUpOut(BaseModel):
    id: int
    title: str
    description: str
    assignee_id: int
    due_on: date
    due_time: str | None
    priority: str
    status: str
    organization_id: int | None
    contact_id: int | None
    visit_id: int | None
    project_id: int | None = Field(description="null when the caller may not see the project")
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class FollowUpPage(Page):
    items: list[FollowUpOut]  # type: ignore[assignment]


class ProjectRowOut(BaseModel):
    id: int
    name: str
    industry_chain_id: int | None
    description: str
    total_investment_wan_cny: str | None
    fixed_investment_wan_cny: str | None
    is_foreign_invested: bool
    foreign_capital_wan_usd: str | None
    registered_capital_wan_cny: str | None
    land_need_mu: str | None
    annual_output_wan_cny: str | None
    annual_tax_wan_cny: str | None
    jobs: int | None
    source: str
    source_note: str
    owner_id: int
    is_confidential: bool
    stage: str
    stage_entered_at: datetime
    pipeline_stage: str
    stage_reason: str
    target_signing_on: date | None
    target_groundbreaking_on: date | None
    target_operation_on: date | None
    signed_on: date | None
    groundbreaking_on: date | None
    operation_on: date | None
    parcel_id: int | None
    land_certificate_no: str
    created_at: datetime
    updated_at: datetime
    archived: bool
    version: int


class InvestorOut(BaseModel):
    organization_id: int
    name: str
    position: int


class StageChangeOut(BaseModel):
    id: int
    from_stage: str | None
    to_stage: str
    at: datetime
    actor_id: int | None
    note: str
    gate_override: bool


class DecisionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 7, "meeting_kind": "joint", "meeting_on": "2026-12-01", "outcome": "approved",
        "resolution": "同意项目落户，按程序办理供地手续。", "recorded_by_id": 3, "created_at": "2026-12-01T09:00:00+00:00"}]})
    id: int
    meeting_kind: str
    meeting_on: date
    outcome: str
    resolution: str
    recorded_by_id: int | None
    created_at: datetime


class ApprovalItemOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 41, "code": "land", "name_zh": "用地预审", "name_en": "Land pre-approval", "position": 1,
        "status": "accepted", "submitted_on": "2026-11-20", "accepted_on": "2026-11-24", "approved_on": None,
        "promised_days": 20, "overdue_on": "2026-12-22", "assistant_id": 5, "assistant": "赵敏", "note": "",
        "updated_at": "2026-11-24T02:00:00+00:00"}]})
    id: int
    code: str
    name_zh: str
    name_en: str
    position: int
    status: str
    submitted_on: date | None
    accepted_on: date | None
    approved_on: date | None
    promised_days: int | None
    overdue_on: date | None
    assistant_id: int | None
    assistant: str
    note: str
    updated_at: datetime


class ProjectOut(ProjectRowOut):
    investors: list[InvestorOut]
    officer_ids: list[int]
    stage_history: list[StageChangeOut]
    decisions: list[DecisionOut]
    approval_items: list[ApprovalItemOut]
    gate_override_reason: str


class StageTotalOut(BaseModel):
    stage: str
    count: int
    investment_wan_cny: str
    foreign_capital_wan_usd: str


class ProjectPage(Page):
    items: list[ProjectRowOut]  # type: ignore[assignment]
    totals: list[StageTotalOut] | None = Field(None, description="Per stage, for the filter (first page only)")


class ParcelOut(BaseModel):
    id: int
    code: str
    name: str
    location: str
    bounds: str
    land_area_m2: str | None
    building_area_m2: str | None
    planned_use: str
    status: str
    households_total: int | None
    households_signed: int
    signing_starts_on: date | None
    signing_ends_on: date | None
    compensation_cash: bool
    compensation_swap: bool
    public_facilities: str
    notes: str
    created_at: datetime
    updated_at: datetime
    version: int


class ParcelPage(Page):
    items: list[ParcelOut]  # type: ignore[assignment]


class GateOut(BaseModel):
    key: str
    label: str
    colour: str
    message: str | None


class ReadinessOut(BaseModel):
    project_id: int
    name: str
    stage: str
    stale: bool
    gates: list[GateOut]
    ready: bool


class GroundbreakingEventOut(BaseModel):
    id: int
    name: str
    held_on: date
    place: str
    note: str
    created_at: datetime
    version: int
    slate: list[ReadinessOut] | None = Field(None, description="On the record only: the slated projects the caller may see, with their readiness")


class GroundbreakingPage(Page):
    items: list[GroundbreakingEventOut]  # type: ignore[assignment]


class ExportMemberOut(BaseModel):
    id: int
    organization_id: int
    organization_name: str
    tier: str
    officer_id: int
    main_products: str
    markets: str
    support_planned: str
    created_at: datetime
    updated_at: datetime
    version: int


class ExportMemberPage(Page):
    items: list[ExportMemberOut]  # type: ignore[assignment]


class MonthlyFigureOut(BaseModel):
    year: int
    month: int
    value_wan_usd: str
    etag: str = Field(description="Send it in If-Match to change this month's figure")


class ExportFiguresOut(BaseModel):
    organization_id: int
    year: int
    target_wan_usd: str | None
    months: list[MonthlyFigureOut]


class IndicatorOut(BaseModel):
    id: int
    code: str
    name_zh: str
    name_en: str
    unit: str
    frequency: str
    kind: str
    allows_negative: bool
    position: int
    is_active: bool
    updated_at: datetime
    version: int


class IndicatorPage(Page):
    items: list[IndicatorOut]  # type: ignore[assignment]


class IndicatorValueOut(BaseModel):
    year: int
    period: int
    value: str
    updated_at: datetime
    version: int = Field(description="Send it in If-Match to change this period's value")


class IndicatorValuesOut(BaseModel):
    indicator_id: int
    year: int
    target: str | None
    values: list[IndicatorValueOut]


# The entries (issue 15's later writes): one month's export figure, one period's indicator value, a decision, a
# permit checklist item. Their fields are checked by the pages' own form fields, as above.

class ExportFigureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "required": ["value_wan_usd"], "examples": [{"value_wan_usd": "41.50"}]})
    value_wan_usd: Amount | None = Field(None, description="The month's exports (10k USD)")


class ExportFigureOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "organization_id": 12, "year": 2026, "month": 11, "value_wan_usd": "41.50",
        "updated_at": "2026-12-02T08:00:00+00:00", "etag": "5f0c3a9e21d4b7c8"}]})
    organization_id: int
    year: int
    month: int
    value_wan_usd: str
    updated_at: datetime
    etag: str


class IndicatorValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "required": ["value"], "examples": [{"value": "1234.5"}, {"value": None}]})
    value: Amount | None = Field(None, description="The period's figure in the indicator's unit; null clears it")


class IndicatorValueRecordOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "indicator_id": 1, "year": 2026, "period": 11, "key": "2026-11", "value": "1234.50",
        "updated_at": "2026-12-02T08:00:00+00:00", "version": 2}]})
    indicator_id: int
    year: int
    period: int
    key: str
    value: str | None
    updated_at: datetime | None
    version: int | None


class DecisionIn(BaseModel):
    model_config = _body(["meeting_kind", "meeting_on", "outcome", "resolution"],
                         {"meeting_kind": "joint", "meeting_on": "2026-12-01", "outcome": "approved",
                          "resolution": "同意项目落户，按程序办理供地手续。"})
    meeting_kind: Text | None = choice(MeetingKind)
    meeting_on: Text | None = Field(None, description="YYYY-MM-DD, not in the future")
    outcome: Text | None = choice(DecisionOutcome)
    resolution: Text | None = None


class ApprovalItemUpdate(BaseModel):
    model_config = _patch({"status": "accepted", "accepted_on": "2026-12-01", "promised_days": 20})
    status: Text | None = choice(ApprovalStatus)
    submitted_on: Text | None = Field(None, description="YYYY-MM-DD")
    accepted_on: Text | None = Field(None, description="YYYY-MM-DD (accepted or approved: today when left blank)")
    approved_on: Text | None = Field(None, description="YYYY-MM-DD (approved: today when left blank)")
    promised_days: int | None = Field(None, description="Working days, 1–365")
    assistant_id: RecordRef | None = Field(None, description="The 帮办代办 staffer, when a CRM user")
    assistant: Text | None = Field(None, description="The 帮办代办 staffer's name, when not a CRM user")
    note: Text | None = None
