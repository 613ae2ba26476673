"""The resources under /api/v1. Each handler parses (the page's own filter reader or form fields), calls the
page's service, and answers JSON: the same rules, the same visibility, the same audit trail as the pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.api import common, entries
from crm.api import representations as rep
from crm.api import schemas as s
from crm.api.auth import ApiUser
from crm.api.common import ListDep, body_values, invalid, keyset, list_response, parsed, record_response
from crm.api.problems import ApiProblem
from crm.contacts import routes as contact_routes
from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.contacts.schemas import contact_fields
from crm.db import RecordId, SessionDep, utcnow
from crm.exports import service as export_service
from crm.exports.models import ExportEnterprise, ExportFigure
from crm.forms import parse
from crm.groundbreaking import service as groundbreaking_service
from crm.groundbreaking.models import GroundbreakingEvent
from crm.groundbreaking.schemas import event_fields
from crm.i18n import Msg
from crm.indicators import service as indicator_service
from crm.indicators.models import Indicator, IndicatorTarget, IndicatorValue
from crm.organizations import routes as organization_routes
from crm.organizations import service as organization_service
from crm.organizations.models import Organization
from crm.organizations.service import PermissionDenied
from crm.parcels import routes as parcel_routes
from crm.parcels import service as parcel_service
from crm.parcels.models import LandParcel
from crm.parcels.schemas import parcel_fields
from crm.projects import filters as project_filters
from crm.projects import pipeline
from crm.projects import routes as project_routes
from crm.projects import service as project_service
from crm.projects.models import Project
from crm.projects.schemas import move_fields
from crm.search import service as search_service
from crm.tasks import routes as task_routes
from crm.tasks import service as task_service
from crm.tasks.models import Task, TaskStatus
from crm.tasks.schemas import task_fields
from crm.versioning import StaleEdit
from crm.visits import filters as visit_filters
from crm.visits import routes as visit_routes
from crm.visits import service as visit_service
from crm.visits.models import Visit
from crm.visits.schemas import stop_fields, visit_fields
from crm.web import Router, local_today

public_router = Router()
router = Router()
ROUTERS = (router,)

NOT_FOUND = Msg("There is no such record.")
Year = Annotated[int | None, Query(ge=2000, le=2100, description="The year (default: this year)")]


def _settings(request: Request):
    return request.app.state.settings


def _found(record: Any) -> Any:
    if record is None:
        raise ApiProblem(404, NOT_FOUND)
    return record


def _forbidden() -> ApiProblem:
    return ApiProblem(403, Msg("Your role does not allow this."))


def _stale() -> ApiProblem:
    return ApiProblem(412, Msg("Someone else saved this record after you read it. Nothing was overwritten: read it again, then apply your change."))


# The document

@public_router.get("/openapi.json", tags=["public"], summary="This API's OpenAPI 3.1 document",
                   responses={200: {"description": "The OpenAPI document", "content": {"application/json": {}}}})
def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


# The caller

@router.get("/me", tags=["me"], summary="The token's user", response_model=None,
            responses={200: {"model": s.UserOut, "description": "The user"}})
def me(request: Request, user: ApiUser) -> JSONResponse:
    token = request.state.api_token
    return JSONResponse(rep.me(user, token_scopes=["read", "write"] if token.can_write else ["read"]))


# Organizations

def _organization_response(session: Session, organization_id: int, user, *, status: int = 200) -> JSONResponse:
    session.expire_all()  # after a write: read the record as saved, its collections included
    org = _found(organization_service.get(session, organization_id))
    data = rep.organization(org, projects=rep.organization_projects(session, org.id, user))
    return record_response(data, status=status, location=f"/api/v1/organizations/{org.id}" if status == 201 else None)


@router.get("/organizations", tags=["organizations"], summary="Organizations (the list page's filters)",
            response_model=None, responses={200: {"model": s.OrganizationPage, "description": "A page"}})
def list_organizations(
    request: Request, session: SessionDep, user: ApiUser, params: ListDep,
    q: Annotated[str | None, Query(max_length=100, description="Name, pinyin or contact")] = None,
    kind: Annotated[str | None, Query(description="investor, zone_enterprise, government, platform, intermediary")] = None,
    industry: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="Industry chain id")] = None,
    ownership: Annotated[str | None, Query()] = None,
    owner: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="Owning officer's id")] = None,
    tag: Annotated[str | None, Query(max_length=20)] = None,
    archived: Annotated[int | None, Query(ge=0, le=1, description="1: the archived ones")] = None,
) -> JSONResponse:
    flt, _ = organization_routes._filter_from_query(request)
    if flt.q:
        flt = replace(flt, q_common=search_service.is_common(session, organization_service.SEARCH_KIND, flt.q,
                                                             Organization.search_text))
    rows = list(session.scalars(keyset(organization_service._filtered(select(Organization), flt), params,
                                       Organization.updated_at, Organization.id)))
    total = None
    if params.cursor is None:
        total = session.scalar(organization_service._filtered(select(func.count(Organization.id)), flt)
                               .where(*([Organization.updated_at >= params.updated_since] if params.updated_since else [])))
    return list_response(request, params, rows, rep.organization, total=total)


@router.get("/organizations/{organization_id}", tags=["organizations"], summary="An organization, with its projects",
            response_model=None, responses={200: {"model": s.OrganizationOut, "description": "The organization"}})
def get_organization(session: SessionDep, user: ApiUser, organization_id: RecordId) -> JSONResponse:
    return _organization_response(session, organization_id, user)


def _organization_errors(session: Session, dup: organization_service.DuplicateOrganization) -> ApiProblem:
    session.rollback()
    return invalid({dup.field: Msg("An organization with this %(what)s already exists.",
                                   what=Msg("credit code") if dup.field == "credit_code" else Msg("name"))})


def _organization_values(body: s.OrganizationIn, current: dict[str, str] | None = None) -> dict[str, str]:
    values = body_values(body, current=current)
    if body.tags is not None:
        values["tags"] = "，".join(body.tags)
    return values


@router.post("/organizations", tags=["organizations"], summary="Create an organization", status_code=201,
             response_model=None, responses={201: {"model": s.OrganizationOut, "description": "Created"}})
def create_organization(request: Request, session: SessionDep, user: ApiUser, body: s.OrganizationIn) -> JSONResponse:
    def again(session: Session, record_id: int) -> JSONResponse:
        return _organization_response(session, record_id, user, status=201)

    if (earlier := common.replay_or_claim(request, session, body=body, kind="organization", creates=Organization,
                                          render=again)) is not None:
        return earlier
    values = _organization_values(body, {"kind": "investor", "owner_id": str(user.id)})
    form = parsed(organization_routes._fields(session), values)
    try:
        org = organization_service.create(session, data=form.data, actor=user)
    except organization_service.DuplicateOrganization as dup:
        raise _organization_errors(session, dup) from None
    return again(session, org.id)


@router.patch("/organizations/{organization_id}", tags=["organizations"], summary="Change an organization",
              response_model=None, responses={200: {"model": s.OrganizationOut, "description": "Saved"}})
def update_organization(request: Request, session: SessionDep, user: ApiUser, organization_id: RecordId,
                        body: s.OrganizationUpdate) -> JSONResponse:
    org = _found(organization_service.get(session, organization_id))
    version = common.required_version(request, org.version)
    form = parsed(organization_routes._fields(session, org),
                  _organization_values(body, organization_routes._values_of(org)))
    try:
        organization_service.update(session, org=org, data=form.data, version=version, actor=user)
    except StaleEdit:
        raise _stale() from None
    except organization_service.DuplicateOrganization as dup:
        raise _organization_errors(session, dup) from None
    return _organization_response(session, organization_id, user)


# Contacts

def _contact_response(session: Session, contact_id: int, *, status: int = 200) -> JSONResponse:
    session.expire_all()  # after a write: read the record as saved, its collections included
    found = _found(contact_service.get(session, contact_id))
    return record_response(rep.contact(found), status=status,
                           location=f"/api/v1/contacts/{found.id}" if status == 201 else None)


@router.get("/contacts", tags=["contacts"], summary="Contacts", response_model=None,
            responses={200: {"model": s.ContactPage, "description": "A page"}})
def list_contacts(
    request: Request, session: SessionDep, user: ApiUser, params: ListDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    organization: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    archived: Annotated[int | None, Query(ge=0, le=1)] = None,
) -> JSONResponse:
    flt = contact_service.ContactFilter(q=(q or "").strip()[:100], organization_id=organization,
                                        archived=archived == 1)
    if flt.q:
        flt = replace(flt, q_common=search_service.is_common(session, contact_service.SEARCH_KIND, flt.q,
                                                             Contact.search_text))
    rows = list(session.scalars(keyset(contact_service._filtered(select(Contact), flt), params,
                                       Contact.updated_at, Contact.id)))
    return list_response(request, params, rows, rep.contact)


@router.get("/contacts/{contact_id}", tags=["contacts"], summary="A contact", response_model=None,
            responses={200: {"model": s.ContactOut, "description": "The contact"}})
def get_contact(session: SessionDep, user: ApiUser, contact_id: RecordId) -> JSONResponse:
    return _contact_response(session, contact_id)


@router.post("/contacts", tags=["contacts"], summary="Create a contact", status_code=201, response_model=None,
             responses={201: {"model": s.ContactOut, "description": "Created"}})
def create_contact(request: Request, session: SessionDep, user: ApiUser, body: s.ContactIn) -> JSONResponse:
    def again(session: Session, record_id: int) -> JSONResponse:
        return _contact_response(session, record_id, status=201)

    if (earlier := common.replay_or_claim(request, session, body=body, kind="contact", creates=Contact,
                                          render=again)) is not None:
        return earlier
    form = parsed(contact_fields(), body_values(body))
    try:
        found = contact_service.create(session, data=form.data, actor=user)
    except contact_service.InvalidOrganization as bad:
        session.rollback()
        raise invalid({"organization_id": bad.message}) from None
    return again(session, found.id)


@router.patch("/contacts/{contact_id}", tags=["contacts"], summary="Change a contact", response_model=None,
              responses={200: {"model": s.ContactOut, "description": "Saved"}})
def update_contact(request: Request, session: SessionDep, user: ApiUser, contact_id: RecordId,
                   body: s.ContactUpdate) -> JSONResponse:
    found = _found(contact_service.get(session, contact_id))
    version = common.required_version(request, found.version)
    form = parsed(contact_fields(), body_values(body, current=contact_routes._values_of(found)))
    try:
        contact_service.update(session, contact=found, data=form.data, version=version, actor=user)
    except StaleEdit:
        raise _stale() from None
    except contact_service.InvalidOrganization as bad:
        session.rollback()
        raise invalid({"organization_id": bad.message}) from None
    return _contact_response(session, contact_id)


# Visits (with members, hosts and tour stops)

def _visit_response(session: Session, visit_id: int, *, status: int = 200) -> JSONResponse:
    session.expire_all()  # after a write: read the record as saved, its collections included
    found = _found(visit_service.get(session, visit_id))
    return record_response(rep.visit(found), status=status,
                           location=f"/api/v1/visits/{found.id}" if status == 201 else None)


@router.get("/visits", tags=["visits"], summary="Visits (the list page's filters)", response_model=None,
            responses={200: {"model": s.VisitPage, "description": "A page"}})
def list_visits(
    request: Request, session: SessionDep, user: ApiUser, params: ListDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    kind: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    organization: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    officer: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    from_: Annotated[date | None, Query(alias="from", description="First local day")] = None,
    to: Annotated[date | None, Query(description="Last local day")] = None,
) -> JSONResponse:
    flt = visit_filters.from_query(request.query_params, _settings(request).timezone)
    rows = list(session.scalars(keyset(visit_service._filtered(select(Visit), flt), params, Visit.updated_at, Visit.id)))
    return list_response(request, params, rows, rep.visit_row)


@router.get("/visits/{visit_id}", tags=["visits"], summary="A visit with its members, hosts and tour stops",
            response_model=None, responses={200: {"model": s.VisitOut, "description": "The visit"}})
def get_visit(session: SessionDep, user: ApiUser, visit_id: RecordId) -> JSONResponse:
    return _visit_response(session, visit_id)


def _local(value: str, timezone: str) -> str:
    """An ISO time with an offset as the form's local "YYYY-MM-DDTHH:MM"; anything else as sent (the form says
    what is wrong with it)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")


def _visit_input(session: Session, request: Request, body: s.VisitIn, *, visit: Visit | None) -> visit_service.VisitInput:
    timezone = _settings(request).timezone
    current = visit_routes._values_of(visit, timezone) if visit else {}
    values = body_values(body, current=current)
    for name in ("organization_ids", "member_ids", "host_ids", "industry_chain_ids", "tour_stops"):
        values.pop(name, None)
    if body.estimated_investment_wan_cny is not None or "estimated_investment_wan_cny" in body.model_fields_set:
        values["estimated_investment"] = values.pop("estimated_investment_wan_cny", "")
    for name in ("starts_at", "ends_at"):
        if values.get(name):
            values[name] = _local(values[name], timezone)
    user_ids = visit_routes._user_ids(session)
    form = parsed(visit_fields(user_ids=user_ids), values)
    stops: list[tuple[int, dict[str, Any]]] = []
    errors: dict[str, Msg] = {}
    for index, stop in enumerate(body.tour_stops or []):
        stop_values = body_values(stop)
        if stop_values.get("starts_at"):
            stop_values["starts_at"] = _local(stop_values["starts_at"], timezone)
        stop_form = parse(stop_fields(), stop_values)
        errors.update({f"tour_stops/{index}/{name}": message for name, message in stop_form.errors.items()})
        stops.append((index, stop_form.data))
    if errors:
        raise invalid(errors)
    original = visit_routes._input_of(visit) if visit else visit_service.VisitInput(data={})
    return visit_service.VisitInput(
        data=form.data,
        organization_ids=body.organization_ids if body.organization_ids is not None else original.organization_ids,
        member_ids=body.member_ids if body.member_ids is not None else original.member_ids,
        host_ids=body.host_ids if body.host_ids is not None else original.host_ids,
        industry_ids=body.industry_chain_ids if body.industry_chain_ids is not None else original.industry_ids,
        stops=stops if visit is None else [],
    )


def _visit_errors(bad: visit_service.InvalidVisit) -> ApiProblem:
    return invalid({_stop_pointer(name): message for name, message in bad.errors.items()})


def _stop_pointer(name: str) -> str:
    """The form's row names ("stop-3-organization_id") as the body's ("tour_stops/3/organization_id")."""
    parts = name.split("-")
    if len(parts) == 3 and parts[0] == "stop" and parts[1].isdigit():
        return f"tour_stops/{parts[1]}/{parts[2]}"
    return {"estimated_investment": "estimated_investment_wan_cny", "industry_ids": "industry_chain_ids"}.get(name, name)


@router.post("/visits", tags=["visits"], summary="Create a visit", status_code=201, response_model=None,
             responses={201: {"model": s.VisitOut, "description": "Created"}})
def create_visit(request: Request, session: SessionDep, user: ApiUser, body: s.VisitIn) -> JSONResponse:
    def again(session: Session, record_id: int) -> JSONResponse:
        return _visit_response(session, record_id, status=201)

    if (earlier := common.replay_or_claim(request, session, body=body, kind="visit", creates=Visit,
                                          render=again)) is not None:
        return earlier
    visit_input = _visit_input(session, request, body, visit=None)
    try:
        found = visit_service.create(session, visit_input=visit_input, actor=user,
                                     timezone=_settings(request).timezone, files=None)
    except visit_service.InvalidVisit as bad:
        session.rollback()
        raise _visit_errors(bad) from None
    return again(session, found.id)


@router.patch("/visits/{visit_id}", tags=["visits"], summary="Change a visit (its tour stops are kept)",
              response_model=None, responses={200: {"model": s.VisitOut, "description": "Saved"}})
def update_visit(request: Request, session: SessionDep, user: ApiUser, visit_id: RecordId,
                 body: s.VisitUpdate) -> JSONResponse:
    found = _found(visit_service.get(session, visit_id))
    if not visit_service.can_change(user, found):
        raise _forbidden()
    version = common.required_version(request, found.version)
    if body.tour_stops is not None:
        raise invalid({"tour_stops": Msg("Tour stops are given when the visit is created.")})
    visit_input = _visit_input(session, request, body, visit=found)
    try:
        visit_service.update(session, visit=found, visit_input=visit_input, version=version, actor=user,
                             timezone=_settings(request).timezone, files=None)
    except StaleEdit:
        raise _stale() from None
    except PermissionDenied:
        raise _forbidden() from None
    except visit_service.InvalidVisit as bad:
        session.rollback()
        raise _visit_errors(bad) from None
    return _visit_response(session, visit_id)


# Follow-ups

def _follow_up_response(session: Session, task_id: int, user, *, status: int = 200) -> JSONResponse:
    session.expire_all()  # after a write: read the record as saved, its collections included
    found = _found(task_service.get(session, task_id))
    data = rep.follow_up(found, visible_projects=rep.visible_project_ids(session, user, [found.project_id]))
    return record_response(data, status=status, location=f"/api/v1/follow-ups/{found.id}" if status == 201 else None)


@router.get("/follow-ups", tags=["follow-ups"], summary="Follow-ups", response_model=None,
            responses={200: {"model": s.FollowUpPage, "description": "A page"}})
def list_follow_ups(
    request: Request, session: SessionDep, user: ApiUser, params: ListDep,
    assignee: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    status: Annotated[str | None, Query(description="open, done or cancelled")] = None,
    organization: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    project: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> JSONResponse:
    if status and status not in {t.value for t in TaskStatus}:
        raise ApiProblem(400, Msg("Choose one of the listed options."),
                         errors=[{"pointer": "#/query/status", "detail": Msg("Choose one of the listed options.")}])
    stmt = task_service._team_filtered(select(Task), assignee_id=assignee, status=status or "")
    if organization:
        stmt = stmt.where(Task.organization_id == organization)
    if project:
        if not project_service.is_visible(session, user, project):
            project = 0  # a project the caller may not see has no follow-ups for them
        stmt = stmt.where(Task.project_id == project)
    rows = list(session.scalars(keyset(stmt, params, Task.updated_at, Task.id)))
    visible = rep.visible_project_ids(session, user, [row.project_id for row in rows])
    return list_response(request, params, rows, lambda row: rep.follow_up(row, visible_projects=visible))


@router.get("/follow-ups/{follow_up_id}", tags=["follow-ups"], summary="A follow-up", response_model=None,
            responses={200: {"model": s.FollowUpOut, "description": "The follow-up"}})
def get_follow_up(session: SessionDep, user: ApiUser, follow_up_id: RecordId) -> JSONResponse:
    return _follow_up_response(session, follow_up_id, user)


def _task_values(body: s.FollowUpIn, current: dict[str, str] | None = None) -> dict[str, str]:
    return body_values(body, current=current)


@router.post("/follow-ups", tags=["follow-ups"], summary="Create a follow-up", status_code=201, response_model=None,
             responses={201: {"model": s.FollowUpOut, "description": "Created"}})
def create_follow_up(request: Request, session: SessionDep, user: ApiUser, body: s.FollowUpIn) -> JSONResponse:
    def again(session: Session, record_id: int) -> JSONResponse:
        return _follow_up_response(session, record_id, user, status=201)

    if (earlier := common.replay_or_claim(request, session, body=body, kind="follow_up", creates=Task,
                                          render=again)) is not None:
        return earlier
    form = parsed(task_fields(assignee_ids=task_routes._assignee_ids(session)),
                  _task_values(body, {"priority": "normal", "assignee_id": str(user.id)}))
    try:
        found = task_service.create(session, data=form.data, actor=user, timezone=_settings(request).timezone)
    except task_service.InvalidLink as bad:
        session.rollback()
        raise invalid({bad.field: bad.message}) from None
    return again(session, found.id)


@router.patch("/follow-ups/{follow_up_id}", tags=["follow-ups"], summary="Change a follow-up", response_model=None,
              responses={200: {"model": s.FollowUpOut, "description": "Saved"}})
def update_follow_up(request: Request, session: SessionDep, user: ApiUser, follow_up_id: RecordId,
                     body: s.FollowUpUpdate) -> JSONResponse:
    found = _found(task_service.get(session, follow_up_id))
    if not task_service.can_change(user, found):
        raise _forbidden()
    version = common.required_version(request, found.version)
    current = task_routes._values_of(found)
    if found.project_id and not project_service.is_visible(session, user, found.project_id):
        current["project_id"] = ""  # not shown to the caller; the service keeps it
    form = parsed(task_fields(assignee_ids=task_routes._assignee_ids(session)), _task_values(body, current))
    try:
        task_service.update(session, task=found, data=form.data, version=version, actor=user,
                            timezone=_settings(request).timezone)
    except StaleEdit:
        raise _stale() from None
    except PermissionDenied:
        raise _forbidden() from None
    except task_service.InvalidLink as bad:
        session.rollback()
        raise invalid({bad.field: bad.message}) from None
    return _follow_up_response(session, follow_up_id, user)


@router.post("/follow-ups/{follow_up_id}/complete", tags=["follow-ups"], summary="Mark a follow-up done",
             response_model=None, responses={200: {"model": s.FollowUpOut, "description": "Done"}})
def complete_follow_up(request: Request, session: SessionDep, user: ApiUser, follow_up_id: RecordId) -> JSONResponse:
    found = _found(task_service.get(session, follow_up_id))
    try:
        task_service.set_status(session, task=found, status=TaskStatus.DONE, actor=user)
    except PermissionDenied:
        raise _forbidden() from None
    return _follow_up_response(session, follow_up_id, user)


# Projects (with investors, stage history, decisions, approval items) and stage moves

def _project_response(session: Session, project_id: int, user, *, status: int = 200) -> JSONResponse:
    session.expire_all()  # after a write: read the record as saved, its collections included
    found = _found(project_service.get_visible(session, project_id, user))
    return record_response(rep.project(found), status=status,
                           location=f"/api/v1/projects/{found.id}" if status == 201 else None)


def _rules(request: Request) -> project_service.Rules:
    return project_service.Rules(threshold=_settings(request).major_project_threshold_wan_cny,
                                 today=local_today(request))


@router.get("/projects", tags=["projects"], summary="Projects the caller may see (the table's filters)",
            response_model=None, responses={200: {"model": s.ProjectPage, "description": "A page"}})
def list_projects(
    request: Request, session: SessionDep, user: ApiUser, params: ListDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    stage: Annotated[str | None, Query()] = None,
    industry: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    officer: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    organization: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    min: Annotated[str | None, Query(max_length=20, description="Smallest total investment (10k CNY)")] = None,
    max: Annotated[str | None, Query(max_length=20, description="Largest total investment (10k CNY)")] = None,
    foreign: Annotated[int | None, Query(ge=0, le=1)] = None,
    confidential: Annotated[int | None, Query(ge=0, le=1)] = None,
    stale: Annotated[int | None, Query(ge=0, le=1)] = None,
    archived: Annotated[int | None, Query(ge=1, le=1)] = None,
) -> JSONResponse:
    flt = pipeline._planned(session, project_filters.from_query(request.query_params))
    settings = _settings(request)
    now = utcnow()
    cutoff = pipeline.stale_since(now, settings.project_stale_days)
    stmt = pipeline._filtered(select(*rep.PROJECT_LIST_COLUMNS), flt, user, cutoff)
    # Plain rows through the session's connection (no ORM result processing), rendered by position.
    rows = session.connection().execute(keyset(stmt, params, Project.updated_at, Project.id)).all()
    extra = None
    if params.cursor is None and params.updated_since is None:
        totals = pipeline.totals(session, flt=flt, viewer=user, now=now, stale_days=settings.project_stale_days)
        extra = {"total": totals.count,
                 "totals": [{"stage": t.stage, "count": t.count, "investment_wan_cny": rep.plain(t.investment),
                             "foreign_capital_wan_usd": rep.plain(t.foreign)} for t in totals.by_stage]}
    return list_response(request, params, rows, rep.project_list_row, extra=extra)


@router.get("/projects/{project_id}", tags=["projects"], summary="A project the caller may see, with its history",
            response_model=None, responses={200: {"model": s.ProjectOut, "description": "The project"}})
def get_project(session: SessionDep, user: ApiUser, project_id: RecordId) -> JSONResponse:
    return _project_response(session, project_id, user)


def _project_input(session: Session, body: s.ProjectIn | s.ProjectUpdate, *, project: Project | None,
                   user) -> tuple[Any, project_service.ProjectInput]:
    current = project_routes._values_of(project) if project else {"stage": "lead", "owner_id": str(user.id)}
    values = body_values(body, current=current)
    values.pop("organization_ids", None)
    values.pop("officer_ids", None)
    form = parsed(project_routes._fields(session, creating=project is None, project=project), values)
    original = project_routes._input_of(project) if project else project_service.ProjectInput(data={})
    return form, project_service.ProjectInput(
        data=form.data,
        organization_ids=body.organization_ids if body.organization_ids is not None else original.organization_ids,
        officer_ids=body.officer_ids if body.officer_ids is not None else original.officer_ids)


@router.post("/projects", tags=["projects"], summary="Create a project", status_code=201, response_model=None,
             responses={201: {"model": s.ProjectOut, "description": "Created"}})
def create_project(request: Request, session: SessionDep, user: ApiUser, body: s.ProjectIn) -> JSONResponse:
    def again(session: Session, record_id: int) -> JSONResponse:
        return _project_response(session, record_id, user, status=201)

    if (earlier := common.replay_or_claim(request, session, body=body, kind="project", creates=Project,
                                          render=again)) is not None:
        return earlier
    _form, project_input = _project_input(session, body, project=None, user=user)
    try:
        found = project_service.create(session, project_input=project_input, actor=user)
    except project_service.InvalidProject as bad:
        session.rollback()
        raise invalid(bad.errors) from None
    return again(session, found.id)


@router.patch("/projects/{project_id}", tags=["projects"], summary="Change a project (not its stage: see moves)",
              response_model=None, responses={200: {"model": s.ProjectOut, "description": "Saved"}})
def update_project(request: Request, session: SessionDep, user: ApiUser, project_id: RecordId,
                   body: s.ProjectUpdate) -> JSONResponse:
    found = _found(project_service.get_visible(session, project_id, user))
    if not project_service.can_edit(user, found):
        raise _forbidden()
    version = common.required_version(request, found.version)
    form, project_input = _project_input(session, body, project=found, user=user)
    try:
        project_service.update(session, project=found, project_input=project_input, version=version, actor=user,
                               rules=_rules(request), override_reason=form.data.get("gate_override_reason") or "")
    except StaleEdit:
        raise _stale() from None
    except PermissionDenied:
        raise _forbidden() from None
    except project_service.InvalidProject as bad:
        session.rollback()
        raise invalid(bad.errors) from None
    return _project_response(session, project_id, user)


@router.post("/projects/{project_id}/moves", tags=["projects"], summary="Move a project to another stage",
             response_model=None, responses={200: {"model": s.ProjectOut, "description": "Moved"}})
def move_project(request: Request, session: SessionDep, user: ApiUser, project_id: RecordId,
                 body: s.MoveIn) -> JSONResponse:
    """Through the same gates as the board: a refusal is a 422 whose `reasons` name what is missing. If-Match
    is optional here (a move is judged on the project as it stands); when sent, a stale one is a 412."""
    found = _found(project_service.get_visible(session, project_id, user))
    if not project_service.can_edit(user, found):
        raise _forbidden()
    version = common.required_version(request, found.version) if request.headers.get("if-match") else found.version
    form = parsed(move_fields(), body_values(body))
    try:
        project_service.move(session, project=found, to_stage=form.data["stage"], version=version, actor=user,
                             rules=_rules(request), note=form.data.get("note", ""), reason=form.data.get("reason", ""),
                             override_reason=form.data.get("override_reason", ""))
    except StaleEdit:
        raise _stale() from None
    except PermissionDenied:
        raise _forbidden() from None
    except project_service.MoveRefused as no:
        session.rollback()
        raise ApiProblem(422, Msg("The move was refused."), reasons=[r for r in no.reasons]) from None
    return _project_response(session, project_id, user)


# Land parcels

@router.get("/parcels", tags=["parcels"], summary="Land parcels", response_model=None,
            responses={200: {"model": s.ParcelPage, "description": "A page"}})
def list_parcels(request: Request, session: SessionDep, user: ApiUser, params: ListDep) -> JSONResponse:
    rows = list(session.scalars(keyset(select(LandParcel), params, LandParcel.updated_at, LandParcel.id)))
    return list_response(request, params, rows, rep.parcel)


@router.get("/parcels/{parcel_id}", tags=["parcels"], summary="A land parcel", response_model=None,
            responses={200: {"model": s.ParcelOut, "description": "The parcel"}})
def get_parcel(session: SessionDep, user: ApiUser, parcel_id: RecordId) -> JSONResponse:
    return _parcel_response(session, parcel_id)


def _parcel_response(session: Session, parcel_id: int, *, status: int = 200) -> JSONResponse:
    session.expire_all()
    found = _found(parcel_service.get(session, parcel_id))
    return record_response(rep.parcel(found), status=status,
                           location=f"/api/v1/parcels/{found.id}" if status == 201 else None)


@router.post("/parcels", tags=["parcels"], summary="Add a land parcel (managers)", status_code=201,
             response_model=None, responses={201: {"model": s.ParcelOut, "description": "Created"}})
def create_parcel(request: Request, session: SessionDep, user: ApiUser, body: s.ParcelIn) -> JSONResponse:
    if not parcel_service.can_edit(user):
        raise _forbidden()

    def again(session: Session, record_id: int) -> JSONResponse:
        return _parcel_response(session, record_id, status=201)

    if (earlier := common.replay_or_claim(request, session, body=body, kind="parcel", creates=LandParcel,
                                          render=again)) is not None:
        return earlier
    form = parsed(parcel_fields(), body_values(body, current={"status": "expropriating"}))
    try:
        found = parcel_service.create(session, data=form.data, actor=user)
    except parcel_service.InvalidParcel as bad:
        session.rollback()
        raise invalid(bad.errors) from None
    return again(session, found.id)


@router.patch("/parcels/{parcel_id}", tags=["parcels"], summary="Change a land parcel (managers)", response_model=None,
              responses={200: {"model": s.ParcelOut, "description": "Saved"}})
def update_parcel(request: Request, session: SessionDep, user: ApiUser, parcel_id: RecordId,
                  body: s.ParcelUpdate) -> JSONResponse:
    found = _found(parcel_service.get(session, parcel_id))
    if not parcel_service.can_edit(user):
        raise _forbidden()
    version = common.required_version(request, found.version)
    form = parsed(parcel_fields(), body_values(body, current=parcel_routes._values_of(found)))
    try:
        parcel_service.update(session, parcel=found, data=form.data, version=version, actor=user)
    except StaleEdit:
        raise _stale() from None
    except parcel_service.InvalidParcel as bad:
        session.rollback()
        raise invalid(bad.errors) from None
    return _parcel_response(session, parcel_id)


# Groundbreaking events (with readiness)

@router.get("/groundbreaking-events", tags=["groundbreaking"], summary="Groundbreaking events", response_model=None,
            responses={200: {"model": s.GroundbreakingPage, "description": "A page"}})
def list_groundbreaking_events(request: Request, session: SessionDep, user: ApiUser, params: ListDep) -> JSONResponse:
    rows = list(session.scalars(keyset(select(GroundbreakingEvent), params, GroundbreakingEvent.created_at,
                                       GroundbreakingEvent.id)))
    return list_response(request, params, rows, rep.groundbreaking_event,  # in the order they were added
                         position=lambda event: (event.created_at, event.id))


@router.get("/groundbreaking-events/{event_id}", tags=["groundbreaking"],
            summary="A groundbreaking event with each slated project's readiness", response_model=None,
            responses={200: {"model": s.GroundbreakingEventOut, "description": "The event"}})
def get_groundbreaking_event(request: Request, session: SessionDep, user: ApiUser, event_id: RecordId) -> JSONResponse:
    event = _found(groundbreaking_service.get(session, event_id))
    settings = _settings(request)
    board = groundbreaking_service.board(session, event=event, viewer=user, today=local_today(request),
                                         threshold=settings.major_project_threshold_wan_cny,
                                         stale_since=pipeline.stale_since(utcnow(), settings.project_stale_days))
    locale = request.state.locale
    return record_response(rep.groundbreaking_event(event, slate=[rep.readiness_row(row, locale=locale)
                                                                  for row in board.rows]))


def _event_response(session: Session, event_id: int, *, status: int = 200) -> JSONResponse:
    session.expire_all()
    found = _found(groundbreaking_service.get(session, event_id))
    return record_response(rep.groundbreaking_event(found), status=status,
                           location=f"/api/v1/groundbreaking-events/{found.id}" if status == 201 else None)


@router.post("/groundbreaking-events", tags=["groundbreaking"], summary="Add a groundbreaking event (managers)",
             status_code=201, response_model=None,
             responses={201: {"model": s.GroundbreakingEventOut, "description": "Created"}})
def create_groundbreaking_event(request: Request, session: SessionDep, user: ApiUser,
                                body: s.GroundbreakingEventIn) -> JSONResponse:
    if not groundbreaking_service.can_edit(user):
        raise _forbidden()

    def again(session: Session, record_id: int) -> JSONResponse:
        return _event_response(session, record_id, status=201)

    if (earlier := common.replay_or_claim(request, session, body=body, kind="groundbreaking_event",
                                          creates=GroundbreakingEvent, render=again)) is not None:
        return earlier
    form = parsed(event_fields(), body_values(body))
    found = groundbreaking_service.create(session, data=form.data, actor=user)
    return again(session, found.id)


@router.patch("/groundbreaking-events/{event_id}", tags=["groundbreaking"],
              summary="Change a groundbreaking event (managers)", response_model=None,
              responses={200: {"model": s.GroundbreakingEventOut, "description": "Saved"}})
def update_groundbreaking_event(request: Request, session: SessionDep, user: ApiUser, event_id: RecordId,
                                body: s.GroundbreakingEventUpdate) -> JSONResponse:
    found = _found(groundbreaking_service.get(session, event_id))
    if not groundbreaking_service.can_edit(user):
        raise _forbidden()
    version = common.required_version(request, found.version)
    current = {"name": found.name, "held_on": found.held_on.isoformat(), "place": found.place, "note": found.note}
    form = parsed(event_fields(), body_values(body, current=current))
    try:
        groundbreaking_service.update(session, event=found, data=form.data, version=version, actor=user)
    except StaleEdit:
        raise _stale() from None
    except PermissionDenied:
        raise _forbidden() from None
    return _event_response(session, event_id)


# The export pool: members and their monthly figures

@router.get("/export-members", tags=["exports"], summary="Export pool members", response_model=None,
            responses={200: {"model": s.ExportMemberPage, "description": "A page"}})
def list_export_members(
    request: Request, session: SessionDep, user: ApiUser, params: ListDep,
    tier: Annotated[str | None, Query(max_length=20)] = None,
    officer: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> JSONResponse:
    stmt = select(ExportEnterprise, Organization.name).join(Organization, Organization.id == ExportEnterprise.organization_id)
    if tier:
        stmt = stmt.where(ExportEnterprise.tier == tier)
    if officer:
        stmt = stmt.where(ExportEnterprise.officer_id == officer)
    rows = session.execute(keyset(stmt, params, ExportEnterprise.updated_at, ExportEnterprise.id)).all()
    return list_response(request, params, rows, lambda row: rep.export_member(row[0], organization_name=row[1]),
                         position=lambda row: (row[0].updated_at, row[0].id))


@router.get("/export-members/{organization_id}/figures", tags=["exports"],
            summary="A member's monthly export figures and target for a year", response_model=None,
            responses={200: {"model": s.ExportFiguresOut, "description": "The figures"}})
def export_figures(request: Request, session: SessionDep, user: ApiUser, organization_id: RecordId,
                   year: Year = None) -> JSONResponse:
    _found(export_service.get_member(session, organization_id))
    year = year or local_today(request).year
    figures = session.scalars(select(ExportFigure).where(ExportFigure.organization_id == organization_id,
                                                         ExportFigure.year == year).order_by(ExportFigure.month))
    target = export_service.target_for(session, organization_id, year)
    return JSONResponse({"organization_id": organization_id, "year": year, "target_wan_usd": rep.plain(target),
                         "months": [{"year": f.year, "month": f.month, "value_wan_usd": rep.plain(f.value_wan_usd),
                                     "etag": entries.figure_tag(f)} for f in figures]})


# Economic indicators and their values

@router.get("/indicators", tags=["indicators"], summary="Economic indicators", response_model=None,
            responses={200: {"model": s.IndicatorPage, "description": "A page"}})
def list_indicators(request: Request, session: SessionDep, user: ApiUser, params: ListDep) -> JSONResponse:
    rows = list(session.scalars(keyset(select(Indicator), params, Indicator.updated_at, Indicator.id)))
    return list_response(request, params, rows, rep.indicator)


@router.get("/indicators/{indicator_id}", tags=["indicators"], summary="An indicator", response_model=None,
            responses={200: {"model": s.IndicatorOut, "description": "The indicator"}})
def get_indicator(session: SessionDep, user: ApiUser, indicator_id: RecordId) -> JSONResponse:
    return record_response(rep.indicator(_found(indicator_service.get(session, indicator_id))))


@router.get("/indicators/{indicator_id}/values", tags=["indicators"], summary="An indicator's values and target for a year",
            response_model=None, responses={200: {"model": s.IndicatorValuesOut, "description": "The values"}})
def indicator_values(request: Request, session: SessionDep, user: ApiUser, indicator_id: RecordId,
                     year: Year = None) -> JSONResponse:
    indicator = _found(indicator_service.get(session, indicator_id))
    year = year or local_today(request).year
    values = session.execute(select(IndicatorValue.period, IndicatorValue.value, IndicatorValue.updated_at,
                                    IndicatorValue.version)
                             .where(IndicatorValue.indicator_id == indicator.id, IndicatorValue.year == year)
                             .order_by(IndicatorValue.period)).all()
    target = session.scalar(select(IndicatorTarget.target).where(IndicatorTarget.indicator_id == indicator.id,
                                                                 IndicatorTarget.year == year))
    return JSONResponse({"indicator_id": indicator.id, "year": year, "target": rep.plain(target),
                         "values": [{"year": year, "period": v.period, "value": rep.plain(v.value),
                                     "updated_at": rep.plain(v.updated_at), "version": v.version} for v in values]})
