"""Every visible string goes through the catalog, in both languages."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from crm.i18n import TRANSLATIONS_DIR
from crm.visits import service as visit_service
from tests.conftest import post
from tests.factories import make_contact, make_org, make_project

ROOT = Path(__file__).resolve().parent.parent
METHOD_MAP = [("crm/**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "N_": None, "Msg": None}
CJK = re.compile(r"[\u3400-\u9fff]")


def _source_msgids() -> set[str]:
    ids = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHOD_MAP, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True,
        options_map={"templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}},
    ):
        if isinstance(message, str) and message:
            ids.add(message)
    assert len(ids) > 150  # the extraction itself works
    return ids


def _catalog(locale: str):
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def test_every_message_has_a_chinese_translation():
    catalog = _catalog("zh_CN")
    missing = sorted(m for m in _source_msgids() if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, f"untranslated in zh_CN (run `make messages`, then translate): {missing}"


def test_the_english_catalog_knows_every_message():
    catalog = _catalog("en")
    missing = sorted(m for m in _source_msgids() if catalog.get(m) is None)
    assert not missing, f"missing from the en catalog (run `make messages`): {missing}"


def test_translations_keep_their_placeholders():
    catalog = _catalog("zh_CN")
    placeholders = re.compile(r"%\(\w+\)[sd]")
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)  # a plural: (singular, plural)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(placeholders.findall(ids[-1]))
        for string in strings:
            assert set(placeholders.findall(string)) == expected, message.id


class _TextFinder(HTMLParser):
    """Collects literal text in a template once every Jinja construct is removed."""

    ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in self.ATTRIBUTES and value and re.search(r"[A-Za-z\u3400-\u9fff]", value):
                self.found.append(f"{tag}[{name}]={value}")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if re.fullmatch(r'\s*([\w-]+(="[^"]*")?\s*)+', data) and "=" in data:
            return  # a macro that renders attributes, not text
        if not self._skip and re.search(r"[A-Za-z\u3400-\u9fff]", data):
            self.found.append(data.strip())


JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.S)


@pytest.mark.parametrize("template", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "templates").rglob("*.html")))
def test_templates_have_no_literal_text_outside_the_catalog(template):
    source = JINJA.sub("", (ROOT / template).read_text())
    finder = _TextFinder()
    finder.feed(source)
    assert not finder.found, f"{template} shows text that does not go through _(): {finder.found}"


ENGLISH_PAGES = ["/", "/organizations", "/organizations/new", "/contacts", "/contacts/new", "/admin/users",
                 "/admin/users/new", "/admin/audit", "/organizations/999999", "/indicators", "/indicators/periods",
                 "/indicators/import", "/indicators/targets/2025", "/assessment", "/admin/indicators"]  # /admin/industries, /admin/approvals show Chinese names as data


def test_english_pages_show_no_chinese_interface_text(client, session):
    """With English data, any Chinese character on an English page is an untranslated interface string."""
    from tests.conftest import login
    from tests.factories import make_user

    users = {role: make_user(session, username=role, role=role, display_name=role.title())
             for role in ("officer", "admin")}
    org = make_org(session, actor=users["admin"], name="Acme Holdings", name_en="Acme")
    contact = make_contact(session, actor=users["admin"], organization=org, name="Jane Doe")
    plant = make_org(session, actor=users["admin"], name="Widget Works", kind="zone_enterprise")
    visit = visit_service.create(session, actor=users["admin"], timezone="Asia/Shanghai", visit_input=visit_service.VisitInput(
        data={"title": "Acme delegation", "kind": "inbound", "status": "planned", "starts_at": "2026-12-02T09:00",
              "ends_at": "2026-12-02T12:00", "summary": "Talks", "officer_id": users["admin"].id,
              "interest_level": "strong", "estimated_investment": "5000"},
        organization_ids=[org.id], member_ids=[contact.id], host_ids=[users["officer"].id],
        stops=[(0, {"organization_id": plant.id, "starts_at": "", "host": "Mr Lee", "shown": "Line", "note": ""})],
        followups=[(0, {"title": "Send brochure", "assignee_id": users["admin"].id, "due_on": "2026-12-07"})]))
    project = make_project(session, actor=users["admin"], organizations=[org], name="Acme plant",
                           total_investment_wan_cny="20000", stage="negotiating")
    from sqlalchemy import update

    from crm.groundbreaking import service as groundbreaking_service
    from crm.parcels import service as parcel_service
    from crm.projects.models import Project

    parcel = parcel_service.create(session, actor=users["admin"], data={
        "code": "P-1", "name": "Old mill plot", "status": "expropriating", "households_total": "557",
        "households_signed": "12", "signing_starts_on": "2026-12-08", "signing_ends_on": "2026-12-14",
        "land_area_m2": "212958", "building_area_m2": "45400", "compensation_cash": "1"})
    session.execute(update(Project).where(Project.id == project.id).values(stage="permits", parcel_id=parcel.id))
    session.commit()
    event = groundbreaking_service.create(session, actor=users["admin"], data={"name": "December groundbreaking",
                                                                               "held_on": "2026-12-20"})
    groundbreaking_service.add_project(session, event=event, project_id=project.id, actor=users["admin"])
    from crm.exports import service as export_service

    member = export_service.create(session, actor=users["admin"], data={
        "organization_id": plant.id, "tier": "leader", "officer_id": users["officer"].id, "target_year": "2026",
        "target_wan_usd": "1000", "main_products": "Widgets", "markets": "EU", "support_planned": "Trade fair"})
    export_service.add_support(session, member=member, actor=users["admin"], timezone="Asia/Shanghai", data={
        "kind": "exhibition", "given_on": "2026-11-02", "officer_id": users["officer"].id, "description": "Fair booth",
        "outcome": "Two orders"})
    login(client, "admin")
    post(client, "/language", {"locale": "en"})
    pages = [*ENGLISH_PAGES, f"/organizations/{org.id}", f"/organizations/{org.id}/edit", f"/organizations/{org.id}/archive",
             f"/contacts/{contact.id}", f"/contacts/{contact.id}/edit", f"/admin/users/{users['officer'].id}/edit",
             "/visits", "/visits/new", "/visits/quick", f"/visits/{visit.id}", f"/visits/{visit.id}/edit",
             f"/visits/{visit.id}/delete", "/visits/calendar?month=2026-12", "/visits/calendar?view=week&week=2026-12-02",
             "/tasks", "/search?q=Acme", f"/organizations/{plant.id}", f"/organizations/{plant.id}/timeline",
             "/projects", "/projects/board", "/projects/new", f"/projects/{project.id}", f"/projects/{project.id}/edit",
             f"/projects/{project.id}/move?stage=groundbreaking", f"/projects/{project.id}/archive",
             "/projects?archived=1", f"/organizations/{org.id}/timeline",
             "/parcels", "/parcels/new", f"/parcels/{parcel.id}", f"/parcels/{parcel.id}/edit", "/groundbreaking",
             f"/groundbreaking/{event.id}", f"/groundbreaking/{event.id}/edit",
             "/exports", "/exports?behind=1&tier=key", "/exports/new", f"/exports/{plant.id}", f"/exports/{plant.id}/edit",
             f"/exports/{plant.id}/figures", f"/exports/{plant.id}/remove", "/exports/figures/new", "/exports/import",
             f"/visits/{visit.id}/briefing", f"/visits/{visit.id}/briefing/preview?variant=internal",
             f"/visits/{visit.id}/briefing/preview?variant=external", "/reports", "/reports/pipeline",
             f"/reports/groundbreaking/{event.id}", "/reports/exports"]
    for url in pages:
        html = client.get(url).text
        visible = re.sub(r"<option[^>]*>[^<]*</option>", "", html)  # language and industry names are data
        visible = re.sub(r'<(\w+)[^>]* lang="zh-CN"[^>]*>[^<]*</\1>', "", visible)  # data marked as Chinese
        visible = visible.replace("菏泽经济开发区", "").replace("中文", "")
        assert not CJK.findall(visible), (url, sorted(set(CJK.findall(visible)))[:20])
    login_page = client.get("/login")  # signed in: redirects
    assert login_page.status_code == 303


def test_chinese_is_the_default_and_english_when_chosen(client):
    assert "登录" in client.get("/login").text
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).text


def _literal_gettext_calls() -> list[str]:
    """Calls `gettext(locale, "literal")` in the code: a literal not wrapped in N_()/Msg() is never extracted, so it
    would show in English on a Chinese page."""
    import ast

    found = []
    for path in sorted((ROOT / "crm").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "gettext"
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant | ast.JoinedStr)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_literal_strings_given_to_gettext_are_marked_for_extraction():
    assert not _literal_gettext_calls(), "wrap them in N_() so `make messages` extracts them"


def test_chart_titles_built_in_python_are_translated(session):
    from crm.briefings.documents import indicators_chart
    from crm.indicators.routes import chart

    catalog = _catalog("zh_CN")
    for msgid in ("%(indicator)s: %(year)s against %(last)s", "Key economic indicators against the annual target",
                  "Export leaders against their annual targets"):
        assert catalog.get(msgid) and catalog.get(msgid).string, msgid
    assert chart and indicators_chart  # the callers that show them
