"""Test data, created through the services so audit entries and search text are what the app makes."""

from __future__ import annotations

from datetime import date
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
