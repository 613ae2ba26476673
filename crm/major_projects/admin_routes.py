"""Major-project scheduling, the system administrator's page: the reporting close day and the amber margin (the
one settings row, versioned), and the responsible-department list (add, edit, retire), as the industry chains'."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.auth.deps import RequireAdmin, require_admin
from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg
from crm.major_projects import admin_service
from crm.major_projects import service as major_service
from crm.major_projects.admin_schemas import department_fields, setting_fields
from crm.major_projects.models import ResponsibleDepartment
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, redirect, render

router = Router(prefix="/admin/scheduling", dependencies=[Depends(require_admin)])
PAGE = "/admin/scheduling"
STALE = Msg("Someone changed this since you opened it: check and save again.")


def department_by_id(department_id: RecordId, session: SessionDep) -> ResponsibleDepartment:
    return found(admin_service.get_department(session, department_id))


DepartmentDep = Annotated[ResponsibleDepartment, Depends(department_by_id)]


def _setting_values(row) -> dict[str, str]:
    return {"close_day": str(row.close_day), "margin_points": f"{row.margin_points.normalize():f}"}


def _page(request: Request, session, *, setting_form: FormResult | None = None,
          department_form: FormResult | None = None, editing: ResponsibleDepartment | None = None,
          status_code: int = 200, block: str | None = None) -> Response:
    row = admin_service.settings(session)
    context = {"setting": row, "setting_form": setting_form or FormResult(values=_setting_values(row)),
               "departments": major_service.departments(session, include_inactive=True),
               "in_use": admin_service.in_use(session), "editing": editing,
               "department_form": department_form or FormResult(values={"position": "100"})}
    return render(request, "major_projects/admin.html", context, status_code=status_code, block=block)


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return _page(request, session)


@router.post("")
def save_settings(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    form = parse(setting_fields(), raw)
    status = 422
    if form.ok:
        try:
            changed = admin_service.update_settings(session, data=form.data, version=parse_version(raw), actor=admin)
            return redirect(request, PAGE, flash=Msg("Changes saved.") if changed else Msg("No change."))
        except StaleEdit:
            form.add_error("close_day", STALE)
            status = 409
    return _page(request, session, setting_form=form, status_code=status, block="settings")


@router.post("/departments")
def create_department(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    form = parse(department_fields(), raw)
    if form.ok:
        try:
            department = admin_service.save_department(session, department=None, data=form.data, active=True,
                                                       actor=admin)
            return redirect(request, PAGE, flash=Msg("Responsible department “%(name)s” added.",
                                                     name=department.name_zh))
        except admin_service.DuplicateDepartment as dup:
            session.rollback()
            form.add_error(dup.field, Msg("Another responsible department already uses this."))
    return _page(request, session, department_form=form, status_code=422, block="departments")


@router.get("/departments/{department_id}/edit")
def edit_department(request: Request, session: SessionDep, admin: RequireAdmin, department: DepartmentDep) -> Response:
    values = {"name_zh": department.name_zh, "name_en": department.name_en, "position": str(department.position),
              "is_active": "1" if department.is_active else ""}
    return _page(request, session, department_form=FormResult(values=values), editing=department)


@router.post("/departments/{department_id}")
def update_department(request: Request, session: SessionDep, admin: RequireAdmin, department: DepartmentDep,
                      raw: FormDep) -> Response:
    form = parse(department_fields(), raw)
    form.values["is_active"] = "1" if raw.get("is_active") else ""
    if form.ok:
        try:
            admin_service.save_department(session, department=department, data=form.data,
                                          active=bool(raw.get("is_active")), actor=admin)
            return redirect(request, PAGE, flash=Msg("Changes saved."))
        except admin_service.DuplicateDepartment as dup:
            session.rollback()
            form.add_error(dup.field, Msg("Another responsible department already uses this."))
    return _page(request, session, department_form=form, editing=department, status_code=422, block="departments")
