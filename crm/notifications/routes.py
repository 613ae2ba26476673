"""The in-app notifications (the bell, the list, mark read) and each user's notification settings and calendar feed."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.types import Scope

from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser
from crm.auth.middleware import settled_session
from crm.auth.models import NON_BUSINESS_ROLES, User
from crm.db import RecordId, SessionDep
from crm.errors import BadRequest, found
from crm.fast_read import PreparedRead
from crm.feeds import service as feed_service
from crm.forms import FormResult
from crm.i18n import Msg, bound_gettext, normalize_locale
from crm.listing import BadListQuery, parse_page
from crm.notifications import schemas, service
from crm.notifications.models import Notification
from crm.notifications.rules import DIGEST, RULES
from crm.web import FormDep, Router, is_htmx, redirect, render, templates

router = Router(prefix="/notifications")
PER_PAGE = 30


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    try:
        page = parse_page(request.query_params)
    except BadListQuery as bad:
        raise BadRequest(bad.message) from None
    unread_only = request.query_params.get("unread") == "1"
    context = {"page": service.inbox_page(session, user_id=user.id, locale=request.state.locale, page=page,
                                          per_page=PER_PAGE, unread_only=unread_only),
               "unread": service.unread_count(session, user_id=user.id), "unread_only": unread_only,
               "params": {"unread": "1"} if unread_only else {}}
    return render(request, "notifications/index.html", context, block="list")


BELL_PATH = "/notifications/bell"


@router.get("/bell")
def bell(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The header's bell with the unread count; htmx asks for it on load and every minute, from every open tab. Its
    common case is answered before FastAPI by `bell_fast` (crm/front.py, issue 17); this route answers the rest (a
    session to touch, an account step owed, …) with the same bytes, as any page: one write step like every route."""
    status, headers, body = _bell_answer(request.state.locale, service.unread_count(session, user_id=user.id))
    response = Response(body, status_code=status)
    response.raw_headers = list(headers)
    return response


@functools.lru_cache(maxsize=1024)
def _bell_answer(locale: str, unread: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The bell's answer for a language and a count: status, headers, body (both ways answer these bytes)."""
    gettext, ngettext = bound_gettext(locale)
    html = templates.get_template("notifications/_bell.html").render(
        {"_": gettext, "ngettext": ngettext, "locale": locale, "unread": unread})
    response = HTMLResponse(html, headers={"Cache-Control": "no-store", "Vary": "HX-Request"})
    return response.status_code, list(response.raw_headers), bytes(response.body)


# The bell's common case in ONE statement: the session lookup's row (crm.auth.service) with the user's unread count.
_BELL_READ = PreparedRead(auth_service.SESSION_QUERY.add_columns(
    select(func.count(Notification.id))
    .where(Notification.user_id == User.id, Notification.read_at.is_(None))
    .scalar_subquery().label("unread")))
# htmx headers asking for something else than the fragment's refresh: the route decides those.
_UNUSUAL_HEADERS = frozenset({b"hx-history-restore-request", b"hx-boosted"})


async def bell_fast(scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """The bell for a signed-in business user who owes no account step, before FastAPI (crm/front.py: its routing,
    dependencies and exception layers were most of the bell's cost, issue 17): one statement reads the session row,
    the user and the unread count — the session is checked on every request as the session lookup checks it, so a
    sign-out or a revocation holds at once, in every worker —, the answer is `_bell_answer`'s bytes. None for
    anything else (no or dead session, a session whose last-seen time is due, another role, an account step owed,
    an unusual htmx request): the normal way (the session lookup, then the route above) answers it."""
    if any(name in _UNUSUAL_HEADERS for name, _value in scope["headers"]):
        return None
    row = settled_session(scope, _BELL_READ)
    if row is None or row.role in NON_BUSINESS_ROLES:
        return None
    return _bell_answer(normalize_locale(row.locale), row.unread)


@router.post("/read-all")
def read_all(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    n = service.mark_all_read(session, user_id=user.id)
    return redirect(request, "/notifications", flash=Msg("%(n)s notifications marked as read.", n=n))


def _context(session, user: User, *, form: FormResult | None = None, feed_url: str = "") -> dict[str, Any]:
    prefs = service.preferences(session, user_id=user.id)
    if form is None:
        values = {"quiet_start": prefs.quiet_start.strftime("%H:%M") if prefs.quiet_start else "",
                  "quiet_end": prefs.quiet_end.strftime("%H:%M") if prefs.quiet_end else "",
                  "digest": "1" if prefs.digest else "", "webhook_url": prefs.webhook_url}
        for code, chosen in prefs.channels.items():
            for name, on in zip(schemas.CHANNEL_FIELDS, chosen, strict=True):
                values[f"{code}-{name}"] = "1" if on else ""
        form = FormResult(values=values)
    settings = service.rule_settings(session)
    return {"form": form, "rules": [r for r in RULES], "digest_rule": DIGEST, "rule_settings": settings,
            "channel_labels": schemas.CHANNEL_LABELS, "has_email": bool(user.email),
            "feed": feed_service.active_token(session, user_id=user.id), "feed_url": feed_url}


@router.get("/settings")
def settings_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "notifications/settings.html", _context(session, user))


@router.post("/settings")
def save_settings(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    form = schemas.parse_preferences(raw, [rule.code for rule in RULES])
    if form.ok:
        try:
            service.save_preferences(
                session, user=user, channels_by_rule=form.data["channels"], quiet_start=form.data["quiet_start"],
                quiet_end=form.data["quiet_end"], digest=form.data["digest"], webhook_url=form.data["webhook_url"],
                allow_private_webhooks=request.app.state.settings.webhook_allow_private)
            return redirect(request, "/notifications/settings", flash=Msg("Notification settings saved."))
        except service.InvalidPreferences as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return render(request, "notifications/settings.html", _context(session, user, form=form), block="form",
                  status_code=422)


@router.post("/feed")
def new_feed(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    token = feed_service.create_token(session, user=user)
    url = str(request.base_url).rstrip("/") + f"/feeds/{token}.ics"
    return render(request, "notifications/settings.html", _context(session, user, feed_url=url), block="feed")


@router.post("/feed/revoke")
def revoke_feed(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    feed_service.revoke(session, user=user)
    if is_htmx(request):
        return render(request, "notifications/settings.html", _context(session, user), block="feed")
    return redirect(request, "/notifications/settings", flash=Msg("The calendar address was revoked."))


@router.get("/{notification_id}")
def open_notification(request: Request, session: SessionDep, user: CurrentUser, notification_id: RecordId) -> Response:
    """Marks the notification read and goes to the record it is about."""
    notification = found(service.get_notification(session, user_id=user.id, notification_id=notification_id))
    service.mark_read(session, notification=notification)
    return RedirectResponse(service.link_for(notification), status_code=303)


@router.post("/{notification_id}/read")
def read(request: Request, session: SessionDep, user: CurrentUser, notification_id: RecordId) -> Response:
    notification = found(service.get_notification(session, user_id=user.id, notification_id=notification_id))
    service.mark_read(session, notification=notification)
    if is_htmx(request):
        item = service.InboxItem(notification=notification, rendered=service.render(notification, request.state.locale))
        return render(request, "notifications/_item.html", {"item": item})
    return redirect(request, "/notifications")


