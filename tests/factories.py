"""Test data, created through the services so audit entries and search text are what the app makes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count

from sqlalchemy.orm import Session

from crm.auth import service as auth_service
from crm.auth.models import User
from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.organizations import service as organization_service
from crm.organizations.models import Organization
from crm.tasks import service as task_service
from crm.tasks.models import Task
from crm.visits.models import TourStop, Visit, VisitOrganization

PASSWORD = "secret-pass-1"
_seq = count(1)


def make_user(session: Session, *, username: str | None = None, role: str = "officer", display_name: str | None = None,
              password: str = PASSWORD, locale: str = "zh_CN") -> User:
    username = username or f"user{next(_seq)}"
    return auth_service.create_user(session, username=username, display_name=display_name or username,
                                    password=password, role=role, actor=None, locale=locale)


def make_org(session: Session, *, actor: User, name: str | None = None, **fields) -> Organization:
    data = {
        "name": name or f"测试机构{next(_seq)}", "name_en": "", "credit_code": None, "kind": "investor",
        "industry_chain_id": None, "ownership": "", "country_region": "", "city": "", "address": "",
        "website": "", "tags": "", "description": "", "owner_id": actor.id,
    }
    data.update(fields)
    return organization_service.create(session, data=data, actor=actor)


def make_contact(session: Session, *, actor: User, organization: Organization, name: str = "祝文魁", **fields) -> Contact:
    data = {"organization_id": organization.id, "name": name, "title": "", "mobile": "", "phone": "", "email": "",
            "wechat": "", "notes": ""}
    data.update(fields)
    return contact_service.create(session, data=data, actor=actor)


def make_task(session: Session, *, actor: User, **fields) -> Task:
    """A follow-up, by default assigned to `actor`, due 2026-12-02, linked to nothing; `fields` override."""
    data = {"title": f"跟进事项{next(_seq)}", "description": "", "assignee_id": actor.id, "due_on": date(2026, 12, 2),
            "due_time": None, "priority": "normal", "organization_id": None, "contact_id": None}
    data.update(fields)
    return task_service.create(session, data=data, actor=actor)


def make_visit(session: Session, *, title: str, officer: User, organizations=(), starts_at: datetime | None = None,
               ends_at: datetime | None = None, status: str = "planned", kind: str = "inbound", place: str = "",
               outcome: str = "", stops=()) -> Visit:
    """A visit inserted directly (no audit, no search terms): by default 2026-12-02 09:30–11:30 in Beijing time.
    `organizations` in order (the first leads); `stops` are zone enterprises toured, in order."""
    starts_at = starts_at or datetime(2026, 12, 2, 1, 30, tzinfo=UTC)
    visit = Visit(title=title, kind=kind, status=status, starts_at=starts_at,
                  ends_at=ends_at or starts_at + timedelta(hours=2), place=place, outcome=outcome,
                  officer_id=officer.id, created_by_id=officer.id, search_text="")
    visit.organizations = [VisitOrganization(organization_id=org.id, position=i) for i, org in enumerate(organizations)]
    visit.stops = [TourStop(organization_id=org.id, position=i) for i, org in enumerate(stops)]
    session.add(visit)
    session.commit()
    return visit


def make_project(session: Session, *, actor: User, organizations=(), name: str | None = None, stage: str = "lead",
                 owner: User | None = None, officers=(), **fields):
    """A project through the service (checklist from the template, first stage in the history, audit, search);
    `fields` are form values (strings): total_investment_wan_cny="12000", is_confidential="1", …"""
    from crm.projects import service as project_service

    organizations = list(organizations) or [make_org(session, actor=actor)]
    data = {"name": name or f"测试项目{next(_seq)}", "stage": stage, "owner_id": (owner or actor).id}
    data.update(fields)
    return project_service.create(session, project_input=project_service.ProjectInput(
        data=data, organization_ids=[o.id for o in organizations], officer_ids=[o.id for o in officers]), actor=actor)
