"""The route-by-role matrix (issue 13, 访问控制): every route of the app, for every role, against a rule table.

Every route the app serves (walked from `app.routes`, every method) is requested by each role — anonymous, an
officer, another officer, a manager, the system, security and audit administrators — with its path parameters
filled from a small world of real records: GET as is, POST with the session's CSRF token and an empty form. The
answer's class must be the one the rule table gives for that route and role, and no body shown to a role that may
not see the officer's confidential project contains its name, its secrets, or a link to it.

A route no rule covers fails the test: a new route gets its rule here, so who may reach it is decided on purpose.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from crm.api import tokens as api_tokens
from crm.attachments import service as attachment_service
from crm.auth.models import WebSession
from crm.backups.models import BackupRun
from crm.briefings.models import BriefingFile
from crm.exports import service as export_service
from crm.exports.models import ExportSupport
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.imports.models import ImportBatch
from crm.indicators import service as indicator_service
from crm.indicators.models import Indicator
from crm.major_projects.models import ResponsibleDepartment
from crm.notifications.models import Notification, Outbox
from crm.organizations.models import IndustryChain
from crm.parcels.models import LandParcel
from crm.projects.models import ApprovalItem, ApprovalTemplate, Decision
from crm.visits.models import TourStop
from crm.webhooks.models import WebhookSubscription
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_contact, make_org, make_project, make_task, make_user, make_visit

ROLES = ("anonymous", "security_admin", "audit_admin", "officer2", "officer", "manager", "admin")
USERNAMES = {"officer": "officer", "officer2": "officer2", "manager": "manager", "admin": "admin",
             "security_admin": "security", "audit_admin": "auditor"}

# What a role may get. OK: the route served it (2xx, or a redirect anywhere but the login page; for a POST with an
# empty form also the form's own refusal: 400, 409, 422). REFUSED: 403. HIDDEN: 404 (a record the role may not
# know of). LOGIN: sent to sign in. ANY: anything but a server error.
OK, REFUSED, HIDDEN, LOGIN, ANY = "ok", "refused", "hidden", "login", "any"
SECRET_NAME = "星辰机密电驱项目"
SECRET_TERMS = "对赌条款：返还土地款7781万元"  # investor-facing terms only its officers and managers may read
SECRET_FILE = "星辰保密协议.png"


def roles(anonymous=LOGIN, security_admin=REFUSED, audit_admin=REFUSED, officer2=None, officer=REFUSED,
          manager=REFUSED, admin=REFUSED) -> dict[str, str | frozenset]:
    return {"anonymous": anonymous, "security_admin": security_admin, "audit_admin": audit_admin,
            "officer2": officer if officer2 is None else officer2, "officer": officer, "manager": manager, "admin": admin}


PUBLIC = roles(anonymous=ANY, security_admin=ANY, audit_admin=ANY, officer=ANY, manager=ANY, admin=ANY)
# Officers, managers and the system administrator work with the zone's records; the security and audit
# administrators do not (crm.auth.deps.require_business_user).
BUSINESS = roles(officer=OK, manager=OK, admin=OK)
MANAGERS = roles(manager=OK, admin=OK)  # managers and the system administrator (an admin counts as a manager)
OWNER_OR_MANAGERS = roles(officer=OK, officer2=REFUSED, manager=OK, admin=OK)  # the record's officer, or a manager
SYSTEM_ADMIN = roles(admin=OK)
SECURITY_ADMIN = roles(security_admin=OK)
# The audit trail: the audit administrator, and managers for the records they may see; not the system
# administrator, whose own changes it records.
AUDIT_TRAIL = roles(audit_admin=OK, manager=OK)
ANY_SIGNED_IN = roles(security_admin=OK, audit_admin=OK, officer=OK, manager=OK, admin=OK)
OWN_HOME = ANY_SIGNED_IN  # `/`: the dashboard, or a redirect to the administrator's own page
ANY_ROLE = roles(anonymous=ANY, security_admin=ANY, audit_admin=ANY, officer=ANY, manager=ANY, admin=ANY)


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    pattern: re.Pattern
    expect: dict


def rule(methods: str, pattern: str, expect: dict) -> Rule:
    return Rule(frozenset(methods.split(",")), re.compile(pattern), expect)


# First match wins: (methods, route path template as a regular expression, expected outcome per role).
RULES = [
    # Public: sign-in (its two-factor step too) and the calendar feed, authenticated by the token in its address.
    rule("GET,POST", r"^/healthz$", PUBLIC),
    rule("GET,POST", r"^/login(/.*)?$", PUBLIC),
    rule("GET", r"^/feeds/\{token\}\.ics$", PUBLIC),
    # Every signed-in user: the home page, signing out, the language, their own account (password, second
    # factor, sessions).
    rule("GET", r"^/$", OWN_HOME),
    rule("POST", r"^/language$", ANY_SIGNED_IN),
    rule("POST", r"^/logout$", roles(security_admin=LOGIN, audit_admin=LOGIN, officer=LOGIN, manager=LOGIN, admin=LOGIN)),
    # Another user's session is not there to end (the security administrator ends sessions on their own page).
    rule("POST", r"^/account/sessions/\{session_id\}/end$", roles(security_admin=HIDDEN, audit_admin=HIDDEN,
                                                                    officer=HIDDEN, manager=HIDDEN, admin=HIDDEN)),
    rule("GET,POST", r"^/account(/.*)?$", ANY_SIGNED_IN),
    # The administrators' own pages.
    # The world's backup failed (it has no file): the system administrator finds nothing to check or download.
    rule("GET,POST", r"^/admin/backups/\{run_id\}/(download|verify)$", roles(admin=HIDDEN)),
    rule("GET,POST", r"^/admin/backups(/.*)?$", SYSTEM_ADMIN),
    rule("GET,POST", r"^/admin/(users|industries|approvals|indicators|reminders|scheduling|webhooks)(/.*)?$", SYSTEM_ADMIN),
    rule("GET,POST", r"^/admin/tokens(/.*)?$", SYSTEM_ADMIN),
    rule("GET", r"^/admin/export(\.zip)?$", SYSTEM_ADMIN),  # the full export (crm/data_export)
    rule("GET,POST", r"^/admin/security(/.*)?$", SECURITY_ADMIN),
    rule("GET,POST", r"^/admin/audit(/.*)?$", AUDIT_TRAIL),
    # Business pages a manager (or the system administrator) runs.
    rule("GET", r"^/reports/pipeline$", MANAGERS),
    rule("GET,POST", r"^/indicators/(periods(/.*)?|targets/.*|import)$", MANAGERS),
    rule("GET,POST", r"^/assessment/\{year\}/(officers/\{user_id\}|departments)/target$", MANAGERS),
    rule("GET,POST", r"^/parcels/new$|^/parcels/\{parcel_id\}/edit$", MANAGERS),
    rule("POST", r"^/parcels(/\{parcel_id\})?$", MANAGERS),
    rule("GET,POST", r"^/groundbreaking/\{event_id\}/edit$", MANAGERS),
    rule("POST", r"^/groundbreaking(/.*)?$", MANAGERS),
    rule("POST", r"^/projects/\{project_id\}/(decisions|archive|restore)$", MANAGERS),
    rule("GET", r"^/projects/\{project_id\}/archive$", MANAGERS),
    rule("GET,POST", r"^/exports/new$", MANAGERS),
    rule("POST", r"^/exports$", MANAGERS),
    rule("GET,POST", r"^/exports/\{organization_id\}/remove$", MANAGERS),
    rule("POST", r"^/scheduling/(projects/\{project_id\}/(mark|plan)|meetings(/\{meeting_id\}/items/\{item_id\})?)$",
         MANAGERS),
    rule("GET,POST", r"^/scheduling/meetings/\{meeting_id\}/edit$", MANAGERS),
    # An officer sees their own figures on the assessment, a manager everyone's.
    rule("GET", r"^/assessment/\{year\}/officers/\{user_id\}/\{metric\}$", roles(officer=REFUSED, officer2=OK,
                                                                                 manager=OK, admin=OK)),
    rule("GET", r"^/assessment/\{year\}/departments/\{metric\}$", MANAGERS),
    # Records an officer keeps: the other officer may look, not change.
    rule("GET,POST", r"^/projects/\{project_id\}/(edit|move|approvals/\{item_id\}/edit)$", OWNER_OR_MANAGERS),
    rule("POST", r"^/projects/\{project_id\}(/(move|visits|approvals/\{item_id\}))?$", OWNER_OR_MANAGERS),
    rule("GET,POST", r"^/visits/\{visit_id\}/(edit|delete|stops/.*|briefing/files/\{file_id\}/download)$",
         OWNER_OR_MANAGERS),
    rule("POST", r"^/visits/\{visit_id\}/briefing/notes$", OWNER_OR_MANAGERS),
    rule("GET,POST", r"^/(organizations|contacts)/\{[a-z_]+\}/(archive|restore)$", OWNER_OR_MANAGERS),
    rule("GET", r"^/tasks/\{task_id\}/edit$", OWNER_OR_MANAGERS),
    rule("POST", r"^/tasks/\{task_id\}(/[a-z]+)?$", OWNER_OR_MANAGERS),
    rule("GET,POST", r"^/exports/(\{organization_id\}/(edit|figures)|support/\{support_id\}/remove)$",
         OWNER_OR_MANAGERS),  # the member's officer
    rule("POST", r"^/exports/\{organization_id\}$", OWNER_OR_MANAGERS),
    rule("GET", r"^/scheduling/projects/\{project_id\}/(reports|items)/new$", OWNER_OR_MANAGERS),
    rule("POST", r"^/scheduling/(projects/\{project_id\}/(reports|items)|reports/\{report_id\}|items/\{item_id\})$",
         OWNER_OR_MANAGERS),  # a major project's officer files and corrects reports and works its items
    rule("GET,POST", r"^/attachments/\{attachment_id\}/delete$", OWNER_OR_MANAGERS),
    rule("POST", r"^/attachments$", OWNER_OR_MANAGERS),
    rule("POST", r"^/visits/\{visit_id\}(/stops(/order)?)?$", OWNER_OR_MANAGERS),
    # API tokens: each user's own page; a token is revoked by its owner or the system administrator.
    rule("GET,POST", r"^/settings/tokens$", BUSINESS),
    rule("GET,POST", r"^/settings/tokens/\{token_id\}/revoke$", roles(officer=OK, officer2=REFUSED, manager=REFUSED,
                                                                       admin=OK)),
    rule("GET", r"^/api/docs$", BUSINESS),
    # A notification is its recipient's alone.
    rule("GET,POST", r"^/notifications/\{notification_id\}(/read)?$",
         roles(officer=OK, officer2=HIDDEN, manager=HIDDEN, admin=HIDDEN)),
    # Imports: a batch is its uploader's; managers see and may undo everyone's; the wizard's steps are the uploader's.
    rule("GET,POST", r"^/imports/\{batch_id\}(/undo)?$", roles(officer=OK, officer2=HIDDEN, manager=OK, admin=OK)),
    rule("GET,POST", r"^/imports/\{batch_id\}/.*$", roles(officer=OK, officer2=HIDDEN, manager=HIDDEN, admin=HIDDEN)),
    rule("GET,POST", r"^/imports(/new|/template/\{kind_name\})?$", BUSINESS),
    # Everything else the zone's staff work with: every officer, manager and the system administrator.
    rule("GET,POST", r"^/(search|organizations|contacts|tasks|visits|reports|projects|parcels|groundbreaking|exports"
                     r"|attachments|notifications|indicators|assessment|scheduling)(/.*)?$", BUSINESS),
]

# Where an empty form changes state it cannot change back (or ends the session): these run last, in this order.
LAST = [r"/attachments/\{attachment_id\}/delete$", r"/stops/\{stop_id\}/delete$", r"/slate/\{project_id\}/drop$",
        r"/support/\{support_id\}/remove$", r"/exports/\{organization_id\}/remove$", r"/archive$",
        r"/visits/\{visit_id\}/delete$", r"/sessions/end$", r"^/logout$"]


def _walk(routes):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # a router included in the app
            yield from _walk(route.original_router.routes)
        elif hasattr(route, "routes"):
            yield from _walk(route.routes)


def app_routes(app) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, HEAD aside (Starlette answers it from GET)."""
    found = {(method, route.path) for route in _walk(app.routes) for method in route.methods if method != "HEAD"}
    return sorted(found)


def rule_for(method: str, path: str) -> Rule | None:
    return next((r for r in RULES if method in r.methods and r.pattern.search(path)), None)


@dataclass
class World:
    ids: dict[str, int | str]
    secret_ids: dict[str, int | str]  # the same parameters, naming the confidential project and its records
    secret_project_id: int
    export_member_id: int
    template_item_id: int
    bystander_id: int
    scheduling_items: tuple[int, int] = (0, 0)  # coordination items (public, confidential project) for /scheduling/



def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def build_world(session, users, settings) -> World:
    officer, officer2, manager = users["officer"], users["officer2"], users["manager"]
    org = make_org(session, actor=officer, name="合肥星辰新能源汽车零部件", kind="investor")
    zone = make_org(session, actor=officer, name="菏泽光伏组件", kind="zone_enterprise")
    contact = make_contact(session, actor=officer, organization=org)
    task = make_task(session, actor=officer, organization_id=org.id)
    visit = make_visit(session, title="星辰来访考察", officer=officer, organizations=[org], stops=[zone])
    project = make_project(session, actor=officer, organizations=[org], name="星辰公开电驱项目", stage="negotiating",
                           total_investment_wan_cny="8000")
    secret = make_project(session, actor=officer, organizations=[org], name=SECRET_NAME, stage="negotiating",
                          total_investment_wan_cny="50000", is_confidential="1", description=SECRET_TERMS)
    member = export_service.create(session, actor=manager, data={
        "organization_id": zone.id, "tier": "key", "officer_id": officer.id, "target_year": "2026",
        "target_wan_usd": "1200", "main_products": "光伏组件", "markets": "欧盟", "support_planned": ""})
    parcel = LandParcel(code="P-1", name="纱厂地块", status="supplied")
    event = GroundbreakingEvent(name="12月项目集中奠基开工", held_on=date(2026, 12, 18), place="菏泽经济开发区")
    session.add_all([parcel, event])
    session.flush()
    session.add_all([SlatedProject(event_id=event.id, project_id=project.id, position=0),
                     SlatedProject(event_id=event.id, project_id=secret.id, position=1)])
    decisions = {p.id: Decision(project_id=p.id, meeting_kind="joint", meeting_on=date(2026, 12, 1), outcome="approved",
                                resolution=f"同意引进{p.name}", recorded_by_id=manager.id) for p in (project, secret)}
    support = ExportSupport(organization_id=zone.id, kind="exhibition", given_on=date(2026, 11, 20),
                            given_at=datetime(2026, 11, 20, 2, tzinfo=UTC), officer_id=officer.id, description="广交会")
    pdf = b"%PDF-1.4 matrix"
    (settings.data_dir / "briefings").mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "briefings" / "matrix.pdf").write_bytes(pdf)
    briefing = BriefingFile(visit_id=visit.id, variant="internal", locale="zh_CN", status="done", created_by_id=officer.id,
                            path="briefings/matrix.pdf", size_bytes=len(pdf), sha256=hashlib.sha256(pdf).hexdigest(),
                            finished_at=datetime(2026, 12, 1, tzinfo=UTC))
    notification = Notification(user_id=officer.id, rule="task_due", entity_type="task", entity_id=task.id,
                                occasion="due:2026-12-02", payload={"title": task.title, "due_on": "2026-12-02", "days": 0})
    outbox = Outbox(rule="task_due", entity_type="task", entity_id=task.id, occasion="due:2026-12-02",
                    recipient_id=officer.id, channel="email", status="failed", fire_at=datetime(2026, 12, 2, 1, tzinfo=UTC),
                    due_at=datetime(2026, 12, 2, 1, tzinfo=UTC), payload={})
    backup = BackupRun(kind="scheduled", status="failed", error="disk full", finished_at=datetime(2026, 12, 2, tzinfo=UTC))
    session.add_all([*decisions.values(), support, briefing, notification, outbox, backup])
    bystander = make_user(session, username="bystander")
    subscription = WebhookSubscription(url="https://example.com/hook", events=["project.created"],
                                       owner_id=users["admin"].id, secret="whsec_matrix")
    session.add(subscription)
    session.add(WebSession(id="b" * 64, user_id=bystander.id, user_agent="matrix"))  # a session that is nobody's here
    indicator_service.ensure_defaults(session)
    batch = ImportBatch(user_id=officer.id, kind="organizations", file_name="客商名录.xlsx", file_sha256="0" * 64,
                        status="committed", mapping={})  # an import the officer committed (it wrote nothing)
    session.add(batch)
    session.commit()
    files = {entity: attachment_service.create(
        session, entity_type=entity, entity_id=entity_id, filename=name, data=data, actor=officer,
        data_dir=settings.data_dir, max_bytes=10**6)
        for entity, entity_id, name, data in (("visit", visit.id, "现场照片.png", _png()),
                                              ("project", secret.id, SECRET_FILE, _png()))}

    from crm.major_projects import service as major_service

    majors = {}
    for p in (project, secret):
        major_service.mark(session, project=p, actor=manager, version=None,
                           data={"is_city": "1", "listed_year": "2026", "leader_id": manager.id})
        majors[p.id] = (major_service.file_report(session, project=p, year=2026, month=11, actor=officer,
                                                  today=date(2026, 12, 3), data={"completed_wan_cny": "10",
                                                                                 "progress": "开工", "problems": ""}),
                        major_service.raise_item(session, project=p, actor=officer, today=date(2026, 12, 3),
                                                 data={"need": "用电", "department_other": "党政办",
                                                       "deadline_on": "2026-12-20"}))
    meeting = major_service.create_meeting(session, data={"title": "调度会", "held_on": "2026-12-06"},
                                           attendee_ids=[], actor=manager)

    def item_of(p):
        return session.scalar(select(ApprovalItem.id).where(ApprovalItem.project_id == p.id).order_by(ApprovalItem.id))

    ids = {
        "organization_id": org.id, "contact_id": contact.id, "task_id": task.id, "visit_id": visit.id,
        "stop_id": session.scalar(select(TourStop.id).where(TourStop.visit_id == visit.id)), "file_id": briefing.id,
        "project_id": project.id, "item_id": item_of(project), "decision_id": decisions[project.id].id,
        "parcel_id": parcel.id, "event_id": event.id, "support_id": support.id, "user_id": officer2.id,
        "chain_id": session.scalar(select(IndustryChain.id).order_by(IndustryChain.id)),
        "attachment_id": files["visit"].id, "notification_id": notification.id, "outbox_id": outbox.id,
        "code": "task_due", "period_key": "2026-11", "year": 2026, "metric": "projects_signed",
        "indicator_id": session.scalar(select(Indicator.id).order_by(Indicator.id)), "token": "no-such-token",
        "batch_id": batch.id, "kind_name": "organizations",
        "session_id": "b" * 64, "run_id": backup.id, "report_id": majors[project.id][0].id, "meeting_id": meeting.id,
        "subscription_id": subscription.id, "delivery_id": subscription.id,  # no such delivery: a POST answers 400
        "department_id": session.scalar(select(ResponsibleDepartment.id).order_by(ResponsibleDepartment.id)),
        "token_id": api_tokens.create(session, user=officer, name="matrix", scope="read", expires_at=None,
                                      actor=officer)[0].id,  # the officer's API token
    }
    secret_ids = {**ids, "project_id": secret.id, "item_id": item_of(secret), "decision_id": decisions[secret.id].id,
                  "report_id": majors[secret.id][0].id,
                  "attachment_id": files["project"].id}
    world = World(ids=ids, secret_ids=secret_ids, secret_project_id=secret.id, export_member_id=member.organization_id,
                  template_item_id=session.scalar(select(ApprovalTemplate.id).order_by(ApprovalTemplate.id)),
                  bystander_id=bystander.id,
                  scheduling_items=(majors[project.id][1].id, majors[secret.id][1].id))
    session.commit()
    return world


NEXT_FIELD = re.compile(r'name="next" value="[^"]*"')
SECRET_PARAMS = {"project_id", "decision_id", "attachment_id", "report_id"}
QUERIES = {"/assessment/{year}/departments/target": "?name=招商一科", "/assessment/{year}/departments/{metric}": "?name=招商一科",
           "/visits/{visit_id}/briefing/preview": "?variant=internal"}


def concrete(path: str, world: World, *, secret: bool) -> str:
    values = dict(world.secret_ids if secret else world.ids)
    if path.startswith("/exports/"):
        values["organization_id"] = world.export_member_id
    if path.startswith("/scheduling/"):
        values["item_id"] = world.scheduling_items[1 if secret else 0]
    if path.startswith("/admin/approvals/"):
        values["item_id"] = world.template_item_id
    if path.startswith("/admin/security/"):
        values["user_id"] = world.bystander_id  # not a role of the matrix: ending its sessions signs none of them out

    def fill(match: re.Match) -> str:
        name = match.group(1)
        assert name in values, f"{path}: no record in the matrix's world for {{{name}}}: add one to build_world()"
        return str(values[name])

    return re.sub(r"\{([^}]+)\}", fill, path) + QUERIES.get(path, "")


def outcome_of(method: str, response, *, destructive: bool) -> str:
    status = response.status_code
    target = response.headers.get("location", "") or response.headers.get("hx-redirect", "")
    if status >= 500:
        return "error"
    if status in (303, 401) and target.startswith("/login"):
        return LOGIN
    if status == 403:
        return REFUSED
    if status == 404 and not destructive:
        return HIDDEN
    if status < 400 or (method == "POST" and status in (400, 404, 409, 413, 422)):
        return OK
    return str(status)


def matches(expected, got: str) -> bool:
    if expected == ANY:
        return got != "error"
    if isinstance(expected, frozenset):
        return got in expected
    return got == expected


def may_see_secret(role: str, path: str) -> bool:
    # The audit administrator reads the whole audit trail, entries on confidential records included (that is the
    # trail an assessor asks for); nothing else of them.
    return role in ("officer", "manager", "admin") or (role == "audit_admin" and path.startswith("/admin/audit"))


def sign_in(app, role: str) -> TestClient:
    client = TestClient(app, base_url="http://testserver", follow_redirects=False,
                        raise_server_exceptions=False).__enter__()  # a 500 is an answer the table reports
    page = client.get("/login")
    if role == "anonymous":
        client.csrf = csrf_from(page.text)
        return client
    response = client.post("/login", data={"username": USERNAMES[role], "password": PASSWORD,
                                           "csrf_token": csrf_from(page.text), "next": "/"})
    assert response.status_code == 303, (role, response.text[:300])
    client.csrf = csrf_from(client.get("/", follow_redirects=True).text)
    return client


@pytest.fixture
def matrix_users(session, users):
    return {**users, "security_admin": make_user(session, username="security", role="security_admin"),
            "audit_admin": make_user(session, username="auditor", role="audit_admin")}


def test_every_route_has_a_rule(app):
    missing = [(method, path) for method, path in app_routes(app) if rule_for(method, path) is None]
    assert not missing, f"routes no rule of tests/test_route_matrix.py covers (add one): {missing}"


def test_every_route_answers_each_role_as_its_rule_says(app, session, matrix_users, settings):
    world = build_world(session, matrix_users, settings)
    clients = {role: sign_in(app, role) for role in ROLES}
    secret_href = re.compile(rf'/projects/{world.secret_project_id}(?![0-9])')
    # The upload form names its record (an upload without one is a 404 for anyone); no file: refused as a form.
    FORMS = {"/attachments": {"entity_type": "visit", "entity_id": str(world.ids["visit_id"])}}
    requests = []  # (phase, method, path, secret)
    for method, path in app_routes(app):
        last = next((i for i, pattern in enumerate(LAST) if re.search(pattern, path)), None)
        phase = 0 if method == "GET" else 1 if last is None else 2 + last
        for secret in (False, True) if SECRET_PARAMS & set(re.findall(r"\{([^}]+)\}", path)) else (False,):
            requests.append((phase, method, path, secret))
    requests.sort(key=lambda r: r[0])
    wrong, leaks, served_secret = [], [], False
    try:
        for phase, method, path, secret in requests:
            found = rule_for(method, path)
            assert found is not None, (method, path)
            url = concrete(path, world, secret=secret)
            for role in ROLES:
                client = clients[role]
                if method == "GET":
                    response = client.get(url)
                else:
                    response = client.post(url, data={"csrf_token": client.csrf, **FORMS.get(path, {})})
                expected = found.expect[role]
                if secret and role == "officer2":
                    # A confidential project is not there for an officer who may not see it: not found, exactly as a
                    # project that does not exist (a refusal would tell it exists), unless the route refuses officers
                    # whatever the record.
                    expected = frozenset({REFUSED, HIDDEN}) if found.expect["officer"] == REFUSED else HIDDEN
                # Where an earlier role's empty form already removed the record, not found is what the form answers.
                destructive = phase >= 2 and not (expected == HIDDEN or (isinstance(expected, frozenset)
                                                                         and HIDDEN in expected))
                got = outcome_of(method, response, destructive=destructive)
                if not matches(expected, got):
                    wrong.append(f"{role:14} {method:4} {url:60} expected {expected}, got {response.status_code}"
                                 f" {response.headers.get('location', '')}")
                body = NEXT_FIELD.sub("", response.text)  # the language switch's way back is the address asked for
                if may_see_secret(role, path):
                    served_secret |= secret and SECRET_TERMS in body
                elif SECRET_NAME in body or SECRET_TERMS in body or SECRET_FILE in body or secret_href.search(body):
                    leaks.append(f"{role:14} {method:4} {url}")
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
    assert served_secret, "the confidential project's terms were never shown, even to its officer: the leak check is blind"
    assert not wrong, f"{len(wrong)} answers differ from the rule table:\n" + "\n".join(wrong)
    assert not leaks, "the confidential project shown to a role that may not see it:\n" + "\n".join(leaks)
    # Bounded: about 1,500 requests, 20 s per backend on an idle machine. A wall-clock limit would fail on a busy one,
    # so the bound is on the work: a table that grows past it is split (or its worlds trimmed), not waited for.
    assert len(requests) * len(ROLES) < 2500
