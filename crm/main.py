"""create_app(): the FastAPI application with its middleware, routers and error pages."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from urllib.parse import quote

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as StarletteRequest

from crm.api import pages as api_pages
from crm.api.app import create_api
from crm.assessment import routes as assessment_routes
from crm.attachments import routes as attachment_routes
from crm.audit import routes as audit_routes
from crm.audit import web as audit_web
from crm.auth import account_routes, second_factor_routes, security_admin_routes, sign_in_admin_routes
from crm.auth import admin_routes as user_admin_routes
from crm.auth import routes as auth_routes
from crm.auth.deps import CsrfFailed, Forbidden, NotAuthenticated, require_business_user, verify_csrf
from crm.auth.gate import AccountStepRequired
from crm.backups import routes as backup_routes
from crm.briefings import generation as briefing_generation
from crm.briefings import routes as briefing_routes
from crm.config import Settings, get_settings
from crm.contacts import routes as contact_routes
from crm.dashboard import routes as dashboard_routes
from crm.data_export import routes as data_export_routes
from crm.db import Database, is_busy
from crm.errors import BadRequest, NotFound
from crm.exports import routes as export_routes
from crm.feeds import routes as feed_routes
from crm.front import Front
from crm.groundbreaking import routes as groundbreaking_routes
from crm.i18n import Msg
from crm.imports import routes as import_routes
from crm.imports import running as imports_running
from crm.indicators import routes as indicator_routes
from crm.kept_pages import KeptPages
from crm.listing import BadListQuery
from crm.major_projects import admin_routes as major_project_admin_routes
from crm.major_projects import download_routes as major_project_download_routes
from crm.major_projects import extra_routes as major_project_extra_routes
from crm.major_projects import routes as major_project_routes
from crm.notifications import admin_routes as notification_admin_routes
from crm.notifications import routes as notification_routes
from crm.organizations import industry_routes
from crm.organizations import routes as organization_routes
from crm.parcels import routes as parcel_routes
from crm.projects import admin_routes as approval_admin_routes
from crm.projects import routes as project_routes
from crm.reports import routes as report_routes
from crm.search import routes as search_routes
from crm.submissions import service as submissions
from crm.tasks import routes as task_routes
from crm.versioning import StaleEdit
from crm.visits import calendar_routes as visit_calendar_routes
from crm.visits import routes as visit_routes
from crm.web import STATIC_DIR, SUBMITTED_BEFORE, URL_SAFE, CachedStaticFiles, is_htmx, redirect, render
from crm.webhooks import routes as webhook_routes

log = logging.getLogger("crm")

# The login page, and the calendar feed (its token in the URL is its authentication: calendar apps have no session).
PUBLIC_ROUTERS = (auth_routes.public_router, second_factor_routes.public_router, feed_routes.public_router)
# Everything else: a signed-in user is required before any handler runs.
SIGNED_IN_ROUTERS = (
    auth_routes.router,
    second_factor_routes.router,
    sign_in_admin_routes.router,
    dashboard_routes.router,
    search_routes.router,
    organization_routes.router,
    contact_routes.router,
    task_routes.router,
    visit_calendar_routes.router,  # /visits/calendar and /visits/export.ics, before /visits/{visit_id}
    visit_routes.router,  # after the calendar's router: /visits/calendar is not a visit id
    briefing_routes.router,
    report_routes.router,
    project_routes.router,
    parcel_routes.router,
    groundbreaking_routes.router,
    export_routes.router,
    major_project_extra_routes.router,  # /scheduling/…/new and …/edit pages, before the record routes
    major_project_download_routes.router,  # /scheduling/export.xlsx and /scheduling/report.pdf
    major_project_routes.router,
    major_project_admin_routes.router,
    user_admin_routes.router,
    account_routes.router,
    security_admin_routes.router,
    industry_routes.router,
    approval_admin_routes.router,
    audit_routes.router,
    attachment_routes.router,
    notification_routes.router,
    notification_admin_routes.router,
    backup_routes.router,
    data_export_routes.router,  # /admin/export and /admin/export.zip
    webhook_routes.router,
    import_routes.router,
    indicator_routes.router,
    indicator_routes.admin_router,
    assessment_routes.router,
    api_pages.router,  # /settings/tokens, /admin/tokens, /api/docs
)


def error_page(request: Request, status: int, message: Msg) -> Response:
    return render(request, "errors/error.html", {"status": status, "message": message}, status_code=status)


def _register_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def _not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login_url = "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"  # ASCII: a header
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": login_url})
        return RedirectResponse(login_url, status_code=303)

    @app.exception_handler(AccountStepRequired)
    async def _account_step(request: Request, exc: AccountStepRequired) -> Response:
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": quote(exc.url, safe=URL_SAFE)})
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        # Audited (安全审计) in a short transaction of its own, best effort: never a 500, never a wait on a busy database.
        await run_in_threadpool(audit_web.record_refusal, request)
        return error_page(request, 403, Msg("Your role does not allow this."))

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return error_page(request, 403, Msg("The form had expired or did not come from this site. Go back, reload the page and try again."))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return error_page(request, 404, Msg("There is no such page or record. It may have been removed, or the address is mistyped."))

    @app.exception_handler(BadRequest)
    @app.exception_handler(BadListQuery)  # a list's query a page did not answer itself (with its filters shown)
    async def _bad_request(request: Request, exc: BadRequest | BadListQuery) -> Response:
        return error_page(request, 400, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        # A malformed id in the path is an unknown record; anything else is a bad request.
        if any(err.get("loc", [None])[0] == "path" for err in exc.errors()):
            return error_page(request, 404, Msg("There is no such page or record. It may have been removed, or the address is mistyped."))
        return error_page(request, 400, Msg("The request had a value the page cannot use. Go back and check what you entered."))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, 404, Msg("There is no such page or record. It may have been removed, or the address is mistyped."))
        if exc.status_code == 405:
            return error_page(request, 405, Msg("This address does not accept that kind of request."))
        return error_page(request, exc.status_code, Msg("The request could not be handled."))

    @app.exception_handler(StaleEdit)  # a one-click action on a copy someone changed since (forms show the diff)
    @app.exception_handler(StaleDataError)
    @app.exception_handler(ObjectDeletedError)
    async def _edit_conflict(request: Request, exc: Exception) -> Response:
        # A versioned save matched no row: someone saved (or removed) the record since it was read. Nothing was
        # written (the transaction rolled back); the user reloads and decides again.
        return error_page(request, 409, EDIT_CONFLICT)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        if isinstance(exc, IntegrityError) and submissions.is_key_conflict(exc):
            return await run_in_threadpool(_replay_after_conflict, request)
        if is_busy(exc):
            log.warning("database busy on %s %s: %s", request.method, request.url.path, exc.orig)
            response = error_page(request, 503, DATABASE_BUSY)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return _server_error_page(request, exc)


SERVER_ERROR = Msg("Something went wrong on our side. The error was logged; nothing was half-saved. Try again, or tell an administrator.")
EDIT_CONFLICT = Msg("Someone else saved this record after you opened it. Nothing was overwritten: reload the page to see their changes, then apply yours again.")
DATABASE_BUSY = Msg("The system is busy. Nothing was saved: please try again in a moment.")
RETRY_AFTER_SECONDS = 2


def _replay_after_conflict(request: Request) -> Response:
    """The same create form was being saved by another request, which has now committed: show what it created."""
    key = submissions.key_from(getattr(request.state, "submission_key", None))
    user = request.state.user
    with request.app.state.database.read_sessions() as session:
        earlier = submissions.earlier_result(session, key=key, user_id=user.id) if key and user else None
    return redirect(request, earlier or "/", flash=SUBMITTED_BEFORE)


def _server_error_page(request: StarletteRequest, exc: BaseException) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    try:
        return error_page(request, 500, SERVER_ERROR)  # type: ignore[arg-type]
    except Exception:  # the error page itself failed: answer plainly
        return Response("Internal Server Error", status_code=500)


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.resolved_worker_threads
        # What start-up loaded (modules, templates, mappers) lives as long as the process: keep it out of the
        # garbage collector's full passes, which otherwise walk it all and pause a request now and then.
        gc.collect()
        gc.freeze()
        # Briefing PDFs the previous process was rendering when it stopped: failed now, not minutes from now. Once
        # per app (tests start one app's lifespan again for each extra client; its own renders are not interrupted).
        if not getattr(_app.state, "interrupted_renders_failed", False):
            _app.state.interrupted_renders_failed = True
            await run_in_threadpool(briefing_generation.fail_interrupted, _app.state.database,
                                    served_since=settings.served_since)
            # Imports a process that is gone left committing or undoing: taken back, marked failed.
            await run_in_threadpool(imports_running.recover_interrupted, _app.state.database)
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="招商引资 CRM",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(verify_csrf)],
    )
    app.state.settings = settings
    app.state.database = database or Database(settings.resolved_database_url, echo=settings.db_echo,
                                              busy_timeout_ms=settings.db_busy_timeout_ms)

    app.state.strict_transactions = settings.resolved_strict_transactions
    # One pure-ASGI layer (crm/front.py): the bell's fast path, the kept pages, the session, the input check, the 500 page and the
    # security headers on every response, in that order, for one call and one `send` wrapper (issue 17).
    app.add_middleware(Front, server_error_page=_server_error_page,
                       fast_gets={notification_routes.BELL_PATH: notification_routes.bell_fast},
                       kept_pages=KeptPages() if settings.kept_pages else None)
    app.mount("/static", CachedStaticFiles(directory=STATIC_DIR), name="static")
    # The API: its own application (Bearer tokens, problem details, no CSRF or HTML error pages), crm/api/app.py
    app.mount("/api/v1", create_api(app.state), name="api")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        try:
            with app.state.database.read_sessions() as session:
                session.execute(text("SELECT 1"))
            return JSONResponse({"status": "ok", "database": "ok"})
        except Exception as exc:  # report, don't raise: this is what monitors read
            return JSONResponse({"status": "error", "database": type(exc).__name__}, status_code=503)

    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    for router in SIGNED_IN_ROUTERS:
        # require_business_user (which depends on current_user: signed in first, then the role): the security and
        # audit administrators are refused every business route (403). One dependency, not two: FastAPI solves each
        # on every request (issue 17).
        app.include_router(router, dependencies=[Depends(require_business_user)])

    _register_error_pages(app)
    return app
