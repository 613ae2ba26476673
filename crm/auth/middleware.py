"""Resolves the signed-in user, the language and the CSRF token before any route runs.

Run by the app's one pure-ASGI layer (crm/front.py) rather than as a sync dependency: the session lookup is one primary-key read,
cheaper than the thread-pool hand-off a sync dependency would cost on every request
(see docs/architecture.md, "Request cost"). The rare write (touching last_seen_at, at most
once a minute per session) goes to the thread pool, and is skipped when the database is busy.
"""

from __future__ import annotations

import logging
import secrets
from http.cookies import SimpleCookie
from typing import Any

import anyio
from starlette.requests import Request, cookie_parser
from starlette.types import Scope

from crm.auth import gate, service
from crm.auth.security import csrf_token_for, token_digest
from crm.db import utcnow
from crm.fast_read import PreparedRead
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


def request_cookies(scope: Scope) -> dict[str, str]:
    """The request's cookies, parsed as Starlette's Request.cookies parses them, without building a Request."""
    cookies: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"cookie":
            cookies.update(cookie_parser(value.decode("latin-1")))
    return cookies


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


async def resolve_request(scope: Scope) -> list[bytes]:
    """Sets the request's user, session id, language and CSRF token in its state (crm.front runs this for every
    request but static files); returns the Set-Cookie values the response must carry (a dead session's cookie
    cleared, a new anonymous cookie). The session row is read on every request: never cached (docs/architecture.md).
    Reads the scope directly: a Request object and its URL cost more than the rest of this (issue 17)."""
    app = scope["app"]
    settings = app.state.settings
    database = app.state.database
    secure = scope.get("scheme") == "https"
    state = scope.setdefault("state", {})
    extra_cookies: list[bytes] = []
    cookies = request_cookies(scope)

    resolved = None
    api = scope["path"].startswith("/api/v1/")  # the API reads no cookie: a Bearer token only (crm/api/auth.py)
    token = None if api else cookies.get(SESSION_COOKIE)
    if token:
        resolved = service.resolve_session(database.loop_engine, token=token, settings=settings)
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
            cookies.get(LANG_COOKIE)
            or locale_from_accept_language(_header(scope, b"accept-language"))
            or settings.default_locale
        )

    if resolved is not None:
        binding = f"session:{resolved.session_id}"
    elif api:
        binding = "api"
    else:
        anon = cookies.get(ANON_COOKIE)
        if not anon or len(anon) > 64:
            anon = secrets.token_urlsafe(24)
            extra_cookies.append(_cookie_header(ANON_COOKIE, anon, secure=secure))
        binding = f"anon:{anon}"
    state["csrf_token"] = csrf_token_for(settings.resolved_secret_key, binding)
    return extra_cookies


def settled_session(scope: Scope, read: PreparedRead) -> Any:
    """For a path served before the session lookup (crm/front.py: the bell, kept pages): the session row `read`
    gives (SESSION_QUERY with any columns added) when it may be served as it is, else None — no or dead session, a
    last-seen time due (the lookup touches it), an account step owed (crm/auth/gate.py). The row is read on every
    request, as the lookup reads it: a sign-out or a revocation holds at once, in every worker."""
    token = request_cookies(scope).get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    app = scope["app"]
    settings = app.state.settings
    row = read.first(app.state.database.loop_engine, digest=token_digest(token))
    if row is None:
        return None
    now = utcnow()
    if not service.session_usable(row, settings, now) or service.session_needs_touch(row, settings, now):
        return None
    # The account gate's checks read the user's columns (the row has them all but the password hash) and the app.
    return None if gate.required_step(Request(scope), row) is not None else row


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
