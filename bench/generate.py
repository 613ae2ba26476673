"""A fresh benchmark database: 20,000 organizations, 60,000 contacts and (bench/activity.py) 200,000 visits with
600,000 tour stops, 400,000 tasks and their audit trail, inserted in one transaction with executemany (1% of each
with BENCH_SMOKE=1, bench/settings.py).

Derived columns are computed exactly as the services compute them (crm/organizations/service.py,
crm/contacts/service.py, crm/visits/service.py): name_normalized, name_sort, tags ",a,b,", and search_text — an
organization's includes the names of its unarchived contacts — and the search_term rows of every search_text.
"""

from __future__ import annotations

import functools
import json
import random
import sqlite3
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from pypinyin import lazy_pinyin
from sqlalchemy import Table, make_url, select
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from bench import activity
from bench.settings import scaled
from crm import migrate, search_text
from crm.audit.models import AuditEntry
from crm.auth import service as auth_service
from crm.auth.models import User
from crm.contacts.models import Contact
from crm.db import Database
from crm.organizations.models import IndustryChain, Organization, OrganizationKind, OrganizationTag, Ownership, Tag
from crm.search import service as search_service
from crm.tasks.models import Task
from crm.validators import credit_code_check_char
from crm.visits.models import TourStop, Visit, VisitHost, VisitIndustry, VisitMember, VisitOrganization

_DIALECT = SQLiteDialect_pysqlite()
ORGANIZATIONS = scaled(20_000)
CONTACTS = scaled(60_000)
USERNAME = "bench-officer"
PASSWORD = "bench-pass-1"  # a throwaway user in a throwaway database

REGIONS = [("上海", "Shanghai"), ("深圳", "Shenzhen"), ("菏泽", "Heze"), ("济南", "Jinan"), ("青岛", "Qingdao"),
           ("苏州", "Suzhou"), ("杭州", "Hangzhou"), ("北京", "Beijing"), ("广州", "Guangzhou"), ("南京", "Nanjing"),
           ("山东", "Shandong"), ("江苏", "Jiangsu"), ("浙江", "Zhejiang"), ("成都", "Chengdu"), ("武汉", "Wuhan")]
BRAND_CHARS = "华鲁恒瑞丰泰鑫盛宏远博腾信达中科金元晨星海天龙凯正大新源安康嘉德润宇汇通启明东方立合亿力永昌聚隆光耀"
INDUSTRIES = {  # industry chain code: (Chinese business words, English)
    "new_energy": [("新能源", "New Energy"), ("光伏科技", "Photovoltaic"), ("锂电", "Lithium Battery")],
    "biomedicine": [("医药", "Pharmaceutical"), ("生物科技", "Biotech"), ("医疗器械", "Medical Devices")],
    "advanced_equipment": [("精密机械", "Precision Machinery"), ("智能装备", "Intelligent Equipment")],
    "next_gen_it": [("信息技术", "Information Technology"), ("半导体", "Semiconductor"), ("软件", "Software")],
    "new_materials": [("新材料", "New Materials"), ("化工", "Chemical")],
    "modern_services": [("物流", "Logistics"), ("投资", "Investment"), ("供应链管理", "Supply Chain")],
}
SUFFIXES = ["有限公司", "股份有限公司", "集团有限公司", "科技有限公司"]
FOSUN = [("复星医药(集团)股份有限公司", "Fosun Pharma (Group) Co., Ltd."),
         ("上海复星医药（集团）股份有限公司", "Shanghai Fosun Pharmaceutical (Group) Co., Ltd."),
         ("复星国际有限公司", "Fosun International Limited"), ("复星医药(菏泽)有限公司", ""),
         ("复星健康科技（深圳）有限公司", "Fosun Health Technology (Shenzhen)"), ("上海复星高科技(集团)有限公司", "")]
FOREIGN = [("Bosen", "德国", "斯图加特"), ("Marukawa", "日本", "大阪"), ("Sejin", "韩国", "首尔"),
           ("Lindqvist", "瑞典", "哥德堡"), ("Moreau", "法国", "里昂"), ("Hartmann", "德国", "慕尼黑"),
           ("Keller", "瑞士", "苏黎世"), ("Norwood", "美国", "波士顿"), ("Tanaka", "日本", "名古屋")]
FOREIGN_FORMS = ["{brand} {industry} GmbH", "{brand} {industry} Co., Ltd.", "{brand} {industry} Inc.", "{brand} {industry} AG"]
TAGS = ["重点客商", "意向客商", "外资", "基金", "出口企业", "考察点", "上市公司", "专精特新", "高新技术企业", "在谈", "已签约", "500强"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰建文辉鹏飞宁欣晓雪琳浩宇晨阳博佳志鸿海波"
EN_FIRST = ["Anna", "Michael", "Sophie", "Lukas", "Emma", "Daniel", "Yuki", "Min-jun", "Claire", "Erik"]
EN_LAST = ["Müller", "Schmidt", "Weber", "Sato", "Kim", "Martin", "Berg", "Smith", "Fischer", "Suzuki"]
TITLES = ["总经理", "董事长", "投资总监", "副总经理", "战略发展部经理", "项目经理", "财务总监", "办公室主任", "副总裁"]


@dataclass
class Generated:
    industry_ids: dict[str, int]
    person_name: str  # a three-character Chinese contact name present in the data
    timeline_org_id: int  # a zone enterprise with exactly activity.TIMELINE_ENTRIES timeline entries
    busiest_org_id: int  # the zone enterprise most tours stop at
    busiest_entries: int  # its timeline entries
    week: tuple[str, str]  # a past Monday and Sunday, ISO dates
    week_visits: int
    timeline_org_visits: int
    word_visits: dict[str, int] = field(default_factory=dict)  # header-search word: visits whose text has it
    search_terms: int = 0


@contextmanager
def _memoized_pinyin() -> Iterator[None]:
    """crm.search_text unchanged, but each distinct name is converted to pinyin once (contact names repeat): its own
    seam, `search_text._pinyin()` (which loads pypinyin on first use and returns its converter), is replaced for the
    duration by one returning a memoized converter."""
    original = search_text._pinyin
    memoized = functools.lru_cache(maxsize=None)(original())
    search_text._pinyin = lambda: memoized
    try:
        yield
    finally:
        search_text._pinyin = original


def _stored_tags(tags: list[str]) -> str:
    return f",{','.join(tags)}," if tags else ""


def _chinese_person(rng: random.Random) -> str:
    while True:
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2, 2))))
        if "复星" not in name:
            return name


class _Names:
    """Unique organization names: Chinese companies (with pinyin English names) and foreign ones."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()
        self.pinyin: dict[str, str] = {}

    def _unique(self, name: str) -> bool:
        if name in self.seen or "复星" in name:
            return False
        self.seen.add(name)
        return True

    def chinese(self, chain: str) -> tuple[str, str, str]:
        while True:
            (region, region_en), (word, word_en) = self.rng.choice(REGIONS), self.rng.choice(INDUSTRIES[chain])
            brand = "".join(self.rng.sample(BRAND_CHARS, 2))
            suffix = self.rng.choice(SUFFIXES)
            name = f"{region}{brand}{word}{suffix}" if self.rng.random() < 0.6 else f"{brand}{word}({region}){suffix}"
            if self._unique(name):
                brand_en = self.pinyin.setdefault(brand, "".join(lazy_pinyin(brand)).capitalize())
                name_en = f"{region_en} {brand_en} {word_en} Co., Ltd." if self.rng.random() < 0.6 else ""
                return name, name_en, region

    def foreign(self, chain: str) -> tuple[str, str, str]:
        while True:
            brand, country, city = self.rng.choice(FOREIGN)
            brand = f"{brand}{self.rng.choice(['', ' Nordic', ' Asia', ' Holdings', ' Technik', ' Pacific'])}"
            name = self.rng.choice(FOREIGN_FORMS).format(brand=brand, industry=self.rng.choice(INDUSTRIES[chain])[1])
            name = f"{name} {self.rng.randint(1, 999)}" if name in self.seen else name
            if self._unique(name):
                return name, country, city


def _contacts(rng: random.Random, org_ids: list[int], foreign: set[int], now: datetime) -> list[dict]:
    rows = []
    for org_id in sorted(rng.choices(org_ids, k=CONTACTS)):
        if org_id in foreign and rng.random() < 0.7:
            name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
        else:
            name = _chinese_person(rng)
        mobile = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" if rng.random() < 0.8 else ""
        email = f"user{len(rows)}@example.com" if rng.random() < 0.5 else ""
        wechat = f"wx_{rng.randrange(10**8):08d}" if rng.random() < 0.3 else ""
        updated = now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        rows.append({
            "id": len(rows) + 1, "organization_id": org_id, "name": name, "title": rng.choice(TITLES),
            "mobile": mobile, "phone": "", "email": email, "wechat": wechat, "notes": "",
            "archived_at": updated if rng.random() < 0.01 else None,
            "created_at": updated - timedelta(days=rng.randrange(200)), "updated_at": updated,
        })
    return rows


def _insert(cur: sqlite3.Cursor, table: Table, rows: list[dict]) -> None:
    """Core's executemany without its per-row overhead: each column's own bind processor (UTC datetimes, dates,
    JSON, numerics) applied to the values, its scalar default filled in when the rows leave it out."""
    if not rows:
        return
    columns = list(table.c)
    defaults = {c.name: getattr(c.default.arg, "value", c.default.arg)  # StrEnum defaults as plain str
                for c in columns if c.default is not None and c.default.is_scalar and c.name not in rows[0]}
    defaults |= {c.name: None for c in columns if c.name not in rows[0] and c.name not in defaults and c.nullable}
    if missing := [c.name for c in columns if c.name not in rows[0] and c.name not in defaults]:
        raise ValueError(f"{table.name}: no value for {missing}")
    if defaults:
        for row in rows:
            row.update(defaults)
    names = [c.name for c in columns]
    get = itemgetter(*names)
    processors = [(i, p) for i, c in enumerate(columns) if (p := c.type._cached_bind_processor(_DIALECT)) is not None]

    def values() -> Iterator[list]:
        for row in rows:
            out = list(get(row))
            for i, process in processors:
                if out[i] is not None:
                    out[i] = process(out[i])
            yield out

    cur.executemany(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", values())


def _insert_terms(cur: sqlite3.Cursor, kinds: list[tuple[str, list[dict]]], step: Callable[[str], None]) -> int:
    """search_term rows for each record's search_text, inserted in primary-key order (term, kind, record_id) with the
    (kind, record_id) index dropped and rebuilt afterwards: tens of millions of rows, appended rather than scattered."""
    postings: dict[tuple[str, str], array] = {}
    for kind, rows in kinds:
        for row in rows:  # in id order, so each posting list comes out sorted
            for term in search_service.terms(row["search_text"]):
                key = (term, kind)
                if (ids := postings.get(key)) is None:
                    ids = postings[key] = array("i")
                ids.append(row["id"])
    step(f"{sum(len(ids) for ids in postings.values()):,} search terms computed")
    index_sql = cur.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'search_term' "
                            "AND sql IS NOT NULL").fetchall()
    for (sql,) in index_sql:
        cur.execute(f"DROP INDEX {sql.split()[2]}")
    # Python orders str by code point, SQLite's BINARY collation by UTF-8 bytes: the same order. One statement per
    # posting list, its ids as a JSON array that SQLite unpacks (four times as fast as a row per parameter set).
    cur.executemany("INSERT INTO search_term (term, kind, record_id) SELECT ?, ?, value FROM json_each(?)",
                    ((term, kind, json.dumps(postings[term, kind].tolist())) for term, kind in sorted(postings)))
    step("search terms inserted")
    for (sql,) in index_sql:
        cur.execute(sql)
    return sum(len(ids) for ids in postings.values())


@contextmanager
def _bulk_connection(path: str) -> Iterator[sqlite3.Cursor]:
    """One transaction without a journal or fsync, for building the throwaway database only; WAL again afterwards,
    as the app runs it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        cur = conn.cursor()
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY",
                       "locking_mode=EXCLUSIVE"):
            cur.execute(f"PRAGMA {pragma}")
        cur.execute("BEGIN")
        yield cur
        cur.execute("COMMIT")
        cur.execute("PRAGMA locking_mode=NORMAL")
        cur.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def generate(url: str, *, seed: int = 20211206, log: Callable[[str], None] = print) -> Generated:
    """Migrate the (empty) database at `url`, add the benchmark's users, organizations, contacts, visits, tours,
    tasks and audit trail, and the search index of all of it."""
    started = time.monotonic()

    def step(what: str) -> None:
        log(f"  {time.monotonic() - started:5.0f} s  {what}")

    migrate.upgrade(url)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    database = Database(url)
    try:
        with database.write_session() as session:
            officer = auth_service.create_user(
                session, username=USERNAME, display_name="张晓明", password=PASSWORD, role="officer", actor=None
            )
            industry_ids = dict(session.execute(select(IndustryChain.code, IndustryChain.id)).all())
            officer_id, password_hash = officer.id, officer.password_hash
    finally:
        database.dispose()

    names = _Names(rng)
    kinds = [k.value for k in OrganizationKind]
    orgs: list[dict] = []
    foreign: set[int] = set()
    fosun = dict(zip(rng.sample(range(1, ORGANIZATIONS + 1), len(FOSUN)), FOSUN, strict=True))
    for org_id in range(1, ORGANIZATIONS + 1):
        chain, country, credit_code = rng.choice(list(INDUSTRIES)), "中国", None
        ownership = rng.choice([Ownership.STATE, Ownership.PRIVATE, Ownership.JOINT_VENTURE])
        if org_id in fosun:
            (name, name_en), chain, city = fosun[org_id], "biomedicine", "上海"
        elif rng.random() < 0.15:
            (name, country, city), name_en, ownership = names.foreign(chain), "", Ownership.FOREIGN
            foreign.add(org_id)
        else:
            name, name_en, city = names.chinese(chain)
            credit_code = f"91371700MA{org_id:07d}"
            credit_code += credit_code_check_char(credit_code)
        updated = now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        orgs.append({
            "id": org_id, "name": name, "name_normalized": search_text.normalize_name(name),
            "name_sort": search_text.sort_key(name), "name_en": name_en, "credit_code": credit_code,
            "kind": rng.choices(kinds, weights=[60, 25, 5, 5, 5])[0],
            "industry_chain_id": industry_ids[chain] if rng.random() < 0.9 else None,
            "ownership": ownership.value, "country_region": country, "city": city, "address": "", "website": "",
            "tags": _stored_tags(rng.sample(TAGS, rng.choice((0, 1, 1, 2, 3)))), "description": "",
            "owner_id": officer_id if rng.random() < 0.5 else None,
            "archived_at": updated if rng.random() < 0.02 else None,
            "created_at": updated - timedelta(days=rng.randrange(400)), "updated_at": updated,
        })

    contacts = _contacts(rng, [o["id"] for o in orgs], foreign, now)
    contact_names: dict[int, list[str]] = {}
    with _memoized_pinyin():
        for c in contacts:
            org = orgs[c["organization_id"] - 1]
            c["search_text"] = search_text.build(
                c["name"], extra=(org["name"], c["title"], c["mobile"], c["email"], c["wechat"])
            )
            if c["archived_at"] is None:  # in id order, as the service's query returns them
                contact_names.setdefault(c["organization_id"], []).append(c["name"])
        for org in orgs:
            org["search_text"] = search_text.build(org["name"], org["name_en"], *contact_names.get(org["id"], []))
        step(f"{len(orgs):,} organizations and {len(contacts):,} contacts")
        work = activity.generate(rng, now=now, orgs=orgs, contacts=contacts, officer_id=officer_id,
                                 password_hash=password_hash, industry_ids=industry_ids, fosun_ids=list(fosun))
    step(f"{len(work.visits):,} visits, {len(work.tour_stops):,} tour stops, {len(work.tasks):,} tasks, "
         f"{len(work.audits):,} audit entries")

    tag_ids = {name: i for i, name in enumerate(TAGS, start=1)}
    organization_tags = [{"organization_id": org["id"], "tag_id": tag_ids[t]}
                         for org in orgs for t in org["tags"].split(",") if t]
    with _bulk_connection(make_url(url).database) as cur:
        first_audit = cur.execute("SELECT coalesce(max(id), 0) + 1 FROM audit_entry").fetchone()[0]
        for n, audit in enumerate(work.audits, start=first_audit):  # after the officer's creation
            audit["id"] = n
        for table, rows in ((Organization.__table__, orgs), (Contact.__table__, contacts),
                            (Tag.__table__, [{"id": i, "name": n} for n, i in tag_ids.items()]),
                            (OrganizationTag.__table__, organization_tags), (User.__table__, work.users),
                            (Visit.__table__, work.visits), (VisitOrganization.__table__, work.visit_organizations),
                            (VisitMember.__table__, work.visit_members), (VisitHost.__table__, work.visit_hosts),
                            (VisitIndustry.__table__, work.visit_industries), (TourStop.__table__, work.tour_stops),
                            (Task.__table__, work.tasks), (AuditEntry.__table__, work.audits)):
            _insert(cur, table, rows)
        step("rows inserted")
        terms = _insert_terms(cur, [("organization", orgs), ("contact", contacts), ("visit", work.visits)], step)
        step(f"{terms:,} search_term rows inserted and indexed")
    step("committed")

    person = next(c["name"] for c in contacts[len(contacts) // 2:] if len(c["name"]) == 3 and c["name"][0] in SURNAMES
                  and c["archived_at"] is None)
    return Generated(
        industry_ids=industry_ids, person_name=person, timeline_org_id=work.timeline_org_id,
        busiest_org_id=work.busiest_org_id, busiest_entries=work.busiest_entries,
        week=(work.week[0].isoformat(), work.week[1].isoformat()), week_visits=work.week_visits,
        timeline_org_visits=work.timeline_org_visits, word_visits=work.word_visits, search_terms=terms,
    )
