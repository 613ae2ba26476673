"""Who may do what: dependencies used in route signatures."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from crm.auth import gate
from crm.auth.models import NON_BUSINESS_ROLES, Role, User
from crm.db import UNSAFE_METHODS
from crm.web import CSRF_FIELD, CSRF_HEADER, form_data


class NotAuthenticated(Exception):
    """Raised when a route needs a signed-in user; answered with a redirect to /login."""


class Forbidden(Exception):
    """Raised when the signed-in user's role does not allow the action; answered with 403."""


class CsrfFailed(Exception):
    """Raised when a state-changing request lacks a valid CSRF token; answered with 403."""


async def verify_csrf(request: Request) -> None:
    if request.method not in UNSAFE_METHODS:
        return
    token = request.headers.get(CSRF_HEADER, "")
    if not token:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await form_data(request)  # the route's limits: a file only where the route takes uploads
            value = form.get(CSRF_FIELD, "")
            token = value if isinstance(value, str) else ""
    expected = getattr(request.state, "csrf_token", "")
    if not token or not expected or not hmac.compare_digest(token, expected):
        raise CsrfFailed()


async def current_user(request: Request) -> User:
    user = getattr(request.state, "user", None)
    if user is None:
        raise NotAuthenticated()
    if (step := gate.required_step(request, user)) is not None:
        raise gate.AccountStepRequired(step)
    return user


async def require_manager(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role not in (Role.MANAGER, Role.ADMIN):
        raise Forbidden()
    return user


async def require_admin(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != Role.ADMIN:
        raise Forbidden()
    return user


async def require_security_admin(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != Role.SECURITY_ADMIN:
        raise Forbidden()
    return user


async def require_audit_admin(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role != Role.AUDIT_ADMIN:
        raise Forbidden()
    return user


# The security and audit administrators work on the system, not on the zone's business: every signed-in route is
# refused to them (403) except these — their own pages under /admin/, their account, signing out, the language, and
# the home page (which sends them to their own work). One central check (crm.main includes every signed-in router
# behind it), so a new business route is refused to them by default; tests/test_route_matrix.py proves it per route.
NON_BUSINESS_PATHS = frozenset({"/", "/logout", "/language"})
NON_BUSINESS_PREFIXES = ("/account", "/admin/")


def works_with_business_data(user: User) -> bool:
    """Officers, managers and the system administrator (kept, deliberately: an admin is a manager for business
    data, see docs/security.md); never the security or the audit administrator."""
    return user.role not in NON_BUSINESS_ROLES


def is_business_path(path: str) -> bool:
    if path in NON_BUSINESS_PATHS:
        return False
    return not any(path == prefix.rstrip("/") or path.startswith(prefix.rstrip("/") + "/")
                   for prefix in NON_BUSINESS_PREFIXES)


async def require_business_user(request: Request, user: Annotated[User, Depends(current_user)]) -> User:
    if not works_with_business_data(user) and is_business_path(request.url.path):
        raise Forbidden()
    return user


CurrentUser = Annotated[User, Depends(current_user)]
RequireManager = Annotated[User, Depends(require_manager)]
RequireAdmin = Annotated[User, Depends(require_admin)]
RequireSecurityAdmin = Annotated[User, Depends(require_security_admin)]
RequireAuditAdmin = Annotated[User, Depends(require_audit_admin)]
