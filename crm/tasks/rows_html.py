"""A list of tasks as "My tasks", a group's page and the team view show them (tasks/index.html), built in Python: a
task is some forty lines of markup with its one-click forms, and the template loop cost the page more than all its
queries (issue 17). Same markup as the template it replaced, every value escaped; the words looked up once per list."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date

from markupsafe import Markup, escape

from crm.tasks.schemas import PRIORITY_LABELS, STATUS_LABELS


class TaskItems:
    """`TaskItems(...)(tasks)`: the <li>s of service.TaskLines, with the reader's CSRF token and the list to come back
    to. A confidential project's name is not shown, nor its link unless the reader is a manager or its owner."""

    def __init__(self, *, today: date, is_manager: bool, me: int, csrf_token: str, list_url: str, list_query: str,
                 _: Callable[[str], str]) -> None:
        def word(message: str) -> str:
            return str(escape(_(message)))

        self.today, self.is_manager, self.me = today, is_manager, me
        self.csrf, self.list_url, self.list_query = str(escape(csrf_token)), str(escape(list_url)), str(escape(list_query))
        self.t_done, self.t_reopen, self.t_confidential = word("Mark done"), word("Reopen"), word("Confidential project")
        self.t_more, self.t_due, self.t_reschedule = word("Reschedule or reassign"), word("Due date"), word("Reschedule")
        self.t_who, self.t_reassign, self.t_edit = word("Who"), word("Reassign"), word("Edit")
        self.high = f'<span class="badge badge-warn">{word(PRIORITY_LABELS["high"])}</span>'
        self.statuses = {value: " · " + word(label) for value, label in STATUS_LABELS.items()}

    def __call__(self, tasks: Iterable) -> Markup:
        return Markup("".join(self._item(task) for task in tasks))  # noqa: S704 (every value is escaped)

    def _item(self, task) -> str:
        tid, is_open, csrf, back, query = task.id, task.is_open, self.csrf, self.list_url, self.list_query
        verb = "complete" if is_open else "reopen"
        classes = (" task-overdue" if is_open and task.due_on < self.today else "") + ("" if is_open else " task-closed")
        check = self.t_done if is_open else self.t_reopen
        due = task.due_on.isoformat()
        when = due + (" " + task.due_time.strftime("%H:%M") if task.due_time else "")
        assignee = escape(task.assignee.display_name)
        meta = []
        if (project := task.project) is not None:
            if project.is_confidential and not (self.is_manager or self.me == project.owner_id):
                meta.append(f"· {self.t_confidential}")
            else:
                name = self.t_confidential if project.is_confidential else escape(project.name)
                meta.append(f'· <a href="/projects/{task.project_id}">{name}</a>')
        if task.visit is not None:
            meta.append(f'· <a href="/visits/{task.visit_id}">{escape(task.visit.title)}</a>')
        if task.organization is not None:
            meta.append(f'· <a href="/organizations/{task.organization_id}">{escape(task.organization.name)}</a>')
        if task.contact is not None:
            meta.append(f'· <a href="/contacts/{task.contact_id}">{escape(task.contact.name)}</a>')
        if not is_open:
            meta.append(self.statuses[task.status])
        item = (
            f'<li class="task{classes}" id="task-{tid}">\n'
            f'  <div class="task-main">\n'
            f'    <form method="post" action="/tasks/{tid}/{verb}" class="inline"\n'
            f'          hx-post="/tasks/{tid}/{verb}{query}" hx-target="#tasks">\n'
            f'      <input type="hidden" name="csrf_token" value="{csrf}">\n'
            f'      <input type="hidden" name="next" value="{back}">\n'
            f'      <button type="submit" class="check-button" title="{check}" aria-label="{check}">'
            f'{"○" if is_open else "✓"}</button>\n'
            f'    </form>\n'
            f'    <div class="task-text">\n'
            f'      <a href="/tasks/{tid}" class="task-title">{escape(task.title)}</a>\n'
            f'{self.high if task.priority == "high" else ""}      <div class="task-meta muted">\n'
            f'        <time datetime="{due}">{when}</time>\n'
            f'        · {assignee}\n'
            f'{"".join(meta)}      </div>\n'
            f'    </div>\n'
            f'  </div>\n')
        if is_open:
            item += (
                f'  <details class="task-more" hx-get="/tasks/{tid}/assignee-options" hx-trigger="toggle once"\n'
                f'           hx-target="find select[name=assignee_id]" hx-swap="innerHTML">\n'
                f'    <summary>{self.t_more}</summary>\n'
                f'    <form method="post" action="/tasks/{tid}/reschedule" class="inline-form" '
                f'hx-post="/tasks/{tid}/reschedule{query}" hx-target="#tasks">\n'
                f'      <input type="hidden" name="csrf_token" value="{csrf}">\n'
                f'      <input type="hidden" name="next" value="{back}">\n'
                f'      <label>{self.t_due} <input type="date" name="due_on" value="{due}" min="2000-01-01" '
                f'max="2100-12-31" required></label>\n'
                f'      <button type="submit" class="button small secondary">{self.t_reschedule}</button>\n'
                f'    </form>\n'
                f'    <form method="post" action="/tasks/{tid}/reassign" class="inline-form" '
                f'hx-post="/tasks/{tid}/reassign{query}" hx-target="#tasks">\n'
                f'      <input type="hidden" name="csrf_token" value="{csrf}">\n'
                f'      <input type="hidden" name="next" value="{back}">\n'
                f'      <label>{self.t_who}\n'
                # the other users arrive when this is opened (htmx): forty users on a hundred tasks made the list heavy
                f'        <select name="assignee_id"><option value="{task.assignee_id}" selected>{assignee}</option>'
                f'</select>\n'
                f'      </label>\n'
                f'      <button type="submit" class="button small secondary">{self.t_reassign}</button>\n'
                f'      <noscript><a href="/tasks/{tid}/edit">{self.t_edit}</a></noscript>\n'
                f'    </form>\n'
                f'  </details>\n')
        return item + "</li>"
