"""Follow-up tasks: "My tasks" (and the team's, for managers), forms, and one-click changes from the list."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm.audit import service as audit_service
from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.auth.models import User
from crm.contacts import service as contact_service
from crm.db import SessionDep
from crm.errors import BadRequest
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg, bound_gettext
from crm.listing import BadListQuery, parse_choice, parse_id, parse_page
from crm.organizations import service as organization_service
from crm.organizations.service import PermissionDenied
from crm.projects import service as project_service
from crm.spreadsheets import xlsx_download
from crm.tasks import rows_html, service
from crm.tasks.deps import TaskDep
from crm.tasks.models import Task, TaskStatus
from crm.tasks.schemas import (
    EXPORT_COLUMNS,
    GROUP_LABELS,
    PRIORITY_LABELS,
    STATUS_LABELS,
    reassign_fields,
    reschedule_fields,
    task_fields,
)
from crm.validators import as_id
from crm.versioning import StaleEdit
from crm.visits import service as visit_service
from crm.web import FormDep, Router, is_htmx, local_today, redirect, render, replay_or_claim, safe_next

router = Router(prefix="/tasks")


def _labels() -> dict[str, Any]:
    return {"priority_labels": PRIORITY_LABELS, "status_labels": STATUS_LABELS, "group_labels": GROUP_LABELS}


def _team_filter(request: Request, user: User) -> tuple[int | None, str, bool]:
    """The team view's assignee (others' only for managers), status and overdue-only filters."""
    params = request.query_params
    try:
        assignee_id = parse_id(params, "assignee") if user.is_manager else user.id
        status = parse_choice(params, "status", [s.value for s in TaskStatus])
        overdue = parse_choice(params, "overdue", ["1"]) == "1"
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    return assignee_id, status, overdue


def _list_context(request: Request, session, user: User) -> dict[str, Any]:
    """My tasks by due date; or (`?team=1`) the paged list: everyone's for managers, filtered by assignee and
    status, and for others all of their own."""
    params = request.query_params
    team = params.get("team") == "1"
    query = str(request.query_params)
    context: dict[str, Any] = {"team": team, "today": local_today(request),
                               "users": auth_service.user_choices(session) if team and user.is_manager else [],
                               "params": {k: v for k, v in params.items() if k != "page"}, "quick_error": None,
                               "list_query": f"?{query}" if query else "", "list_url": "/tasks" + (f"?{query}" if query else ""),
                               **_labels()}
    context["task_items"] = rows_html.TaskItems(
        today=context["today"], is_manager=user.is_manager, me=user.id, csrf_token=request.state.csrf_token,
        list_url=context["list_url"], list_query=context["list_query"], _=bound_gettext(request.state.locale)[0])
    if team:
        assignee_id, status, overdue = _team_filter(request, user)
        try:
            page = parse_page(params)
        except BadListQuery as bad:
            raise BadRequest(bad.message) from None
        context["page"] = service.team_page(session, assignee_id=assignee_id, status=status, page=page,
                                            per_page=request.app.state.settings.page_size,
                                            overdue_on=context["today"] if overdue else None)
        context["flt"] = {"assignee": assignee_id, "status": status, "overdue": overdue}
    else:
        try:
            group = parse_choice(params, "group", list(service.GROUPS))
            page = parse_page(params) if group else 1
        except BadListQuery as bad:
            raise BadRequest(bad.message) from None
        context["group"] = group
        if group:  # one group whole, paged: where a group cut at GROUP_LIMIT continues
            context["page"] = service.group_page(session, assignee_id=user.id, today=context["today"], group=group,
                                                 page=page, per_page=request.app.state.settings.page_size)
        else:
            context["groups"] = service.my_tasks(session, assignee_id=user.id, today=context["today"])
    return context


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "tasks/index.html", _list_context(request, session, user), block="tasks")


@router.get("/export.xlsx")
def export_xlsx(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """My tasks (all open ones), or with ?team=1 the team view's filters: every matching task, by due date."""
    if request.query_params.get("team") == "1":
        assignee_id, status, overdue = _team_filter(request, user)
        rows = service.export_rows(session, assignee_id=assignee_id, status=status,
                                   overdue_on=local_today(request) if overdue else None)
        name = Msg("Team tasks") if user.is_manager else Msg("All my tasks")
    else:
        rows = service.export_rows(session, assignee_id=user.id, open_only=True)
        name = Msg("My tasks")
    return xlsx_download(request, name, EXPORT_COLUMNS, rows)


def _assignee_ids(session) -> list[str]:
    return [str(u.id) for u in auth_service.active_users(session)]


def _form_context(request: Request, session, *, form: FormResult, task: Task | None, **extra: Any) -> dict[str, Any]:
    org_id, contact_id = as_id(form.values.get("organization_id", "")), as_id(form.values.get("contact_id", ""))
    visit_id = as_id(form.values.get("visit_id", ""))
    project_id = as_id(form.values.get("project_id", ""))
    stale = extra.pop("stale", None)
    return {
        "form": form, "task": task, "users": auth_service.active_users(session), "stale": stale,
        "organization": organization_service.get(session, org_id) if org_id else None,
        "contact": contact_service.get(session, contact_id) if contact_id else None,
        "visit": visit_service.get(session, visit_id) if visit_id else None,
        "project": project_service.get_visible(session, project_id, request.state.user) if project_id else None,
        "refs": audit_service.reference_labels(session, stale or [], request.state.locale),
        **_labels(), **extra,
    }


@router.get("/new")
def new(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    params = request.query_params
    values = {"assignee_id": str(user.id), "priority": "normal", "due_on": local_today(request).isoformat(),
              "organization_id": params.get("organization", "") if as_id(params.get("organization", "")) else "",
              "contact_id": params.get("contact", "") if as_id(params.get("contact", "")) else "",
              "visit_id": params.get("visit", "") if as_id(params.get("visit", "")) else "",
              "project_id": params.get("project", "") if as_id(params.get("project", "")) else ""}
    return render(request, "tasks/form.html", _form_context(request, session, form=FormResult(values=values), task=None))


@router.post("")
def create(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    if (earlier := replay_or_claim(request, session, raw, creates=Task, url=_back_to)) is not None:
        return earlier
    form = parse(task_fields(assignee_ids=_assignee_ids(session)), raw)
    if form.ok:
        try:
            task = service.create(session, data=form.data, actor=user, timezone=request.app.state.settings.timezone)
            return redirect(request, _back_to(task), flash=Msg("Follow-up “%(title)s” added.", title=task.title))
        except service.InvalidLink as bad:
            session.rollback()
            form.add_error(bad.field, bad.message)
    return render(request, "tasks/form.html", _form_context(request, session, form=form, task=None),
                  block="form", status_code=422)


def _back_to(task: Task) -> str:
    if task.project_id:
        return f"/projects/{task.project_id}"
    if task.visit_id:
        return f"/visits/{task.visit_id}"
    if task.contact_id:
        return f"/contacts/{task.contact_id}"
    if task.organization_id:
        return f"/organizations/{task.organization_id}"
    return f"/tasks/{task.id}"


@router.get("/{task_id}/assignee-options")
def assignee_options(request: Request, session: SessionDep, user: CurrentUser, task: TaskDep) -> Response:
    """The people a task can be reassigned to, as <option>s for its reassign form (loaded when it is opened)."""
    return render(request, "tasks/_assignee_options.html", {"task": task, "users": auth_service.active_users(session)})


@router.get("/{task_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, task: TaskDep) -> Response:
    history = audit_service.entity_history(session, entity_type="task", entity_id=task.id)
    return render(request, "tasks/show.html", {
        "task": task, "history": history, "can_change": service.can_change(user, task), "today": local_today(request),
        "refs": audit_service.reference_labels(session, history, request.state.locale), **_labels()})


def _values_of(task: Task) -> dict[str, str]:
    return {"title": task.title, "description": task.description, "assignee_id": str(task.assignee_id),
            "due_on": task.due_on.isoformat(), "due_time": task.due_time.strftime("%H:%M") if task.due_time else "",
            "priority": task.priority, "organization_id": str(task.organization_id or ""),
            "contact_id": str(task.contact_id or ""), "visit_id": str(task.visit_id or ""),
            "project_id": str(task.project_id or "")}


@router.get("/{task_id}/edit")
def edit(request: Request, session: SessionDep, user: CurrentUser, task: TaskDep) -> Response:
    if not service.can_change(user, task):
        raise Forbidden()
    return render(request, "tasks/form.html",
                  _form_context(request, session, form=FormResult(values=_values_of(task)), task=task, version=task.version))


@router.post("/{task_id}")
def update(request: Request, session: SessionDep, user: CurrentUser, task: TaskDep, raw: FormDep) -> Response:
    if not service.can_change(user, task):
        raise Forbidden()
    form = parse(task_fields(assignee_ids=_assignee_ids(session)), raw)
    version = parse_version(raw)
    if form.ok:
        try:
            service.update(session, task=task, data=form.data, version=version, actor=user,
                           timezone=request.app.state.settings.timezone)
            return redirect(request, f"/tasks/{task.id}", flash=Msg("Changes saved."))
        except PermissionDenied:
            raise Forbidden() from None
        except StaleEdit as stale:
            current = service.get(session, task.id)
            return render(request, "tasks/form.html",
                          _form_context(request, session, form=form, task=current, version=current.version,
                                        stale=stale.changes), block="form", status_code=409)
        except service.InvalidLink as bad:
            session.rollback()
            form.add_error(bad.field, bad.message)
    return render(request, "tasks/form.html", _form_context(request, session, form=form, task=task, version=version),
                  block="form", status_code=422)


def _after_quick_change(request: Request, session, user: User, task: Task, raw, message: Msg) -> Response:
    """htmx: the task list again, so the task moves to its new group in place; otherwise back to `next`."""
    if is_htmx(request):
        return render(request, "tasks/index.html", _list_context(request, session, user), block="tasks",
                      headers={"HX-Trigger": "tasks-changed"})
    next_url = str(raw.get("next", ""))
    return redirect(request, safe_next(next_url) if next_url else f"/tasks/{task.id}", flash=message)


def _quick(action):
    def handler(request: Request, session: SessionDep, user: CurrentUser, task: TaskDep, raw: FormDep) -> Response:
        if not service.can_change(user, task):
            raise Forbidden()
        try:
            message = action(session, task, user, raw, request.app.state.settings.timezone)
        except _QuickInputError as bad:
            if is_htmx(request):  # the list stays in place, with the reason above it
                context = {**_list_context(request, session, user), "quick_error": bad.message}
                return render(request, "tasks/index.html", context, block="tasks", status_code=422)
            raise BadRequest(bad.message) from None
        return _after_quick_change(request, session, user, task, raw, message)

    return handler


class _QuickInputError(Exception):
    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


def _complete(session, task, user, raw, timezone) -> Msg:
    service.set_status(session, task=task, status=TaskStatus.DONE, actor=user)
    return Msg("“%(title)s” done.", title=task.title)


def _reopen(session, task, user, raw, timezone) -> Msg:
    service.set_status(session, task=task, status=TaskStatus.OPEN, actor=user)
    return Msg("“%(title)s” reopened.", title=task.title)


def _cancel(session, task, user, raw, timezone) -> Msg:
    service.set_status(session, task=task, status=TaskStatus.CANCELLED, actor=user)
    return Msg("“%(title)s” cancelled.", title=task.title)


def _reassign(session, task, user, raw, timezone) -> Msg:
    form = parse(reassign_fields(assignee_ids=_assignee_ids(session)), raw)
    if not form.ok:
        raise _QuickInputError(form.errors["assignee_id"])
    service.reassign(session, task=task, assignee_id=form.data["assignee_id"], actor=user)
    return Msg("“%(title)s” reassigned.", title=task.title)


def _reschedule(session, task, user, raw, timezone) -> Msg:
    form = parse(reschedule_fields(), raw)
    if not form.ok:
        raise _QuickInputError(form.errors["due_on"])
    service.reschedule(session, task=task, due_on=form.data["due_on"], actor=user, timezone=timezone)
    return Msg("“%(title)s” rescheduled.", title=task.title)


for _name, _action in (("complete", _complete), ("reopen", _reopen), ("cancel", _cancel),
                       ("reassign", _reassign), ("reschedule", _reschedule)):
    router.add_api_route(f"/{{task_id}}/{_name}", _quick(_action), methods=["POST"], name=f"task_{_name}")
