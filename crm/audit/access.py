"""Who reads which audit entries (separation of duties, 访问控制 + 安全审计).

- The audit administrator reads the whole trail (and nothing else of the CRM).
- A manager reads the changes of the records they may see, and their own sign-in and access events; not the
  security events of other users, not the changes of user accounts and settings, and not the entries of a record
  its domain says they may not see (a confidential project: crm/projects registers its visibility rule here).
- Nobody else, the system administrator included: who administers the system does not also read its audit trail.

Shared code imports no domain: a domain calls `register(entity_type, visible_ids)` at import, where
`visible_ids(user)` is a SELECT of the ids of that type the user may see.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Select, and_, false, or_, true
from sqlalchemy.sql.elements import ColumnElement

from crm.audit.models import DATA_ACTIONS, AuditEntry
from crm.auth.models import Role, User

# Changes to these are the administrators' business (accounts, settings, reference data): the audit administrator's.
ADMIN_ENTITY_TYPES = frozenset({"user", "reminder_rule", "outbox", "approval_template", "industry_chain",
                                "password_policy", "economic_indicator", "sign_in_policy", "security_policy",
                                "scheduling_setting", "responsible_department", "webhook_subscription"})

_VISIBLE: dict[str, Callable[[User], Select]] = {}


def register(entity_type: str, visible_ids: Callable[[User], Select]) -> None:
    _VISIBLE[entity_type] = visible_ids


def may_read(user: User) -> bool:
    return user.role in (Role.AUDIT_ADMIN, Role.MANAGER)


def readable_by(user: User) -> ColumnElement[bool]:
    """The audit entries `user` may read, as a condition on AuditEntry."""
    if user.role == Role.AUDIT_ADMIN:
        return true()
    if user.role != Role.MANAGER:
        return false()
    data_actions = [action.value for action in DATA_ACTIONS]
    rules = [or_(AuditEntry.entity_type != kind, AuditEntry.entity_id.in_(visible(user)))
             for kind, visible in _VISIBLE.items()]
    changes = and_(AuditEntry.action.in_(data_actions), AuditEntry.entity_type.not_in(ADMIN_ENTITY_TYPES), *rules)
    own_events = and_(AuditEntry.action.not_in(data_actions), AuditEntry.actor_id == user.id)
    return or_(changes, own_events)
