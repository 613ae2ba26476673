"""Reminder rule 8, export figures missing, with the clock moved: on the 10th at 09:00 each officer whose pool
enterprises lack last month's figure is reminded once (naming those enterprises, not those that have it); an
officer whose enterprises all reported gets nothing; a figure entered before the reminder goes out cancels it; the
admin's day of the month is honoured."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import update

from crm.exports import service as export_service
from crm.notifications import service
from crm.notifications.models import RuleSetting
from crm.notifications.rules import export_missing
from crm.notifications.rules.base import RuleConfig
from tests import test_reminders
from tests.factories import make_org
from tests.test_reminders import inbox, local, outbox

clock, run = test_reminders.clock, test_reminders.run  # the reminder tests' fixtures (moving clock, one pass)
machine_tz = test_reminders.machine_tz  # and the machine's zone set to UTC and to Asia/Shanghai


def _pool(session, manager, officer, name):
    org = make_org(session, actor=officer, name=name, kind="zone_enterprise")
    export_service.create(session, actor=manager, data={
        "organization_id": org.id, "tier": "key", "officer_id": officer.id, "target_year": "2026",
        "target_wan_usd": "1000", "main_products": "", "markets": "", "support_planned": ""})
    return org


def _figure(session, actor, org, year, month, value="10"):
    export_service.write_figures(session, actor=actor, changes=[
        export_service.FigureChange(org.id, year, month, Decimal(value))])
    session.commit()


def test_officers_missing_last_months_figure_are_reminded_once_on_the_10th(session, users, clock, run):
    officer, other, manager = users["officer"], users["officer2"], users["manager"]
    clock(local(2026, 11, 1, 8))
    late = _pool(session, manager, officer, "甲出口")
    done = _pool(session, manager, officer, "乙出口")
    reported = _pool(session, manager, other, "丙出口")
    _figure(session, manager, done, 2026, 10)
    _figure(session, manager, reported, 2026, 10)
    _figure(session, manager, late, 2026, 9)  # an older month does not count
    run()
    clock(local(2026, 11, 9, 9, 5))
    run()
    assert inbox(session, officer) == []
    clock(local(2026, 11, 10, 9, 5))
    run()
    assert inbox(session, officer) == [("export_missing", "missing:2026-10")]
    assert inbox(session, other) == [] and inbox(session, manager) == []
    row = outbox(session, rule="export_missing")[0]
    text = service.render(row, "zh_CN")
    assert "2026-10" in text.subject and "甲出口" in text.lines[0] and "乙出口" not in text.lines[0]
    assert text.url == f"/exports?officer={officer.id}"
    clock(local(2026, 11, 11, 9, 5))
    run()
    clock(local(2026, 11, 20, 9, 5))
    run()
    assert len(inbox(session, officer)) == 1  # once a month


def test_a_figure_entered_in_time_means_no_reminder_and_a_waiting_one_is_dropped(session, users, clock, run):
    officer, manager = users["officer"], users["manager"]
    clock(local(2026, 11, 1, 8))
    early = _pool(session, manager, officer, "甲出口")
    late = _pool(session, users["manager"], users["officer2"], "乙出口")
    run()
    _figure(session, manager, early, 2026, 10)
    clock(local(2026, 11, 10, 9, 5))
    run()
    assert inbox(session, officer) == []
    rows = outbox(session, rule="export_missing")
    assert [row.recipient_id for row in rows] == [users["officer2"].id]
    config = RuleConfig(days=10, at_time=time(9, 0), zone=ZoneInfo("Asia/Shanghai"))
    assert export_missing.RULE.current(session, rows, config=config) == {rows[0].id}
    _figure(session, manager, late, 2026, 10)  # reported while the reminder waited (quiet hours, digest, retry)
    assert export_missing.RULE.current(session, rows, config=config) == set()


def test_the_admin_chooses_the_day_of_the_month(session, users, clock, run):
    officer, manager = users["officer"], users["manager"]
    clock(local(2026, 11, 1, 8))
    _pool(session, manager, officer, "甲出口")
    run()
    session.execute(update(RuleSetting).where(RuleSetting.code == "export_missing").values(days=5))
    session.commit()
    clock(local(2026, 11, 5, 9, 5))
    run()
    assert inbox(session, officer) == [("export_missing", "missing:2026-10")]
