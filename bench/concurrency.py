"""`python -m bench.concurrency` (issue 12): many people reading and saving at once, against `crm serve` as `make run`
starts it (N web worker processes, N = the cores, and the scheduler as its own process), on SQLite and PostgreSQL.

The data: the demo zone, and 16 users (officers and managers) each owning an organization to edit, two projects to
move, and a stock of open follow-ups to complete. 16 clients, each signed in as one of them, send 50% page reads
(dashboard, organization list, project table, my tasks, header search, a project page) and 50% saves through the
real forms, six kinds in turn: create an organization, create a follow-up, quick log, edit the organization,
complete a follow-up, move a project on the board. One create in ten is sent twice with the same one-time key (a
retry after a time-out): it must make one record.

Measured, for N workers and for 1:
1. saturated: every client sends its next request as soon as it has the answer, for 60 s (BENCH_SECONDS);
   acknowledged saves per second and the latencies;
2. at a set load of half the saturated rate, on a fixed schedule (latency counted from when each request was due);
3. two saves at the same instant (two users, two follow-ups), 20 times: the slower answer each time.
Afterwards every acknowledged save is looked up in the database (lost writes), every create counted (duplicates),
and the server's log searched for "database is locked" and errors.

Goals: 0 responses 5xx, 0 "database is locked", 0 lost, 0 duplicates; saturated ≥ 50 acknowledged saves/s on SQLite
with N workers; at half that load p99 < 300 ms for reads and for saves; two simultaneous saves both < 200 ms.
BENCH_SMOKE=1: a few follow-ups per user, 1-s measurements, make run's shape only, nothing judged (bench/settings.py).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, select

from bench import settings
from bench.postgres import throwaway_database
from bench.server import ROOT, BenchError, free_port

CLIENTS = 16
SECONDS = 1 if settings.SMOKE else int(os.environ.get("BENCH_SECONDS", "60"))
PAIRS = 3 if settings.SMOKE else 20
TASKS_PER_USER = settings.scaled(400, minimum=5)
PASSWORD = "bench-pass-1"
ZONE = ZoneInfo("Asia/Shanghai")
GOAL_SAVES_PER_S = 50.0
GOAL_P99_MS = 300.0
GOAL_PAIR_MS = 200.0
SAVE_KINDS = ("create organization", "create follow-up", "quick log", "edit organization", "complete follow-up",
              "move on the board")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
WORK_DIR = settings.var_dir("bench-concurrency")


# The data


@dataclass
class Seat:
    """One client's user and the records that are theirs to change."""

    username: str
    user_id: int
    organization_id: int
    organization_version: int
    projects: list[list] = field(default_factory=list)  # [id, version, stage]
    open_tasks: list[int] = field(default_factory=list)


def prepare(database_url: str) -> list[Seat]:
    """Migrations, the demo zone, and the 16 users with their records, through the services."""
    from crm import demo, migrate
    from crm.auth import service as auth_service
    from crm.db import Database
    from crm.organizations import service as organization_service
    from crm.projects import service as project_service
    from crm.tasks import service as task_service

    migrate.upgrade(database_url)
    database = Database(database_url)
    today = datetime.now(ZONE).date()
    seats: list[Seat] = []
    try:
        with database.write_session() as session:
            demo.load(session, anchor=today, timezone=ZONE.key)
        for n in range(CLIENTS):
            with database.write_session() as session:
                role = "manager" if n % 4 == 3 else "officer"
                user = auth_service.create_user(session, username=f"bench{n:02d}", display_name=f"压测用户{n:02d}",
                                                password=PASSWORD, role=role, actor=None)
                org = organization_service.create(session, data={"name": f"压测企业{n:02d}号有限公司", "kind": "investor",
                                                                 "owner_id": user.id}, actor=user)
                seat = Seat(user.username, user.id, org.id, org.version)
                for k in range(2):
                    project = project_service.create(session, project_input=project_service.ProjectInput(
                        data={"name": f"压测项目{n:02d}-{k}", "stage": "lead", "owner_id": user.id,
                              "total_investment_wan_cny": "800"},
                        organization_ids=[org.id], officer_ids=[]), actor=user)
                    seat.projects.append([project.id, project.version, project.stage])
                for k in range(TASKS_PER_USER):
                    task = task_service.add(session, data={
                        "title": f"压测跟进{n:02d}-{k}", "description": "", "assignee_id": user.id,
                        "due_on": today + timedelta(days=3 + k % 20), "due_time": None, "priority": "normal",
                        "organization_id": org.id, "contact_id": None}, actor=user)
                    session.flush()
                    seat.open_tasks.append(task.id)
                session.commit()
                seats.append(seat)
    finally:
        database.dispose()
    return seats


# The server: `crm serve` as `make run` starts it


class CrmServe:
    def __init__(self, *, database_url: str, data_dir: Path, workers: int) -> None:
        self.port = free_port()
        self.workers = workers
        self.log_path = data_dir / f"serve-{workers}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env.update(CRM_DATABASE_URL=database_url, CRM_DATA_DIR=str(data_dir), CRM_ENV="dev", CRM_PORT=str(self.port))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crm.cli", "serve", "--port", str(self.port), "--workers", str(workers),
                 "--with-scheduler", "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"crm serve did not start:\n{self.log()}")
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# A client


@dataclass
class Answer:
    kind: str
    save: bool
    status: int
    ms: float


class Client:
    """One signed-in user on one keep-alive connection, choosing reads and saves in turn, and remembering every save
    the server acknowledged (to look it up afterwards)."""

    def __init__(self, port: int, seat: Seat, number: int, run: str) -> None:
        self.port, self.seat, self.number, self.run = port, seat, number, run
        self.rng = random.Random(number)
        self.connection: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.turn = 0
        self.sequence = 0
        self.created: dict[str, list[str]] = {"organization": [], "task": [], "visit": []}  # acknowledged names
        self.city = ""  # the organization's city as last acknowledged
        self.completed: list[int] = []
        self.errors: list[str] = []
        page = self._request("GET", "/login")
        token = CSRF_RE.search(page[1]).group(1)
        status, _ = self._request("POST", "/login", {"username": seat.username, "password": PASSWORD,
                                                     "csrf_token": token, "next": "/"})
        if status != 303:
            raise BenchError(f"{seat.username} could not sign in ({status})")
        self.csrf = CSRF_RE.search(self._request("GET", "/tasks")[1]).group(1)
        self.today = datetime.now(ZONE).date()

    def _request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                text_body = response.read().decode("utf-8", errors="replace")
                break
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 2 or method != "GET":
                    raise
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.split(";", 1)[0].partition("=")
            if rest and "max-age=0" not in value.lower():
                self.cookies[name] = rest
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
            self.connection = None
        return response.status, text_body

    def _post(self, path: str, form: dict) -> int:
        return self._request("POST", path, {"csrf_token": self.csrf, **form})[0]

    # What a user does

    def read(self) -> tuple[str, int]:
        project_id = self.seat.projects[0][0]
        kind, path = self.rng.choice((("dashboard", "/"), ("organization list", "/organizations"),
                                      ("project table", "/projects"), ("my tasks", "/tasks"),
                                      ("header search", "/search?" + urlencode({"q": "复星"})),
                                      ("project page", f"/projects/{project_id}")))
        return kind, self._request("GET", path)[0]

    def save(self) -> tuple[str, int]:
        kind = SAVE_KINDS[self.turn % len(SAVE_KINDS)]
        self.turn += 1
        self.sequence += 1
        name = f"{self.run}-{self.number:02d}-{self.sequence}"
        retry = self.sequence % 10 == 0  # a retry after a time-out: the same form, the same key, sent again
        key = uuid.uuid4().hex
        if kind == "create organization":
            form = {"name": f"压测新建企业{name}", "kind": "investor", "submission_key": key}
            status = self._post("/organizations", form)
            if retry and status == 303:
                status = self._post("/organizations", form)
            if status == 303:
                self.created["organization"].append(form["name"])
        elif kind == "create follow-up":
            form = {"title": f"压测新建跟进{name}", "assignee_id": self.seat.user_id, "priority": "normal",
                    "due_on": (self.today + timedelta(days=5)).isoformat(), "submission_key": key}
            status = self._post("/tasks", form)
            if retry and status == 303:
                status = self._post("/tasks", form)
            if status == 303:
                self.created["task"].append(form["title"])
        elif kind == "quick log":
            form = {"kind": "inbound", "organization_id": self.seat.organization_id,
                    "starts_at": datetime.now(ZONE).strftime("%Y-%m-%dT%H:%M"), "summary": f"压测洽谈纪要{name}",
                    "submission_key": key}
            status = self._post("/visits/quick", form)
            if retry and status == 303:
                status = self._post("/visits/quick", form)
            if status == 303:
                self.created["visit"].append(form["summary"])
        elif kind == "edit organization":
            city = f"城市{name}"[:60]
            status = self._post(f"/organizations/{self.seat.organization_id}", {
                "name": f"压测企业{self.number:02d}号有限公司", "kind": "investor", "owner_id": self.seat.user_id,
                "city": city, "version": self.seat.organization_version})
            if status == 303:
                self.seat.organization_version += 1
                self.city = city
        elif kind == "complete follow-up":
            if not self.seat.open_tasks:
                return self.save()
            task_id = self.seat.open_tasks.pop()
            status = self._post(f"/tasks/{task_id}/complete", {})
            if status == 303:
                self.completed.append(task_id)
        else:
            project = self.seat.projects[self.sequence % 2]
            to_stage = "contact" if project[2] == "lead" else "lead"
            status = self._post(f"/projects/{project[0]}/move", {"stage": to_stage, "version": project[1]})
            if status == 303:
                project[1] += 1
                project[2] = to_stage
        if status not in (303,):
            self.errors.append(f"{kind}: {status}")
        return kind, status

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


# The measurements


@dataclass
class Phase:
    name: str
    seconds: float
    answers: list[Answer]

    def of(self, save: bool) -> list[float]:
        return sorted(a.ms for a in self.answers if a.save == save)

    @property
    def saves_per_s(self) -> float:
        return sum(1 for a in self.answers if a.save and a.status == 303) / self.seconds

    @property
    def requests_per_s(self) -> float:
        return len(self.answers) / self.seconds

    @property
    def server_errors(self) -> int:
        return sum(1 for a in self.answers if a.status >= 500)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, round(share * len(values)) - 1))]


def _one(client: Client, save: bool, answers: list[Answer], due: float | None = None) -> None:
    started = time.monotonic() if due is None else due
    try:
        kind, status = client.save() if save else client.read()
    except Exception as exc:  # a connection error is a failed request, counted as such
        kind, status = f"{'save' if save else 'read'} ({type(exc).__name__})", 599
    answers.append(Answer(kind, save, status, (time.monotonic() - started) * 1000))


def saturated(clients: list[Client], seconds: float) -> Phase:
    answers: list[Answer] = []
    stop_at = time.monotonic() + seconds

    def loop(client: Client) -> None:
        save = client.number % 2 == 0
        while time.monotonic() < stop_at:
            _one(client, save, answers)
            save = not save

    started = time.monotonic()
    _run_all(clients, loop)
    return Phase("saturated", time.monotonic() - started, answers)


def at_rate(clients: list[Client], rate: float, seconds: float) -> Phase:
    """Each client sends on a fixed schedule (the total `rate`), half reads and half saves; a late answer delays the
    next request, and that wait counts against the late one (latency from when each request was due)."""
    answers: list[Answer] = []
    interval = len(clients) / rate
    start = time.monotonic() + 0.2

    def loop(client: Client) -> None:
        k = 0
        while True:
            due = start + (client.number / len(clients)) * interval + k * interval
            if due > start + seconds:
                return
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            _one(client, (k + client.number) % 2 == 0, answers, due=due)
            k += 1

    _run_all(clients, loop)
    return Phase(f"at {rate:.0f} req/s", seconds, answers)


def simultaneous_pairs(clients: list[Client], times: int) -> list[float]:
    """Two users complete one of their own follow-ups at the same instant; the slower answer's ms, each time."""
    slowest: list[float] = []
    first, second = clients[0], clients[1]
    for _ in range(times):
        if not first.seat.open_tasks or not second.seat.open_tasks:
            break
        barrier = threading.Barrier(2)
        answers: list[Answer] = []

        def complete(client: Client, barrier: threading.Barrier = barrier, answers: list[Answer] = answers) -> None:
            task_id = client.seat.open_tasks.pop()
            barrier.wait()
            started = time.monotonic()
            status = client._post(f"/tasks/{task_id}/complete", {})
            if status == 303:
                client.completed.append(task_id)
            answers.append(Answer("complete follow-up", True, status, (time.monotonic() - started) * 1000))

        _run_all([first, second], complete)
        if any(a.status != 303 for a in answers):
            raise BenchError(f"simultaneous saves answered {[a.status for a in answers]}")
        slowest.append(max(a.ms for a in answers))
        time.sleep(0.05)
    return slowest


def _run_all(clients: list[Client], work) -> None:
    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# Afterwards: every acknowledged save looked up


@dataclass
class Audit:
    lost: list[str]
    duplicates: list[str]
    locked_lines: int
    error_lines: list[str]


def audit(database_url: str, clients: list[Client], log: str) -> Audit:
    from crm.organizations.models import Organization
    from crm.projects.models import Project
    from crm.tasks.models import Task
    from crm.visits.models import Visit

    engine = create_engine(database_url)
    lost: list[str] = []
    duplicates: list[str] = []
    with engine.connect() as connection:
        def counts(column, values: list[str]) -> dict[str, int]:
            found: dict[str, int] = {}
            for start in range(0, len(values), 500):
                chunk = values[start:start + 500]
                for value, n in connection.execute(select(column, func.count()).where(column.in_(chunk))
                                                   .group_by(column)):
                    found[value] = n
            return found

        for kind, column in (("organization", Organization.name), ("task", Task.title), ("visit", Visit.summary)):
            names = [n for c in clients for n in c.created[kind]]
            found = counts(column, names)
            lost += [f"{kind} {n}" for n in names if found.get(n, 0) == 0]
            duplicates += [f"{kind} {n} ×{found[n]}" for n in names if found.get(n, 0) > 1]
        for client in clients:
            city = connection.scalar(select(Organization.city).where(Organization.id == client.seat.organization_id))
            if client.city and city != client.city:
                lost.append(f"organization {client.seat.organization_id}: city {city!r}, saved {client.city!r}")
            for project_id, _version, stage in client.seat.projects:
                actual = connection.scalar(select(Project.stage).where(Project.id == project_id))
                if actual != stage:
                    lost.append(f"project {project_id}: stage {actual}, moved to {stage}")
            if client.completed:
                done = connection.scalar(select(func.count()).where(Task.id.in_(client.completed),
                                                                    Task.status == "done"))
                if done != len(client.completed):
                    lost.append(f"{len(client.completed) - done} completions of {client.seat.username}")
    engine.dispose()
    lines = log.splitlines()
    return Audit(lost, duplicates, sum("database is locked" in line for line in lines),
                 [line for line in lines if re.search(r"\b(ERROR|Traceback|Exception in ASGI)\b", line)])


# One run: a database, a server shape, the three measurements


@dataclass
class Run:
    backend: str
    workers: int
    saturated: Phase
    steady: Phase
    pairs_ms: list[float]
    audit: Audit


def measure(backend: str, database_url: str, seats_file: Path, workers: int) -> Run:
    seats = [Seat(**s) for s in json.loads(seats_file.read_text())]
    server = CrmServe(database_url=database_url, data_dir=WORK_DIR, workers=workers)
    clients: list[Client] = []
    try:
        run = f"{backend}{workers}-{int(time.time()) % 100000}"
        clients = [Client(server.port, seat, n, run) for n, seat in enumerate(seats)]
        if not settings.SMOKE:  # a smoke run warms nothing up (bench/settings.py)
            saturated(clients, 3)
        full = saturated(clients, SECONDS)
        rate = max(2.0, full.requests_per_s / 2)
        steady = at_rate(clients, rate, settings.SMOKE_RATE_SECONDS if settings.SMOKE else SECONDS)
        pairs = simultaneous_pairs(clients, PAIRS)
    finally:
        for client in clients:
            client.close()
        server.stop()
    seats_file.write_text(json.dumps([s.__dict__ for s in seats]))  # versions and stages as they are now
    return Run(backend, workers, full, steady, pairs, audit(database_url, clients, server.log()))


def report(run: Run) -> bool:
    """Prints one run's table; True when its goals are met."""
    sat, steady = run.saturated, run.steady
    print(f"\n{run.backend}, {run.workers} web worker{'s' if run.workers > 1 else ''} + the scheduler, "
          f"{CLIENTS} clients, 50% reads / 50% saves")
    print(f"  {'':28} {'req/s':>8} {'saves/s':>8} {'read p50':>9} {'read p99':>9} {'save p50':>9} {'save p99':>9}"
          f" {'5xx':>5}")
    for phase in (sat, steady):
        reads, saves = phase.of(False), phase.of(True)
        print(f"  {phase.name:28} {phase.requests_per_s:8.1f} {phase.saves_per_s:8.1f} "
              f"{percentile(reads, 0.5):7.0f}ms {percentile(reads, 0.99):7.0f}ms "
              f"{percentile(saves, 0.5):7.0f}ms {percentile(saves, 0.99):7.0f}ms {phase.server_errors:5d}")
    kinds: dict[str, list[float]] = {}
    for answer in sat.answers:
        if answer.save:
            kinds.setdefault(answer.kind, []).append(answer.ms)
    print("  saves saturated, by kind: " + "; ".join(
        f"{k} p50 {percentile(sorted(v), 0.5):.0f} ms" for k, v in sorted(kinds.items())))
    pair_max = max(run.pairs_ms, default=0.0)
    print(f"  two saves at the same instant, {len(run.pairs_ms)} times: slower answer p50 "
          f"{percentile(sorted(run.pairs_ms), 0.5):.0f} ms, max {pair_max:.0f} ms")
    refused = [a for a in sat.answers + steady.answers if a.status not in (200, 303)]
    print(f"  not acknowledged: {len(refused)} ({', '.join(sorted({f'{a.kind} {a.status}' for a in refused})[:6])})"
          if refused else "  not acknowledged: 0")
    a = run.audit
    print(f"  lost acknowledged writes: {len(a.lost)}; duplicates: {len(a.duplicates)}; "
          f"'database is locked' in the log: {a.locked_lines}; error lines: {len(a.error_lines)}")
    for line in (a.lost + a.duplicates + a.error_lines)[:8]:
        print(f"    {line}")
    checks = {
        "no 5xx": sat.server_errors + steady.server_errors == 0,
        "nothing lost or duplicated": not a.lost and not a.duplicates,
        "no 'database is locked', no errors logged": a.locked_lines == 0 and not a.error_lines,
        "p99 < 300 ms at half load": percentile(steady.of(False), 0.99) < GOAL_P99_MS
                                     and percentile(steady.of(True), 0.99) < GOAL_P99_MS,
        "two simultaneous saves < 200 ms": pair_max < GOAL_PAIR_MS,
    }
    if run.backend == "sqlite" and run.workers > 1:
        checks["≥ 50 saves/s saturated"] = sat.saves_per_s >= GOAL_SAVES_PER_S
    print("  goals: " + "; ".join(f"{name} {'✓' if ok else '✗'}" for name, ok in checks.items()))
    return all(checks.values())


def main() -> int:
    settings.announce("bench.concurrency")
    cores = len(os.sched_getaffinity(0))
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)
    print(f"{CLIENTS} users, {TASKS_PER_USER} open follow-ups each; {SECONDS} s per measurement; "
          f"`crm serve --workers {cores} --with-scheduler` (make run's shape) and --workers 1", flush=True)
    ok = True
    runs: list[Run] = []
    with throwaway_database("crm_bench_concurrency") as postgres_url:
        backends = [("sqlite", f"sqlite:///{WORK_DIR / 'crm.sqlite3'}")]
        if postgres_url is not None:
            backends.append(("postgresql", postgres_url))
        for backend, url in backends:
            started = time.monotonic()
            seats_file = WORK_DIR / f"seats-{backend}.json"
            seats_file.write_text(json.dumps([s.__dict__ for s in prepare(url)]))
            print(f"{backend}: demo zone and {CLIENTS} users ready in {time.monotonic() - started:.0f} s", flush=True)
            # Smoke mode: the same code paths once (make run's shape); a full run compares it with one worker.
            for workers in [cores] if settings.SMOKE else sorted({cores, 1}, reverse=True):
                run = measure(backend, url, seats_file, workers)
                runs.append(run)
                ok = report(run) and ok
    results = [{"backend": r.backend, "workers": r.workers, "saturated_saves_per_s": round(r.saturated.saves_per_s, 1),
                "saturated_requests_per_s": round(r.saturated.requests_per_s, 1),
                "steady_read_p99_ms": round(percentile(r.steady.of(False), 0.99), 1),
                "steady_save_p99_ms": round(percentile(r.steady.of(True), 0.99), 1),
                "pair_max_ms": round(max(r.pairs_ms, default=0.0), 1),
                "server_errors": r.saturated.server_errors + r.steady.server_errors,
                "lost": len(r.audit.lost), "duplicates": len(r.audit.duplicates),
                "locked_lines": r.audit.locked_lines} for r in runs]
    (WORK_DIR / "results.json").write_text(json.dumps({"at": date.today().isoformat(), "runs": results}, indent=1))
    print(f"\nresults in {(WORK_DIR / 'results.json').relative_to(ROOT)}")
    return settings.exit_status(ok)


if __name__ == "__main__":
    sys.exit(main())
