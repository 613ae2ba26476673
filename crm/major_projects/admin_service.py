"""Major-project scheduling, what the system administrator keeps and what is edited after the fact: the one-row
settings (the reporting close day, the amber margin), the responsible-department list (责任单位: add, edit, retire;
never deleted: a retired one stays on the items that name it) and a meeting's date, title and attendees. Each change is
versioned where two people may edit the same row, and audited."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.db import utcnow
from crm.i18n import N_, Msg
from crm.major_projects.models import (
    CoordinationItem,
    MeetingAttendee,
    ResponsibleDepartment,
    SchedulingMeeting,
    SchedulingSetting,
)
from crm.major_projects.service import ENTITY_MEETING, InvalidInput, can_manage, get_meeting
from crm.organizations.service import PermissionDenied
from crm.versioning import flush_versioned, require_version

ENTITY_SETTING, ENTITY_DEPARTMENT = "scheduling_setting", "responsible_department"
DEPARTMENT_FIELDS = ["name_zh", "name_en", "position", "is_active"]


# --- settings --------------------------------------------------------------------------------------------------

def settings(session: Session) -> SchedulingSetting:
    """The settings row (id 1), made with its defaults if the migration's seed is missing."""
    row = session.get(SchedulingSetting, 1)
    if row is None:
        row = SchedulingSetting(id=1, close_day=5, margin_points=Decimal("10"))
        session.add(row)
        session.flush()
    return row


def update_settings(session: Session, *, data: dict[str, Any], version: int | None, actor: User) -> bool:
    """The close day (1–28) and the amber margin (points). False when nothing changed; StaleEdit on a stale
    version."""
    if not actor.is_admin:
        raise PermissionDenied()
    row = settings(session)
    require_version(session, record=row, entity_type=ENTITY_SETTING, version=version)
    after = {"close_day": int(data["close_day"]), "margin_points": Decimal(data["margin_points"]).quantize(Decimal("0.01"))}
    changes = {k: [str(getattr(row, k)), str(v)] for k, v in after.items() if getattr(row, k) != v}
    if not changes:
        session.rollback()
        return False
    row.close_day, row.margin_points = after["close_day"], after["margin_points"]
    row.updated_at = utcnow()
    flush_versioned(session, record=row, entity_type=ENTITY_SETTING, version=version,
                    reload=lambda s, i: s.get(SchedulingSetting, i))
    audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type=ENTITY_SETTING, entity_id=1,
                         entity_label="调度设置", entity_version=row.version, changes=changes)
    session.commit()
    return True


# --- responsible departments -----------------------------------------------------------------------------------

class DuplicateDepartment(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def get_department(session: Session, department_id: int) -> ResponsibleDepartment | None:
    return session.get(ResponsibleDepartment, department_id)


def in_use(session: Session) -> set[int]:
    """The departments some coordination item names. None is ever deleted (the page offers none): retired instead."""
    return set(session.scalars(select(CoordinationItem.department_id).where(
        CoordinationItem.department_id.is_not(None)).distinct()))


def save_department(session: Session, *, department: ResponsibleDepartment | None, data: dict[str, Any],
                    active: bool, actor: User) -> ResponsibleDepartment:
    """Adds (department=None) or changes a department. A retired one (active=False) stays on the items that name it
    and is no longer offered for new ones. Audited."""
    if not actor.is_admin:
        raise PermissionDenied()
    before = audit_service.snapshot(department, DEPARTMENT_FIELDS) if department is not None else {}
    for column in ("name_zh", "name_en"):
        if not data.get(column):
            continue
        clash = select(ResponsibleDepartment.id).where(getattr(ResponsibleDepartment, column) == data[column])
        if department is not None:
            clash = clash.where(ResponsibleDepartment.id != department.id)
        if session.scalar(clash):
            raise DuplicateDepartment(column)
    if department is None:
        department = ResponsibleDepartment(code=f"custom_{uuid.uuid4().hex[:12]}")
        session.add(department)
    department.name_zh, department.name_en = data["name_zh"], data.get("name_en") or ""
    department.position, department.is_active = int(data["position"]), active
    session.flush()
    changes = audit_service.diff(before, audit_service.snapshot(department, DEPARTMENT_FIELDS))
    if changes:
        audit_service.record(session, actor=actor, action=AuditAction.UPDATE if before else AuditAction.CREATE,
                             entity_type=ENTITY_DEPARTMENT, entity_id=department.id,
                             entity_label=department.name_zh, entity_version=1, changes=changes)
    session.commit()
    return department


# --- a meeting, edited ------------------------------------------------------------------------------------------

def update_meeting(session: Session, *, meeting: SchedulingMeeting, data: dict[str, Any],
                   attendee_ids: Iterable[int], version: int | None, actor: User) -> bool:
    """A meeting's title, date and attendees, changed after it was planned. False when nothing changed."""
    if not can_manage(actor):
        raise PermissionDenied()
    require_version(session, record=meeting, entity_type=ENTITY_MEETING, version=version)
    ids = sorted(set(attendee_ids))
    known = set(session.scalars(select(User.id).where(User.id.in_(ids), User.is_active.is_(True)))) if ids else set()
    current = sorted(a.user_id for a in meeting.attendees)
    # an attendee who has since left stays on the meeting if kept; a new one must be active
    if not set(ids) - set(current) <= known:
        raise InvalidInput({"attendees": Msg("Choose one of the listed options.")})
    after = {"title": data["title"], "held_on": date.fromisoformat(data["held_on"]),
             "other_attendees": data.get("other_attendees") or ""}
    changes: dict[str, list] = {k: [str(getattr(meeting, k)), str(v)] for k, v in after.items()
                                if getattr(meeting, k) != v}
    if ids != current:
        changes["attendees"] = [",".join(map(str, current)), ",".join(map(str, ids))]
    if not changes:
        session.rollback()
        return False
    for k, v in after.items():
        setattr(meeting, k, v)
    if ids != current:
        meeting.attendees = [a for a in meeting.attendees if a.user_id in ids] + [
            MeetingAttendee(user_id=i) for i in ids if i not in current]
    if not changes.keys() - {"attendees"}:
        flag_modified(meeting, "title")  # an attendees-only change still takes the meeting's next version
    flush_versioned(session, record=meeting, entity_type=ENTITY_MEETING, version=version,
                    reload=lambda s, i: get_meeting(s, i))
    audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type=ENTITY_MEETING,
                         entity_id=meeting.id, entity_label=meeting.title, entity_version=meeting.version,
                         changes=changes)
    session.commit()
    return True


audit_labels.register(ENTITY_SETTING, label=N_("Scheduling settings"), url="/admin/scheduling", fields={
    "close_day": N_("Reporting close day"), "margin_points": N_("Amber margin (points)")})
audit_labels.register(ENTITY_DEPARTMENT, label=N_("Responsible department"),
                      url="/admin/scheduling/departments/{id}/edit", fields={
                          "name_zh": N_("Chinese name"), "name_en": N_("English name"),
                          "position": N_("Order in lists"), "is_active": N_("Active")})
audit_labels.register(ENTITY_MEETING, fields={"other_attendees": N_("Other attendees"),
                                              "attendees": N_("Attendees")})
