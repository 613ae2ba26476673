"""The demo zone: the seed's facts (DOMAIN.md) plus invented data, loaded through the services.

Facts from the seed (牡丹晚报, December 2021): 复星集团 and 祝文魁; the zone enterprises 大唐智创, 玉皇新能源,
精进电动, 现代医药港; 练建军 (党工委书记、管委会主任); 行政审批服务局 and 马彩光 (局长).
Everything marked INVENTED below is plausible made-up data, never to be presented as fact.
Dates: the seed's 2021-12-06 becomes the anchor (see shift()). Visit times are local times in the zone's time zone.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm import demo_exports, demo_indicators, demo_major_projects, demo_projects
from crm.auth import service as auth_service
from crm.auth.models import Role, User
from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.db import utcnow
from crm.organizations import service as organization_service
from crm.organizations.models import IndustryChain, Organization
from crm.validators import credit_code_check_char
from crm.visits import service as visit_service
from crm.visits.schemas import to_utc
from crm.visits.service import VisitInput

# The demo's documented password (created only by this loader), meeting the default password policy; the
# earlier one too, so that a production start refuses a database loaded before it changed (crm.cli cmd_serve).
DEMO_PASSWORD = "Heze-demo-2026"  # noqa: S105
DEMO_PASSWORDS = (DEMO_PASSWORD, "demo1234")
SEED_ANCHOR = date(2021, 12, 6)


def accounts_with_demo_password(session: Session) -> list[str]:
    """Usernames of active accounts whose password is still a demo password: a production start refuses to run
    while there is one."""
    from crm.auth.security import verify_password

    rows = session.execute(select(User.username, User.password_hash).where(User.is_active.is_(True))
                           .order_by(User.username)).all()
    return [username for username, password_hash in rows
            if any(verify_password(password_hash, password) for password in DEMO_PASSWORDS)]


def shift(seed_date: date, anchor: date) -> date:
    """A seed date moved to the demo's cycle, keeping order and spacing."""
    return anchor + (seed_date - SEED_ANCHOR)


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count(User.id)))


def invented_credit_code(n: int) -> str:
    """A valid-looking code for invented organizations (9 = enterprise, 1 = company, 371700 = Heze)."""
    body = f"91371700MA{n:07d}"
    return body + credit_code_check_char(body)


USERS = [
    # username, display name, title, role. INVENTED: the officer 张晓明 (the seed names no officer). The marking
    # stays here, in the loader, not in the title: titles print (the briefing pack's host list, the PDFs).
    ("officer", "张晓明", "招商专员", Role.OFFICER),
    ("manager", "练建军", "党工委书记、管委会主任", Role.MANAGER),
    ("admin", "系统管理员", "", Role.ADMIN),
    ("security", "安全管理员", "", Role.SECURITY_ADMIN),
    ("auditor", "审计管理员", "", Role.AUDIT_ADMIN),
]

# (name, English name, kind, industry code, ownership, region, city, tags, description, contacts)
SEED_ORGANIZATIONS = [
    ("复星集团", "Fosun Group", "investor", "biomedicine", "private", "中国", "上海", "重点客商，生物医药",
     "{fosun_visit}率团到开发区考察洽谈合作，走访大唐智创、玉皇新能源、精进电动、现代医药港。",
     [("祝文魁", "全球合伙人、党委副书记、首席战略赋能官", "", "")]),
    ("大唐智创", "Datang Zhichuang", "zone_enterprise", "advanced_equipment", "", "中国", "菏泽", "考察点", "", []),
    ("玉皇新能源", "Yuhuang New Energy", "zone_enterprise", "new_energy", "", "中国", "菏泽", "考察点", "", []),
    ("精进电动", "Jing-Jin Electric", "zone_enterprise", "new_energy", "", "中国", "菏泽", "考察点", "", []),
    ("现代医药港", "Modern Medical Port", "zone_enterprise", "biomedicine", "", "中国", "菏泽", "考察点", "", []),
    ("菏泽经济开发区党工委、管委会", "Heze EDZ Party Working Committee and Administrative Committee", "government",
     "", "state", "中国", "菏泽", "", "", [("练建军", "党工委书记、管委会主任", "", "")]),
    ("菏泽经济开发区行政审批服务局", "Heze EDZ Administrative Approval Service Bureau", "government", "", "state",
     "中国", "菏泽", "帮办代办", "设帮办代办窗口，8人专职帮办代办队伍。", [("马彩光", "局长", "", "")]),
]

# INVENTED: plausible organizations and people, for a demo with enough to search and page through.
INVENTED_ORGANIZATIONS = [
    ("鲁西新材料科技有限公司", "Luxi New Materials Technology", "investor", "new_materials", "private", "中国", "济南", "意向客商"),
    ("华东锂电池产业投资基金", "East China Lithium Battery Industry Fund", "investor", "new_energy", "state", "中国", "南京", "基金"),
    ("德国博森精密机械", "Bosen Precision Machinery GmbH", "investor", "advanced_equipment", "foreign", "德国", "斯图加特", "外资,重点客商"),
    ("香港瑞丰投资控股", "Ruifeng Investment Holdings (HK)", "investor", "modern_services", "hmt", "中国香港", "香港", "外资"),
    ("苏州云启信息技术", "Suzhou Yunqi Information Technology", "investor", "next_gen_it", "private", "中国", "苏州", "意向客商"),
    ("韩国世进生物", "Sejin Bio Korea", "investor", "biomedicine", "foreign", "韩国", "首尔", "外资"),
    ("深圳华芯半导体", "Shenzhen Huaxin Semiconductor", "investor", "next_gen_it", "private", "中国", "深圳", "重点客商"),
    ("山东高速新能源投资", "Shandong Hi-speed New Energy Investment", "investor", "new_energy", "state", "中国", "济南", ""),
    ("日本丸川化学", "Marukawa Chemical Japan", "investor", "new_materials", "foreign", "日本", "大阪", "外资"),
    ("北京中科智造", "Beijing Zhongke Intelligent Manufacturing", "investor", "advanced_equipment", "private", "中国", "北京", ""),
    ("台湾永信医药", "Yung Shin Pharmaceutical (Taiwan)", "investor", "biomedicine", "hmt", "中国台湾", "台中", "外资"),
    ("浙江恒远物流", "Zhejiang Hengyuan Logistics", "investor", "modern_services", "private", "中国", "杭州", ""),
    ("中德合资菏泽精工", "Heze Precision (Sino-German JV)", "zone_enterprise", "advanced_equipment", "joint", "中国", "菏泽", "出口企业"),
    ("菏泽牡丹生物制药", "Heze Peony Biopharmaceutical", "zone_enterprise", "biomedicine", "private", "中国", "菏泽", "出口企业"),
    ("菏泽鲁能光伏科技", "Heze Luneng Photovoltaic", "zone_enterprise", "new_energy", "state", "中国", "菏泽", "出口企业"),
    ("菏泽开发区城建投资集团", "Heze EDZ Urban Construction Investment Group", "platform", "modern_services", "state", "中国", "菏泽", "平台公司"),
    ("菏泽开发区产业发展集团", "Heze EDZ Industrial Development Group", "platform", "modern_services", "state", "中国", "菏泽", "平台公司"),
    ("中瑞招商咨询", "Zhongrui Investment Consulting", "intermediary", "modern_services", "private", "中国", "上海", "中介"),
    ("鲁商产业研究院", "Lushang Industry Research Institute", "intermediary", "modern_services", "private", "中国", "济南", "中介"),
    ("新加坡睿智资本", "Ruizhi Capital Singapore", "investor", "modern_services", "foreign", "新加坡", "新加坡", "外资"),
    ("江苏天合储能", "Jiangsu Tianhe Energy Storage", "investor", "new_energy", "private", "中国", "常州", "意向客商"),
    ("广州康瑞医疗器械", "Guangzhou Kangrui Medical Devices", "investor", "biomedicine", "private", "中国", "广州", ""),
    ("青岛海纳智能装备", "Qingdao Haina Intelligent Equipment", "investor", "advanced_equipment", "private", "中国", "青岛", ""),
    ("菏泽华盛纺织", "Heze Huasheng Textile", "zone_enterprise", "new_materials", "private", "中国", "菏泽", "出口企业"),
    ("菏泽同泰电子", "Heze Tongtai Electronics", "zone_enterprise", "next_gen_it", "private", "中国", "菏泽", ""),
    ("美国普瑞斯生命科学", "Preis Life Sciences Inc.", "investor", "biomedicine", "foreign", "美国", "波士顿", "外资"),
    ("合肥星辰新能源汽车零部件", "Hefei Xingchen NEV Components", "investor", "new_energy", "private", "中国", "合肥", ""),
    ("山东省商务厅", "Shandong Department of Commerce", "government", "", "state", "中国", "济南", ""),
    ("菏泽市投资促进局", "Heze Investment Promotion Bureau", "government", "", "state", "中国", "菏泽", ""),
    ("中信建投菏泽营业部", "CSC Securities Heze Branch", "intermediary", "modern_services", "state", "中国", "菏泽", "中介"),
    ("郑州宏图新材料", "Zhengzhou Hongtu New Materials", "investor", "new_materials", "private", "中国", "郑州", ""),
    ("无锡立德机器人", "Wuxi Lide Robotics", "investor", "advanced_equipment", "private", "中国", "无锡", "意向客商"),
    ("成都天府数据科技", "Chengdu Tianfu Data Technology", "investor", "next_gen_it", "private", "中国", "成都", ""),
    ("菏泽盛和冷链物流", "Heze Shenghe Cold-chain Logistics", "zone_enterprise", "modern_services", "private", "中国", "菏泽", ""),
]

INVENTED_PEOPLE = [
    ("王建国", "董事长"), ("李娜", "投资总监"), ("赵伟", "副总经理"), ("刘洋", "战略发展部经理"), ("陈静", "总经理助理"),
    ("杨帆", "项目经理"), ("黄磊", "首席财务官"), ("周敏", "行政总监"), ("吴刚", "区域总经理"), ("孙丽", "投资经理"),
    ("马超", "技术总监"), ("朱婷", "商务经理"), ("胡军", "总经理"), ("郭强", "副总裁"), ("何芳", "外联主管"),
]


def _industry_ids(session: Session) -> dict[str, int]:
    return {code: id_ for code, id_ in session.execute(select(IndustryChain.code, IndustryChain.id))}


def load(session: Session, *, anchor: date, timezone: str = "Asia/Shanghai") -> None:
    """The demo zone; `anchor` is the demo's "today", `timezone` the zone's (visit times are local to it)."""
    users = {}
    for username, display_name, title, role in USERS:
        users[username] = auth_service.create_user(
            session, username=username, display_name=display_name, title=title, password=DEMO_PASSWORD,
            role=role, actor=None,
        )
    officer = users["officer"]
    industries = _industry_ids(session)

    def create_org(index, name, name_en, kind, industry, ownership, region, city, tags, description="", credit=None):
        data = {
            "name": name, "name_en": name_en, "credit_code": credit, "kind": kind,
            "industry_chain_id": industries.get(industry), "ownership": ownership, "country_region": region,
            "city": city, "address": "", "website": "", "tags": tags.replace(",", "，"), "description": description,
            "owner_id": officer.id if kind in ("investor", "zone_enterprise") else users["manager"].id,
        }
        return organization_service.create(session, data=data, actor=officer)

    def add_contact(org, name, title, mobile="", email=""):
        return contact_service.create(session, data={
            "organization_id": org.id, "name": name, "title": title, "mobile": mobile, "phone": "",
            "email": email, "wechat": "", "notes": "",
        }, actor=officer)

    orgs = {}
    people: dict[str, list[Contact]] = {}  # contacts by organization name, in the order added
    for i, (name, name_en, kind, industry, ownership, region, city, tags, description, contacts) in enumerate(SEED_ORGANIZATIONS):
        fosun_visit = shift(date(2021, 12, 2), anchor)
        description = description.format(fosun_visit=f"{fosun_visit.month}月{fosun_visit.day}日")
        orgs[name] = org = create_org(i, name, name_en, kind, industry, ownership, region, city, tags, description)
        people[name] = [add_contact(org, person, title, mobile, email) for person, title, mobile, email in contacts]

    for i, (name, name_en, kind, industry, ownership, region, city, tags) in enumerate(INVENTED_ORGANIZATIONS):
        credit = invented_credit_code(i + 1) if region == "中国" and kind != "government" else None
        orgs[name] = org = create_org(i, name, name_en, kind, industry, ownership, region, city, tags,
                                        "（演示数据，虚构）INVENTED demo record.", credit)
        people[name] = []
        for k in range(1 + i % 3):
            person, title = INVENTED_PEOPLE[(i * 2 + k) % len(INVENTED_PEOPLE)]
            mobile = f"13{(i * 37 + k * 11) % 10}{(5310000 + i * 1013 + k * 7):08d}"[:11]
            people[name].append(add_contact(org, person, title, mobile=mobile))

    _load_visits(session, anchor=anchor, timezone=timezone, users=users, orgs=orgs, people=people,
                 industries=industries)
    # Projects, land parcels and the December collective groundbreaking (crm/demo_projects.py)
    demo_projects.load(session, anchor=anchor, timezone=timezone, users=users, orgs=orgs, industries=industries)
    # Major projects: plans, reports, coordination items, a scheduling meeting (INVENTED; crm/demo_major_projects.py)
    demo_major_projects.load(session, anchor=anchor, users=users)
    # The export-leader cultivation pool: tiers, targets, monthly figures, service log (crm/demo_exports.py)
    demo_exports.load(session, anchor=anchor, timezone=timezone, users=users, orgs=orgs, industries=industries)
    # Key economic indicators with their targets, and assessment targets (INVENTED; crm/demo_indicators.py)
    demo_indicators.load(session, anchor=anchor, users=users)


# Visits (来访考察 and the other kinds)

# The Fosun visit is the seed's (2021-12-02, four days before the anchor): who came, who hosted, the four stops in
# their order, what was shown and asked, and the outcome are from the report. INVENTED: the times of day, the
# interest level (an inference from the outcome) and the follow-ups' wording, assignees and due dates.
FOSUN_SHOWN = "听介绍、进车间，详细询问企业产品研发、资金投入及运营情况"
FOSUN_VISIT = {
    "title": "复星集团一行到开发区考察洽谈合作",
    "place": "菏泽经济开发区",
    "leaders": "党工委书记、管委会主任 练建军",
    "purpose": "考察开发区企业，洽谈项目合作；实地了解开发区企业发展和产业布局现状",
    "summary": (
        "练建军与客商交流座谈，介绍开发区基本情况：开发区是菏泽经济建设的主阵地、主战场，产业结构进一步优化，"
        "新旧动能加速转换，交通区位优势日益显现；希望复星集团充分发挥企业优势，来菏投资兴业，共谋发展。\n"
        "随后祝文魁一行来到大唐智创、玉皇新能源、精进电动、现代医药港，" + FOSUN_SHOWN + "。"
    ),
    "outcome": "复星集团将加快项目投资研讨，寻找更多合作结合点，争取早日达成合作。",
    "interest": "strong",  # INVENTED: the report gives no level; "strong" is our reading of its outcome
    "times": ("09:00", "17:00"),  # INVENTED
    "stops": [("大唐智创", "10:00"), ("玉皇新能源", "11:00"), ("精进电动", "14:30"), ("现代医药港", "15:30")],  # times INVENTED
    "industries": ["new_energy", "biomedicine"],  # inferred from the enterprises it toured
    # (title, assignee, due in days from the anchor): INVENTED, the follow-ups the outcome implies
    "followups": [
        ("向复星集团寄送开发区新能源、生物医药产业资料", "officer", 2),
        ("与复星集团商定第二轮洽谈时间", "manager", 14),
        ("整理复星集团考察大唐智创、玉皇新能源、精进电动、现代医药港的反馈", "officer", -1),
    ],
}

# INVENTED: a plausible month of visits around the anchor (day = days from it): done in the past four weeks,
# planned in the coming three. Organizations are the demo's; members are the first `members` contacts of each.
# Stops: (zone enterprise, time, who received them, what was shown). Follow-ups: (title, assignee, due day).
INVENTED_VISITS = [
    {"day": -27, "kind": "inbound", "status": "done", "officer": "officer", "hosts": ["officer"],
     "title": "江苏天合储能来访考察储能电池项目", "orgs": ["江苏天合储能"], "members": 2,
     "place": "菏泽经济开发区", "purpose": "考察新能源产业配套，洽谈储能电池pack项目落地",
     "summary": "一行参观玉皇新能源、菏泽鲁能光伏科技，座谈中介绍了其储能电池pack及系统集成业务，"
                "关注开发区标准厂房、用电保障和上下游配套。",
     "outcome": "对方拟在鲁西南布局储能生产基地，开发区列入三个备选地之一；请我方提供用地选址方案。",
     "interest": "exploring", "investment": "80000", "industries": ["new_energy"],
     "stops": [("玉皇新能源", "10:00", "企业副总经理", "听介绍、进车间，了解电池材料产能"),
               ("菏泽鲁能光伏科技", "14:30", "生产部负责人", "参观光伏组件生产线，了解储能配套需求")],
     "followups": [("向江苏天合储能提供储能项目用地选址方案", "officer", -20)]},
    {"day": -25, "days": 2, "kind": "outbound", "status": "done", "officer": "manager", "hosts": ["manager", "officer"],
     "title": "赴苏州、无锡外出招商", "orgs": ["苏州云启信息技术", "无锡立德机器人"], "members": 1,
     "leaders": "党工委书记、管委会主任 练建军", "place": "江苏苏州、无锡",
     "purpose": "拜访长三角意向客商，推介开发区高端装备和新一代信息技术产业",
     "summary": "先后拜访苏州云启信息技术、无锡立德机器人，介绍开发区产业基础、交通区位和要素保障。"
                "云启关注数据中心用能和人才政策；立德机器人有意在北方布局工业机器人组装基地。",
     "outcome": "立德机器人同意近期组团来区实地考察；云启保持联系，待其明年规划确定后再议。",
     "interest": "exploring", "industries": ["advanced_equipment", "next_gen_it"],
     "followups": [("向苏州云启信息技术寄送数据中心用能及人才政策汇编", "officer", -15)]},
    {"day": -23, "times": ("15:00", "16:00"), "kind": "remote", "status": "done", "officer": "officer",
     "hosts": ["officer"], "title": "与德国博森精密机械视频洽谈", "orgs": ["德国博森精密机械"], "members": 1,
     "place": "视频会议", "purpose": "了解博森在华第二工厂选址进展，介绍开发区外资项目支持政策",
     "summary": "博森计划在华北新设精密零部件工厂，目前比选三地；对方关注外资项目备案流程、用地价格、"
                "技工招聘及出口通关便利。",
     "outcome": "对方请我方提供中英文外资政策和用地条件说明，明年一季度前完成选址评估。",
     "interest": "exploring", "investment": "35000", "industries": ["advanced_equipment"],
     "followups": [("整理外资项目扶持政策及用地条件（中英文）发送德国博森", "officer", -16)]},
    {"day": -21, "times": ("09:30", "11:30"), "kind": "aftercare", "status": "done", "officer": "officer",
     "hosts": ["officer"], "title": "走访菏泽牡丹生物制药", "orgs": ["菏泽牡丹生物制药"], "members": 1,
     "place": "菏泽牡丹生物制药", "purpose": "了解企业出口订单、用工和扩产计划，征求服务需求",
     "summary": "企业四季度出口订单饱满，计划新建一条制剂生产线；反映扩建项目手续办理和技术工人招聘有困难。",
     "outcome": "协调行政审批服务局提前介入扩建项目立项备案，帮办代办；招聘需求转区人社部门。",
     "followups": [("协调行政审批服务局为菏泽牡丹生物制药扩建项目办理立项备案", "officer", 3)]},
    {"day": -19, "times": ("14:30", "17:00"), "kind": "meeting", "status": "done", "officer": "manager",
     "hosts": ["manager", "officer"], "title": "与山东高速新能源投资洽谈分布式光伏储能项目",
     "orgs": ["山东高速新能源投资"], "members": 1, "leaders": "党工委书记、管委会主任 练建军",
     "place": "管委会三楼会议室", "purpose": "洽谈开发区企业屋顶分布式光伏及配套储能项目合作模式",
     "summary": "双方就园区企业屋顶资源、电价结算和投资分成交换意见，对方提出由区级平台公司参与合资。",
     "outcome": "原则同意成立合资公司推进，一期先选取十家企业屋顶试点；我方起草合作框架协议。",
     "interest": "strong", "investment": "120000", "industries": ["new_energy"],
     "followups": [("起草与山东高速新能源投资的合作框架协议", "officer", -5),
                   ("摸排园区企业屋顶光伏资源，形成首批十家试点名单", "officer", 6)]},
    {"day": -17, "kind": "inbound", "status": "done", "officer": "officer", "hosts": ["officer"],
     "title": "韩国世进生物来访考察", "orgs": ["韩国世进生物"], "members": 2, "place": "菏泽经济开发区",
     "purpose": "考察生物医药产业载体，了解外资生物医药项目落地条件",
     "summary": "一行参观现代医药港和菏泽牡丹生物制药，详细了解GMP厂房、公共检测平台和医药冷链配套。",
     "outcome": "对方对现代医药港标准厂房较感兴趣，回国后向总部汇报，拟以租赁厂房方式先行落地。",
     "interest": "exploring", "investment": "30000", "industries": ["biomedicine"],
     "stops": [("现代医药港", "09:30", "园区运营负责人", "听介绍，看标准厂房和公共检测平台"),
               ("菏泽牡丹生物制药", "14:00", "企业总经理", "进车间，了解制剂生产及出口认证")],
     "followups": [("向韩国世进生物提供现代医药港标准厂房租赁条件（韩文版）", "officer", 2)]},
    {"day": -15, "times": ("09:30", "12:00"), "kind": "meeting", "status": "done", "officer": "manager",
     "hosts": ["manager", "officer"], "title": "鲁西新材料科技项目第二轮洽谈", "orgs": ["鲁西新材料科技有限公司"],
     "members": 1, "leaders": "党工委书记、管委会主任 练建军", "place": "管委会三楼会议室",
     "purpose": "商谈高性能复合材料项目投资协议主要条款",
     "summary": "双方就项目用地、建设周期、投资强度和达产税收达成一致意见，剩余条款由双方工作组细化。",
     "outcome": "拟近期举行项目签约仪式；签约前按“三重一大”规定提交党政联席会议集体研究。",
     "interest": "ready", "investment": "60000", "industries": ["new_materials"],
     "followups": [("将鲁西新材料项目提交党政联席会议集体研究（三重一大）", "manager", 0)]},
    {"day": -14, "times": ("10:00", "10:40"), "kind": "remote", "status": "done", "officer": "manager",
     "hosts": ["manager"], "title": "与香港瑞丰投资控股电话沟通", "orgs": ["香港瑞丰投资控股"], "members": 1,
     "place": "电话", "purpose": "了解瑞丰产业基金与区级平台公司的合作意向",
     "summary": "瑞丰有意与区级平台公司合作设立产业引导子基金，重点投向新能源和高端装备；询问出资比例和返投要求。",
     "outcome": "请开发区产业发展集团研究合作方案后，再约视频会议。",
     "interest": "exploring", "industries": ["new_energy", "advanced_equipment"],
     "followups": [("请开发区产业发展集团研究与香港瑞丰合作设立子基金方案", "manager", 4)]},
    {"day": -12, "times": ("14:30", "16:30"), "kind": "aftercare", "status": "done", "officer": "officer",
     "hosts": ["officer"], "title": "走访中德合资菏泽精工（出口龙头企业培育）", "orgs": ["中德合资菏泽精工"],
     "members": 1, "place": "中德合资菏泽精工", "purpose": "出口龙头企业培育：了解全年出口目标完成情况和困难",
     "summary": "企业今年以来出口同比增长，欧洲订单稳定；反映海运费用偏高、出口退税到账周期较长。",
     "outcome": "协调海关、税务部门上门服务；将企业列入明年出口龙头企业培育名单。"},
    {"day": -10, "days": 3, "kind": "outbound", "status": "done", "officer": "officer", "hosts": ["officer"],
     "title": "赴深圳、广州外出招商", "orgs": ["深圳华芯半导体", "广州康瑞医疗器械"], "members": 1,
     "leaders": "管委会副主任（分管招商）", "place": "广东深圳、广州",
     "purpose": "拜访粤港澳大湾区意向客商，推介开发区电子信息和医疗器械产业",
     "summary": "华芯半导体正在规划封装测试产能扩张，关注电价和人才政策；康瑞医疗器械有意在北方设立区域生产及仓储中心。",
     "outcome": "康瑞医疗器械计划月底前派员来区踏勘；华芯半导体保持跟踪。",
     "interest": "exploring", "industries": ["next_gen_it", "biomedicine"],
     "followups": [("跟进广州康瑞医疗器械来区踏勘时间", "officer", 5)]},
    {"day": -8, "kind": "inbound", "status": "done", "officer": "officer", "hosts": ["manager", "officer"],
     "title": "合肥星辰新能源汽车零部件来访考察", "orgs": ["合肥星辰新能源汽车零部件"], "members": 2,
     "leaders": "党工委书记、管委会主任 练建军", "place": "菏泽经济开发区",
     "purpose": "考察新能源汽车零部件产业链配套，洽谈电驱零部件项目",
     "summary": "一行先后到精进电动、大唐智创，听介绍、进车间，重点了解电驱动系统配套和自动化产线；"
                "座谈中对方介绍了电机壳体及减速器零部件项目。",
     "outcome": "对方希望与精进电动就近配套，拟投资建设电驱零部件生产基地，下一步提交项目建议书。",
     "interest": "strong", "investment": "50000", "industries": ["new_energy", "advanced_equipment"],
     "stops": [("精进电动", "10:00", "企业副总经理", "听介绍、进车间，了解电驱动系统配套需求"),
               ("大唐智创", "14:30", "企业负责人", "参观自动化产线")],
     "followups": [("对接精进电动与合肥星辰零部件配套合作需求", "officer", 2),
                   ("收取合肥星辰项目建议书并组织初审", "officer", 10)]},
    {"day": -6, "times": ("09:00", "11:30"), "kind": "meeting", "status": "done", "officer": "manager",
     "hosts": ["manager"], "title": "生物医药产业链招商推介对接会", "orgs": ["菏泽市投资促进局", "中瑞招商咨询"],
     "members": 1, "place": "菏泽市投资促进局", "purpose": "商定明年一季度生物医药产业链专题招商推介会方案",
     "summary": "与市投资促进局、中瑞招商咨询共同研究推介会时间、拟邀客商名单和现代医药港推介材料。",
     "outcome": "初定明年3月在上海举办专题推介会，由中瑞招商咨询提出拟邀客商名单。",
     "industries": ["biomedicine"],
     "followups": [("审核中瑞招商咨询提交的拟邀客商名单", "manager", 8)]},
    {"day": -5, "times": ("20:00", "21:00"), "kind": "remote", "status": "done", "officer": "officer",
     "hosts": ["officer"], "title": "与美国普瑞斯生命科学视频会议", "orgs": ["美国普瑞斯生命科学"], "members": 1,
     "place": "视频会议", "purpose": "介绍开发区生物医药产业基础，了解其亚洲生产布局",
     "summary": "普瑞斯计划在中国设立诊断试剂生产线，询问外商投资企业设立流程、药品注册属地服务和冷链物流条件。",
     "outcome": "对方请我方提供外商投资企业设立流程说明，明年上半年视情况来华考察。",
     "interest": "exploring", "industries": ["biomedicine"],
     "followups": [("提供美国普瑞斯所需的外商投资企业设立流程说明（英文）", "officer", 1)]},
    {"day": -3, "kind": "inbound", "status": "cancelled", "officer": "officer", "hosts": ["officer"],
     "title": "日本丸川化学来访考察", "orgs": ["日本丸川化学"], "members": 1, "place": "菏泽经济开发区",
     "purpose": "考察新材料产业配套和要素保障条件",
     "summary": "对方因总部行程调整取消本次来访。", "outcome": "改期另约，拟明年一季度再行安排。",
     "industries": ["new_materials"],
     "stops": [("菏泽华盛纺织", "10:00", "企业负责人", "参观功能性纤维生产线")]},
    {"day": -2, "times": ("09:30", "11:30"), "kind": "aftercare", "status": "done", "officer": "officer",
     "hosts": ["officer"], "title": "走访菏泽鲁能光伏科技", "orgs": ["菏泽鲁能光伏科技"], "members": 1,
     "place": "菏泽鲁能光伏科技", "purpose": "了解四季度生产和出口情况，征求对项目集中开工和要素保障的意见",
     "summary": "企业四季度满负荷生产，组件出口以东南亚为主；二期扩产项目拟参加近期项目集中开工，用电增容手续尚在办理。",
     "outcome": "协调供电部门加快用电增容；二期项目手续由帮办代办专人跟进。",
     "followups": [("协调供电部门为菏泽鲁能光伏二期项目加快用电增容", "officer", 4)]},
    # Planned: itineraries and purposes, nothing yet of what happened
    {"day": 2, "kind": "inbound", "status": "planned", "officer": "officer", "hosts": ["manager", "officer"],
     "title": "华东锂电池产业投资基金来访考察", "orgs": ["华东锂电池产业投资基金"], "members": 2,
     "leaders": "党工委书记、管委会主任 练建军", "place": "菏泽经济开发区",
     "purpose": "考察开发区新能源产业链，了解基金在锂电材料和储能领域的投资机会",
     "industries": ["new_energy"],
     "stops": [("玉皇新能源", "09:30", "企业负责人", "听介绍、进车间：电池材料产能与研发"),
               ("精进电动", "11:00", "企业副总经理", "参观电驱动产线"),
               ("菏泽鲁能光伏科技", "14:30", "企业总经理", "了解光伏＋储能应用")],
     "followups": [("准备华东锂电池产业投资基金考察接待手册", "officer", 1)]},
    {"day": 5, "kind": "inbound", "status": "planned", "officer": "officer", "hosts": ["officer"],
     "title": "无锡立德机器人来访考察", "orgs": ["无锡立德机器人"], "members": 1, "place": "菏泽经济开发区",
     "purpose": "实地考察工业机器人组装基地选址，了解装备制造配套", "industries": ["advanced_equipment"],
     "stops": [("大唐智创", "09:30", "企业负责人", "听介绍、进车间：智能制造应用场景"),
               ("中德合资菏泽精工", "11:00", "企业总经理", "参观精密加工车间，了解零部件配套能力")],
     "followups": [("为无锡立德机器人准备三处备选地块资料", "officer", 4)]},
    {"day": 8, "days": 2, "kind": "outbound", "status": "planned", "officer": "manager",
     "hosts": ["manager", "officer"], "title": "赴郑州拜访郑州宏图新材料", "orgs": ["郑州宏图新材料"], "members": 1,
     "leaders": "党工委书记、管委会主任 练建军", "place": "河南郑州",
     "purpose": "拜访郑州宏图新材料总部，推介开发区新材料产业，邀请其来区考察", "industries": ["new_materials"]},
    {"day": 9, "times": ("10:00", "11:00"), "kind": "signing", "status": "planned", "officer": "manager",
     "hosts": ["manager", "officer"], "title": "鲁西新材料科技高性能复合材料项目签约仪式",
     "orgs": ["鲁西新材料科技有限公司"], "members": 1, "leaders": "党工委书记、管委会主任 练建军",
     "place": "管委会一楼会议厅", "purpose": "签署高性能复合材料项目投资协议",
     "interest": "ready", "investment": "60000", "industries": ["new_materials"],
     "followups": [("准备鲁西新材料项目投资协议签约文本", "officer", 6)]},
    {"day": 12, "times": ("15:00", "16:00"), "kind": "remote", "status": "planned", "officer": "officer",
     "hosts": ["officer"], "title": "与新加坡睿智资本视频洽谈", "orgs": ["新加坡睿智资本"], "members": 1,
     "place": "视频会议", "purpose": "介绍开发区现代服务业和冷链物流项目，了解其在鲁西南的投资意向",
     "industries": ["modern_services"]},
    {"day": 15, "kind": "inbound", "status": "planned", "officer": "manager", "hosts": ["manager"],
     "title": "台湾永信医药来访考察", "orgs": ["台湾永信医药"], "members": 2,
     "leaders": "党工委书记、管委会主任 练建军", "place": "菏泽经济开发区",
     "purpose": "考察现代医药港和生物医药产业配套，洽谈原料药及制剂项目", "industries": ["biomedicine"],
     "stops": [("现代医药港", "09:30", "园区运营负责人", "听介绍，看标准厂房和公共检测平台"),
               ("菏泽牡丹生物制药", "11:00", "企业总经理", "进车间，了解制剂生产"),
               ("菏泽盛和冷链物流", "14:30", "企业负责人", "了解医药冷链仓储配送能力")],
     "followups": [("准备台湾永信医药考察接待手册并报领导审阅", "officer", 12)]},
    {"day": 19, "times": ("14:30", "16:30"), "kind": "aftercare", "status": "planned", "officer": "officer",
     "hosts": ["officer"], "title": "走访菏泽华盛纺织（出口龙头企业培育）", "orgs": ["菏泽华盛纺织"], "members": 1,
     "place": "菏泽华盛纺织", "purpose": "出口龙头企业培育：核对全年出口数据，了解明年出口目标和支持需求"},
]


def _load_visits(session: Session, *, anchor: date, timezone: str, users: dict[str, User],
                 orgs: dict[str, Organization], people: dict[str, list[Contact]], industries: dict[str, int]) -> None:
    def local(day: date, hhmm: str) -> str:
        return f"{day.isoformat()}T{hhmm}"

    def due(days: int) -> str:
        return (anchor + timedelta(days=days)).isoformat()

    def create(spec: dict, *, day: date, members: list[Contact]) -> None:
        starts, ends = spec.get("times", ("09:00", "17:00"))
        last_day = day + timedelta(days=spec.get("days", 1) - 1)
        officer = users[spec["officer"]]
        status = spec["status"]
        if status == "done" and to_utc(local(day, starts), timezone) > utcnow():
            status = "planned"  # an anchor ahead of the clock: a visit cannot be done before it starts
        data = {
            "title": spec["title"], "kind": spec["kind"], "status": status,
            "starts_at": local(day, starts), "ends_at": local(last_day, ends), "place": spec.get("place", ""),
            "leaders": spec.get("leaders", ""), "purpose": spec.get("purpose", ""),
            "summary": spec.get("summary", ""), "outcome": spec.get("outcome", ""),
            "interest_level": spec.get("interest", ""), "estimated_investment": spec.get("investment", ""),
            "officer_id": officer.id,
        }
        stops = [(i, {"organization_id": orgs[name].id, "starts_at": local(day, hhmm), "host": host, "shown": shown,
                      "note": ""})
                 for i, (name, hhmm, host, shown) in enumerate(spec.get("stops", []))]
        followups = [(i, {"title": title, "assignee_id": users[who].id, "due_on": due(days)})
                     for i, (title, who, days) in enumerate(spec.get("followups", []))]
        visit_service.create(session, actor=officer, timezone=timezone, visit_input=VisitInput(
            data=data, organization_ids=[orgs[name].id for name in spec["orgs"]],
            member_ids=[c.id for c in members], host_ids=[users[u].id for u in spec["hosts"]],
            industry_ids=[industries[code] for code in spec.get("industries", [])], stops=stops, followups=followups,
        ))

    fosun = FOSUN_VISIT
    create({**fosun, "kind": "inbound", "status": "done", "officer": "officer", "hosts": ["manager"],  # 练建军
            "orgs": ["复星集团"], "stops": [(name, hhmm, "", FOSUN_SHOWN) for name, hhmm in fosun["stops"]]},
           day=shift(date(2021, 12, 2), anchor), members=people["复星集团"])  # 祝文魁
    for spec in INVENTED_VISITS:
        members = [c for name in spec["orgs"] for c in people[name][:spec.get("members", 1)]]
        create(spec, day=anchor + timedelta(days=spec["day"]), members=members)
