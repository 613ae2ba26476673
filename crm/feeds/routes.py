"""The calendar feed: public, but only with a valid token (not the session: calendar apps have none)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request
from fastapi.responses import Response

from crm.db import SessionDep
from crm.feeds import service
from crm.i18n import Msg
from crm.web import Router

public_router = Router()


@public_router.get("/feeds/{token}.ics")
def calendar_feed(request: Request, session: SessionDep, token: str) -> Response:
    user = service.user_for_token(session, token=token)
    if user is None:
        locale = request.state.locale
        message = Msg("This calendar address was revoked or never existed. Make a new one under Notifications → Settings.")
        return Response(message.translate(locale) + "\n", status_code=404, media_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": "no-store"})
    settings = request.app.state.settings
    zone_name = settings.zone_name_zh if user.locale.startswith("zh") else settings.zone_name_en
    now = datetime.now(UTC)
    body = service.feed(session, user=user, now=now, host=request.url.hostname or "localhost",
                        base_url=str(request.base_url), timezone=settings.timezone,
                        name=Msg("%(zone)s: %(name)s", zone=zone_name, name=user.display_name).translate(user.locale))
    session.rollback()
    service.touch(session, token=token, now=now)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"})
