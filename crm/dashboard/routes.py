"""GET /: the dashboard (工作台). Managers see the zone's figures; officers their own work. Every number is a link to
the list behind it."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from crm.assessment.models import COUNT_METRICS, METRICS
from crm.assessment.schemas import METRIC_LABELS
from crm.auth.deps import CurrentUser
from crm.dashboard import service
from crm.db import SessionDep, utcnow
from crm.indicators.schemas import UNIT_LABELS
from crm.organizations import service as organization_service
from crm.organizations.schemas import KIND_LABELS
from crm.projects.models import PIPELINE, SIDE_STATES
from crm.projects.schemas import STAGE_LABELS
from crm.visits.schemas import KIND_LABELS as VISIT_KIND_LABELS
from crm.web import Router, local_today, render

router = Router()


@router.get("/")
def home(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    settings = request.app.state.settings
    clock = service.Clock(now=utcnow(), today=local_today(request), timezone=settings.timezone)
    rules = {"threshold": settings.major_project_threshold_wan_cny, "stale_days": settings.project_stale_days}
    context = {"clock": clock, "kind_labels": KIND_LABELS, "visit_kind_labels": VISIT_KIND_LABELS,
               "stage_labels": STAGE_LABELS, "pipeline_stages": PIPELINE, "side_states": SIDE_STATES,
               "unit_labels": UNIT_LABELS, "metrics": METRICS, "count_metrics": COUNT_METRICS,
               "metric_labels": METRIC_LABELS, "quote": quote,
               "upcoming": service.upcoming(session, clock=clock), "manager": None, "officer": None, "mine": None,
               "due": service.due(session, viewer=user, clock=clock)}
    if user.is_manager:
        context["manager"] = service.manager_view(session, viewer=user, clock=clock, locale=request.state.locale,
                                                  export_margin_points=settings.export_behind_margin_points, **rules)
    else:
        context["officer"] = service.officer_view(session, viewer=user, clock=clock, **rules)
        context["mine"] = organization_service.list_page(
            session, flt=organization_service.OrganizationFilter(owner_id=user.id), page=1, per_page=10)
    return render(request, "dashboard/index.html", context)
