"""The token pages (/settings/tokens for everyone, /admin/tokens for the administrator) and the API reference
(/api/docs), rendered on the server from the OpenAPI document: no CDN, no script."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm.api import tokens
from crm.auth.deps import CurrentUser, Forbidden, RequireAdmin
from crm.db import RecordId, SessionDep, utcnow
from crm.errors import found
from crm.forms import Field, FormResult, parse
from crm.i18n import N_, Msg
from crm.web import FormDep, Router, redirect, render

router = Router()


def token_fields() -> list[Field]:
    return [
        Field("name", N_("Name"), required=True, max_length=tokens.MAX_NAME_LENGTH),
        Field("scope", N_("Access"), required=True, choices=list(tokens.SCOPES)),
        Field("expires", N_("Expires after"), required=True, choices=list(tokens.EXPIRY_CHOICES)),
    ]


def _page(request: Request, session, user, *, form: FormResult, secret: str = "", status_code: int = 200) -> Response:
    return render(request, "api/tokens.html", {
        "form": form, "tokens": tokens.for_user(session, user_id=user.id), "secret": secret, "now": utcnow(),
        "scope_labels": tokens.SCOPE_LABELS, "expiry_choices": tokens.EXPIRY_CHOICES,
    }, status_code=status_code)


@router.get("/settings/tokens")
def token_list(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _page(request, session, user, form=FormResult(values={"scope": "read", "expires": "90"}))


@router.post("/settings/tokens")
def create_token(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    form = parse(token_fields(), raw)
    if not form.ok:
        return _page(request, session, user, form=form, status_code=422)
    days = form.data["expires"]
    expires_at = None if days == "never" else utcnow() + timedelta(days=int(days))
    _token, secret = tokens.create(session, user=user, name=form.data["name"], scope=form.data["scope"],
                                   expires_at=expires_at, actor=user)
    # The secret is in this page only (never stored, never in a redirect or a flash): shown once.
    return _page(request, session, user, form=FormResult(values={"scope": "read", "expires": "90"}), secret=secret,
                 status_code=201)


def _manageable(session, user, token_id: int):
    token = found(tokens.get(session, token_id))
    if not tokens.can_manage(user, token):
        raise Forbidden()
    return token


@router.get("/settings/tokens/{token_id}/revoke")
def confirm_revoke(request: Request, session: SessionDep, user: CurrentUser, token_id: RecordId) -> Response:
    token = _manageable(session, user, token_id)
    return render(request, "api/revoke.html", {"token": token, "back": _back(user, token)})


@router.post("/settings/tokens/{token_id}/revoke")
def revoke(request: Request, session: SessionDep, user: CurrentUser, token_id: RecordId) -> Response:
    token = _manageable(session, user, token_id)
    back = _back(user, token)
    tokens.revoke(session, token=token, actor=user)
    return redirect(request, back, flash=Msg("Token “%(name)s” revoked: it no longer works.", name=token.name))


def _back(user, token) -> str:
    return "/settings/tokens" if token.user_id == user.id else "/admin/tokens"


# The administrator: every token, and each one's request budget

def _admin_page(request: Request, session, *, errors: dict[int, Msg] | None = None, status_code: int = 200) -> Response:
    return render(request, "api/admin_tokens.html", {
        "tokens": tokens.every_token(session), "now": utcnow(), "scope_labels": tokens.SCOPE_LABELS,
        "errors": errors or {}, "max_budget": tokens.MAX_REQUESTS_PER_MINUTE,
    }, status_code=status_code)


@router.get("/admin/tokens")
def admin_tokens(request: Request, session: SessionDep, user: RequireAdmin) -> Response:
    return _admin_page(request, session)


def _check_budget(value: str) -> Msg | None:
    if not value.isdigit() or not 1 <= int(value) <= tokens.MAX_REQUESTS_PER_MINUTE:
        return Msg("Enter a whole number from %(low)s to %(high)s.", low=1, high=tokens.MAX_REQUESTS_PER_MINUTE)
    return None


@router.post("/admin/tokens/{token_id}/budget")
def set_budget(request: Request, session: SessionDep, user: RequireAdmin, token_id: RecordId, raw: FormDep) -> Response:
    token = found(tokens.get(session, token_id))
    form = parse([Field("requests_per_minute", N_("Requests a minute"), required=True, max_length=6,
                        checks=[_check_budget])], raw)
    if not form.ok:
        session.rollback()
        return _admin_page(request, session, errors={token.id: form.errors["requests_per_minute"]}, status_code=422)
    tokens.set_budget(session, token=token, requests_per_minute=int(form.data["requests_per_minute"]), actor=user)
    return redirect(request, "/admin/tokens", flash=Msg("Changes saved."))


# The reference

METHOD_ORDER = ("get", "post", "patch", "put", "delete")


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    found_ops = []
    for path, item in document.get("paths", {}).items():
        for method in METHOD_ORDER:
            operation = item.get(method)
            if operation is None:
                continue
            body = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            found_ops.append({
                "path": path, "method": method.upper(), "summary": operation.get("summary", ""),
                "description": operation.get("description", ""), "tag": (operation.get("tags") or [""])[0],
                "parameters": operation.get("parameters", []), "body": _ref_name(body),
                "responses": [(status, response.get("description", ""),
                               _ref_name(next(iter(response.get("content", {}).values()), {}).get("schema")))
                              for status, response in operation.get("responses", {}).items()],
                "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
            })
    return found_ops


def _ref_name(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else ""


def _schema_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        fields = [{"name": field, "type": _type_text(spec), "required": field in required,
                   "description": spec.get("description", "")}
                  for field, spec in schema.get("properties", {}).items()]
        examples = schema.get("examples") or []
        rows.append({"name": name, "description": schema.get("description", ""), "fields": fields,
                     "example": examples[0] if examples else None})
    return rows


def _type_text(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in spec:
        return " | ".join(_type_text(s) for s in spec["anyOf"])
    if spec.get("type") == "array":
        return f"array of {_type_text(spec.get('items', {}))}"
    kind = spec.get("type", "any")
    return f"{kind} ({spec['format']})" if "format" in spec else str(kind)


@router.get("/api/docs")
def reference(request: Request, user: CurrentUser) -> Response:
    document = request.app.state.api_openapi()
    schemas = _schema_rows(document)
    for row in schemas:
        row["example_json"] = json.dumps(row["example"], ensure_ascii=False, indent=2) if row["example"] else ""
    return render(request, "api/docs.html", {"document": document, "operations": _operations(document),
                                             "schemas": schemas})
