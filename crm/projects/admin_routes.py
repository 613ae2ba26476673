"""The permit checklist new projects start with (审批事项 template): admins add, rename, reorder, set the promised
time limits, and retire lines."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.auth.deps import RequireAdmin, require_admin
from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.forms import FormResult, parse
from crm.i18n import Msg
from crm.projects import service
from crm.projects.models import ApprovalTemplate
from crm.projects.schemas import template_fields
from crm.web import FormDep, Router, redirect, render

router = Router(prefix="/admin/approvals", dependencies=[Depends(require_admin)])


def item_by_id(item_id: RecordId, session: SessionDep) -> ApprovalTemplate:
    return found(service.get_template_item(session, item_id))


TemplateItemDep = Annotated[ApprovalTemplate, Depends(item_by_id)]


def _page(request: Request, session, *, form: FormResult, editing: ApprovalTemplate | None = None,
          status_code: int = 200) -> Response:
    context = {"items": service.template(session, include_inactive=True), "form": form, "editing": editing}
    return render(request, "admin/approvals.html", context, status_code=status_code)


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return _page(request, session, form=FormResult(values={"position": "100"}))


def _save(request: Request, session, raw, item: ApprovalTemplate | None, admin) -> Response:
    form = parse(template_fields(), raw)
    active = item is None or bool(raw.get("is_active"))
    form.values["is_active"] = "1" if active else ""
    if form.ok:
        try:
            saved = service.save_template_item(session, item=item, data=form.data, active=active, actor=admin)
            return redirect(request, "/admin/approvals", flash=Msg("“%(name)s” saved.", name=saved.name_zh))
        except service.DuplicateTemplateItem as dup:
            form.add_error(dup.field, Msg("Another approval item already uses this name."))
    return _page(request, session, form=form, editing=item, status_code=422)


@router.post("")
def create(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    return _save(request, session, raw, None, admin)


@router.get("/{item_id}/edit")
def edit(request: Request, session: SessionDep, admin: RequireAdmin, item: TemplateItemDep) -> Response:
    values = {"name_zh": item.name_zh, "name_en": item.name_en, "promised_days": str(item.promised_days or ""),
              "position": str(item.position), "is_active": "1" if item.is_active else ""}
    return _page(request, session, form=FormResult(values=values), editing=item)


@router.post("/{item_id}")
def update(request: Request, session: SessionDep, admin: RequireAdmin, item: TemplateItemDep, raw: FormDep) -> Response:
    return _save(request, session, raw, item, admin)
