"""The API application, mounted at /api/v1: its routers behind the Bearer token, its problem-details errors and
its OpenAPI 3.1 document. A FastAPI application of its own, so the site's HTML error pages and its CSRF check
(a browser form's) do not apply here; the site's middleware still wraps it (security headers, input checks), and
the session lookup (crm.auth.middleware.resolve_request) ignores cookies under /api/v1/."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as StarletteRequest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.api import common, entries, openapi_doc, validation
from crm.api.auth import bearer
from crm.api.problems import ApiProblem, problem_response
from crm.api.resources import ROUTERS as RESOURCE_ROUTERS
from crm.api.resources import public_router
from crm.auth.deps import Forbidden
from crm.db import is_busy
from crm.errors import BadRequest, NotFound
from crm.i18n import Msg
from crm.versioning import StaleEdit

log = logging.getLogger("crm.api")

PREFIX = "/api/v1"
ROUTERS = (*RESOURCE_ROUTERS, entries.router)
RETRY_AFTER_SECONDS = 2


def _locale(request: StarletteRequest) -> str:
    return getattr(request.state, "locale", None) or "zh_CN"


def _problem(request: StarletteRequest, status: int, detail: Msg | str | None = None, **kwargs: Any) -> JSONResponse:
    return problem_response(status, locale=_locale(request), instance=request.scope.get("path", ""), detail=detail,
                            **kwargs)


def _register_handlers(api: FastAPI) -> None:
    @api.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return _problem(request, exc.status, exc.detail, errors=exc.errors, headers=exc.headers, **exc.extra)

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if getattr(request.state, "api_token", None) is None and request.url.path != f"{PREFIX}/openapi.json":
            # A body that is not JSON is refused before the dependencies run: who is asking comes first (401, 429,
            # 403), and the refusal is then in their language.
            try:
                await bearer(request)
            except ApiProblem as problem:
                return _problem(request, problem.status, problem.detail, errors=problem.errors,
                                headers=problem.headers, **problem.extra)
        in_path, errors = validation.field_errors(list(exc.errors()))
        if in_path:
            return _problem(request, 404, Msg("There is no such record."))
        return _problem(request, 422, Msg("Some fields need attention."), errors=errors)

    @api.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _problem(request, 404, Msg("There is no such record."))

    @api.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest) -> Response:
        return _problem(request, 400, exc.message)

    @api.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _problem(request, 403, Msg("Your role does not allow this."))

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _problem(request, 404, Msg("There is no such record."))
        if exc.status_code == 405:
            return _problem(request, 405, Msg("This address does not accept that kind of request."),
                            headers={"Allow": _allowed_methods(request)})
        return _problem(request, exc.status_code, str(exc.detail) if exc.detail else None)

    @api.exception_handler(StaleEdit)
    @api.exception_handler(StaleDataError)
    @api.exception_handler(ObjectDeletedError)
    async def _stale(request: Request, exc: Exception) -> Response:
        return _problem(request, 412, Msg("Someone else saved this record after you read it. Nothing was overwritten: read it again, then apply your change."))

    @api.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        if isinstance(exc, IntegrityError) and common.is_key_conflict(exc) and getattr(request.state, "idempotency", None):
            return await run_in_threadpool(_replay_after_conflict, request)
        if is_busy(exc):
            log.warning("database busy on %s %s: %s", request.method, request.url.path, exc.orig)
            return _problem(request, 503, Msg("The system is busy. Nothing was saved: please try again in a moment."),
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
        return _problem(request, 500, Msg("Something went wrong on our side. The error was logged; nothing was half-saved."))

    @api.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        # Starlette's ServerErrorMiddleware (the API app's outermost layer) answers with this, then re-raises: the
        # error is logged, and the client gets a problem document, not its plain-text "Internal Server Error".
        return _problem(request, 500, Msg("Something went wrong on our side. The error was logged; nothing was half-saved."))


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this address (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in (route for router in (public_router, *ROUTERS) for route in router.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _replay_after_conflict(request: Request) -> Response:
    token_id, key, request_hash, render = request.state.idempotency
    with request.app.state.database.read_sessions() as session:
        earlier = common.earlier_answer(session, token_id=token_id, key=key)
        if earlier is None:
            return _problem(request, 409, Msg("Another request with this Idempotency-Key is being handled: try again in a moment."))
        try:
            return common.replay(session, earlier, request_hash=request_hash, render=render)
        except ApiProblem as problem:
            return _problem(request, problem.status, problem.detail)


class ApiErrors:
    """An error no handler answered: a 500 problem document, here (not Starlette's plain text), logged once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"cache-control", b"no-store")]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as exc:
            if started:
                raise
            log.error("unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            request = StarletteRequest(scope)
            response = _problem(request, 500, Msg("Something went wrong on our side. The error was logged; nothing was half-saved."))
            await response(scope, receive, send)


def create_api(state: State) -> ASGIApp:
    api = FastAPI(title="招商引资 CRM API", docs_url=None, redoc_url=None, openapi_url=None)
    api.state = state  # the site's settings and database
    api.include_router(public_router)
    for router in ROUTERS:
        api.include_router(router, dependencies=[Depends(bearer)])
    _register_handlers(api)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            document = get_openapi(title=api.title, version="1.0.0", openapi_version="3.1.0",
                                   description=openapi_doc.DESCRIPTION, routes=api.routes,
                                   servers=[{"url": PREFIX}])
            api.openapi_schema = openapi_doc.complete(document)
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    state.api_openapi = openapi
    return ApiErrors(api)
