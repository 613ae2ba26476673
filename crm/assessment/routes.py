"""The annual target assessment: the table of officers and departments (targets, actuals, completion), the records
behind every actual, the target forms (managers and admins) and the .xlsx download."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response

from crm.assessment import service
from crm.assessment.deps import DepartmentQuery, MetricPath, OfficerPath, YearPath
from crm.assessment.models import COUNT_METRICS, METRICS
from crm.assessment.schemas import METRIC_LABELS
from crm.audit import service as audit_service
from crm.audit import web as audit_web
from crm.auth.deps import CurrentUser, Forbidden, RequireManager
from crm.db import SessionDep
from crm.forms import FormResult, parse_version
from crm.i18n import Msg, gettext
from crm.indicators.deps import YearDep
from crm.projects.schemas import STAGE_LABELS
from crm.spreadsheets import Column, xlsx_response
from crm.versioning import StaleEdit
from crm.visits.schemas import KIND_LABELS as VISIT_KIND_LABELS
from crm.web import FormDep, Router, local_today, redirect, render

router = Router(prefix="/assessment")


def _timezone(request: Request) -> str:
    return request.app.state.settings.timezone


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser, year: YearDep) -> Response:
    result = service.table(session, year=year, timezone=_timezone(request), viewer=user)
    today = local_today(request)
    return render(request, "assessment/index.html", {
        "table": result, "year": year, "metrics": METRICS, "count_metrics": COUNT_METRICS,
        "metric_labels": METRIC_LABELS, "can_set": service.can_set_targets(user),
        "years": list(range(today.year, today.year - 5, -1)), "quote": quote})


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


@router.get("/export.xlsx")
def export(request: Request, session: SessionDep, user: CurrentUser, year: YearDep) -> Response:
    locale = request.state.locale

    def _(message, **params):
        return gettext(locale, message, **params)

    result = service.table(session, year=year, timezone=_timezone(request), viewer=user)
    columns = [Column("kind", Msg("Officer or department"), "text", width=12),
               Column("name", Msg("Name"), "text", width=16), Column("department", Msg("Department"), "text")]
    for metric in METRICS:
        kind = "int" if metric in COUNT_METRICS else "decimal"
        columns += [Column(f"{metric}_target", Msg("%(figure)s: target", figure=Msg(METRIC_LABELS[metric])), kind),
                    Column(f"{metric}_actual", Msg("%(figure)s: actual", figure=Msg(METRIC_LABELS[metric])), kind),
                    Column(f"{metric}_pct", Msg("%(figure)s: completion (%%)", figure=Msg(METRIC_LABELS[metric])),
                           "decimal", number_format="0.0")]
    rows = []
    for row in [*result.officers, *result.departments]:
        values: list[Any] = [_("Officer") if row.kind == "officer" else _("Department"), row.label, row.department]
        for metric in METRICS:
            values += [row.target_of(metric), row.actual.get(metric), _percent(row.progress(metric))]
        rows.append(values)
    response = xlsx_response(f"{_('Annual target assessment')} {year}", columns, rows, translate=_,
                             timezone=_timezone(request))
    audit_web.record_download(request, name=f"Annual target assessment {year}", rows=len(rows), file_format="xlsx")
    return response


# Targets (managers and admins)

def _target_values(record) -> dict[str, str]:
    values = {m: "" if record is None or getattr(record, m) is None else f"{getattr(record, m)}" for m in METRICS}
    values["version"] = str(record.version if record is not None else 0)
    return values


def _target_page(request: Request, session, *, year: int, form: FormResult, subject: str, back: str, action: str,
                 stale=None, status_code: int = 200) -> Response:
    return render(request, "assessment/target.html", {
        "year": year, "form": form, "subject": subject, "back": back, "action": action, "metrics": METRICS,
        "metric_labels": METRIC_LABELS, "stale": stale,
        "refs": audit_service.reference_labels(session, stale or [], request.state.locale)},
        block="form" if status_code != 200 else None, status_code=status_code)


def _save_target(request: Request, session, *, year: int, raw, user, subject: str, action: str, **who) -> Response:
    form = FormResult(values={m: (raw.get(m) if isinstance(raw.get(m), str) else "") for m in METRICS})
    version = parse_version(raw)
    form.values["version"] = str(version or 0)
    back = f"/assessment?year={year}"
    try:
        service.save_target(session, year=year, data=form.values, version=version, actor=user, **who)
    except service.InvalidTarget as bad:
        form.errors.update(bad.errors)
        return _target_page(request, session, year=year, form=form, subject=subject, back=back, action=action,
                            status_code=422)
    except StaleEdit as stale:
        form.values["version"] = str(stale.current.version)
        return _target_page(request, session, year=year, form=form, subject=subject, back=back, action=action,
                            stale=stale.changes, status_code=409)
    return redirect(request, back, flash=Msg("Targets of %(name)s for %(year)s saved.", name=subject, year=year))


@router.get("/{year}/officers/{user_id}/target")
def officer_target_form(request: Request, session: SessionDep, user: RequireManager, year: YearPath,
                        officer: OfficerPath) -> Response:
    record = service.officer_target(session, year=year, user_id=officer.id)
    return _target_page(request, session, year=year, form=FormResult(values=_target_values(record)),
                        subject=officer.display_name, back=f"/assessment?year={year}",
                        action=f"/assessment/{year}/officers/{officer.id}/target")


@router.post("/{year}/officers/{user_id}/target")
def save_officer_target(request: Request, session: SessionDep, user: RequireManager, year: YearPath,
                        officer: OfficerPath, raw: FormDep) -> Response:
    return _save_target(request, session, year=year, raw=raw, user=user, subject=officer.display_name,
                        action=f"/assessment/{year}/officers/{officer.id}/target", user_id=officer.id)


# A department's name is free text and may hold "/", so it travels as the query parameter `name`, never as a path
# segment (routing decodes %2F back into a separator).

def _department_action(year: int, department: str) -> str:
    return f"/assessment/{year}/departments/target?{urlencode({'name': department})}"


@router.get("/{year}/departments/target")
def department_target_form(request: Request, session: SessionDep, user: RequireManager, year: YearPath,
                           department: DepartmentQuery) -> Response:
    record = service.department_target(session, year=year, department=department)
    return _target_page(request, session, year=year, form=FormResult(values=_target_values(record)),
                        subject=department, back=f"/assessment?year={year}",
                        action=_department_action(year, department))


@router.post("/{year}/departments/target")
def save_department_target(request: Request, session: SessionDep, user: RequireManager, year: YearPath,
                           department: DepartmentQuery, raw: FormDep) -> Response:
    return _save_target(request, session, year=year, raw=raw, user=user, subject=department,
                        action=_department_action(year, department), department=department)


# The records behind an actual

def _drill_page(request: Request, *, result: service.DrillDown, year: int, subject: str, metric: str) -> Response:
    return render(request, "assessment/records.html", {
        "result": result, "year": year, "subject": subject, "metric": metric, "metric_labels": METRIC_LABELS,
        "stage_labels": STAGE_LABELS, "visit_kind_labels": VISIT_KIND_LABELS})


@router.get("/{year}/officers/{user_id}/{metric}")
def officer_records(request: Request, session: SessionDep, user: CurrentUser, year: YearPath, officer: OfficerPath,
                    metric: MetricPath) -> Response:
    if not service.can_see(user, user_id=officer.id):
        raise Forbidden()
    result = service.records(session, year=year, timezone=_timezone(request), metric=metric, viewer=user,
                             user_id=officer.id)
    return _drill_page(request, result=result, year=year, subject=officer.display_name, metric=metric)


@router.get("/{year}/departments/{metric}")
def department_records(request: Request, session: SessionDep, user: CurrentUser, year: YearPath,
                       department: DepartmentQuery, metric: MetricPath) -> Response:
    if not service.can_see(user, department=department):
        raise Forbidden()
    result = service.records(session, year=year, timezone=_timezone(request), metric=metric, viewer=user,
                             department=department)
    return _drill_page(request, result=result, year=year, subject=department, metric=metric)
