"""GET /: the dashboard (工作台). Managers see the zone's figures; officers their own work. Every number is a link to
the list behind it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.routing import Match

from crm.assessment.models import COUNT_METRICS, METRICS
from crm.assessment.schemas import METRIC_LABELS
from crm.auth.deps import CurrentUser, works_with_business_data
from crm.auth.models import Role
from crm.dashboard import service
from crm.db import SessionDep, utcnow
from crm.i18n import bound_gettext
from crm.indicators.schemas import UNIT_LABELS
from crm.organizations import service as organization_service
from crm.organizations.schemas import KIND_LABELS
from crm.projects.models import PIPELINE, SIDE_STATES
from crm.projects.schemas import STAGE_LABELS
from crm.visits.schemas import KIND_LABELS as VISIT_KIND_LABELS
from crm.web import Router, local_today, render, templates

router = Router()


# The security and audit administrators see no business data: their home is their own work (the first of these
# pages the app serves).
OWN_HOMES = {
    Role.AUDIT_ADMIN: ("/admin/audit",),
    Role.SECURITY_ADMIN: ("/admin/security/sign-in", "/admin/security/policy", "/account"),
}


def _serves(request: Request, path: str) -> bool:
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.routes)


def own_home(request: Request, user) -> str | None:
    """Where `/` takes a user who does not work with business data; None for everyone else."""
    if works_with_business_data(user):
        return None
    candidates = OWN_HOMES.get(Role(user.role), ("/account",))
    return next((path for path in candidates if _serves(request, path)), candidates[-1])


@router.get("/")
def home(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    if (elsewhere := own_home(request, user)) is not None:
        return RedirectResponse(elsewhere, status_code=303)
    settings = request.app.state.settings
    clock = service.Clock(now=utcnow(), today=local_today(request), timezone=settings.timezone)
    rules = {"threshold": settings.major_project_threshold_wan_cny, "stale_days": settings.project_stale_days}
    context = {"clock": clock, "kind_labels": KIND_LABELS, "visit_kind_labels": VISIT_KIND_LABELS,
               "stage_labels": STAGE_LABELS, "pipeline_stages": PIPELINE, "side_states": SIDE_STATES,
               "unit_labels": UNIT_LABELS, "metrics": METRICS, "count_metrics": COUNT_METRICS,
               "metric_labels": METRIC_LABELS, "quote": quote,
               "upcoming": service.kept_upcoming(session, clock=clock), "manager": None, "officer": None,
               "mine": None, "manager_sections": None, "due": service.due(session, viewer=user, clock=clock)}
    if user.is_manager:
        locale = request.state.locale
        gettext, ngettext = bound_gettext(locale)
        words = {**context, "_": gettext, "ngettext": ngettext, "locale": locale, "timezone": settings.timezone}

        def sections(view: service.ManagerView) -> Markup:
            # the managers' sections alone, from what every manager sees alike (no user, no CSRF token, no flash)
            html = templates.get_template("dashboard/_sections.html").render({**words, "manager": view})
            return Markup(html)  # noqa: S704 - a template rendered with autoescape

        context["manager"], context["manager_sections"] = service.kept_manager_view(
            session, viewer=user, clock=clock, locale=locale, sections=sections,
            export_margin_points=settings.export_behind_margin_points, **rules)
    else:
        context["officer"] = service.officer_view(session, viewer=user, clock=clock, **rules)
        context["mine"] = organization_service.list_page(
            session, flt=organization_service.OrganizationFilter(owner_id=user.id), page=1, per_page=10)
    return render(request, "dashboard/index.html", context)
