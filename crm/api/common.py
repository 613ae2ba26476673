"""What every API resource shares: list parameters and cursor pages, ETag/If-Match, Idempotency-Key, and the
bridge from a JSON body to the pages' own form fields (the same validation, the same messages)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Select, and_, event, or_, select
from sqlalchemy.orm import Session

from crm.api.models import ApiIdempotencyKey
from crm.api.problems import ApiProblem, field_error, pointer_for
from crm.db import utcnow
from crm.forms import Field, FormResult, parse
from crm.i18n import Msg
from crm.submissions import service as submissions

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_IDEMPOTENCY_KEY = 200


# Lists: limit, cursor, updated_since

@dataclass
class ListParams:
    limit: int
    cursor: tuple[datetime, int] | None
    updated_since: datetime | None


def _decode_cursor(raw: str) -> tuple[datetime, int]:
    try:
        padded = raw + "=" * (-len(raw) % 4)
        at, record_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(record_id, int) or not 0 <= record_id <= 2**63 - 1:
            raise ValueError
        return moment.astimezone(UTC), record_id  # a time at the calendar's edge may not convert: OverflowError
    except (ValueError, TypeError, OverflowError, UnicodeEncodeError, json.JSONDecodeError):
        raise ApiProblem(400, Msg("The cursor is not one this API gave out: start again without it."),
                         errors=[{"pointer": "#/query/cursor", "detail": Msg("Unknown cursor.")}]) from None


def encode_cursor(at: datetime, record_id: int) -> str:
    raw = json.dumps([at.astimezone(UTC).isoformat(), record_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def list_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Records per page (at most 200).")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                                        description="The `next` link's cursor: the page after the previous one.")] = None,
    updated_since: Annotated[str | None, Query(
        max_length=40, json_schema_extra={"format": "date-time"},
        description="Only records changed at or after this time (ISO 8601, e.g. 2026-12-01T00:00:00Z; without an "
                    "offset, UTC), for synchronisation.")] = None,
) -> ListParams:
    return ListParams(limit=limit, cursor=_decode_cursor(cursor) if cursor else None,
                      updated_since=_moment(updated_since) if updated_since is not None else None)


def _moment(raw: str) -> datetime:
    try:
        if len(raw) < 10 or not raw[:4].isdigit():
            raise ValueError
        moment = datetime.fromisoformat(raw.replace("z", "Z"))
        # In UTC, as stored; 9999-12-31T23:59:59-23:59 has no UTC time (OverflowError).
        return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        message = Msg("“%(value)s” is not a date and time: use ISO 8601, e.g. 2026-12-01T00:00:00Z.", value=raw[:40])
        raise ApiProblem(400, message, errors=[{"pointer": "#/query/updated_since", "detail": message}]) from None


ListDep = Annotated[ListParams, Depends(list_params)]


def keyset(stmt: Select, params: ListParams, updated_col: Any, id_col: Any) -> Select:
    """The page's rows in the stable order (updated_at, id), after the cursor, since `updated_since`: one more
    than the limit, to know whether there is a next page."""
    if params.updated_since is not None:
        stmt = stmt.where(updated_col >= params.updated_since)
    if params.cursor is not None:
        at, last_id = params.cursor
        stmt = stmt.where(or_(updated_col > at, and_(updated_col == at, id_col > last_id)))
    return stmt.order_by(updated_col.asc(), id_col.asc()).limit(params.limit + 1)


def list_response(request: Request, params: ListParams, rows: Sequence[Any], render: Callable[[Any], dict],
                  *, total: int | None = None, extra: Mapping[str, Any] | None = None,
                  position: Callable[[Any], tuple[datetime, int]] | None = None) -> JSONResponse:
    """{"items": [...], "next": <link or null>, "total": <n, on the first page>}: rows as read by `keyset`;
    `position` gives a row's (time, id) in the order, (updated_at, id) by default."""
    more = len(rows) > params.limit
    rows = rows[:params.limit]
    next_link = None
    if more and rows:
        at, last_id = position(rows[-1]) if position else (rows[-1].updated_at, rows[-1].id)
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query.append(("cursor", encode_cursor(at, last_id)))
        next_link = f"{request.scope['path']}?{urlencode(query)}"  # the whole path: /api/v1/…
    body: dict[str, Any] = {"items": [render(row) for row in rows], "next": next_link}
    if total is not None:
        body["total"] = total
    if extra:
        body.update(extra)
    headers = {"Link": f'<{next_link}>; rel="next"'} if next_link else None
    return JSONResponse(body, headers=headers)


# Records: ETag and If-Match

def record_response(data: dict[str, Any], *, status: int = 200, location: str | None = None) -> JSONResponse:
    headers = {"ETag": f'"{data["version"]}"'} if "version" in data else {}
    if location:
        headers["Location"] = location
    return JSONResponse(data, status_code=status, headers=headers)


def required_version(request: Request, current: int | str) -> int | str:
    """The version the client changes (from If-Match): 428 without one, 412 when it is not the record's. `current`
    is the record's version, or the ETag of an entry without a version column (then named `current_etag`)."""
    header = request.headers.get("if-match", "").strip()
    if not header:
        raise ApiProblem(428, Msg("Send If-Match with the record's ETag (read it first), so that nobody's change is overwritten unseen."))
    if header == "*":
        return current
    wanted = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    if str(current) not in wanted:
        raise ApiProblem(412, Msg("Someone else saved this record after you read it. Nothing was overwritten: read it again, then apply your change."),
                         **({"current_version": current} if isinstance(current, int) else {"current_etag": current}))
    return current


# The JSON body as the pages' form

def form_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (list, tuple)):
        return ",".join(form_value(v) for v in value)
    return str(value)


def body_values(body: BaseModel, *, current: Mapping[str, str] | None = None) -> dict[str, str]:
    """The body's fields as form values, over the record's current values (a PATCH changes only what it sends)."""
    values = dict(current or {})
    for name, value in body.model_dump(exclude_unset=True).items():
        values[name] = form_value(value)
    return values


def parsed(fields: Sequence[Field], values: Mapping[str, str]) -> FormResult:
    """The page's form parse (its checks, its messages); refused as a 422 problem with each field's pointer."""
    form = parse(fields, values)
    if not form.ok:
        raise invalid(form.errors)
    return form


def invalid(errors: Mapping[str, Msg]) -> ApiProblem:
    return ApiProblem(422, Msg("Some fields need attention."),
                      errors=[field_error(pointer_for(name), message) for name, message in errors.items()])


# Idempotency-Key: a retried POST answers with what the first one created

def _request_hash(request: Request, body: BaseModel | None) -> str:
    payload = json.dumps([request.method, request.url.path, body.model_dump(mode="json") if body else None],
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def replay_or_claim(request: Request, session: Session, *, body: BaseModel | None, kind: str, creates: type,
                    render: Callable[[Session, int], JSONResponse]) -> JSONResponse | None:
    """With an Idempotency-Key: the first answer again when the key was used (422 when it was used on another
    request); otherwise None, with the key claimed in the transaction that creates the record. Two requests with
    one key at once: the later waits for the earlier (PostgreSQL: an advisory lock; SQLite: its write lock), or
    meets the unique key and is answered as a replay (crm.api.app)."""
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ApiProblem(400, Msg("The Idempotency-Key header has at most 200 printable characters."))
    token_id = request.state.api_token.token_id
    request_hash = _request_hash(request, body)
    request.state.idempotency = (token_id, key, request_hash, render)
    submissions.wait_for_the_same_key(session, key=f"api:{token_id}:{key}")
    earlier = session.scalar(select(ApiIdempotencyKey).where(ApiIdempotencyKey.token_id == token_id,
                                                             ApiIdempotencyKey.key == key))
    if earlier is not None:
        return replay(session, earlier, request_hash=request_hash, render=render)
    state: dict[str, Any] = {"record": None, "saved": False}

    @event.listens_for(session, "after_flush")
    def _note_record(flushed: Session, _context) -> None:
        if state["record"] is None:
            state["record"] = next((obj for obj in flushed.new if isinstance(obj, creates)), None)

    @event.listens_for(session, "before_commit")
    def _save_key(committing: Session) -> None:
        if state["saved"]:
            return
        committing.flush()
        if state["record"] is None or state["record"].id is None:
            return
        state["saved"] = True
        committing.add(ApiIdempotencyKey(token_id=token_id, key=key, request_hash=request_hash, status=201,
                                         kind=kind, result_id=state["record"].id, created_at=utcnow()))
        committing.flush()

    return None


def replay(session: Session, earlier: ApiIdempotencyKey, *, request_hash: str,
           render: Callable[[Session, int], JSONResponse]) -> JSONResponse:
    if earlier.request_hash != request_hash:
        raise ApiProblem(422, Msg("This Idempotency-Key was used on another request. Use a new key for a new request."))
    response = render(session, earlier.result_id or 0)
    response.status_code = earlier.status
    response.headers["Idempotent-Replayed"] = "true"
    return response


def earlier_answer(session: Session, *, token_id: int, key: str) -> ApiIdempotencyKey | None:
    return session.scalar(select(ApiIdempotencyKey).where(ApiIdempotencyKey.token_id == token_id,
                                                          ApiIdempotencyKey.key == key))


def is_key_conflict(error: BaseException) -> bool:
    text = str(getattr(error, "orig", error))
    return "api_idempotency_key" in text
