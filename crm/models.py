"""Every model, imported in one place for Alembic and metadata.create_all."""

from crm.audit.models import AuditEntry
from crm.auth.models import LoginThrottle, User, WebSession
from crm.contacts.models import Contact
from crm.db import Base
from crm.organizations.models import IndustryChain, Organization, OrganizationTag, Tag
from crm.search.models import SearchTerm
from crm.tasks.models import Task

__all__ = [
    "AuditEntry", "Base", "Contact", "IndustryChain", "LoginThrottle", "Organization", "OrganizationTag", "SearchTerm",
    "Tag", "Task", "User", "WebSession",
]
