"""Land parcel pages: the list, a parcel with its expropriation's signing progress against the window and the
projects on it, and the form (managers)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm.audit import service as audit_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.db import SessionDep
from crm.errors import BadRequest
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg
from crm.listing import BadListQuery, parse_page
from crm.parcels import service
from crm.parcels.deps import ParcelDep
from crm.parcels.models import LandParcel
from crm.parcels.schemas import STATUS_LABELS, parcel_fields
from crm.projects import service as project_service
from crm.projects.schemas import STAGE_LABELS
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, local_today, redirect, render, replay_or_claim

router = Router(prefix="/parcels")


def _require_edit(user) -> None:
    if not service.can_edit(user):
        raise Forbidden()


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    try:
        page_number = parse_page(request.query_params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    page = service.list_page(session, page=page_number, per_page=request.app.state.settings.page_size)
    today = local_today(request)
    return render(request, "parcels/index.html", {
        "page": page, "params": {}, "status_labels": STATUS_LABELS, "can_edit": service.can_edit(user),
        "progress": {p.id: service.signing_progress(p, today) for p in page.items}})


def _form_context(request: Request, session, *, form: FormResult, parcel: LandParcel | None, **extra: Any) -> dict[str, Any]:
    stale = extra.pop("stale", None)
    return {"form": form, "parcel": parcel, "stale": stale, "status_labels": STATUS_LABELS,
            "refs": audit_service.reference_labels(session, stale or [], request.state.locale), **extra}


@router.get("/new")
def new(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    _require_edit(user)
    form = FormResult(values={"status": "expropriating", "households_signed": "0"})
    return render(request, "parcels/form.html", _form_context(request, session, form=form, parcel=None))


@router.post("")
def create(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    _require_edit(user)
    if (earlier := replay_or_claim(request, session, raw, creates=LandParcel, url=lambda parcel: f"/parcels/{parcel.id}")) is not None:
        return earlier
    form = parse(parcel_fields(), raw)
    if form.ok:
        try:
            parcel = service.create(session, data=form.data, actor=user)
            return redirect(request, f"/parcels/{parcel.id}", flash=Msg("Parcel “%(name)s” saved.", name=parcel.name))
        except service.InvalidParcel as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return render(request, "parcels/form.html", _form_context(request, session, form=form, parcel=None),
                  block="form", status_code=422)


@router.get("/{parcel_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, parcel: ParcelDep) -> Response:
    history = audit_service.entity_history(session, entity_type="land_parcel", entity_id=parcel.id)
    return render(request, "parcels/show.html", {
        "parcel": parcel, "status_labels": STATUS_LABELS, "stage_labels": STAGE_LABELS,
        "progress": service.signing_progress(parcel, local_today(request)), "today": local_today(request),
        "projects": project_service.for_parcel(session, parcel_id=parcel.id, viewer=user),
        "can_edit": service.can_edit(user), "history": history,
        "refs": audit_service.reference_labels(session, history, request.state.locale)})


def _values_of(parcel: LandParcel) -> dict[str, str]:
    values = {k: ("" if v is None else str(v)) for k, v in audit_service.snapshot(parcel, service.FIELDS).items()}
    for name in ("compensation_cash", "compensation_swap"):
        values[name] = "1" if getattr(parcel, name) else ""
    return values


@router.get("/{parcel_id}/edit")
def edit(request: Request, session: SessionDep, user: CurrentUser, parcel: ParcelDep) -> Response:
    _require_edit(user)
    return render(request, "parcels/form.html", _form_context(request, session, form=FormResult(values=_values_of(parcel)),
                                                              parcel=parcel, version=parcel.version))


@router.post("/{parcel_id}")
def update(request: Request, session: SessionDep, user: CurrentUser, parcel: ParcelDep, raw: FormDep) -> Response:
    _require_edit(user)
    form = parse(parcel_fields(), raw)
    version = parse_version(raw)
    if form.ok:
        try:
            service.update(session, parcel=parcel, data=form.data, version=version, actor=user)
            return redirect(request, f"/parcels/{parcel.id}", flash=Msg("Changes saved."))
        except StaleEdit as stale:
            current = service.get(session, parcel.id)
            return render(request, "parcels/form.html", _form_context(
                request, session, form=form, parcel=current, version=current.version, stale=stale.changes),
                block="form", status_code=409)
        except service.InvalidParcel as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return render(request, "parcels/form.html", _form_context(request, session, form=form, parcel=parcel,
                                                              version=version), block="form", status_code=422)
