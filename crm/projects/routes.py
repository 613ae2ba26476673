"""Project pages: the table (filters, totals per stage, funnel) and the kanban board, the project page with its gates,
decisions, permit checklist, follow-ups and files, the form, and moves between stages (from the page, the board's
card menu without JavaScript, or a card dragged on the board)."""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from dataclasses import astuple
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.datastructures import UploadFile

from crm import generation
from crm.attachments import service as attachment_service
from crm.attachments.routes import panel_context
from crm.audit import service as audit_service
from crm.audit import web as audit_web
from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.db import RecordId, SessionDep, utcnow
from crm.errors import BadRequest, NotFound
from crm.forms import FormResult, parse, parse_version
from crm.i18n import N_, Msg, bound_gettext, gettext
from crm.listing import BadListQuery, parse_page, user_options
from crm.organizations import service as organization_service
from crm.organizations.service import PermissionDenied
from crm.projects import filters, gates, pipeline, rows_html, service, spreadsheet
from crm.projects.deps import ProjectDep
from crm.projects.models import ALL_STAGES, PIPELINE, SIDE_STATES, Decision, Project
from crm.projects.schemas import (
    APPROVAL_STATUS_LABELS,
    MEETING_LABELS,
    OUTCOME_LABELS,
    SOURCE_LABELS,
    STAGE_LABELS,
    START_STAGES,
    apply_investor_action,
    approval_fields,
    decision_fields,
    investor_action,
    move_fields,
    project_fields,
)
from crm.spreadsheets import csv_row, xlsx_download
from crm.tasks import service as task_service
from crm.tasks.schemas import STATUS_LABELS as TASK_STATUS_LABELS
from crm.validators import as_id
from crm.versioning import StaleEdit
from crm.visits import service as visit_service
from crm.visits.deps import VisitDep
from crm.visits.schemas import multi_ids
from crm.web import (
    FormDep,
    Router,
    accepts_upload,
    is_htmx,
    local_today,
    redirect,
    render,
    replay_or_claim,
    safe_next,
    templates,
    upload_limit_bytes,
)

router = Router(prefix="/projects")


def _settings(request: Request):
    return request.app.state.settings


def _rules(request: Request) -> service.Rules:
    return service.Rules(threshold=_settings(request).major_project_threshold_wan_cny, today=local_today(request))


def _view(request: Request) -> dict[str, Any]:
    """What every list needs to judge cards: now, today, the threshold and the stale days."""
    settings = _settings(request)
    return {"now": utcnow(), "today": local_today(request), "threshold": settings.major_project_threshold_wan_cny,
            "stale_days": settings.project_stale_days}


def _labels() -> dict[str, Any]:
    return {"stage_labels": STAGE_LABELS, "source_labels": SOURCE_LABELS, "meeting_labels": MEETING_LABELS,
            "outcome_labels": OUTCOME_LABELS, "approval_status_labels": APPROVAL_STATUS_LABELS,
            "task_status_labels": TASK_STATUS_LABELS, "pipeline": PIPELINE, "side_states": SIDE_STATES,
            "all_stages": ALL_STAGES}


def _filter_choices(session) -> dict[str, Any]:
    return {"officers": service.officer_choices(session), "industries": organization_service.industry_chains(session)}


def funnel(request: Request, totals: pipeline.Totals) -> Any:
    return pipeline.funnel_chart(totals, locale=request.state.locale)


# The table

# The results block (totals, funnel, the page's rows) and the filter bar, kept as HTML per data generation
# (crm/generation.py) and per whose view it is: a manager's is every manager's, an officer's their own.
table_kept = generation.Kept("projects.table", size=256)
table_filters_kept = generation.Kept("projects.table.filters", size=128)


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    flt = filters.from_query(request.query_params)
    try:
        page_number = parse_page(request.query_params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    view = _view(request)
    per_page = _settings(request).page_size
    params = {k: v for k, v in request.query_params.items() if k != "page"}
    locale = request.state.locale
    organization = organization_service.get(session, flt.organization_id) if flt.organization_id else None
    key = (generation.visibility(user), astuple(flt), page_number, per_page, view["today"], view["threshold"],
           view["stale_days"], locale, tuple(params.items()))

    def part() -> str:  # the results block: the same for every reader of `key`
        page = pipeline.table_page(session, flt=flt, viewer=user, page=page_number, per_page=per_page, **view)
        totals = pipeline.totals(session, flt=flt, viewer=user, now=view["now"], stale_days=view["stale_days"])
        return generation.render_part("projects/index.html", "results", {
            **generation.part_context(request), "page": page, "flt": flt, "params": params, "totals": totals,
            "funnel": funnel(request, totals), "rows": rows_html.table_rows(page.items, q=flt.q, _=bound_gettext(locale)[0]),
            **_labels(), "organization": organization, "results_html": None})

    context = {"flt": flt, "params": params, **_labels(), "organization": organization, "filters_html": None,
               "results_html": generation.with_csrf(table_kept.get(session, key, part), request)}
    if not is_htmx(request):  # the filter bar's long selects, built in Python (the officers' once per change)
        def filters_part() -> str:  # the filter bar: the same for every reader of its key
            return templates.get_template("projects/_filters.html").render({
                **generation.part_context(request), **context, "current_user": user, "action": "/projects",
                "target": "#results", "with_stage": True,
                "officer_options": user_options(session, flt.officer_id, business_only=False),
                "industry_options": rows_html.industry_options(service.industry_rows(session),
                                                               selected=flt.industry_chain_id, locale=locale)})

        filters_key = (user.is_manager, astuple(flt), tuple(params.items()), locale)
        context["filters_html"] = generation.with_csrf(table_filters_kept.get(session, filters_key, filters_part),
                                                       request)
    return render(request, "projects/index.html", context, block="results")


@router.get("/export.csv")
def export(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The table's projects (its filters, those the user may see) as a CSV file for Excel."""
    flt = filters.from_query(request.query_params)
    locale = request.state.locale
    cards = list(pipeline.for_export(session, flt=flt, viewer=user, **_view(request)))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([gettext(locale, label) for label in (
        N_("Project name"), N_("Investors"), N_("Stage"), N_("Industry chain"), N_("Total investment (10k CNY)"),
        N_("Foreign capital (10k USD)"), N_("Owning officer"), N_("Days in stage"), N_("Stale"))])
    for card in cards:
        p = card.project
        writer.writerow(csv_row([p.name, "，".join(p.investors), gettext(locale, STAGE_LABELS[p.stage]),
                                 p.industry(locale), p.total_investment_wan_cny or "", p.foreign_capital_wan_usd or "",
                                 p.owner_name, card.days_in_stage, gettext(locale, N_("yes")) if card.stale else ""]))
    body = "\ufeff" + out.getvalue()  # the BOM makes Excel read UTF-8
    audit_web.record_download(request, name="Projects", rows=len(cards), file_format="csv")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="projects.csv"', "Vary": "HX-Request"})


@router.get("/export.xlsx")
def export_xlsx(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The table as an Excel file: its filters and order (the same query string), every project the user may see."""
    flt = filters.from_query(request.query_params)
    view = _view(request)
    rows = pipeline.export_rows(session, flt=flt, viewer=user, now=view["now"], stale_days=view["stale_days"])
    values = spreadsheet.export_values(rows, locale=request.state.locale, now=view["now"])
    return xlsx_download(request, Msg("Projects"), spreadsheet.EXPORT_COLUMNS, values)


# The kanban board

CARD_TEXTS = {"days": N_("%(n)s days in stage"), "move": N_("Move to…"), "confidential": N_("Confidential"),
              "stale": N_("Stale"), "overdue": N_("Permit overdue"), "gate": N_("Gate missing"),
              "override": N_("Gate overridden")}


def card_texts(request: Request, next_url: str) -> dict[str, Any]:
    """What every card repeats, translated and URL-encoded once per page instead of once per card."""
    locale = request.state.locale
    return {"card_texts": {key: gettext(locale, msgid) for key, msgid in CARD_TEXTS.items()},
            "move_query": "next=" + quote(next_url, safe="/")}  # as Jinja's urlencode filter writes it


class CardHtml:
    """Each board card's HTML, kept under everything the card shows (its key holds every value the macro
    reads: language, return URL, the project's id, version, name, stage, amount, lead investor, owner, days in
    stage, each badge, and whether the reader may move it: the Move link and the drag are only for those who
    may), so a kept card can never differ from a fresh one and nothing needs invalidating: a change makes a new
    key, and the least recently used keys are dropped. A board of 300 cards renders the cards that changed, not
    300 macros (10 ms of a 50-ms page)."""

    def __init__(self, size: int = 20_000) -> None:
        self._kept: OrderedDict[tuple, Markup] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    @staticmethod
    def key(locale: str, move_query: str, card: pipeline.Card, can_move: bool) -> tuple:
        p = card.project
        return (locale, move_query, p.id, p.version, p.name, p.stage, p.total_investment_wan_cny, p.lead_investor,
                p.owner_name, p.is_confidential, bool(p.gate_override_reason), card.days_in_stage, card.stale,
                bool(card.overdue_permits), card.gate_missing, card.lapsed_keys, can_move)

    def render(self, request: Request, board: pipeline.Board, texts: dict[str, Any],
               movable: set[int]) -> dict[int, Markup]:
        """`movable`: the ids of the projects the reader may move (service.editable_ids)."""
        locale = request.state.locale
        module = None
        found: dict[int, Markup] = {}
        for cards in board.columns.values():
            for card in cards:
                can_move = card.project.id in movable
                key = self.key(locale, texts["move_query"], card, can_move)
                with self._lock:
                    html = self._kept.get(key)
                    if html is not None:
                        self._kept.move_to_end(key)
                if html is None:
                    if module is None:
                        # the words the macro needs (not base_context: that would take the page's flashes)
                        module = templates.get_template("projects/_card.html").make_module(
                            {"_": bound_gettext(locale)[0], "locale": locale})
                    html = module.card_item(card, texts["move_query"], texts["card_texts"], can_move=can_move)
                    with self._lock:
                        self._kept[key] = html
                        if len(self._kept) > self.size:
                            self._kept.popitem(last=False)
                found[card.project.id] = html
        return found


card_html = CardHtml()


# The board's columns, which of its cards the reader may move, and the filter's choices, kept per data generation
# (crm/generation.py) and per whose view it is: a manager's is every manager's, an officer's their own.
board_kept = generation.Kept("board", size=64)
board_part_kept = generation.Kept("board.html", size=128)


def _board_data(session, user, flt: pipeline.ProjectFilter, view: dict[str, Any]) -> tuple:
    result = pipeline.board(session, flt=flt, viewer=user, **view)
    movable = service.editable_ids(session, user, [c.project.id for cards in result.columns.values() for c in cards])
    return result, frozenset(movable), _filter_choices(session)


@router.get("/board")
def board(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    flt = filters.from_query(request.query_params)
    view = _view(request)
    key = (generation.visibility(user), astuple(flt), view["today"], view["threshold"], view["stale_days"])
    result, movable, choices = board_kept.get(session, key, lambda: _board_data(session, user, flt, view))
    params = {k: v for k, v in request.query_params.items() if k not in ("page", "stage")}
    next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    locale = request.state.locale

    def part() -> str:  # the board block alone: the same for every reader of `key` in this language and address
        cards = card_html.render(request, result, card_texts(request, next_url), movable)
        return generation.render_part("projects/board.html", "board", {
            **generation.part_context(request), "board": result, "params": params, **_labels(), "card_html": cards,
            "board_html": None})

    board_html = generation.with_csrf(board_part_kept.get(session, (*key, locale, next_url), part), request)
    context = {"board": result, "flt": flt, "params": params, **_labels(), "organization": None,
               "next_url": next_url, "board_html": board_html, "filters_html": None}
    if not is_htmx(request):
        context.update(choices)

        def filters_part() -> str:  # the filter bar (its officer list has hundreds of names): the same for everyone
            return templates.get_template("projects/_filters.html").render({
                **generation.part_context(request), **context, "current_user": user, "action": "/projects/board",
                "target": "#board", "with_stage": False})

        filters_key = (user.is_manager, astuple(flt), tuple(sorted(params.items())), locale)
        context["filters_html"] = generation.with_csrf(board_part_kept.get(session, filters_key, filters_part), request)
    return render(request, "projects/board.html", context, block="board")


# Creating and editing

def _user_ids(session) -> list[str]:
    return [str(u.id) for u in auth_service.active_users(session)]


def _fields(session, *, creating: bool, project: Project | None = None):
    industries = organization_service.industry_chains(session, keep_id=project.industry_chain_id if project else None)
    return project_fields(user_ids=_user_ids(session), industry_ids=[str(i.id) for i in industries],
                          parcel_ids=[str(p.id) for p in service.parcels(session)], creating=creating)


def _parse(session, raw, *, creating: bool, project: Project | None = None) -> tuple[FormResult, service.ProjectInput]:
    form = parse(_fields(session, creating=creating, project=project), raw)
    project_input = service.ProjectInput(data=form.data, organization_ids=multi_ids(raw, "organization_ids", limit=30),
                                         officer_ids=multi_ids(raw, "officer_ids", limit=30))
    return form, project_input


def _form_context(request: Request, session, *, form: FormResult, project_input: service.ProjectInput,
                  project: Project | None, **extra: Any) -> dict[str, Any]:
    stale = extra.pop("stale", None)
    organizations = service.organizations_by_id(session, project_input.organization_ids)
    extra.setdefault("org_q", "")
    extra.setdefault("org_options", [])
    return {
        "form": form, "project": project, "stale": stale, **_labels(), "start_stages": START_STAGES,
        "organizations": organizations, "selected_officers": set(project_input.officer_ids),
        "users": auth_service.active_users(session),
        "industries": organization_service.industry_chains(
            session, keep_id=project.industry_chain_id if project else None),
        "parcels": service.parcels(session),
        "visits": visit_service.list_page(session, flt=visit_service.VisitFilter(
            organization_id=organizations[0].id), page=1, per_page=30).items if organizations else [],
        "refs": audit_service.reference_labels(session, stale or [], request.state.locale),
        **extra,
    }


def _render_form(request: Request, session, *, status_code: int = 200, **context: Any) -> Response:
    return render(request, "projects/form.html", _form_context(request, session, **context), block="form",
                  status_code=status_code)


def _investor_round_trip(request: Request, session, raw, form: FormResult, project_input: service.ProjectInput, *,
                         project: Project | None, **extra: Any) -> Response | None:
    """One of the form's investor buttons (schemas.investor_action): the form again with what was typed kept and
    the investors changed, or the organizations matching the search box listed to tick; nothing saved. None when
    the post is a save (the Save button, or Enter with the search box empty)."""
    verb, target = investor_action(str(raw.get("form_action", "")))
    org_q = str(raw.get("org_q", "")).strip()[:100]
    if not verb or (verb == "enter" and not org_q):
        return None
    form.errors.clear()
    project_input.organization_ids = apply_investor_action(project_input.organization_ids, verb, target)
    options = []
    if verb in ("find", "enter") and org_q:
        chosen = set(project_input.organization_ids)
        options = [o for o in organization_service.choices(session, q=org_q, limit=12 + len(chosen))
                   if o.id not in chosen][:12]
    else:
        org_q = ""
    return _render_form(request, session, form=form, project_input=project_input, project=project, org_q=org_q,
                        org_options=options, **extra)


@router.get("/new")
def new(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    org_id = as_id(request.query_params.get("organization", ""))
    form = FormResult(values={"stage": "lead", "owner_id": str(user.id), "source": ""})
    project_input = service.ProjectInput(data={}, organization_ids=[org_id] if org_id else [])
    return render(request, "projects/form.html",
                  _form_context(request, session, form=form, project_input=project_input, project=None))


@router.post("")
def create(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    form, project_input = _parse(session, raw, creating=True)
    if (again := _investor_round_trip(request, session, raw, form, project_input, project=None)) is not None:
        return again
    if (earlier := replay_or_claim(request, session, raw, creates=Project, url=lambda project: f"/projects/{project.id}")) is not None:
        return earlier
    if form.ok:
        try:
            project = service.create(session, project_input=project_input, actor=user)
            return redirect(request, f"/projects/{project.id}", flash=Msg("Project “%(name)s” created.", name=project.name))
        except service.InvalidProject as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return _render_form(request, session, form=form, project_input=project_input, project=None, status_code=422)


@router.post("/from-visit/{visit_id}")
def create_from_visit(request: Request, session: SessionDep, user: CurrentUser, visit: VisitDep) -> Response:
    """The visit page's "create a lead project": one click, the visit's organizations as investors."""
    if not visit.organizations:
        raise BadRequest(Msg("This visit has no organization to make a project for."))
    try:
        project = service.create_from_visit(session, visit=visit, actor=user)
    except service.InvalidProject as bad:
        raise BadRequest(next(iter(bad.errors.values()))) from None
    return redirect(request, f"/projects/{project.id}",
                    flash=Msg("Lead project “%(name)s” created from the visit. Fill in what is known.", name=project.name))


@router.get("/organization-options")
def organization_options(request: Request, session: SessionDep, user: CurrentUser, q: str = "", org_q: str = "",
                         action: str = "/projects") -> Response:
    """The search box's matches as the form's htmx fragment (the same list a "Find" round trip shows)."""
    q = (org_q or q).strip()[:100]
    options = organization_service.choices(session, q=q, limit=12) if q else []
    action = action if action.startswith("/projects") and "//" not in action else "/projects"
    return render(request, "projects/_organization_options.html", {"org_options": options, "org_q": q,
                                                                   "action": action[:100]})


@router.get("/decisions/{decision_id}")
def decision(request: Request, session: SessionDep, user: CurrentUser, decision_id: RecordId) -> Response:
    """Where a decision's audit entries link: its project's page (if the user may see it)."""
    found = service.get_decision(session, decision_id)
    if found is None or not service.is_visible(session, user, found.project_id):
        raise NotFound()
    return RedirectResponse(f"/projects/{found.project_id}#decisions", status_code=303)


# One project

def _show_context(request: Request, session, project: Project, user, **extra: Any) -> dict[str, Any]:
    view = _view(request)
    history = audit_service.entity_history(session, entity_type="project", entity_id=project.id)
    can_edit = service.can_edit(user, project)
    card = pipeline.card(session, project_id=project.id, viewer=user, **view)
    return {
        "project": project, "history": history, "can_edit": can_edit, "card": card,
        "refs": audit_service.reference_labels(session, history, request.state.locale),
        "readiness": gates.readiness(project, threshold=view["threshold"], today=view["today"]),
        "construction": gates.construction_gate(project, view["today"]),
        "needs_decision": gates.needs_decision(project, view["threshold"]),
        "time_in_stages": service.time_in_stages(project, view["now"]),
        "tasks": task_service.for_project(session, project_id=project.id),
        "visits": (linked := service.linked_visits(session, project)),
        "visit_choices": [v for v in visit_service.list_page(session, flt=visit_service.VisitFilter(
            organization_id=project.investors[0].organization_id), page=1, per_page=30).items
            if v.id not in {w.id for w in linked}] if can_edit and project.investors else [],
        "decision_files": attachment_service.list_for_many(session, "project_decision", [d.id for d in project.decisions]),
        "decision_form": extra.pop("decision_form", FormResult(values={"meeting_kind": "joint",
                                                                        "meeting_on": view["today"].isoformat()})),
        "approval_form": extra.pop("approval_form", FormResult()), "editing": extra.pop("editing", None),
        "move_form": extra.pop("move_form", FormResult()), "refused": extra.pop("refused", None),
        **view, **_labels(),
        "gates": gates, "upload_limit_mb": _settings(request).max_upload_mb,
        "upload_accept": attachment_service.ACCEPT, "upload_types": attachment_service.ALLOWED_TEXT,
        **panel_context(request, session, user, entity_type="project", entity_id=project.id,
                        next_url=f"/projects/{project.id}", can_change=can_edit),
        **extra,
    }


@router.get("/{project_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep) -> Response:
    return render(request, "projects/show.html", _show_context(request, session, project, user))


def _values_of(project: Project) -> dict[str, str]:
    values = {k: ("" if v is None else str(v)) for k, v in audit_service.snapshot(project, service.SCALAR_FIELDS).items()}
    for name in ("is_foreign_invested", "is_confidential"):
        values[name] = "1" if getattr(project, name) else ""
    return values


def _input_of(project: Project) -> service.ProjectInput:
    return service.ProjectInput(data={}, organization_ids=[po.organization_id for po in project.investors],
                                officer_ids=[o.user_id for o in project.officers])


def _require_edit(user, project: Project) -> None:
    if not service.can_edit(user, project):
        raise Forbidden()


@router.get("/{project_id}/edit")
def edit(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep) -> Response:
    _require_edit(user, project)
    return render(request, "projects/form.html", _form_context(
        request, session, form=FormResult(values=_values_of(project)), project_input=_input_of(project),
        project=project, version=project.version))


@router.post("/{project_id}")
def update(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep, raw: FormDep) -> Response:
    _require_edit(user, project)
    form, project_input = _parse(session, raw, creating=False, project=project)
    version = parse_version(raw)
    if (again := _investor_round_trip(request, session, raw, form, project_input, project=project,
                                      version=version)) is not None:
        return again
    if form.ok:
        try:
            service.update(session, project=project, project_input=project_input, version=version, actor=user,
                           rules=_rules(request), override_reason=form.data.get("gate_override_reason") or "")
            return redirect(request, f"/projects/{project.id}", flash=Msg("Changes saved."))
        except PermissionDenied:
            raise Forbidden() from None
        except StaleEdit as stale:
            current = service.get(session, project.id)
            return _render_form(request, session, form=form, project_input=project_input, project=current,
                                version=current.version, stale=stale.changes, status_code=409)
        except service.InvalidProject as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return _render_form(request, session, form=form, project_input=project_input, project=project, version=version,
                        status_code=422)


# Archiving (instead of deleting: see service.archive)

def _require_archive(user) -> None:
    if not service.can_archive(user):
        raise Forbidden()


@router.get("/{project_id}/archive")
def confirm_archive(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep) -> Response:
    """The confirmation page (what archiving does to the project and its links); managers and admins only."""
    _require_archive(user)
    if project.is_archived:
        return redirect(request, f"/projects/{project.id}")
    return render(request, "projects/archive.html", {
        "project": project, "open_tasks": service.open_tasks(session, project.id),
        "visits": len(service.linked_visits(session, project)),
        "slates": service.slated_in(session, project.id)})


def _set_archived(request: Request, session, user, project: Project, raw, *, archived: bool) -> Response:
    _require_archive(user)
    try:
        (service.archive if archived else service.restore)(session, project=project, version=parse_version(raw),
                                                           actor=user)
    except PermissionDenied:
        raise Forbidden() from None
    except StaleEdit:
        return redirect(request, f"/projects/{project.id}", flash=Msg(
            "Someone else changed this project after you opened the page. Nothing was changed: check it and try again."))
    except service.NotArchivable:
        return redirect(request, f"/projects/{project.id}")
    if archived:
        return redirect(request, "/projects", flash=Msg(
            "“%(name)s” archived. It no longer shows in lists; a manager can restore it from its page "
            "(Projects → Archived projects).", name=project.name))
    return redirect(request, f"/projects/{project.id}", flash=Msg("“%(name)s” restored.", name=project.name))


@router.post("/{project_id}/archive")
def archive(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep, raw: FormDep) -> Response:
    return _set_archived(request, session, user, project, raw, archived=True)


@router.post("/{project_id}/restore")
def restore(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep, raw: FormDep) -> Response:
    return _set_archived(request, session, user, project, raw, archived=False)


# Moving between stages

def _move_page(request: Request, session, project: Project, user, *, form: FormResult, refused: list[Msg] | None,
               status_code: int = 200) -> Response:
    context = {**_show_context(request, session, project, user, move_form=form, refused=refused),
               "next_url": safe_next(form.values.get("next") or f"/projects/{project.id}")}
    return render(request, "projects/move.html", context, block="refusal", status_code=status_code)


@router.get("/{project_id}/move")
def move_form(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep) -> Response:
    """The move as a page of its own: where a card's menu leads without JavaScript, and where a refusal is shown."""
    _require_edit(user, project)
    stage = request.query_params.get("stage", "")
    values = {"stage": stage if stage in {s.value for s in ALL_STAGES} else "",
              "next": safe_next(request.query_params.get("next") or f"/projects/{project.id}")}
    return _move_page(request, session, project, user, form=FormResult(values=values), refused=None)


@router.post("/{project_id}/move")
def move(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep, raw: FormDep) -> Response:
    """Moves the project (service.move decides). A card dragged on the board (htmx): the card again, or 422 with
    the reason (the board puts the card back). A form: back to where it came from, or the move page with the
    reason."""
    _require_edit(user, project)
    form = parse(move_fields(), raw)
    form.values["next"] = safe_next(str(raw.get("next", "")) or f"/projects/{project.id}")
    version = parse_version(raw)
    status_code = 422
    if form.ok:
        try:
            service.move(session, project=project, to_stage=form.data["stage"], version=version, actor=user,
                         rules=_rules(request), note=form.data.get("note", ""), reason=form.data.get("reason", ""),
                         override_reason=form.data.get("override_reason", ""))
            moved_to = Msg("“%(name)s” moved to %(stage)s.", name=project.name,  # a flash holds plain parameters
                           stage=gettext(request.state.locale, STAGE_LABELS[project.stage]))
            if is_htmx(request):
                card = pipeline.card(session, project_id=project.id, viewer=user, **_view(request))
                return render(request, "projects/_card.html", {"card": card, **_labels(), "next_url": form.values["next"],
                                                               "message": moved_to,
                                                               "can_move": service.can_edit(user, project),
                                                               **card_texts(request, form.values["next"])},
                              headers={"HX-Trigger": "projects-changed"})
            return redirect(request, form.values["next"], flash=moved_to)
        except PermissionDenied:
            raise Forbidden() from None
        except StaleEdit:
            status_code = 409
            refused = [Msg("Someone else changed or moved this project after you opened the page. Nothing was "
                           "moved: reload to see where it stands now.")]
        except service.MoveRefused as no:
            refused = no.reasons
    else:
        refused = list(form.errors.values())
    session.rollback()
    fresh = service.get(session, project.id)
    return _move_page(request, session, fresh, user, form=form, refused=refused, status_code=status_code)


# Collective decisions

@router.post("/{project_id}/decisions")
@accepts_upload
def record_decision(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep,
                    raw: FormDep) -> Response:
    if not user.is_manager or project.is_archived:
        raise Forbidden()
    if (earlier := replay_or_claim(request, session, raw, creates=Decision, url=lambda decision: f"/projects/{decision.project_id}#decisions")) is not None:
        return earlier
    today = local_today(request)
    form = parse(decision_fields(today=today), raw)
    files: list[tuple[str, bytes]] = []
    upload = raw.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = upload.file.read(upload_limit_bytes(request) + 1)
        problem = attachment_service.check_upload(upload.filename, data, upload_limit_bytes(request))
        if problem:
            form.add_error("file", problem)
        else:
            files.append((upload.filename, data))
    if form.ok:
        try:
            service.record_decision(session, project=project, data=form.data, actor=user, today=today, files=files,
                                    store=service.FileStore(data_dir=_settings(request).data_dir,
                                                            max_bytes=upload_limit_bytes(request)))
            return redirect(request, f"/projects/{project.id}#decisions", flash=Msg("Decision recorded."))
        except service.InvalidProject as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    fresh = service.get(session, project.id)
    return render(request, "projects/show.html", _show_context(request, session, fresh, user, decision_form=form),
                  status_code=422)


@router.post("/{project_id}/visits")
def link_visit(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep, raw: FormDep) -> Response:
    """Links one of the investors' visits to the project (it then counts against staleness and shows here)."""
    _require_edit(user, project)
    visit = visit_service.get(session, as_id(str(raw.get("visit_id", ""))) or 0)
    if visit is None:
        raise BadRequest(Msg("There is no such visit."))
    service.link_visit(session, project=project, visit=visit, actor=user)
    return redirect(request, f"/projects/{project.id}#project-visits", flash=Msg("Visit linked."))


# The permit checklist, changed in place

def _approvals(request: Request, session, project_id: int, user, *, status_code: int = 200, **extra: Any) -> Response:
    project = service.get(session, project_id)
    return render(request, "projects/show.html", _show_context(request, session, project, user, **extra),
                  block="approvals", status_code=status_code)


@router.get("/{project_id}/approvals")
def approvals(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep) -> Response:
    return _approvals(request, session, project.id, user)


@router.get("/{project_id}/approvals/{item_id}/edit")
def edit_approval(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep,
                  item_id: RecordId) -> Response:
    _require_edit(user, project)
    item = service.find_approval(project, item_id)
    if item is None:
        raise NotFound()
    values = {"status": item.status, "promised_days": str(item.promised_days or ""),
              "assistant_id": str(item.assistant_id or ""), "assistant": "" if item.assistant_id else item.assistant,
              "note": item.note, **{name: getattr(item, name).isoformat() if getattr(item, name) else ""
                                    for name in ("submitted_on", "accepted_on", "approved_on")}}
    return _approvals(request, session, project.id, user, editing=item.id, approval_form=FormResult(values=values),
                      assistant_users=service.assistant_choices(session, item))


@router.post("/{project_id}/approvals/{item_id}")
def update_approval(request: Request, session: SessionDep, user: CurrentUser, project: ProjectDep, item_id: RecordId,
                    raw: FormDep) -> Response:
    _require_edit(user, project)
    item = service.find_approval(project, item_id)
    if item is None:
        raise NotFound()
    form = parse(approval_fields(), raw)
    if form.ok:
        try:
            service.update_approval(session, project=project, item=item, data=form.data, actor=user,
                                    today=local_today(request))
            if is_htmx(request):
                return _approvals(request, session, project.id, user)
            return redirect(request, f"/projects/{project.id}#approvals", flash=Msg("Changes saved."))
        except service.InvalidProject as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return _approvals(request, session, project.id, user, editing=item.id, approval_form=form, status_code=422,
                      assistant_users=service.assistant_choices(session, item))
