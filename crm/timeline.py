"""An organization's timeline: the changes to it and its records (audit), the visits it made, the tour stops it
hosted and the projects it invests in (those the viewer may see), newest first, one page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, String, bindparam, func, literal, or_, select, union_all
from sqlalchemy.orm import Session, joinedload, load_only

from crm.audit.models import AuditAction, AuditEntry
from crm.auth.models import User
from crm.exports.models import ExportSupport
from crm.listing import LOOKAHEAD_PAGES, Page, Statements, clamp_page
from crm.projects import service as project_service
from crm.projects.models import Project, ProjectOrganization
from crm.visits.models import TourStop, Visit, VisitOrganization

SUPPORT_ENTITY = "export_support"  # crm.exports.service.ENTITY_SUPPORT
PAGE_SIZE = 25  # entries a timeline page shows; "Older" brings the next


@dataclass
class TimelineItem:
    kind: str  # "audit", "visit", "stop", "project" or "support" (export service log)
    at: datetime
    entry: AuditEntry | None = None
    visit: Visit | None = None
    stop: TourStop | None = None
    project: Project | None = None
    support: ExportSupport | None = None


def _sources(organization_id, viewer: User | None):
    # A service-log entry shows once, as its "support" item: the audit entry of its creation is left out (its
    # deletion stays, the only trace once the entry is gone).
    audits = select(literal("audit", String).label("kind"), AuditEntry.id.label("id"), AuditEntry.at.label("at")).where(
        or_(AuditEntry.organization_id == organization_id,
            (AuditEntry.entity_type == "organization") & (AuditEntry.entity_id == organization_id)),
        ~((AuditEntry.entity_type == SUPPORT_ENTITY) & (AuditEntry.action == AuditAction.CREATE)))
    visits = (select(literal("visit", String), Visit.id, Visit.starts_at)
              .join(VisitOrganization, VisitOrganization.visit_id == Visit.id)
              .where(VisitOrganization.organization_id == organization_id))
    # A stop without its own time takes its visit's; a subquery, not a join, keeps this part on the stop's index
    # (a join read each stop's whole visit row: 21 ms for an enterprise that hosted 3,000 stops, now 1 ms).
    visit_start = select(Visit.starts_at).where(Visit.id == TourStop.visit_id).scalar_subquery()
    stops = (select(literal("stop", String), TourStop.id, func.coalesce(TourStop.starts_at, visit_start))
             .where(TourStop.organization_id == organization_id))
    # A project shows when it was created; a confidential one only to those who may see it (no viewer: none).
    projects = (select(literal("project", String), Project.id, Project.created_at)
                .join(ProjectOrganization, ProjectOrganization.project_id == Project.id)
                .where(ProjectOrganization.organization_id == organization_id,
                       project_service.visible_to(viewer) if viewer
                       else Project.is_confidential.is_(False) & Project.archived_at.is_(None)))
    # Export support given to the enterprise (crm/exports service log), at its date
    support = (select(literal("support", String), ExportSupport.id, ExportSupport.given_at)
               .where(ExportSupport.organization_id == organization_id))
    return union_all(audits, visits, stops, projects, support).subquery()


# The statements are built once and reused (building them cost a page more than running them, issue 17): the
# merged sources per viewer (the projects part is the viewer's visibility rule, so they are kept per user and role,
# never shared between users; they hold SQL, not results), the organization, page and ids as bound parameters.
_STATEMENTS = Statements()
_IDS = bindparam("ids", expanding=True)
_SHOWN = (Visit.id, Visit.title, Visit.kind, Visit.status, Visit.starts_at)  # what a timeline line shows of a visit
_LOADERS = {
    "audit": select(AuditEntry).where(AuditEntry.id.in_(_IDS)),
    "visit": select(Visit).where(Visit.id.in_(_IDS)).options(load_only(*_SHOWN)),
    "stop": select(TourStop).where(TourStop.id.in_(_IDS))
    .options(load_only(TourStop.id, TourStop.visit_id, TourStop.shown), joinedload(TourStop.visit).load_only(*_SHOWN)),
    "project": select(Project).where(Project.id.in_(_IDS)).options(load_only(Project.id, Project.name, Project.stage)),
    "support": select(ExportSupport).where(ExportSupport.id.in_(_IDS)).options(joinedload(ExportSupport.officer)),
}


def _statements(viewer: User | None) -> tuple[Select, Select]:
    """(the page's rows, their count up to `cap`) for `viewer`, with parameters organization_id, offset, limit, cap."""
    def build() -> tuple[Select, Select]:
        merged = _sources(bindparam("organization_id"), viewer)
        rows = (select(merged.c.kind, merged.c.id, merged.c.at)
                .order_by(merged.c.at.desc(), merged.c.kind, merged.c.id.desc())
                .offset(bindparam("offset")).limit(bindparam("limit")))
        count = select(func.count()).select_from(select(merged.c.id).limit(bindparam("cap")).subquery())
        return rows, count
    return _STATEMENTS.get(None if viewer is None else (viewer.id, viewer.is_manager), build)


def organization_timeline(session: Session, *, organization_id: int, page: int, per_page: int,
                          viewer: User | None = None) -> Page:
    rows_statement, count_statement = _statements(viewer)
    cap = (page + LOOKAHEAD_PAGES) * per_page  # counted no further (listing.count_up_to)
    counted = session.scalar(count_statement, {"organization_id": organization_id, "cap": cap + 1}) or 0
    total, more = (cap, True) if counted > cap else (counted, False)
    page = clamp_page(page, total, per_page)
    rows = session.execute(rows_statement, {"organization_id": organization_id, "offset": (page - 1) * per_page,
                                            "limit": per_page}).all()
    wanted: dict[str, list[int]] = {"audit": [], "visit": [], "stop": [], "project": [], "support": []}
    for kind, record_id, _ in rows:
        wanted[kind].append(record_id)
    # Each kind is loaded whether or not this page has any, so a page costs the same queries whatever its mix.
    entries, visits, stops, projects, supports = (
        {record.id: record for record in session.scalars(_LOADERS[kind], {"ids": wanted[kind]})}
        for kind in ("audit", "visit", "stop", "project", "support"))
    items = []
    for kind, record_id, at in rows:
        item = TimelineItem(kind=kind, at=at)
        if kind == "audit" and record_id in entries:
            item.entry = entries[record_id]
        elif kind == "visit" and record_id in visits:
            item.visit = visits[record_id]
        elif kind == "stop" and record_id in stops:
            item.stop = stops[record_id]
            item.visit = item.stop.visit
        elif kind == "project" and record_id in projects:
            item.project = projects[record_id]
        elif kind == "support" and record_id in supports:
            item.support = supports[record_id]
        else:
            continue
        items.append(item)
    return Page(items=items, total=total, page=page, per_page=per_page, more=more)
