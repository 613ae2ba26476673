"""/admin/security: the security administrator's password policy and everyone's active sessions (issue 13)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from crm.auth import account_service, password_policy, service
from crm.auth.deps import RequireSecurityAdmin, require_security_admin
from crm.auth.models import User
from crm.db import RecordId, SessionDep
from crm.errors import NotFound, found
from crm.forms import FormResult, parse_version
from crm.i18n import Msg
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, client_address, redirect, render

router = Router(prefix="/admin/security", dependencies=[Depends(require_security_admin)])


def user_by_id(user_id: RecordId, session: SessionDep) -> User:
    return found(service.get_user(session, user_id))


UserDep = Annotated[User, Depends(user_by_id)]


def _policy_values(rules: password_policy.Rules) -> dict[str, str]:
    return {"min_length": str(rules.min_length), "require_classes": "1" if rules.require_classes else "",
            "max_age_days": str(rules.max_age_days or ""), "version": str(rules.version)}


@router.get("/policy")
def policy(request: Request, session: SessionDep, admin: RequireSecurityAdmin) -> Response:
    rules = password_policy.rules(session)
    return render(request, "admin/security/policy.html", {"form": FormResult(values=_policy_values(rules)),
                                                          "stale": None})


@router.post("/policy")
def save_policy(request: Request, session: SessionDep, admin: RequireSecurityAdmin, raw: FormDep) -> Response:
    values = {name: raw.get(name) if isinstance(raw.get(name), str) else ""
              for name in ("min_length", "require_classes", "max_age_days")}
    version = parse_version(raw)
    form = FormResult(values={**values, "version": str(version if version is not None else "")})
    try:
        password_policy.save(session, data=values, version=version, actor=admin)
    except password_policy.PolicyError as bad:
        form.errors.update(bad.errors)
        return render(request, "admin/security/policy.html", {"form": form, "stale": None}, block="form",
                      status_code=422)
    except StaleEdit as stale:
        form.values["version"] = str(password_policy.rules(session).version)
        return render(request, "admin/security/policy.html", {"form": form, "stale": stale.changes}, block="form",
                      status_code=409)
    return redirect(request, "/admin/security/policy", flash=Msg("Password policy saved."))


@router.get("/sessions")
def sessions(request: Request, session: SessionDep, admin: RequireSecurityAdmin) -> Response:
    active = account_service.active_sessions(session, settings=request.app.state.settings,
                                             current_id=request.state.session_id)
    by_user: dict[int, list[account_service.ActiveSession]] = {}
    for s in active:
        by_user.setdefault(s.user.id, []).append(s)
    groups = sorted(by_user.values(), key=lambda group: group[0].user.username)
    return render(request, "admin/security/sessions.html", {"groups": groups, "count": len(active)})


@router.post("/sessions/{session_id}/end")
def end_session(request: Request, session: SessionDep, admin: RequireSecurityAdmin, session_id: str) -> Response:
    if not account_service.end_session(session, session_id=session_id[:64], actor=admin,
                                       client_address=client_address(request)):
        raise NotFound()
    return redirect(request, "/admin/security/sessions", flash=Msg("The session was ended: that browser is signed out."))


@router.post("/users/{user_id}/sessions/end")
def end_user_sessions(request: Request, session: SessionDep, admin: RequireSecurityAdmin, user: UserDep) -> Response:
    keep = request.state.session_id if user.id == admin.id else None  # never signs out the one doing it
    n = account_service.end_sessions(session, owner=user, actor=admin, client_address=client_address(request),
                                     keep=keep)
    return redirect(request, "/admin/security/sessions",
                    flash=Msg("%(n)s sessions of %(name)s ended.", n=n, name=user.display_name))
