"""Sign in, sign out, and the language switch."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from crm.auth import account_service, second_factor, second_factor_routes, service
from crm.auth.middleware import LANG_COOKIE, SESSION_COOKIE, session_cookie
from crm.db import SessionDep
from crm.i18n import LOCALES, Msg
from crm.web import FormDep, Router, client_address, redirect, render, safe_next

public_router = Router()
router = Router()  # included behind the signed-in-user requirement


@public_router.get("/login")
def login_page(request: Request, next: str = "/", lang: str = "") -> Response:
    if request.state.user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    if lang in LOCALES:
        request.state.locale = lang
    response = render(request, "auth/login.html", {"next": safe_next(next), "username": "", "error": None})
    if lang in LOCALES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax", path="/")
    return response


@public_router.post("/login")
def login(request: Request, session: SessionDep, form: FormDep) -> Response:
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", "/")))
    if not username or not password:
        error: Msg | None = Msg("Enter your username and password.")
    else:
        try:
            user = service.authenticate(
                session, username=username, password=password, settings=request.app.state.settings,
                client_address=client_address(request),
            )
            error = None
        except service.LoginRefused as refused:
            error = refused.message
    if error is not None:
        return render(
            request,
            "auth/login.html",
            {"next": next_url, "username": username[:40], "error": error},
            status_code=401,
        )
    if user.second_factor_at is not None:  # the code is asked for before any session is made
        return second_factor_routes.ask_for_code(request, session, user=user, next_url=next_url)
    token = second_factor.sign_in(session, user=user, user_agent=request.headers.get("user-agent", ""),
                                  client_address=client_address(request))
    response = RedirectResponse(next_url, status_code=303)
    response.headers.append("set-cookie", session_cookie(token, secure=request.url.scheme == "https").decode())
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    if request.state.session_id:
        account_service.sign_out(session, session_id=request.state.session_id, user=request.state.user,
                                 client_address=client_address(request))
    response = redirect(request, "/login", flash=Msg("You have signed out."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def switch_language(request: Request, session: SessionDep, form: FormDep) -> Response:
    locale = str(form.get("locale", ""))
    if locale not in LOCALES:
        locale = "zh_CN"
    if request.state.user is not None:
        service.set_locale(session, user_id=request.state.user.id, locale=locale)
    back = safe_next(str(form.get("next", "/")))
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(LANG_COOKIE, locale, max_age=365 * 86400, httponly=True, samesite="lax", path="/")
    return response
