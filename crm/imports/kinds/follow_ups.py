"""Follow-ups (跟进事项/待办台账), written through the task service like the form.

- What it concerns: an organization (by name as the duplicate check normalizes it, or credit code) and/or a project
  (by name, among the projects the importer may see — a confidential project of others is answered as one that does
  not exist, as everywhere). Either may be blank.
- Assignee (责任人: a user by name or username; blank = the importer), due date (required, any ledger form), an
  optional time, priority (高/普通/低) and status (未完成/已完成/已取消; blank = open). A done one is recorded as
  done at the import.
- Matching: a follow-up with the same title (normalized), the same organization or project, and the same due date.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm import search_text
from crm.contacts.models import Contact
from crm.db import utcnow
from crm.i18n import Msg
from crm.imports import values
from crm.imports.kinds.base import (
    Entity,
    Field,
    ImportKind,
    Match,
    ParseContext,
    Row,
    ValueProblem,
    WriteContext,
    register,
    register_entity,
    text,
)
from crm.imports.kinds.projects import _chunks, _credit_codes, _every_organization, _investor_index, settings_of
from crm.organizations.service import PermissionDenied
from crm.projects import service as project_service
from crm.projects.models import Project
from crm.tasks import service as task_service
from crm.tasks.models import Task, TaskPriority, TaskStatus
from crm.tasks.schemas import PRIORITY_LABELS

PRIORITY_WORDS = {values.fold(w): code.value for code, words in {
    TaskPriority.HIGH: ("高", "紧急", "重要", "急", "high", "urgent"),
    TaskPriority.NORMAL: ("普通", "一般", "中", "正常", "normal", "medium"),
    TaskPriority.LOW: ("低", "不急", "low"),
}.items() for w in (*words, code.value, PRIORITY_LABELS[code], Msg(PRIORITY_LABELS[code]).translate("zh_CN"))}


def _priority(value: Any, ctx: ParseContext) -> str:
    code = PRIORITY_WORDS.get(values.fold(value))
    if code is None:
        raise ValueProblem(Msg("“%(value)s” is not a priority: write 高, 普通 or 低.", value=str(value)[:30]))
    return code


def _time_text(value: Any, ctx: ParseContext) -> str:
    return values.clock(value, ctx).strftime("%H:%M")


FIELDS = (
    Field("title", Msg("What"), synonyms=("事项", "标题", "跟进事项", "待办事项", "工作事项", "工作内容", "任务",
                                          "事项名称", "待办", "what", "title", "task", "follow-up"),
          required=True, parser=text(200)),
    Field("organization", Msg("Organization"), synonyms=(
        "关联企业", "企业名称", "客商名称", "单位名称", "企业", "单位", "客商", "对接企业", "organization",
        "company"), parser=text(120)),
    Field("credit_code", Msg("Unified social credit code"), synonyms=("统一社会信用代码", "信用代码", "credit code"),
          parser=_credit_codes),
    Field("contact", Msg("Contact"), synonyms=("联系人", "对接联系人", "联系人姓名", "contact"), parser=text(60),
          help=Msg("A contact of the row's organization, by name.")),
    Field("project", Msg("Project"), synonyms=("关联项目", "项目名称", "项目", "project"), parser=text(200)),
    Field("assignee_id", Msg("Who"), synonyms=("责任人", "负责人", "承办人", "经办人", "跟进人", "落实人",
                                               "assignee", "who", "owner"), parser=values.officer,
          help=Msg("A user's name or username. Blank: you.")),
    Field("due_on", Msg("Due date"), synonyms=("截止日期", "完成时限", "到期日", "期限", "截止时间", "完成时间",
                                               "办结时限", "due", "due date", "deadline"), required=True,
          parser=values.day),
    Field("due_time", Msg("Time"), synonyms=("时间", "具体时间", "time"), parser=_time_text),
    Field("priority", Msg("Priority"), synonyms=("优先级", "紧急程度", "重要程度", "priority"), parser=_priority,
          help=Msg("Blank: normal.")),
    Field("status", Msg("Status"), synonyms=("状态", "完成情况", "办理状态", "进展", "status"),
          parser=values.task_status, help=Msg("Blank: open.")),
    Field("description", Msg("Details"), synonyms=("详情", "备注", "说明", "具体内容", "情况说明", "details",
                                                   "description", "notes"), parser=text(4000)),
)


def _organizations(session, rows: list[Row], ctx: ParseContext):
    shaped = [Row(r.number, {"credit_codes": r.values.get("credit_code"),
                             "investors": [r.values["organization"]] if r.values.get("organization") else []})
              for r in rows]
    return _investor_index(session, shaped, ctx)


def _organization_of(row: Row, index) -> tuple[int | None, Msg | None]:
    by_code, by_name = index
    for code in row.values.get("credit_code") or []:
        if code not in by_code:
            return None, Msg("No organization on file has the credit code %(code)s.", code=code)
        return by_code[code][0], None
    name = row.values.get("organization")
    if not name:
        return None, None
    found = by_name.get(search_text.normalize_name(name), [])
    if len(found) > 1:
        return None, Msg("Several organizations are named “%(name)s”: give its credit code instead.", name=name)
    if not found:
        return None, Msg("No organization named “%(name)s” is on file: import it first, or add it.", name=name)
    return found[0], None


def _projects(session, rows: list[Row], ctx: ParseContext) -> dict[str, list[int]]:
    """Projects by normalized name, among those the importer may see (confidential ones of others are not there)."""
    known: dict[str, list[int]] = ctx.cache.setdefault("follow_ups.projects", {})
    wanted = {search_text.normalize_name(r.values["project"]) for r in rows if r.values.get("project")} - set(known)
    if wanted:
        names = sorted({r.values["project"] for r in rows if r.values.get("project")})
        for chunk in _chunks(names):
            for project_id, name in session.execute(select(Project.id, Project.name).where(
                    Project.name.in_(chunk), project_service.visible_to(ctx.actor)).order_by(Project.id)):
                known.setdefault(search_text.normalize_name(name), []).append(project_id)
        for key in wanted:
            known.setdefault(key, [])
    return known


def _project_of(row: Row, projects: dict[str, list[int]]) -> tuple[int | None, Msg | None]:
    name = row.values.get("project")
    if not name:
        return None, None
    found = projects.get(search_text.normalize_name(name), [])
    if len(found) > 1:
        return None, Msg("Several projects are named “%(name)s”.", name=name)
    if not found:
        return None, Msg("There is no project named “%(name)s”.", name=name)
    return found[0], None


def _contact_of(session, row: Row, org_id: int | None, ctx: ParseContext) -> tuple[int | None, Msg | None]:
    name = row.values.get("contact")
    if not name:
        return None, None
    if org_id is None:
        return None, Msg("Give the organization the contact belongs to.")
    contacts = ctx.cache.setdefault("follow_ups.contacts", {})
    if (org_id, name) not in contacts:
        contacts[(org_id, name)] = session.scalar(select(Contact.id).where(
            Contact.organization_id == org_id, Contact.name == name, Contact.archived_at.is_(None)).limit(1))
    if contacts[(org_id, name)] is None:
        return None, Msg("The organization has no contact named “%(name)s”.", name=name)
    return contacts[(org_id, name)], None


def _targets(session, row: Row, ctx: ParseContext) -> tuple[int | None, int | None, list[tuple[str, Msg]]]:
    index = _every_organization(session, ctx) if isinstance(ctx, WriteContext) else _organizations(session, [row], ctx)
    org_id, org_problem = _organization_of(row, index)
    project_id, project_problem = _project_of(row, _projects(session, [row], ctx))
    contact_id, contact_problem = _contact_of(session, row, org_id, ctx) if org_problem is None else (None, None)
    row.values["_contact_id"] = contact_id
    problems = [(k, m) for k, m in (("organization", org_problem), ("project", project_problem),
                                    ("contact", contact_problem)) if m is not None]
    return org_id, project_id, problems


class FollowUpImport(ImportKind):
    name = "follow_ups"
    label = Msg("Follow-ups")
    entity_type = "task"
    fields = FIELDS
    example = {"title": "寄送园区招商政策汇编", "organization": "苏州示例新材料有限公司", "due_on": "2027/1/15",
               "priority": "普通", "status": "未完成"}

    def match(self, session, rows: list[Row], ctx: ParseContext) -> dict[int, Match]:
        _organizations(session, rows, ctx)
        _projects(session, rows, ctx)
        wanted: dict[int, tuple[str, Any, int | None, int | None]] = {}
        for row in rows:
            org_id, project_id, problems = _targets(session, row, ctx)
            if not problems and row.values.get("title") and row.values.get("due_on"):
                wanted[row.number] = (search_text.normalize_name(row.values["title"]), row.values["due_on"], org_id,
                                      project_id)
        if not wanted:
            return {}
        days = sorted({w[1] for w in wanted.values()})
        candidates: dict[tuple[str, Any, int | None, int | None], tuple[int, str]] = {}
        for chunk in _chunks(days):
            for task_id, title, due_on, org_id, project_id in session.execute(
                    select(Task.id, Task.title, Task.due_on, Task.organization_id, Task.project_id)
                    .where(Task.due_on.in_(chunk)).order_by(Task.id)):
                normalized = search_text.normalize_name(title)
                for key in ((normalized, due_on, org_id, project_id), (normalized, due_on, org_id, None),
                            (normalized, due_on, None, project_id)):
                    candidates.setdefault(key, (task_id, title))
        found: dict[int, Match] = {}
        for number, key in wanted.items():
            if key[2] is None and key[3] is None:
                continue  # a follow-up that concerns nothing is matched by nothing: titles alone are too common
            hit = candidates.get(key)
            if hit:
                found[number] = Match(hit[0], hit[1], f"/tasks/{hit[0]}", "title_target_due")
        return found

    def check(self, session, rows: list[Row], ctx: ParseContext) -> None:
        _organizations(session, rows, ctx)
        _projects(session, rows, ctx)
        seen: dict[tuple, int] = {}
        for row in rows:
            org_id, project_id, problems = _targets(session, row, ctx)
            for key, message in problems:
                ctx.problem(row, key, message)
            if problems or not row.values.get("title") or not row.values.get("due_on"):
                continue
            key = (search_text.normalize_name(row.values["title"]), row.values["due_on"], org_id, project_id)
            if key in seen and (org_id or project_id):
                ctx.problem(row, "title", Msg("The same follow-up as row %(row)s (same title, record and due date).",
                                              row=seen[key]))
            seen.setdefault(key, row.number)

    def write(self, session, row: Row, *, match: Match | None, action: str, ctx: WriteContext) -> None:
        org_id, project_id, problems = _targets(session, row, ctx)
        if problems:
            raise ValueProblem(problems[0][1])
        timezone = settings_of(ctx).timezone
        status = row.values.get("status")
        try:
            if match is None:
                data = {"title": row.values["title"], "description": row.values.get("description") or "",
                        "assignee_id": row.values.get("assignee_id") or ctx.actor.id, "due_on": row.values["due_on"],
                        "due_time": row.values.get("due_time") or "",
                        "priority": row.values.get("priority") or TaskPriority.NORMAL.value,
                        "organization_id": org_id, "contact_id": row.values.get("_contact_id"), "visit_id": None,
                        "project_id": project_id}
                task = task_service.add(session, data=data, actor=ctx.actor, timezone=timezone)
                if status and status != TaskStatus.OPEN:
                    task_service.apply_change(session, task=task, actor=ctx.actor, version=None, values={
                        "status": status, "completed_at": utcnow() if status == TaskStatus.DONE else None})
                ctx.created("task", task)
                return
            task = session.get(Task, match.record_id)
            if task is None:
                raise ValueProblem(Msg("The follow-up matched has been deleted since."))
            given = {k: row.values.get(k) for k in ("title", "description", "assignee_id", "due_on", "priority",
                                                    "status") if row.values.get(k) not in (None, "")}
            if row.values.get("due_time"):
                given["due_time"] = values.parse_time(row.values["due_time"])
            changed = {k: v for k, v in given.items()
                       if (action == "update" or getattr(task, k) in (None, "")) and getattr(task, k) != v}
            if "status" in changed:
                changed["completed_at"] = utcnow() if changed["status"] == TaskStatus.DONE else None
            prior = {k: _plain(getattr(task, k)) for k in changed}
            if changed and task_service.apply_change(session, task=task, actor=ctx.actor, version=task.version,
                                                     values=changed, timezone=timezone):
                ctx.updated("task", task, prior)
        except task_service.InvalidLink as bad:
            raise ValueProblem(bad.message) from None
        except PermissionDenied:
            raise ValueProblem(Msg("You may not change this follow-up: only its assignee, its creator or a manager "
                                   "may.")) from None


def _plain(value: Any) -> Any:
    """A value as JSON keeps it (dates and times as ISO text)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def _restore(session, task: Task, prior: dict[str, Any], actor) -> None:
    from datetime import date, datetime, time

    typed: dict[str, Any] = {}
    for key, value in prior.items():
        if value is not None and key == "due_on":
            value = date.fromisoformat(value)
        elif value is not None and key == "due_time":
            value = time.fromisoformat(value)
        elif value is not None and key == "completed_at":
            value = datetime.fromisoformat(value)
        typed[key] = value
    task_service.apply_change(session, task=task, actor=actor, version=task.version, values=typed)


register(FollowUpImport())
register_entity(Entity("task", Task, label=lambda t: t.title, url=lambda i: f"/tasks/{i}", restore=_restore))
