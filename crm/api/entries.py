"""The API's entries beside the records (issue 15): one month's export figure, one period's indicator value, a
project's collective decision and one item of its permit checklist. Each calls the page's own service with the
page's own form fields: the same rules, roles, messages and audit trail as the forms."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.api import common
from crm.api import representations as rep
from crm.api import schemas as s
from crm.api.auth import ApiUser
from crm.api.common import body_values, invalid, parsed
from crm.api.problems import ApiProblem, field_error, pointer_for
from crm.db import RecordId, SessionDep
from crm.exports import service as export_service
from crm.exports.models import ExportFigure
from crm.exports.schemas import MAX_YEAR, MIN_YEAR, single_figure_fields
from crm.i18n import Msg
from crm.indicators import service as indicator_service
from crm.indicators.models import IndicatorValue
from crm.indicators.schemas import Frequency, Period
from crm.organizations.service import PermissionDenied
from crm.projects import service as project_service
from crm.projects.models import ApprovalItem, Decision
from crm.projects.schemas import approval_fields, decision_fields, parse_amount
from crm.web import Router, local_today

router = Router()

NOT_FOUND = Msg("There is no such record.")
STALE = Msg("Someone else saved this record after you read it. Nothing was overwritten: read it again, then apply your change.")
FORBIDDEN = Msg("Your role does not allow this.")
Year = Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR, description="The year")]
Month = Annotated[int, Path(ge=1, le=12, description="The month, 1–12")]
PeriodNumber = Annotated[int, Path(ge=1, le=12, description="The month (1–12) or, for a quarterly indicator, the quarter (1–4)")]


def _found(record: Any) -> Any:
    if record is None:
        raise ApiProblem(404, NOT_FOUND)
    return record


def _tag(*parts: Any) -> str:
    """An ETag for a record without a version column: its value and the time it was saved, hashed."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _at(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _errors(errors: dict[str, Msg], pointers: dict[str, str]) -> ApiProblem:
    return ApiProblem(422, Msg("Some fields need attention."),
                      errors=[field_error(pointers.get(name, pointer_for(name)), message)
                              for name, message in errors.items()])


def _if_match_on_new(request: Request) -> None:
    """If-Match on an entry that does not exist yet matches nothing (RFC 9110), except `*`… which needs one too."""
    if request.headers.get("if-match", "").strip():
        raise ApiProblem(412, STALE)


# One month's export figure

def figure_tag(figure: ExportFigure) -> str:
    return _tag(figure.organization_id, figure.year, figure.month, rep.plain(figure.value_wan_usd), _at(figure.updated_at))


def _figure(session: Session, organization_id: int, year: int, month: int, *, lock: bool = False) -> ExportFigure | None:
    stmt = select(ExportFigure).where(ExportFigure.organization_id == organization_id, ExportFigure.year == year,
                                      ExportFigure.month == month)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def _figure_response(figure: ExportFigure, *, status: int) -> JSONResponse:
    tag = figure_tag(figure)
    data = {"organization_id": figure.organization_id, "year": figure.year, "month": figure.month,
            "value_wan_usd": rep.plain(figure.value_wan_usd), "updated_at": rep.plain(figure.updated_at), "etag": tag}
    return JSONResponse(data, status_code=status, headers={"ETag": f'"{tag}"'})


@router.put("/export-members/{organization_id}/figures/{year}/{month}", tags=["exports"],
            summary="Enter one month's export figure (the member's officer or a manager)", response_model=None,
            responses={200: {"model": s.ExportFigureOut, "description": "Changed (or already so)"},
                       201: {"model": s.ExportFigureOut, "description": "Entered"}})
def put_export_figure(request: Request, session: SessionDep, user: ApiUser, organization_id: RecordId, year: Year,
                      month: Month, body: s.ExportFigureIn) -> JSONResponse:
    """The one-month form's rule: a month that is over, a figure within the pool's limit. A month already on file
    is changed only with If-Match (its `etag` from the figures list, or this answer's ETag)."""
    member = _found(export_service.get_member(session, organization_id))
    if not export_service.can_edit(user, member):
        raise ApiProblem(403, FORBIDDEN)
    existing = _figure(session, organization_id, year, month, lock=True)
    if existing is not None:
        common.required_version(request, figure_tag(existing))
    else:
        _if_match_on_new(request)
    values = body_values(body, current={"organization_id": str(organization_id), "month": f"{year}-{month:02d}"})
    form = parsed(single_figure_fields(organization_ids=[str(organization_id)]), values)
    try:
        export_service.save_month(session, member=member, year=year, month=month,
                                  value=parse_amount(form.data["value_wan_usd"]), actor=user, today=local_today(request))
    except export_service.InvalidExportInput as bad:
        session.rollback()
        raise _errors(bad.errors, {"month": "#/path/month", "organization_id": "#/path/organization_id"}) from None
    except export_service.PermissionDenied:
        raise ApiProblem(403, FORBIDDEN) from None
    except IntegrityError:  # PostgreSQL: another request entered this month in between (SQLite's write lock waits)
        session.rollback()
        raise ApiProblem(412, STALE) from None
    session.expire_all()
    return _figure_response(_found(_figure(session, organization_id, year, month)),
                            status=200 if existing is not None else 201)


# One period's indicator value

def _period(indicator: Any, year: int, number: int) -> Period:
    if indicator.frequency == Frequency.QUARTERLY and number > 4:
        raise ApiProblem(404, NOT_FOUND)
    return Period(year=year, frequency=indicator.frequency, number=number)


def _value_response(session: Session, indicator_id: int, period: Period, *, status: int = 200) -> JSONResponse:
    session.expire_all()
    record = session.scalar(select(IndicatorValue).where(IndicatorValue.indicator_id == indicator_id,
                                                         IndicatorValue.year == period.year,
                                                         IndicatorValue.period == period.number))
    data = {"indicator_id": indicator_id, "year": period.year, "period": period.number, "key": period.key,
            "value": rep.plain(record.value) if record else None,
            "updated_at": rep.plain(record.updated_at) if record else None,
            "version": record.version if record else None}
    return JSONResponse(data, status_code=status, headers={"ETag": f'"{record.version}"'} if record else None)


@router.put("/indicators/{indicator_id}/values/{year}/{period}", tags=["indicators"],
            summary="Enter one period's value of an indicator (managers)", response_model=None,
            responses={200: {"model": s.IndicatorValueRecordOut, "description": "Changed, cleared (value null) or already so"},
                       201: {"model": s.IndicatorValueRecordOut, "description": "Entered"}})
def put_indicator_value(request: Request, session: SessionDep, user: ApiUser, indicator_id: RecordId, year: Year,
                        period: PeriodNumber, body: s.IndicatorValueIn) -> JSONResponse:
    """The period form's rules for one indicator: a period that is over, a figure in the indicator's unit and
    sign; null clears it. A value already on file is changed only with If-Match (its `version`)."""
    if not indicator_service.can_enter(user):
        raise ApiProblem(403, FORBIDDEN)
    indicator = _found(indicator_service.get(session, indicator_id))
    when = _period(indicator, year, period)
    row = next((r for r in indicator_service.period_sheet(session, period=when) if r.indicator.id == indicator.id), None)
    if row is None:  # inactive, or not of this frequency
        raise ApiProblem(404, NOT_FOUND)
    if row.record is not None:
        version = common.required_version(request, row.version)
    else:
        _if_match_on_new(request)
        version = 0
    name = f"value-{indicator.id}"
    text = common.form_value(body.value) if "value" in body.model_fields_set else None
    if text is None:
        raise invalid({"value": Msg("This field is required.")})
    try:
        indicator_service.save_period(session, period=when, raw={name: text}, versions={indicator.id: version},
                                      actor=user, today=local_today(request))
    except indicator_service.InvalidInput as bad:
        raise _errors(bad.errors, {name: "/value", "period": "#/path/period"}) from None
    except indicator_service.StaleSheet:
        raise ApiProblem(412, STALE) from None
    except indicator_service.PermissionDenied:
        raise ApiProblem(403, FORBIDDEN) from None
    return _value_response(session, indicator.id, when, status=201 if row.record is None and text else 200)


# A project's collective decisions (managers) and its permit checklist

@router.post("/projects/{project_id}/decisions", tags=["projects"],
             summary="Record a collective decision on a project (managers)", status_code=201, response_model=None,
             responses={201: {"model": s.DecisionOut, "description": "Recorded"}})
def create_decision(request: Request, session: SessionDep, user: ApiUser, project_id: RecordId,
                    body: s.DecisionIn) -> JSONResponse:
    """As on the project's page: the meeting, its date (not in the future), the outcome and the resolution. The
    minutes (a file) are attached on the page."""
    project = _found(project_service.get_visible(session, project_id, user))
    if not user.is_manager or project.is_archived:
        raise ApiProblem(403, FORBIDDEN)

    def again(session: Session, record_id: int) -> JSONResponse:
        session.expire_all()
        found = _found(session.get(Decision, record_id))
        return JSONResponse(rep.decision(found), status_code=201,
                            headers={"Location": f"/api/v1/projects/{found.project_id}"})

    if (earlier := common.replay_or_claim(request, session, body=body, kind="decision", creates=Decision,
                                          render=again)) is not None:
        return earlier
    today = local_today(request)
    form = parsed(decision_fields(today=today), body_values(body))
    try:
        found = project_service.record_decision(session, project=project, data=form.data, actor=user, today=today)
    except project_service.InvalidProject as bad:
        session.rollback()
        raise invalid(bad.errors) from None
    except PermissionDenied:
        raise ApiProblem(403, FORBIDDEN) from None
    return again(session, found.id)


def approval_tag(item: ApprovalItem) -> str:
    return _tag(item.id, item.status, _at(item.updated_at), item.submitted_on, item.accepted_on, item.approved_on,
                item.promised_days, item.assistant_id, item.assistant, item.note)


def _approval_response(session: Session, project_id: int, item_id: int, user) -> JSONResponse:
    session.expire_all()
    project = _found(project_service.get_visible(session, project_id, user))
    item = _found(project_service.find_approval(project, item_id))
    return JSONResponse(rep.approval_item(item), headers={"ETag": f'"{approval_tag(item)}"'})


@router.get("/projects/{project_id}/approval-items/{item_id}", tags=["projects"],
            summary="One item of a project's permit checklist", response_model=None,
            responses={200: {"model": s.ApprovalItemOut, "description": "The item"}})
def get_approval_item(session: SessionDep, user: ApiUser, project_id: RecordId, item_id: RecordId) -> JSONResponse:
    return _approval_response(session, project_id, item_id, user)


@router.patch("/projects/{project_id}/approval-items/{item_id}", tags=["projects"],
              summary="Change one item of a project's permit checklist", response_model=None,
              responses={200: {"model": s.ApprovalItemOut, "description": "Saved"}})
def update_approval_item(request: Request, session: SessionDep, user: ApiUser, project_id: RecordId,
                         item_id: RecordId, body: s.ApprovalItemUpdate) -> JSONResponse:
    """As the checklist's form: status, dates (accepted and approved default to today), the promised time limit,
    the 帮办代办 staffer. Whoever may change the project may change its checklist."""
    project = _found(project_service.get_visible(session, project_id, user))
    if not project_service.can_edit(user, project):
        raise ApiProblem(403, FORBIDDEN)
    item = _found(project_service.find_approval(project, item_id))
    session.scalar(select(ApprovalItem).where(ApprovalItem.id == item.id).with_for_update()
                   .execution_options(populate_existing=True))
    common.required_version(request, approval_tag(item))
    current = {"status": item.status, "promised_days": str(item.promised_days or ""),
               "assistant_id": str(item.assistant_id or ""), "assistant": "" if item.assistant_id else item.assistant,
               "note": item.note, **{name: getattr(item, name).isoformat() if getattr(item, name) else ""
                                     for name in ("submitted_on", "accepted_on", "approved_on")}}
    form = parsed(approval_fields(), body_values(body, current=current))
    try:
        project_service.update_approval(session, project=project, item=item, data=form.data, actor=user,
                                        today=local_today(request))
    except project_service.InvalidProject as bad:
        session.rollback()
        raise invalid(bad.errors) from None
    except PermissionDenied:
        raise ApiProblem(403, FORBIDDEN) from None
    return _approval_response(session, project_id, item_id, user)
