"""Who may see and who may change a record's attachments, by record type: the one place that decides it.

Each record type that carries attachments registers two rules, `(session, user, record_id) -> bool`. A type that
is not registered has no attachments: routes answer 404, as for a record that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crm.auth.models import User
from crm.major_projects.models import MonthlyReport
from crm.projects import service as project_service
from crm.projects.models import Decision, Project
from crm.visits import service as visit_service
from crm.visits.models import Visit

Rule = Callable[[Session, User, int], bool]


@dataclass(frozen=True)
class RecordAccess:
    can_see: Rule  # False also when the record does not exist
    can_change: Rule  # add and remove files; only asked when can_see is True


ACCESS: dict[str, RecordAccess] = {}


def register(entity_type: str, *, can_see: Rule, can_change: Rule) -> None:
    ACCESS[entity_type] = RecordAccess(can_see=can_see, can_change=can_change)


def can_see(session: Session, user: User, entity_type: str, entity_id: int) -> bool:
    access = ACCESS.get(entity_type)
    return access is not None and user.is_active and access.can_see(session, user, entity_id)


def can_change(session: Session, user: User, entity_type: str, entity_id: int) -> bool:
    access = ACCESS.get(entity_type)
    return (access is not None and user.is_active and access.can_see(session, user, entity_id)
            and access.can_change(session, user, entity_id))


# Visits: every signed-in user sees every visit; whoever may edit the visit (a manager, its officer, whoever
# recorded it, one of our attendees: visit_service.can_change) may add and remove its files.

def _visit_can_see(session: Session, user: User, visit_id: int) -> bool:
    return session.get(Visit, visit_id) is not None


def _visit_can_change(session: Session, user: User, visit_id: int) -> bool:
    visit = session.scalar(select(Visit).options(selectinload(Visit.hosts)).where(Visit.id == visit_id))
    return visit is not None and visit_service.can_change(user, visit)


register("visit", can_see=_visit_can_see, can_change=_visit_can_change)


# Projects: whoever may see the project (project_service.visible_to: a confidential one only its owning and assigned
# officers, managers and admins) sees its files; whoever may edit it (project_service.can_edit) changes them. A
# collective decision's minutes follow its project; only managers, who record decisions, change them.

def _project_can_see(session: Session, user: User, project_id: int) -> bool:
    return project_service.is_visible(session, user, project_id)


def _project_can_change(session: Session, user: User, project_id: int) -> bool:
    project = session.scalar(select(Project).options(selectinload(Project.officers)).where(Project.id == project_id))
    return project is not None and project_service.can_edit(user, project)


def _decision_can_see(session: Session, user: User, decision_id: int) -> bool:
    decision = session.get(Decision, decision_id)
    return decision is not None and project_service.is_visible(session, user, decision.project_id)


def _decision_can_change(session: Session, user: User, decision_id: int) -> bool:
    return user.is_manager


register("project", can_see=_project_can_see, can_change=_project_can_change)
register("project_decision", can_see=_decision_can_see, can_change=_decision_can_change)


# A major project's monthly report (photos of the site): seen by whoever may see its project, changed by whoever may
# edit it (who files the report).

def _report_can_see(session: Session, user: User, report_id: int) -> bool:
    report = session.get(MonthlyReport, report_id)
    return report is not None and project_service.is_visible(session, user, report.project_id)


def _report_can_change(session: Session, user: User, report_id: int) -> bool:
    report = session.get(MonthlyReport, report_id)
    return report is not None and _project_can_change(session, user, report.project_id)


register("major_project_report", can_see=_report_can_see, can_change=_report_can_change)
