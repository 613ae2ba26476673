"""The header's search box: organizations, contacts, visits and projects (those the user may see), grouped by kind."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from crm.auth.deps import CurrentUser
from crm.contacts import service as contact_service
from crm.db import SessionDep
from crm.organizations import service as organization_service
from crm.organizations.schemas import KIND_LABELS
from crm.projects import pipeline as project_pipeline
from crm.projects.schemas import STAGE_LABELS
from crm.visits import service as visit_service
from crm.visits.schemas import KIND_LABELS as VISIT_KIND_LABELS
from crm.web import Router, is_htmx, render

router = Router(prefix="/search")

PER_KIND = 8
COUNT_PAGES = 0  # the drop-down only says whether there are more than it shows ("8+"); "All results" counts


@router.get("")
def search(request: Request, session: SessionDep, user: CurrentUser, q: str = "") -> Response:
    q = q.strip()[:100]
    if not q and is_htmx(request):
        return HTMLResponse("")  # the box was cleared: the drop-down closes
    groups = []
    if q:
        organizations = organization_service.list_page(
            session, flt=organization_service.OrganizationFilter(q=q, sort="name"), page=1, per_page=PER_KIND,
            lookahead_pages=COUNT_PAGES)
        contacts = contact_service.list_page(
            session, flt=contact_service.ContactFilter(q=q, sort="name"), page=1, per_page=PER_KIND,
            lookahead_pages=COUNT_PAGES)
        visits = visit_service.search_page(session, q=q, per_page=PER_KIND, lookahead_pages=COUNT_PAGES)
        projects = project_pipeline.search_page(session, q=q, viewer=user, per_page=PER_KIND)
        groups = [("organizations", organizations), ("contacts", contacts), ("visits", visits), ("projects", projects)]
    context = {"q": q, "groups": groups, "kind_labels": KIND_LABELS, "visit_kind_labels": VISIT_KIND_LABELS,
               "stage_labels": STAGE_LABELS,
               "total": sum(page.total for _, page in groups)}
    return render(request, "search/index.html", context, block="results")
