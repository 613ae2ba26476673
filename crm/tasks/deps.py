from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.tasks import service
from crm.tasks.models import Task


def task_by_id(task_id: RecordId, session: SessionDep) -> Task:
    return found(service.get(session, task_id))


TaskDep = Annotated[Task, Depends(task_by_id)]
