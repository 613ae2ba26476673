from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm.assessment.models import METRICS
from crm.auth.models import User
from crm.db import RecordId, SessionDep
from crm.errors import BadRequest, NotFound, found
from crm.i18n import Msg
from crm.indicators.deps import year_of
from crm.web import local_today


def year_in_path(year: str, request: Request) -> int:
    return year_of(year, local_today(request))


def metric_in_path(metric: str) -> str:
    if metric not in METRICS:
        raise NotFound()
    return metric


def officer_in_path(user_id: RecordId, session: SessionDep) -> User:
    return found(session.get(User, user_id))


def department_in_query(name: str = "") -> str:
    """The department of `?name=`: a query parameter, since a department's name may hold "/"."""
    name = name.strip()
    if not name or len(name) > 60:
        raise BadRequest(Msg("No such department."))
    return name


YearPath = Annotated[int, Depends(year_in_path)]
MetricPath = Annotated[str, Depends(metric_in_path)]
OfficerPath = Annotated[User, Depends(officer_in_path)]
DepartmentQuery = Annotated[str, Depends(department_in_query)]
