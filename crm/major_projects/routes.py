"""Major-project scheduling pages (重点项目调度): the month's 调度表, the monthly report form, the project page's
panel (marking and plan), the coordination list, and the meetings with their decisions recorded in place."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm.attachments.routes import panel_context
from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.db import RecordId, SessionDep
from crm.errors import BadRequest, found
from crm.exports.schemas import check_month
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg
from crm.listing import BadListQuery, parse_choice, parse_id
from crm.major_projects import service
from crm.major_projects.deps import ItemDep, MeetingDep, VisibleProjectDep
from crm.major_projects.models import ItemStatus, Level, MonthlyReport, SchedulingMeeting
from crm.major_projects.schemas import (
    COLOUR_LABELS,
    COLOURS,
    LEVEL_LABELS,
    LEVEL_SHORT,
    STATUS_LABELS,
    decision_fields,
    item_fields,
    item_update_fields,
    marking_fields,
    meeting_fields,
    plan_fields,
    report_fields,
)
from crm.projects import service as project_service
from crm.projects.schemas import parse_amount
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, is_htmx, local_today, redirect, render, replay_or_claim

router = Router(prefix="/scheduling")

LABELS = {"level_labels": LEVEL_LABELS, "level_short": LEVEL_SHORT, "status_labels": STATUS_LABELS,
          "colour_labels": COLOUR_LABELS}


def _month_param(request: Request, today: date) -> tuple[int, int]:
    raw = request.query_params.get("month", "")
    if not raw:
        return service.report_month(today)
    if check_month(raw) is not None:
        raise BadRequest(check_month(raw))
    year, month = (int(p) for p in raw.split("-"))
    return year, month


def _ids(session) -> list[str]:
    return [str(u.id) for u in auth_service.active_users(session)]


# --- the 调度表 -------------------------------------------------------------------------------------------------

def board_for_query(request: Request, session, user) -> tuple[service.Board, dict[str, Any]]:
    """The 调度表 for /scheduling's query string (month, level, colour, officer, leader, missing) and the query as
    parsed: the page and its downloads (download_routes.py) print the same rows."""
    today = local_today(request)
    year, month = _month_param(request, today)
    params = request.query_params
    try:
        query: dict[str, Any] = {"level": parse_choice(params, "level", [lv.value for lv in Level]),
                                 "colour": parse_choice(params, "colour", list(COLOURS)),
                                 "officer_id": parse_id(params, "officer"), "leader_id": parse_id(params, "leader")}
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    board = service.board(session, viewer=user, year=year, month=month, today=today,
                          missing_first=user.is_manager, locale=request.state.locale, **query)
    query["missing"] = params.get("missing") == "1"
    if query["missing"]:  # the dashboard's "reports missing" link
        board.rows = [r for r in board.rows if r.report_missing]
    return board, query


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    board, query = board_for_query(request, session, user)
    year, month = board.year, board.month
    return render(request, "major_projects/index.html", {
        "board": board, "q": query, "month_value": f"{year}-{month:02d}", "months": list(range(1, month + 1)),
        "officers": auth_service.active_users(session), "leaders": service.leader_choices(session),
        "is_manager": user.is_manager, **LABELS}, block="results")


# --- the project page's panel: marking and the annual plan -------------------------------------------------------

def _panel_context(request: Request, session, project, user, **extra: Any) -> dict[str, Any]:
    today = local_today(request)
    major = service.get_major(session, project.id)
    values = {"listed_year": str(today.year)}
    if major is not None:
        values = {"is_province": "1" if major.is_province else "", "is_city": "1" if major.is_city else "",
                  "is_district": "1" if major.is_district else "", "listed_year": str(major.listed_year),
                  "leader_id": str(major.leader_id or ""), "leader_name": major.leader_name}
    return {"project": project, "major": major, "plans": service.plans(session, project.id) if major else [],
            "row": service.judgement_for(session, project=project, viewer=user, today=today,
                                         locale=request.state.locale) if major else None,
            "mark_form": extra.pop("mark_form", None) or FormResult(values=values),
            "plan_form": extra.pop("plan_form", None) or FormResult(values={"year": str(today.year)}),
            "leaders": service.leader_choices(session), "can_manage": service.can_manage(user),
            "can_report": major is not None and service.can_report(user, project), **LABELS, **extra}


@router.get("/projects/{project_id}")
def project_panel(request: Request, session: SessionDep, user: CurrentUser, project: VisibleProjectDep) -> Response:
    return render(request, "major_projects/panel.html", _panel_context(request, session, project, user),
                  block="panel")


def _panel_answer(request: Request, session, project, user, flash: Msg | None, status: int = 200,
                  **extra: Any) -> Response:
    if is_htmx(request) or status != 200:
        return render(request, "major_projects/panel.html", _panel_context(request, session, project, user, **extra),
                      block="panel", status_code=status)
    return redirect(request, f"/projects/{project.id}", flash=flash)


@router.post("/projects/{project_id}/mark")
def mark(request: Request, session: SessionDep, user: CurrentUser, project: VisibleProjectDep,
         raw: FormDep) -> Response:
    if not service.can_manage(user):
        raise Forbidden()
    form = parse(marking_fields(leader_ids=[str(u.id) for u in service.leader_choices(session)]), raw)
    if form.ok:
        try:
            service.mark(session, project=project, data=form.data, version=parse_version(raw), actor=user)
            return _panel_answer(request, session, project, user, Msg("Changes saved."))
        except service.InvalidInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
        except StaleEdit:
            form.add_error("listed_year", Msg("Someone changed this since you opened it: check and save again."))
    return _panel_answer(request, session, project, user, None, status=422, mark_form=form)


@router.post("/projects/{project_id}/plan")
def plan(request: Request, session: SessionDep, user: CurrentUser, project: VisibleProjectDep,
         raw: FormDep) -> Response:
    if not service.can_manage(user):
        raise Forbidden()
    form = parse(plan_fields(), raw)
    if form.ok:
        try:
            service.set_plan(session, project=project, year=int(form.data["year"]),
                             planned=parse_amount(form.data["planned_wan_cny"]), actor=user)
            return _panel_answer(request, session, project, user, Msg("Changes saved."))
        except service.InvalidInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return _panel_answer(request, session, project, user, None, status=422, plan_form=form)


# --- monthly reports -------------------------------------------------------------------------------------------

def _report_context(request: Request, session, project, user, *, form: FormResult, report: MonthlyReport | None,
                    **extra: Any) -> dict[str, Any]:
    files = panel_context(request, session, user, entity_type="major_project_report", entity_id=report.id,
                          next_url=f"/scheduling/reports/{report.id}#attachments") if report else {}
    return {"project": project, "form": form, "report": report,
            "revisions": service.revisions(session, report.id) if report else [],
            "item_form": extra.pop("item_form", None) or FormResult(),
            "department_options": _department_options(request, session), "owners": auth_service.active_users(session),
            "can_report": service.can_report(user, project), **files, **LABELS, **extra}


def _department_options(request: Request, session) -> list[tuple[str, str]]:
    return [(str(d.id), d.name(request.state.locale)) for d in service.departments(session)]


@router.get("/projects/{project_id}/reports/new")
def new_report(request: Request, session: SessionDep, user: CurrentUser, project: VisibleProjectDep) -> Response:
    if not service.can_report(user, project):
        raise Forbidden()
    year, month = service.report_month(local_today(request))
    form = FormResult(values={"month": f"{year}-{month:02d}"})
    return render(request, "major_projects/report.html", _report_context(request, session, project, user, form=form,
                                                                         report=None))


@router.post("/projects/{project_id}/reports")
def create_report(request: Request, session: SessionDep, user: CurrentUser, project: VisibleProjectDep,
                  raw: FormDep) -> Response:
    if not service.can_report(user, project):
        raise Forbidden()
    if (earlier := replay_or_claim(request, session, raw, creates=MonthlyReport,
                                   url=lambda r: f"/scheduling/reports/{r.id}")) is not None:
        return earlier
    form = parse(report_fields(with_month=True), raw)
    if form.ok:
        year, month = (int(p) for p in form.data["month"].split("-"))
        try:
            report = service.file_report(session, project=project, year=year, month=month, data=form.data,
                                         actor=user, today=local_today(request))
            flash = Msg("Report saved; marked late.") if report.is_late else Msg("Report saved.")
            return redirect(request, f"/scheduling/reports/{report.id}", flash=flash)
        except service.InvalidInput as bad:
            session.rollback()
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return render(request, "major_projects/report.html", _report_context(
        request, session, project, user, form=form, report=None), block="form", status_code=422)


def _report_and_project(session, report_id: int, user):
    report = found(service.get_report(session, report_id))
    return report, found(project_service.get_visible(session, report.project_id, user))


def _report_values(report: MonthlyReport) -> dict[str, str]:
    return {"completed_wan_cny": str(report.completed_wan_cny), "progress": report.progress,
            "problems": report.problems}


@router.get("/reports/{report_id}")
def show_report(request: Request, session: SessionDep, user: CurrentUser, report_id: RecordId) -> Response:
    report, project = _report_and_project(session, report_id, user)
    return render(request, "major_projects/report.html", _report_context(
        request, session, project, user, form=FormResult(values=_report_values(report)), report=report))


@router.post("/reports/{report_id}")
def correct_report(request: Request, session: SessionDep, user: CurrentUser, report_id: RecordId,
                   raw: FormDep) -> Response:
    report, project = _report_and_project(session, report_id, user)
    if not service.can_report(user, project):
        raise Forbidden()
    form = parse(report_fields(with_month=False), raw)
    status = 422
    if form.ok:
        try:
            changed = service.correct_report(session, project=project, report=report, data=form.data,
                                             version=parse_version(raw), actor=user)
            return redirect(request, f"/scheduling/reports/{report.id}",
                            flash=Msg("Correction saved.") if changed else Msg("No change."))
        except service.InvalidInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
        except StaleEdit:
            report = found(service.get_report(session, report_id))
            form.add_error("completed_wan_cny",
                           Msg("Someone changed this since you opened it: check and save again."))
            status = 409
    return render(request, "major_projects/report.html", _report_context(
        request, session, project, user, form=form, report=report), block="form", status_code=status)


@router.post("/projects/{project_id}/items")
def raise_item(request: Request, session: SessionDep, user: CurrentUser, project: VisibleProjectDep,
               raw: FormDep) -> Response:
    if not service.can_report(user, project):
        raise Forbidden()
    if (earlier := replay_or_claim(request, session, raw, creates=service.CoordinationItem,
                                   url=lambda i: f"/scheduling/items/{i.id}")) is not None:
        return earlier
    departments = service.departments(session)
    form = parse(item_fields(department_ids=[str(d.id) for d in departments], owner_ids=_ids(session)), raw)
    report_id = raw.get("report_id", "")
    report = service.get_report(session, int(report_id)) if report_id.isdigit() and len(report_id) < 10 else None
    if report is not None and report.project_id != project.id:
        report = None
    if form.ok:
        try:
            item = service.raise_item(session, project=project, data=form.data, actor=user,
                                      today=local_today(request), report=report)
            return redirect(request, f"/scheduling/items/{item.id}", flash=Msg("Coordination item raised."))
        except service.InvalidInput as bad:
            session.rollback()
            for name, message in bad.errors.items():
                form.add_error(name, message)
    values = _report_values(report) if report else {}
    return render(request, "major_projects/report.html" if report else "major_projects/item_new.html",
                  _report_context(request, session, project, user, form=FormResult(values=values), report=report,
                                  item_form=form), block="item_form", status_code=422)


# --- coordination items ----------------------------------------------------------------------------------------

@router.get("/items")
def item_list(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    params = request.query_params
    try:
        status = parse_choice(params, "status", ["open", "all", *[s.value for s in ItemStatus]]) or "open"
        department_id = parse_id(params, "department")
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    today = local_today(request)
    found_items = service.items(session, viewer=user, today=today, status=status, department_id=department_id,
                                overdue_only=params.get("overdue") == "1")
    return render(request, "major_projects/items.html", {
        "items": found_items, "today": today, "q": {"status": status, "department_id": department_id,
                                                    "overdue": params.get("overdue") == "1"},
        "department_options": _department_options(request, session), **LABELS}, block="results")


def _item_context(request: Request, session, item, user, **extra: Any) -> dict[str, Any]:
    values = {"status": item.status, "deadline_on": item.deadline_on.isoformat(),
              "owner_id": str(item.owner_id or "")}
    return {"item": item, "today": local_today(request), "owners": auth_service.active_users(session),
            "form": extra.pop("form", None) or FormResult(values=values),
            "can_work": service.can_work(session, user, item), **LABELS, **extra}


@router.get("/items/{item_id}")
def show_item(request: Request, session: SessionDep, user: CurrentUser, item: ItemDep) -> Response:
    return render(request, "major_projects/item.html", _item_context(request, session, item, user))


@router.post("/items/{item_id}")
def update_item(request: Request, session: SessionDep, user: CurrentUser, item: ItemDep, raw: FormDep) -> Response:
    if not service.can_work(session, user, item):
        raise Forbidden()
    form = parse(item_update_fields(owner_ids=_ids(session)), raw)
    status = 422
    if form.ok:
        try:
            changed = service.update_item(session, item=item, data=form.data, version=parse_version(raw), actor=user,
                                          today=local_today(request))
            return redirect(request, f"/scheduling/items/{item.id}",
                            flash=Msg("Changes saved.") if changed else Msg("No change."))
        except service.InvalidInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
        except StaleEdit:
            form.add_error("status", Msg("Someone changed this since you opened it: check and save again."))
            status = 409
    item = found(service.get_item(session, item.id, user))
    return render(request, "major_projects/item.html", _item_context(request, session, item, user, form=form),
                  block="form", status_code=status)


# --- meetings --------------------------------------------------------------------------------------------------

def _meetings_context(session, user, form: FormResult) -> dict[str, Any]:
    return {"meetings": service.meetings(session), "form": form, "users": auth_service.active_users(session),
            "can_manage": service.can_manage(user)}


@router.get("/meetings")
def meeting_list(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    form = FormResult(values={"held_on": local_today(request).isoformat()})
    return render(request, "major_projects/meetings.html", _meetings_context(session, user, form))


@router.post("/meetings")
def create_meeting(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    if not service.can_manage(user):
        raise Forbidden()
    if (earlier := replay_or_claim(request, session, raw, creates=SchedulingMeeting,
                                   url=lambda m: f"/scheduling/meetings/{m.id}")) is not None:
        return earlier
    form = parse(meeting_fields(attendee_ids=_ids(session)), raw)
    chosen = raw.getlist("attendees") if hasattr(raw, "getlist") else []
    form.values["attendees"] = ",".join(chosen)
    attendee_ids = [int(v) for v in chosen if v.isdigit() and len(v) < 10]
    if len(attendee_ids) != len(chosen):
        form.add_error("attendees", Msg("Choose one of the listed options."))
    if form.ok:
        try:
            meeting = service.create_meeting(session, data=form.data, attendee_ids=attendee_ids, actor=user)
            return redirect(request, f"/scheduling/meetings/{meeting.id}", flash=Msg("Meeting saved."))
        except service.InvalidInput as bad:
            session.rollback()
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return render(request, "major_projects/meetings.html", _meetings_context(session, user, form), block="form",
                  status_code=422)


def _meeting_context(request: Request, session, meeting, user, **extra: Any) -> dict[str, Any]:
    today = local_today(request)
    return {"meeting": meeting, "today": today, "owners": auth_service.active_users(session),
            "agenda": service.agenda(session, meeting=meeting, viewer=user, today=today,
                                     locale=request.state.locale),
            "forms": extra.pop("forms", {}), "empty_form": FormResult(), "can_manage": service.can_manage(user),
            **LABELS, **extra}


@router.get("/meetings/{meeting_id}")
def show_meeting(request: Request, session: SessionDep, user: CurrentUser, meeting: MeetingDep) -> Response:
    return render(request, "major_projects/meeting.html", _meeting_context(request, session, meeting, user))


@router.post("/meetings/{meeting_id}/items/{item_id}")
def decide(request: Request, session: SessionDep, user: CurrentUser, meeting: MeetingDep, item: ItemDep,
           raw: FormDep) -> Response:
    """The meeting's decision on one item: htmx gets the item's row back, in place; without JavaScript, the page."""
    if not service.can_manage(user):
        raise Forbidden()
    form = parse(decision_fields(owner_ids=_ids(session)), raw)
    if form.ok:
        try:
            service.record_decision(session, meeting=meeting, item=item, data=form.data, actor=user,
                                    today=local_today(request))
            if not is_htmx(request):
                return redirect(request, f"/scheduling/meetings/{meeting.id}#item-{item.id}",
                                flash=Msg("Decision recorded."))
            item = found(service.get_item(session, item.id, user))
            decision = service.agenda(session, meeting=meeting, viewer=user, today=local_today(request)
                                      ).decisions.get(item.id)
            return render(request, "major_projects/_agenda_item.html", {
                "meeting": meeting, "item": item, "decision": decision, "form": FormResult(),
                "today": local_today(request), "owners": auth_service.active_users(session),
                "can_manage": True, **LABELS})
        except service.InvalidInput as bad:
            session.rollback()
            for name, message in bad.errors.items():
                form.add_error(name, message)
    if is_htmx(request):
        return render(request, "major_projects/_agenda_item.html", {
            "meeting": meeting, "item": item, "decision": None, "form": form, "today": local_today(request),
            "owners": auth_service.active_users(session), "can_manage": True, **LABELS}, status_code=422)
    return render(request, "major_projects/meeting.html", _meeting_context(
        request, session, meeting, user, forms={item.id: form}), status_code=422)
