"""Resolves the signed-in user, the language and the CSRF token before any route runs.

A pure ASGI middleware rather than a sync dependency: the session lookup is one primary-key read,
cheaper than the thread-pool hand-off a sync dependency would cost on every request
(see docs/architecture.md, "Request cost"). The rare write (touching last_seen_at, at most
once a minute per session) goes to the thread pool, and is skipped when the database is busy.
"""

from __future__ import annotations

import logging
import secrets
from http.cookies import SimpleCookie

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.auth import service
from crm.auth.security import csrf_token_for
from crm.i18n import locale_from_accept_language, normalize_locale

log = logging.getLogger("crm.auth")

SESSION_COOKIE = "crm_session"
ANON_COOKIE = "crm_anon"
LANG_COOKIE = "crm_lang"


def _cookie_header(name: str, value: str, *, secure: bool, max_age: int | None = None) -> bytes:
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    if secure:
        morsel["secure"] = True
    if max_age is not None:
        morsel["max-age"] = max_age
    return morsel.OutputString().encode("latin-1")


class SessionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return

        request = Request(scope)
        app = scope["app"]
        settings = app.state.settings
        database = app.state.database
        secure = request.url.scheme == "https"
        state = scope.setdefault("state", {})
        extra_cookies: list[bytes] = []

        resolved = None
        api = scope["path"].startswith("/api/v1/")  # the API reads no cookie: a Bearer token only (crm/api/auth.py)
        token = None if api else request.cookies.get(SESSION_COOKIE)
        if token:
            with database.loop_read() as connection:
                resolved = service.resolve_session(connection, token=token, settings=settings)
            if resolved is None:
                extra_cookies.append(_cookie_header(SESSION_COOKIE, "", secure=secure, max_age=0))
            elif resolved.needs_touch:
                await anyio.to_thread.run_sync(_touch, database, resolved.session_id)

        user = resolved.user if resolved else None
        state["user"] = user
        state["session_id"] = resolved.session_id if resolved else None
        if user is not None:
            state["locale"] = normalize_locale(user.locale)
        else:
            state["locale"] = normalize_locale(
                request.cookies.get(LANG_COOKIE)
                or locale_from_accept_language(request.headers.get("accept-language"))
                or settings.default_locale
            )

        if resolved is not None:
            binding = f"session:{resolved.session_id}"
        elif api:
            binding = "api"
        else:
            anon = request.cookies.get(ANON_COOKIE)
            if not anon or len(anon) > 64:
                anon = secrets.token_urlsafe(24)
                extra_cookies.append(_cookie_header(ANON_COOKIE, anon, secure=secure))
            binding = f"anon:{anon}"
        state["csrf_token"] = csrf_token_for(settings.resolved_secret_key, binding)

        if not extra_cookies:
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend((b"set-cookie", c) for c in extra_cookies)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookies)


def _touch(database, session_id: str) -> None:
    """Best effort: when the database is busy the touch is skipped (the next request tries again); a page load
    never waits on, or fails for, another user's save."""
    try:
        with database.bookkeeping_sessions() as db:
            service.touch_session(db, session_id=session_id)
    except Exception as exc:
        log.warning("session last-seen time not recorded (%s); the next request tries again", exc)


def session_cookie(token: str, *, secure: bool) -> bytes:
    return _cookie_header(SESSION_COOKIE, token, secure=secure)
