"""Templates, render() (whole page or one block for htmx), flash messages and CSRF helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2_fragments import render_block
from starlette.routing import Match, get_route_path

from crm import formatting, transactions
from crm.audit import labels as audit_labels
from crm.errors import BadRequest
from crm.i18n import LOCALE_NAMES, LOCALES, Msg, bound_gettext
from crm.input_checks import CheckedForm, parse_form
from crm.submissions import service as submissions

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"

URL_SAFE = ":/%#?=@[]!$&'()*+,;"  # what starlette's RedirectResponse leaves unencoded in Location
FLASH_COOKIE = "crm_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def _static_versions() -> dict[str, str]:
    versions = {}
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            versions[path.relative_to(STATIC_DIR).as_posix()] = digest
    return versions


_STATIC_VERSIONS = _static_versions()


def static_url(path: str) -> str:
    return f"/static/{path}?v={_STATIC_VERSIONS.get(path, '0')}"


class CachedStaticFiles(StaticFiles):
    """/static/: a versioned URL (static_url(): `?v=` the file's hash, which changes with the file) is cached by the
    browser for a year without asking again (`immutable`); any other static URL is revalidated (its ETag answers 304).
    A returning browser then fetches a page and its bell, not the page's stylesheet and scripts again (issue 17)."""

    IMMUTABLE = "public, max-age=31536000, immutable"

    async def get_response(self, path: str, scope) -> Response:  # type: ignore[override]
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            versioned = any(part.startswith(b"v=") for part in scope.get("query_string", b"").split(b"&"))
            response.headers["Cache-Control"] = self.IMMUTABLE if versioned else "no-cache"
        return response


def _make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(
        static_url=static_url,
        query_string=query_string,
        LOCALES=LOCALES,
        LOCALE_NAMES=LOCALE_NAMES,
        action_labels=audit_labels.ACTION_LABELS,
        entity_labels=audit_labels.ENTITY_LABELS,
        field_label=audit_labels.field_label,
        entity_url=audit_labels.entity_url,
        audit_value=audit_labels.audit_value,
        entity_name=audit_labels.entity_name,
        new_submission_key=submissions.new_key,
        SUBMISSION_FIELD=submissions.FIELD,
    )
    env.filters.update(formatting.FILTERS)
    env.globals.update(formatting.GLOBALS)
    return env



class _Router(APIRouter):
    """FastAPI matches a request against every route of every included router in turn, a regular expression each:
    for a route late in the list (the bell's), most of a request's fixed cost (issue 17). A router whose routes all
    begin with a literal first path segment (`/organizations/…`) answers "no match" at once for a request whose first
    segment is none of them; otherwise it matches as FastAPI does. Routers are included without a prefix of their own
    (crm.main), so a route's path here is the path it answers."""

    _segments: frozenset[str] | None = None
    _segments_of: int = -1  # len(routes) when _segments was computed

    def matches(self, scope):  # type: ignore[override]
        if scope["type"] == "http":
            if self._segments_of != len(self.routes):
                self._segments = _first_segments(self.routes)
                self._segments_of = len(self.routes)
            if self._segments is not None and get_route_path(scope)[1:].partition("/")[0] not in self._segments:
                return Match.NONE, {}
        return super().matches(scope)


def _first_segments(routes: list[Any]) -> frozenset[str] | None:
    """The literal first path segments of `routes`, or None when one of them begins with a parameter."""
    segments = set()
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str) or not path.startswith("/"):
            return None
        first = path[1:].partition("/")[0]
        if "{" in first:
            return None
        segments.add(first)
    return frozenset(segments)


def Router(**kwargs: Any) -> APIRouter:
    """Every router of the app: its routes run each endpoint as one write step (crm/transactions.py)."""
    return _Router(route_class=transactions.WriteStepRoute, **kwargs)


def local_now(request: Request) -> datetime:
    """Now in the zone's time zone (settings.timezone): what "today" and "this week" mean to its users."""
    return datetime.now(ZoneInfo(request.app.state.settings.timezone))


def local_today(request: Request) -> date:
    return local_now(request).date()


def is_htmx(request: Request) -> bool:
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def base_context(request: Request) -> dict[str, Any]:
    locale = getattr(request.state, "locale", "zh_CN")
    gettext, ngettext = bound_gettext(locale)
    settings = request.app.state.settings
    return {
        "request": request,
        "locale": locale,
        "_": gettext,
        "ngettext": ngettext,
        "current_user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "flashes": [gettext(m) for m in pop_flashes(request)],
        "zone_name": settings.zone_name_zh if locale.startswith("zh") else settings.zone_name_en,
        "timezone": settings.timezone,
    }


def render(
    request: Request,
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The whole page, or only `block` of it when htmx asks (HX-Request without HX-Boosted)."""
    transactions.before_render()
    full_context = {**base_context(request), **(context or {})}
    if block and is_htmx(request):
        html = render_block(templates, template_name, block, full_context)
    else:
        html = templates.get_template(template_name).render(full_context)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers["Vary"] = "HX-Request"
    if getattr(request.state, "flashes_consumed", False):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, *, flash: Msg | None = None) -> Response:
    """After a successful POST: 303 for plain forms, HX-Redirect for htmx. A URL holding any character a header
    cannot carry is percent-encoded, as RedirectResponse does for Location."""
    if is_htmx(request):
        response: Response = Response(status_code=204, headers={"HX-Redirect": quote(url, safe=URL_SAFE)})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash is not None:
        set_flash(request, response, flash)
    return response


SUBMITTED_BEFORE = Msg("This form had already been submitted: here is what it saved.")


def replay_or_claim(request: Request, session, raw: Mapping[str, Any], *, creates: type,
                    url: Callable[[Any], str]) -> Response | None:
    """For a create form: when its one-time key was submitted before, the answer to give instead (a redirect to
    what the first submission created); otherwise None, with the key claimed in the transaction that creates."""
    key = submissions.key_from(raw.get(submissions.FIELD))
    if key is None:
        return None
    user_id = request.state.user.id
    request.state.submission_key = key  # for the answer to a key conflict (crm.main)
    submissions.wait_for_the_same_key(session, key=key)
    earlier = submissions.earlier_result(session, key=key, user_id=user_id)
    if earlier is None:
        submissions.claim(session, key=key, user_id=user_id, creates=creates, url=url)
        return None
    return redirect(request, earlier or "/", flash=SUBMITTED_BEFORE)


def safe_next(value: str | None) -> str:
    """A redirect target from user input: a path on this site, never another host."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value[:500]
    return "/"


# Flash messages: a signed cookie holding message ids, translated when shown.

def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()[:32]


def set_flash(request: Request, response: Response, message: Msg) -> None:
    payload = json.dumps([[message.msgid, message.params]], ensure_ascii=False).encode()
    secret = request.app.state.settings.resolved_secret_key
    value = base64.urlsafe_b64encode(payload).decode() + "." + _sign(secret, payload)
    response.set_cookie(FLASH_COOKIE, value, max_age=60, httponly=True, samesite="lax", path="/")


def pop_flashes(request: Request) -> list[Msg]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return []
    request.state.flashes_consumed = True
    encoded, signature = raw.rsplit(".", 1)
    try:
        payload = base64.urlsafe_b64decode(encoded.encode())
    except ValueError:
        return []
    secret = request.app.state.settings.resolved_secret_key
    if not hmac.compare_digest(signature, _sign(secret, payload)):
        return []
    try:
        return [Msg(str(msgid), **dict(params)) for msgid, params in json.loads(payload)]
    except (ValueError, TypeError):
        return []


# Forms

UPLOAD_OVERHEAD_BYTES = 1024 * 1024  # what an upload's body may hold besides the file: other fields, multipart framing


def accepts_upload(endpoint):
    """Marks a route whose form may carry a file. Every other form is refused if it carries one."""
    endpoint.accepts_upload = True
    return endpoint


def upload_limit_bytes(request: Request) -> int:
    return request.app.state.settings.max_upload_mb * 1024 * 1024


def upload_body_too_large(request: Request) -> bool:
    """Whether an upload's declared body exceeds the file limit plus the form around it. Checked before the body
    is read: Starlette spools file parts to disk without a size limit of its own (`max_part_size` bounds only the
    text fields). A body without a Content-Length counts as too large; browsers always send one."""
    length = request.headers.get("content-length", "")
    return not length.isdigit() or int(length) > upload_limit_bytes(request) + UPLOAD_OVERHEAD_BYTES


def upload_too_large_message(request: Request) -> Msg:
    return Msg("The file is larger than %(limit)s MB, the most a file may be.",
               limit=request.app.state.settings.max_upload_mb)


async def form_data(request: Request) -> CheckedForm:
    """The posted form, parsed once, by whoever asks first (usually the CSRF check), with the route's limits:
    no files at all, except on routes marked `accepts_upload`, whose body must also fit the upload limit.
    Decoded strictly as UTF-8, values with control characters refused when read (crm.input_checks)."""
    if getattr(request.scope.get("endpoint"), "accepts_upload", False):
        if upload_body_too_large(request):
            raise BadRequest(upload_too_large_message(request))
        return await parse_form(request, max_files=1, max_fields=200)
    return await parse_form(request, max_files=0, max_fields=200)


FormDep = Annotated[CheckedForm, Depends(form_data)]


def query_string(params: dict[str, Any], **overrides: Any) -> str:
    merged = {**params, **overrides}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "", [])}, doseq=True)


templates = _make_environment()


def client_address(request: Request) -> str:
    """The client's address as the server sees it (uvicorn applies X-Forwarded-For from trusted proxies only:
    `crm serve --forwarded-allow-ips`)."""
    return request.client.host if request.client else ""
