"""Recording access events from the web side: a permission refusal, a list downloaded, a PDF generated or
downloaded. Each is written in a short transaction of its own (the request's session is a read session, or its
write step has ended), with the user, the client's address, what was asked for and the outcome."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from starlette.requests import Request

from crm.audit import service
from crm.audit.models import AuditAction, AuditOutcome
from crm.web import client_address

log = logging.getLogger("crm.audit")

_FILTER_VALUE_LENGTH = 200  # a filter's value as recorded (a search box may hold anything)


def filters_of(request: Request, *, leave_out: Iterable[str] = ("page", "format")) -> dict[str, str]:
    """The list's filters as the query string gave them."""
    skip = set(leave_out)
    return {key: value[:_FILTER_VALUE_LENGTH] for key, value in request.query_params.items() if key not in skip}


def record(request: Request, *, event: AuditAction | str, details: Mapping[str, Any],
           outcome: AuditOutcome = AuditOutcome.SUCCESS, entity_type: str = "", entity_id: int | None = None,
           entity_label: str = "") -> None:
    """One event in its own write transaction: a busy database answers 503 (nothing is handed out unrecorded)."""
    database = request.app.state.database
    with database.write_session() as session:
        service.record_event(session, event=str(event), actor=getattr(request.state, "user", None), outcome=outcome,
                             client_address=client_address(request), entity_type=entity_type, entity_id=entity_id,
                             entity_label=entity_label, details=dict(details))
        session.commit()


def record_refusal(request: Request, *, reason: str = "role") -> None:
    """A 403, best effort: a short bookkeeping transaction (50 ms lock wait at most), skipped and logged when the
    database is busy, so a refusal never becomes a 500 or waits on another user's save."""
    database = request.app.state.database
    try:
        with database.bookkeeping_sessions() as session:
            service.record_event(session, event=AuditAction.PERMISSION_REFUSED,
                                 actor=getattr(request.state, "user", None), outcome=AuditOutcome.REFUSED,
                                 client_address=client_address(request),
                                 details={"method": request.method, "path": request.url.path[:300],
                                          "query": request.url.query[:300], "reason": reason})
            session.commit()
    except Exception as exc:
        log.warning("permission refusal of %s %s by %s from %s not recorded (%s)", request.method, request.url.path,
                    getattr(getattr(request.state, "user", None), "username", "?"), client_address(request), exc)


def record_download(request: Request, *, name: str, rows: int, file_format: str,
                    filters: Mapping[str, str] | None = None) -> None:
    """A list downloaded: which list (its address and name), which filters, how many rows."""
    record(request, event=AuditAction.DOWNLOAD,
           details={"list": request.url.path, "name": name[:200], "format": file_format, "rows": rows,
                    "filters": dict(filters_of(request) if filters is None else filters)})


def record_pdf(request: Request, *, document: str, name: str = "", rows: int | None = None, generated: bool = True,
               entity_type: str = "", entity_id: int | None = None, entity_label: str = "",
               extra: Mapping[str, Any] | None = None) -> None:
    """A PDF generated (rendered) or downloaded (an already rendered briefing pack)."""
    details: dict[str, Any] = {"document": document, "name": name[:200], "path": request.url.path,
                               "filters": filters_of(request), "generated": generated}
    if rows is not None:
        details["rows"] = rows
    details.update(extra or {})
    record(request, event=AuditAction.PDF, details=details, entity_type=entity_type, entity_id=entity_id,
           entity_label=entity_label)


class Counted:
    """Rows passed through, counted (the count is known once a download's file has been written)."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        for row in self._rows:
            self.count += 1
            yield row
