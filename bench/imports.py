"""`python -m bench.imports`: the import wizard (/imports) and the full export (/admin/export.zip) over HTTP, against
a real server process (one uvicorn worker, SQLite, as `make run`), as a user drives them (issue 14):

1. A 50,000-row organization file (客商名录, a contact on every row: 企业名称, 统一社会信用代码, 类型, 城市, 地址,
   联系人, 职务, 手机, 邮箱, 负责人) into an empty zone: upload, the guessed mapping accepted as the map page shows
   it, the preview page (goal: under 20 s), matching, confirm, commit (goal: under 60 s), the server's peak memory
   over the whole import (goal: under +300 MB): its anonymous memory (RssAnon) sampled every 0.1 s, as
   bench.full_export measures; VmHWM − VmRSS is printed beside it, which also counts the pages of the SQLite file
   the server maps (PRAGMA mmap_size: the kernel's cache, dropped under pressure).
2. A 10,000-row project file (项目名称, 投资方 — one or two of the organizations just imported, 项目进度 in the
   ledger's words 在谈/已签约/已开工…, 计划总投资（万元）, 固定资产投资（万元）, 计划签约日期, 负责人, 协办人员):
   commit (goal: under 30 s).
3. Undo of the project batch, then of the 50,000-row organization batch (goal: under 60 s).
4. The full export of the benchmark data set — bench.projects' database (bench.generate's 20,000 organizations,
   60,000 contacts, 200,000 visits, 400,000 follow-ups, plus 100,000 projects; built by `python -m bench.projects`
   when it is not there) — copied with SQLite's backup API, with a server on the copy: GET /admin/export.zip read to
   the end (goal: under 2 minutes, the server's peak memory under +300 MB).

While the organization commit runs, another user's save (a new organization through its form) is tried every
second: each must answer 303 or 503 ("busy"), never 500 — the write-path rule for a long commit. The commit and
the undo run in a thread of the server (the POST answers at once with a progress page): their times are the POST
until the progress page shows the result, polled every half second.

BENCH_IMPORT_ROWS / BENCH_IMPORT_PROJECTS change the file sizes, BENCH_IMPORT_SKIP_EXPORT=1 leaves the export out; BENCH_SMOKE=1 uses 1% of them, exports the small
imports database instead of the big one and judges nothing (bench/settings.py). Results in
var/bench-imports/results.json; see docs/performance.md, "Imports, export (issue 14)".
"""

from __future__ import annotations

import functools
import http.client
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import xlsxwriter

from bench import generate, settings
from bench.server import CSRF_RE, BenchError, Server, sign_in
from crm import migrate
from crm.auth import service as auth_service
from crm.auth.security import use_cheap_hashing
from crm.db import Database
from crm.validators import credit_code_check_char

BENCH_DIR = settings.var_dir("bench-imports")
EXPORT_SOURCE = settings.var_dir("bench-projects") / "crm.sqlite3"  # bench.projects: the data set + 100,000 projects
ORG_ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", settings.scaled(50_000)))
PROJECT_ROWS = int(os.environ.get("BENCH_IMPORT_PROJECTS", settings.scaled(10_000)))
ADMIN, PASSWORD = "bench-admin", "imports-pass-1"
OFFICERS = 12
GOALS = {"org_preview_s": 20.0, "org_commit_s": 60.0, "org_memory_mb": 300.0, "project_commit_s": 30.0,
         "org_undo_s": 60.0, "export_s": 120.0, "export_memory_mb": 300.0}
STAGE_WORDS = ["线索", "在谈", "洽谈", "已签约", "签约", "已开工", "在建", "竣工投产", "已投产", "暂停"]
CITIES = ["苏州", "上海", "深圳", "杭州", "南京", "无锡", "合肥", "成都", "武汉", "宁波"]
WORDS = ["新材料", "生物医药", "智能装备", "新能源", "半导体", "精密制造", "汽车零部件", "数字科技", "环保科技", "食品"]
TIMEOUT = 900


# --- files ---------------------------------------------------------------------------------------------------------

def _code(n: int) -> str:
    body = f"91320500MA{n:07d}"
    return body + credit_code_check_char(body)


@functools.cache
def _names(rows: int) -> tuple[list[str], list[str]]:
    """Organization names as zones have them (bench.generate's: region, brand, industry word, 有限公司 …, unique)
    and contact names (a surname and one or two given characters)."""
    rng = random.Random(1414)
    names = generate._Names(rng)
    chains = list(generate.INDUSTRIES)
    return ([names.chinese(rng.choice(chains))[0] for _ in range(rows)],
            [generate._chinese_person(rng) for _ in range(rows)])


def _xlsx(headers: list[str], rows) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": True})
    sheet = book.add_worksheet("Sheet1")
    sheet.write_row(0, 0, headers)
    for i, row in enumerate(rows, start=1):
        sheet.write_row(i, 0, row)
    book.close()
    return out.getvalue()


def organization_file(rows: int) -> bytes:
    headers = ["企业名称", "统一社会信用代码", "类型", "城市", "地址", "联系人", "职务", "手机", "邮箱", "负责人"]
    rng = random.Random(14)
    names, people = _names(rows)
    return _xlsx(headers, ([names[n - 1], _code(n), "投资方", CITIES[n % 10], f"{CITIES[n % 10]}市工业大道{n}号",
                            people[n - 1], "总经理", f"139{n:08d}", f"c{n}@example.com",
                            f"officer{rng.randrange(OFFICERS):02d}"] for n in range(1, rows + 1)))


def project_file(rows: int, organizations: int) -> bytes:
    headers = ["项目名称", "投资方", "项目进度", "计划总投资（万元）", "固定资产投资（万元）", "计划签约日期", "负责人",
               "协办人员"]
    rng = random.Random(1414)
    names, _people = _names(organizations)

    def row(n: int) -> list:
        first = rng.randrange(organizations)
        investors = names[first]
        if n % 3 == 0:
            investors += f"、{names[(first + 1) % organizations]}"
        total = rng.choice([800, 3000, 12000, 50000, 150000])
        return [f"年产{n}台套{WORDS[n % 10]}项目", investors, STAGE_WORDS[n % len(STAGE_WORDS)], total,
                round(total * 0.7), f"2027年{n % 12 + 1}月{n % 28 + 1}日", f"officer{n % OFFICERS:02d}",
                f"officer{(n + 1) % OFFICERS:02d}"]

    return _xlsx(headers, (row(n) for n in range(1, rows + 1)))


# --- HTTP ----------------------------------------------------------------------------------------------------------

class Browser:
    """One signed-in user: GETs and form POSTs with the session cookie, redirects not followed."""

    def __init__(self, port: int, session: str) -> None:
        self.port, self.cookie = port, f"crm_session={session}"

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
                ) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            headers = {"Cookie": self.cookie}
            if content_type:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheader("Location") or "", response.read().decode(errors="replace")
        finally:
            conn.close()

    def get(self, path: str, expect: int = 200) -> str:
        status, _location, body = self.request("GET", path)
        if status != expect:
            raise BenchError(f"GET {path} answered {status}, not {expect}: {body[:500]}")
        return body

    def post(self, path: str, form: dict | list, expect: int = 303) -> str:
        status, location, body = self.request("POST", path, urlencode(form).encode(),
                                              "application/x-www-form-urlencoded")
        if status != expect:
            raise BenchError(f"POST {path} answered {status}, not {expect}: {_message(body)}")
        return location

    def csrf(self, page: str) -> str:
        match = CSRF_RE.search(page)
        if not match:
            raise BenchError("no CSRF token on the page")
        return match.group(1)

    def upload(self, kind: str, name: str, data: bytes) -> str:
        token = self.csrf(self.get(f"/imports/new?kind={kind}"))
        boundary = uuid.uuid4().hex
        parts = []
        for key, value in (("csrf_token", token), ("kind", kind), ("sheet", "1")):
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        status, location, body = self.request("POST", "/imports/new", b"".join(parts),
                                              f"multipart/form-data; boundary={boundary}")
        if status != 303 or not location.endswith("/map"):
            raise BenchError(f"upload of {name} answered {status}: {_message(body)}")
        return location.rsplit("/", 1)[0]  # /imports/<id>


def _message(body: str) -> str:
    found = re.findall(r'class="[^"]*(?:error|message|flash)[^"]*"[^>]*>(.*?)<', body, re.S)
    return " | ".join(s.strip() for s in found if s.strip())[:800] or body[:800]


SELECT_RE = re.compile(r'<select[^>]*name="((?:col|unit)_\d+)"[^>]*>(.*?)</select>', re.S)
SELECTED_RE = re.compile(r'<option value="([^"]*)"[^>]*\bselected\b')


def guessed_mapping(page: str) -> list[tuple[str, str]]:
    """The map page's form as shown: each column's guessed field (and unit)."""
    form = []
    for name, options in SELECT_RE.findall(page):
        chosen = SELECTED_RE.search(options)
        form.append((name, chosen.group(1) if chosen else ""))
    return form


def status_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0])
    return out


class Sampler(threading.Thread):
    """The server's anonymous memory (RssAnon: its own heap, not the SQLite file's pages it maps, which VmHWM also
    counts and the kernel drops under pressure), sampled every 0.1 s: the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stop, self.peak_kb = pid, threading.Event(), 0
        self.start_kb = status_kb(pid)["RssAnon"]

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kb = max(self.peak_kb, status_kb(self.pid)["RssAnon"])
            self.stop.wait(0.1)

    def finish(self) -> float:
        """MB of anonymous memory at the peak above what the server held when sampling began."""
        self.stop.set()
        self.join()
        return round((max(self.peak_kb, self.start_kb) - self.start_kb) / 1024, 1)


CPU: dict[str, float] = {}  # the server's CPU seconds for the last timed() step (load-independent, beside wall time)
SERVER_PID: list[int] = []


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def timed(what, *args):
    cpu = cpu_seconds(SERVER_PID[0]) if SERVER_PID else 0.0
    started = time.perf_counter()
    result = what(*args)
    CPU["last"] = round(cpu_seconds(SERVER_PID[0]) - cpu, 1) if SERVER_PID else 0.0
    return time.perf_counter() - started, result


# --- the wizard ----------------------------------------------------------------------------------------------------

def run_import(browser: Browser, kind: str, name: str, data: bytes, pid: int) -> dict:
    """upload → map (guess accepted) → preview → matching (file's choice: skip) → confirm → commit; the server's
    peak memory (VmHWM) after each step."""
    figures: dict = {"hwm_kb": {"start": status_kb(pid)["VmHWM"]}}
    figures["upload_s"], batch = timed(browser.upload, kind, name, data)
    figures["hwm_kb"]["upload"] = status_kb(pid)["VmHWM"]
    map_page = browser.get(f"{batch}/map")
    mapping = guessed_mapping(map_page)
    figures["map_s"], _ = timed(browser.post, f"{batch}/map", [("csrf_token", browser.csrf(map_page)), *mapping])
    figures["preview_s"], preview = timed(browser.get, f"{batch}/preview")
    figures["preview_cpu_s"] = CPU["last"]
    figures["hwm_kb"]["preview"] = status_kb(pid)["VmHWM"]
    if f'href="{batch}/matching"' in preview:
        matching = browser.get(f"{batch}/matching")
        browser.post(f"{batch}/matching", {"csrf_token": browser.csrf(matching), "default_action": "skip"})
    elif f'href="{batch}/confirm"' not in preview:
        raise BenchError(f"the preview of {name} shows problems: {_message(preview)}")
    confirm = browser.get(f"{batch}/confirm")
    key = re.search(r'name="submission_key" value="([^"]+)"', confirm)
    form = {"csrf_token": browser.csrf(confirm)}
    if key:
        form["submission_key"] = key.group(1)
    figures["hwm_kb"]["confirm"] = status_kb(pid)["VmHWM"]
    figures["commit_s"], _ = timed(committed, browser, f"{batch}/commit", form, batch, figures)
    figures["commit_cpu_s"] = CPU["last"]
    figures["hwm_kb"]["commit"] = status_kb(pid)["VmHWM"]
    figures["batch"] = batch
    return figures


PROGRESS = 'id="import-progress"'


def committed(browser: Browser, url: str, form: dict, batch: str, figures: dict | None = None) -> str:
    """The commit's (or undo's) POST, answered at once with the progress page (the work runs in a thread of the
    server: crm/imports/running.py), then that page refreshed every half second, as its htmx poll does, until it
    shows the result. The POST's own answer time goes in figures["answer_s"]."""
    started = time.perf_counter()
    browser.post(url, form)
    if figures is not None:
        figures["answer_s"] = round(time.perf_counter() - started, 2)
    page = browser.get(batch)
    while PROGRESS in page:
        time.sleep(0.1 if settings.SMOKE else 0.5)  # a smoke run's imports take a second: don't wait half of it
        page = browser.get(batch)
    return page


def batch_counts(db: Path, batch: str) -> tuple[str, int, int]:
    """(status, created, skipped) of a batch, read from the database file."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT status, created_count, skipped_count FROM import_batch WHERE id = ?",
                            (int(batch.rsplit("/", 1)[1]),)).fetchone()


def undo(browser: Browser, batch: str) -> tuple[float, float]:
    """(wall seconds, the server's CPU seconds)."""
    page = browser.get(f"{batch}/undo")
    seconds = timed(committed, browser, f"{batch}/undo", {"csrf_token": browser.csrf(page)}, batch)[0]
    return round(seconds, 2), CPU["last"]


class OtherUser(threading.Thread):
    """Another officer saving an organization through its form, once a second, while an import commits."""

    def __init__(self, browser: Browser) -> None:
        super().__init__(daemon=True)
        self.browser, self.stop, self.answers, self.seconds = browser, threading.Event(), [], []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            started = time.perf_counter()
            try:
                page = self.browser.get("/organizations/new")
                status, _loc, _body = self.browser.request("POST", "/organizations", urlencode({
                    "csrf_token": self.browser.csrf(page), "name": f"并发保存测试{n:04d}{uuid.uuid4().hex[:6]}有限公司",
                    "kind": "investor"}).encode(), "application/x-www-form-urlencoded")
                self.answers.append(status)
            except (OSError, BenchError) as error:
                self.answers.append(repr(error))
            self.seconds.append(time.perf_counter() - started)
            self.stop.wait(1.0)


# --- the runs ------------------------------------------------------------------------------------------------------

def _users(url: str) -> None:
    database = Database(url)
    try:
        with database.write_session() as session:
            auth_service.create_user(session, username=ADMIN, display_name="基准管理员", password=PASSWORD,
                                     role="admin", actor=None)
            for i in range(OFFICERS):
                auth_service.create_user(session, username=f"officer{i:02d}", display_name=f"招商专员{i:02d}",
                                         password=PASSWORD, role="officer", actor=None)
            session.commit()
    finally:
        database.dispose()


def _server(url: str, log_name: str) -> Server:
    server = Server(database_url=url, data_dir=BENCH_DIR, ceiling_file=BENCH_DIR / "ceiling.html", log_name=log_name)
    server.env["CRM_ADMIN_SECOND_FACTOR"] = "false"  # the benchmark's administrator signs in with a password only
    return server


def imports_run(results: dict) -> None:
    db = BENCH_DIR / "crm.sqlite3"
    url = f"sqlite:///{db}"
    migrate.upgrade(url)
    _users(url)
    started = time.perf_counter()
    orgs, projects = organization_file(ORG_ROWS), project_file(PROJECT_ROWS, ORG_ROWS)
    print(f"  files: {ORG_ROWS:,} organizations ({len(orgs) / 2**20:.1f} MB), {PROJECT_ROWS:,} projects "
          f"({len(projects) / 2**20:.1f} MB), written in {time.perf_counter() - started:.1f} s", flush=True)
    with _server(url, "server.log") as server:
        SERVER_PID[:] = [server.process.pid]
        browser = Browser(server.port, sign_in(server.port, ADMIN, PASSWORD))
        other = Browser(server.port, sign_in(server.port, "officer01", PASSWORD))
        browser.get("/imports")
        before = status_kb(server.process.pid)
        bystander = OtherUser(other)
        bystander.start()  # another user saving once a second from here on: 303 or 503, never 500
        sampler = Sampler(server.process.pid)
        sampler.start()
        org = run_import(browser, "organizations", "客商名录.xlsx", orgs, server.process.pid)
        org["memory_mb"] = sampler.finish()
        after = status_kb(server.process.pid)
        org["memory_with_mapped_file_mb"] = round((after["VmHWM"] - before["VmRSS"]) / 1024, 1)
        print("  organizations: the server's peak memory after each step (MB over VmRSS before): "
              + ", ".join(f"{step} +{(kb - before['VmRSS']) / 1024:.0f}" for step, kb in org["hwm_kb"].items()),
              flush=True)
        proj = run_import(browser, "projects", "项目台账.xlsx", projects, server.process.pid)
        proj["undo_s"], proj["undo_cpu_s"] = undo(browser, proj["batch"])
        org["undo_s"], org["undo_cpu_s"] = undo(browser, org["batch"])
        bystander.stop.set()
        bystander.join()
        log = server.new_output()
    busy = [line for line in log.splitlines() if "database busy on POST /organizations" in line]
    log = "\n".join(line for line in log.splitlines() if line not in busy)  # the bystander's 503s, counted below
    # The bystander's requests are served during the commit and the undo now (their thread, not the request's): a
    # session's last-seen time that met the undo's write lock is not recorded, by design ("the next request tries
    # again"; crm/auth). Counted, not an error.
    seen_pattern = re.compile(r"session last-seen time not recorded \(.*?the next request tries again\n?", re.S)
    results_seen = len(seen_pattern.findall(log))
    log = seen_pattern.sub("", log)
    if log.strip():
        raise BenchError(f"the server wrote to its log:\n{log[-3000:]}")
    for figures, rows in ((org, ORG_ROWS), (proj, PROJECT_ROWS)):
        status, created, _skipped = batch_counts(db, figures["batch"])
        figures["created"] = created
        if status != "undone" or created != rows:
            raise BenchError(f"batch {figures['batch']}: {status}, {created} created of {rows} rows")
    bad = [a for a in bystander.answers if a not in (303, 503)]
    results["organizations"] = {"rows": ORG_ROWS, **{k: (round(v, 2) if isinstance(v, float) else v)
                                                     for k, v in org.items()}}
    results["projects"] = {"rows": PROJECT_ROWS, **{k: (round(v, 2) if isinstance(v, float) else v)
                                                    for k, v in proj.items()}}
    results["other_user_saves"] = {str(a): bystander.answers.count(a) for a in set(bystander.answers)}
    results["last_seen_not_recorded"] = results_seen
    waits = sorted(bystander.seconds)
    results["other_user_save_s"] = {"median": round(waits[len(waits) // 2], 2), "max": round(waits[-1], 2)}
    if bad:
        raise BenchError(f"another user's save during the commit answered {bad} (only 303 or 503 may)")


def export_run(results: dict) -> None:
    if settings.SMOKE:
        source = BENCH_DIR / "crm.sqlite3"  # the small imports database: the same code path, a few rows
    else:
        source = EXPORT_SOURCE
        if not source.exists():
            print("  building the export's data set: python -m bench.projects", flush=True)
            subprocess.run([sys.executable, "-m", "bench.projects"], check=False)
        if not source.exists():
            raise BenchError(f"no data set for the export at {source}")
    target = BENCH_DIR / "export-source.sqlite3"
    started = time.perf_counter()
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)  # a consistent copy (WAL included); the export's admin is added to the copy only
    copied = time.perf_counter() - started
    url = f"sqlite:///{target}"
    database = Database(url)
    try:
        with database.write_session() as session:
            from sqlalchemy import select

            from crm.auth.models import User

            if session.scalar(select(User.id).where(User.username == ADMIN)) is None:
                auth_service.create_user(session, username=ADMIN, display_name="基准管理员", password=PASSWORD,
                                         role="admin", actor=None)
                session.commit()
    finally:
        database.dispose()
    with _server(url, "export-server.log") as server:
        SERVER_PID[:] = [server.process.pid]
        cpu = cpu_seconds(server.process.pid)
        browser = Browser(server.port, sign_in(server.port, ADMIN, PASSWORD))
        browser.get("/admin/export")
        before = status_kb(server.process.pid)
        sampler = Sampler(server.process.pid)
        sampler.start()
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        conn.request("GET", "/admin/export.zip", headers={"Cookie": browser.cookie})
        response = conn.getresponse()
        size = 0
        while chunk := response.read(1 << 20):
            size += len(chunk)
        conn.close()
        seconds = time.perf_counter() - started
        memory = sampler.finish()
        export_cpu = round(cpu_seconds(server.process.pid) - cpu, 1)
        after = status_kb(server.process.pid)
        if response.status != 200:
            raise BenchError(f"GET /admin/export.zip answered {response.status}")
        log = server.new_output()
    if log.strip():
        raise BenchError(f"the export server wrote to its log:\n{log[-3000:]}")
    target.unlink()
    results["export"] = {"source": str(source), "copy_s": round(copied, 1), "seconds": round(seconds, 1),
                         "cpu_s": export_cpu,
                         "memory_mb": memory,
                         "memory_with_mapped_file_mb": round((after["VmHWM"] - before["VmRSS"]) / 1024, 1),
                         "zip_mb": round(size / 2**20, 1)}


def main() -> int:
    settings.announce("bench.imports")
    use_cheap_hashing()
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    (BENCH_DIR / "ceiling.html").write_text("ceiling")
    print(f"bench.imports: the import wizard and the full export over HTTP, one uvicorn worker, SQLite ({BENCH_DIR})",
          flush=True)
    results: dict = {}
    imports_run(results)
    if os.environ.get("BENCH_IMPORT_SKIP_EXPORT") == "1":  # iterating on the imports alone
        results["export"] = {"seconds": 0.0, "memory_mb": 0.0, "zip_mb": 0.0}
    else:
        export_run(results)
    o, p, e = results["organizations"], results["projects"], results["export"]
    checks = [
        (f"organizations, {o['rows']:,} rows: upload {o['upload_s']} s, map {o['map_s']} s, preview "
         f"(server CPU {o['preview_cpu_s']} s)", o["preview_s"], GOALS["org_preview_s"], "s"),
        (f"organizations, {o['rows']:,} rows ({o['created']} created): commit (POST answered in {o['answer_s']} s, "
         f"then written in the background; server CPU {o['commit_cpu_s']} s)",
         o["commit_s"], GOALS["org_commit_s"], "s"),
        (f"organizations: server memory over the import, peak RssAnon (VmHWM, with the mapped database file: "
         f"+{o['memory_with_mapped_file_mb']} MB)", o["memory_mb"], GOALS["org_memory_mb"], "MB"),
        (f"projects, {p['rows']:,} rows ({p['created']} created; preview {p['preview_s']} s): commit (server CPU "
         f"{p['commit_cpu_s']} s)", p["commit_s"], GOALS["project_commit_s"], "s"),
        (f"undo of the project batch {p['undo_s']} s; undo of the {o['rows']:,}-row organization batch (server CPU "
         f"{o['undo_cpu_s']} s)", o["undo_s"], GOALS["org_undo_s"], "s"),
        (f"full export ({e['zip_mb']} MB zip): download (server CPU {e.get('cpu_s', 0.0)} s)", e["seconds"],
         GOALS["export_s"], "s"),
        (f"full export: server memory, peak RssAnon (VmHWM, with the mapped database file: "
         f"+{e.get('memory_with_mapped_file_mb', 0.0)} MB)", e["memory_mb"], GOALS["export_memory_mb"], "MB"),
    ]
    met = True
    for label, value, goal, unit in checks:
        ok = value < goal
        met = met and ok
        print(f"  {label}: {value} {unit} — goal < {goal:.0f} {unit}: "
              f"{'yes' if ok else 'NO'}{' (smoke run: not judged)' if settings.SMOKE else ''}", flush=True)
    print(f"  another user's saves meanwhile (every second, through the imports and undos): "
          f"{results['other_user_saves']} (303 saved, 503 busy); the form and its save took "
          f"{results['other_user_save_s']['median']} s (median), {results['other_user_save_s']['max']} s at most; "
          f"session last-seen times not recorded (met a write lock): {results.get('last_seen_not_recorded', 0)}",
          flush=True)
    results["met"] = met
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return settings.exit_status(met)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench.imports: {error}", file=sys.stderr)
        sys.exit(1)
