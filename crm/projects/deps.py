from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.auth.deps import CurrentUser
from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.projects import service
from crm.projects.models import Project


def project_by_id(project_id: RecordId, session: SessionDep, user: CurrentUser) -> Project:
    """The project, or 404 when there is none or the user may not see it (a confidential one of others)."""
    return found(service.get_visible(session, project_id, user))


ProjectDep = Annotated[Project, Depends(project_by_id)]
