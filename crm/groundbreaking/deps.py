from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.groundbreaking import service
from crm.groundbreaking.models import GroundbreakingEvent


def event_by_id(event_id: RecordId, session: SessionDep) -> GroundbreakingEvent:
    return found(service.get(session, event_id))


EventDep = Annotated[GroundbreakingEvent, Depends(event_by_id)]
