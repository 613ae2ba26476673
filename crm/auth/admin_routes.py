"""User administration (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.auth import password_policy, service
from crm.auth.deps import RequireAdmin, require_admin
from crm.auth.models import User
from crm.auth.schemas import ROLE_LABELS, password_fields, user_fields
from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.forms import FormResult, parse, parse_version
from crm.i18n import LOCALE_NAMES, Msg
from crm.web import FormDep, Router, redirect, render, replay_or_claim

router = Router(prefix="/admin/users", dependencies=[Depends(require_admin)])


def user_by_id(user_id: RecordId, session: SessionDep) -> User:
    return found(service.get_user(session, user_id))


UserDep = Annotated[User, Depends(user_by_id)]


def _context(session, **extra):
    managers = [(str(m.id), m.display_name) for m in service.managers(session)]
    return {"role_labels": ROLE_LABELS, "locale_names": LOCALE_NAMES, "manager_options": managers,
            "password_rules": password_policy.summary(password_policy.rules(session)), **extra}


def _values(user: User) -> dict:
    return {"display_name": user.display_name, "title": user.title, "email": user.email, "role": user.role,
            "locale": user.locale, "department": user.department,
            "manager_id": str(user.manager_id) if user.manager_id else "", "is_active": "1" if user.is_active else ""}


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return render(request, "admin/users.html", _context(session, users=service.list_users(session)))


@router.get("/new")
def new(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    form = FormResult(values={"role": "officer", "locale": "zh_CN"})
    return render(request, "admin/user_form.html", _context(session, form=form, user=None))


@router.post("")
def create(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    if (earlier := replay_or_claim(request, session, raw, creates=User, url=lambda user: "/admin/users")) is not None:
        return earlier
    form = parse(user_fields(creating=True), raw)
    if form.ok:
        try:
            user = service.create_user(session, actor=admin, **form.data)
            return redirect(request, "/admin/users", flash=Msg("User “%(name)s” created.", name=user.username))
        except service.UserError as err:
            session.rollback()
            form.add_error(err.field, err.message)
    form.values["password"] = ""
    return render(request, "admin/user_form.html", _context(session, form=form, user=None), block="form", status_code=422)


@router.get("/{user_id}/edit")
def edit(request: Request, session: SessionDep, admin: RequireAdmin, user: UserDep) -> Response:
    values = _values(user)
    return render(request, "admin/user_form.html", _context(session, form=FormResult(values=values), user=user,
                                                             password_form=FormResult()))


@router.post("/{user_id}")
def update(request: Request, session: SessionDep, admin: RequireAdmin, user: UserDep, raw: FormDep) -> Response:
    form = parse(user_fields(creating=False), raw)
    form.values["is_active"] = "1" if raw.get("is_active") else ""
    if form.ok:
        try:
            service.update_user(session, user=user, actor=admin, version=parse_version(raw),
                                data={**form.data, "is_active": bool(raw.get("is_active"))})
            return redirect(request, "/admin/users", flash=Msg("Changes saved."))
        except service.UserError as err:
            session.rollback()
            form.add_error(err.field, err.message)
    return render(request, "admin/user_form.html", _context(session, form=form, user=user, password_form=FormResult()),
                  block="form", status_code=422)


@router.post("/{user_id}/password")
def reset_password(request: Request, session: SessionDep, admin: RequireAdmin, user: UserDep, raw: FormDep) -> Response:
    password_form = parse(password_fields(), raw)
    if password_form.ok:
        try:
            service.reset_password(session, user=user, actor=admin, password=password_form.data["password"])
            return redirect(request, "/admin/users", flash=Msg("Password of “%(name)s” reset; their sessions were signed out.", name=user.username))
        except service.UserError as err:
            session.rollback()
            password_form.add_error(err.field, err.message)
    password_form.values["password"] = ""
    values = _values(user)
    return render(request, "admin/user_form.html",
                  _context(session, form=FormResult(values=values), user=user, password_form=password_form), status_code=422)
