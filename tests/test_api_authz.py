"""Authorization across the whole API (issue 15), every operation taken from the OpenAPI document so that a new
endpoint is checked without being listed here: another officer's token never meets the confidential project (its
name, its figures, its id) in any answer; a read token cannot change anything; a revoked or expired token, or a
browser's session cookie, opens nothing. (tests/test_api.py and tests/test_api_tokens.py check the same rules on
single endpoints, with the pages around them.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from crm.api import tokens
from crm.api.models import ApiToken
from crm.db import utcnow
from tests import api_world
from tests.conftest import login


def _operations(client) -> list[tuple[str, str]]:
    document = client.get("/api/v1/openapi.json").json()
    return [(method.upper(), path) for path, operations in document["paths"].items() for method in operations
            if "public" not in operations[method].get("tags", [])]


def _url(path: str, ids: dict[str, int]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    return "/api/v1" + path


def _mentions(value: Any, project_id: int) -> bool:
    """Whether the JSON names the project by id: a project-like object (one with a stage) with that id, or a field
    about projects ("project_id", "project_ids", "projects" …) holding it."""
    if isinstance(value, dict):
        if value.get("id") == project_id and "stage" in value:
            return True
        for key, item in value.items():
            if "project" in key and (item == project_id or (isinstance(item, list) and project_id in item)):
                return True
            if _mentions(item, project_id):
                return True
    elif isinstance(value, list):
        return any(_mentions(item, project_id) for item in value)
    return False


def test_the_confidential_project_never_shows_to_another_officer(client, session, users):
    world = api_world.build(session, users)
    other = {"Authorization": f"Bearer {world.other_read}"}
    owner = {"Authorization": f"Bearer {world.read}"}
    reads = [path for method, path in _operations(client) if method == "GET"]
    assert len(reads) >= 18, reads
    checked = 0
    for path in reads:
        ids = api_world.path_ids(world, path)
        urls = [_url(path, ids)]
        if "project_id" in ids:  # the secret project's own id, asked for directly
            urls.append(_url(path, {**ids, "project_id": world.secret_project_id}))
        if "{" not in path:  # lists: also filtered to the project
            urls.append(f"/api/v1{path}?project={world.secret_project_id}&limit=200")
        for url in urls:
            response = client.get(url, headers=other)
            assert response.status_code in (200, 404), (url, response.status_code, response.text[:300])
            assert api_world.SECRET_NAME not in response.text, url
            assert api_world.SECRET_INVESTMENT.split(".")[0] not in response.text, url
            assert not _mentions(response.json(), world.secret_project_id), (url, response.text[:500])
            checked += response.status_code == 200
    assert checked >= len(reads)
    assert client.get(f"/api/v1/projects/{world.secret_project_id}", headers=other).status_code == 404
    # The walk would see it: its owner's token meets it in the list, the event's slate and the organization's page.
    for url in ("/api/v1/projects", f"/api/v1/groundbreaking-events/{world.ids['event_id']}",
                f"/api/v1/organizations/{world.ids['organization_id']}"):
        shown = client.get(url, headers=owner)
        assert api_world.SECRET_NAME in shown.text and _mentions(shown.json(), world.secret_project_id), url


def test_read_tokens_cannot_write_and_dead_credentials_open_nothing(client, session, users):
    world = api_world.build(session, users)
    operations = _operations(client)
    writes = [(method, path) for method, path in operations if method != "GET"]
    assert len(writes) >= 10, writes
    read = {"Authorization": f"Bearer {world.read}", "If-Match": "*"}
    for method, path in writes:
        response = client.request(method, _url(path, api_world.path_ids(world, path)), headers=read, json={})
        assert response.status_code == 403, (method, path, response.status_code, response.text[:300])
        assert response.headers["content-type"] == "application/problem+json"

    _revoked, revoked = tokens.create(session, user=users["officer"], name="revoked", scope="write", expires_at=None,
                                      actor=users["officer"])
    session.execute(update(ApiToken).where(ApiToken.id == _revoked.id).values(revoked_at=utcnow()))
    session.commit()
    _expired, expired = tokens.create(session, user=users["officer"], name="expired", scope="write",
                                      expires_at=utcnow() - timedelta(seconds=1), actor=users["officer"])
    login(client, "officer")  # the browser's session cookie rides along with every request below
    assert client.cookies
    for credentials in ({"Authorization": f"Bearer {revoked}"}, {"Authorization": f"Bearer {expired}"}, {}):
        for method, path in operations:
            response = client.request(method, _url(path, api_world.path_ids(world, path)),
                                      headers={**credentials, "If-Match": "*"}, json={} if method != "GET" else None)
            assert response.status_code == 401, (credentials, method, path, response.status_code)
            assert response.headers["www-authenticate"].startswith("Bearer")
