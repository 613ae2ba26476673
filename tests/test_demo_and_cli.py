"""The demo loader and the `crm` console command, against the test databases."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from crm import cli, demo
from crm.auth.models import User
from crm.contacts.models import Contact
from crm.organizations.models import Organization
from crm.tasks.models import Task
from crm.visits import service as visit_service
from crm.visits.models import Visit, VisitOrganization
from tests.conftest import csrf_from, login

ZONE_ENTERPRISES = ["大唐智创", "玉皇新能源", "精进电动", "现代医药港"]
HEZE = ZoneInfo("Asia/Shanghai")


def org_named(session, name: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.name == name))


def visits_of(session, org: Organization) -> list[Visit]:
    ids = session.scalars(select(VisitOrganization.visit_id).where(VisitOrganization.organization_id == org.id))
    return [visit_service.get(session, visit_id) for visit_id in ids]


def local_date(moment) -> date:
    return moment.astimezone(HEZE).date()


def test_demo_load_creates_the_seed_zone(app, client, session):
    assert demo.is_empty(session) is True
    session.commit()
    demo.load(session, anchor=date(2026, 12, 6))
    session.expire_all()
    assert demo.is_empty(session) is False

    users = {u.username: u for u in session.scalars(select(User))}
    assert set(users) == {"officer", "manager", "admin", "security", "auditor"}
    assert (users["security"].role, users["auditor"].role) == ("security_admin", "audit_admin")
    assert users["manager"].display_name == "练建军"
    assert (users["officer"].role, users["manager"].role, users["admin"].role) == ("officer", "manager", "admin")

    fosun = org_named(session, "复星集团")
    assert fosun is not None and fosun.kind == "investor"
    assert "12月2日" in fosun.description
    zhu = session.scalar(select(Contact).where(Contact.name == "祝文魁"))
    assert zhu is not None and zhu.organization_id == fosun.id
    assert "首席战略赋能官" in zhu.title
    for name in ZONE_ENTERPRISES:
        org = org_named(session, name)
        assert org is not None, name
        assert org.kind == "zone_enterprise", name
    assert session.scalar(select(func.count(Organization.id))) > 30
    fosun_id = fosun.id
    session.commit()  # end the read transaction before signing in over HTTP

    login(client, "manager", demo.DEMO_PASSWORD)
    home = client.get("/")
    assert home.status_code == 200
    assert "练建军" in home.text
    page = client.get(f"/organizations/{fosun_id}")
    assert "祝文魁" in page.text and "12月2日" in page.text
    found = client.get("/organizations", params={"q": "zwk"})  # found through its contact's initials
    assert f'href="/organizations/{fosun_id}"' in found.text

    for username in ("officer", "admin"):
        with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
            page = other.get("/login")
            wrong = other.post("/login", data={"username": username, "password": "not-the-password",
                                               "csrf_token": csrf_from(page.text), "next": "/"})
            assert wrong.status_code == 401
            login(other, username, demo.DEMO_PASSWORD)
            assert other.get("/organizations").status_code == 200


def test_demo_visit_date_follows_the_anchor(db, session):
    """The anchor 2026-12-06 (12月2日) is covered above; another anchor moves the visit with it."""
    anchor = date(2026, 11, 30)
    assert demo.shift(date(2021, 12, 2), anchor) == anchor - timedelta(days=4)  # the seed visit, 4 days before
    demo.load(session, anchor=anchor)
    description = org_named(session, "复星集团").description
    session.commit()
    assert description.startswith("11月26日率团到开发区考察洽谈合作")
    assert "12月2日" not in description
    [visit] = visits_of(session, org_named(session, "复星集团"))
    session.commit()
    assert local_date(visit.starts_at) == date(2026, 11, 26)


def test_demo_visits(db, session):
    """The seed's Fosun visit with its tour, delegation, host and follow-ups; a month of invented visits around it."""
    anchor = date(2026, 12, 6)
    demo.load(session, anchor=anchor)
    fosun = org_named(session, "复星集团")
    [visit] = visits_of(session, fosun)
    assert (visit.kind, visit.status) == ("inbound", "done")
    assert local_date(visit.starts_at) == anchor - timedelta(days=4)
    assert [s.organization.name for s in visit.stops] == ZONE_ENTERPRISES
    assert all("听介绍、进车间" in s.shown and "产品研发、资金投入及运营情况" in s.shown for s in visit.stops)
    stop_times = [s.starts_at for s in visit.stops]
    assert stop_times == sorted(stop_times) and all(local_date(t) == local_date(visit.starts_at) for t in stop_times)
    assert [m.contact.name for m in visit.members] == ["祝文魁"]
    assert [h.user.display_name for h in visit.hosts] == ["练建军"]
    assert visit.leader_lines == ["党工委书记、管委会主任 练建军"]
    assert "加快项目投资研讨" in visit.outcome and "寻找更多合作结合点" in visit.outcome
    assert {i.industry_chain.code for i in visit.industries} == {"new_energy", "biomedicine"}

    # Fosun's follow-ups are the visit's, not standalone duplicates
    fosun_tasks = session.scalars(select(Task).where(Task.organization_id == fosun.id)).all()
    titles = {t.title for t in fosun_tasks}
    assert "向复星集团寄送开发区新能源、生物医药产业资料" in titles and "与复星集团商定第二轮洽谈时间" in titles
    assert {t.visit_id for t in fosun_tasks} == {visit.id}
    materials = next(t for t in fosun_tasks if "产业资料" in t.title)
    assert anchor < materials.due_on <= anchor + timedelta(days=7)

    visits = session.scalars(select(Visit)).all()
    planned = [v for v in visits if v.status == "planned"]
    done = [v for v in visits if v.status == "done"]
    assert 15 <= len(visits) <= 30
    assert len(planned) >= 5 and all(anchor < local_date(v.starts_at) <= anchor + timedelta(days=21) for v in planned)
    assert len(done) >= 10 and all(anchor - timedelta(days=28) <= local_date(v.starts_at) < anchor for v in done)
    assert {v.kind for v in visits} == {"inbound", "outbound", "meeting", "remote", "signing", "aftercare"}
    assert len({v.officer_id for v in visits}) == 2  # the officer's and the manager's
    followups = session.scalars(select(Task).where(Task.visit_id.is_not(None))).all()
    assert any(t.due_on < anchor for t in followups)  # some overdue
    assert any(anchor <= t.due_on <= anchor + timedelta(days=3) for t in followups)  # some due soon
    # every follow-up belongs to a visit, or (the invented project follow-ups) to a project
    assert session.scalar(select(func.count(Task.id)).where(Task.visit_id.is_(None), Task.project_id.is_(None))) == 0
    session.commit()


def test_demo_projects_parcel_and_the_december_groundbreaking(db, session):
    """The seed's parcel with its facts and signing window moved with the anchor; invented projects in every stage,
    some from the demo's visits, one confidential, some stale; the December collective groundbreaking with a slate
    some of which is ready and some not."""
    from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
    from crm.parcels.models import LandParcel
    from crm.projects import gates
    from crm.projects import service as project_service
    from crm.projects.models import ALL_STAGES, Project

    anchor = date(2026, 12, 6)
    demo.load(session, anchor=anchor)
    parcel = session.scalar(select(LandParcel).where(LandParcel.code == "菏泽市2019-2"))
    assert parcel.name == "菏泽市2019-2旧城区改建项目（纱厂地块）"
    assert (parcel.households_total, parcel.households_signed) == (557, 0)
    assert (parcel.building_area_m2, parcel.land_area_m2) == (45400, 212958)
    assert (parcel.signing_starts_on, parcel.signing_ends_on) == (date(2026, 12, 8), date(2026, 12, 14))
    assert parcel.compensation_cash and parcel.compensation_swap
    assert "康庄东路以南" in parcel.bounds and "初级中学" in parcel.public_facilities

    projects = session.scalars(select(Project)).all()
    assert {p.stage for p in projects} == {s.value for s in ALL_STAGES}
    assert all("虚构" in p.description or "INVENTED" in p.description for p in projects)
    assert sum(p.is_confidential for p in projects) >= 1
    assert any(p.source_visit_id for p in projects)
    assert any(p.gate_override_reason for p in projects if p.stage == "groundbreaking")
    assert "复星集团生物医药产业园项目" in {p.name for p in projects}

    event = session.scalar(select(GroundbreakingEvent))
    assert event.name == "12月项目集中奠基开工" and event.held_on.month == 12 and event.held_on > anchor
    slate = [project_service.get(session, row.project_id) for row in
             session.scalars(select(SlatedProject).where(SlatedProject.event_id == event.id))]
    colours = {gates.readiness(p, threshold=Decimal("10000"), today=anchor).colour for p in slate}
    assert len(slate) >= 4 and colours == {"green", "amber", "red"}
    session.commit()

    # the same anchor gives the same records
    names = sorted((p.name, p.stage, str(p.total_investment_wan_cny)) for p in projects)
    db_url = db.url
    session.close()
    from tests.conftest import _empty_all_tables

    _empty_all_tables(db)
    demo.load(session, anchor=anchor)
    again = sorted((p.name, p.stage, str(p.total_investment_wan_cny)) for p in session.scalars(select(Project)))
    session.commit()
    assert again == names and db_url == db.url


def test_demo_scheduling_table_has_green_amber_and_red_rows(db, session):
    """The demo's 调度表 of the month being reported has every colour, some reports late, one corrected, items
    overdue (one by more than 30 days) and a meeting with decisions; the confidential project's row is shown only to
    who may see it."""
    from crm.major_projects import service as major_service
    from crm.major_projects.models import CoordinationItem, MeetingDecision, MonthlyReport
    from tests import factories

    anchor = date(2026, 12, 6)
    demo.load(session, anchor=anchor)
    manager = session.scalar(select(User).where(User.username == "manager"))
    board = major_service.board(session, viewer=manager, year=2026, month=11, today=anchor)
    assert board.closed and len(board.rows) >= 5
    assert {r.judgement.colour for r in board.rows} == {"green", "amber", "red"}
    assert all(r.judgement.reasons for r in board.rows)
    assert any(r.report_missing for r in board.rows)
    reports = session.scalars(select(MonthlyReport)).all()
    assert any(r.is_late for r in reports) and any(r.revision > 1 for r in reports)
    overdue = [i.days_overdue(anchor) for i in session.scalars(select(CoordinationItem))]
    assert any(0 < d <= 30 for d in overdue) and any(d > 30 for d in overdue)
    assert session.scalar(select(func.count(MeetingDecision.id))) >= 2
    confidential = {r.project.id for r in board.rows if r.project.is_confidential}
    assert confidential
    other = factories.make_user(session, username="officer2", role="officer")
    seen = {r.project.id for r in major_service.board(session, viewer=other, year=2026, month=11, today=anchor).rows}
    assert seen and not seen & confidential
    session.commit()


# The console command


@pytest.fixture
def cli_env(monkeypatch, database_url):
    monkeypatch.setenv("CRM_DATABASE_URL", database_url)
    monkeypatch.delenv("CRM_NEW_PASSWORD", raising=False)


def test_cli_user_create_then_sign_in(client, session, cli_env, capsys):
    code = cli.main(["user", "create", "--username", "zhao", "--role", "manager", "--password", "Long-enough-1"])
    assert code == 0
    assert "created user zhao (manager)" in capsys.readouterr().out
    session.expire_all()
    user = session.scalar(select(User).where(User.username == "zhao"))
    session.commit()
    assert user is not None and (user.role, user.is_active, user.display_name) == ("manager", True, "zhao")

    login(client, "zhao", "Long-enough-1")
    assert client.get("/organizations").status_code == 200
    assert client.get("/admin/users").status_code == 403  # a manager, not an admin


def test_cli_user_create_refuses_duplicate_and_short_password(client, session, cli_env, capsys):
    assert cli.main(["user", "create", "--username", "zhao", "--password", "Long-enough-1"]) == 0
    capsys.readouterr()
    assert cli.main(["user", "create", "--username", "zhao", "--role", "admin", "--password", "otherpass1"]) != 0
    assert "username" in capsys.readouterr().err
    assert cli.main(["user", "create", "--username", "ZHAO", "--password", "otherpass1"]) != 0  # case-insensitive
    assert cli.main(["user", "create", "--username", "qian", "--password", "short"]) != 0
    assert "password" in capsys.readouterr().err
    session.expire_all()
    users = session.scalars(select(User)).all()
    session.commit()
    assert [(u.username, u.role) for u in users] == [("zhao", "officer")]
    login(client, "zhao", "Long-enough-1")  # the first password still stands


def test_cli_user_create_refuses_a_username_the_admin_form_refuses(db, session, cli_env, capsys):
    code = cli.main(["user", "create", "--username", "Bad Name!", "--password", "Long-enough-1"])
    assert code != 0
    session.expire_all()
    n = session.scalar(select(func.count(User.id)))
    session.commit()
    assert n == 0


def test_cli_db_check_agrees_with_migrations(db, cli_env, capsys):
    assert cli.main(["db", "check"]) == 0
    assert "models and migrations agree" in capsys.readouterr().out


def test_cli_demo_load_if_empty_leaves_existing_data_alone(db, session, users, cli_env, capsys):
    assert cli.main(["demo", "load", "--if-empty", "--anchor", "2026-12-06"]) == 0
    assert "demo not loaded" in capsys.readouterr().out
    session.expire_all()
    assert session.scalar(select(func.count(Organization.id))) == 0
    assert session.scalar(select(func.count(User.id))) == 4
    session.commit()


def test_demo_marks_invented_data_in_notes_not_in_names_and_titles_that_print(db, session):
    """Issue 16: the briefing pack printed "招商专员 (INVENTED)". Names and titles print (PDFs, lists); the
    marking belongs in the loader and in the records' notes."""
    from crm.groundbreaking.models import GroundbreakingEvent
    from crm.parcels.models import LandParcel
    from crm.projects.models import Project

    demo.load(session, anchor=date(2026, 12, 6))
    session.expire_all()
    printed = [
        *session.scalars(select(User.display_name)), *session.scalars(select(User.title)),
        *session.scalars(select(Organization.name)), *session.scalars(select(Contact.name)),
        *session.scalars(select(Contact.title)), *session.scalars(select(Project.name)),
        *session.scalars(select(Visit.title)), *session.scalars(select(Task.title)),
        *session.scalars(select(LandParcel.name)), *session.scalars(select(GroundbreakingEvent.name)),
        *session.scalars(select(User.department)),
    ]
    assert printed and not [text for text in printed if text and "INVENTED" in text.upper()]
    assert session.scalar(select(User.title).where(User.username == "officer")) == "招商专员"
    notes = list(session.scalars(select(Organization.description)))
    assert any("INVENTED" in note and "虚构" in note for note in notes)  # the marking stays where notes show it
