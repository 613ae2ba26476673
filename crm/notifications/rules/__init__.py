"""The rule registry: every reminder rule, listed explicitly (a rule missing here never runs, visibly).

Rules 4–8 of issue 6 wait for their records: each becomes one module here when projects (stale project,
groundbreaking countdown), approval items (permit overdue), parcels (signing window) and export figures (missing
figures) exist, and is added to RULES. See docs/architecture.md, "Reminders"."""

from __future__ import annotations

from crm.notifications.rules import digest, task_due, visit_followup, visit_planned
from crm.notifications.rules.base import Reminder, Rendered, Rule, RuleConfig

RULES: tuple[Rule, ...] = (task_due.RULE, visit_followup.RULE, visit_planned.RULE)  # planned from records
DIGEST: Rule = digest.RULE  # gathers the others' rows
ALL: tuple[Rule, ...] = (*RULES, DIGEST)
BY_CODE: dict[str, Rule] = {rule.code: rule for rule in ALL}

__all__ = ["ALL", "BY_CODE", "DIGEST", "RULES", "Reminder", "Rendered", "Rule", "RuleConfig"]
