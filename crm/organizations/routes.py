"""Organization pages: list with active search, detail with contacts and timeline, forms, archive."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response

from crm import timeline as org_timeline
from crm.audit import service as audit_service
from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.auth.models import User
from crm.contacts import service as contact_service
from crm.db import SessionDep
from crm.errors import BadRequest
from crm.exports.schemas import SUPPORT_LABELS
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg, gettext
from crm.listing import BadListQuery, options, parse_choice, parse_id, parse_page, parse_sort, user_options
from crm.organizations import service
from crm.organizations.deps import OrganizationDep
from crm.organizations.models import Organization, OrganizationKind, Ownership
from crm.organizations.schemas import (
    EXPORT_COLUMNS,
    KIND_LABELS,
    OWNERSHIP_LABELS,
    SORT_LABELS,
    SORTS,
    organization_fields,
)
from crm.projects import service as project_service
from crm.projects.schemas import STAGE_LABELS
from crm.spreadsheets import xlsx_download
from crm.tasks import service as task_service
from crm.validators import as_id, normalize_credit_code
from crm.validators import check_credit_code as check_credit_code_value
from crm.versioning import StaleEdit
from crm.visits import service as visit_service
from crm.visits.schemas import KIND_LABELS as VISIT_KIND_LABELS
from crm.visits.schemas import STATUS_LABELS as VISIT_STATUS_LABELS
from crm.web import FormDep, Router, is_htmx, redirect, render, replay_or_claim

router = Router(prefix="/organizations")


def _filter_from_query(request: Request) -> tuple[service.OrganizationFilter, int]:
    params = request.query_params
    try:
        flt = service.OrganizationFilter(
            q=params.get("q", "").strip()[:100],
            kind=parse_choice(params, "kind", [k.value for k in OrganizationKind]),
            industry_chain_id=parse_id(params, "industry"),
            ownership=parse_choice(params, "ownership", [o.value for o in Ownership]),
            owner_id=parse_id(params, "owner"),
            tag=params.get("tag", "").strip()[:20],
            archived=params.get("archived", "") == "1",
            sort=parse_sort(params, SORTS, "-updated"),
        )
        return flt, parse_page(params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None


def _choices(session, org: Organization | None = None) -> dict[str, Any]:
    return {
        "kind_labels": KIND_LABELS,
        "ownership_labels": OWNERSHIP_LABELS,
        "industries": service.industry_chains(session, keep_id=org.industry_chain_id if org else None),
        "owners": auth_service.user_choices(session),
    }


def _list_rows(page_items, locale: str, timezone: str) -> list[tuple]:
    """The list's rows as the template shows them: (id, name, English name, kind, industry chain, city, officer,
    updated on), each already in the reader's language and zone: the row template only escapes and places them."""
    zh, zone = locale.startswith("zh"), ZoneInfo(timezone)
    kinds = {kind: gettext(locale, label) for kind, label in KIND_LABELS.items()}
    return [(id_, name, name_en, kinds[kind], (industry_zh if zh else industry_en) or "", city, owner_name or "",
             updated_at.astimezone(zone).strftime("%Y-%m-%d") if updated_at is not None else "")
            for id_, name, name_en, kind, city, updated_at, industry_zh, industry_en, owner_name in page_items]


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    flt, page_number = _filter_from_query(request)
    settings = request.app.state.settings
    page = service.list_page(session, flt=flt, page=page_number, per_page=settings.page_size)
    locale = request.state.locale
    context = {
        "page": page,
        "rows": _list_rows(page.items, locale, settings.timezone),
        "flt": flt,
        "params": {k: v for k, v in request.query_params.items() if k != "page"},
    }
    if not is_htmx(request):  # the results fragment needs none of the filter bar's choices
        zh = locale.startswith("zh")
        context.update(
            kind_options=options(((k, gettext(locale, label)) for k, label in KIND_LABELS.items()), flt.kind),
            industry_options=options(((chain.id, chain.name_zh if zh else chain.name_en)
                                      for chain in service.industry_choices(session)), flt.industry_chain_id),
            ownership_options=options(((o, gettext(locale, label)) for o, label in OWNERSHIP_LABELS.items()),
                                      flt.ownership),
            owner_options=user_options(session, flt.owner_id),
            tag_options=options(((tag, tag) for tag in service.all_tags(session)), flt.tag),
            sort_options=options(((v, gettext(locale, label)) for v, label in SORT_LABELS.items()), flt.sort))
    return render(request, "organizations/index.html", context, block="results")


@router.get("/export.xlsx")
def export_xlsx(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The list as an Excel file: its filters and order (the same query string), every matching row."""
    flt, _ = _filter_from_query(request)
    rows = service.export_rows(session, flt=flt, locale=request.state.locale)
    return xlsx_download(request, Msg("Organizations"), EXPORT_COLUMNS, rows)


def _form_context(request, session, *, form: FormResult, org: Organization | None, **extra: Any) -> dict[str, Any]:
    stale = extra.pop("stale", None)
    return {"form": form, "org": org, "duplicate": None, "stale": stale, **_choices(session, org), **extra,
            "refs": audit_service.reference_labels(session, stale or [], request.state.locale)}


def _fields(session, org: Organization | None = None):
    return organization_fields(
        industry_ids=[str(i.id) for i in service.industry_chains(session, keep_id=org.industry_chain_id if org else None)],
        owner_ids=[str(u.id) for u in auth_service.active_users(session)],
    )


@router.get("/new")
def new(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    form = FormResult(values={"kind": request.query_params.get("kind", "investor"), "owner_id": str(user.id)})
    return render(request, "organizations/form.html", _form_context(request, session, form=form, org=None))


@router.get("/check-credit-code")
def check_credit_code(request: Request, session: SessionDep, user: CurrentUser, credit_code: str = "",
                      organization: str = "") -> Response:
    """Inline check while the code is typed: its error text, or the record already holding it, or nothing."""
    code = normalize_credit_code(credit_code[:40])
    error = check_credit_code_value(code) if code else None
    duplicate = None
    if code and error is None:
        match = service.find_duplicate(session, name="", credit_code=code, exclude_id=as_id(organization))
        duplicate = match[1] if match and match[0] == "credit_code" else None
    return render(request, "organizations/_credit_code_check.html", {"error": error, "duplicate": duplicate})


@router.post("")
def create(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    if (earlier := replay_or_claim(request, session, raw, creates=Organization, url=lambda org: f"/organizations/{org.id}")) is not None:
        return earlier
    form = parse(_fields(session), raw)
    if form.ok:
        try:
            org = service.create(session, data=form.data, actor=user)
            return redirect(request, f"/organizations/{org.id}", flash=Msg("Organization “%(name)s” created.", name=org.name))
        except service.DuplicateOrganization as dup:
            session.rollback()
            form.add_error(dup.field, Msg("An organization with this %(what)s already exists.",
                                          what=Msg("credit code") if dup.field == "credit_code" else Msg("name")))
            return render(request, "organizations/form.html",
                          _form_context(request, session, form=form, org=None, duplicate=dup.existing), block="form", status_code=422)
    return render(request, "organizations/form.html", _form_context(request, session, form=form, org=None), block="form", status_code=422)


def _timeline_context(request: Request, session, org: Organization, *, page: int) -> dict[str, Any]:
    timeline = org_timeline.organization_timeline(session, organization_id=org.id, page=page,
                                                  per_page=org_timeline.PAGE_SIZE, viewer=request.state.user)
    entries = [item.entry for item in timeline.items if item.entry is not None]
    return {"timeline": timeline, "refs": audit_service.reference_labels(session, entries, request.state.locale),
            "visit_kind_labels": VISIT_KIND_LABELS, "visit_status_labels": VISIT_STATUS_LABELS,
            "stage_labels": STAGE_LABELS, "support_kind_labels": SUPPORT_LABELS}


@router.get("/{organization_id}/timeline")
def timeline(request: Request, session: SessionDep, user: CurrentUser, org: OrganizationDep) -> Response:
    """One page of the timeline: the htmx fragment the timeline's pager swaps in, or the whole page."""
    try:
        page = parse_page(request.query_params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    context = {"org": org, **_timeline_context(request, session, org, page=page)}
    return render(request, "organizations/timeline.html", context, block="timeline")


@router.get("/{organization_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, org: OrganizationDep) -> Response:
    context = {
        "org": org,
        "contacts": contact_service.for_organization(session, organization_id=org.id),
        "tasks": task_service.open_lines_for_organization(session, organization_id=org.id),
        "projects": project_service.lines_for_organization(session, organization_id=org.id, viewer=user),
        "visits": visit_service.list_lines(session, flt=visit_service.VisitFilter(organization_id=org.id), page=1,
                                           per_page=5, timezone=request.app.state.settings.timezone),
        "upcoming": visit_service.upcoming_for(session, organization_id=org.id),
        **_timeline_context(request, session, org, page=1),
        "kind_labels": KIND_LABELS,
        "ownership_labels": OWNERSHIP_LABELS,
        "can_archive": service.can_archive(user, org),
    }
    return render(request, "organizations/show.html", context)


def _values_of(org: Organization) -> dict[str, str]:
    return {
        "name": org.name, "name_en": org.name_en, "credit_code": org.credit_code or "", "kind": org.kind,
        "industry_chain_id": str(org.industry_chain_id or ""), "ownership": org.ownership,
        "country_region": org.country_region, "city": org.city, "address": org.address, "website": org.website,
        "tags": "，".join(org.tags_list), "description": org.description, "owner_id": str(org.owner_id or ""),
    }


@router.get("/{organization_id}/edit")
def edit(request: Request, session: SessionDep, user: CurrentUser, org: OrganizationDep) -> Response:
    form = FormResult(values=_values_of(org))
    return render(request, "organizations/form.html", _form_context(request, session, form=form, org=org, version=org.version))


@router.post("/{organization_id}")
def update(request: Request, session: SessionDep, user: CurrentUser, org: OrganizationDep, raw: FormDep) -> Response:
    form = parse(_fields(session, org), raw)
    version = parse_version(raw)
    if form.ok:
        try:
            service.update(session, org=org, data=form.data, version=version, actor=user)
            return redirect(request, f"/organizations/{org.id}", flash=Msg("Changes saved."))
        except StaleEdit as stale:
            current = service.get(session, org.id)
            return render(request, "organizations/form.html",
                          _form_context(request, session, form=form, org=current, version=current.version,
                                        stale=stale.changes, current_values=_values_of(current)),
                          block="form", status_code=409)
        except service.DuplicateOrganization as dup:
            session.rollback()
            form.add_error(dup.field, Msg("An organization with this %(what)s already exists.",
                                          what=Msg("credit code") if dup.field == "credit_code" else Msg("name")))
            return render(request, "organizations/form.html",
                          _form_context(request, session, form=form, org=org, version=version, duplicate=dup.existing),
                          block="form", status_code=422)
    return render(request, "organizations/form.html", _form_context(request, session, form=form, org=org, version=version),
                  block="form", status_code=422)


def _require_archive_right(user: User, org: Organization) -> None:
    if not service.can_archive(user, org):
        raise Forbidden()


@router.get("/{organization_id}/archive")
def confirm_archive(request: Request, session: SessionDep, user: CurrentUser, org: OrganizationDep) -> Response:
    _require_archive_right(user, org)
    return render(request, "organizations/archive.html", {"org": org})


@router.post("/{organization_id}/archive")
def archive(request: Request, session: SessionDep, user: CurrentUser, org: OrganizationDep) -> Response:
    _require_archive_right(user, org)
    service.archive(session, org=org, actor=user)
    return redirect(request, f"/organizations/{org.id}", flash=Msg("“%(name)s” archived. It no longer shows in lists; you can restore it here.", name=org.name))


@router.post("/{organization_id}/restore")
def restore(request: Request, session: SessionDep, user: CurrentUser, org: OrganizationDep) -> Response:
    _require_archive_right(user, org)
    service.restore(session, org=org, actor=user)
    return redirect(request, f"/organizations/{org.id}", flash=Msg("“%(name)s” restored.", name=org.name))
