"""The header's search box: organizations, contacts, visits and projects (those the user may see), grouped by kind."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from crm import generation
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
# The results of a query as HTML, kept per data generation (crm/generation.py): the box asks on every keystroke,
# and a common word (新能源: hundreds of candidates per kind) costs ~20 ms to gather.
results_kept = generation.Kept("search", size=512)


@router.get("")
def search(request: Request, session: SessionDep, user: CurrentUser, q: str = "") -> Response:
    q = q.strip()[:100]
    if not q and is_htmx(request):
        return HTMLResponse("")  # the box was cleared: the drop-down closes
    context = {"q": q, "groups": [], "kind_labels": KIND_LABELS, "visit_kind_labels": VISIT_KIND_LABELS,
               "stage_labels": STAGE_LABELS, "total": 0, "results_html": None}
    if q:
        def part() -> str:
            organizations = organization_service.list_page(
                session, flt=organization_service.OrganizationFilter(q=q, sort="name"), page=1, per_page=PER_KIND,
                lookahead_pages=COUNT_PAGES)
            contacts = contact_service.list_page(
                session, flt=contact_service.ContactFilter(q=q, sort="name"), page=1, per_page=PER_KIND,
                lookahead_pages=COUNT_PAGES)
            visits = visit_service.search_page(session, q=q, per_page=PER_KIND, lookahead_pages=COUNT_PAGES)
            projects = project_pipeline.search_page(session, q=q, viewer=user, per_page=PER_KIND)
            groups = [("organizations", organizations), ("contacts", contacts), ("visits", visits),
                      ("projects", projects)]
            return generation.render_part("search/index.html", "results", {
                **generation.part_context(request), **context, "groups": groups,
                "total": sum(page.total for _, page in groups)})

        # Only the projects depend on who reads (visible_to): the results are kept per whose view they are.
        html = results_kept.get(session, (generation.visibility(user), q, request.state.locale), part)
        context["results_html"] = generation.with_csrf(html, request)
    return render(request, "search/index.html", context, block="results")
