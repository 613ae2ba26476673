"""The write path's rule, enforced: a write transaction begins and ends inside one step (crm/transactions.py).
Every route runs its endpoint as one write step; a dependency that writes, or a handler that leaves a write
uncommitted, breaks the rule and fails (strict mode, as in every test); a loader holds no lock while the request
waits for its handler's thread; an error no handler answers is the 500 page on a connection that stays usable."""

from __future__ import annotations

import logging
from typing import Annotated

import pytest
from fastapi import Depends, Request
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from sqlalchemy import create_engine, select, update

from crm.auth.deps import current_user
from crm.db import RecordId, SessionDep
from crm.i18n import Msg
from crm.main import create_app
from crm.organizations.models import Organization
from crm.transactions import HANDLER, PHASE, WriteStepRoute
from crm.web import Router, render
from tests.conftest import login, post
from tests.factories import make_org
from tests.live_server import LiveServer
from tests.server_process import Browser


def _api_routes(routes) -> list[APIRoute]:
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # an included router keeps its own routes
            found.extend(_api_routes(route.original_router.routes))
    return found


def test_every_route_of_the_app_runs_its_endpoint_as_one_write_step(app):
    routes = [route for route in _api_routes(app.routes) if route.path != "/healthz"]
    assert len(routes) > 100
    assert [route.path for route in routes if not isinstance(route, WriteStepRoute)] == []
    assert all(getattr(route.endpoint, "_in_one_step", False) for route in routes)


def _app_with(settings, db, router):
    app = create_app(settings, database=db)
    app.include_router(router, dependencies=[Depends(current_user)])
    return app


def _writing_loader(organization_id: RecordId, session: SessionDep) -> Organization:
    """Breaks the rule: a loader that writes, so its write transaction would span the hand-off to the handler."""
    session.execute(update(Organization).where(Organization.id == organization_id).values(city="改写"))
    return session.get(Organization, organization_id)


def _rule_breaking_router() -> Router:
    router = Router(prefix="/test-rule")

    @router.post("/loader-writes/{organization_id}")
    def loader_writes(org: Annotated[Organization, Depends(_writing_loader)]) -> PlainTextResponse:
        return PlainTextResponse(org.name)

    @router.post("/left-open/{organization_id}")
    def left_open(organization_id: RecordId, session: SessionDep) -> PlainTextResponse:
        session.execute(update(Organization).where(Organization.id == organization_id).values(city="未提交"))
        return PlainTextResponse("forgot to commit")

    @router.post("/renders-unsaved/{organization_id}")
    def renders_unsaved(request: Request, organization_id: RecordId, session: SessionDep):
        session.execute(update(Organization).where(Organization.id == organization_id).values(city="未保存"))
        return render(request, "errors/error.html", {"status": 422, "message": Msg("The request could not be handled.")})

    @router.post("/reads-then-writes/{organization_id}")
    def reads_then_writes(org: Annotated[Organization, Depends(_reading_loader)], session: SessionDep) -> PlainTextResponse:
        assert session.info[PHASE] == HANDLER and not session.in_transaction()  # the loader's read has ended
        org.city = "菏泽"
        session.commit()
        return PlainTextResponse("saved")

    return router


def _reading_loader(organization_id: RecordId, session: SessionDep) -> Organization:
    org = session.get(Organization, organization_id)
    if session.bind.dialect.name == "sqlite":
        # While this step runs, another connection can still take the write lock at once: the loader holds none.
        other = create_engine(session.bind.url, connect_args={"timeout": 0})
        with other.connect() as connection:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            connection.exec_driver_sql("ROLLBACK")
        other.dispose()
    return org


@pytest.fixture
def rule_client(settings, db, users):
    from fastapi.testclient import TestClient

    with TestClient(_app_with(settings, db, _rule_breaking_router()), follow_redirects=False,
                    raise_server_exceptions=False) as client:
        login(client, "officer")
        yield client


def test_a_dependency_that_writes_breaks_the_rule_and_nothing_is_written(rule_client, session, users, caplog):
    org = make_org(session, actor=users["officer"], name="精进电动科技")
    with caplog.at_level(logging.ERROR):
        response = post(rule_client, f"/test-rule/loader-writes/{org.id}")
    assert response.status_code == 500
    assert "WriteLeftOpen" in caplog.text and "by a dependency" in caplog.text
    session.expire_all()
    assert session.scalar(select(Organization.city).where(Organization.id == org.id)) != "改写"


def test_a_handler_that_leaves_a_write_uncommitted_breaks_the_rule(rule_client, session, users, caplog):
    org = make_org(session, actor=users["officer"], name="现代医药港")
    with caplog.at_level(logging.ERROR):
        response = post(rule_client, f"/test-rule/left-open/{org.id}")
    assert response.status_code == 500
    assert "when the handler returned" in caplog.text
    session.expire_all()
    assert session.scalar(select(Organization.city).where(Organization.id == org.id)) != "未提交"


def test_a_page_rendered_with_unsaved_writes_breaks_the_rule(rule_client, session, users, caplog):
    org = make_org(session, actor=users["officer"], name="菏泽现代医药港")
    with caplog.at_level(logging.ERROR):
        response = post(rule_client, f"/test-rule/renders-unsaved/{org.id}")
    assert response.status_code == 500
    assert "while rendering a page" in caplog.text
    session.expire_all()
    assert session.scalar(select(Organization.city).where(Organization.id == org.id)) != "未保存"


def test_outside_tests_a_broken_rule_is_rolled_back_and_logged(settings, db, users, session, caplog):
    from fastapi.testclient import TestClient

    org = make_org(session, actor=users["officer"], name="大唐智创")
    lenient = settings.model_copy(update={"strict_transactions": False})
    with TestClient(_app_with(lenient, db, _rule_breaking_router()), follow_redirects=False) as client:
        login(client, "officer")
        with caplog.at_level(logging.ERROR):
            response = post(client, f"/test-rule/left-open/{org.id}")
    assert response.status_code == 200
    assert "was left open when the handler returned" in caplog.text
    session.expire_all()
    assert session.scalar(select(Organization.city).where(Organization.id == org.id)) != "未提交"


def test_a_loader_only_reads_and_the_handler_writes_in_its_own_step(rule_client, session, users):
    org = make_org(session, actor=users["officer"], name="玉皇新能源")
    response = post(rule_client, f"/test-rule/reads-then-writes/{org.id}")
    assert response.status_code == 200, response.text
    session.expire_all()
    assert session.scalar(select(Organization.city).where(Organization.id == org.id)) == "菏泽"


def test_an_unanswered_error_is_the_500_page_on_a_connection_that_stays_usable(settings, db, users, caplog):
    router = Router(prefix="/test-error")

    @router.get("/boom")
    def boom() -> PlainTextResponse:
        raise RuntimeError("boom")

    server = LiveServer(_app_with(settings, db, router))
    server.start_and_wait()
    try:
        browser = Browser(int(server.url.rsplit(":", 1)[1])).sign_in("officer")
        with caplog.at_level(logging.ERROR):
            first = browser.get("/test-error/boom")
            second = browser.get("/tasks")  # the same keep-alive connection
        assert first.status == 500 and "错误已记录" in first.body
        assert first.headers.get("connection", "").lower() != "close"
        assert second.status == 200
        assert caplog.text.count("unhandled error on GET /test-error/boom") == 1
        assert "Exception in ASGI application" not in caplog.text
        browser.close()
    finally:
        server.stop()
