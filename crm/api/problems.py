"""Errors as RFC 9457 problem details (application/problem+json), field errors listed by JSON pointer."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from crm.i18n import Msg, gettext

PROBLEM_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def _plain(value: Any, locale: str) -> Any:
    if isinstance(value, Msg):
        return gettext(locale, value)
    if isinstance(value, list):
        return [_plain(v, locale) for v in value]
    return value


class ApiProblem(Exception):
    """Raised anywhere in an API request: answered as a problem document."""

    def __init__(self, status: int, detail: Msg | str | None = None, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(f"{status}")
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra


def field_error(pointer: str, message: Msg | str) -> dict[str, Any]:
    return {"pointer": pointer, "detail": message}


def pointer_for(name: str) -> str:
    """A form field's name as a JSON pointer into the request body ("owner_id" → "/owner_id"); a row's field is
    named by its path ("tour_stops/0/organization_id")."""
    return "/" + "/".join(part.replace("~", "~0") for part in name.split("/"))


def problem_response(status: int, *, locale: str, instance: str, detail: Msg | str | None = None,
                     errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    if detail is not None:
        body["detail"] = gettext(locale, detail) if isinstance(detail, Msg) else str(detail)
    body["instance"] = instance
    if errors:
        body["errors"] = [{"pointer": e["pointer"], "detail": gettext(locale, e["detail"])
                           if isinstance(e["detail"], Msg) else str(e["detail"])} for e in errors]
    body.update({name: _plain(value, locale) for name, value in extra.items()})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)
