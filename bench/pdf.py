"""PDF benchmark (run by `make bench`, or `python -m bench.pdf`): the Fosun demo visit's briefing pack and a
60-project groundbreaking roster, on a fresh SQLite database with the demo loaded.

Measures: the Fosun pack warm in-process (data, HTML and PDF; best and median of 5 after a warm-up), the same from a
cold process (`crm briefing … --variant internal`, a new interpreter: it starts its render process, imports the CRM,
reads the visit, renders, keeps the file and writes it), a new render process of the web app's pool, the pack's size
and pages, the 60-project roster, and the peak resident memory of the render process and of the cold command. Goals (issue 7): warm < 600 ms, cold < 2 s, PDF < 300 KB,
roster < 2 s, peak memory < 250 MB. Writes var/bench/pdf.json; see docs/performance.md. BENCH_SMOKE=1: a 1-project
roster and every timing once, nothing judged (bench/settings.py).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import settings

ROOT = settings.ROOT
OUT = settings.var_dir("bench") / "pdf.json"
TIMEZONE = "Asia/Shanghai"
ROSTER_PROJECTS = settings.scaled(60)


def build(url: str) -> None:
    from sqlalchemy import insert, update

    from crm import demo, migrate
    from crm.auth.models import User
    from crm.db import Database
    from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
    from crm.organizations.models import Organization
    from crm.projects import service as project_service
    from crm.projects.models import Project

    migrate.upgrade(url)
    database = Database(url)
    with database.write_session() as session:
        demo.load(session, anchor=datetime.now(ZoneInfo(TIMEZONE)).date(), timezone=TIMEZONE)
        manager = session.query(User).filter_by(username="manager").one()
        event = session.query(GroundbreakingEvent).first()
        investor = session.query(Organization).filter_by(name="江苏天合储能").one()
        ids = []
        for i in range(ROSTER_PROJECTS):
            project = project_service.create(session, actor=manager, project_input=project_service.ProjectInput(
                data={"name": f"集中开工项目{i:02d}（虚构）", "stage": "negotiating", "owner_id": manager.id,
                      "total_investment_wan_cny": str(3000 + 97 * i)}, organization_ids=[investor.id], officer_ids=[]))
            ids.append(project.id)
        session.execute(update(Project).where(Project.id.in_(ids)).values(stage="permits", pipeline_stage="permits"))
        session.execute(insert(SlatedProject), [{"event_id": event.id, "project_id": pid, "position": 100 + n}
                                                for n, pid in enumerate(ids)])
        session.commit()
    database.dispose()


def _today() -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date()


def fosun_pack_html(session) -> tuple[str, frozenset[str]]:
    from sqlalchemy import select

    from crm.auth.models import User
    from crm.briefings import documents, service
    from crm.organizations.models import Organization
    from crm.visits import service as visit_service
    from crm.visits.models import VisitOrganization

    fosun = session.scalar(select(Organization).where(Organization.name == "复星集团"))
    visit_id = session.scalar(select(VisitOrganization.visit_id).where(VisitOrganization.organization_id == fosun.id))
    viewer = session.scalar(select(User).where(User.username == "manager"))
    pack = service.pack(session, visit=visit_service.get(session, visit_id), viewer=viewer, variant="internal",
                        timezone=TIMEZONE, today=_today())
    html = documents.pack_html(pack, locale="zh_CN", timezone=TIMEZONE, zone_name="菏泽经济开发区")
    return html, service.attachment_hashes(pack)


def fosun_visit_id(url: str) -> int:
    from sqlalchemy import select

    from crm.db import Database
    from crm.organizations.models import Organization
    from crm.visits.models import VisitOrganization

    database = Database(url)
    with database.read_sessions() as session:
        visit_id = session.scalar(select(VisitOrganization.visit_id).join(
            Organization, Organization.id == VisitOrganization.organization_id).where(Organization.name == "复星集团"))
    database.dispose()
    return visit_id


def roster_html(session) -> str:
    from sqlalchemy import select

    from crm.auth.models import User
    from crm.db import utcnow
    from crm.groundbreaking.models import GroundbreakingEvent
    from crm.pdf import documents
    from crm.projects.schemas import STAGE_LABELS
    from crm.reports import service

    viewer = session.scalar(select(User).where(User.username == "manager"))
    event = session.scalar(select(GroundbreakingEvent))
    board = service.roster(session, event=event, viewer=viewer, today=_today(), threshold=10000,
                           stale_since=utcnow() - timedelta(days=30))
    return documents.render_html("pdf/report_roster.html", {"board": board, "event": event, "stage_labels": STAGE_LABELS,
                                                            "pdf_url": "", "back_url": ""},
                                 locale="zh_CN", timezone=TIMEZONE, zone_name="菏泽经济开发区", title="集中开工准备情况表",
                                 generated_at=utcnow())


def main() -> int:
    from crm.db import Database
    from crm.pdf.fetcher import Resources, render_pdf
    from crm.web import STATIC_DIR

    settings.announce("bench.pdf")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench-pdf.sqlite3"
        print(f"PDF benchmark: building the demo database with a {ROSTER_PROJECTS}-project groundbreaking slate …",
              flush=True)
        build(url)
        database = Database(url)

        def fosun_once() -> tuple[float, float, bytes, int]:
            started, cpu = time.perf_counter(), time.process_time()
            with database.read_sessions() as session:
                html, hashes = fosun_pack_html(session)
            result = render_pdf(html, Resources(static_dir=STATIC_DIR, attachments=hashes))
            return time.perf_counter() - started, time.process_time() - cpu, result.pdf, result.pages

        fosun_once()  # warm-up: fonts, templates
        runs = [fosun_once() for _ in range(settings.repeats(5))]
        warm = [seconds for seconds, _, _, _ in runs]
        warm_cpu = [cpu for _, cpu, _, _ in runs]
        _, _, pdf, pages = runs[-1]

        # the render process the web app uses (crm.pdf.renderer): its peak memory after rendering the pack
        from crm.pdf.renderer import Renderer

        with database.read_sessions() as session:
            html, hashes = fosun_pack_html(session)
        spawn_cold = []
        for _ in range(settings.repeats(2)):  # a new render process: start, import WeasyPrint, load the font, render
            pool = Renderer(workers=1, timeout=60)
            try:
                started = time.perf_counter()
                in_worker = pool.render(html, static_dir=STATIC_DIR, attachments=hashes)
                spawn_cold.append(time.perf_counter() - started)
                for _ in range(settings.repeats(2)):
                    in_worker = pool.render(html, static_dir=STATIC_DIR, attachments=hashes)
            finally:
                pool.close()

        with database.read_sessions() as session:
            html = roster_html(session)
        render_pdf(html, Resources(static_dir=STATIC_DIR))
        roster_runs = []
        for _ in range(settings.repeats(3)):
            started = time.perf_counter()
            with database.read_sessions() as session:
                html = roster_html(session)
            roster = render_pdf(html, Resources(static_dir=STATIC_DIR))
            roster_runs.append(time.perf_counter() - started)
        database.dispose()

        # The cold process is the shell command itself, `crm briefing VISIT --variant internal -o …`, in a new
        # interpreter: it starts its render process, imports the CRM and reads the visit meanwhile, renders, stores
        # the file with the visit and writes it out. wait4 gives its CPU time (with its render process's); the peak
        # memory is what the command prints for itself and its render process (VmHWM: ru_maxrss would carry this
        # big benchmark process's peak over the fork).
        visit_id = fosun_visit_id(url)
        crm_command = str(Path(sys.executable).with_name("crm"))
        env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_DATA_DIR": f"{tmp}/data", "CRM_ENV": "dev"}
        cold_runs, cold_cpu, cold_rss = [], [], []
        for _ in range(settings.repeats(3)):
            started = time.perf_counter()
            command = subprocess.Popen([crm_command, "briefing", str(visit_id), "--variant", "internal", "-o",
                                        f"{tmp}/cold.pdf"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            _, status, usage = os.wait4(command.pid, 0)
            printed = command.stdout.read()
            cold_runs.append(time.perf_counter() - started)
            command.returncode = os.waitstatus_to_exitcode(status)
            if command.returncode != 0:
                raise SystemExit(f"crm briefing failed with exit code {command.returncode}")
            cold_cpu.append(usage.ru_utime + usage.ru_stime)
            memory = re.search(r"peak memory: (\d+) MB in this process, (\d+) MB in the render process", printed)
            cold_rss.append(max(float(memory.group(1)), float(memory.group(2))))
        peak_mb = max(cold_rss)
    load = os.getloadavg()[0]

    figures = {
        "fosun_warm_ms_best": 1000 * min(warm), "fosun_warm_ms_median": 1000 * statistics.median(warm),
        "fosun_cold_s_best": min(cold_runs), "fosun_cold_s_median": statistics.median(cold_runs),
        "fosun_pdf_kb": len(pdf) / 1024, "fosun_pages": pages,
        "roster_s_best": min(roster_runs), "roster_pages": roster.pages, "roster_kb": len(roster.pdf) / 1024,
        "peak_rss_mb_cold_process": peak_mb, "peak_rss_mb_render_process": in_worker.max_rss_mb,
        "fosun_warm_cpu_ms_median": 1000 * statistics.median(warm_cpu), "fosun_cold_cpu_s_median": statistics.median(cold_cpu),
        "load_average_1min": load, "fosun_new_render_process_s_best": min(spawn_cold),
    }
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    goals = [
        ("Fosun pack, warm in-process (data + HTML + PDF)", f"{figures['fosun_warm_ms_best']:.0f} ms best, "
         f"{figures['fosun_warm_ms_median']:.0f} ms median", figures["fosun_warm_ms_median"] < 600, "< 600 ms"),
        ("Fosun pack, cold `crm briefing` command (whole command)", f"{figures['fosun_cold_s_best']:.2f} s best, {figures['fosun_cold_s_median']:.2f} s "
         "median", figures["fosun_cold_s_median"] < 2, "< 2 s"),
        ("Fosun pack, new render process (spawn + first render)", f"{min(spawn_cold):.2f} s best",
         min(spawn_cold) < 2, "< 2 s"),
        ("Fosun pack, size", f"{figures['fosun_pdf_kb']:.0f} KB, {pages} pages", figures["fosun_pdf_kb"] < 300, "< 300 KB"),
        (f"{ROSTER_PROJECTS + 4}-project roster", f"{figures['roster_s_best']:.2f} s, {roster.pages} pages, "
         f"{figures['roster_kb']:.0f} KB", figures["roster_s_best"] < 2, "< 2 s"),
        ("peak memory of a render process (crm.pdf.renderer)", f"{in_worker.max_rss_mb:.0f} MB",
         in_worker.max_rss_mb < 250, "< 250 MB"),
        ("peak memory of the cold command (largest of its processes)", f"{peak_mb:.0f} MB", peak_mb < 250, "< 250 MB"),
        ("CPU time: warm pack / cold process", f"{figures['fosun_warm_cpu_ms_median']:.0f} ms / "
         f"{figures['fosun_cold_cpu_s_median']:.2f} s", None, f"(load {load:.1f})"),
    ]
    print()
    for name, measured, met, goal in goals:
        verdict = "" if met is None else ("yes" if met else "NO")
        print(f"  {name:<56} {measured:<34} goal {goal:<9} {verdict}")
    print(f"  (written to {OUT.relative_to(ROOT)}){' (smoke run: not judged)' if settings.SMOKE else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
