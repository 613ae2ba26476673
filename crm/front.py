"""The app's one pure-ASGI layer: everything every request passes before FastAPI, in one call and one `send` wrapper.

It was four middlewares (security headers, session, input check, the 500 page), each a call and most a `send`
wrapper of their own; collapsed here, in the same order, with the same effects (issue 17):
1. **Fast paths**: a registered plain GET (`fast_gets`, path → handler; the bell, crm/notifications/routes.py) whose
   handler answers the common case itself — the same bytes as its route — without FastAPI's routing, dependencies
   and exception layers. The handler reads the session row itself on every request (a revoked session stops at the
   next request, in every worker) and returns None for anything unusual (no or dead session, a session to touch, an
   account step owed, another role, a query string, headers to clean): the request then takes the normal way below,
   which answers it as before.
   **Kept pages** (crm/kept_pages.py): a GET of a list page or an organization's page that the same reader asked
   for in the same data generation is answered with the bytes kept then (their CSRF token put back); a miss takes
   the normal way, and the page it answers is kept on its way out.
2. **Session** (crm.auth.middleware.resolve_request): user, language and CSRF token into the request's state, and
   the cookies the response must carry; not for static files.
3. **Input check** (crm.input_checks.checked_scope): a path or query string that is not UTF-8 text or holds control
   characters is refused with the 400 page, in the reader's language; search text and header values are cleaned.
4. **The 500 page**: any error no handler answered becomes the 500 page, here, inside the app: Starlette's own
   last-resort handler answers too, but then re-raises, so the server logs the error twice and drops the connection
   the client would send its next request on.
5. **Security headers** (crm.security_headers) on every response's start, fast paths' included, with the cookies of
   step 2.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.auth.middleware import resolve_request
from crm.input_checks import InvalidInput, checked_scope, error_page
from crm.kept_pages import KeptPages, Lookup
from crm.security_headers import add_security_headers

# A fast path's answer: status, the start message's headers (security headers are added to a copy), the body.
FastAnswer = tuple[int, list[tuple[bytes, bytes]], bytes]
FastGet = Callable[[Scope], Awaitable[FastAnswer | None]]


class Front:
    def __init__(self, app: ASGIApp, *, server_error_page: Callable[[Request, BaseException], Response],
                 fast_gets: Mapping[str, FastGet] | None = None, kept_pages: KeptPages | None = None) -> None:
        self.app = app
        self.server_error_page = server_error_page
        self.fast_gets = dict(fast_gets or {})
        self.kept_pages = kept_pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"  # uvicorn sets it from X-Forwarded-Proto of a trusted proxy

        fast = self.fast_gets.get(scope["path"]) if scope["method"] == "GET" else None
        if fast is not None and not scope.get("query_string") and checked_scope(scope) is scope:
            answer = await fast(scope)
            if answer is not None:
                await _send_answer(send, answer, https=https)
                return

        lookup = None
        if scope["method"] == "GET" and self.kept_pages is not None and self.kept_pages.paths.match(scope["path"]):
            lookup = self._kept_lookup(scope)
            if lookup is not None and lookup.page is not None:
                await _send_answer(send, self.kept_pages.answer(lookup), https=https)
                return

        extra_cookies = [] if scope["path"].startswith("/static/") else await resolve_request(scope)
        state = scope.setdefault("state", {})
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                headers.extend((b"set-cookie", cookie) for cookie in extra_cookies)
                add_security_headers(headers, https=https, signed_in=state.get("user") is not None)
                message = {**message, "headers": headers}
            await send(message)

        try:
            scope = checked_scope(scope)
        except InvalidInput as bad:
            await error_page(scope, bad.message)(scope, receive, send_with_headers)
            return
        send_app = send_with_headers if lookup is None else self._keeping(lookup, scope, send_with_headers)
        try:
            await self.app(scope, receive, send_app)
        except Exception as exc:
            if started:  # part of the response is out: nothing sensible can follow it
                raise
            response = self.server_error_page(Request(scope), exc)
            await response(scope, receive, send_with_headers)

    def _kept_lookup(self, scope: Scope) -> Lookup | None:
        """Only for a request the input check passes unchanged: one it cleans or refuses takes the normal way."""
        try:
            if checked_scope(scope) is not scope:
                return None
        except InvalidInput:
            return None
        assert self.kept_pages is not None
        return self.kept_pages.lookup(scope)

    def _keeping(self, lookup: Lookup, scope: Scope, send: Send) -> Send:
        """`send`, keeping the page it sends when it may be served again (crm/kept_pages.py)."""
        kept_pages = self.kept_pages
        assert kept_pages is not None
        start: Message | None = None
        chunks: list[bytes] = []

        async def keeping_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    kept_pages.keep(lookup, scope, start, b"".join(chunks))
            await send(message)

        return keeping_send


async def _send_answer(send: Send, answer: FastAnswer, *, https: bool) -> None:
    """A signed-in answer made before FastAPI (a fast path's, a kept page's), with every security header."""
    status, headers, body = answer
    headers = list(headers)
    add_security_headers(headers, https=https, signed_in=True)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
