"""Personal access tokens (issue 15): shown once and stored as a hash, revoked and expired tokens refused, no
cookie on /api/, scopes, roles, deactivated users, the per-token budget counted in the database, the CLI."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from crm import cli
from crm.api import tokens
from crm.api.models import ApiRequestCount, ApiToken
from crm.auth.models import User
from crm.db import utcnow
from crm.main import create_app
from tests.conftest import login, post
from tests.factories import make_user

SECRET = re.compile(r'value="(crm_pat_[A-Za-z0-9_-]+)"')


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_token_lifecycle_through_the_pages(client, session, users):
    login(client, "officer")
    assert "API" in client.get("/settings/tokens").text
    refused = post(client, "/settings/tokens", {"name": "", "scope": "read", "expires": "90"})
    assert refused.status_code == 422 and "此项为必填" in refused.text
    created = post(client, "/settings/tokens", {"name": "城市平台同步", "scope": "read", "expires": "90"})
    assert created.status_code == 201
    secret = SECRET.search(created.text).group(1)
    # Shown once: not on the page again, not in the database (only its SHA-256).
    listed = client.get("/settings/tokens")
    assert secret not in listed.text and "城市平台同步" in listed.text
    session.expire_all()
    token = session.scalar(select(ApiToken).where(ApiToken.name == "城市平台同步"))
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest() and secret not in (token.prefix + "x")
    assert token.scopes == "read" and token.expires_at is not None

    me = client.get("/api/v1/me", headers=_bearer(secret))
    assert me.status_code == 200 and me.json()["username"] == "officer" and me.json()["scopes"] == ["read"]
    # A read token cannot write; the session cookie alone opens nothing under /api/.
    write = client.post("/api/v1/organizations", headers=_bearer(secret), json={"name": "x", "kind": "investor"})
    assert write.status_code == 403 and write.headers["content-type"] == "application/problem+json"
    cookie_only = client.get("/api/v1/me")
    assert cookie_only.status_code == 401 and cookie_only.headers["content-type"] == "application/problem+json"
    assert cookie_only.headers["www-authenticate"].startswith("Bearer")
    assert client.post("/api/v1/organizations", json={"name": "x", "kind": "investor"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer crm_pat_nonsense-nonsense-nonsense"}).status_code == 401
    session.expire_all()
    assert session.get(ApiToken, token.id).last_used_at is not None

    # Revoked (after the confirmation page) → 401.
    confirm = client.get(f"/settings/tokens/{token.id}/revoke")
    assert confirm.status_code == 200 and "城市平台同步" in confirm.text
    assert post(client, f"/settings/tokens/{token.id}/revoke").status_code == 303
    assert client.get("/api/v1/me", headers=_bearer(secret)).status_code == 401

    # Another officer may not revoke it; the administrator sees every token.
    session.expire_all()
    other = make_user(session, username="third", role="officer")
    _t, _secret = tokens.create(session, user=other, name="third", scope="write", expires_at=None, actor=other)
    third_id = _t.id
    assert client.get(f"/settings/tokens/{third_id}/revoke").status_code == 403
    assert client.get("/admin/tokens").status_code == 403


def test_expired_deactivated_non_business_and_budget(app, client, session, users, settings, monkeypatch, capsys,
                                                     database_url):
    officer = users["officer"]
    _t, expired = tokens.create(session, user=officer, name="old", scope="read",
                                expires_at=utcnow() - timedelta(minutes=1), actor=officer)
    assert client.get("/api/v1/me", headers=_bearer(expired)).status_code == 401

    auditor = make_user(session, username="auditor", role="audit_admin")
    _t, audit_secret = tokens.create(session, user=auditor, name="a", scope="read", expires_at=None, actor=auditor)
    assert client.get("/api/v1/projects", headers=_bearer(audit_secret)).status_code == 403

    # The CLI prints a token.
    monkeypatch.setenv("CRM_DATABASE_URL", database_url)
    monkeypatch.setenv("CRM_DATA_DIR", str(settings.data_dir))
    assert cli.main(["token", "create", "--user", "officer2", "--scope", "write", "--expires", "30d"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("crm_pat_")
    assert client.get("/api/v1/me", headers=_bearer(printed)).json()["scopes"] == ["read", "write"]
    assert cli.main(["token", "create", "--user", "nobody"]) == 1

    # The administrator sets a budget of 2 a minute: the third request in the minute is refused, whichever of two
    # server processes (two apps on one database) it reaches.
    login(client, "admin")
    session.expire_all()
    token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "cli"))
    assert post(client, f"/admin/tokens/{token_id}/budget", {"requests_per_minute": "0"}).status_code == 422
    assert post(client, f"/admin/tokens/{token_id}/budget", {"requests_per_minute": "3"}).status_code == 303
    session.expire_all()
    session.execute(update(ApiRequestCount).where(ApiRequestCount.token_id == token_id).values(count=0))
    session.commit()
    with TestClient(create_app(settings, database=app.state.database)) as second:
        answers = [c.get("/api/v1/me", headers=_bearer(printed)) for c in (client, second, client, second)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert session.scalar(select(ApiRequestCount.count).where(ApiRequestCount.token_id == token_id)) == 4 and int(answers[-1].headers["retry-after"]) >= 1
    assert answers[-1].headers["content-type"] == "application/problem+json"
    session.expire_all()

    # A deactivated user's tokens stop working.
    session.expire_all()
    session.execute(update(User).where(User.username == "officer2").values(is_active=False))
    session.commit()
    assert client.get("/api/v1/me", headers=_bearer(printed)).status_code == 401
