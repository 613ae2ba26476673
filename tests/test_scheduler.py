"""The scheduler as processes and threads: `crm scheduler --once` under TZ=UTC and TZ=Asia/Shanghai (the machine's
zone never matters, CRM_TIMEZONE does); a restart across a due time delivers once; a scheduler that died mid-send
is taken over after its lease; two real scheduler processes on one PostgreSQL database deliver each reminder once;
the scheduler inside a single web worker."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url

from crm.auth.models import WebSession
from crm.config import Settings
from crm.db import utcnow
from crm.notifications import service
from crm.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationSetting,
    Outbox,
    RulePreference,
    RuleSetting,
)
from crm.scheduling.models import SchedulerJob
from tests.conftest import ROOT
from tests.factories import make_task, make_user
from tests.test_channels import Hook

ZONE = ZoneInfo("Asia/Shanghai")


def scheduler_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update({"CRM_ENV": "test", "CRM_DATABASE_URL": settings.resolved_database_url,
                "CRM_DATA_DIR": str(settings.data_dir), "CRM_TIMEZONE": "Asia/Shanghai", **extra})
    return env


def fire_at_midnight(session, code: str = "task_due") -> None:
    """The rule fires at 00:00 local and was last planned a day ago, so whatever the time of day now, today's
    occasion has come."""
    session.add(RuleSetting(code=code, enabled=True, days=3, at_time=time(0, 0), in_app=True, email=False,
                            webhook=False, planned_until=utcnow() - timedelta(days=1)))
    session.commit()


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time_module.monotonic() + timeout
    while not predicate():
        assert time_module.monotonic() < deadline, "timed out waiting"
        time_module.sleep(0.05)


@pytest.mark.parametrize("machine_tz", ["UTC", "Asia/Shanghai"])
def test_crm_scheduler_once_runs_every_job_whatever_the_machines_time_zone(session, users, settings, machine_tz):
    officer = users["officer"]
    fire_at_midnight(session)
    today = datetime.now(ZONE).date()  # the zone's today, which may not be the machine's
    make_task(session, actor=officer, title="今日到期", due_on=today)
    make_task(session, actor=officer, title="明日到期", due_on=today + timedelta(days=1))
    done = subprocess.run([sys.executable, "-m", "crm.cli", "scheduler", "--once"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=scheduler_env(settings, TZ=machine_tz))
    assert done.returncode == 0, done.stderr
    session.expire_all()
    occasions = sorted(session.scalars(select(Notification.occasion)))
    assert occasions == [f"before:{today + timedelta(days=1)}", f"due:{today}"]
    jobs = {job.name: job for job in session.scalars(select(SchedulerJob))}
    assert set(jobs) == {"reminders.plan", "reminders.deliver", "sessions.purge", "submissions.purge", "imports.purge", "audit.seal",
                         "audit.archive", "webhooks.plan", "webhooks.deliver", "backups.daily"}
    assert all(job.runs == 1 and not job.last_error for job in jobs.values())
    assert "2 in-app" in jobs["reminders.deliver"].last_result


def test_a_failing_job_is_recorded_and_the_others_still_run(db, session, settings):
    from crm.scheduling.service import run_job

    def broken(ctx):
        raise RuntimeError("the database said no")

    assert run_job("broken.job", broken, database=db, settings=settings, trigger="every 1 s") is False
    assert run_job("fine.job", lambda ctx: "ok", database=db, settings=settings) is True
    session.expire_all()
    broken_job, fine_job = session.get(SchedulerJob, "broken.job"), session.get(SchedulerJob, "fine.job")
    assert broken_job.failures == 1 and "the database said no" in broken_job.last_error
    assert fine_job.last_result == "ok" and fine_job.failures == 0


def test_a_restart_across_a_due_time_delivers_once(db, session, users, settings):
    """APScheduler in a thread, as in the web process: it runs at 08:55, stops; starts again at 09:05 (the 09:00
    reminders fell due while it was down) and delivers them; a third start delivers nothing more."""
    from scheduler.runner import build

    officer = users["officer"]

    def start_and_stop(moment: datetime) -> None:
        with time_machine.travel(moment, tick=False):
            runs = session.scalar(select(func.coalesce(func.sum(SchedulerJob.runs), 0)))
            session.commit()
            scheduler = build(settings, db, background=True)
            scheduler.start()
            try:
                def both_ran() -> bool:
                    done = session.scalar(select(func.coalesce(func.sum(SchedulerJob.runs), 0)))
                    session.commit()
                    return done >= runs + 2  # plan, then deliver (one worker thread, in order)
                wait_for(both_ran)
            finally:
                scheduler.shutdown(wait=True)

    with time_machine.travel(datetime(2026, 12, 1, 8, 0, tzinfo=ZONE), tick=False):
        make_task(session, actor=officer, title="重启前后", due_on=date(2026, 12, 1))
    start_and_stop(datetime(2026, 12, 1, 8, 55, tzinfo=ZONE))
    session.expire_all()
    assert session.scalar(select(func.count(Notification.id))) == 0
    start_and_stop(datetime(2026, 12, 1, 9, 5, tzinfo=ZONE))
    session.expire_all()
    start_and_stop(datetime(2026, 12, 1, 9, 6, tzinfo=ZONE))
    session.expire_all()
    assert list(session.scalars(select(Notification.occasion))) == ["due:2026-12-01"]
    assert session.get(RuleSetting, "task_due").planned_until == datetime(2026, 12, 1, 9, 6, tzinfo=ZONE)


def test_a_scheduler_that_died_mid_send_is_taken_over_after_its_lease(db, session, users, settings):
    officer = users["officer"]
    officer.email = "officer@zone.example"
    session.add(RulePreference(user_id=officer.id, rule="task_due", in_app=False, email=True, webhook=False))
    session.commit()
    make_task(session, actor=officer, due_on=date(2026, 12, 2))
    now = datetime(2026, 12, 2, 1, 5, tzinfo=UTC)
    service.plan(database=db, now=now - timedelta(hours=1), timezone=settings.timezone)
    service.plan(database=db, now=now, timezone=settings.timezone)
    with db.write_session() as s:  # claimed, then the process died before sending
        claimed, ids = service.claim(s, now=now, worker="dead:1", zone=ZONE, limit=10)
        s.commit()
    assert claimed == 1 and len(ids) == 1
    assert service.deliver(database=db, settings=settings, now=now + timedelta(minutes=1), worker="t").retried == 0
    after_lease = service.deliver(database=db, settings=settings, now=now + service.LEASE + timedelta(seconds=1),
                                  worker="alive:2")
    assert after_lease.retried == 1  # taken over (and, with no SMTP server here, queued for a retry)
    session.expire_all()
    row = session.scalar(select(Outbox))
    assert row.status == DeliveryStatus.PENDING and row.attempts == 2 and row.claimed_by == "alive:2"


def test_two_scheduler_processes_on_postgresql_deliver_each_reminder_once(db, session, settings, tmp_path):
    if db.is_sqlite:
        pytest.skip("FOR UPDATE SKIP LOCKED: the two-process test runs on PostgreSQL")
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHook)
    server.received, server.modes = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/robot"
    try:
        fire_at_midnight(session)
        today = datetime.now(ZONE).date()
        people = [make_user(session, username=f"person{i}") for i in range(4)]
        for person in people:
            session.add(RulePreference(user_id=person.id, rule="task_due", in_app=True, email=False, webhook=True))
            session.add(NotificationSetting(user_id=person.id, webhook_url=url))
        session.commit()
        for n in range(30):
            make_task(session, actor=people[n % 4], title=f"任务{n:03d}", due_on=today)
        env = scheduler_env(settings, CRM_WEBHOOK_ALLOW_PRIVATE="true", CRM_REMINDER_CLAIM_BATCH="5")
        command = [sys.executable, "-m", "scheduler", "--once"]
        first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        second = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        outputs = [p.communicate(timeout=60)[0] for p in (first, second)]
        assert first.returncode == 0 and second.returncode == 0, outputs
    finally:
        server.shutdown()
        server.server_close()
    session.expire_all()
    contents = [message["text"]["content"] for message in server.received]
    assert len(contents) == 30 and len(set(contents)) == 30  # every reminder once, none twice
    assert session.scalar(select(func.count(Notification.id))) == 30
    assert session.scalar(select(func.count(func.distinct(Notification.outbox_id)))) == 30
    statuses = set(session.scalars(select(Outbox.status)))
    assert statuses == {DeliveryStatus.SENT}
    workers = set(session.scalars(select(Outbox.claimed_by).where(Outbox.channel == "webhook")))
    assert len(workers) == 2, workers  # both processes delivered a share


class SlowHook(Hook):
    """A robot that takes 50 ms per message, so the two schedulers' deliveries overlap."""

    def do_POST(self):
        time_module.sleep(0.05)
        super().do_POST()


def test_crm_serve_runs_several_workers_and_the_scheduler_as_its_own_process_stopped_together(
        db, session, users, settings, database_url, tmp_path):
    """`make run`'s shape: web workers (here two) and the scheduler beside them; Ctrl-C (SIGINT) stops them all."""
    from tests.server_process import ServerProcess

    server = ServerProcess(database_url=database_url, data_dir=tmp_path, workers=2, with_scheduler=True,
                           env={"CRM_SCHEDULER_DELIVER_SECONDS": "1"})
    try:
        server.wait_ready()
        children = _descendants(server.process.pid)
        commands = [_command_line(pid) for pid in children]
        assert sum("-m scheduler" in c for c in commands) == 1, commands
        assert sum("multiprocessing" in c and "spawn_main" in c for c in commands) == 2, commands
        wait_for(lambda: (session.expire_all(), session.get(SchedulerJob, "reminders.deliver"))[1] is not None
                 and session.get(SchedulerJob, "reminders.deliver").runs >= 1)
    finally:
        assert server.stop() == 0, server.output()
    wait_for(lambda: not any(_alive(pid) for pid in children))
    left = [_command_line(pid) for pid in children if _alive(pid)]
    assert not left, f"outlived `crm serve`: {left}"


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            found.append(int(child))
            queue.append(int(child))
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_crm_serve_takes_a_number_of_workers_or_auto(monkeypatch):
    import uvicorn

    from crm import cli

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw["workers"])))
    cli.main(["serve", "--workers", "4"])
    cli.main(["serve", "--workers", "auto"])
    assert calls == [("crm.main:create_app", 4), ("crm.main:create_app", len(os.sched_getaffinity(0)))]
    with pytest.raises(SystemExit):
        cli.main(["serve", "--workers", "0"])


def test_a_job_that_meets_a_busy_database_runs_again_within_the_pass(settings, db, session, users, database_url):
    """A user's save holds the lock longer than the job's wait: the job is tried again, and its run recorded."""
    from crm.db import Database
    from crm.scheduling.service import run_job

    impatient = Database(database_url, busy_timeout_ms=100)
    if impatient.is_sqlite:
        import sqlite3

        holder = sqlite3.connect(make_url(database_url).database, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        release = lambda: holder.execute("ROLLBACK")  # noqa: E731
    else:
        holder = impatient.engine.connect()
        holder.exec_driver_sql("LOCK TABLE scheduler_job, web_session IN EXCLUSIVE MODE")
        release = holder.rollback
    attempts = []

    def job(ctx) -> str:
        attempts.append(1)
        with ctx.database.write_session() as write:
            write.execute(delete(WebSession))
            write.commit()
        return "done"

    releaser = threading.Timer(0.5, release)
    releaser.start()
    try:
        assert run_job("busy.job", job, database=impatient, settings=settings)
    finally:
        releaser.cancel()
        releaser.join()
        holder.close()  # rolls back whatever it still holds
        impatient.dispose()
    assert len(attempts) >= 2
    session.expire_all()
    assert session.get(SchedulerJob, "busy.job").last_result == "done"


def test_utcnow_is_what_the_jobs_see(settings, db):
    from crm.scheduling.service import run_job

    seen = []
    with time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=ZONE), tick=False):
        run_job("clock.job", lambda ctx: seen.append(ctx.now), database=db, settings=settings)
        assert seen == [utcnow()]


def test_two_schedulers_creating_a_jobs_row_together_do_not_fail(db, session, settings, caplog):
    """Issue 16: on a fresh database two schedulers announce the same job at once. The second used to INSERT too
    and fail on the primary key (an ERROR with a traceback); the row is now created if absent, and both write."""
    from crm.scheduling.service import record_run, set_next_run

    done: list[str] = []

    def second_scheduler() -> None:
        with db.write_session() as other:
            set_next_run(other, name="race.job", trigger="every 1 s", next_run_at=None)
        done.append("announced")

    with caplog.at_level(logging.INFO), db.write_session() as first:
        first.add(SchedulerJob(name="race.job", trigger="first", runs=0, failures=0))
        first.flush()  # inserted, not committed: the other scheduler cannot see it yet
        thread = threading.Thread(target=second_scheduler)
        thread.start()
        time_module.sleep(0.3)
        first.commit()
        thread.join(timeout=10)
    assert done == ["announced"]
    now = utcnow()
    with db.write_session() as third:
        record_run(third, name="race.job", trigger="every 1 s", started=now, finished=now, ok=True, result="ok",
                   next_run_at=None, error="")
    with db.write_session() as fourth:  # a job's first run on a fresh database creates its row too
        record_run(fourth, name="new.job", trigger="", started=now, finished=now, ok=True, result="fine",
                   next_run_at=None, error="")
    session.expire_all()
    row = session.get(SchedulerJob, "race.job")
    assert row.trigger == "every 1 s" and row.runs == 1 and row.last_result == "ok"
    assert session.get(SchedulerJob, "new.job").runs == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_run_that_outlasts_its_interval_is_one_info_line_not_a_warning(db, settings, caplog):
    """A pass that runs past its interval: APScheduler's "maximum number of running instances reached" WARNING
    becomes one plain INFO line on crm.scheduler."""
    from scheduler.runner import build

    scheduler = build(settings, db, background=True)
    scheduler.remove_all_jobs()
    release = threading.Event()
    scheduler.add_job(lambda: release.wait(5), trigger="interval", seconds=0.2, id="slow.job", name="slow.job",
                      next_run_time=datetime.now(ZONE))
    with caplog.at_level(logging.INFO):
        scheduler.start()
        try:
            wait_for(lambda: any("slow.job" in r.getMessage() and r.name == "crm.scheduler" for r in caplog.records),
                     timeout=10)
        finally:
            release.set()
            scheduler.shutdown(wait=True)
    assert not [r for r in caplog.records if r.name.startswith("apscheduler") and r.levelno >= logging.WARNING]
    said = [r for r in caplog.records if r.name == "crm.scheduler" and "slow.job" in r.getMessage()]
    assert said[0].levelno == logging.INFO and "harmless" in said[0].getMessage()
