from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.visits import service
from crm.visits.models import Visit


def visit_by_id(visit_id: RecordId, session: SessionDep) -> Visit:
    return found(service.get(session, visit_id))


VisitDep = Annotated[Visit, Depends(visit_by_id)]
