"""/account: every signed-in user's own password and sessions (issue 13, 身份鉴别)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from crm.auth import account_service, password_policy
from crm.auth.deps import CurrentUser
from crm.auth.middleware import SESSION_COOKIE
from crm.db import SessionDep
from crm.errors import NotFound
from crm.forms import Field, FormResult, parse
from crm.i18n import N_, Msg
from crm.web import FormDep, Router, client_address, redirect, render

router = Router(prefix="/account")

PASSWORD_FIELDS = [
    Field("current_password", N_("Current password"), required=True, max_length=200),
    Field("new_password", N_("New password"), required=True, max_length=200),
    Field("new_password_again", N_("New password again"), required=True, max_length=200),
]


def _password_page(request: Request, session, user, form: FormResult, *, status_code: int = 200) -> Response:
    rules = password_policy.rules(session)
    if user.must_change_password:
        reason: Msg | None = Msg("An administrator set your password: choose your own before you go on.")
    elif password_policy.password_expired(user, rules.max_age_days):
        reason = Msg("Your password is older than %(days)s days: choose a new one before you go on.",
                     days=rules.max_age_days)
    else:
        reason = None
    return render(request, "account/password.html",
                  {"form": form, "reason": reason, "password_rules": password_policy.summary(rules)},
                  block="form", status_code=status_code)


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    sessions = account_service.active_sessions(session, settings=request.app.state.settings, user_id=user.id,
                                               current_id=request.state.session_id)
    return render(request, "account/index.html", {"sessions": sessions})


@router.get("/password")
def password_form(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _password_page(request, session, user, FormResult())


@router.post("/password")
def change_password(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    form = parse(PASSWORD_FIELDS, raw)
    if form.ok and form.data["new_password"] != form.data["new_password_again"]:
        form.add_error("new_password_again", Msg("The two new passwords differ."))
    if form.ok:
        try:
            account_service.change_own_password(
                session, user_id=user.id, current=form.data["current_password"], new=form.data["new_password"],
                session_id=request.state.session_id, client_address=client_address(request))
            return redirect(request, "/account",
                            flash=Msg("Your password was changed; your other sessions were signed out."))
        except account_service.PasswordChangeError as err:
            form.add_error(err.field, err.message)
    form.values = dict.fromkeys(form.values, "")  # passwords are never sent back
    return _password_page(request, session, user, form, status_code=422)


@router.post("/sessions/others/end")
def end_other_sessions(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    n = account_service.end_sessions(session, owner=user, actor=user, client_address=client_address(request),
                                     keep=request.state.session_id, event="sign_out_everywhere")
    return redirect(request, "/account", flash=Msg("Signed out everywhere else (%(n)s sessions).", n=n))


@router.post("/sessions/{session_id}/end")
def end_session(request: Request, session: SessionDep, user: CurrentUser, session_id: str) -> Response:
    if not account_service.end_session(session, session_id=session_id[:64], actor=user, owner_id=user.id,
                                       client_address=client_address(request)):
        raise NotFound()
    if session_id == request.state.session_id:  # this browser: signed out
        response = redirect(request, "/login", flash=Msg("You have signed out."))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    return redirect(request, "/account", flash=Msg("The session was ended: that browser is signed out."))
