"""The rule registry: every reminder rule, listed explicitly (a rule missing here never runs, visibly).

Rules 4–7 (stale project, groundbreaking countdown, permit overdue, parcel signing window) came with projects;
rule 8 (missing export figures, export_missing.py) with the export pool; rules 9–11 (monthly report due,
coordination item overdue, scheduling meeting agenda: major_projects.py) with major-project scheduling; rule 13
(a backup failed or none succeeded for two days: backups.py) with backups.
See docs/architecture.md, "Reminders"."""

from __future__ import annotations

from crm.notifications.rules import (
    backups,
    digest,
    export_missing,
    groundbreaking,
    major_projects,
    parcel_window,
    permit_overdue,
    stale_project,
    task_due,
    visit_followup,
    visit_planned,
)
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig

RULES: tuple[Rule, ...] = (task_due.RULE, visit_followup.RULE, visit_planned.RULE, stale_project.RULE,
                           groundbreaking.RULE, permit_overdue.RULE, parcel_window.RULE,
                           export_missing.RULE, *major_projects.RULES, backups.RULE)  # planned from records
DIGEST: Rule = digest.RULE  # gathers the others' rows
ALL: tuple[Rule, ...] = (*RULES, DIGEST)
BY_CODE: dict[str, Rule] = {rule.code: rule for rule in ALL}
# The number an audit entry of a rule's settings carries: fixed per rule, in the order rules were added (the digest
# was the ninth), so a new rule never renumbers the history of an older one. Append new rules at the end.
AUDIT_IDS: dict[str, int] = {rule.code: number for number, rule in enumerate(
    (*RULES[:8], DIGEST, *major_projects.RULES, backups.RULE), start=1)}

__all__ = ["ALL", "AUDIT_IDS", "BY_CODE", "DIGEST", "RULES", "Reminder", "Rendered", "Rule", "RuleConfig"]
