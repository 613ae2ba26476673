from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crm.auth.deps import CurrentUser
from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.major_projects import service
from crm.major_projects.models import CoordinationItem, SchedulingMeeting
from crm.projects import service as project_service
from crm.projects.models import Project


def visible_project(project_id: RecordId, session: SessionDep, user: CurrentUser) -> Project:
    return found(project_service.get_visible(session, project_id, user))


def visible_item(item_id: RecordId, session: SessionDep, user: CurrentUser) -> CoordinationItem:
    return found(service.get_item(session, item_id, user))


def meeting_by_id(meeting_id: RecordId, session: SessionDep) -> SchedulingMeeting:
    return found(service.get_meeting(session, meeting_id))


VisibleProjectDep = Annotated[Project, Depends(visible_project)]
ItemDep = Annotated[CoordinationItem, Depends(visible_item)]
MeetingDep = Annotated[SchedulingMeeting, Depends(meeting_by_id)]
