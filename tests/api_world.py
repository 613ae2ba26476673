"""A small demo-like zone for the API's checks (issue 15): one record of every kind the API serves, a confidential
project another officer may not see, and a read and a write token. Faster than `crm demo load` (seconds, not tens
of seconds), and with known ids, so generated requests reach real records, not only 404s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.api import tokens
from crm.auth.models import User
from crm.db import utcnow
from crm.exports.models import ExportEnterprise, ExportFigure, ExportTarget
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.indicators.models import Indicator, IndicatorTarget, IndicatorValue
from crm.parcels.models import LandParcel
from crm.projects.models import ApprovalItem
from tests import factories

SECRET_NAME = "绝密氢能总部项目"
SECRET_INVESTMENT = "987654.32"


@dataclass
class World:
    ids: dict[str, int]  # a path parameter's name → an existing record's id
    read: str  # the officer's read token
    write: str  # the officer's write token
    secret_project_id: int  # the officer's confidential project
    other_read: str  # another officer's read token (may not see it)
    manager_write: str  # a manager's write token (parcels and groundbreaking events are managers' to change)


def build(session: Session, users: dict[str, User]) -> World:
    officer, other = users["officer"], users["officer2"]
    org = factories.make_org(session, actor=officer, name="菏泽华鑫新材料有限公司", city="菏泽", tags="新材料")
    zone_org = factories.make_org(session, actor=officer, name="牡丹区精工装备有限公司", kind="zone_enterprise")
    contact = factories.make_contact(session, actor=officer, organization=org, mobile="13800000000")
    visit = factories.make_visit(session, title="华鑫考察", officer=officer, organizations=[org], stops=[zone_org])
    project = factories.make_project(session, actor=officer, organizations=[org], name="华鑫新材料产业园项目",
                                     total_investment_wan_cny="12000")
    secret = factories.make_project(session, actor=officer, organizations=[org], name=SECRET_NAME,
                                    is_confidential="1", total_investment_wan_cny=SECRET_INVESTMENT)
    task = factories.make_task(session, actor=officer, organization_id=org.id, project_id=project.id, title="回访华鑫")
    factories.make_task(session, actor=officer, organization_id=org.id, project_id=secret.id, title="密件跟进")
    now, year = utcnow(), date.today().year
    parcel = LandParcel(code="HZ-2026-01", name="康庄路东地块", location="康庄路东", planned_use="工业")
    event = GroundbreakingEvent(name="第四季度集中开工", held_on=date(year, 12, 28), place="开发区")
    session.add_all([parcel, event])
    session.flush()
    session.add_all([SlatedProject(event_id=event.id, project_id=project.id, position=0),
                     SlatedProject(event_id=event.id, project_id=secret.id, position=1)])
    member = ExportEnterprise(organization_id=zone_org.id, tier="key", officer_id=officer.id, main_products="轴承")
    session.add_all([member, ExportTarget(organization_id=zone_org.id, year=year, target_wan_usd=Decimal("500")),
                     ExportFigure(organization_id=zone_org.id, year=year, month=1, value_wan_usd=Decimal("41.5"))])
    indicator = session.scalar(select(Indicator).order_by(Indicator.id).limit(1))
    if indicator is None:
        indicator = Indicator(code="gdp", name_zh="地区生产总值", name_en="GDP")
        session.add(indicator)
        session.flush()
    session.add_all([IndicatorTarget(indicator_id=indicator.id, year=year, target=Decimal("1000")),
                     IndicatorValue(indicator_id=indicator.id, year=year, period=1, value=Decimal("88.5"),
                                    updated_at=now)])
    item = session.scalar(select(ApprovalItem).where(ApprovalItem.project_id == project.id).limit(1))
    if item is None:
        item = ApprovalItem(project_id=project.id, code="land", name_zh="用地预审", name_en="Land pre-approval")
        session.add(item)
    session.commit()
    made = [tokens.create(session, user=user, name=name, scope=scope, expires_at=None, actor=user)
            for user, name, scope in ((officer, "read", "read"), (officer, "write", "write"), (other, "other", "read"),
                                      (users["manager"], "manager", "write"))]
    for token, _secret in made:  # thousands of generated requests a minute: the budget is not what is checked here
        token.requests_per_minute = 1_000_000
    session.commit()
    (_r, read), (_w, write), (_o, other_read), (_m, manager_write) = made
    ids = {"organization_id": org.id, "contact_id": contact.id, "visit_id": visit.id, "follow_up_id": task.id,
           "project_id": project.id, "parcel_id": parcel.id, "event_id": event.id, "indicator_id": indicator.id,
           "export_member_organization_id": zone_org.id, "item_id": item.id,
           "year": year, "month": 1, "period": 1}  # a month and a period with a figure on file
    return World(ids=ids, read=read, write=write, secret_project_id=secret.id, other_read=other_read,
                 manager_write=manager_write)


def path_ids(world: World, path: str) -> dict[str, int]:
    """The known ids for a path's parameters (the export figures' organization is the pool member's)."""
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    ids = dict(world.ids)
    if path.startswith("/export-members/"):
        ids["organization_id"] = world.ids["export_member_organization_id"]
    return {name: ids[name] for name in names}
