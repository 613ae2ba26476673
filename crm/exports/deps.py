from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.exports import service
from crm.exports.models import ExportEnterprise, ExportSupport


def member_by_organization(organization_id: RecordId, session: SessionDep) -> ExportEnterprise:
    return found(service.get_member(session, organization_id))


def support_by_id(support_id: RecordId, session: SessionDep) -> ExportSupport:
    return found(service.get_support(session, support_id))


MemberDep = Annotated[ExportEnterprise, Depends(member_by_organization)]
SupportDep = Annotated[ExportSupport, Depends(support_by_id)]
