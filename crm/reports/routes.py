"""Printable reports (/reports): each as an HTML preview of the print layout and as a PDF (`?format=pdf`), in the
reader's language, rendered by the same template from the same data function."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from crm import charts
from crm.audit import web as audit_web
from crm.auth.deps import CurrentUser, RequireManager
from crm.db import RecordId, SessionDep, utcnow
from crm.errors import BadRequest, NotFound
from crm.exports import service as export_service
from crm.exports.schemas import TIER_LABELS
from crm.groundbreaking import service as groundbreaking_service
from crm.i18n import N_, Msg, gettext
from crm.pdf import documents
from crm.pdf import renderer as pdf_renderer
from crm.projects import filters, pipeline
from crm.projects.schemas import STAGE_LABELS
from crm.reports import service
from crm.security_headers import policy_allowing_styles
from crm.web import STATIC_DIR, Router, local_today, query_string, render

router = Router(prefix="/reports")


def _settings(request: Request):
    return request.app.state.settings


def _zone(request: Request) -> str:
    settings = _settings(request)
    return settings.zone_name_zh if request.state.locale.startswith("zh") else settings.zone_name_en


def _output(request: Request, template: str, context: dict[str, Any], *, title: str, filename: str,
            rows: int | None = None, document: str = "") -> Response:
    """The preview (HTML) or, with ?format=pdf, the PDF: one template either way. A PDF is audited (what, which
    filters, how many rows)."""
    as_pdf = request.query_params.get("format") == "pdf"
    params = {k: v for k, v in request.query_params.items() if k != "format"}
    html = documents.render_html(
        template, {**context, "pdf_url": f"{request.url.path}?{query_string(params, format='pdf')}",
                   "back_url": "/reports"},
        locale=request.state.locale, timezone=_settings(request).timezone, zone_name=_zone(request), title=title,
        marking=gettext(request.state.locale, N_("Internal material: keep confidential")), preview=not as_pdf,
        generated_at=utcnow())
    if not as_pdf:
        return HTMLResponse(html, headers={"Cache-Control": "private, no-store", "Vary": "HX-Request",
                                           "Content-Security-Policy": policy_allowing_styles(html)})  # print CSS
    settings = _settings(request)
    renderer = pdf_renderer.shared(workers=settings.pdf_render_workers, timeout=settings.pdf_render_timeout_seconds)
    try:
        result = renderer.render(html, static_dir=STATIC_DIR)
    except pdf_renderer.RenderError as error:
        raise BadRequest(Msg("The PDF could not be generated: %(reason)s", reason=str(error))) from None
    audit_web.record_pdf(request, document=document or template, name=filename, rows=rows)
    return Response(result.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff", "Vary": "HX-Request"})


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    today = local_today(request)
    return render(request, "reports/index.html", {
        "events": service.events(session), "is_manager": user.is_manager,
        "default_month": f"{today.year}-{export_service.months_due(today.year, today) or 1:02d}"})


@router.get("/pipeline")
def pipeline_report(request: Request, session: SessionDep, user: RequireManager) -> Response:
    """For managers: the pipeline table's filters (same query string) applied to the whole report."""
    settings, locale = _settings(request), request.state.locale
    flt = filters.from_query(request.query_params)
    report = service.pipeline_report(session, flt=flt, viewer=user, now=utcnow(), today=local_today(request),
                                     threshold=settings.major_project_threshold_wan_cny,
                                     stale_days=settings.project_stale_days)
    funnel = pipeline.funnel_chart(report.totals, locale=locale)
    return _output(request, "pdf/report_pipeline.html",
                   {"report": report, "funnel": funnel, "stage_labels": STAGE_LABELS,
                    "filtered": flt.active},
                   title=gettext(locale, N_("Pipeline report")), filename="pipeline-report.pdf",
                   rows=report.totals.count, document="pipeline_report")


@router.get("/groundbreaking/{event_id}")
def roster(request: Request, session: SessionDep, user: CurrentUser, event_id: RecordId) -> Response:
    event = groundbreaking_service.get(session, event_id)
    if event is None:
        raise NotFound()
    settings = _settings(request)
    board = service.roster(session, event=event, viewer=user, today=local_today(request),
                           threshold=settings.major_project_threshold_wan_cny,
                           stale_since=utcnow() - timedelta(days=settings.project_stale_days))
    return _output(request, "pdf/report_roster.html", {"board": board, "event": event, "stage_labels": STAGE_LABELS},
                   title=gettext(request.state.locale, N_("Groundbreaking readiness roster")),
                   filename=f"groundbreaking-{event.id}.pdf", rows=len(board.rows), document="groundbreaking_roster")


def _month(value: str) -> tuple[int, int]:
    try:
        year_text, month_text = value.split("-")
        year, month = int(year_text), int(month_text)
    except ValueError:
        raise BadRequest(Msg("Give the month as YYYY-MM, e.g. 2026-11.")) from None
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise BadRequest(Msg("Give the month as YYYY-MM, e.g. 2026-11."))
    return year, month


@router.get("/exports")
def export_report(request: Request, session: SessionDep, user: CurrentUser, month: str = "") -> Response:
    today = local_today(request)
    year, month_number = _month(month) if month else (today.year, export_service.months_due(today.year, today) or 1)
    report = service.export_report(session, year=year, month=month_number)
    locale = request.state.locale
    chart = None
    rows = [charts.ProgressRow(label=r.name, done_pct=float(r.target_pct) if r.target_pct is not None else None,
                               expected_pct=float(r.time_pct), note=f"{r.target_pct}%" if r.target_pct is not None else "")
            for r in report.rows if r.target]
    if rows:
        chart = charts.progress_svg(rows[:40], title=gettext(locale, N_("Export leaders against their annual targets")),
                                    expected_label=gettext(locale, N_("Time elapsed")))
    return _output(request, "pdf/report_exports.html", {"report": report, "chart": chart, "tier_labels": TIER_LABELS},
                   title=gettext(locale, N_("Export-leader progress report")),
                   filename=f"export-progress-{year}-{month_number:02d}.pdf", rows=len(report.rows),
                   document="export_report")
