"""The demo's projects, land parcels and the December collective groundbreaking, loaded through the services.

Facts from the seed (牡丹晚报, December 2021; DOMAIN.md): the parcel 菏泽市2019-2旧城区改建项目（纱厂地块） — its
bounds, 557 households (菏泽棉纺厂职工家属院南院 13 buildings and 69 single-storey houses), about 45,400 m² of
buildings on about 212,958 m² of land, the signing window 2021-12-08 to 12-14 (moved like every demo date: two days
after the anchor, for seven days), 货币补偿 or 房屋产权调换, a new junior middle school and 八一路小学 extended; and that
the 党政联席会议 of 2021-12-06 (the anchor) arranged the December collective groundbreaking (12月项目集中奠基开工).
Everything else here is INVENTED, plausible data: the projects, their money, stages, decisions, permits and
officers, the other parcel, the event's date and place and its slate (some projects ready, some not). Never present
it as fact. Loading is deterministic: the same anchor gives the same records.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.auth.models import User
from crm.groundbreaking import service as groundbreaking_service
from crm.organizations.models import Organization
from crm.parcels import service as parcel_service
from crm.projects import service as project_service
from crm.projects.models import ApprovalItem, Project, StageChange
from crm.tasks import service as task_service
from crm.visits.models import Visit

SEED_ANCHOR = date(2021, 12, 6)

SEED_PARCEL = {
    "code": "菏泽市2019-2", "name": "菏泽市2019-2旧城区改建项目（纱厂地块）", "location": "菏泽市牡丹区",
    "bounds": "康庄东路以南，桂陵路以西，八一西路以北，居民区、学校以东",
    "land_area_m2": "212958", "building_area_m2": "45400", "planned_use": "旧城区改建（回迁安置及配套）",
    "status": "expropriating", "households_total": "557", "households_signed": "0",
    "compensation_cash": "1", "compensation_swap": "1",
    "public_facilities": "除回迁安置外，新建一所初级中学，八一路小学扩建。",
    "notes": "征收范围：菏泽棉纺厂职工家属院南院，楼房13栋、平房69户。",
}
# INVENTED: an industrial parcel already supplied, and one still being cleared.
INVENTED_PARCELS = [
    {"code": "HZKFQ-2026-07", "name": "开发区长江东路北侧工业地块（演示数据）", "location": "菏泽经济开发区长江东路北侧",
     "bounds": "长江东路以北，人民路以东（虚构）", "land_area_m2": "86670", "planned_use": "工业用地",
     "status": "supplied", "households_total": "", "households_signed": "0", "public_facilities": "",
     "notes": "INVENTED demo record."},
    {"code": "HZKFQ-2026-12", "name": "开发区淮河路南侧地块（演示数据）", "location": "菏泽经济开发区淮河路南侧",
     "bounds": "淮河路以南，黄河东路以西（虚构）", "land_area_m2": "53335", "building_area_m2": "6200",
     "planned_use": "工业用地", "status": "expropriating", "households_total": "48", "households_signed": "31",
     "public_facilities": "", "notes": "INVENTED demo record."},
]

ALL_DONE = "all"  # every approval item approved
# INVENTED projects. stage: where it ends up; via: the stages it passed (moved through the service, so the gates
# are checked); days: how long ago it entered its stage; decision: (meeting days from the anchor, outcome);
# permits: "all", or {template code: (status, accepted days before the anchor, promised days or None)};
# land: a parcel code or a certificate number; slate: on the December groundbreaking's slate.
PROJECTS = [
    {"name": "复星集团生物医药产业园项目", "orgs": ["复星集团"], "industry": "biomedicine", "stage": "contact",
     "via": ["lead"], "days": 4, "total": "100000", "visit": "复星集团一行到开发区考察洽谈合作", "owner": "officer",
     "officers": ["manager"], "description": "生物医药研发、中试及生产基地，依托现代医药港配套（演示数据，虚构）。",
     "target_signing": 60},
    {"name": "天合储能电池pack及系统集成项目", "orgs": ["江苏天合储能"], "industry": "new_energy", "stage": "negotiating",
     "via": ["lead", "contact"], "days": 20, "total": "80000", "fixed": "65000", "land_mu": "150",
     "visit": "江苏天合储能来访考察储能电池项目", "owner": "officer", "target_signing": 30},
    {"name": "博森精密零部件华北工厂项目", "orgs": ["德国博森精密机械"], "industry": "advanced_equipment",
     "stage": "contact", "via": ["lead"], "days": 23, "total": "35000", "foreign": "5000",
     "visit": "与德国博森精密机械视频洽谈", "owner": "officer"},
    {"name": "园区屋顶分布式光伏及储能项目", "orgs": ["山东高速新能源投资", "菏泽开发区产业发展集团"],
     "industry": "new_energy", "stage": "negotiating", "via": ["lead", "contact"], "days": 19, "total": "120000",
     "visit": "与山东高速新能源投资洽谈分布式光伏储能项目", "owner": "manager", "officers": ["officer"]},
    {"name": "鲁西新材料高性能复合材料项目", "orgs": ["鲁西新材料科技有限公司"], "industry": "new_materials",
     "stage": "negotiating", "via": ["lead", "contact"], "days": 15, "total": "60000", "fixed": "52000",
     "land_mu": "120", "jobs": "450", "visit": "鲁西新材料科技项目第二轮洽谈", "owner": "manager",
     "officers": ["officer"], "decision": (0, "approved", "同意引进鲁西新材料高性能复合材料项目，按程序签约。"),
     "target_signing": 9},
    {"name": "世进生物医药华北生产基地项目", "orgs": ["韩国世进生物"], "industry": "biomedicine", "stage": "contact",
     "via": ["lead"], "days": 17, "total": "30000", "foreign": "4000", "visit": "韩国世进生物来访考察",
     "owner": "officer"},
    {"name": "星辰电驱零部件生产基地项目", "orgs": ["合肥星辰新能源汽车零部件"], "industry": "new_energy",
     "stage": "negotiating", "via": ["lead", "contact"], "days": 6, "total": "50000", "confidential": True,
     "visit": "合肥星辰新能源汽车零部件来访考察", "owner": "officer",
     "description": "对方要求在签约前保密（演示数据，虚构）。"},
    {"name": "中科智造智能装备基地项目", "orgs": ["北京中科智造"], "industry": "advanced_equipment", "stage": "contact",
     "via": ["lead"], "days": 52, "total": "25000", "owner": "officer", "source": "referral",
     "source_note": "市投资促进局推荐（虚构）"},
    {"name": "海纳智能装备配套项目", "orgs": ["青岛海纳智能装备"], "industry": "advanced_equipment", "stage": "lead",
     "via": [], "days": 41, "total": "9000", "owner": "officer", "source": "exhibition", "source_note": "青岛智能制造展（虚构）"},
    {"name": "立德机器人北方组装基地项目", "orgs": ["无锡立德机器人"], "industry": "advanced_equipment", "stage": "lead",
     "via": [], "days": 25, "total": "40000", "visit": "赴苏州、无锡外出招商", "owner": "manager"},
    {"name": "康瑞医疗器械北方生产基地项目", "orgs": ["广州康瑞医疗器械"], "industry": "biomedicine", "stage": "registered",
     "via": ["lead", "contact", "negotiating", "signed"], "days": 7, "total": "9800", "land_mu": "60", "jobs": "300",
     "visit": "赴深圳、广州外出招商", "owner": "officer", "target_groundbreaking": 120},
    # The December groundbreaking's slate: some ready, some not.
    {"name": "鲁能光伏二期扩产项目", "orgs": ["菏泽鲁能光伏科技"], "industry": "new_energy", "stage": "permits",
     "via": ["lead", "contact", "negotiating", "signed", "registered", "land_supplied"], "days": 12, "total": "45000",
     "fixed": "40000", "decision": (-40, "approved", "同意鲁能光伏二期扩产项目。"), "land": "鲁(2026)菏泽市不动产权第0031207号",
     "permits": {"filing": ("approved", 60, None), "land_pre_review": ("not_needed", None, None),
                 "land_planning_permit": ("approved", 45, None), "works_planning_permit": ("approved", 30, None),
                 "environmental": ("approved", 35, None), "energy": ("approved", 28, None),
                 "construction_permit": ("accepted", 2, 5)},
     "visit": "走访菏泽鲁能光伏科技", "owner": "officer", "slate": True, "target_groundbreaking": 14},
    {"name": "牡丹生物制剂生产线扩建项目", "orgs": ["菏泽牡丹生物制药"], "industry": "biomedicine", "stage": "permits",
     "via": ["lead", "contact", "negotiating", "signed", "registered", "land_supplied"], "days": 9, "total": "12000",
     "decision": (-25, "approved", "同意牡丹生物制剂生产线扩建项目。"), "land": "鲁(2026)菏泽市不动产权第0028846号",
     "permits": ALL_DONE, "visit": "走访菏泽牡丹生物制药", "owner": "officer", "slate": True,
     "target_groundbreaking": 14},
    {"name": "菏泽精工精密加工二期项目", "orgs": ["中德合资菏泽精工"], "industry": "advanced_equipment", "stage": "permits",
     "via": ["lead", "contact", "negotiating", "signed", "registered", "land_supplied"], "days": 21, "total": "28000",
     "foreign": "2000", "decision": (-50, "approved", "同意菏泽精工二期项目。"), "land": "HZKFQ-2026-07",
     "permits": ALL_DONE, "owner": "officer", "slate": True, "target_groundbreaking": 14},
    {"name": "云启数据中心项目", "orgs": ["苏州云启信息技术"], "industry": "next_gen_it", "stage": "signed",
     "via": ["lead", "contact", "negotiating"], "days": 10, "total": "20000",
     "decision": (-12, "approved", "同意云启数据中心项目签约。"), "land": "HZKFQ-2026-12", "owner": "officer", "slate": True,
     "target_groundbreaking": 14},
    {"name": "盛和冷链仓储中心项目", "orgs": ["菏泽盛和冷链物流"], "industry": "modern_services", "stage": "land_supplied",
     "via": ["lead", "contact", "negotiating", "signed", "registered"], "days": 30, "total": "8000",
     "land": "鲁(2026)菏泽市不动产权第0030115号",
     "permits": {"filing": ("approved", 40, None), "environmental": ("accepted", 34, 20),
                 "construction_permit": ("submitted", 1, None)},
     "owner": "officer", "slate": True, "target_groundbreaking": 14},
    {"name": "恒远物流华东分拨中心项目", "orgs": ["浙江恒远物流"], "industry": "modern_services", "stage": "groundbreaking",
     "via": ["lead", "contact", "negotiating", "signed", "registered", "land_supplied", "permits"], "days": 16,
     "total": "15000", "decision": (-90, "approved", "同意恒远物流华东分拨中心项目。"),
     "land": "鲁(2026)菏泽市不动产权第0019920号",
     "permits": {"filing": ("approved", 80, None), "land_planning_permit": ("approved", 70, None),
                 "construction_permit": ("accepted", 20, 5)},
     "override": "列入省重点项目，施工许可已受理，审批服务局承诺开工后五个工作日内办结（演示数据，虚构）。",
     "owner": "manager"},
    {"name": "华盛功能性纤维项目", "orgs": ["菏泽华盛纺织"], "industry": "new_materials", "stage": "operating",
     "via": ["lead", "contact", "negotiating", "signed", "registered", "land_supplied", "permits", "groundbreaking"],
     "days": 120, "total": "9500", "land": "鲁(2025)菏泽市不动产权第0007781号", "permits": ALL_DONE, "owner": "officer"},
    {"name": "丸川化学电子材料项目", "orgs": ["日本丸川化学"], "industry": "new_materials", "stage": "on_hold",
     "via": ["lead", "contact"], "days": 3, "total": "22000", "foreign": "3000",
     "reason": "对方总部行程调整，来访考察取消，项目研讨暂缓至明年一季度。", "owner": "officer"},
    {"name": "天府数据灾备中心项目", "orgs": ["成都天府数据科技"], "industry": "next_gen_it", "stage": "dropped",
     "via": ["lead", "contact"], "days": 33, "total": "18000", "reason": "对方最终选址西部地区。", "owner": "officer"},
]
ASSISTANTS = ["王倩", "李娟", "赵磊", "孙涛"]  # INVENTED members of the 8-person 帮办代办 team


def _moment(day: date, zone: ZoneInfo, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def load(session: Session, *, anchor: date, timezone: str, users: dict[str, User], orgs: dict[str, Organization],
         industries: dict[str, int], threshold: Decimal = Decimal("10000")) -> None:
    zone = ZoneInfo(timezone)
    manager, officer = users["manager"], users["officer"]

    def shift(seed_date: date) -> date:
        return anchor + (seed_date - SEED_ANCHOR)

    parcels = {}
    seed = {**SEED_PARCEL, "signing_starts_on": shift(date(2021, 12, 8)).isoformat(),
            "signing_ends_on": shift(date(2021, 12, 14)).isoformat()}
    for data in (seed, *INVENTED_PARCELS):
        parcel = parcel_service.create(session, data=data, actor=manager)
        parcels[parcel.code] = parcel

    visits = {title: visit_id for title, visit_id in session.execute(select(Visit.title, Visit.id))}
    rules = project_service.Rules(threshold=threshold, today=anchor)
    slate: list[int] = []
    for n, spec in enumerate(PROJECTS):
        owner = users[spec["owner"]]
        start = spec["via"][0] if spec["via"] else spec["stage"]
        land = spec.get("land", "")
        data = {"name": spec["name"], "stage": start, "owner_id": owner.id,
                "industry_chain_id": industries.get(spec.get("industry", "")),
                "description": spec.get("description", "（演示数据，虚构）INVENTED demo record."),
                "total_investment_wan_cny": spec.get("total", ""), "fixed_investment_wan_cny": spec.get("fixed", ""),
                "is_foreign_invested": "1" if spec.get("foreign") else "", "foreign_capital_wan_usd": spec.get("foreign", ""),
                "land_need_mu": spec.get("land_mu", ""), "jobs": spec.get("jobs", ""),
                "is_confidential": "1" if spec.get("confidential") else "",
                "source": "visit" if spec.get("visit") else spec.get("source", "other"),
                "source_visit_id": visits.get(spec.get("visit", "")), "source_note": spec.get("source_note", ""),
                "parcel_id": parcels[land].id if land in parcels else None,
                "land_certificate_no": land if land and land not in parcels else "",
                **{f"target_{key}_on": (anchor + timedelta(days=spec[f"target_{key}"])).isoformat()
                   for key in ("signing", "groundbreaking") if f"target_{key}" in spec}}
        project = project_service.create(session, project_input=project_service.ProjectInput(
            data=data, organization_ids=[orgs[name].id for name in spec["orgs"]],
            officer_ids=[users[u].id for u in spec.get("officers", [])]), actor=owner)
        if "decision" in spec:
            days, outcome, resolution = spec["decision"]
            project_service.record_decision(session, project=project, actor=manager, today=anchor, data={
                "meeting_kind": "joint", "meeting_on": (anchor + timedelta(days=days)).isoformat(), "outcome": outcome,
                "resolution": resolution})
        _permits(session, project.id, spec.get("permits"), anchor=anchor, actor=manager, seq=n,
                 staff={u.display_name: u.id for u in users.values() if u.display_name in ASSISTANTS})
        for stage in [*spec["via"][1:], spec["stage"]] if spec["via"] else []:
            current = project_service.get(session, project.id)
            project_service.move(session, project=current, to_stage=stage, version=current.version,
                                 actor=manager if spec.get("override") else owner, rules=rules,
                                 reason=spec.get("reason", "") if stage in ("on_hold", "dropped") else "",
                                 override_reason=spec.get("override", "") if stage == "groundbreaking" else "")
        _backdate(session, project.id, anchor=anchor, zone=zone, days=spec["days"])
        if spec.get("slate"):
            slate.append(project.id)

    # The December collective groundbreaking the joint meeting arranged (seed); its date, place and slate INVENTED.
    event = groundbreaking_service.create(session, actor=manager, data={
        "name": "12月项目集中奠基开工", "held_on": (anchor + timedelta(days=14)).isoformat(),
        "place": "菏泽经济开发区鲁能光伏二期项目现场（虚构）",
        "note": "党政联席会议安排部署12月项目集中奠基开工。日期、地点和项目名单为演示数据（虚构）。"})
    for project_id in slate:
        groundbreaking_service.add_project(session, event=event, project_id=project_id, actor=manager)

    # INVENTED follow-ups on projects, for the home page and the reminders
    by_name = {name: project_id for name, project_id in session.execute(select(Project.name, Project.id))}
    for title, project_name, who, days in (
        ("协调行政审批服务局办结鲁能光伏二期施工许可", "鲁能光伏二期扩产项目", "officer", 3),
        ("催办盛和冷链仓储中心环评批复", "盛和冷链仓储中心项目", "officer", 1),
        ("推进云启数据中心地块征收扫尾", "云启数据中心项目", "manager", 5),
    ):
        task_service.create(session, actor=officer, data={
            "title": title, "description": "", "assignee_id": users[who].id,
            "due_on": (anchor + timedelta(days=days)).isoformat(), "due_time": None, "priority": "high",
            "organization_id": None, "contact_id": None, "project_id": by_name[project_name]})


def _permits(session: Session, project_id: int, permits, *, anchor: date, actor: User, seq: int,
             staff: dict[str, int]) -> None:
    """`staff`: the 帮办代办 staffers who are demo users (by name), chosen as users so rule 6 reminds them too; the
    seed's users include none of them, so the demo names them as text unless one is added."""
    if not permits:
        return
    project = project_service.get(session, project_id)
    for i, item in enumerate(project.approvals):
        if permits == ALL_DONE:
            status, accepted, days = "approved", 40 + 3 * i, None
        elif item.code in permits:
            status, accepted, days = permits[item.code]
        else:
            continue
        accepted_on = anchor - timedelta(days=accepted) if accepted is not None else None
        data = {"status": status, "submitted_on": accepted_on.isoformat() if accepted_on else "",
                "accepted_on": accepted_on.isoformat() if accepted_on and status != "submitted" else "",
                "approved_on": (accepted_on + timedelta(days=5)).isoformat() if accepted_on and status == "approved" else "",
                "promised_days": str(days or item.promised_days or ""),
                "assistant": ASSISTANTS[(seq + i) % len(ASSISTANTS)] if status != "not_needed" else "", "note": ""}
        data["assistant_id"] = str(staff.get(data["assistant"], ""))
        if data["approved_on"] and date.fromisoformat(data["approved_on"]) > anchor:
            data["approved_on"] = anchor.isoformat()
        project_service.update_approval(session, project=project, item=item, data=data, actor=actor, today=anchor)
        project = project_service.get(session, project_id)


def _backdate(session: Session, project_id: int, *, anchor: date, zone: ZoneInfo, days: int) -> None:
    """Spreads the project's history over the past: its stages entered a few days apart, the last one `days` before
    the anchor (so the board shows plausible days in stage, and some projects are stale)."""
    changes = list(session.scalars(select(StageChange).where(StageChange.project_id == project_id)
                                   .order_by(StageChange.id)))
    entered = anchor - timedelta(days=days)
    for steps_back, change in enumerate(reversed(changes)):
        change.at = _moment(entered - timedelta(days=12 * steps_back), zone)
    first = changes[0].at
    session.execute(update(Project).where(Project.id == project_id).values(
        stage_entered_at=_moment(entered, zone), created_at=first, updated_at=_moment(entered, zone)))
    session.execute(update(ApprovalItem).where(ApprovalItem.project_id == project_id).values(updated_at=first))
    session.commit()
