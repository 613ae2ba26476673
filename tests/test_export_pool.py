"""Export-leader cultivation (issue 5): the pool (add, edit, remove, roles, edit conflicts), monthly figures typed
in (one month, a year grid; months still to come refused), the figures import (a good file, a bad file listing
every problem with nothing written, re-importing changes nothing, whole-file problems), progress against target,
序时进度 and last year computed by hand, the .xlsx download, the service log on the enterprise's timeline.

The clock stands at 2026-07-15 10:00 in Beijing: June is the last month that should have figures (序时进度 50%)."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import time_machine
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from crm.audit.models import AuditEntry
from crm.exports import service
from crm.exports.models import ExportEnterprise, ExportFigure, ExportSupport, ExportTarget
from crm.validators import credit_code_check_char
from tests.conftest import login, post
from tests.factories import make_org
from tests.helpers import count_rows, field_error, reload

NOW = datetime(2026, 7, 15, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def credit_code(n: int) -> str:
    first = f"91371700MA3C{n:05d}"
    return first + credit_code_check_char(first)


def enterprise(session, actor, name: str, *, code: int | None = None, kind: str = "zone_enterprise"):
    return make_org(session, actor=actor, name=name, kind=kind,
                    credit_code=credit_code(code) if code is not None else None)


def in_pool(session, manager, org, *, officer, tier="key", target="1200", year=2026):
    return service.create(session, actor=manager, data={
        "organization_id": org.id, "tier": tier, "officer_id": officer.id, "target_year": str(year),
        "target_wan_usd": target, "main_products": "光伏组件", "markets": "欧盟、东南亚", "support_planned": ""})


def figures(session, actor, org, year: int, values: dict[int, str]):
    session.rollback()  # a fresh snapshot: the app may have written since (a 403 is audited), and SQLite refuses a
    # write from a read transaction older than another's commit
    service.write_figures(session, actor=actor, changes=[
        service.FigureChange(org.id, year, m, Decimal(v)) for m, v in values.items()])
    session.commit()


def audit_count(session, entity_type: str = service.ENTITY_FIGURES) -> int:
    session.expire_all()
    n = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == entity_type))
    session.commit()
    return n


# --- the pool ----------------------------------------------------------------------------------------------------

def test_a_manager_adds_an_enterprise_and_the_pool_lists_it(client, session, users):
    officer = users["officer"]
    org = enterprise(session, officer, "菏泽鲁能光伏科技", code=1)
    enterprise(session, officer, "复星集团", kind="investor")  # not a zone enterprise: not offered
    login(client, "manager")
    page = client.get("/exports/new")
    assert page.status_code == 200 and "菏泽鲁能光伏科技" in page.text and "复星集团" not in page.text
    response = post(client, "/exports", {"organization_id": str(org.id), "tier": "leader", "officer_id": str(officer.id),
                                         "target_year": "2026", "target_wan_usd": "1,200", "main_products": "光伏组件",
                                         "markets": "欧盟", "support_planned": "参加广交会"})
    assert response.status_code == 303 and response.headers["location"] == f"/exports/{org.id}"
    member = session.scalar(select(ExportEnterprise))
    assert (member.tier, member.officer_id) == ("leader", officer.id)
    assert session.scalar(select(ExportTarget.target_wan_usd)) == Decimal("1200.00")
    assert audit_count(session, service.ENTITY_MEMBER) == 1
    listing = client.get("/exports")
    assert "菏泽鲁能光伏科技" in listing.text and "龙头" in listing.text
    show = client.get(f"/exports/{org.id}")
    assert show.status_code == 200 and "光伏组件" in show.text and "参加广交会" in show.text


def test_an_invalid_add_is_refused_beside_the_fields_and_nothing_is_written(client, session, users):
    org = enterprise(session, users["officer"], "菏泽华盛纺织")
    login(client, "manager")
    response = post(client, "/exports", {"organization_id": str(org.id), "tier": "gold", "officer_id": "999999",
                                         "target_year": "26", "target_wan_usd": "-5", "main_products": "棉纱<b>"},
                    headers={"HX-Request": "true"})
    assert response.status_code == 422
    for name in ("tier", "officer_id", "target_year", "target_wan_usd"):
        assert field_error(response.text, name), name
    assert "棉纱&lt;b&gt;" in response.text  # the user's input kept, escaped
    assert count_rows(session, ExportEnterprise) == 0 and count_rows(session, ExportTarget) == 0
    in_pool(session, users["manager"], org, officer=users["officer"])
    again = post(client, "/exports", {"organization_id": str(org.id), "tier": "key", "officer_id": str(users["officer"].id),
                                      "target_year": "2026"})
    assert again.status_code == 422 and field_error(again.text, "organization_id")


def test_roles_who_may_add_edit_and_remove(client, client_as, session, users):
    manager, officer, other = users["manager"], users["officer"], users["officer2"]
    org = enterprise(session, officer, "菏泽同泰电子")
    member = in_pool(session, manager, org, officer=officer, target="800")
    login(client, "officer")
    assert post(client, "/exports", {"organization_id": str(org.id)}).status_code == 403
    assert client.get("/exports/new").status_code == 403
    assert client.get(f"/exports/{org.id}/remove").status_code == 403
    assert post(client, f"/exports/{org.id}/remove", {"version": str(member.version)}).status_code == 403
    form = {"tier": "key", "officer_id": str(officer.id), "target_year": "2026", "target_wan_usd": "800",
            "main_products": "电子元器件", "markets": "日韩", "support_planned": "", "version": str(member.version)}
    # the responsible officer may describe the enterprise, but not change its tier or target
    refused = post(client, f"/exports/{org.id}", {**form, "tier": "leader", "target_wan_usd": "100"})
    assert refused.status_code == 422
    assert field_error(refused.text, "tier") and field_error(refused.text, "target_wan_usd")
    assert post(client, f"/exports/{org.id}", form).status_code == 303
    assert reload(session, ExportEnterprise, member.id).markets == "日韩"
    # another officer may not edit it or enter its figures
    stranger = client_as("officer2")
    assert post(stranger, f"/exports/{org.id}", {**form, "version": "2"}).status_code == 403
    assert post(stranger, f"/exports/{org.id}/figures", {"year": "2026", "m1": "1"}).status_code == 403
    assert other.id != officer.id
    # a manager removes it, after a confirmation page; figures and targets stay with the organization
    figures(session, manager, org, 2026, {1: "10"})
    boss = client_as("manager")
    confirm = boss.get(f"/exports/{org.id}/remove")
    assert confirm.status_code == 200 and f'action="/exports/{org.id}/remove"' in confirm.text
    assert post(boss, f"/exports/{org.id}/remove", {"version": "2"}).status_code == 303
    assert count_rows(session, ExportEnterprise) == 0
    assert count_rows(session, ExportFigure) == 1 and count_rows(session, ExportTarget) == 1
    assert boss.get(f"/exports/{org.id}").status_code == 404


def test_an_edit_on_a_stale_copy_is_refused(client, session, users):
    manager, officer = users["manager"], users["officer"]
    org = enterprise(session, officer, "菏泽牡丹生物制药")
    member = in_pool(session, manager, org, officer=officer)
    login(client, "manager")
    form = {"tier": "key", "officer_id": str(officer.id), "target_year": "2026", "target_wan_usd": "1200",
            "main_products": "原料药", "markets": "", "support_planned": "", "version": str(member.version)}
    assert post(client, f"/exports/{org.id}", form).status_code == 303
    stale = post(client, f"/exports/{org.id}", {**form, "main_products": "制剂"}, headers={"HX-Request": "true"})
    assert stale.status_code == 409 and "原料药" in stale.text
    assert reload(session, ExportEnterprise, member.id).main_products == "原料药"


# --- figures typed in --------------------------------------------------------------------------------------------

def test_the_year_grid_saves_changed_months_only_and_refuses_months_to_come(client, session, users):
    manager, officer = users["manager"], users["officer"]
    org = enterprise(session, officer, "中德合资菏泽精工")
    in_pool(session, manager, org, officer=officer)
    login(client, "officer")
    page = client.get(f"/exports/{org.id}/figures?year=2026")
    assert page.status_code == 200 and 'id="f-m8" disabled' in page.text
    assert 'id="f-m7" disabled' in page.text and 'id="f-m6" disabled' not in page.text  # July is not over
    response = post(client, f"/exports/{org.id}/figures", {"year": "2026", "m1": "100", "m2": "120.5", "m3": ""})
    assert response.status_code == 303
    assert count_rows(session, ExportFigure) == 2 and audit_count(session) == 1
    assert post(client, f"/exports/{org.id}/figures", {"year": "2026", "m1": "100", "m2": "120.50"}).status_code == 303
    assert audit_count(session) == 1  # nothing changed, nothing audited
    future = post(client, f"/exports/{org.id}/figures", {"year": "2026", "m1": "100", "m2": "120.5", "m9": "50"},
                  headers={"HX-Request": "true"})
    assert future.status_code == 422 and "2026-09" in field_error(future.text, "m9")
    running = post(client, f"/exports/{org.id}/figures", {"year": "2026", "m1": "100", "m2": "120.5", "m7": "50"},
                   headers={"HX-Request": "true"})
    assert running.status_code == 422 and "2026-07" in field_error(running.text, "m7")
    assert "结束" in field_error(running.text, "m7")
    bad = post(client, f"/exports/{org.id}/figures", {"year": "2026", "m1": "abc", "m2": "-1"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and field_error(bad.text, "m1") and field_error(bad.text, "m2")
    assert count_rows(session, ExportFigure) == 2
    # clearing a month removes its figure
    assert post(client, f"/exports/{org.id}/figures", {"year": "2026", "m1": "100", "m2": ""}).status_code == 303
    assert count_rows(session, ExportFigure) == 1


def test_one_month_entry_form(client, session, users):
    manager, officer = users["manager"], users["officer"]
    org = enterprise(session, officer, "菏泽盛和冷链物流")
    in_pool(session, manager, org, officer=officer)
    login(client, "officer")
    page = client.get("/exports/figures/new")
    assert page.status_code == 200 and 'value="2026-06"' in page.text
    assert post(client, "/exports/figures", {"organization_id": str(org.id), "month": "2026-06",
                                             "value_wan_usd": "88.8"}).status_code == 303
    assert session.scalar(select(ExportFigure.value_wan_usd)) == Decimal("88.80")
    future = post(client, "/exports/figures", {"organization_id": str(org.id), "month": "2026-08", "value_wan_usd": "1"},
                  headers={"HX-Request": "true"})
    assert future.status_code == 422 and field_error(future.text, "month")
    running = post(client, "/exports/figures", {"organization_id": str(org.id), "month": "2026-07",
                                                "value_wan_usd": "1"}, headers={"HX-Request": "true"})
    assert running.status_code == 422 and "2026-07" in field_error(running.text, "month")
    garbage = post(client, "/exports/figures", {"organization_id": str(org.id), "month": "June", "value_wan_usd": "x"},
                   headers={"HX-Request": "true"})
    assert garbage.status_code == 422 and field_error(garbage.text, "month") and field_error(garbage.text, "value_wan_usd")
    assert count_rows(session, ExportFigure) == 1


# --- progress ----------------------------------------------------------------------------------------------------

def test_progress_against_target_time_and_last_year_matches_hand_computed_values(client, session, users):
    manager, officer = users["manager"], users["officer"]
    ahead = enterprise(session, officer, "甲出口")
    behind = enterprise(session, officer, "乙出口")
    no_target = enterprise(session, officer, "丙出口")
    in_pool(session, manager, ahead, officer=officer, tier="leader", target="1200")
    in_pool(session, manager, behind, officer=users["officer2"], tier="key", target="1000")
    in_pool(session, manager, no_target, officer=officer, tier="potential", target="")
    figures(session, manager, ahead, 2026, {1: "100", 2: "100", 3: "100", 4: "100", 5: "100", 6: "150", 7: "999"})
    figures(session, manager, ahead, 2025, {m: "80" for m in range(1, 13)})
    figures(session, manager, behind, 2026, {1: "50", 2: "50", 3: "50", 4: "50", 5: "50"})  # June missing
    figures(session, manager, behind, 2025, {1: "100"})
    rows = {r.name: r for r in service.progress(session, year=2026, today=TODAY)}
    a, b, c = rows["甲出口"], rows["乙出口"], rows["丙出口"]
    # 甲: Jan–Jun 650 (July is not counted yet) of 1200 = 54.2 %; 序时进度 6/12 = 50 %; last year Jan–Jun 480 → +35.4 %
    assert (a.month, a.ytd, a.target, a.target_pct, a.time_pct) == (6, Decimal("650.00"), Decimal("1200.00"),
                                                                     Decimal("54.2"), Decimal("50.0"))
    assert (a.last_year, a.yoy_pct, a.behind, a.has_latest, a.months_reported) == (Decimal("480.00"), Decimal("35.4"),
                                                                                  False, True, 6)
    # 乙: 250 of 1000 = 25 %, 25 points behind 50 % (> 10): behind; last year 100 → +150 %; June missing
    assert (b.ytd, b.target_pct, b.gap_points, b.behind, b.has_latest, b.yoy_pct) == (
        Decimal("250.00"), Decimal("25.0"), Decimal("25.0"), True, False, Decimal("150.0"))
    assert (c.target, c.target_pct, c.behind, c.yoy_pct) == (None, None, False, None)
    # a wider margin lets 乙 off; an earlier month moves 序时进度
    assert not service.progress(session, year=2026, today=TODAY, margin_points=Decimal(30),
                                organization_ids=[behind.id])[0].behind
    march = service.progress(session, year=2026, month=3, organization_ids=[ahead.id])[0]
    assert (march.ytd, march.time_pct, march.target_pct) == (Decimal("300.00"), Decimal("25.0"), Decimal("25.0"))
    assert [r.name for r in service.behind_target(session, year=2026, today=TODAY)] == ["乙出口"]
    blocks = service.cultivation_for(session, [ahead.id, no_target.id, 123456], 2026, today=TODAY)
    assert set(blocks) == {ahead.id, no_target.id} and blocks[ahead.id].tier == "leader"
    assert service.progress(session, year=2025, today=TODAY, organization_ids=[ahead.id])[0].ytd == Decimal("960.00")
    # the pages show the same figures; the behind filter and the sort work in SQL
    login(client, "manager")
    listing = client.get("/exports?year=2026")
    assert "54.2%" in listing.text and "25.0%" in listing.text and "+35.4%" in listing.text
    assert "落后序时进度 25.0 个百分点" in listing.text
    only_behind = client.get("/exports?behind=1")
    assert "乙出口" in only_behind.text and "甲出口" not in only_behind.text
    by_progress = client.get("/exports?sort=progress").text
    assert by_progress.index("乙出口") < by_progress.index("甲出口") < by_progress.index("丙出口")
    assert "丙出口" not in client.get(f"/exports?officer={users['officer2'].id}").text
    assert "丙出口" in client.get("/exports?tier=potential").text and "甲出口" not in client.get("/exports?tier=potential").text
    assert client.get("/exports?sort=nonsense").status_code == 400
    show = client.get(f"/exports/{behind.id}")
    assert 'id="target-pct">25.0%' in show.text and 'id="time-pct">50.0%' in show.text and "2026-06" in show.text


def test_the_pool_pages_and_its_empty_states(client, session, users):
    login(client, "manager")
    empty = client.get("/exports")
    assert empty.status_code == 200 and 'href="/exports/new"' in empty.text
    assert "empty-state" in client.get("/exports?tier=leader").text
    for i in range(3):
        in_pool(session, users["manager"], enterprise(session, users["officer"], f"企业{i}"), officer=users["officer"])
    client.app.state.settings.page_size = 2
    first = client.get("/exports?sort=name")
    assert 'rel="next"' in first.text and "企业2" not in first.text
    assert "企业2" in client.get("/exports?sort=name&page=2").text


def test_the_pool_downloads_as_xlsx_honouring_its_filters(client, session, users):
    manager, officer = users["manager"], users["officer"]
    ahead, behind = enterprise(session, officer, "甲出口", code=11), enterprise(session, officer, "乙出口", code=12)
    in_pool(session, manager, ahead, officer=officer, target="100")
    in_pool(session, manager, behind, officer=officer, target="1000")
    figures(session, manager, ahead, 2026, {1: "60"})
    login(client, "manager")
    response = client.get("/exports/download?behind=1")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "企业名称" and len(rows) == 2 and rows[1][0] == "乙出口" and rows[1][1] == credit_code(12)
    everything = load_workbook(io.BytesIO(client.get("/exports/download").content)).active
    assert everything.max_row == 3
    # The file name says the figures' year once, then the day of the download
    disposition = unquote(response.headers["content-disposition"])
    assert "（2026 年数据）-2026-07-15.xlsx" in disposition and "2026-2026" not in disposition


# --- import ------------------------------------------------------------------------------------------------------

def xlsx(rows: list[tuple]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, data: bytes, filename: str = "figures.xlsx"):
    return client.post("/exports/import", data={"csrf_token": client.csrf}, files={"file": (filename, data,
                                                                                            "application/octet-stream")})


HEADER = ("统一社会信用代码", "企业名称", "月", "出口额（万美元）")


def test_importing_a_good_file_writes_every_figure_and_again_changes_nothing(client, session, users):
    manager, officer = users["manager"], users["officer"]
    first, second = enterprise(session, officer, "甲出口", code=21), enterprise(session, officer, "乙出口", code=22)
    in_pool(session, manager, first, officer=officer)
    in_pool(session, manager, second, officer=officer)
    figures(session, manager, second, 2026, {1: "5"})
    good = xlsx([HEADER,
                 (credit_code(21), "", "2026-01", 100),
                 (credit_code(21), "甲出口", "2026年2月", "120.5"),
                 ("", "乙出口", "2026/1", 5),  # already on file: left as it is
                 ("", "乙出口", "2025-12", 70)])
    login(client, "officer")
    response = upload(client, good)
    assert response.status_code == 200 and 'id="import-done"' in response.text, response.text
    session.expire_all()
    stored = {(f.organization_id, f.year, f.month): f.value_wan_usd for f in session.scalars(select(ExportFigure))}
    assert stored == {(first.id, 2026, 1): Decimal("100.00"), (first.id, 2026, 2): Decimal("120.50"),
                      (second.id, 2026, 1): Decimal("5.00"), (second.id, 2025, 12): Decimal("70.00")}
    session.commit()
    audits = audit_count(session)
    assert audits == 3  # the one from `figures`, and one per enterprise the import changed
    stamps = sorted(session.scalars(select(ExportFigure.updated_at)))
    session.commit()
    again = upload(client, good)
    assert again.status_code == 200 and "0" in again.text
    assert audit_count(session) == audits
    session.expire_all()
    assert sorted(session.scalars(select(ExportFigure.updated_at))) == stamps
    session.commit()
    csv = ("Unified social credit code,Enterprise,Month,Exports (10k USD)\n"
           f"{credit_code(21)},,2026-01,101\n").encode()
    assert upload(client, csv, "figures.csv").status_code == 200
    assert audit_count(session) == audits + 1


def test_a_bad_file_lists_every_problem_by_row_and_column_and_writes_nothing(client, session, users):
    manager, officer = users["manager"], users["officer"]
    mine = enterprise(session, officer, "甲出口", code=31)
    theirs = enterprise(session, officer, "丁出口", code=32)
    in_pool(session, manager, mine, officer=officer)
    in_pool(session, manager, theirs, officer=users["officer2"])
    bad = ("统一社会信用代码,企业名称,月份,出口额（万美元）\n"
           f"{credit_code(31)},,2026-01,100\n"        # row 2: fine on its own
           ",不存在的企业,2026-02,10\n"                 # row 3: unknown name
           f"{credit_code(31)},,2026-07,10\n"         # row 4: the current month, not over yet
           f"{credit_code(31)},,2026-01,100\n"        # row 5: January again (row 2)
           f"{credit_code(31)},,2026-03,abc\n"        # row 6: not a number
           f"{credit_code(31)},,2026-04,-3\n"         # row 7: negative
           f"{credit_code(31)},,2026-05,99999999\n"   # row 8: beyond the bound
           ",丁出口,2026-01,5\n"                        # row 9: not this officer's enterprise
           f"{credit_code(31)},乙出口,2026-06,5\n"      # row 10: the code names another enterprise
           "91371700MA3C99999X,,2026-06,5\n").encode()  # row 11: unknown code
    login(client, "officer")
    response = upload(client, bad, "bad.csv")
    assert response.status_code == 422
    text = response.text
    table = text[text.index('id="import-problems"'):]
    rows = [int(n) for n in __import__("re").findall(r'data-label="行">(\d+)</td>', table)]
    assert rows == [3, 4, 5, 6, 7, 8, 9, 10, 11], rows
    assert "不存在的企业" in text and "2026-07 尚未结束" in text and "第 2 行和第 5 行" in text
    assert "出口额（万美元）" in table and ">月<" in table and "企业名称" in table
    assert count_rows(session, ExportFigure) == 0 and audit_count(session) == 0
    client.post("/language", data={"csrf_token": client.csrf, "locale": "en", "next": "/"})
    english = upload(client, bad, "bad.csv")
    assert english.status_code == 422 and "Month" in english.text and "appears twice" in english.text


@pytest.mark.parametrize(("data", "filename", "status", "words"), [
    (b"", "x.xlsx", 422, "empty"),
    (b"%PDF-1.4 not a sheet", "x.pdf", 422, ".xlsx"),
    ("名称,数量\n甲,1\n".encode(), "x.csv", 422, "template"),
    (b"PK\x03\x04 broken zip", "x.xlsx", 422, "spreadsheet"),
    ("统一社会信用代码,企业名称,月份,出口额（万美元）\n".encode(), "x.csv", 422, "no data rows"),
])
def test_whole_file_problems_are_explained(client, session, users, data, filename, status, words):
    login(client, "officer")
    client.post("/language", data={"csrf_token": client.csrf, "locale": "en", "next": "/"})
    response = upload(client, data, filename)
    assert response.status_code == status and words in response.text, response.text[-1500:]
    assert "Nothing was imported" in response.text
    assert count_rows(session, ExportFigure) == 0


def test_an_upload_over_the_limit_is_refused_unread(client, session, users):
    login(client, "officer")
    client.app.state.settings.max_upload_mb = 1
    response = upload(client, b"x" * (2 * 1024 * 1024 + 10), "big.csv")
    assert response.status_code in (400, 413)
    assert count_rows(session, ExportFigure) == 0


def test_the_import_template_downloads_and_its_example_row_imports_as_it_is(client, session, users):
    """Issue 16: the example row paired a made-up credit code with a real enterprise and would not import. It is
    one of the user's own pool enterprises, by its code and name: downloaded and imported unchanged, accepted."""
    manager, officer = users["manager"], users["officer"]
    login(client, "officer")
    response = client.get("/exports/import/template")  # no enterprise of the officer's in the pool: no example
    assert response.status_code == 200
    assert list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True)) == [HEADER]
    org = enterprise(session, officer, "菏泽鲁能光伏科技", code=31)
    in_pool(session, manager, org, officer=officer)
    others = enterprise(session, manager, "别人的出口企业", code=32)
    in_pool(session, manager, others, officer=users["officer2"])
    response = client.get("/exports/import/template")
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0] == HEADER and len(rows) == 2
    assert rows[1][:2] == (credit_code(31), "菏泽鲁能光伏科技")  # the officer's own, by its real code
    accepted = upload(client, response.content)
    assert accepted.status_code == 200, accepted.text
    assert count_rows(session, ExportFigure) == 1  # last month, the sample amount
    figures(session, officer, org, 2026, {3: "88.50"})
    session.execute(ExportFigure.__table__.delete().where(ExportFigure.month == 6))
    session.commit()
    response = client.get("/exports/import/template")  # with a figure on file: that figure, so nothing changes
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[1][0] == credit_code(31) and Decimal(str(rows[1][3])) == Decimal("88.50")
    assert upload(client, response.content).status_code == 200
    session.expire_all()
    assert [(f.month, f.value_wan_usd) for f in session.scalars(select(ExportFigure))] == [(3, Decimal("88.50"))]
    assert client.get("/exports/import").status_code == 200


# --- service log and timeline ------------------------------------------------------------------------------------

def test_the_service_log_shows_on_the_member_page_and_the_organization_timeline(client, client_as, session, users):
    manager, officer = users["manager"], users["officer"]
    org = enterprise(session, officer, "菏泽鲁能光伏科技")
    in_pool(session, manager, org, officer=officer)
    login(client, "officer")
    refused = post(client, f"/exports/{org.id}/support", {"kind": "financing", "given_on": "2026-07-02",
                                                           "officer_id": str(officer.id), "description": ""},
                   headers={"HX-Request": "true"})
    assert refused.status_code == 422 and field_error(refused.text, "description")
    response = post(client, f"/exports/{org.id}/support", {
        "kind": "financing", "given_on": "2026-07-02", "officer_id": str(officer.id),
        "description": "对接出口信用保险", "outcome": "获批出口信保额度 500 万美元"})
    assert response.status_code == 303
    show = client.get(f"/exports/{org.id}")
    assert "对接出口信用保险" in show.text and "融资" in show.text
    timeline = client.get(f"/organizations/{org.id}/timeline")
    assert timeline.status_code == 200 and "对接出口信用保险" in timeline.text and "2026-07-02" in timeline.text
    entry = session.scalar(select(ExportSupport))
    assert client_as("officer2").get(f"/exports/support/{entry.id}/remove").status_code == 403
    assert client.get(f"/exports/support/{entry.id}/remove").status_code == 200
    assert post(client, f"/exports/support/{entry.id}/remove").status_code == 303
    assert count_rows(session, ExportSupport) == 0
    assert "对接出口信用保险" in client.get(f"/exports/{org.id}").text  # kept in the history


def test_the_demo_pool(db, session):
    """A dozen export enterprises (the seed's four zone enterprises among them), targets, figures for last year and
    this year up to last month, a few behind 序时进度, one still to report last month, and a service log."""
    from crm import demo

    anchor = date(2026, 12, 6)
    demo.load(session, anchor=anchor)
    rows = service.progress(session, year=2026, today=anchor)
    names = {r.name for r in rows}
    assert len(rows) == 12 and {"大唐智创", "玉皇新能源", "精进电动", "现代医药港"} <= names
    assert all(r.month == 11 and r.target and r.last_year > 0 for r in rows)
    behind = {r.name for r in service.behind_target(session, year=2026, today=anchor)}
    assert 2 <= len(behind) <= 4, behind
    assert [r.name for r in rows if not r.has_latest] == ["菏泽鲁西南农产品进出口"]
    assert session.scalar(select(func.count()).select_from(ExportSupport)) >= 5
    assert not service.progress(session, year=2026, month=12, organization_ids=[rows[0].organization_id])[0].has_latest


def test_a_service_log_entry_shows_once_on_the_organization_timeline(client, session, users):
    from crm.timeline import organization_timeline

    manager, officer = users["manager"], users["officer"]
    org = enterprise(session, officer, "菏泽鲁能光伏科技")
    in_pool(session, manager, org, officer=officer)
    login(client, "officer")
    assert post(client, f"/exports/{org.id}/support", {
        "kind": "financing", "given_on": "2026-07-02", "officer_id": str(officer.id),
        "description": "对接出口信用保险", "outcome": ""}).status_code == 303
    entry = session.scalar(select(ExportSupport))

    def about_the_entry():
        page = organization_timeline(session, organization_id=org.id, page=1, per_page=50, viewer=officer)
        return [(item.kind, item.entry.action if item.entry else None) for item in page.items
                if item.kind == "support" or (item.entry is not None and item.entry.entity_type == "export_support")]

    assert about_the_entry() == [("support", None)]
    assert client.get(f"/organizations/{org.id}/timeline").text.count("对接出口信用保险") == 1
    # Once removed, its deletion is the trace left on the timeline
    assert post(client, f"/exports/support/{entry.id}/remove").status_code == 303
    session.expire_all()
    assert about_the_entry() == [("audit", "delete")]
