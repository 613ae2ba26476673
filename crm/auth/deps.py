"""Who may do what: dependencies used in route signatures."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from crm.auth import gate
from crm.auth.models import Role, User
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


CurrentUser = Annotated[User, Depends(current_user)]
RequireManager = Annotated[User, Depends(require_manager)]
RequireAdmin = Annotated[User, Depends(require_admin)]
RequireSecurityAdmin = Annotated[User, Depends(require_security_admin)]
RequireAuditAdmin = Annotated[User, Depends(require_audit_admin)]
