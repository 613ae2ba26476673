from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.db import RecordId, SessionDep
from crm.errors import NotFound
from crm.organizations import service
from crm.organizations.models import Organization


def organization_by_id(organization_id: RecordId, session: SessionDep) -> Organization:
    org = service.get(session, organization_id)
    if org is None:
        raise NotFound()
    return org


OrganizationDep = Annotated[Organization, Depends(organization_by_id)]
