"""Visit pages: the list, the visit form (with tour, delegation and follow-ups), the visit page with its tour
changed in place, and the phone-first quick log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from crm.attachments import service as attachment_service
from crm.attachments.routes import panel_context
from crm.audit import service as audit_service
from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.briefings import service as briefing_service
from crm.db import RecordId, SessionDep
from crm.errors import BadRequest, NotFound
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg, bound_gettext, gettext
from crm.listing import BadListQuery, parse_page, user_options
from crm.organizations import service as organization_service
from crm.organizations.service import PermissionDenied
from crm.projects import service as project_service
from crm.projects.schemas import STAGE_LABELS
from crm.spreadsheets import xlsx_download
from crm.tasks import service as task_service
from crm.tasks.schemas import STATUS_LABELS as TASK_STATUS_LABELS
from crm.validators import as_id
from crm.versioning import StaleEdit
from crm.visits import filters, form_rows, rows_html, service
from crm.visits.deps import VisitDep
from crm.visits.models import Visit, VisitKind, VisitStatus
from crm.visits.schemas import (
    EXPORT_COLUMNS,
    INTEREST_LABELS,
    KIND_LABELS,
    ROW_KINDS,
    STATUS_LABELS,
    followup_fields,
    multi_ids,
    new_member_fields,
    parse_rows,
    quick_log_fields,
    stop_fields,
    to_local_input,
    visit_fields,
)
from crm.web import (
    FormDep,
    Router,
    accepts_upload,
    is_htmx,
    local_now,
    redirect,
    render,
    replay_or_claim,
    upload_limit_bytes,
)

router = Router(prefix="/visits")


def _tz(request: Request) -> str:
    return request.app.state.settings.timezone


def _labels() -> dict[str, Any]:
    return {"kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS, "interest_labels": INTEREST_LABELS,
            "task_status_labels": TASK_STATUS_LABELS}


# The list

@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    flt = filters.from_query(request.query_params, _tz(request))
    try:
        page_number = parse_page(request.query_params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    page = service.list_lines(session, flt=flt, page=page_number, per_page=request.app.state.settings.page_size,
                              timezone=_tz(request))
    params = {k: v for k, v in request.query_params.items() if k != "page"}
    context = {"page": page, "flt": flt, "params": params, **_labels(),
               "rows": rows_html.list_rows(page.items, q=flt.q, _=bound_gettext(request.state.locale)[0]),
               "organization": organization_service.get(session, flt.organization_id) if flt.organization_id else None}
    if not is_htmx(request):
        context["officer_options"] = user_options(session, flt.officer_id)
    return render(request, "visits/index.html", context, block="results")


@router.get("/export.xlsx")
def export_xlsx(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The list as an Excel file: its filters (the same query string, dates included), every matching visit."""
    flt = filters.from_query(request.query_params, _tz(request))
    return xlsx_download(request, Msg("Visits"), EXPORT_COLUMNS, service.export_rows(session, flt=flt))


# The visit form

def _user_ids(session) -> list[str]:
    return [str(u.id) for u in auth_service.active_users(session)]


def _parse_visit(session, raw, *, keep_blank_rows: bool, with_stops: bool) -> tuple[FormResult, service.VisitInput]:
    user_ids = _user_ids(session)
    form = parse(visit_fields(user_ids=user_ids), raw)
    stops = parse_rows(raw, "stop", stop_fields(), form, keep_blank=keep_blank_rows) if with_stops else None
    followups = parse_rows(raw, "followup", followup_fields(user_ids=user_ids), form, keep_blank=keep_blank_rows)
    members = parse_rows(raw, "newmember", new_member_fields(), form, keep_blank=keep_blank_rows)
    visit_input = service.VisitInput(
        data=form.data,
        organization_ids=multi_ids(raw, "organization_ids"),
        member_ids=multi_ids(raw, "member_ids", limit=200),
        host_ids=multi_ids(raw, "host_ids"),
        industry_ids=multi_ids(raw, "industry_ids"),
        new_members=list(zip(members.indexes, members.data, strict=True)),
        stops=list(zip(stops.indexes, stops.data, strict=True)) if stops else [],
        followups=list(zip(followups.indexes, followups.data, strict=True)),
    )
    return form, visit_input


def _row_defaults(request: Request, user, kind: str, visit_input: service.VisitInput) -> dict[str, str]:
    if kind == "followup":
        return {"title": "", "assignee_id": str(user.id), "due_on": (local_now(request).date() + timedelta(days=7)).isoformat()}
    if kind == "newmember":
        first = visit_input.organization_ids[0] if visit_input.organization_ids else ""
        return {"name": "", "title": "", "organization_id": str(first)}
    return {"organization_id": "", "starts_at": "", "host": "", "shown": "", "note": ""}


def _apply_form_action(request: Request, user, action: str, form: FormResult, visit_input: service.VisitInput) -> None:
    form_rows.apply_action(form, action, lambda kind: _row_defaults(request, user, kind, visit_input))


def _posted_file(request: Request, raw, form: FormResult, visit_input: service.VisitInput) -> None:
    """The file chosen in the form, if any: checked now, so a wrong one is refused next to its field before
    anything is saved (the browser cannot keep a chosen file, so the message asks for it again)."""
    upload = raw.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return
    data = upload.file.read(upload_limit_bytes(request) + 1)
    problem = attachment_service.check_upload(upload.filename, data, upload_limit_bytes(request))
    if problem:
        form.add_error("file", problem)
    else:
        visit_input.files.append((upload.filename, data))


def _file_store(request: Request) -> service.FileStore:
    return service.FileStore(data_dir=request.app.state.settings.data_dir, max_bytes=upload_limit_bytes(request))


def _form_context(request: Request, session, *, form: FormResult, visit_input: service.VisitInput,
                  visit: Visit | None, **extra: Any) -> dict[str, Any]:
    stale = extra.pop("stale", None)
    organizations = service.organizations_by_id(session, visit_input.organization_ids)
    stop_org_ids = [as_id(v) for k, v in form.values.items() if k.startswith("stop-") and k.endswith("-organization_id")]
    return {
        "form": form, "visit": visit, "stale": stale, **_labels(),
        "organizations": organizations,
        "member_choices": service.member_choices(session, [o.id for o in organizations]),
        "selected_members": set(visit_input.member_ids),
        "selected_hosts": set(visit_input.host_ids),
        "selected_industries": set(visit_input.industry_ids),
        "users": auth_service.active_users(session),
        "industries": organization_service.industry_chains(session),
        "zone_enterprises": service.zone_enterprises(session, keep_ids=[i for i in stop_org_ids if i]),
        "rows": {kind: form_rows.row_order(form, kind) for kind in ROW_KINDS},
        "refs": audit_service.reference_labels(session, stale or [], request.state.locale),
        "upload_limit_mb": request.app.state.settings.max_upload_mb, "upload_accept": attachment_service.ACCEPT,
        "upload_types": attachment_service.ALLOWED_TEXT,
        **extra,
    }


def _render_form(request: Request, session, *, status_code: int = 200, **context: Any) -> Response:
    return render(request, "visits/form.html", _form_context(request, session, **context), block="form",
                  status_code=status_code)


@router.get("/new")
def new(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    params = request.query_params
    start = local_now(request).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    values = {"kind": params.get("kind", "inbound") if params.get("kind") in {k.value for k in VisitKind} else "inbound",
              "status": "planned", "officer_id": str(user.id),
              "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
              "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")}
    form = FormResult(values=values)
    org_id = as_id(params.get("organization", ""))
    visit_input = service.VisitInput(data={}, organization_ids=[org_id] if org_id else [], host_ids=[user.id])
    form_rows.add_blank_row(form, "stop", _row_defaults(request, user, "stop", visit_input))
    form_rows.add_blank_row(form, "followup", _row_defaults(request, user, "followup", visit_input))
    return render(request, "visits/form.html",
                  _form_context(request, session, form=form, visit_input=visit_input, visit=None))


@router.post("")
@accepts_upload
def create(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    action = str(raw.get("form_action", ""))[:40]
    if (earlier := replay_or_claim(request, session, raw, creates=Visit, url=lambda visit: f"/visits/{visit.id}")) is not None:
        return earlier
    form, visit_input = _parse_visit(session, raw, keep_blank_rows=bool(action), with_stops=True)
    if not action:
        _posted_file(request, raw, form, visit_input)
    if action:
        _apply_form_action(request, user, action, form, visit_input)
        form.errors.clear()
        return _render_form(request, session, form=form, visit_input=visit_input, visit=None)
    if form.ok:
        try:
            visit = service.create(session, visit_input=visit_input, actor=user, timezone=_tz(request),
                                   files=_file_store(request))
            return redirect(request, f"/visits/{visit.id}", flash=Msg("Visit “%(title)s” saved.", title=visit.title))
        except service.InvalidVisit as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return _render_form(request, session, form=form, visit_input=visit_input, visit=None, status_code=422)


@router.get("/organization-options")
def organization_options(request: Request, session: SessionDep, user: CurrentUser, q: str = "",
                         action: str = "/visits", name: str = "organization_ids") -> Response:
    """Organizations matching what is typed, as choices to add to a visit's organizations."""
    q = q.strip()[:100]
    options = organization_service.choices(session, q=q, limit=12) if q else []
    action = action if action.startswith("/visits") and "//" not in action else "/visits"
    return render(request, "visits/_organization_options.html",
                  {"options": options, "q": q, "action": action[:100],
                   "input_name": name if name in ("organization_ids", "organization_id") else "organization_ids"})


# The phone-first quick log

def _quick_context(request: Request, session, form: FormResult) -> dict[str, Any]:
    org_id = as_id(form.values.get("organization_id", ""))
    return {"form": form, "organization": organization_service.get(session, org_id) if org_id else None,
            "users": auth_service.active_users(session), **_labels()}


@router.get("/quick")
def quick_form(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    now = local_now(request)
    form = FormResult(values={"kind": "meeting", "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
                              "followup_due_on": (now.date() + timedelta(days=3)).isoformat()})
    return render(request, "visits/quick.html", _quick_context(request, session, form))


@router.post("/quick")
def quick_log(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    if (earlier := replay_or_claim(request, session, raw, creates=Visit, url=lambda visit: f"/visits/{visit.id}")) is not None:
        return earlier
    form = parse(quick_log_fields(), raw)
    if form.data.get("followup_title") and not form.data.get("followup_due_on"):
        form.add_error("followup_due_on", Msg("Say by when the next step is due."))
    if form.ok:
        data = form.data
        org = organization_service.get(session, data["organization_id"])
        title = f"{org.name} · {gettext(request.state.locale, KIND_LABELS[data['kind']])}" if org else ""
        visit_input = service.VisitInput(
            data={"title": title[:200], "kind": data["kind"], "status": VisitStatus.DONE,
                  "starts_at": data["starts_at"], "ends_at": data["starts_at"], "summary": data["summary"],
                  "officer_id": user.id, "estimated_investment": ""},
            organization_ids=[data["organization_id"]], host_ids=[user.id],
            followups=[(0, {"title": data["followup_title"], "assignee_id": user.id,
                            "due_on": data["followup_due_on"]})] if data["followup_title"] else [],
        )
        try:
            visit = service.create(session, visit_input=visit_input, actor=user, timezone=_tz(request))
            return redirect(request, f"/visits/{visit.id}", flash=Msg("Visit “%(title)s” saved.", title=visit.title))
        except service.InvalidVisit as bad:
            for name, message in bad.errors.items():
                if name == "status":  # the quick log records what happened: a time still to come is refused
                    form.add_error("starts_at", Msg("This is still to come: log it once it has happened, or plan "
                                                    "it with the full visit form."))
                    continue
                form.add_error("organization_id" if name == "organization_ids" else name.replace("followup-0-", "followup_"),
                               message)
    return render(request, "visits/quick.html", _quick_context(request, session, form), block="form", status_code=422)


# One visit

def _show_context(request: Request, session, visit: Visit, user, **extra: Any) -> dict[str, Any]:
    history = audit_service.entity_history(session, entity_type="visit", entity_id=visit.id)
    return {
        "visit": visit, "history": history, "can_change": service.can_change(user, visit),
        "tasks": task_service.for_visit(session, visit_id=visit.id),
        "briefing_files": briefing_service.files_for(session, visit.id, limit=10),
        "projects": project_service.for_visit(session, visit_id=visit.id, viewer=user), "stage_labels": STAGE_LABELS,
        "zone_enterprises": service.zone_enterprises(session, keep_ids=[s.organization_id for s in visit.stops]),
        "refs": audit_service.reference_labels(session, history, request.state.locale),
        "stop_form": extra.pop("stop_form", FormResult()), "stop_error": extra.pop("stop_error", None),
        "editing": extra.pop("editing", None),
        "today": local_now(request).date(), **_labels(),
        **panel_context(request, session, user, entity_type="visit", entity_id=visit.id, next_url=f"/visits/{visit.id}",
                        can_change=service.can_change(user, visit)),
        **extra,
    }


@router.get("/{visit_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep) -> Response:
    return render(request, "visits/show.html", _show_context(request, session, visit, user))


def _values_of(visit: Visit, timezone: str) -> dict[str, str]:
    return {
        "title": visit.title, "kind": visit.kind, "status": visit.status,
        "starts_at": to_local_input(visit.starts_at, timezone), "ends_at": to_local_input(visit.ends_at, timezone),
        "place": visit.place, "leaders": visit.leaders, "purpose": visit.purpose, "summary": visit.summary,
        "outcome": visit.outcome, "interest_level": visit.interest_level,
        "estimated_investment": str(visit.estimated_investment) if visit.estimated_investment is not None else "",
        "officer_id": str(visit.officer_id),
    }


def _input_of(visit: Visit) -> service.VisitInput:
    return service.VisitInput(
        data={}, organization_ids=[vo.organization_id for vo in visit.organizations],
        member_ids=[m.contact_id for m in visit.members], host_ids=[h.user_id for h in visit.hosts],
        industry_ids=[i.industry_chain_id for i in visit.industries])


def _require_change(user, visit: Visit) -> None:
    if not service.can_change(user, visit):
        raise Forbidden()


@router.get("/{visit_id}/edit")
def edit(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep) -> Response:
    _require_change(user, visit)
    form = FormResult(values=_values_of(visit, _tz(request)))
    visit_input = _input_of(visit)
    form_rows.add_blank_row(form, "followup", _row_defaults(request, user, "followup", visit_input))
    return render(request, "visits/form.html",
                  _form_context(request, session, form=form, visit_input=visit_input, visit=visit, version=visit.version))


@router.post("/{visit_id}")
@accepts_upload
def update(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, raw: FormDep) -> Response:
    _require_change(user, visit)
    action = str(raw.get("form_action", ""))[:40]
    form, visit_input = _parse_visit(session, raw, keep_blank_rows=bool(action), with_stops=False)
    if not action:
        _posted_file(request, raw, form, visit_input)
    version = parse_version(raw)
    if action:
        _apply_form_action(request, user, action, form, visit_input)
        form.errors.clear()
        return _render_form(request, session, form=form, visit_input=visit_input, visit=visit, version=version)
    if form.ok:
        try:
            service.update(session, visit=visit, visit_input=visit_input, version=version, actor=user,
                           timezone=_tz(request), files=_file_store(request))
            return redirect(request, f"/visits/{visit.id}", flash=Msg("Changes saved."))
        except PermissionDenied:
            raise Forbidden() from None
        except StaleEdit as stale:
            current = service.get(session, visit.id)
            return _render_form(request, session, form=form, visit_input=visit_input, visit=current,
                                version=current.version, stale=stale.changes,
                                current_values=_values_of(current, _tz(request)), status_code=409)
        except service.InvalidVisit as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return _render_form(request, session, form=form, visit_input=visit_input, visit=visit, version=version,
                        status_code=422)


@router.get("/{visit_id}/delete")
def confirm_delete(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep) -> Response:
    _require_change(user, visit)
    return render(request, "visits/delete.html", {"visit": visit, "tasks": task_service.for_visit(session, visit_id=visit.id)})


@router.post("/{visit_id}/delete")
def delete(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep) -> Response:
    _require_change(user, visit)
    title = visit.title
    service.delete_visit(session, visit=visit, actor=user, data_dir=request.app.state.settings.data_dir)
    return redirect(request, "/visits", flash=Msg("Visit “%(title)s” deleted.", title=title))


# The tour, changed in place on the visit page

def _stops_response(request: Request, session, visit_id: int, user, *, status_code: int = 200, flash: Msg | None = None,
                    **extra: Any) -> Response:
    """The tour block again for htmx; otherwise the page (with the error or the stop being edited) or a redirect."""
    session.expire_all()
    visit = service.get(session, visit_id)
    if is_htmx(request):
        return render(request, "visits/show.html", _show_context(request, session, visit, user, **extra),
                      block="stops", status_code=status_code)
    if status_code >= 400 or extra.get("editing"):
        return render(request, "visits/show.html", _show_context(request, session, visit, user, **extra),
                      status_code=status_code)
    return redirect(request, f"/visits/{visit_id}#stops", flash=flash)


def _posted_stop(raw, form: FormResult):
    """The one tour stop posted from the visit page (its fields are named stop-0-*, as in the visit form)."""
    rows = parse_rows(raw, "stop", stop_fields(), form, keep_blank=True)
    if not rows.data:
        form.add_error("stop-0-organization_id", Msg("This field is required."))
    return rows


@router.get("/{visit_id}/stops")
def stops(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep) -> Response:
    if not is_htmx(request):
        return redirect(request, f"/visits/{visit.id}#stops")
    return _stops_response(request, session, visit.id, user)


@router.post("/{visit_id}/stops")
def add_stop(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, raw: FormDep) -> Response:
    _require_change(user, visit)
    form = FormResult()
    rows = _posted_stop(raw, form)
    if form.ok:
        try:
            service.add_stop(session, visit=visit, row=rows.data[0], actor=user, timezone=_tz(request))
            return _stops_response(request, session, visit.id, user, flash=Msg("Tour stop added."))
        except service.InvalidVisit as bad:
            for name, message in bad.errors.items():
                form.add_error(name.replace("stop-new-", "stop-0-"), message)
    return _stops_response(request, session, visit.id, user, status_code=422, stop_form=form)


@router.post("/{visit_id}/stops/order")
def reorder_stops(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, raw: FormDep) -> Response:
    _require_change(user, visit)
    ids = [as_id(v) for v in raw.getlist("stop_ids")[: service.MAX_STOPS + 1]]
    try:
        if None in ids:
            raise service.InvalidOrder()
        service.reorder_stops(session, visit=visit, stop_ids=ids, actor=user)
    except service.InvalidOrder:
        return _stops_response(request, session, visit.id, user, status_code=422,
                               stop_error=Msg("The tour has changed since this page was loaded, or the order names "
                                              "stops of another visit. Nothing was moved; here is the current tour."))
    return _stops_response(request, session, visit.id, user, flash=Msg("Tour order saved."))


@router.post("/{visit_id}/stops/{stop_id}/delete")
def remove_stop(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, stop_id: RecordId) -> Response:
    _require_change(user, visit)
    if service.find_stop(visit, stop_id) is None:
        raise NotFound()
    service.remove_stop(session, visit=visit, stop_id=stop_id, actor=user)
    return _stops_response(request, session, visit.id, user, flash=Msg("Tour stop removed."))


@router.get("/{visit_id}/stops/{stop_id}/edit")
def edit_stop(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, stop_id: RecordId) -> Response:
    _require_change(user, visit)
    stop = service.find_stop(visit, stop_id)
    if stop is None:
        raise NotFound()
    values = {"stop-0-organization_id": str(stop.organization_id), "stop-0-starts_at": to_local_input(stop.starts_at, _tz(request)),
              "stop-0-host": stop.host, "stop-0-shown": stop.shown, "stop-0-note": stop.note}
    return _stops_response(request, session, visit.id, user, editing=stop_id, stop_form=FormResult(values=values))


@router.post("/{visit_id}/stops/{stop_id}")
def update_stop(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep, stop_id: RecordId,
                raw: FormDep) -> Response:
    _require_change(user, visit)
    stop = service.find_stop(visit, stop_id)
    if stop is None:
        raise NotFound()
    form = FormResult()
    rows = _posted_stop(raw, form)
    if form.ok:
        try:
            service.update_stop(session, visit=visit, stop=stop, row=rows.data[0], actor=user, timezone=_tz(request))
            return _stops_response(request, session, visit.id, user, flash=Msg("Tour stop saved."))
        except service.InvalidVisit as bad:
            for message in bad.errors.values():
                form.add_error("stop-0-organization_id", message)
    return _stops_response(request, session, visit.id, user, status_code=422, editing=stop_id, stop_form=form)
