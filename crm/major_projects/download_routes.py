"""The 调度表 downloads: /scheduling/export.xlsx and /scheduling/report.pdf take /scheduling's query string (month,
level, colour, officer, leader) and print exactly its rows (`service.board`, visibility applied, missing reports
first for managers). The .xlsx is audited as a download (`xlsx_download`), the PDF as a "pdf" event."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from crm.audit import web as audit_web
from crm.auth.deps import CurrentUser
from crm.db import SessionDep, utcnow
from crm.errors import BadRequest
from crm.i18n import N_, Msg, gettext
from crm.major_projects import downloads, service
from crm.major_projects.routes import LABELS, board_for_query
from crm.pdf import documents
from crm.pdf import renderer as pdf_renderer
from crm.spreadsheets import content_disposition, xlsx_download
from crm.web import STATIC_DIR, Router

router = Router(prefix="/scheduling")


def _zone(request: Request) -> str:
    settings = request.app.state.settings
    return settings.zone_name_zh if request.state.locale.startswith("zh") else settings.zone_name_en


def _board(request: Request, session, user) -> service.Board:
    return board_for_query(request, session, user)[0]


@router.get("/export.xlsx")
def export_xlsx(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    board = _board(request, session, user)
    return xlsx_download(request, downloads.file_stem(board), downloads.columns(board),
                         downloads.rows(board, locale=request.state.locale),
                         layout=downloads.layout(board, zone_name=_zone(request)))


@router.get("/report.pdf")
def report_pdf(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The landscape PDF report of the same table (the printable reports' renderer and document frame)."""
    board = _board(request, session, user)
    locale, settings = request.state.locale, request.app.state.settings
    doc_title = gettext(locale, downloads.title(board, zone_name=_zone(request)))
    html = documents.render_html(
        "pdf/major_projects.html",
        {"board": board, "months": downloads.months(board), "report_state": downloads.report_state,
         "colour_fills": downloads.COLOUR_FILLS, **LABELS},
        locale=locale, timezone=settings.timezone, zone_name=_zone(request), title=doc_title,
        marking=gettext(locale, N_("Internal material: keep confidential")), preview=False, generated_at=utcnow())
    renderer = pdf_renderer.shared(workers=settings.pdf_render_workers, timeout=settings.pdf_render_timeout_seconds)
    try:
        result = renderer.render(html, static_dir=STATIC_DIR)
    except pdf_renderer.RenderError as error:
        raise BadRequest(Msg("The PDF could not be generated: %(reason)s", reason=str(error))) from None
    filename = f"{gettext(locale, downloads.file_stem(board))}.pdf"
    audit_web.record_pdf(request, document="major_projects_board", name=filename, rows=len(board.rows))
    return Response(result.pdf, media_type="application/pdf", headers={
        "Content-Disposition": content_disposition(filename), "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff"})
