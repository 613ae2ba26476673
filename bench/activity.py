"""The benchmark's visits, tours and follow-ups (issue 3): 200,000 visits, 600,000 tour stops, 400,000 tasks.

Rows are plain dicts, computed as the services compute them (crm/visits/service.py, crm/tasks/service.py): a visit's
search_text is crm.search_text.build(title, *organization names, extra=(place, purpose, summary, outcome, leaders))
and its search_term rows are crm.search.service.terms() of that. Texts come from a small vocabulary of business
words so that two-, three- and four-character queries (复星, 新能源, 生物医药) have realistic selectivity.

Designated records the benchmark measures:
- one zone enterprise (the "timeline organization") with exactly TIMELINE_ENTRIES timeline entries: visits it made,
  tour stops it hosted and audit entries (its own changes and its follow-ups'), and no others;
- the benchmark's officer, assignee of exactly OPEN_TASKS open tasks (and some closed ones);
- the six 复星 organizations, with FOSUN_VISITS visits between them.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bench.settings import scaled
from crm import search_text

# Sizes are 1% of these in smoke mode (bench/settings.py), the designated records' too.
VISITS = scaled(200_000)
TOUR_STOPS = scaled(600_000)
TASKS = scaled(400_000)
TIMELINE_VISITS, TIMELINE_STOPS, TIMELINE_TASKS, TIMELINE_ORG_AUDITS = scaled(150), scaled(300), scaled(40), scaled(10)
TIMELINE_ENTRIES = TIMELINE_VISITS + TIMELINE_STOPS + TIMELINE_TASKS + TIMELINE_ORG_AUDITS  # 500 (7 in smoke mode)
OPEN_TASKS = scaled(2_000)  # the benchmark officer's open tasks
CLOSED_TASKS = scaled(1_000)  # and closed ones (some within the "recently done" fortnight)
FOSUN_VISITS = scaled(300)
OTHER_USERS = 39  # officers and managers besides the benchmark's officer
SHOWCASE = scaled(150)  # zone enterprises most tours stop at (考察点)
PROSPECTS = scaled(4_000)  # organizations most visits concern
HISTORY_DAYS = 4 * 365  # visits from four years ago …
PLANNED_DAYS = 60  # … to two months ahead
TIMEZONE = ZoneInfo("Asia/Shanghai")
SEARCH_WORDS = ("复星", "新能源", "生物医药")  # the header-search queries; counts are reported

KIND_WEIGHTS = {"inbound": 40, "outbound": 12, "meeting": 18, "remote": 12, "signing": 3, "aftercare": 15}
TOPICS = {  # industry chain code: investment topics
    "new_energy": ["新能源", "储能电池", "光伏组件", "锂电材料", "氢能装备", "新能源汽车零部件", "充电桩"],
    "biomedicine": ["生物医药", "医疗器械", "原料药", "医药制剂", "诊断试剂", "医药冷链"],
    "advanced_equipment": ["高端装备", "工业机器人", "精密加工", "智能制造", "数控机床"],
    "next_gen_it": ["半导体封装", "集成电路", "数据中心", "软件外包", "电子信息"],
    "new_materials": ["新材料", "高性能复合材料", "功能性纤维", "化工新材料"],
    "modern_services": ["现代物流", "供应链金融", "产业基金", "跨境电商", "冷链物流"],
}
TITLES = {
    "inbound": ["{org}来访考察", "{org}一行来区考察{topic}项目", "{org}来访考察{topic}项目"],
    "outbound": ["赴{city}拜访{org}", "赴{city}外出招商（{org}）"],
    "meeting": ["与{org}洽谈{topic}项目", "{org}{topic}项目第二轮洽谈"],
    "remote": ["与{org}视频洽谈", "与{org}电话沟通"],
    "signing": ["{org}{topic}项目签约仪式"],
    "aftercare": ["走访{org}", "走访{org}（出口龙头企业培育）"],
}
CLAUSES = [
    "一行参观{stop}，听介绍、进车间，了解{topic}产能",
    "座谈中介绍了{topic}业务，关注标准厂房和用电保障",
    "对方关注{topic}产业配套、人才政策和要素保障",
    "双方就项目用地、投资强度和达产税收交换意见",
    "企业反映扩产手续办理和技术工人招聘有困难",
    "对方计划在鲁西南布局{topic}生产基地，正在比选三地",
    "介绍开发区产业基础、交通区位和营商环境",
    "重点了解{topic}上下游配套和物流条件",
    "询问外资项目备案流程、用地价格和出口通关便利",
    "企业四季度订单饱满，计划新建一条{topic}生产线",
]
OUTCOMES = [
    "对方拟近期组团来区实地考察。", "请我方提供{topic}项目用地选址方案。", "原则同意推进合作，下一步提交项目建议书。",
    "保持跟踪，待其明年规划确定后再议。", "协调相关部门上门服务，帮办代办专人跟进。", "拟近期举行项目签约仪式。",
    "对方回去后向总部汇报，拟以租赁厂房方式先行落地。",
]
PURPOSES = ["考察{topic}产业配套，洽谈项目落地", "推介开发区{topic}产业，邀请来区考察",
            "了解企业生产经营和扩产计划，征求服务需求", "商谈{topic}项目投资协议主要条款"]
PLACES = {"inbound": ["菏泽经济开发区"], "meeting": ["管委会三楼会议室", "管委会一楼会议厅"], "remote": ["视频会议", "电话"],
          "signing": ["管委会一楼会议厅"]}
LEADERS = ["", "", "党工委书记、管委会主任 练建军", "管委会副主任（分管招商） 王海涛", "招商局局长 李明"]
STOP_HOSTS = ["企业负责人", "企业副总经理", "企业总经理", "园区运营负责人", "生产部负责人", ""]
STOP_SHOWN = ["听介绍、进车间", "参观自动化产线", "看标准厂房和公共检测平台", "了解上下游配套需求", ""]
TASK_TITLES = ["向{org}寄送{topic}产业资料", "与{org}商定第二轮洽谈时间", "跟进{org}来区踏勘时间", "整理{org}考察反馈",
               "协调供电部门为{org}加快用电增容", "准备{org}考察接待手册", "收取{org}项目建议书并组织初审"]
INTEREST = ["", "none", "exploring", "exploring", "strong", "ready"]
_LEGAL = re.compile(r"(集团有限公司|股份有限公司|科技有限公司|有限公司|\(集团\)|（集团）|\([^)]*\)|（[^）]*）|"
                    r" (GmbH|Co\., Ltd\.|Inc\.|AG|Limited)( \d+)?)")


@dataclass
class Activity:
    users: list[dict]
    visits: list[dict]
    visit_organizations: list[dict]
    visit_members: list[dict]
    visit_hosts: list[dict]
    visit_industries: list[dict]
    tour_stops: list[dict]
    tasks: list[dict]
    audits: list[dict]
    timeline_org_id: int
    busiest_org_id: int
    busiest_entries: int
    week: tuple[date, date]  # a past Monday–Sunday
    week_visits: int
    timeline_org_visits: int
    word_visits: dict[str, int] = field(default_factory=dict)  # search word: visits whose text has it


def short_name(name: str) -> str:
    """What people call an organization in a title: 上海华鲁新能源有限公司 → 上海华鲁新能源."""
    return _LEGAL.sub("", name).strip() or name


def _local(day: date, minutes: int) -> datetime:
    return datetime.combine(day, time(minutes // 60, minutes % 60), TIMEZONE).astimezone(UTC)


def generate(rng: random.Random, *, now: datetime, orgs: list[dict], contacts: list[dict], officer_id: int,
             password_hash: str, industry_ids: dict[str, int], fosun_ids: list[int]) -> Activity:
    chain_of = {v: k for k, v in industry_ids.items()}
    live = [o for o in orgs if o["archived_at"] is None]
    zone = [o["id"] for o in live if o["kind"] == "zone_enterprise" and o["id"] not in fosun_ids]
    timeline_org_id = rng.choice(zone)
    zone.remove(timeline_org_id)
    showcase = rng.sample(zone, SHOWCASE)
    showcase_set = set(showcase)
    other_zone = [i for i in zone if i not in showcase_set]
    excluded = {timeline_org_id, *fosun_ids}
    prospects_pool = [o["id"] for o in live if o["kind"] != "zone_enterprise" and o["id"] not in excluded]
    prospects = rng.sample(prospects_pool, PROSPECTS)
    org_by_id = {o["id"]: o for o in orgs}
    contacts_of: dict[int, list[int]] = {}
    for c in contacts:
        if c["archived_at"] is None:
            contacts_of.setdefault(c["organization_id"], []).append(c["id"])

    # Users: the benchmark's officer (id officer_id) and colleagues sharing its password hash
    users = []
    for n in range(OTHER_USERS):
        role = "manager" if n < 4 else "officer"
        created = now - timedelta(days=HISTORY_DAYS + 30)
        users.append({"id": officer_id + 1 + n, "username": f"bench-{role}-{n + 1:02d}",
                      "display_name": rng.choice("王李张刘陈杨黄赵吴周徐孙") + rng.choice("伟芳敏静强磊军洋勇杰涛明超") + rng.choice("华宁欣雪琳浩宇晨"),
                      "title": "", "email": "", "role": role, "locale": "zh_CN", "password_hash": password_hash,
                      "is_active": True, "created_at": created, "updated_at": created, "version": 1})
    user_ids = [officer_id] + [u["id"] for u in users]
    managers = [u["id"] for u in users if u["role"] == "manager"]

    # Visits
    kinds = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()), k=VISITS)
    first_day = (now - timedelta(days=HISTORY_DAYS)).date()
    days = sorted(first_day + timedelta(days=rng.randrange(HISTORY_DAYS + PLANNED_DAYS)) for _ in range(VISITS))
    aftercare_ids = [i + 1 for i, k in enumerate(kinds) if k == "aftercare"]
    timeline_visits = set(rng.sample(aftercare_ids, TIMELINE_VISITS))
    fosun_visits = dict(zip(rng.sample([i + 1 for i, k in enumerate(kinds) if k != "aftercare"], FOSUN_VISITS),
                            [fosun_ids[n % len(fosun_ids)] for n in range(FOSUN_VISITS)], strict=True))
    inbound_ids = [i + 1 for i, k in enumerate(kinds) if k == "inbound"]
    stop_counts = _stop_counts(rng, len(inbound_ids))
    stops_of = dict(zip(inbound_ids, stop_counts, strict=True))
    timeline_stop_visits = set(rng.sample(inbound_ids, TIMELINE_STOPS))

    visits, visit_orgs, members, hosts, industries, stops, audits = [], [], [], [], [], [], []
    lead_org: dict[int, int] = {}
    word_visits: Counter[str] = Counter()
    for visit_id, (kind, day) in enumerate(zip(kinds, days, strict=True), start=1):
        if visit_id in timeline_visits:
            org_ids = [timeline_org_id]
        elif visit_id in fosun_visits:
            org_ids = [fosun_visits[visit_id]]
        elif kind == "aftercare":
            org_ids = [rng.choice(showcase if rng.random() < 0.3 else other_zone)]
        else:
            org_ids = [rng.choice(prospects) if rng.random() < 0.7 else rng.choice(prospects_pool)]
        for _ in range(rng.choices((0, 1, 2), weights=(80, 15, 5))[0]):
            extra = rng.choice(prospects_pool)
            if extra not in org_ids:
                org_ids.append(extra)
        lead = org_by_id[org_ids[0]]
        lead_org[visit_id] = lead["id"]
        chain, topic = _topic(lead, chain_of)
        stop_ids = _stop_orgs(rng, stops_of.get(visit_id, 0), showcase, other_zone,
                              timeline_org_id if visit_id in timeline_stop_visits else None)
        starts = _local(day, rng.randrange(8 * 60, 16 * 60 + 1, 30))
        length = timedelta(hours=len(stop_ids) + 2 if stop_ids else rng.choice((1, 1, 2, 3)))
        if kind == "outbound" and rng.random() < 0.4:
            length = timedelta(days=rng.choice((1, 2)), hours=8)
        status = "planned" if starts > now else rng.choices(("done", "cancelled", "planned"), weights=(93, 4, 3))[0]
        filled = status == "done"
        stop_name = org_by_id[stop_ids[0]]["name"] if stop_ids else short_name(lead["name"])
        summary = outcome = ""
        if filled:
            clauses = rng.sample(CLAUSES, rng.choice((2, 2, 3)))
            summary = "，".join(c.format(topic=topic, stop=short_name(stop_name)) for c in clauses) + "。"
            outcome = rng.choice(OUTCOMES).format(topic=topic)
        officer = officer_id if rng.random() < 0.05 else rng.choice(user_ids)
        title = rng.choice(TITLES[kind]).format(org=short_name(lead["name"]), topic=topic, city=lead["city"] or "上海")
        place = rng.choice(PLACES[kind]) if kind in PLACES else (lead["name"] if kind == "aftercare" else lead["city"] or "上海")
        purpose = rng.choice(PURPOSES).format(topic=topic)
        leaders = rng.choice(LEADERS) if kind != "remote" else ""
        names = [org_by_id[i]["name"] for i in org_ids]
        text = search_text.build(title, *names, extra=(place, purpose, summary, outcome, leaders))
        for word in SEARCH_WORDS:
            word_visits[word] += word in text
        created = min(starts, now) - timedelta(days=rng.randrange(1, 30), minutes=rng.randrange(600))
        updated = min(now, starts + length + timedelta(hours=rng.randrange(1, 72))) if filled else created
        visits.append({
            "id": visit_id, "title": title, "kind": kind, "status": status, "starts_at": starts, "ends_at": starts + length,
            "place": place, "leaders": leaders, "purpose": purpose, "summary": summary, "outcome": outcome,
            "interest_level": rng.choice(INTEREST) if filled else "",
            "estimated_investment": Decimal(rng.randrange(5, 300) * 1000) if filled and rng.random() < 0.3 else None,
            "officer_id": officer, "created_by_id": officer, "search_text": text, "created_at": created,
            "updated_at": updated, "version": 2 if filled else 1,
        })
        visit_orgs.extend({"visit_id": visit_id, "organization_id": o, "position": p} for p, o in enumerate(org_ids))
        people = contacts_of.get(lead["id"], [])
        members.extend({"visit_id": visit_id, "contact_id": c} for c in rng.sample(people, min(len(people), rng.choice((0, 1, 2)))))
        hosts.append({"visit_id": visit_id, "user_id": officer})
        if rng.random() < 0.2 and (manager := rng.choice(managers)) != officer:
            hosts.append({"visit_id": visit_id, "user_id": manager})
        industries.append({"visit_id": visit_id, "industry_chain_id": industry_ids[chain]})
        for position, org_id in enumerate(stop_ids):
            at = starts + timedelta(hours=position + 1) if rng.random() < 0.9 else None
            stops.append({"id": len(stops) + 1, "visit_id": visit_id, "position": position, "organization_id": org_id,
                          "starts_at": at, "host": rng.choice(STOP_HOSTS), "shown": rng.choice(STOP_SHOWN), "note": ""})
        audits.append({"at": created, "actor_id": officer, "action": "create", "entity_type": "visit",
                       "entity_id": visit_id, "entity_label": title, "entity_version": 1, "organization_id": None,
                       "changes": {"title": [None, title], "kind": [None, kind], "status": [None, "planned"]}})
        if filled:
            audits.append({"at": updated, "actor_id": officer, "action": "update", "entity_type": "visit",
                           "entity_id": visit_id, "entity_label": title, "entity_version": 2, "organization_id": None,
                           "changes": {"status": ["planned", "done"], "outcome": ["", outcome]}})

    tasks = _tasks(rng, now=now, officer_id=officer_id, user_ids=user_ids, managers=managers, visits=visits,
                   lead_org=lead_org, org_by_id=org_by_id, prospects_pool=prospects_pool, contacts=contacts,
                   timeline_org_id=timeline_org_id)
    for task in tasks:
        audits.append({"at": task["created_at"], "actor_id": task["created_by_id"], "action": "create",
                       "entity_type": "task", "entity_id": task["id"], "entity_label": task["title"], "entity_version": 1,
                       "organization_id": task["organization_id"],
                       "changes": {"title": [None, task["title"]], "due_on": [None, task["due_on"].isoformat()]}})
    timeline_org = org_by_id[timeline_org_id]
    for n in range(TIMELINE_ORG_AUDITS):  # the timeline organization's own changes: created, then edited
        at = timeline_org["created_at"] + (timeline_org["updated_at"] - timeline_org["created_at"]) * n / TIMELINE_ORG_AUDITS
        audits.append({"at": at, "actor_id": officer_id, "action": "create" if n == 0 else "update",
                       "entity_type": "organization", "entity_id": timeline_org_id, "entity_label": timeline_org["name"],
                       "entity_version": n + 1, "organization_id": timeline_org_id,
                       "changes": {"address": [None, f"开发区{n + 1}号路"]}})
    audits.sort(key=lambda a: a["at"])
    entries = (sum(vo["organization_id"] == timeline_org_id for vo in visit_orgs)
               + sum(s["organization_id"] == timeline_org_id for s in stops)
               + sum(a["organization_id"] == timeline_org_id for a in audits))
    assert entries == TIMELINE_ENTRIES, f"the timeline organization has {entries} entries, not {TIMELINE_ENTRIES}"

    stop_count = Counter(s["organization_id"] for s in stops)
    busiest = max(showcase, key=lambda i: stop_count[i])
    monday = (now.astimezone(TIMEZONE) - timedelta(weeks=5)).date()
    monday -= timedelta(days=monday.weekday())
    week = (monday, monday + timedelta(days=6))
    week_start, week_end = _local(week[0], 0), _local(week[1] + timedelta(days=1), 0)
    return Activity(
        users=users, visits=visits, visit_organizations=visit_orgs, visit_members=members, visit_hosts=hosts,
        visit_industries=industries, tour_stops=stops, tasks=tasks, audits=audits, timeline_org_id=timeline_org_id,
        busiest_org_id=busiest,
        busiest_entries=stop_count[busiest] + sum(1 for vo in visit_orgs if vo["organization_id"] == busiest)
        + sum(1 for t in tasks if t["organization_id"] == busiest),
        week=week, week_visits=sum(1 for v in visits if week_start <= v["starts_at"] < week_end),
        timeline_org_visits=TIMELINE_VISITS, word_visits=dict(word_visits),
    )


def _topic(org: dict, chain_of: dict[int, str]) -> tuple[str, str]:
    """An organization's industry chain and the project it talks about: the same every time (and so are most of
    its visits' titles, as when people type them)."""
    chain = chain_of.get(org["industry_chain_id"]) or list(TOPICS)[org["id"] % len(TOPICS)]
    return chain, TOPICS[chain][org["id"] // 3 % len(TOPICS[chain])]


def _stop_counts(rng: random.Random, inbound: int) -> list[int]:
    """Stops per inbound visit, 3–12 (the form allows 30), adding up to exactly TOUR_STOPS."""
    counts = [rng.randint(3, 12) for _ in range(inbound)]
    diff = TOUR_STOPS - sum(counts)
    while diff:
        i = rng.randrange(inbound)
        step = 1 if diff > 0 else -1
        if 1 <= counts[i] + step <= 30:
            counts[i] += step
            diff -= step
    return counts


def _stop_orgs(rng: random.Random, n: int, showcase: list[int], other: list[int], timeline_org: int | None) -> list[int]:
    """n distinct zone enterprises, mostly showcase ones; the timeline organization at a random position if given."""
    chosen: list[int] = []
    while len(chosen) < n:
        org_id = rng.choice(showcase) if rng.random() < 0.8 else rng.choice(other)
        if org_id not in chosen:
            chosen.append(org_id)
    if timeline_org is not None:
        chosen[rng.randrange(n)] = timeline_org
    return chosen


def _tasks(rng: random.Random, *, now: datetime, officer_id: int, user_ids: list[int], managers: list[int],
           visits: list[dict], lead_org: dict[int, int], org_by_id: dict[int, dict], prospects_pool: list[int],
           contacts: list[dict], timeline_org_id: int) -> list[dict]:
    """TASKS follow-ups: the benchmark officer's OPEN_TASKS open and CLOSED_TASKS closed ones first, then everyone's;
    exactly TIMELINE_TASKS concern the timeline organization."""
    today = now.astimezone(TIMEZONE).date()
    done_visits = [v for v in visits if v["status"] == "done" and lead_org[v["id"]] != timeline_org_id]
    live_contacts = [c for c in contacts if c["archived_at"] is None and c["organization_id"] != timeline_org_id]
    timeline_tasks = set(rng.sample(range(1, TASKS + 1), TIMELINE_TASKS))
    tasks = []
    for task_id in range(1, TASKS + 1):
        mine = task_id <= OPEN_TASKS + CLOSED_TASKS
        assignee = officer_id if mine else rng.choice(user_ids[1:])
        is_open = task_id <= OPEN_TASKS if mine else rng.random() < 0.15
        visit_id = contact_id = None
        link = rng.random()
        if task_id in timeline_tasks:
            org_id = timeline_org_id
        elif link < 0.5:
            visit = rng.choice(done_visits)
            visit_id, org_id = visit["id"], lead_org[visit["id"]]
        elif link < 0.85:
            org_id = rng.choice(prospects_pool)
        elif link < 0.95:
            contact = rng.choice(live_contacts)
            contact_id, org_id = contact["id"], contact["organization_id"]
        else:
            org_id = None
        org = org_by_id[org_id] if org_id else None
        chain_topics = TOPICS[rng.choice(list(TOPICS))]
        title = rng.choice(TASK_TITLES).format(org=short_name(org["name"]) if org else "意向客商", topic=rng.choice(chain_topics))
        if is_open:
            due = today + timedelta(days=rng.randint(-90, 120))
        else:
            due = today - timedelta(days=rng.randint(0, HISTORY_DAYS - 60))
        created = _local(due - timedelta(days=rng.randint(1, 30)), rng.randrange(8 * 60, 18 * 60))
        created = min(created, now - timedelta(hours=1))
        completed = None
        status = "open"
        if not is_open:
            status = "done" if rng.random() < 0.9 else "cancelled"
            completed = min(now, created + timedelta(days=rng.randint(0, 40), minutes=rng.randrange(600)))
        tasks.append({
            "id": task_id, "title": title, "description": "", "assignee_id": assignee, "due_on": due,
            "due_time": time(rng.choice((9, 10, 14, 15, 16)), rng.choice((0, 30))) if rng.random() < 0.3 else None,
            "priority": rng.choices(("high", "normal", "low"), weights=(20, 65, 15))[0], "status": status,
            "organization_id": org_id, "contact_id": contact_id, "visit_id": visit_id,
            "created_by_id": assignee if rng.random() < 0.7 else rng.choice(managers),
            "created_at": created, "updated_at": completed or created,
            "completed_at": completed if status == "done" else None, "version": 2 if completed else 1,
        })
    return tasks
