from __future__ import annotations

import re

from crm.auth.models import Role
from crm.forms import Field
from crm.i18n import LOCALES, N_, Msg
from crm.validators import check_email

# One role per account: the three administrator roles (系统管理员, 安全管理员, 审计管理员) can never meet in one person.
ROLE_LABELS = {
    Role.OFFICER: N_("Investment officer"),
    Role.MANAGER: N_("Manager"),
    Role.ADMIN: N_("System administrator"),
    Role.SECURITY_ADMIN: N_("Security administrator"),
    Role.AUDIT_ADMIN: N_("Audit administrator"),
}
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.\-]{2,39}$")


def check_username(value: str) -> Msg | None:
    if not USERNAME_RE.match(value):
        return Msg("3 to 40 lower-case letters, digits, dots, dashes or underscores, starting with a letter.")
    return None


def user_fields(*, creating: bool) -> list[Field]:
    fields = [
        Field("display_name", N_("Display name"), required=True, max_length=60),
        Field("title", N_("Title"), max_length=100),
        Field("email", N_("E-mail"), max_length=254, checks=[check_email]),
        Field("role", N_("Role"), required=True, choices=[r.value for r in Role]),
        Field("locale", N_("Language"), required=True, choices=list(LOCALES)),
        Field("department", N_("Department"), max_length=60),
        Field("manager_id", N_("Reports to"), integer=True),
    ]
    if creating:
        fields.insert(0, Field("username", N_("Username"), required=True, max_length=40, normalize=str.lower,
                               checks=[check_username]))
        fields.append(Field("password", N_("Password"), required=True, max_length=200))  # the policy: in the service
    return fields


def password_fields() -> list[Field]:
    return [Field("password", N_("New password"), required=True, max_length=200)]  # the policy: in the service
