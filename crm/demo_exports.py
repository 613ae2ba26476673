"""The demo's export-leader cultivation pool (出口龙头企业培育库), loaded through the services.

From the seed (牡丹晚报, December 2021; DOMAIN.md): the joint meeting stressed cultivating export-leader enterprises
(培育壮大出口龙头企业), and 大唐智创, 玉皇新能源, 精进电动 and 现代医药港 are zone enterprises (the Fosun tour's stops).
Everything else here is INVENTED, plausible data: which enterprises are in the pool and at what tier, their
products, markets, targets and monthly export figures, the support given, and the two extra enterprises created
below. Never present it as fact. Figures cover the previous year and the current year up to last month (relative
to the demo's anchor); three enterprises are behind 序时进度, one has not reported last month yet.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from crm.auth.models import User
from crm.exports import service as export_service
from crm.organizations import service as organization_service
from crm.organizations.models import Organization
from crm.validators import credit_code_check_char

# INVENTED: two more export enterprises of the zone (the others exist already in crm/demo.py)
EXTRA_ENTERPRISES = [
    ("菏泽瑞丰木业", "Heze Ruifeng Wood Products", "new_materials"),
    ("菏泽鲁西南农产品进出口", "Heze Southwest-Shandong Agricultural Import & Export", "modern_services"),
]

# INVENTED: (name, tier, officer, target this year 万美元, monthly base 万美元 last year, growth this year,
#            main products, main markets, support planned)
POOL = [
    ("玉皇新能源", "leader", "officer", "9600", "620", "0.22", "锂电池储能系统、电池模组", "欧盟、东南亚、中东",
     "协调出口信用保险；组织参加德国慕尼黑储能展"),
    ("精进电动", "leader", "manager", "8400", "580", "0.12", "新能源汽车电驱动系统", "北美、欧盟、日韩",
     "对接中欧班列与海运舱位；AEO 高级认证辅导"),
    ("大唐智创", "key", "officer", "3000", "210", "-0.05", "智能装备、工业机器人集成", "东南亚、中亚",
     "政策宣讲：外贸稳增长措施；对接“一带一路”展会"),
    ("现代医药港", "key", "officer", "2100", "150", "0.18", "原料药、医疗器械", "印度、欧盟、拉美",
     "协助办理欧盟 CEP 认证；融资对接"),
    ("中德合资菏泽精工", "leader", "manager", "7200", "560", "0.08", "精密轴承、传动部件", "德国、欧盟",
     "汇率避险培训；跨境人民币结算辅导"),
    ("菏泽牡丹生物制药", "key", "officer", "2400", "165", "0.15", "牡丹籽油、生物提取物", "日韩、北美",
     "组织参加广交会；出口食品企业备案辅导"),
    ("菏泽鲁能光伏科技", "leader", "officer", "12000", "700", "-0.02", "光伏组件、逆变器", "欧盟、南美、中东",
     "应对反倾销调查法律援助；海外仓布局咨询"),
    ("菏泽华盛纺织", "key", "officer", "3600", "320", "-0.12", "棉纱、家纺面料", "东南亚、非洲",
     "出口信用保险保费补贴；开拓 RCEP 市场"),
    ("菏泽同泰电子", "potential", "officer", "1200", "70", "0.30", "电子元器件、线束", "越南、墨西哥",
     "培育为重点出口企业；跨境电商培训"),
    ("菏泽盛和冷链物流", "potential", "manager", "450", "35", "0.10", "冷链物流服务、冷冻农产品", "日韩",
     "协调海关查验绿色通道"),
    ("菏泽瑞丰木业", "key", "officer", "1700", "140", "0.06", "实木家具、木制品", "北美、澳大利亚",
     "FSC 认证辅导；参加美国高点家具展"),
    ("菏泽鲁西南农产品进出口", "potential", "officer", "900", "60", "0.04", "大蒜、牡丹花茶", "东南亚、中东",
     "出口农产品基地备案；RCEP 原产地证书辅导"),
]
NOT_REPORTED = "菏泽鲁西南农产品进出口"  # has not reported last month yet (rule 8 reminds its officer)
SEASON = [Decimal(x) for x in ("0.85", "0.70", "1.00", "1.02", "1.05", "1.00", "0.98", "1.00", "1.05", "1.08", "1.10", "1.17")]

# INVENTED: service log entries (enterprise, kind, days before the anchor, officer, what was done, outcome)
SUPPORT = [
    ("玉皇新能源", "exhibition", 40, "officer", "组织参加德国慕尼黑储能展，展位费补贴 50%", "现场签订意向订单 3 份"),
    ("菏泽鲁能光伏科技", "policy", 25, "officer", "宣讲外贸稳增长政策及出口退税提速措施", "退税办理时间缩短至 5 个工作日"),
    ("菏泽华盛纺织", "financing", 18, "officer", "对接出口信用保险及银行订单融资", "获得订单融资 800 万元"),
    ("精进电动", "customs", 12, "manager", "协调海关实施“提前申报”，对接中欧班列舱位", "出口通关时间由 2 天缩短至半天"),
    ("大唐智创", "policy", 9, "officer", "走访企业，了解订单下滑原因，宣讲“一带一路”展会支持政策", "企业计划参加中亚机械展"),
    ("菏泽同泰电子", "other", 5, "officer", "跨境电商平台入驻培训", "已开通跨境电商 B2B 店铺"),
]


def _monthly(base: Decimal, growth: Decimal, month: int, *, this_year: bool) -> Decimal:
    value = base * SEASON[month - 1] * ((1 + growth) if this_year else 1)
    return value.quantize(Decimal("0.01"))


def load(session: Session, *, anchor: date, timezone: str, users: dict[str, User],
         orgs: dict[str, Organization], industries: dict[str, int]) -> None:
    manager = users["manager"]
    for i, (name, name_en, industry) in enumerate(EXTRA_ENTERPRISES):
        body = f"91371700MA{900 + i:07d}"
        orgs[name] = organization_service.create(session, actor=users["officer"], data={
            "name": name, "name_en": name_en, "credit_code": body + credit_code_check_char(body),
            "kind": "zone_enterprise", "industry_chain_id": industries.get(industry), "ownership": "private",
            "country_region": "中国", "city": "菏泽", "address": "", "website": "", "tags": "出口企业",
            "description": "（演示数据，虚构）INVENTED demo record.", "owner_id": users["officer"].id})

    year, last_month = export_service.last_complete_month(anchor)
    changes: list[export_service.FigureChange] = []
    for name, tier, officer, target, base, growth, products, markets, planned in POOL:
        org = orgs[name]
        export_service.create(session, actor=manager, data={
            "organization_id": org.id, "tier": tier, "officer_id": users[officer].id, "target_year": str(year),
            "target_wan_usd": target, "main_products": products, "markets": markets, "support_planned": planned})
        base_d, growth_d = Decimal(base), Decimal(growth)
        last_year_total = sum(_monthly(base_d, growth_d, m, this_year=False) for m in range(1, 13))
        export_service.write_figures(session, actor=manager, changes=[
            export_service.FigureChange(org.id, year - 1, m, _monthly(base_d, growth_d, m, this_year=False))
            for m in range(1, 13)])
        months = range(1, last_month + (0 if name == NOT_REPORTED else 1))
        changes += [export_service.FigureChange(org.id, year, m, _monthly(base_d, growth_d, m, this_year=True))
                    for m in months]
        member = export_service.get_member(session, org.id)
        export_service.update_member(session, member=member, actor=manager, version=member.version, data={
            "tier": tier, "officer_id": users[officer].id, "main_products": products, "markets": markets,
            "support_planned": planned, "target_year": str(year - 1),
            "target_wan_usd": str((last_year_total / 100).quantize(Decimal("1")) * 100)})
    export_service.write_figures(session, actor=manager, changes=changes)
    session.commit()

    for name, kind, days_ago, officer, description, outcome in SUPPORT:
        member = export_service.get_member(session, orgs[name].id)
        export_service.add_support(session, member=member, actor=users[officer], timezone=timezone, data={
            "kind": kind, "given_on": (anchor - timedelta(days=days_ago)).isoformat(),
            "officer_id": users[officer].id, "description": description, "outcome": outcome})
