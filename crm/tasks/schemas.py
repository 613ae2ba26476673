from __future__ import annotations

from datetime import date, time

from crm.forms import Field
from crm.i18n import N_, Msg
from crm.spreadsheets import Column
from crm.tasks.models import TaskPriority, TaskStatus

PRIORITY_LABELS = {TaskPriority.HIGH: N_("High"), TaskPriority.NORMAL: N_("Normal"), TaskPriority.LOW: N_("Low")}
STATUS_LABELS = {TaskStatus.OPEN: N_("Open"), TaskStatus.DONE: N_("Done"), TaskStatus.CANCELLED: N_("Cancelled")}
GROUP_LABELS = {"overdue": N_("Overdue"), "today": N_("Today"), "week": N_("This week"), "later": N_("Later"),
                "done": N_("Recently done")}

# The Excel download of My tasks and the team view (routes.export_xlsx; service.export_rows, in this order)
EXPORT_COLUMNS = (
    Column("title", Msg("What"), width=30),
    Column("due_on", Msg("Due date"), "date"),
    Column("due_time", Msg("Time"), width=8),
    Column("priority", Msg("Priority")),
    Column("status", Msg("Status")),
    Column("assignee", Msg("Who")),
    Column("organization", Msg("Organization"), width=24),
    Column("contact", Msg("Contact")),
    Column("visit", Msg("Visit"), width=24),
    Column("project", Msg("Project"), width=24),
    Column("completed_at", Msg("Completed"), "datetime"),
    Column("description", Msg("Details"), width=40),
)


def check_date(value: str) -> Msg | None:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return Msg("“%(value)s” is not a date: use the form 2026-12-02.", value=value[:20])
    if not 2000 <= parsed.year <= 2100:
        return Msg("Choose a date between 2000 and 2100.")
    return None


def check_time(value: str) -> Msg | None:
    try:
        time.fromisoformat(value)
    except ValueError:
        return Msg("“%(value)s” is not a time of day: use the form 14:30.", value=value[:20])
    return None


def task_fields(*, assignee_ids: list[str]) -> list[Field]:
    return [
        Field("title", N_("What"), required=True, max_length=200),
        Field("description", N_("Details"), max_length=4000, multiline=True),
        Field("assignee_id", N_("Who"), required=True, integer=True, choices=assignee_ids),
        Field("due_on", N_("Due date"), required=True, max_length=10, checks=[check_date]),
        Field("due_time", N_("Time"), max_length=8, checks=[check_time]),
        Field("priority", N_("Priority"), required=True, choices=[p.value for p in TaskPriority]),
        Field("organization_id", N_("Organization"), integer=True),
        Field("contact_id", N_("Contact"), integer=True),
        Field("visit_id", N_("Visit"), integer=True),
        Field("project_id", N_("Project"), integer=True),
    ]


def reschedule_fields() -> list[Field]:
    return [Field("due_on", N_("Due date"), required=True, max_length=10, checks=[check_date])]


def reassign_fields(*, assignee_ids: list[str]) -> list[Field]:
    return [Field("assignee_id", N_("Who"), required=True, integer=True, choices=assignee_ids)]
