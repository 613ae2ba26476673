"""`python -m bench.projects`: the project pipeline's pages under load, on 100,000 projects.

Builds a fresh SQLite database in var/bench-projects/: the main benchmark's data (bench/generate.py: 20,000
organizations, 60,000 contacts, visits, tasks, the bench officer), then 100,000 projects spread over the stages with
their investors, assigned officers, stage history, permit checklists (seven items each), collective decisions,
land parcels and search index, and a collective groundbreaking with 60 projects on its slate. Then one uvicorn
worker (bench/server.py) and wrk (bench/wrk.py) against:

- the kanban board for one officer's projects (about 300 cards),
- the table with its totals per stage and funnel (all 100,000 projects the officer may see; and one officer's),
- the readiness board of the event (60 slated projects, as a manager sees it),
- the ceiling (bench/app.py: fixed bytes the size of the board page).

It prints requests per second, p50 and p99 (saturated, 16 connections), the share of the ceiling, and the p99 of 16
clients offering 3% of the ceiling's rate (bench/rate.py). BENCH_DURATION (default 10 s per URL) and
BENCH_CONNECTIONS as for `make bench`; BENCH_REUSE=1 measures the database the last run built, if there is one and
it was built today by the same code (bench/cache.py's key, with this file; the pages only read, so a database stays
as generated), and says why when it was not. BENCH_SMOKE=1: 1% of the data, one-second measurements, nothing judged
(bench/settings.py). Results in var/bench-projects/results.json; see docs/performance.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from sqlalchemy import make_url, select

from bench import cache, generate, rate, settings, wrk
from bench.app import CEILING_PATH
from bench.server import ROOT, BenchError, Server, check, sign_in
from crm import search_text
from crm.auth import service as auth_service
from crm.auth.models import User
from crm.db import Database
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.organizations.models import Organization
from crm.parcels.models import LandParcel
from crm.projects.models import (
    PIPELINE,
    ApprovalItem,
    ApprovalTemplate,
    Decision,
    Project,
    ProjectOfficer,
    ProjectOrganization,
    Stage,
    StageChange,
)

BENCH_DIR = settings.var_dir("bench-projects")
PROJECTS = settings.scaled(100_000)
OFFICERS = settings.scaled(400)  # project owners: one officer's projects (owned or assigned) fill a board of ~300 cards
PARCELS = settings.scaled(600)
SLATE = settings.scaled(60)
MANAGER, MANAGER_PASSWORD = "bench-manager", "bench-pass-1"  # a throwaway user in a throwaway database
GOAL_SHARE = 0.03
GOAL_P99_MS = 100.0
# Where the projects stand: most are early in the pipeline.
STAGE_WEIGHTS = {Stage.LEAD: 30, Stage.CONTACT: 20, Stage.NEGOTIATING: 15, Stage.SIGNED: 8, Stage.REGISTERED: 6,
                 Stage.LAND_SUPPLIED: 5, Stage.PERMITS: 5, Stage.GROUNDBREAKING: 4, Stage.OPERATING: 4,
                 Stage.ON_HOLD: 2, Stage.DROPPED: 1}
WORDS = ["新能源", "生物医药", "精密制造", "智能装备", "新材料", "数据中心", "冷链物流", "电子信息", "储能", "半导体封测"]
KINDS = ["生产基地", "研发中心", "产业园", "扩产", "总部", "二期"]


@dataclass
class Facts:
    officer_id: int
    manager_id: int
    event_id: int
    board_cards: int  # projects of the bench officer (owned or assigned)
    visible: int  # projects the bench officer may see


def _projects(rng: random.Random, *, now: datetime, org_names: dict[int, str], owner_ids: list[int],
              templates: list[ApprovalTemplate], parcel_ids: list[int], chain_ids: list[int]) -> dict[str, list[dict]]:
    stages, weights = list(STAGE_WEIGHTS), list(STAGE_WEIGHTS.values())
    org_ids = list(org_names)
    out: dict[str, list[dict]] = {"project": [], "project_organization": [], "project_officer": [],
                                  "project_stage_change": [], "approval_item": [], "project_decision": []}
    item_id = change_id = decision_id = 0
    for pid in range(1, PROJECTS + 1):
        stage = rng.choices(stages, weights)[0]
        last_pipeline = stage if stage in PIPELINE else rng.choice(PIPELINE[:3])
        reached = PIPELINE.index(last_pipeline)
        entered = now - timedelta(hours=rng.randrange(1, 24 * 150))
        path = [*PIPELINE[:reached + 1], *([stage] if stage not in PIPELINE else [])]
        created = entered - timedelta(days=10 * (len(path) - 1) + rng.randrange(30))
        investors = rng.sample(org_ids, rng.choice((1, 1, 1, 2)))
        total = Decimal(int(rng.lognormvariate(9.2, 1.1))).quantize(Decimal("0.01")) if rng.random() < 0.95 else None
        foreign = rng.random() < 0.12
        owner = rng.choice(owner_ids)
        name = f"{org_names[investors[0]][:8]}{rng.choice(WORDS)}{rng.choice(KINDS)}项目"
        land_done = reached >= PIPELINE.index(Stage.LAND_SUPPLIED)
        parcel = rng.choice(parcel_ids) if land_done and rng.random() < 0.4 else None
        out["project"].append({
            "id": pid, "name": name, "industry_chain_id": rng.choice(chain_ids), "description": "",
            "total_investment_wan_cny": total, "fixed_investment_wan_cny": None, "is_foreign_invested": foreign,
            "foreign_capital_wan_usd": Decimal(rng.randrange(100, 20000)) if foreign else None,
            "registered_capital_wan_cny": None, "land_need_mu": Decimal(rng.randrange(10, 400)), "annual_output_wan_cny": None,
            "annual_tax_wan_cny": None, "jobs": rng.randrange(20, 2000), "source": rng.choice(["visit", "referral", "exhibition", "online", "other"]),
            "source_visit_id": None, "source_note": "", "owner_id": owner, "is_confidential": rng.random() < 0.05,
            "stage": stage.value, "stage_entered_at": entered, "pipeline_stage": last_pipeline.value,
            "stage_reason": "演示暂缓" if stage in (Stage.ON_HOLD, Stage.DROPPED) else "",
            "target_signing_on": None, "target_groundbreaking_on": None, "target_operation_on": None,
            "signed_on": None, "groundbreaking_on": None, "operation_on": None, "parcel_id": parcel,
            "land_certificate_no": "" if parcel or not land_done else f"鲁(2026)菏泽市不动产权第{pid:07d}号",
            "gate_override_reason": "", "gate_override_by_id": None, "gate_override_at": None,
            "search_text": search_text.build(name, *(org_names[o] for o in investors)),
            "created_by_id": owner, "created_at": created, "updated_at": entered, "version": 1,
        })
        for position, org_id in enumerate(investors):
            out["project_organization"].append({"project_id": pid, "organization_id": org_id, "position": position})
        if rng.random() < 0.3:
            helper = rng.choice(owner_ids)
            if helper != owner:
                out["project_officer"].append({"project_id": pid, "user_id": helper})
        for step, to_stage in enumerate(path):
            change_id += 1
            out["project_stage_change"].append({
                "id": change_id, "project_id": pid, "from_stage": path[step - 1].value if step else "",
                "to_stage": to_stage.value, "at": entered - timedelta(days=10 * (len(path) - 1 - step)),
                "actor_id": owner, "note": "", "gate_override": False})
        for position, template in enumerate(templates):
            item_id += 1
            status, accepted = "not_started", None
            if reached >= PIPELINE.index(Stage.GROUNDBREAKING):
                status = "approved"
            elif reached >= PIPELINE.index(Stage.SIGNED):
                status = rng.choices(["approved", "accepted", "submitted", "not_started"], [4, 3, 1, 2])[0]
            if status != "not_started":
                accepted = (now - timedelta(days=rng.randrange(1, 60))).date()
            out["approval_item"].append({
                "id": item_id, "project_id": pid, "code": template.code, "name_zh": template.name_zh,
                "name_en": template.name_en, "position": position, "status": status, "submitted_on": accepted,
                "accepted_on": accepted if status in ("accepted", "approved") else None,
                "approved_on": accepted + timedelta(days=3) if status == "approved" else None,
                "promised_days": template.promised_days, "assistant": "", "note": "", "updated_at": entered})
        major = total is not None and total >= 10000
        if major and (reached > PIPELINE.index(Stage.NEGOTIATING) or (reached == PIPELINE.index(Stage.NEGOTIATING)
                                                                       and rng.random() < 0.3)):
            decision_id += 1
            out["project_decision"].append({
                "id": decision_id, "project_id": pid, "meeting_kind": "joint",
                "meeting_on": (entered - timedelta(days=5)).date(), "outcome": "approved", "resolution": "同意",
                "recorded_by_id": owner, "created_at": entered})
    return out


def build(database_path, log: Callable[[str], None]) -> Facts:
    url = f"sqlite:///{database_path}"
    base = generate.generate(url, log=log)
    started = time.monotonic()
    rng = random.Random(20211206)
    now = datetime.now(UTC)
    database = Database(url)
    try:
        with database.write_session() as session:
            manager = auth_service.create_user(session, username=MANAGER, display_name="练建军",
                                               password=MANAGER_PASSWORD, role="manager", actor=None)
            officer_id = session.scalar(select(User.id).where(User.username == generate.USERNAME))
            password_hash = session.scalar(select(User.password_hash).where(User.id == officer_id))
            templates = list(session.scalars(select(ApprovalTemplate).order_by(ApprovalTemplate.position)))
            org_names = dict(session.execute(select(Organization.id, Organization.name)).all())
            first_user = (session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) or 0) + 1
            manager_id = manager.id
    finally:
        database.dispose()
    users = [{"id": first_user + n, "username": f"project-officer-{n}", "display_name": f"专员{n:03d}", "title": "",
              "email": "", "role": "officer", "locale": "zh_CN", "password_hash": password_hash, "is_active": True,
              "created_at": now, "updated_at": now, "version": 1} for n in range(OFFICERS - 1)]
    owner_ids = [officer_id, *(u["id"] for u in users)]
    parcels = [{"id": n, "code": f"BENCH-{n:04d}", "name": f"开发区工业地块{n:04d}", "location": "", "bounds": "",
                "land_area_m2": Decimal(rng.randrange(20000, 200000)), "building_area_m2": None, "planned_use": "工业用地",
                "status": "supplied", "households_total": None, "households_signed": 0, "signing_starts_on": None,
                "signing_ends_on": None, "compensation_cash": False, "compensation_swap": False,
                "public_facilities": "", "notes": "", "created_at": now, "updated_at": now, "version": 1}
               for n in range(1, PARCELS + 1)]
    rows = _projects(rng, now=now, org_names=org_names, owner_ids=owner_ids, templates=templates,
                     parcel_ids=[p["id"] for p in parcels], chain_ids=list(base.industry_ids.values()))
    log(f"  {time.monotonic() - started:5.0f} s  {PROJECTS:,} projects, {len(rows['project_stage_change']):,} stage "
        f"changes, {len(rows['approval_item']):,} approval items, {len(rows['project_decision']):,} decisions")
    slated = [p for p in rows["project"] if p["stage"] in ("signed", "registered", "land_supplied", "permits")]
    slate = rng.sample(slated, SLATE)
    event = {"id": 1, "name": "12月项目集中奠基开工", "held_on": (now + timedelta(days=14)).date(), "place": "",
             "note": "", "created_at": now, "version": 1}
    with generate._bulk_connection(make_url(url).database) as cur:
        for table, data in ((User.__table__, users), (LandParcel.__table__, parcels), (Project.__table__, rows["project"]),
                            (ProjectOrganization.__table__, rows["project_organization"]),
                            (ProjectOfficer.__table__, rows["project_officer"]),
                            (StageChange.__table__, rows["project_stage_change"]),
                            (ApprovalItem.__table__, rows["approval_item"]), (Decision.__table__, rows["project_decision"]),
                            (GroundbreakingEvent.__table__, [event]),
                            (SlatedProject.__table__, [{"event_id": 1, "project_id": p["id"], "position": i,
                                                        "added_at": now} for i, p in enumerate(slate)])):
            generate._insert(cur, table, data)
        log(f"  {time.monotonic() - started:5.0f} s  rows inserted")
        terms = generate._insert_terms(cur, [("project", rows["project"])], lambda what: log(f"  {time.monotonic() - started:5.0f} s  {what}"))
        cur.execute("ANALYZE")
        log(f"  {time.monotonic() - started:5.0f} s  {terms:,} project search terms; analysed")
    mine = {p["id"] for p in rows["project"] if p["owner_id"] == officer_id}
    mine |= {r["project_id"] for r in rows["project_officer"] if r["user_id"] == officer_id}
    visible = sum(1 for p in rows["project"] if not p["is_confidential"] or p["id"] in mine)
    return Facts(officer_id=officer_id, manager_id=manager_id, event_id=1, board_cards=len(mine), visible=visible)


@dataclass
class Measured:
    name: str
    path: str
    as_manager: bool = False


def pages(facts: Facts) -> list[Measured]:
    mine = urlencode({"officer": facts.officer_id})
    return [
        Measured(f"kanban, one officer's projects ({facts.board_cards} cards)", f"/projects/board?{mine}"),
        Measured(f"table with totals per stage, all {facts.visible:,} visible", "/projects"),
        Measured(f"table with totals per stage, one officer's ({facts.board_cards})", f"/projects?{mine}"),
        Measured(f"readiness board, {SLATE} slated (manager)", f"/groundbreaking/{facts.event_id}", True),
        Measured("ceiling", CEILING_PATH),
    ]


def data_key() -> dict:
    """What this module's database depends on (bench/cache.py): the main benchmark's data, and the projects here."""
    return cache.key("bench/projects.py")


def copy_or_build(path) -> Facts:
    """This module's database at `path` for another benchmark: copied when BENCH_REUSE=1 and its key matches (the
    reason printed when it does not), otherwise built; then migrated. Its facts."""
    import sqlite3

    from crm import migrate

    source, source_facts = BENCH_DIR / "crm.sqlite3", BENCH_DIR / "facts.json"
    reuse = os.environ.get("BENCH_REUSE") == "1"
    why_not = database_refused(BENCH_DIR) if reuse else None
    if why_not:
        print(f"not reusing {source.relative_to(ROOT)} (BENCH_REUSE=1): {why_not}", flush=True)
    if reuse and why_not is None:
        print(f"copying {source.relative_to(ROOT)} (BENCH_REUSE=1)", flush=True)
        with sqlite3.connect(source) as conn:  # what is still in its write-ahead log goes into the file first
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(source, path)
        facts = Facts(**json.loads(source_facts.read_text()))
    else:
        print(f"generating the main benchmark's data and {PROJECTS:,} projects …", flush=True)
        facts = build(path, log=lambda line: print(line, flush=True))
    migrate.upgrade(f"sqlite:///{path}")  # a database built before the latest migrations gets them
    return facts


def database_refused(directory) -> str | None:
    """Why the database this module built in `directory` must not be reused (None: it may be)."""
    if not (directory / "crm.sqlite3").exists() or not (directory / "facts.json").exists():
        return "there is none yet"
    return cache.why_not(directory / "key.json", data_key())


def main() -> int:
    seconds, warm_up = settings.DURATION, settings.WARM_UP
    settings.announce("bench.projects")
    wrk.wrk_path()
    database_path, facts_path = BENCH_DIR / "crm.sqlite3", BENCH_DIR / "facts.json"
    reuse = os.environ.get("BENCH_REUSE") == "1"
    why_not = database_refused(BENCH_DIR) if reuse else None
    if reuse and why_not is None:
        facts = Facts(**json.loads(facts_path.read_text()))
        print(f"measuring the database built earlier, {database_path.relative_to(ROOT)} (BENCH_REUSE=1)", flush=True)
    else:
        if why_not:
            print(f"not reusing {database_path.relative_to(ROOT)} (BENCH_REUSE=1): {why_not}", flush=True)
        shutil.rmtree(BENCH_DIR, ignore_errors=True)
        BENCH_DIR.mkdir(parents=True)
        started = time.monotonic()
        key = data_key()
        print(f"generating the main benchmark's data, then {PROJECTS:,} projects …", flush=True)
        facts = build(database_path, log=lambda line: print(line, flush=True))
        facts_path.write_text(json.dumps(dataclasses.asdict(facts)) + "\n")
        cache.write(BENCH_DIR / "key.json", key)
        print(f"  database ready in {time.monotonic() - started:.0f} s "
              f"({database_path.stat().st_size / 2**30:.1f} GiB)", flush=True)

    ceiling_file = BENCH_DIR / "board_page.html"
    results: list[tuple[Measured, wrk.Result, rate.RateResult | None]] = []
    with Server(database_url=f"sqlite:///{database_path}", data_dir=BENCH_DIR, ceiling_file=ceiling_file) as server:
        port = server.port
        officer = {"Cookie": f"crm_session={sign_in(port, generate.USERNAME, generate.PASSWORD)}"}
        manager = {"Cookie": f"crm_session={sign_in(port, MANAGER, MANAGER_PASSWORD)}"}
        measured = pages(facts)
        ceiling_file.write_bytes(check(port, measured[0].path, officer))
        for page in measured:
            check(port, page.path, manager if page.as_manager else officer)
        print(f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS}, {warm_up} s warm-up and {seconds} s per URL; then "
              f"{rate.CLIENTS} clients at {GOAL_SHARE:.0%} of the ceiling's req/s", flush=True)
        measured.insert(0, measured.pop())  # the ceiling first: the goal load is a share of it
        goal_rps = 0.0
        for page in measured:
            headers = manager if page.as_manager else officer
            url = f"http://127.0.0.1:{port}{page.path}"
            if warm_up:
                wrk.run(url, headers, seconds=warm_up)
            result = wrk.run(url, headers, seconds=seconds)
            loaded = None
            if page.path == CEILING_PATH:
                goal_rps = GOAL_SHARE * result.rps
            else:
                loaded = rate.run(port, page.path, headers, rate=goal_rps, seconds=seconds)
            check(port, page.path, headers)
            if logged := server.new_output():
                raise BenchError(f"the server logged errors while serving {page.path}:\n" + logged[-2000:])
            results.append((page, result, loaded))
            print(f"  {page.name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:,.0f} ms, p99 {result.p99_ms:,.0f} ms"
                  + (f"; at {loaded.offered_rps:.0f} req/s p99 {loaded.p99_ms:,.1f} ms" if loaded else ""), flush=True)

    results.append(results.pop(0))
    ceiling_rps = results[-1][1].rps
    report = []
    print(f"\n{'page':<58}{'req/s':>7}{'% ceiling':>11}{'p50':>7}{'p99':>7}{'at load':>9}{'p99':>8}  goal met")
    for page, r, loaded in results:
        met = None if loaded is None else (r.rps >= GOAL_SHARE * ceiling_rps and loaded.p99_ms < GOAL_P99_MS)
        report.append({"name": page.name, "path": page.path, "rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                       "ceiling_rps": ceiling_rps, "load_rps": loaded.offered_rps if loaded else None,
                       "p99_ms_at_load": loaded.p99_ms if loaded else None, "met": met})
        at_load = f"{loaded.offered_rps:>9.0f}{loaded.p99_ms:>8.1f}" if loaded else f"{'':>17}"
        print(f"{page.name:<58}{r.rps:>7.0f}{100 * r.rps / ceiling_rps:>10.1f}%{r.p50_ms:>7.0f}{r.p99_ms:>7.0f}"
              f"{at_load}  {'—' if met is None else ('yes' if met else 'NO')}")
    (BENCH_DIR / "results.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(f"\ngoal: ≥ {GOAL_SHARE:.0%} of the ceiling's req/s and p99 < {GOAL_P99_MS:.0f} ms for {rate.CLIENTS} "
          f"clients at that rate{' (smoke run: not judged)' if settings.SMOKE else ''}; results in "
          f"{(BENCH_DIR / 'results.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench.projects failed: {error}", file=sys.stderr)
        sys.exit(1)

