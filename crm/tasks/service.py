"""Follow-up tasks: create and change them, one click to complete, reassign or reschedule, and "My tasks"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select, union_all
from sqlalchemy.orm import Session, joinedload

from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.contacts.models import Contact
from crm.db import utcnow
from crm.i18n import Msg
from crm.listing import Page, clamp_page
from crm.organizations.models import Organization
from crm.organizations.service import PermissionDenied
from crm.plain_query import PlainQuery
from crm.projects import service as project_service
from crm.projects.models import Project
from crm.tasks.models import Task, TaskStatus
from crm.tasks.schemas import PRIORITY_LABELS, STATUS_LABELS
from crm.versioning import flush_versioned, require_version
from crm.visits.models import Visit

EDITABLE_FIELDS = ["title", "description", "assignee_id", "due_on", "due_time", "priority", "organization_id", "contact_id",
                   "visit_id", "project_id"]
AUDITED_FIELDS = [*EDITABLE_FIELDS, "status"]
RECENTLY_DONE_DAYS = 14


class InvalidLink(Exception):
    def __init__(self, field_name: str, message: Msg) -> None:
        super().__init__(message.msgid)
        self.field = field_name
        self.message = message


def _for_list(stmt: Select) -> Select:
    """What a task's line in a list shows: its assignee and the names of the records it concerns."""
    return stmt.options(
        joinedload(Task.assignee), joinedload(Task.organization).load_only(Organization.id, Organization.name),
        joinedload(Task.contact).load_only(Contact.id, Contact.name),
        joinedload(Task.visit).load_only(Visit.id, Visit.title, Visit.starts_at),
        joinedload(Task.project).load_only(Project.id, Project.name, Project.is_confidential, Project.owner_id),
    )


class _Named:
    """A related record as a task's line shows it: what tasks.rows_html reads of it."""
    __slots__ = ("display_name", "is_confidential", "name", "owner_id", "title")

    def __init__(self, *, name: str = "", display_name: str = "", title: str = "", is_confidential: bool = False,
                 owner_id: int | None = None) -> None:
        self.name, self.display_name, self.title = name, display_name, title
        self.is_confidential, self.owner_id = is_confidential, owner_id


@dataclass(slots=True)
class TaskLine:
    """A task as a list shows it (tasks.rows_html), read as one plain row with the names it shows: the same
    attributes the template reads of a Task, without the ORM's identity map."""
    id: int
    title: str
    due_on: date
    due_time: time | None
    priority: str
    status: str
    assignee_id: int
    assignee: _Named
    organization_id: int | None
    organization: _Named | None
    contact_id: int | None
    contact: _Named | None
    visit_id: int | None
    visit: _Named | None
    project_id: int | None
    project: _Named | None

    @property
    def is_open(self) -> bool:
        return self.status == TaskStatus.OPEN


DUE_ORDER = (Task.due_on, Task.due_time.is_(None), Task.due_time, Task.id)  # "My tasks": by due date, then time
_LINE_COLUMNS = (Task.id, Task.title, Task.due_on, Task.due_time, Task.priority, Task.status, Task.assignee_id,
                 User.display_name, Task.organization_id, Organization.name, Task.contact_id, Contact.name,
                 Task.visit_id, Visit.title, Task.project_id, Project.name, Project.is_confidential, Project.owner_id)


def _line_statement(stmt: Select, *order: Any) -> Select:
    """`stmt` (a select(Task) with its filter, offset and limit) in `order`, as the plain rows of TaskLines. The
    page's ids are chosen first (an index range, or a sort of the bare task ids), then joined to the names they
    show: joining first made the team view sort 400,000 joined rows."""
    return _lines_of(stmt.with_only_columns(Task.id).order_by(*order).subquery(), *order)


def _lines_of(ids: Any, *order: Any) -> Select:
    """The plain rows of TaskLines for the tasks of `ids` (a subquery with their ids as `id`), in `order`."""
    return (select(*_LINE_COLUMNS).select_from(ids).join(Task, Task.id == ids.c.id)
            .join(User, User.id == Task.assignee_id)
            .outerjoin(Organization, Organization.id == Task.organization_id)
            .outerjoin(Contact, Contact.id == Task.contact_id)
            .outerjoin(Visit, Visit.id == Task.visit_id)
            .outerjoin(Project, Project.id == Task.project_id)
            .order_by(*order))


def _line(r: Any) -> TaskLine:
    return TaskLine(id=r[0], title=r[1], due_on=r[2], due_time=r[3], priority=r[4], status=r[5], assignee_id=r[6],
                    assignee=_Named(display_name=r[7]), organization_id=r[8],
                    organization=_Named(name=r[9]) if r[8] is not None else None, contact_id=r[10],
                    contact=_Named(name=r[11]) if r[10] is not None else None, visit_id=r[12],
                    visit=_Named(title=r[13]) if r[12] is not None else None, project_id=r[14],
                    project=_Named(name=r[15], is_confidential=r[16], owner_id=r[17]) if r[14] is not None else None)


def _lines(session: Session, stmt: Select, *order: Any) -> list[TaskLine]:
    """`stmt` (a select(Task) with its filter, offset and limit) in `order` as TaskLines: one query, plain rows."""
    return [_line(r) for r in session.execute(_line_statement(stmt, *order))]


def _with_relations(stmt: Select) -> Select:
    return _for_list(stmt).options(joinedload(Task.created_by))


def get(session: Session, task_id: int) -> Task | None:
    return session.scalar(_with_relations(select(Task).where(Task.id == task_id)))


def can_change(user: User, task: Task) -> bool:
    return user.is_manager or user.id in (task.assignee_id, task.created_by_id)


def _typed(data: dict[str, Any]) -> dict[str, Any]:
    typed = dict(data)
    if isinstance(typed.get("due_on"), str):
        typed["due_on"] = date.fromisoformat(typed["due_on"])
    if "due_time" in typed:
        typed["due_time"] = time.fromisoformat(typed["due_time"]) if typed["due_time"] else None
    return typed


def _check_links(session: Session, data: dict[str, Any], *, actor: User, kept_project_id: int | None = None) -> None:
    """The record a task concerns must exist; a contact brings its organization along. A project must be one the
    actor may see (projects.service.is_visible): a confidential project of others is answered exactly as one that
    does not exist, so ids cannot be probed. `kept_project_id`: the task's own project, which stays linked."""
    if data.get("contact_id"):
        contact = session.get(Contact, data["contact_id"])
        if contact is None:
            raise InvalidLink("contact_id", Msg("There is no such contact."))
        if data.get("organization_id") and data["organization_id"] != contact.organization_id:
            raise InvalidLink("contact_id", Msg("This contact belongs to another organization."))
        data["organization_id"] = contact.organization_id
    if data.get("organization_id") and session.get(Organization, data["organization_id"]) is None:
        raise InvalidLink("organization_id", Msg("There is no such organization."))
    if data.get("visit_id") and session.get(Visit, data["visit_id"]) is None:
        raise InvalidLink("visit_id", Msg("There is no such visit."))
    if data.get("project_id") and data["project_id"] != kept_project_id and not project_service.is_visible(
            session, actor, data["project_id"]):
        raise InvalidLink("project_id", Msg("There is no such project."))


def _audit(session: Session, *, task: Task, actor: User, action: AuditAction, changes: dict) -> None:
    audit_service.record(
        session, actor=actor, action=action, entity_type="task", entity_id=task.id, entity_label=task.title,
        entity_version=task.version, changes=changes, organization_id=task.organization_id,
    )


def _plan_reminder_now(session: Session, task: Task, timezone: str | None) -> None:
    """A task created or moved after today's reminder time (rule 1, 09:00) gets today's "due tomorrow" / "due
    today" reminder at once, in this same transaction: today's planning pass has already run without it.
    `timezone` (settings.timezone) None: nothing is planned now (the next pass at the rule's time does it).
    Done here, in the service, rather than in the routes so that every way a due date changes (the task form, the
    one-click reschedule, a visit's follow-ups) is covered and the row commits with the change, all or nothing.
    The import is local: crm.notifications' rules import crm.tasks (and through projects and visits, modules that
    import this one), so importing it at the top would make a cycle."""
    if timezone is None:
        return
    from crm.notifications import service as notification_service  # see above

    notification_service.plan_task_now(session, task_id=task.id, now=utcnow(), timezone=timezone)


def create(session: Session, *, data: dict[str, Any], actor: User, timezone: str | None = None) -> Task:
    task = add(session, data=data, actor=actor, timezone=timezone)
    session.commit()
    return task


def add(session: Session, *, data: dict[str, Any], actor: User, timezone: str | None = None) -> Task:
    """Creates a task in the caller's transaction (a visit's follow-ups are created with the visit); with `timezone`,
    plans today's reminder at once when its time has passed (`_plan_reminder_now`)."""
    data = _typed(data)
    _check_links(session, data, actor=actor)
    task = Task(**{k: data.get(k) for k in EDITABLE_FIELDS}, created_by_id=actor.id, status=TaskStatus.OPEN)
    task.description = task.description or ""
    session.add(task)
    session.flush()
    after = audit_service.snapshot(task, AUDITED_FIELDS)
    _audit(session, task=task, actor=actor, action=AuditAction.CREATE,
           changes=audit_service.diff({}, {k: v for k, v in after.items() if v not in (None, "")}))
    _plan_reminder_now(session, task, timezone)
    return task


def _change(session: Session, *, task: Task, actor: User, version: int | None, values: dict[str, Any],
            timezone: str | None = None) -> Task:
    """Applies `values` to a task the actor may change, refusing an edit made on an older version."""
    if apply_change(session, task=task, actor=actor, version=version, values=values, timezone=timezone):
        session.commit()
    else:
        session.rollback()
    return task


def apply_change(session: Session, *, task: Task, actor: User, version: int | None, values: dict[str, Any],
                 timezone: str | None = None) -> dict[str, Any]:
    """`_change` in the caller's transaction (an import's rows are committed together); returns the audited
    changes ({} when nothing changed)."""
    if not can_change(actor, task):
        raise PermissionDenied()
    if version is not None:  # one-click changes carry none: they apply to whatever is current
        require_version(session, record=task, entity_type="task", version=version)
    before = audit_service.snapshot(task, AUDITED_FIELDS)
    for key, value in values.items():
        setattr(task, key, value)
    changes = audit_service.diff(before, audit_service.snapshot(task, AUDITED_FIELDS))
    if not changes:
        return {}
    task.updated_at = utcnow()
    flush_versioned(session, record=task, entity_type="task", version=version, reload=get)
    _audit(session, task=task, actor=actor, action=AuditAction.UPDATE, changes=changes)
    if "due_on" in changes:
        _plan_reminder_now(session, task, timezone)
    return changes


def update(session: Session, *, task: Task, data: dict[str, Any], version: int | None, actor: User,
           timezone: str | None = None) -> Task:
    if not can_change(actor, task):
        raise PermissionDenied()
    require_version(session, record=task, entity_type="task", version=version)
    data = _typed(data)
    if task.project_id and not project_service.is_visible(session, actor, task.project_id):
        data["project_id"] = task.project_id  # a project the actor may not see: its form cannot show it, it stays
    _check_links(session, data, actor=actor, kept_project_id=task.project_id)
    return _change(session, task=task, actor=actor, version=version, values={k: data.get(k) for k in EDITABLE_FIELDS},
                   timezone=timezone)


def set_status(session: Session, *, task: Task, status: TaskStatus, actor: User) -> Task:
    completed_at = utcnow() if status == TaskStatus.DONE else None
    return _change(session, task=task, actor=actor, version=None, values={"status": status.value, "completed_at": completed_at})


def reassign(session: Session, *, task: Task, assignee_id: int, actor: User) -> Task:
    return _change(session, task=task, actor=actor, version=None, values={"assignee_id": assignee_id})


def reschedule(session: Session, *, task: Task, due_on: str, actor: User, timezone: str | None = None) -> Task:
    return _change(session, task=task, actor=actor, version=None, values={"due_on": date.fromisoformat(due_on)},
                   timezone=timezone)


GROUP_LIMIT = 15  # tasks listed per group on "My tasks"; the group's own paged view (group_page) has the rest
RECENTLY_DONE_LIMIT = 10
GROUPS = ("overdue", "today", "week", "later")


@dataclass
class TaskGroups:
    overdue: list[TaskLine] = field(default_factory=list)
    today: list[TaskLine] = field(default_factory=list)
    week: list[TaskLine] = field(default_factory=list)
    later: list[TaskLine] = field(default_factory=list)
    done: list[TaskLine] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # open tasks in each group, listed or not

    def items(self) -> list[tuple[str, list[Task]]]:
        return [("overdue", self.overdue), ("today", self.today), ("week", self.week), ("later", self.later),
                ("done", self.done)]

    def count(self, key: str) -> int:
        return self.counts.get(key, len(getattr(self, key)))

    @property
    def open_count(self) -> int:
        return sum(self.counts.get(key, 0) for key in GROUPS)

    @property
    def more_open(self) -> int:
        """Open tasks not listed (each group lists GROUP_LIMIT at most)."""
        return self.open_count - sum(len(getattr(self, key)) for key in GROUPS)


def _group_bounds(today: date) -> dict[str, Any]:
    week_end = today + timedelta(days=6 - today.weekday())
    return {"overdue": Task.due_on < today, "today": Task.due_on == today,
            "week": (Task.due_on > today) & (Task.due_on <= week_end), "later": Task.due_on > week_end}


# "My tasks" at the driver's cost (crm.plain_query): its statements built once, with the assignee, today and the
# week's end as parameters. The counts are four index ranges of ix_task_assignee_status_due, not a sum over them all.
_MINE = (Task.assignee_id == bindparam("assignee"), Task.status == TaskStatus.OPEN)
_BOUNDS = {"overdue": Task.due_on < bindparam("today"), "today": Task.due_on == bindparam("today"),
           "week": (Task.due_on > bindparam("today")) & (Task.due_on <= bindparam("week_end")),
           "later": Task.due_on > bindparam("week_end")}
_GROUP_COUNTS = PlainQuery(select(*(select(func.count(Task.id)).where(*_MINE, bound).scalar_subquery()
                                    for bound in _BOUNDS.values())))
_GROUP_LINES = {key: PlainQuery(_line_statement(select(Task).where(*_MINE, bound).limit(GROUP_LIMIT), *DUE_ORDER))
                for key, bound in _BOUNDS.items()}
_closed_at = func.coalesce(Task.completed_at, Task.updated_at)
_CLOSED_STATUSES = [status.value for status in TaskStatus if status != TaskStatus.OPEN]


def _closed_since(when: Any) -> Select:
    """The assignee's tasks closed since `since` by one of the two ways _closed_at reads: index ranges per closed
    status on ix_task_assignee_status_closed, not a walk through the assignee's whole history."""
    return select(Task.id).where(Task.assignee_id == bindparam("assignee"), Task.status.in_(_CLOSED_STATUSES), when)


_RECENTLY_DONE = PlainQuery(_lines_of(  # done or cancelled lately: closed tasks stay in sight for a while
    select(Task.id).where(Task.id.in_(union_all(
        _closed_since(Task.completed_at >= bindparam("since")),
        _closed_since(Task.completed_at.is_(None) & (Task.updated_at >= bindparam("since"))))))
    .order_by(_closed_at.desc(), Task.id.desc()).limit(RECENTLY_DONE_LIMIT).subquery(),
    _closed_at.desc(), Task.id.desc()))


def my_tasks(session: Session, *, assignee_id: int, today: date) -> TaskGroups:
    """Open tasks by when they are due (overdue, today, the rest of this week, later), each group's first
    GROUP_LIMIT with its full count, and the recently done (they can be reopened). A fixed number of queries, each
    an index range."""
    week_end = today + timedelta(days=6 - today.weekday())
    mine = {"assignee": assignee_id, "today": today, "week_end": week_end}
    groups = TaskGroups(counts=dict(zip(_BOUNDS, _GROUP_COUNTS.rows(session, **mine)[0], strict=True)))
    for key, lines in _GROUP_LINES.items():
        if groups.counts[key]:
            setattr(groups, key, [_line(r) for r in lines.rows(session, **mine)])
    groups.done = [_line(r) for r in _RECENTLY_DONE.rows(
        session, assignee=assignee_id, since=utcnow() - timedelta(days=RECENTLY_DONE_DAYS))]
    return groups


def group_page(session: Session, *, assignee_id: int, today: date, group: str, page: int, per_page: int) -> Page:
    """One group of "My tasks" whole, paged (`/tasks?group=later`): where a group cut at GROUP_LIMIT continues, in
    the same order, so a follow-up just created 23 days out is one link away, never only in another list. An index
    range with OFFSET, like the team view: a group of thousands pages, it is never rendered all at once."""
    stmt = select(Task).where(Task.assignee_id == assignee_id, Task.status == TaskStatus.OPEN,
                              _group_bounds(today)[group])
    total = session.scalar(stmt.with_only_columns(func.count(Task.id)).order_by(None)) or 0
    page = clamp_page(page, total, per_page)
    rows = _lines(session, stmt.offset((page - 1) * per_page).limit(per_page), *DUE_ORDER)
    return Page(items=rows, total=total, page=page, per_page=per_page)


def _team_filtered(stmt: Select, *, assignee_id: int | None, status: str) -> Select:
    if assignee_id:
        stmt = stmt.where(Task.assignee_id == assignee_id)
    if status:
        stmt = stmt.where(Task.status == status)
    return stmt


EXPORT_BATCH = 500  # tasks read per query by the export


def export_rows(session: Session, *, assignee_id: int | None, status: str = "", open_only: bool = False,
                overdue_on: date | None = None) -> Iterator[tuple[Any, ...]]:
    """The tasks a list shows, all of them, by due date, as schemas.EXPORT_COLUMNS: "My tasks" (open_only) or
    the team view's filters. A confidential project's name is not given, as on the list."""
    stmt = _team_filtered(select(Task.id), assignee_id=assignee_id, status=TaskStatus.OPEN if open_only else status)
    if overdue_on:
        stmt = stmt.where(Task.status == TaskStatus.OPEN, Task.due_on < overdue_on)
    ids = list(session.scalars(stmt.order_by(Task.due_on, Task.due_time.is_(None), Task.due_time, Task.id)))
    for start in range(0, len(ids), EXPORT_BATCH):
        batch = ids[start:start + EXPORT_BATCH]
        rows = {row.id: row for row in session.execute(
            select(Task.id, Task.title, Task.due_on, Task.due_time, Task.priority, Task.status, User.display_name,
                   Organization.name.label("organization"), Contact.name.label("contact"), Visit.title.label("visit"),
                   Project.name.label("project"), Project.is_confidential, Task.completed_at, Task.description)
            .join(User, User.id == Task.assignee_id)
            .outerjoin(Organization, Organization.id == Task.organization_id)
            .outerjoin(Contact, Contact.id == Task.contact_id)
            .outerjoin(Visit, Visit.id == Task.visit_id)
            .outerjoin(Project, Project.id == Task.project_id)
            .where(Task.id.in_(batch)))}
        for task_id in batch:
            r = rows[task_id]
            project = Msg("Confidential project") if r.is_confidential else r.project
            yield (r.title, r.due_on, r.due_time.strftime("%H:%M") if r.due_time else None,
                   Msg(PRIORITY_LABELS[r.priority]) if r.priority in PRIORITY_LABELS else r.priority,
                   Msg(STATUS_LABELS[r.status]) if r.status in STATUS_LABELS else r.status, r.display_name,
                   r.organization, r.contact, r.visit, project, r.completed_at, r.description)


def team_page(session: Session, *, assignee_id: int | None, status: str, page: int, per_page: int,
              overdue_on: date | None = None) -> Page:
    """For managers: everyone's tasks, optionally one assignee's, by due date; with `overdue_on` (today), only
    the open ones due before it."""
    stmt = _team_filtered(select(Task), assignee_id=assignee_id, status=status)
    if overdue_on:
        stmt = stmt.where(Task.status == TaskStatus.OPEN, Task.due_on < overdue_on)
    total = session.scalar(stmt.with_only_columns(func.count(Task.id)).order_by(None)) or 0
    page = clamp_page(page, total, per_page)
    rows = _lines(session, stmt.offset((page - 1) * per_page).limit(per_page), Task.due_on, Task.id)
    return Page(items=rows, total=total, page=page, per_page=per_page)


def open_for(session: Session, *, contact_id: int) -> list[Task]:
    """A contact's open follow-ups, for its page (an organization's: open_lines_for_organization)."""
    stmt = _with_relations(select(Task)).where(Task.status == TaskStatus.OPEN, Task.contact_id == contact_id)
    return list(session.scalars(stmt.order_by(Task.due_on, Task.id).limit(100)).unique())


_OPEN_FOR_ORGANIZATION = PlainQuery(_line_statement(
    select(Task).where(Task.organization_id == bindparam("organization"), Task.status == TaskStatus.OPEN).limit(100),
    Task.due_on, Task.id))


def open_lines_for_organization(session: Session, *, organization_id: int) -> list[TaskLine]:
    """An organization's open follow-ups for its page (by due date, the first 100), read as
    plain rows (TaskLines: the template reads the same attributes) with a statement built once (issue 17)."""
    return [_line(r) for r in _OPEN_FOR_ORGANIZATION.rows(session, organization=organization_id)]


def for_visit(session: Session, *, visit_id: int) -> list[Task]:
    """A visit's follow-ups, open first, then by due date."""
    stmt = (_with_relations(select(Task)).where(Task.visit_id == visit_id)
            .order_by((Task.status != TaskStatus.OPEN), Task.due_on, Task.id).limit(200))
    return list(session.scalars(stmt).unique())


def for_project(session: Session, *, project_id: int) -> list[Task]:
    """A project's follow-ups, open first, then by due date."""
    stmt = (_with_relations(select(Task)).where(Task.project_id == project_id)
            .order_by((Task.status != TaskStatus.OPEN), Task.due_on, Task.id).limit(200))
    return list(session.scalars(stmt).unique())


def soonest_open(session: Session, *, assignee_id: int, limit: int) -> list[Task]:
    """Someone's open follow-ups, the most urgent (earliest due) first: the officer's dashboard."""
    stmt = select(Task).where(Task.assignee_id == assignee_id, Task.status == TaskStatus.OPEN)
    return list(session.scalars(_for_list(stmt).order_by(Task.due_on, Task.id).limit(limit)).unique())


def overdue_by_assignee(session: Session, *, today: date, limit: int = 10) -> list[tuple[int, str, int]]:
    """(assignee id, name, open follow-ups due before today) for the managers' dashboard, most overdue first.
    Counted per assignee first (a covering index range), then joined to the few users: joining every task to its
    user before grouping costs a lookup per overdue task."""
    counts = (select(Task.assignee_id, func.count(Task.id).label("n"))
              .where(Task.status == TaskStatus.OPEN, Task.due_on < today).group_by(Task.assignee_id).subquery())
    rows = session.execute(
        select(counts.c.assignee_id, User.display_name, counts.c.n).join(User, User.id == counts.c.assignee_id)
        .order_by(counts.c.n.desc(), User.display_name).limit(limit))
    return [tuple(row) for row in rows]


def due_counts(session: Session, *, assignee_id: int, today: date) -> tuple[int, int]:
    """(overdue, due today) for the home page."""
    base = select(func.count(Task.id)).where(Task.assignee_id == assignee_id, Task.status == TaskStatus.OPEN)
    overdue = session.scalar(base.where(Task.due_on < today)) or 0
    due_today = session.scalar(base.where(Task.due_on == today)) or 0
    return overdue, due_today


audit_labels.register("task", values={"priority": PRIORITY_LABELS, "status": STATUS_LABELS})  # how the history reads
