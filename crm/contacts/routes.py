"""Contact pages: list with active search, detail with history, forms, archive."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm.audit import service as audit_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.contacts import service
from crm.contacts.deps import ContactDep
from crm.contacts.models import Contact
from crm.contacts.schemas import EXPORT_COLUMNS, SORT_LABELS, SORTS, contact_fields
from crm.db import SessionDep
from crm.errors import BadRequest
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg
from crm.listing import BadListQuery, parse_id, parse_page, parse_sort
from crm.organizations import service as organization_service
from crm.organizations.service import PermissionDenied
from crm.spreadsheets import xlsx_download
from crm.tasks import service as task_service
from crm.validators import as_id
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, redirect, render, replay_or_claim

router = Router(prefix="/contacts")


def _filter_from_query(request: Request) -> tuple[service.ContactFilter, int]:
    params = request.query_params
    try:
        flt = service.ContactFilter(
            q=params.get("q", "").strip()[:100],
            organization_id=parse_id(params, "organization"),
            archived=params.get("archived", "") == "1",
            sort=parse_sort(params, SORTS, "name"),
        )
        return flt, parse_page(params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    params = request.query_params
    flt, page_number = _filter_from_query(request)
    page = service.list_page(session, flt=flt, page=page_number, per_page=request.app.state.settings.page_size)
    context = {
        "page": page,
        "flt": flt,
        "params": {k: v for k, v in params.items() if k != "page"},
        "sort_labels": SORT_LABELS,
        "organization": organization_service.get(session, flt.organization_id) if flt.organization_id else None,
    }
    return render(request, "contacts/index.html", context, block="results")


@router.get("/export.xlsx")
def export_xlsx(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The list as an Excel file: its filters and order (the same query string), every matching row."""
    flt, _ = _filter_from_query(request)
    return xlsx_download(request, Msg("Contacts"), EXPORT_COLUMNS, service.export_rows(session, flt=flt))


@router.get("/organization-options")
def organization_options(request: Request, session: SessionDep, user: CurrentUser, q: str = "") -> Response:
    """The organization picker's choices, as the user types."""
    options = organization_service.choices(session, q=q[:100]) if q.strip() else []
    return render(request, "contacts/_organization_options.html", {"options": options, "selected": None, "q": q})


def _form_context(request, session, *, form: FormResult, contact: Contact | None, **extra: Any) -> dict[str, Any]:
    org_id = form.values.get("organization_id", "")
    org_id_number = as_id(org_id)
    organization = organization_service.get(session, org_id_number) if org_id_number else None
    q = form.values.get("organization_q", "")
    options = organization_service.choices(session, q=q) if q and organization is None else []
    stale = extra.pop("stale", None)
    return {"form": form, "contact": contact, "organization": organization, "options": options, "stale": stale,
            "refs": audit_service.reference_labels(session, stale or [], request.state.locale), **extra}


def _parse(raw) -> FormResult:
    form = parse(contact_fields(), raw)
    form.values["organization_q"] = str(raw.get("organization_q", ""))[:100]
    return form


@router.get("/new")
def new(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    org_id = request.query_params.get("organization", "")
    form = FormResult(values={"organization_id": org_id if as_id(org_id) else ""})
    return render(request, "contacts/form.html", _form_context(request, session, form=form, contact=None))


@router.post("")
def create(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    if (earlier := replay_or_claim(request, session, raw, creates=Contact, url=lambda contact: f"/contacts/{contact.id}")) is not None:
        return earlier
    form = _parse(raw)
    if form.ok:
        try:
            contact = service.create(session, data=form.data, actor=user)
            return redirect(request, f"/contacts/{contact.id}", flash=Msg("Contact “%(name)s” created.", name=contact.name))
        except service.InvalidOrganization as bad:
            session.rollback()
            form.add_error("organization_id", bad.message)
    return render(request, "contacts/form.html", _form_context(request, session, form=form, contact=None), block="form", status_code=422)


@router.get("/{contact_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, contact: ContactDep) -> Response:
    history = audit_service.entity_history(session, entity_type="contact", entity_id=contact.id)
    context = {
        "contact": contact,
        "tasks": task_service.open_for(session, contact_id=contact.id),
        "history": history,
        "refs": audit_service.reference_labels(session, history, request.state.locale),
        "can_archive": service.can_archive(user, contact),
    }
    return render(request, "contacts/show.html", context)


def _values_of(contact: Contact) -> dict[str, str]:
    values = {name: str(getattr(contact, name) or "") for name in service.EDITABLE_FIELDS}
    return values


@router.get("/{contact_id}/edit")
def edit(request: Request, session: SessionDep, user: CurrentUser, contact: ContactDep) -> Response:
    form = FormResult(values=_values_of(contact))
    return render(request, "contacts/form.html", _form_context(request, session, form=form, contact=contact, version=contact.version))


@router.post("/{contact_id}")
def update(request: Request, session: SessionDep, user: CurrentUser, contact: ContactDep, raw: FormDep) -> Response:
    form = _parse(raw)
    version = parse_version(raw)
    if form.ok:
        try:
            service.update(session, contact=contact, data=form.data, version=version, actor=user)
            return redirect(request, f"/contacts/{contact.id}", flash=Msg("Changes saved."))
        except StaleEdit as stale:
            current = service.get(session, contact.id)
            return render(request, "contacts/form.html",
                          _form_context(request, session, form=form, contact=current, version=current.version,
                                        stale=stale.changes, current_values=_values_of(current)),
                          block="form", status_code=409)
        except service.InvalidOrganization as bad:
            session.rollback()
            form.add_error("organization_id", bad.message)
    return render(request, "contacts/form.html", _form_context(request, session, form=form, contact=contact, version=version),
                  block="form", status_code=422)


@router.get("/{contact_id}/archive")
def confirm_archive(request: Request, session: SessionDep, user: CurrentUser, contact: ContactDep) -> Response:
    if not service.can_archive(user, contact):
        raise Forbidden()
    return render(request, "contacts/archive.html", {"contact": contact})


@router.post("/{contact_id}/archive")
def archive(request: Request, session: SessionDep, user: CurrentUser, contact: ContactDep) -> Response:
    try:
        service.archive(session, contact=contact, actor=user)
    except PermissionDenied:
        raise Forbidden() from None
    return redirect(request, f"/contacts/{contact.id}", flash=Msg("“%(name)s” archived.", name=contact.name))


@router.post("/{contact_id}/restore")
def restore(request: Request, session: SessionDep, user: CurrentUser, contact: ContactDep) -> Response:
    try:
        service.restore(session, contact=contact, actor=user)
    except PermissionDenied:
        raise Forbidden() from None
    except service.InvalidOrganization as bad:
        raise BadRequest(bad.message) from None
    return redirect(request, f"/contacts/{contact.id}", flash=Msg("“%(name)s” restored.", name=contact.name))
