"""Imports of projects, visits and follow-ups (issue 14): the cell values as zones write them, then each kind
through the wizard over HTTP."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from crm.i18n import Msg
from crm.imports import values


def test_values_as_zones_write_them():
    # dates in every form a ledger holds, Excel day numbers and date cells; nonsense is a message, not a guess
    for written in ("2021年12月8日", "2021.12.8", "2021/12/8", "2021-12-08", "20211208", 44538, 44538.0, "44538",
                    datetime(2021, 12, 8, 9, 0), date(2021, 12, 8), " 2021-12-8 "):
        assert values.parse_date(written) == date(2021, 12, 8), written
    assert values.parse_date("") is None and values.parse_date(None) is None
    for bad in ("2021-13-01", "明天", "1999-01-01", 12.5):
        assert isinstance(values.parse_date(bad), Msg), bad
    assert "2021年12月8日" in values.parse_date("2021-02-30").translate("zh_CN")
    # date and time (visits), and a time on its own
    for written in ("2021年12月8日 9:30", "2021年12月8日上午9:30", "2021/12/8 09:30:00", "2021-12-08T09:30",
                    "2021.12.8 9时30分", "2021-12-8 9:30", datetime(2021, 12, 8, 9, 30), 44538.395833333):
        assert values.parse_datetime(written) == datetime(2021, 12, 8, 9, 30), written
    assert values.parse_datetime("2021/12/8 下午2:30") == datetime(2021, 12, 8, 14, 30)
    assert values.parse_datetime("2021-12-08") == datetime(2021, 12, 8)
    assert isinstance(values.parse_datetime("2021-12-08 25:00"), Msg)
    assert values.parse_time("下午2点半") == time(14, 30) and values.parse_time(0.5) == time(12)
    assert values.combine(date(2021, 12, 8), time(9, 30)) == datetime(2021, 12, 8, 9, 30)

    # amounts: the header's unit decides; a header without one is ambiguous and asked, never guessed
    units = {"计划总投资（万元）": "wan_cny", "总投资（亿元）": "yi_cny", "投资额(万元)": "wan_cny",
             "Total investment (10k CNY)": "wan_cny", "注册资本（元）": "yuan", "实际使用外资（万美元）": "wan_usd",
             "投资额万元": "wan_cny", "总投资(单位：亿元)": "yi_cny", "总投资": None, "投资额": None}
    for header, code in units.items():
        assert (values.amount_unit(header).code if values.amount_unit(header) else None) == code, header
        assert values.unit_known(header) is (code is not None)
    yi, wan = values.UNITS["yi_cny"], values.UNITS["wan_cny"]
    assert values.parse_amount("2.5", yi) == Decimal("25000.00")
    assert values.parse_amount(1.2345678, yi) == Decimal("12345.68")
    assert values.parse_amount("8,000", wan) == Decimal("8000.00")
    assert values.parse_amount("3亿元", None) == Decimal("30000.00")  # the cell says its own unit
    assert "万元" in values.parse_amount("8000", None).translate("zh_CN")  # no unit at all: asked
    assert isinstance(values.parse_amount("-1", wan), Msg) and isinstance(values.parse_amount("很多", wan), Msg)
    assert isinstance(values.parse_amount("5", values.UNITS["wan_usd"]), Msg)  # dollars in a yuan field
    assert isinstance(values.parse_amount("600000", yi, maximum=Decimal("50000000")), Msg)

    # stages with their everyday synonyms, in either language
    stages = {"在谈": "negotiating", "已签约": "signed", "已开工": "groundbreaking", "竣工投产": "operating",
              "已投产": "operating", "线索": "lead", "手续办理": "permits", "Negotiating": "negotiating",
              "In operation": "operating", "on hold": "on_hold", "终止": "dropped"}
    for written, code in stages.items():
        assert values.parse_stage(written) == code, written
    refused = values.parse_stage("快好了")
    assert "线索、接洽、洽谈" in refused.translate("zh_CN") and "Lead, First contact" in refused.translate("en")
    # yes/no, visit kinds, follow-up status
    for written, flag in (("是", True), ("否", False), ("Y", True), ("n", False), ("TRUE", True), ("false", False),
                          (1, True), (0, False), ("√", True)):
        assert values.parse_bool(written) is flag, written
    assert isinstance(values.parse_bool("也许"), Msg)
    assert values.parse_visit_kind("来访") == "inbound" and values.parse_visit_kind("企业走访") == "aftercare"
    assert values.parse_visit_kind("Phone or video call") == "remote"
    assert values.parse_task_status("已完成") == "done" and values.parse_task_status("未完成") == "open"
    assert values.parse_task_status("open") == "open" and isinstance(values.parse_task_status("半完成"), Msg)
    assert values.split_names("王芳、李强，王芳") == ["王芳", "李强"]
