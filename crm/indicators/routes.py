"""Key economic indicator pages: the overview (each indicator against its target and 序时进度), an indicator's
series with its chart, the entry form of one period, the year's targets, the import, the .xlsx downloads, and the
admins' list of indicators."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from crm import charts
from crm.audit import service as audit_service
from crm.audit import web as audit_web
from crm.auth.deps import CurrentUser, Forbidden, RequireAdmin, RequireManager, require_admin
from crm.db import SessionDep
from crm.forms import FormResult, parse, parse_version
from crm.i18n import N_, Msg, gettext
from crm.indicators import service
from crm.indicators.deps import IndicatorDep, PeriodDep, YearDep, year_of
from crm.indicators.models import Frequency, Indicator
from crm.indicators.schemas import (
    FREQUENCY_LABELS,
    IMPORT_COLUMNS,
    KIND_LABELS,
    UNIT_LABELS,
    Period,
    current_period,
    indicator_fields,
    last_complete_period,
)
from crm.spreadsheets import XLSX_MEDIA_TYPE, Column, SheetProblem, content_disposition, template_xlsx, xlsx_response
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, accepts_upload, local_today, redirect, render

router = Router(prefix="/indicators")
admin_router = Router(prefix="/admin/indicators", dependencies=[Depends(require_admin)])

def _labels() -> dict[str, Any]:
    return {"unit_labels": UNIT_LABELS, "frequency_labels": FREQUENCY_LABELS, "kind_labels": KIND_LABELS}


# The overview

@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser, year: YearDep) -> Response:
    today = local_today(request)
    return render(request, "indicators/index.html", {
        "year": year, "figures": service.overview(session, year=year, today=today),
        "years": service.years_with_figures(session, today=today), "can_enter": service.can_enter(user),
        "can_configure": service.can_configure(user),
        "entry_month": last_complete_period(Frequency.MONTHLY, today),
        "entry_quarter": last_complete_period(Frequency.QUARTERLY, today), **_labels()})


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


OVERVIEW_COLUMNS = (
    Column("indicator", Msg("Indicator"), "text", width=28),
    Column("unit", Msg("Unit"), "text", width=10),
    Column("period", Msg("Figures through"), "text", width=14),
    Column("latest", Msg("Latest period"), "decimal"),
    Column("ytd", Msg("Year to date"), "decimal"),
    Column("target", Msg("Annual target"), "decimal"),
    Column("progress", Msg("Progress (%)"), "decimal", number_format="0.0"),
    Column("time_progress", Msg("Time elapsed (%)"), "decimal", number_format="0.0"),
    Column("last_year", Msg("Same period last year"), "decimal"),
    Column("growth", Msg("Growth (%)"), "decimal", number_format="0.0"),
)


@router.get("/export.xlsx")
def export(request: Request, session: SessionDep, user: CurrentUser, year: YearDep) -> Response:
    locale = request.state.locale

    def _(message, **params):
        return gettext(locale, message, **params)

    rows = []
    for f in service.overview(session, year=year, today=local_today(request)):
        rows.append((f.indicator.label(locale), _(UNIT_LABELS[f.indicator.unit]),
                     f.latest_period.label(locale) if f.latest_period else None, f.latest_value, f.year_to_date,
                     f.target, _percent(f.progress), _percent(f.time_progress), f.last_year_to_date,
                     _percent(f.growth)))
    stem = f"{_('Key economic indicators')} {year}"
    response = xlsx_response(stem, OVERVIEW_COLUMNS, rows, translate=_, timezone=request.app.state.settings.timezone)
    audit_web.record_download(request, name=f"Key economic indicators {year}", rows=len(rows), file_format="xlsx")
    return response


# Entry of one period

def _period_choices(today, frequency: str, count: int) -> list[Period]:
    period, choices = current_period(frequency, today), []
    for _ in range(count):
        choices.append(period)
        period = period.previous()
    return choices


def _require_enter(user) -> None:
    if not service.can_enter(user):
        raise Forbidden()


@router.get("/periods")
def periods(request: Request, session: SessionDep, user: RequireManager) -> Response:
    """Choose a month or a quarter to enter (also the target of the period picker's plain GET form)."""
    key = request.query_params.get("period", "")
    if key:
        return redirect(request, f"/indicators/periods/{key[:12]}")
    today = local_today(request)
    return render(request, "indicators/periods.html", {
        "months": _period_choices(today, Frequency.MONTHLY, 24), "quarters": _period_choices(today, Frequency.QUARTERLY, 8)})


def _sheet_context(request: Request, session, *, period: Period, form: FormResult, rows=None,
                   stale=None, raced: bool = False) -> dict[str, Any]:
    rows = rows if rows is not None else service.period_sheet(session, period=period)
    return {"period": period, "rows": rows, "form": form, "stale": stale, "today_date": local_today(request),
            "raced": raced, "refs": audit_service.reference_labels(session, stale or [], request.state.locale),
            **_labels()}


def _sheet_values(rows, prefix: str) -> dict[str, str]:
    values = {}
    for row in rows:
        values[f"{prefix}-{row.indicator.id}"] = "" if row.amount is None else f"{row.amount:f}"
        values[f"version-{row.indicator.id}"] = str(row.version)
    return values


def _posted_versions(raw, rows) -> dict[int, int]:
    versions = {}
    for row in rows:
        text = raw.get(f"version-{row.indicator.id}")
        if isinstance(text, str) and text.isdigit() and len(text) < 10:
            versions[row.indicator.id] = int(text)
    return versions


def _posted(raw, rows, prefix: str) -> FormResult:
    form = FormResult()
    for row in rows:
        for name in (f"{prefix}-{row.indicator.id}", f"version-{row.indicator.id}"):
            value = raw.get(name)
            if isinstance(value, str):
                form.values[name] = value  # a value too long is refused beside its cell, not cut
    return form


@router.get("/periods/{period_key}")
def period_form(request: Request, session: SessionDep, user: RequireManager, period: PeriodDep) -> Response:
    rows = service.period_sheet(session, period=period)
    return render(request, "indicators/period.html", _sheet_context(
        request, session, period=period, rows=rows, form=FormResult(values=_sheet_values(rows, "value"))))


@router.post("/periods/{period_key}")
def save_period(request: Request, session: SessionDep, user: RequireManager, period: PeriodDep,
                raw: FormDep) -> Response:
    rows = service.period_sheet(session, period=period)
    form = _posted(raw, rows, "value")
    try:
        changed = service.save_period(session, period=period, raw=form.values, versions=_posted_versions(raw, rows),
                                      actor=user, today=local_today(request))
    except service.InvalidInput as bad:
        form.errors.update(bad.errors)
        return render(request, "indicators/period.html", _sheet_context(request, session, period=period, form=form,
                                                                         rows=rows), block="form", status_code=422)
    except service.StaleSheet as stale:
        fresh = service.period_sheet(session, period=period)
        form.values.update({k: v for k, v in _sheet_values(fresh, "value").items() if k.startswith("version-")})
        return render(request, "indicators/period.html", _sheet_context(
            request, session, period=period, form=form, rows=fresh, stale=stale.changes, raced=not stale.changes),
            block="form", status_code=409)
    return redirect(request, f"/indicators?year={period.year}", flash=Msg(
        "Figures for %(period)s saved (%(n)s changed).", period=period.key, n=changed))


# The year's targets

@router.get("/targets/{year}")
def targets_form(request: Request, session: SessionDep, user: RequireManager, year: str) -> Response:
    year_number = year_of(year, local_today(request))
    rows = service.target_sheet(session, year=year_number)
    return render(request, "indicators/targets.html", {
        "year": year_number, "rows": rows, "form": FormResult(values=_sheet_values(rows, "target")), "stale": None,
        "raced": False, "refs": {}, **_labels()})


@router.post("/targets/{year}")
def save_targets(request: Request, session: SessionDep, user: RequireManager, year: str, raw: FormDep) -> Response:
    year_number = year_of(year, local_today(request))
    rows = service.target_sheet(session, year=year_number)
    form = _posted(raw, rows, "target")
    context = {"year": year_number, "rows": rows, "form": form, "stale": None, "raced": False, "refs": {},
               **_labels()}
    try:
        service.save_targets(session, year=year_number, raw=form.values, versions=_posted_versions(raw, rows),
                             actor=user)
    except service.InvalidInput as bad:
        form.errors.update(bad.errors)
        return render(request, "indicators/targets.html", context, block="form", status_code=422)
    except service.StaleSheet as stale:
        fresh = service.target_sheet(session, year=year_number)
        form.values.update({k: v for k, v in _sheet_values(fresh, "target").items() if k.startswith("version-")})
        context.update(rows=fresh, stale=stale.changes, raced=not stale.changes,
                       refs=audit_service.reference_labels(session, stale.changes, request.state.locale))
        return render(request, "indicators/targets.html", context, block="form", status_code=409)
    return redirect(request, f"/indicators?year={year_number}", flash=Msg("Targets for %(year)s saved.",
                                                                          year=year_number))


# Import

@router.get("/import")
def import_form(request: Request, session: SessionDep, user: RequireManager) -> Response:
    return render(request, "indicators/import.html", {"result": None, "problem": None, "columns": IMPORT_COLUMNS,
                                                      "indicators": service.indicators(session), **_labels()})


@router.get("/import/template.xlsx")
def import_template(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    locale = request.state.locale

    def _(message, **params):
        return gettext(locale, message, **params)

    today = local_today(request)
    examples = []
    for indicator in service.indicators(session)[:3]:
        period = last_complete_period(indicator.frequency, today)
        examples.append((indicator.label(locale), period.key, None, _(UNIT_LABELS[indicator.unit])))
    data = template_xlsx(IMPORT_COLUMNS, translate=_, example_rows=examples)
    filename = f"{_('Key economic indicators')} {_('import template')}.xlsx"
    return Response(data, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": content_disposition(filename)})


@router.post("/import")
@accepts_upload
def import_upload(request: Request, session: SessionDep, user: RequireManager, raw: FormDep) -> Response:
    upload = raw.get("file")
    context: dict[str, Any] = {"result": None, "problem": None, "columns": IMPORT_COLUMNS,
                               "indicators": service.indicators(session), **_labels()}
    if not isinstance(upload, UploadFile) or not upload.filename:
        context["problem"] = Msg("Choose a file to import.")
        return render(request, "indicators/import.html", context, status_code=422)
    data = upload.file.read()
    try:
        result = service.import_file(session, data=data, filename=upload.filename, actor=user,
                                     today=local_today(request))
    except SheetProblem as problem:
        session.rollback()
        context["problem"] = problem.message
        return render(request, "indicators/import.html", context, status_code=422)
    if not result.ok:
        context["result"] = result
        return render(request, "indicators/import.html", context, status_code=422)
    return redirect(request, "/indicators", flash=Msg(
        "Imported %(rows)s rows: %(changed)s figures new or changed, the others already as in the file.",
        rows=result.rows, changed=result.changed))


# One indicator

@router.get("/{indicator_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, indicator: IndicatorDep,
         year: YearDep) -> Response:
    today = local_today(request)
    figures = service.figures_for(session, indicator=indicator, year=year, today=today)
    return render(request, "indicators/show.html", {
        "indicator": indicator, "figures": figures, "year": year, "chart": chart(figures, request.state.locale),
        "can_enter": service.can_enter(user), "today": today,
        "history": audit_service.entity_history(session, entity_type="economic_indicator", entity_id=indicator.id,
                                                limit=10), "refs": {}, **_labels()})


def chart(figures: service.Figures, locale: str):
    """The indicator's periods this year against last year (solid / hatched bars), as SVG for a page or a PDF."""
    indicator = figures.indicator
    periods = [Period(figures.year, indicator.frequency, n) for n in range(1, figures.periods + 1)]
    this = [float(figures.values[n]) if n in figures.values else None for n in range(1, figures.periods + 1)]
    last = [float(figures.last_year[n]) if n in figures.last_year else None for n in range(1, figures.periods + 1)]
    title = gettext(locale, N_("%(indicator)s: %(year)s against %(last)s"), indicator=indicator.label(locale),
                    year=figures.year, last=figures.year - 1)
    return charts.grouped_bars_svg(
        [p.short_label(locale) for p in periods],
        [charts.BarSeries(str(figures.year), this), charts.BarSeries(str(figures.year - 1), last, hatched=True)],
        title=title, unit=gettext(locale, UNIT_LABELS[indicator.unit]), chart_id=f"indicator-{indicator.id}")


# Admin: the list of indicators

def _admin_page(request: Request, session, *, form: FormResult, editing: Indicator | None = None, stale=None,
                status_code: int = 200) -> Response:
    context = {"items": service.indicators(session, include_inactive=True), "form": form, "editing": editing,
               "stale": stale, "refs": {}, **_labels()}
    return render(request, "indicators/admin.html", context, status_code=status_code)


@admin_router.get("")
def admin_index(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return _admin_page(request, session, form=FormResult(values={
        "position": "100", "unit": "wan_cny", "frequency": "monthly", "kind": "sum", "is_active": "1"}))


def _admin_save(request: Request, session, raw, indicator: Indicator | None, admin) -> Response:
    form = parse(indicator_fields(), raw)
    version = parse_version(raw)
    if form.ok:
        try:
            saved = service.save_indicator(session, indicator=indicator, data=form.data, version=version, actor=admin)
            return redirect(request, "/admin/indicators", flash=Msg("“%(name)s” saved.", name=saved.name_zh))
        except service.InvalidInput as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
        except StaleEdit as stale:
            form.values["version"] = str(stale.current.version)
            return _admin_page(request, session, form=form, editing=stale.current, stale=stale.changes,
                               status_code=409)
    form.values["version"] = str(version or "")
    return _admin_page(request, session, form=form, editing=indicator, status_code=422)


@admin_router.post("")
def admin_create(request: Request, session: SessionDep, admin: RequireAdmin, raw: FormDep) -> Response:
    return _admin_save(request, session, raw, None, admin)


@admin_router.get("/{indicator_id}/edit")
def admin_edit(request: Request, session: SessionDep, admin: RequireAdmin, indicator: IndicatorDep) -> Response:
    values = {k: ("" if v is None else str(v)) for k, v in audit_service.snapshot(indicator, service.INDICATOR_FIELDS).items()}
    values.update(allows_negative="1" if indicator.allows_negative else "", is_active="1" if indicator.is_active else "",
                  version=str(indicator.version))
    return _admin_page(request, session, form=FormResult(values=values), editing=indicator)


@admin_router.post("/{indicator_id}")
def admin_update(request: Request, session: SessionDep, admin: RequireAdmin, indicator: IndicatorDep,
                 raw: FormDep) -> Response:
    return _admin_save(request, session, raw, indicator, admin)
