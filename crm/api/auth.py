"""Who is calling the API: `Authorization: Bearer <token>` only (a session cookie is never read under /api/v1/),
the per-token per-minute budget, and the scopes."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Request

from crm.api import tokens
from crm.api.problems import ApiProblem
from crm.audit import service as audit_service
from crm.auth.deps import works_with_business_data
from crm.auth.models import User
from crm.db import UNSAFE_METHODS, utcnow
from crm.i18n import Msg, locale_from_accept_language, normalize_locale

API_CHANNEL = "api"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm"'}


def _unauthenticated(request: Request, detail: Msg) -> ApiProblem:
    return ApiProblem(401, detail, headers=CHALLENGE)


async def bearer(request: Request) -> User:
    """The token's user, once the token is valid and within its budget. Runs on the event loop (one Core query,
    like the web session's); the request count is one short write of its own in the thread pool."""
    request.state.locale = normalize_locale(locale_from_accept_language(request.headers.get("accept-language"))
                                            or request.app.state.settings.default_locale)
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthenticated(request, Msg("Send a personal access token: Authorization: Bearer <token>."))
    database = request.app.state.database
    now = utcnow()
    with database.loop_engine.connect() as connection:
        found = tokens.resolve(connection, secret=secret.strip(), now=now)
    if found is None:
        raise _unauthenticated(request, Msg("The token is unknown, revoked or expired, or its user is deactivated."))
    user = found.user
    request.state.user = user
    request.state.api_token = found
    request.state.locale = normalize_locale(user.locale)
    audit_service.current_channel.set(API_CHANNEL)
    count = await anyio.to_thread.run_sync(_count, database, found.token_id, now)
    if count is not None and count > found.requests_per_minute:
        wait = tokens.seconds_to_next_minute(now)
        raise ApiProblem(429, Msg("This token's budget of %(n)s requests a minute is used up. Try again in %(s)s seconds.",
                                  n=found.requests_per_minute, s=wait), headers={"Retry-After": str(wait)})
    if not works_with_business_data(user):
        raise ApiProblem(403, Msg("Your role does not allow this."))
    if request.method in UNSAFE_METHODS and not found.can_write:
        raise ApiProblem(403, Msg("This token may only read: create a token with the write scope to change records."))
    return user


def _count(database, token_id: int, now) -> int | None:
    with database.bookkeeping_sessions() as session:
        return tokens.count_request(session, token_id=token_id, now=now)


ApiUser = Annotated[User, Depends(bearer)]
