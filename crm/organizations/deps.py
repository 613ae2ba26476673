from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.organizations import service
from crm.organizations.models import Organization


def organization_by_id(organization_id: RecordId, session: SessionDep) -> Organization:
    return found(service.get(session, organization_id))


OrganizationDep = Annotated[Organization, Depends(organization_by_id)]
