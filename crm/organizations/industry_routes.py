"""The industry chains organizations are filed under: a list admins keep (add, rename, reorder, retire)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.auth.deps import RequireAdmin, require_admin
from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.forms import FormResult, parse
from crm.i18n import Msg
from crm.organizations import service
from crm.organizations.models import IndustryChain
from crm.organizations.schemas import industry_chain_fields
from crm.web import FormDep, Router, redirect, render

router = Router(prefix="/admin/industries", dependencies=[Depends(require_admin)])


def chain_by_id(chain_id: RecordId, session: SessionDep) -> IndustryChain:
    return found(service.get_industry_chain(session, chain_id))


ChainDep = Annotated[IndustryChain, Depends(chain_by_id)]


def _page(request: Request, session, *, form: FormResult, editing: IndustryChain | None = None, status_code: int = 200):
    context = {"chains": service.industry_chains(session, include_inactive=True), "form": form, "editing": editing}
    return render(request, "admin/industries.html", context, status_code=status_code)


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return _page(request, session, form=FormResult(values={"sort_order": "100", "is_active": "1"}))


@router.post("")
def create(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    form = parse(industry_chain_fields(), raw)
    if form.ok:
        try:
            chain = service.save_industry_chain(session, chain=None, data=form.data, active=True, actor=admin)
            return redirect(request, "/admin/industries", flash=Msg("Industry chain “%(name)s” added.", name=chain.name_zh))
        except service.DuplicateIndustryChain as dup:
            session.rollback()
            form.add_error(dup.field, Msg("Another industry chain already uses this."))
    return _page(request, session, form=form, status_code=422)


@router.get("/{chain_id}/edit")
def edit(request: Request, session: SessionDep, admin: RequireAdmin, chain: ChainDep) -> Response:
    values = {"name_zh": chain.name_zh, "name_en": chain.name_en, "sort_order": str(chain.sort_order),
              "is_active": "1" if chain.is_active else ""}
    return _page(request, session, form=FormResult(values=values), editing=chain)


@router.post("/{chain_id}")
def update(request: Request, session: SessionDep, admin: RequireAdmin, chain: ChainDep, raw: FormDep) -> Response:
    form = parse(industry_chain_fields(), raw)
    form.values["is_active"] = "1" if raw.get("is_active") else ""
    if form.ok:
        try:
            service.save_industry_chain(session, chain=chain, data=form.data, active=bool(raw.get("is_active")),
                                        actor=admin)
            return redirect(request, "/admin/industries", flash=Msg("Changes saved."))
        except service.DuplicateIndustryChain as dup:
            session.rollback()
            form.add_error(dup.field, Msg("Another industry chain already uses this."))
    return _page(request, session, form=form, editing=chain, status_code=422)
