"""Key economic indicators: admin, period entry, targets, the overview's figures, the detail page and its chart."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from crm.audit.models import AuditEntry
from crm.indicators import service
from crm.indicators.models import Indicator, IndicatorTarget, IndicatorValue
from tests.conftest import login, post
from tests.helpers import count_rows, field_error, input_value


@pytest.fixture
def indicators(session):
    service.ensure_defaults(session)
    session.commit()
    return {i.code: i for i in session.scalars(select(Indicator))}


def _value(session, indicator, year, period):
    session.expire_all()
    row = session.scalar(select(IndicatorValue).where(IndicatorValue.indicator_id == indicator.id,
                                                      IndicatorValue.year == year, IndicatorValue.period == period))
    session.commit()
    return row


def test_the_migration_seeds_the_nine_indicators(database):
    from sqlalchemy.orm import Session

    # The test database was made by the migrations; the nine are there before any test empties the table.
    with Session(database.engine) as s:
        codes = set(s.scalars(select(Indicator.code)))
    assert not codes or {"budget_revenue", "tax_revenue", "gdp", "urban_income", "rural_income", "foreign_trade",
                         "exports", "fdi_utilised", "fixed_asset_investment"} <= codes


def test_migration_seed_matches_the_service_defaults():
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("m", ROOT / "crm/migrations/versions/20261130_indicators.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert [tuple(str(x) for x in row) for row in module.SEEDED] == [tuple(str(x) for x in row)
                                                                     for row in service.DEFAULTS]


def test_ensure_defaults_is_idempotent(session, indicators):
    service.ensure_defaults(session)
    session.commit()
    assert count_rows(session, Indicator) == 9


# Admin

def test_admin_adds_and_edits_an_indicator(client, users, indicators, session):
    login(client, "admin")
    assert client.get("/admin/indicators").status_code == 200
    bad = post(client, "/admin/indicators", {"code": "Bad Code", "name_zh": "", "name_en": "Power",
                                             "unit": "wan_cny", "frequency": "monthly", "kind": "sum"})
    assert bad.status_code == 422
    assert field_error(bad.text, "name_zh") and field_error(bad.text, "code")
    assert input_value(bad.text, "name_en") == "Power"
    ok = post(client, "/admin/indicators", {"code": "power_use", "name_zh": "全社会用电量", "name_en": "Power use",
                                            "unit": "wan_cny", "frequency": "monthly", "kind": "sum",
                                            "position": "95", "is_active": "1"})
    assert ok.status_code == 303
    session.expire_all()
    created = session.scalar(select(Indicator).where(Indicator.code == "power_use"))
    duplicate = post(client, "/admin/indicators", {"code": "power_use", "name_zh": "x", "name_en": "x",
                                                   "unit": "cny", "frequency": "monthly", "kind": "sum"})
    assert duplicate.status_code == 422 and field_error(duplicate.text, "code")
    edit = client.get(f"/admin/indicators/{created.id}/edit")
    assert input_value(edit.text, "name_zh") == "全社会用电量"
    stale = post(client, f"/admin/indicators/{created.id}", {
        "code": "power_use", "name_zh": "用电量", "name_en": "Power use", "unit": "wan_cny",
        "frequency": "monthly", "kind": "sum", "version": "0"})
    assert stale.status_code == 409
    saved = post(client, f"/admin/indicators/{created.id}", {
        "code": "power_use", "name_zh": "用电量", "name_en": "Power use", "unit": "wan_cny",
        "frequency": "monthly", "kind": "sum", "version": "1"})  # is_active unticked: retired
    assert saved.status_code == 303
    session.expire_all()
    assert session.get(Indicator, created.id).name_zh == "用电量"
    assert session.get(Indicator, created.id).is_active is False
    assert session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "economic_indicator",
                                                   AuditEntry.action == "update"))


def test_frequency_cannot_change_once_figures_exist(client, users, indicators, session):
    login(client, "admin")
    tax = indicators["tax_revenue"]
    assert post(client, "/indicators/periods/2025-01", {f"value-{tax.id}": "100", f"version-{tax.id}": "0"}
                ).status_code == 303
    response = post(client, f"/admin/indicators/{tax.id}", {
        "code": "tax_revenue", "name_zh": tax.name_zh, "name_en": tax.name_en, "unit": "wan_cny",
        "frequency": "quarterly", "kind": "sum", "is_active": "1", "version": str(tax.version)})
    assert response.status_code == 422 and field_error(response.text, "frequency")


def test_officers_cannot_configure_enter_or_import(client, users, indicators):
    login(client, "officer")
    assert client.get("/indicators").status_code == 200
    assert client.get("/admin/indicators").status_code == 403
    assert client.get("/indicators/periods/2025-03").status_code == 403
    tax = indicators["tax_revenue"]
    assert post(client, "/indicators/periods/2025-03", {f"value-{tax.id}": "1", f"version-{tax.id}": "0"}
                ).status_code == 403
    assert post(client, "/indicators/targets/2025", {f"target-{tax.id}": "1"}).status_code == 403
    assert client.get("/indicators/import").status_code == 403


# Period entry

def test_period_form_saves_every_indicator_of_the_month(client, users, indicators, session):
    login(client, "manager")
    page = client.get("/indicators/periods/2025-03")
    assert page.status_code == 200
    monthly = [i for i in indicators.values() if i.frequency == "monthly"]
    assert all(f'name="value-{i.id}"' in page.text for i in monthly)
    assert f'name="value-{indicators["gdp"].id}"' not in page.text  # quarterly
    data = {f"version-{i.id}": "0" for i in monthly}
    data[f"value-{indicators['budget_revenue'].id}"] = "12,345.6"
    data[f"value-{indicators['exports'].id}"] = "800"
    response = post(client, "/indicators/periods/2025-03", data)
    assert response.status_code == 303
    assert _value(session, indicators["budget_revenue"], 2025, 3).value == Decimal("12345.60")
    assert _value(session, indicators["exports"], 2025, 3).value == Decimal("800.00")
    assert count_rows(session, IndicatorValue) == 2
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "indicator_value")).all()
    assert len(entries) == 2


def test_period_form_refuses_bad_figures_and_keeps_the_input(client, users, indicators, session):
    login(client, "manager")
    rev, exports, tax = indicators["budget_revenue"], indicators["exports"], indicators["tax_revenue"]
    response = post(client, "/indicators/periods/2025-04", {
        f"value-{rev.id}": "abc", f"value-{exports.id}": "-5", f"value-{tax.id}": "300",
        f"version-{rev.id}": "0", f"version-{exports.id}": "0", f"version-{tax.id}": "0"})
    assert response.status_code == 422
    assert "不是数字" in (field_error(response.text, f"value-{rev.id}") or "")
    assert field_error(response.text, f"value-{exports.id}")
    assert input_value(response.text, f"value-{rev.id}") == "abc"
    assert input_value(response.text, f"value-{tax.id}") == "300"
    assert count_rows(session, IndicatorValue) == 0  # all or nothing


def test_a_future_period_is_refused(client, users, indicators, session):
    login(client, "manager")
    tax = indicators["tax_revenue"]
    future = date.today().year + 1
    response = post(client, f"/indicators/periods/{future}-01", {f"value-{tax.id}": "5", f"version-{tax.id}": "0"})
    assert response.status_code == 422
    assert "2027-01" in response.text
    assert count_rows(session, IndicatorValue) == 0


def test_a_stale_period_form_overwrites_nothing(client, users, indicators, session):
    login(client, "manager")
    tax = indicators["tax_revenue"]
    assert post(client, "/indicators/periods/2025-05", {f"value-{tax.id}": "100", f"version-{tax.id}": "0"}
                ).status_code == 303
    # Someone else's form, opened before that save, still says version 0
    response = post(client, "/indicators/periods/2025-05", {f"value-{tax.id}": "999", f"version-{tax.id}": "0"})
    assert response.status_code == 409
    assert input_value(response.text, f"value-{tax.id}") == "999"
    assert _value(session, tax, 2025, 5).value == Decimal("100.00")
    # Saving again over the current version applies it
    assert post(client, "/indicators/periods/2025-05", {f"value-{tax.id}": "999", f"version-{tax.id}": "1"}
                ).status_code == 303
    assert _value(session, tax, 2025, 5).value == Decimal("999.00")


def test_clearing_a_figure_removes_it(client, users, indicators, session):
    login(client, "manager")
    tax = indicators["tax_revenue"]
    post(client, "/indicators/periods/2025-06", {f"value-{tax.id}": "100", f"version-{tax.id}": "0"})
    assert post(client, "/indicators/periods/2025-06", {f"value-{tax.id}": "", f"version-{tax.id}": "1"}
                ).status_code == 303
    assert _value(session, tax, 2025, 6) is None


def test_a_bad_period_in_the_url_is_400(client, users, indicators):
    login(client, "manager")
    assert client.get("/indicators/periods/2025-13").status_code == 400


def test_targets_form(client, users, indicators, session):
    login(client, "manager")
    tax = indicators["tax_revenue"]
    assert client.get("/indicators/targets/2025").status_code == 200
    bad = post(client, "/indicators/targets/2025", {f"target-{tax.id}": "x", f"version-{tax.id}": "0"})
    assert bad.status_code == 422 and field_error(bad.text, f"target-{tax.id}")
    assert post(client, "/indicators/targets/2025", {f"target-{tax.id}": "1200", f"version-{tax.id}": "0"}
                ).status_code == 303
    session.expire_all()
    assert session.scalar(select(IndicatorTarget.target)) == Decimal("1200.00")


# The overview: figures checked by hand

def _put(session, indicator, year, values: dict[int, str], target: str | None = None):
    for period, value in values.items():
        session.add(IndicatorValue(indicator_id=indicator.id, year=year, period=period, value=Decimal(value)))
    if target is not None:
        session.add(IndicatorTarget(indicator_id=indicator.id, year=year, target=Decimal(target)))
    session.commit()


def test_overview_figures_match_hand_computed_values(session, indicators):
    rev, urban, gdp = indicators["budget_revenue"], indicators["urban_income"], indicators["gdp"]
    # Revenue (sum, monthly): Jan–Oct 2026 100 each but March missing → 900 through October
    _put(session, rev, 2026, {m: "100" for m in range(1, 11) if m != 3}, target="1500")
    _put(session, rev, 2025, {m: "90" for m in range(1, 13)})
    # Urban income (ytd, quarterly): Q1–Q3 as reported; Q3 is the year to date
    _put(session, urban, 2026, {1: "12000", 2: "24000", 3: "36000"}, target="50000")
    _put(session, urban, 2025, {1: "11000", 2: "22000", 3: "33000", 4: "45000"})
    # GDP (sum, quarterly): last year lacks Q2, so no comparable growth
    _put(session, gdp, 2026, {1: "500", 2: "600"}, target="2400")
    _put(session, gdp, 2025, {1: "450"})
    figures = {f.indicator.code: f for f in service.overview(session, year=2026, today=date(2026, 11, 30))}

    f = figures["budget_revenue"]
    assert f.latest == 10 and f.latest_value == Decimal("100")
    assert f.year_to_date == Decimal("900")
    assert f.missing == [3]
    assert f.progress == pytest.approx(900 / 1500)  # 60 %
    assert f.time_progress == pytest.approx(10 / 12)  # 83.3 %
    assert f.behind and f.gap == pytest.approx(0.6 - 10 / 12)
    assert f.last_year_to_date == Decimal("810")  # 9 periods × 90: the same periods this year has
    assert f.growth == pytest.approx(900 / 810 - 1)  # +11.1 %
    assert f.overdue is False  # October is the last complete month and has a figure

    f = figures["urban_income"]
    assert f.year_to_date == Decimal("36000")  # not a sum
    assert f.progress == pytest.approx(0.72)
    assert f.time_progress == pytest.approx(0.75)
    assert f.last_year_to_date == Decimal("33000")
    assert f.growth == pytest.approx(36000 / 33000 - 1)

    f = figures["gdp"]
    assert f.year_to_date == Decimal("1100")
    assert f.progress == pytest.approx(1100 / 2400)
    assert f.time_progress == pytest.approx(0.5)
    assert f.last_year_to_date is None and f.growth is None
    assert f.overdue is True  # Q3 ended and has no figure

    f = figures["tax_revenue"]
    assert f.latest is None and f.year_to_date is None and f.progress is None and f.target is None


def test_overview_page_and_detail_page(client, users, session, indicators):
    rev = indicators["budget_revenue"]
    _put(session, rev, 2025, {1: "100", 2: "200", 3: "300"}, target="2400")
    _put(session, rev, 2024, {1: "50", 2: "150", 3: "200"})
    login(client, "officer")
    page = client.get("/indicators?year=2025")
    assert page.status_code == 200
    assert "一般公共预算收入" in page.text
    assert "25.0%" in page.text  # 600 / 2400
    assert "+50.0%" in page.text  # 600 against 400
    detail = client.get(f"/indicators/{rev.id}?year=2025")
    assert detail.status_code == 200
    assert "<svg" in detail.text and "Noto Sans CJK SC" in detail.text
    assert "-hatch" in detail.text  # last year is told apart by its pattern, not only its colour
    assert client.get("/indicators?year=abc").status_code == 400
    assert client.get("/indicators/999999").status_code == 404


def test_overview_xlsx_reads_back(client, users, session, indicators):
    rev = indicators["budget_revenue"]
    _put(session, rev, 2025, {1: "100", 2: "200"}, target="1200")
    login(client, "officer")
    response = client.get("/indicators/export.xlsx?year=2025")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "指标"
    first = rows[1]
    assert first[0] == "一般公共预算收入"
    assert float(first[4]) == 300 and float(first[5]) == 1200 and float(first[6]) == 25.0
    assert len(rows) == 1 + 9


def test_english_pages_show_no_chinese_interface_text(client, users, session, indicators):
    import re

    rev = indicators["budget_revenue"]
    _put(session, rev, 2025, {1: "100"}, target="1200")
    login(client, "admin")
    post(client, "/language", {"locale": "en"})
    for url in ["/indicators?year=2025", f"/indicators/{rev.id}?year=2025", "/indicators/periods/2025-03",
                "/indicators/periods/2025-Q1", "/indicators/targets/2025", "/indicators/import", "/indicators/periods",
                "/admin/indicators", f"/admin/indicators/{rev.id}/edit", "/assessment?year=2025",
                f"/assessment/2025/officers/{users['officer'].id}/projects_signed",
                f"/assessment/2025/officers/{users['officer'].id}/visits_received",
                f"/assessment/2025/officers/{users['officer'].id}/target"]:
        response = client.get(url)
        assert response.status_code == 200, url
        visible = re.sub(r"<option[^>]*>[^<]*</option>", "", response.text).replace("菏泽经济开发区", "").replace("中文", "")
        visible = re.sub(r'<td data-label="Chinese name"[^>]*>[^<]*(<a[^>]*>[^<]*</a>)?</td>', "", visible)  # data
        visible = re.sub(r' value="[^"]*"', "", visible)  # what the form holds is data
        visible = visible.replace("张晓明", "").replace("李四", "").replace("练建军", "").replace("管理员", "")
        assert not re.findall(r"[\u4e00-\u9fff]", visible), (url, sorted(set(re.findall(r"[\u4e00-\u9fff]", visible))))
