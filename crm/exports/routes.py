"""Export-leader cultivation pages: the pool with progress against target and 序时进度 (filters, sort, pages, .xlsx
download), a member's page (figures by month, targets, service log, history), the add/edit/remove forms, figure
entry (one month, or a year grid) and the figures import (.xlsx/.csv, all or nothing)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm.attachments.deps import UploadDep
from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.auth.models import User
from crm.db import SessionDep
from crm.errors import BadRequest
from crm.exports import service
from crm.exports.deps import MemberDep, SupportDep
from crm.exports.models import ExportEnterprise, ExportSupport, Tier
from crm.exports.schemas import (
    MAX_YEAR,
    MIN_YEAR,
    SORT_LABELS,
    SORTS,
    SUPPORT_LABELS,
    TIER_LABELS,
    import_columns,
    member_fields,
    month_field,
    pool_columns,
    single_figure_fields,
    support_fields,
)
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg, bound_gettext
from crm.listing import BadListQuery, parse_choice, parse_id, parse_page, parse_sort
from crm.projects.schemas import parse_amount
from crm.versioning import StaleEdit
from crm.web import (
    FormDep,
    Router,
    accepts_upload,
    local_today,
    redirect,
    render,
    replay_or_claim,
    upload_limit_bytes,
    upload_too_large_message,
)

router = Router(prefix="/exports")

IMPORT_TYPES = (".xlsx", ".xls", ".csv")


def _margin(request: Request) -> Decimal:
    return request.app.state.settings.export_behind_margin_points


def _year(request: Request, default: int) -> int:
    raw = request.query_params.get("year", "")
    if not raw:
        return default
    if not raw.isdigit() or not MIN_YEAR <= int(raw) <= MAX_YEAR:
        raise BadRequest(Msg("Enter a year between %(first)s and %(last)s.", first=MIN_YEAR, last=MAX_YEAR))
    return int(raw)


def _pool_query(request: Request) -> dict[str, Any]:
    params = request.query_params
    today = local_today(request)
    default_year = service.last_complete_month(today)[0]
    try:
        return {"year": _year(request, default_year),
                "tier": parse_choice(params, "tier", [t.value for t in Tier]),
                "officer_id": parse_id(params, "officer"),
                "behind_only": params.get("behind", "") == "1",
                "sort": parse_sort(params, SORTS, "tier"),
                "page": parse_page(params)}
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    query = _pool_query(request)
    today = local_today(request)
    month = service.months_due(query["year"], today)
    page = service.pool_page(session, year=query["year"], month=month, margin_points=_margin(request),
                             tier=query["tier"], officer_id=query["officer_id"], behind_only=query["behind_only"],
                             sort=query["sort"], page=query["page"], per_page=request.app.state.settings.page_size)
    params = {k: v for k, v in request.query_params.items() if k != "page"}
    filtered = bool(query["tier"] or query["officer_id"] or query["behind_only"])
    return render(request, "exports/index.html", {
        "page": page, "q": query, "month": month, "params": params, "filtered": filtered,
        "tier_labels": TIER_LABELS, "sort_labels": SORT_LABELS, "officers": auth_service.active_users(session),
        "years": list(range(today.year, today.year - 6, -1)), "margin": _margin(request),
        "can_manage": service.can_manage(user), "download_query": params}, block="results")


@router.get("/download")
def download(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    query = _pool_query(request)
    month = service.months_due(query["year"], local_today(request))
    rows = service.progress(session, year=query["year"], month=month, margin_points=_margin(request),
                            tier=query["tier"], officer_id=query["officer_id"], behind_only=query["behind_only"],
                            sort=query["sort"])
    from crm.spreadsheets import xlsx_download

    def values():
        for r in rows:
            yield (r.name, r.credit_code or "", Msg(TIER_LABELS[r.tier]), r.officer_name, r.target, r.ytd,
                   r.target_pct, r.time_pct, r.last_year, r.yoy_pct, Msg("yes") if r.behind else Msg("no"))

    # Named "<pool> (<year> figures)-<today>.xlsx": the year the figures are of, then the day of the download
    return xlsx_download(request, Msg("Export pool (%(year)s figures)", year=query["year"]), pool_columns(), values())


# --- add, edit, remove -----------------------------------------------------------------------------------------

def _officer_ids(session, keep: int | None = None) -> list[str]:
    ids = [str(u.id) for u in auth_service.active_users(session)]
    if keep is not None and str(keep) not in ids:
        ids.append(str(keep))
    return ids


def _form_context(request: Request, session, *, form: FormResult, member: ExportEnterprise | None,
                  user: User, **extra: Any) -> dict[str, Any]:
    from crm.audit import service as audit_service

    stale = extra.pop("stale", None)
    return {"form": form, "member": member, "stale": stale, "tier_labels": TIER_LABELS,
            "officers": auth_service.active_users(session),
            "candidates": service.candidates(session) if member is None else [],
            "can_manage": service.can_manage(user),
            "refs": audit_service.reference_labels(session, stale or [], request.state.locale), **extra}


def _require_manage(user: User) -> None:
    if not service.can_manage(user):
        raise Forbidden()


@router.get("/new")
def new(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    _require_manage(user)
    year = local_today(request).year
    values = {"tier": "key", "officer_id": str(user.id), "target_year": str(year),
              "organization_id": request.query_params.get("organization", "")}
    return render(request, "exports/form.html", _form_context(request, session, form=FormResult(values=values),
                                                              member=None, user=user))


@router.post("")
def create(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    _require_manage(user)
    if (earlier := replay_or_claim(request, session, raw, creates=ExportEnterprise, url=lambda member: f"/exports/{member.organization_id}")) is not None:
        return earlier
    organization_ids = [str(o.id) for o in service.candidates(session)]
    form = parse(member_fields(officer_ids=_officer_ids(session), organization_ids=organization_ids), raw)
    if form.ok:
        try:
            member = service.create(session, data=form.data, actor=user)
            return redirect(request, f"/exports/{member.organization_id}",
                            flash=Msg("Added to the export pool."))
        except service.InvalidExportInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return render(request, "exports/form.html", _form_context(request, session, form=form, member=None, user=user),
                  block="form", status_code=422)


@router.get("/figures/new")
def new_figure(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    year, month = service.last_complete_month(local_today(request))
    values = {"organization_id": request.query_params.get("organization", ""), "month": f"{year}-{month:02d}"}
    return render(request, "exports/figure_form.html", {"form": FormResult(values=values),
                                                        "choices": service.members(session, officer=user)})


@router.post("/figures")
def create_figure(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    choices = service.members(session, officer=user)
    form = parse(single_figure_fields(organization_ids=[str(i) for i, _ in choices]), raw)
    if form.ok:
        member = service.get_member(session, form.data["organization_id"])
        year, month = (int(p) for p in form.data["month"].split("-"))
        try:
            changed = service.save_month(session, member=member, year=year, month=month,
                                         value=parse_amount(form.data["value_wan_usd"]), actor=user,
                                         today=local_today(request))
            flash = Msg("Saved.") if changed else Msg("No change: that figure was already on file.")
            return redirect(request, f"/exports/{member.organization_id}?year={year}", flash=flash)
        except service.InvalidExportInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
        except service.PermissionDenied:
            raise Forbidden() from None
    return render(request, "exports/figure_form.html", {"form": form, "choices": choices}, block="form",
                  status_code=422)


# --- import ----------------------------------------------------------------------------------------------------

def _import_context(request: Request, **extra: Any) -> dict[str, Any]:
    return {"limit_mb": request.app.state.settings.max_upload_mb, "problems": [], "message": None, "done": None,
            "filename": "", **extra}


@router.get("/import")
def import_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "exports/import.html", _import_context(request))


@router.get("/import/template")
def import_template(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    from crm.spreadsheets import XLSX_MEDIA_TYPE, content_disposition, template_xlsx

    _ = bound_gettext(request.state.locale)[0]
    # an example row imports as it is: one of the user's own pool enterprises, never a made-up code or name
    example = service.template_example(session, officer=user, today=local_today(request))
    data = template_xlsx(import_columns(), translate=_, example_rows=[example] if example else [])
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": content_disposition(_("Export figures template") + ".xlsx"),
        "X-Content-Type-Options": "nosniff"})


@router.post("/import")
@accepts_upload
def import_figures(request: Request, session: SessionDep, user: CurrentUser, posted: UploadDep) -> Response:
    from crm.spreadsheets import SheetProblem, read_sheet

    if posted.too_large:
        return render(request, "exports/import.html", _import_context(
            request, message=upload_too_large_message(request)), block="result", status_code=413)
    name = posted.filename
    if not name or not posted.data:
        message = Msg("Choose a file to import.") if not name else Msg("The file is empty.")
        return render(request, "exports/import.html", _import_context(request, message=message), block="result",
                      status_code=422)
    if not name.lower().endswith(IMPORT_TYPES):
        return render(request, "exports/import.html", _import_context(request, filename=name, message=Msg(
            "“%(name)s” is not an Excel workbook (.xlsx) or a CSV file.", name=name)), block="result", status_code=422)
    if len(posted.data) > upload_limit_bytes(request):
        return render(request, "exports/import.html", _import_context(
            request, filename=name, message=upload_too_large_message(request)), block="result", status_code=413)
    columns = import_columns()
    try:
        sheet = read_sheet(posted.data, name, columns)
    except SheetProblem as problem:
        return render(request, "exports/import.html", _import_context(request, filename=name, message=problem.message),
                      block="result", status_code=422)
    plan = service.check_import(session, rows=sheet.rows, actor=user, today=local_today(request),
                                headers={c.key: c.header for c in columns})
    problems = sorted([*sheet.problems, *plan.problems], key=lambda p: p.row)
    if problems:
        session.rollback()
        return render(request, "exports/import.html", _import_context(request, filename=name, problems=problems,
                                                                      rows=plan.rows), block="result", status_code=422)
    changed = service.apply_import(session, plan=plan, actor=user)
    return render(request, "exports/import.html", _import_context(request, filename=name, done={
        "rows": plan.rows, "changed": changed}), block="result")


# --- a member ----------------------------------------------------------------------------------------------------

def _show_context(request: Request, session, user: User, member: ExportEnterprise, **extra: Any) -> dict[str, Any]:
    from crm.audit import service as audit_service

    today = local_today(request)
    year = _year(request, service.last_complete_month(today)[0])
    row = service.cultivation_for(session, [member.organization_id], year, today=today,
                                  margin_points=_margin(request))[member.organization_id]
    history = service.history(session, member.organization_id)
    support_form = extra.pop("support_form", None) or FormResult(values={"given_on": today.isoformat(),
                                                                          "officer_id": str(user.id), "kind": "policy"})
    return {"member": member, "org": member.organization, "row": row, "year": year, "today": today,
            "figures": service.monthly_totals(session, organization_id=member.organization_id, years=[year, year - 1]),
            "targets": service.targets(session, member.organization_id),
            "support": service.support_log(session, member.organization_id), "support_form": support_form,
            "officers": auth_service.active_users(session), "tier_labels": TIER_LABELS,
            "support_labels": SUPPORT_LABELS, "history": history,
            "refs": audit_service.reference_labels(session, history, request.state.locale),
            "can_edit": service.can_edit(user, member), "can_manage": service.can_manage(user),
            "user_id": user.id, "is_manager": user.is_manager, **extra}


@router.get("/{organization_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, member: MemberDep) -> Response:
    return render(request, "exports/show.html", _show_context(request, session, user, member))


def _values_of(session, member: ExportEnterprise, year: int) -> dict[str, str]:
    target = service.target_for(session, member.organization_id, year)
    return {"tier": member.tier, "officer_id": str(member.officer_id), "main_products": member.main_products,
            "markets": member.markets, "support_planned": member.support_planned, "target_year": str(year),
            "target_wan_usd": str(target) if target is not None else ""}


@router.get("/{organization_id}/edit")
def edit(request: Request, session: SessionDep, user: CurrentUser, member: MemberDep) -> Response:
    if not service.can_edit(user, member):
        raise Forbidden()
    year = _year(request, local_today(request).year)
    return render(request, "exports/form.html", _form_context(
        request, session, form=FormResult(values=_values_of(session, member, year)), member=member, user=user,
        version=member.version))


@router.post("/{organization_id}")
def update(request: Request, session: SessionDep, user: CurrentUser, member: MemberDep, raw: FormDep) -> Response:
    if not service.can_edit(user, member):
        raise Forbidden()
    form = parse(member_fields(officer_ids=_officer_ids(session, member.officer_id), organization_ids=None), raw)
    version = parse_version(raw)
    if form.ok:
        try:
            service.update_member(session, member=member, data=form.data, version=version, actor=user)
            return redirect(request, f"/exports/{member.organization_id}", flash=Msg("Changes saved."))
        except StaleEdit:
            current = service.get_member(session, member.organization_id)
            from crm.audit import service as audit_service

            stale = audit_service.changes_since(session, entity_type=service.ENTITY_MEMBER, entity_id=current.id,
                                                version=version or 0)
            return render(request, "exports/form.html", _form_context(
                request, session, form=form, member=current, user=user, version=current.version, stale=stale),
                block="form", status_code=409)
        except service.InvalidExportInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    member = service.get_member(session, member.organization_id)  # a refused save rolled back: load it again
    return render(request, "exports/form.html", _form_context(request, session, form=form, member=member, user=user,
                                                              version=version), block="form", status_code=422)


@router.get("/{organization_id}/remove")
def confirm_remove(request: Request, session: SessionDep, user: CurrentUser, member: MemberDep) -> Response:
    _require_manage(user)
    return render(request, "exports/remove.html", {"member": member, "org": member.organization})


@router.post("/{organization_id}/remove")
def remove(request: Request, session: SessionDep, user: CurrentUser, member: MemberDep, raw: FormDep) -> Response:
    _require_manage(user)
    name = member.organization.name
    try:
        service.remove(session, member=member, version=parse_version(raw), actor=user)
    except StaleEdit:
        return redirect(request, f"/exports/{member.organization_id}",
                        flash=Msg("Someone changed this record meanwhile; look at it again before removing it."))
    return redirect(request, "/exports", flash=Msg("“%(name)s” was taken out of the export pool.", name=name))


def _grid_context(request: Request, session, member: ExportEnterprise, year: int, form: FormResult) -> dict[str, Any]:
    today = local_today(request)
    return {"member": member, "org": member.organization, "year": year, "form": form,
            "open_months": [m for m in range(1, 13) if not service.is_not_over(year, m, today)],
            "years": list(range(today.year, today.year - 6, -1))}


@router.get("/{organization_id}/figures")
def figures(request: Request, session: SessionDep, user: CurrentUser, member: MemberDep) -> Response:
    if not service.can_edit(user, member):
        raise Forbidden()
    year = _year(request, local_today(request).year)
    found = service.figures_for(session, member.organization_id, [year])
    values = {f"m{m}": str(found[(year, m)]) for m in range(1, 13) if (year, m) in found}
    return render(request, "exports/figures.html", _grid_context(request, session, member, year,
                                                                 FormResult(values=values)))


@router.post("/{organization_id}/figures")
def save_figures(request: Request, session: SessionDep, user: CurrentUser, member: MemberDep,
                 raw: FormDep) -> Response:
    if not service.can_edit(user, member):
        raise Forbidden()
    raw_year = raw.get("year", "")
    if not isinstance(raw_year, str) or not raw_year.isdigit() or not MIN_YEAR <= int(raw_year) <= MAX_YEAR:
        raise BadRequest(Msg("Enter a year between %(first)s and %(last)s.", first=MIN_YEAR, last=MAX_YEAR))
    year = int(raw_year)
    form = parse([month_field(m) for m in range(1, 13)], raw)
    form.values["year"] = raw_year
    if form.ok:
        values = {m: (parse_amount(form.data[f"m{m}"]) if form.data[f"m{m}"] else None) for m in range(1, 13)}
        try:
            changed = service.save_year(session, member=member, year=year, values=values, actor=user,
                                        today=local_today(request))
            flash = (Msg("%(n)s monthly figures changed.", n=changed) if changed
                     else Msg("No change: those figures were already on file."))
            return redirect(request, f"/exports/{member.organization_id}?year={year}", flash=flash)
        except service.InvalidExportInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    member = service.get_member(session, member.organization_id)  # a refused save rolled back: load it again
    return render(request, "exports/figures.html", _grid_context(request, session, member, year, form), block="form",
                  status_code=422)


# --- service log -------------------------------------------------------------------------------------------------

@router.post("/{organization_id}/support")
def add_support(request: Request, session: SessionDep, user: CurrentUser, member: MemberDep,
                raw: FormDep) -> Response:
    if (earlier := replay_or_claim(request, session, raw, creates=ExportSupport, url=lambda support: f"/exports/{member.organization_id}#support")) is not None:
        return earlier
    form = parse(support_fields(officer_ids=_officer_ids(session)), raw)
    if form.ok:
        try:
            service.add_support(session, member=member, data=form.data, actor=user,
                                timezone=request.app.state.settings.timezone)
            return redirect(request, f"/exports/{member.organization_id}#support",
                            flash=Msg("Support recorded in the service log."))
        except service.InvalidExportInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
        except service.PermissionDenied:
            raise Forbidden() from None
    member = service.get_member(session, member.organization_id)
    return render(request, "exports/show.html", _show_context(request, session, user, member, support_form=form),
                  block="support", status_code=422)


@router.get("/support/{support_id}/remove")
def confirm_remove_support(request: Request, session: SessionDep, user: CurrentUser, entry: SupportDep) -> Response:
    if not service.can_remove_support(user, entry):
        raise Forbidden()
    return render(request, "exports/remove_support.html", {"entry": entry, "support_labels": SUPPORT_LABELS})


@router.post("/support/{support_id}/remove")
def remove_support(request: Request, session: SessionDep, user: CurrentUser, entry: SupportDep) -> Response:
    if not service.can_remove_support(user, entry):
        raise Forbidden()
    organization_id = entry.organization_id
    service.remove_support(session, entry=entry, actor=user)
    return redirect(request, f"/exports/{organization_id}#support", flash=Msg("Service log entry removed."))
