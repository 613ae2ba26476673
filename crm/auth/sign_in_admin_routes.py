"""The security administrator's sign-in page: bursts of failed sign-ins by account and by address, recent
failures, and each user's second factor with a reset (after a confirmation page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.auth import second_factor, throttle
from crm.auth import service as auth_service
from crm.auth.deps import RequireSecurityAdmin, require_security_admin
from crm.auth.models import User
from crm.auth.schemas import ROLE_LABELS
from crm.db import RecordId, SessionDep
from crm.errors import found
from crm.i18n import Msg
from crm.web import Router, client_address, redirect, render

router = Router(prefix="/admin/security/sign-in", dependencies=[Depends(require_security_admin)])

def user_by_id(user_id: RecordId, session: SessionDep) -> User:
    return found(auth_service.get_user(session, user_id))


UserDep = Annotated[User, Depends(user_by_id)]


@router.get("")
def index(request: Request, session: SessionDep, admin: RequireSecurityAdmin) -> Response:
    settings = request.app.state.settings
    accounts, addresses = throttle.bursts(session, settings=settings)
    return render(request, "admin/security/sign_in.html", {
        "accounts": accounts, "addresses": addresses, "failures": throttle.recent_failures(session),
        "factors": second_factor.users_with_status(session), "role_labels": ROLE_LABELS, "settings": settings,
    })


@router.get("/users/{user_id}/reset-second-factor")
def confirm_reset(request: Request, admin: RequireSecurityAdmin, user: UserDep) -> Response:
    return render(request, "admin/security/reset_second_factor.html", {"user": user, "error": None})


@router.post("/users/{user_id}/reset-second-factor")
def reset(request: Request, session: SessionDep, admin: RequireSecurityAdmin, user: UserDep) -> Response:
    try:
        second_factor.reset(session, user=user, actor=admin, client_address=client_address(request))
    except second_factor.SecondFactorError as err:
        session.rollback()
        return render(request, "admin/security/reset_second_factor.html", {"user": user, "error": err.message},
                      status_code=422)
    return redirect(request, "/admin/security/sign-in",
                    flash=Msg("The second factor of %(name)s was reset: they set up a new one at their next sign-in.",
                              name=user.display_name))
