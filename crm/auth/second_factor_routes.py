"""Two-factor sign-in: the code step of signing in (/login/two-factor) and each user's set-up page
(/account/two-factor). Administrators are sent to the set-up page before any other page until they have one."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from crm.auth import gate, second_factor
from crm.auth.deps import CurrentUser
from crm.auth.middleware import session_cookie
from crm.auth.models import ADMIN_ROLES, User
from crm.db import SessionDep
from crm.forms import FormResult
from crm.i18n import Msg
from crm.web import FormDep, Router, client_address, redirect, render

public_router = Router()
router = Router(prefix="/account/two-factor")

CHALLENGE_COOKIE = "crm_sign_in"
SET_UP_URL = "/account/two-factor"


@gate.register
def administrators_need_a_second_factor(request: Request, user: User) -> str | None:
    settings = request.app.state.settings
    if settings.resolved_admin_second_factor and user.role in ADMIN_ROLES and user.second_factor_at is None:
        return SET_UP_URL
    return None


def _text(form, name: str, limit: int = 200) -> str:
    value = form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


# The code step of signing in (no session yet: public routes, bound to the browser by the challenge cookie)

def ask_for_code(request: Request, session: Session, *, user: User, next_url: str) -> Response:
    """Called by the login route after the right password of a user with a second factor."""
    token = second_factor.start_challenge(session, user=user, next_url=next_url)
    response = RedirectResponse("/login/two-factor", status_code=303)
    response.set_cookie(CHALLENGE_COOKIE, token, max_age=second_factor.CHALLENGE_MINUTES * 60, path="/login",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


def _back_to_password(request: Request, message: Msg) -> Response:
    response = redirect(request, "/login", flash=message)
    response.delete_cookie(CHALLENGE_COOKIE, path="/login")
    return response


@public_router.get("/login/two-factor")
def code_page(request: Request, session: SessionDep) -> Response:
    if request.state.user is not None:
        return RedirectResponse("/", status_code=303)
    if second_factor.pending_challenge(session, token=request.cookies.get(CHALLENGE_COOKIE, "")) is None:
        return _back_to_password(request, Msg("This sign-in has expired. Enter your password again."))
    return render(request, "auth/two_factor.html", {"error": None})


@public_router.post("/login/two-factor")
def submit_code(request: Request, session: SessionDep, form: FormDep) -> Response:
    try:
        signed_in = second_factor.complete_challenge(
            session, token=request.cookies.get(CHALLENGE_COOKIE, ""), code=_text(form, "code", 40),
            user_agent=request.headers.get("user-agent", ""), client_address=client_address(request),
            settings=request.app.state.settings,
        )
    except second_factor.SecondFactorError as refused:
        if refused.restart:
            return _back_to_password(request, refused.message)
        return render(request, "auth/two_factor.html", {"error": refused.message}, status_code=401)
    response = RedirectResponse(signed_in.next_url, status_code=303)
    response.delete_cookie(CHALLENGE_COOKIE, path="/login")
    response.headers.append("set-cookie", session_cookie(signed_in.token,
                                                         secure=request.url.scheme == "https").decode())
    return response


# Each user's own set-up page

def _page(request: Request, session: Session, user: User, *, form: FormResult | None = None,
          codes: list[str] | None = None, status_code: int = 200) -> Response:
    status = second_factor.status(session, user_id=user.id)
    context = {"status": status, "form": form or FormResult(), "codes": codes, "qr": None, "secret": None,
               "required": request.app.state.settings.resolved_admin_second_factor and user.role in ADMIN_ROLES}
    if status.pending_secret is not None and codes is None:
        uri = second_factor.provisioning_uri(status.pending_secret, username=user.username,
                                             issuer=request.app.state.settings.zone_name_en)
        context.update(qr=second_factor.qr_svg_data_uri(uri), secret=second_factor.grouped_secret(status.pending_secret))
    return render(request, "account/two_factor.html", context, status_code=status_code)


@router.get("")
def page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _page(request, session, user)


@router.post("/setup")
def set_up(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    second_factor.begin_enrolment(session, user_id=user.id)
    return redirect(request, SET_UP_URL)


@router.post("/cancel")
def cancel(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    second_factor.cancel_enrolment(session, user_id=user.id)
    return redirect(request, SET_UP_URL)


@router.post("/confirm")
def confirm(request: Request, session: SessionDep, user: CurrentUser, form: FormDep) -> Response:
    try:
        codes = second_factor.confirm_enrolment(session, user_id=user.id, code=_text(form, "code", 40),
                                                client_address=client_address(request))
    except second_factor.SecondFactorError as err:
        session.rollback()
        return _page(request, session, user, form=FormResult(errors={err.field: err.message}), status_code=422)
    return _page(request, session, user, codes=codes)


@router.post("/recovery-codes")
def new_recovery_codes(request: Request, session: SessionDep, user: CurrentUser, form: FormDep) -> Response:
    try:
        codes = second_factor.regenerate_recovery_codes(
            session, user_id=user.id, password=_text(form, "recovery_password"), client_address=client_address(request),
            settings=request.app.state.settings)
    except second_factor.SecondFactorError as err:
        session.rollback()
        errors = {f"recovery_{err.field}": err.message}
        return _page(request, session, user, form=FormResult(errors=errors), status_code=422)
    return _page(request, session, user, codes=codes)


@router.post("/disable")
def disable(request: Request, session: SessionDep, user: CurrentUser, form: FormDep) -> Response:
    try:
        second_factor.disable(session, user_id=user.id, password=_text(form, "disable_password"),
                              code=_text(form, "disable_code", 40), client_address=client_address(request),
                              settings=request.app.state.settings)
    except second_factor.SecondFactorError as err:
        session.rollback()
        return _page(request, session, user, form=FormResult(errors={f"disable_{err.field}": err.message}),
                     status_code=422)
    return redirect(request, SET_UP_URL, flash=Msg("Two-factor sign-in is turned off."))
