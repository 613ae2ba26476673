"""The demo zone: the seed's facts (DOMAIN.md) plus invented data, loaded through the services.

Facts from the seed (牡丹晚报, December 2021): 复星集团 and 祝文魁; the zone enterprises 大唐智创, 玉皇新能源,
精进电动, 现代医药港; 练建军 (党工委书记、管委会主任); 行政审批服务局 and 马彩光 (局长).
Everything marked INVENTED below is plausible made-up data, never to be presented as fact.
Dates: the seed's 2021-12-06 becomes the anchor (see shift()).
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.auth import service as auth_service
from crm.auth.models import Role, User
from crm.contacts import service as contact_service
from crm.organizations import service as organization_service
from crm.organizations.models import IndustryChain
from crm.tasks import service as task_service
from crm.validators import credit_code_check_char

DEMO_PASSWORD = "demo1234"  # noqa: S105 - the demo's documented password, created only by this loader
SEED_ANCHOR = date(2021, 12, 6)


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
    # username, display name, title, role
    ("officer", "张晓明", "招商专员 (INVENTED)", Role.OFFICER),
    ("manager", "练建军", "党工委书记、管委会主任", Role.MANAGER),
    ("admin", "系统管理员", "", Role.ADMIN),
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


def load(session: Session, *, anchor: date) -> None:
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
        contact_service.create(session, data={
            "organization_id": org.id, "name": name, "title": title, "mobile": mobile, "phone": "",
            "email": email, "wechat": "", "notes": "",
        }, actor=officer)

    seeded = {}
    for i, (name, name_en, kind, industry, ownership, region, city, tags, description, contacts) in enumerate(SEED_ORGANIZATIONS):
        fosun_visit = shift(date(2021, 12, 2), anchor)
        description = description.format(fosun_visit=f"{fosun_visit.month}月{fosun_visit.day}日")
        seeded[name] = org = create_org(i, name, name_en, kind, industry, ownership, region, city, tags, description)
        for person, title, mobile, email in contacts:
            add_contact(org, person, title, mobile, email)

    # The follow-ups the Fosun visit implies (Fosun "will speed up its investment study and look for more points
    # of cooperation"); their wording and dates are the demo's, not the seed's.
    fosun = seeded["复星集团"]
    for title, days, priority in (
        ("向复星集团寄送开发区新能源、生物医药产业资料", 1, "high"),
        ("与复星集团商定第二轮洽谈时间", 10, "normal"),
        ("整理复星集团考察大唐智创、玉皇新能源、精进电动、现代医药港的反馈", -1, "normal"),
    ):
        task_service.create(session, actor=officer, data={
            "title": title, "description": "", "assignee_id": officer.id, "due_on": anchor + timedelta(days=days),
            "due_time": None, "priority": priority, "organization_id": fosun.id, "contact_id": None,
        })

    for i, (name, name_en, kind, industry, ownership, region, city, tags) in enumerate(INVENTED_ORGANIZATIONS):
        credit = invented_credit_code(i + 1) if region == "中国" and kind != "government" else None
        org = create_org(i, name, name_en, kind, industry, ownership, region, city, tags,
                         "（演示数据，虚构）INVENTED demo record.", credit)
        for k in range(1 + i % 3):
            person, title = INVENTED_PEOPLE[(i * 2 + k) % len(INVENTED_PEOPLE)]
            mobile = f"13{(i * 37 + k * 11) % 10}{(5310000 + i * 1013 + k * 7):08d}"[:11]
            add_contact(org, person, title, mobile=mobile)
