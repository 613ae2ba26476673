"""The home page: what is due, the delegations coming, what the signed-in user owns and what changed lately."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from crm.auth.deps import CurrentUser
from crm.db import SessionDep, utcnow
from crm.organizations import service as organization_service
from crm.organizations.schemas import KIND_LABELS
from crm.tasks import service as task_service
from crm.visits import service as visit_service
from crm.visits.schemas import KIND_LABELS as VISIT_KIND_LABELS
from crm.web import local_today, render

router = APIRouter()


@router.get("/")
def home(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    mine = organization_service.list_page(
        session, flt=organization_service.OrganizationFilter(owner_id=user.id), page=1, per_page=10
    )
    recent = organization_service.list_page(session, flt=organization_service.OrganizationFilter(), page=1, per_page=10)
    today = local_today(request)
    overdue, due_today = task_service.due_counts(session, assignee_id=user.id, today=today)
    upcoming = visit_service.upcoming(session, now=utcnow(), days=14, limit=8)
    return render(request, "home.html", {"mine": mine, "recent": recent, "kind_labels": KIND_LABELS,
                                         "overdue": overdue, "due_today": due_today, "upcoming": upcoming,
                                         "visit_kind_labels": VISIT_KIND_LABELS})
