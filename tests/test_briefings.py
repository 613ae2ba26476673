"""Briefing packs from a visit: the Fosun demo visit's pack in both variants read back with poppler, what the
external-safe variant leaves out, confidential projects, user text that tries to fetch, bad input, the talking
points' revisions, stored files, the routes' session and CSRF, background generation and the CLI."""

from __future__ import annotations

import contextlib
import time
from datetime import date

import pytest
from PIL import Image
from sqlalchemy import select, update

from crm import cli, demo
from crm.attachments import service as attachment_service
from crm.auth.models import User
from crm.briefings import generation
from crm.briefings.models import BriefingFile, BriefingNote
from crm.contacts.models import Contact
from crm.organizations.models import Organization
from crm.projects.models import Project
from crm.visits.models import TourStop, Visit, VisitOrganization
from tests.conftest import login, post
from tests.factories import make_project, make_visit
from tests.pdf_helpers import first_page_png, missing_glyphs, pdf_fonts, pdf_pages_text, pdf_text

ANCHOR = date(2026, 12, 6)
PASSWORD = demo.DEMO_PASSWORD


@pytest.fixture
def fosun(db, session, settings):
    """The demo zone, with a mobile and an internal note on 祝文魁, talking points, and a confidential Fosun
    project owned by the manager (the demo officer may not see it)."""
    demo.load(session, anchor=ANCHOR)
    org = session.scalar(select(Organization).where(Organization.name == "复星集团"))
    visit_id = session.scalar(select(VisitOrganization.visit_id).where(VisitOrganization.organization_id == org.id))
    users = {u.username: u for u in session.scalars(select(User))}
    session.execute(update(Contact).where(Contact.name == "祝文魁").values(mobile="13912345678", notes="内部备注：关注医药港"))
    session.commit()
    make_project(session, actor=users["manager"], organizations=[org], name="复星保密合作项目", stage="negotiating",
                 owner=users["manager"], is_confidential="1", total_investment_wan_cny="50000")
    return {"visit_id": visit_id, "org": org, "users": users}


def _generate(client, visit_id: int, variant: str) -> tuple[int, bytes]:
    response = post(client, f"/visits/{visit_id}/briefing/files", {"variant": variant})
    assert response.status_code == 303, response.text
    file_url = response.headers["location"]
    file_id = int(file_url.rstrip("/").split("/")[-1])
    deadline = time.monotonic() + 90
    while True:
        page = client.get(file_url)
        assert page.status_code == 200
        if 'data-status="done"' in page.text:
            break
        assert 'data-status="failed"' not in page.text, page.text
        assert time.monotonic() < deadline, "the briefing never finished"
        assert 'hx-trigger="load delay:1s"' in page.text  # the page polls while it works
        time.sleep(0.3)
    download = client.get(f"{file_url}/download")
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    return file_id, download.content


def _section(text: str, start: str, end: str | None) -> str:
    assert start in text, start
    rest = text[text.index(start):]
    return rest[: rest.index(end)] if end and end in rest else rest


def test_fosun_pack_both_variants(client, session, fosun, settings, tmp_path):
    login(client, "manager", PASSWORD)
    visit_id = fosun["visit_id"]
    page = client.get(f"/visits/{visit_id}/briefing")
    assert page.status_code == 200
    saved = post(client, f"/visits/{visit_id}/briefing/notes",
                 {"talking_points": "一、争取复星生物医药产业园年内签约\n- 介绍纱厂地块\n- 邀请参加12月集中开工", "revision": "0"})
    assert saved.status_code == 303

    file_id, internal = _generate(client, visit_id, "internal")
    text = pdf_text(internal)
    pages = pdf_pages_text(internal)
    # the cover: zone, title, organization, leader, marking, variant, who generated it
    assert "菏泽经济开发区" in pages[0] and "考察接待简报" in pages[0] and "复星集团" in pages[0]
    assert "祝文魁" in pages[0] and "内部资料 注意保密" in pages[0] and "练建军" in pages[0]
    # the sections in order, each with its facts
    order = ["日程与行程", "人员介绍", "投资方：复星集团", "考察企业", "开发区概况", "谈话要点与诉求", "未完成的跟进事项"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions)
    agenda = _section(text, "日程与行程", "人员介绍")
    assert all(name in agenda for name in ("大唐智创", "玉皇新能源", "精进电动", "现代医药港"))
    people = _section(text, "人员介绍", "投资方：复星集团")
    assert "祝文魁" in people and "首席战略赋能官" in people and "13912345678" in people and "内部备注" in people
    # the hosts with their titles, as printed: the demo's invented-data marking is not in them (issue 16)
    assert "练建军" in people and "党工委书记、管委会主任" in people and "INVENTED" not in text
    investor = _section(text, "投资方：复星集团", "考察企业")
    assert "复星集团生物医药产业园项目" in investor and "复星保密合作项目" in investor  # the manager may see it
    assert "Fosun Group" in investor
    enterprises = _section(text, "考察企业", "开发区概况")
    assert "精进电动" in enterprises and "产品研发、资金投入及运营情况" in enterprises
    zone = _section(text, "开发区概况", "谈话要点与诉求")
    assert "纱厂地块" in zone and "12月项目集中奠基开工" in zone
    assert "争取复星生物医药产业园年内签约" in _section(text, "谈话要点与诉求", "未完成的跟进事项")
    assert "与复星集团商定第二轮洽谈时间" in _section(text, "未完成的跟进事项", None)
    assert f"第 1 页 共 {len(pages)} 页" in text.replace("，", " ").replace("  ", " ")

    # the CJK font, embedded as a subset, and nothing else
    fonts = pdf_fonts(internal)
    assert fonts and all("Noto-Sans-CJK-SC" in f["name"] and f["emb"] == "yes" and f["sub"] == "yes" for f in fonts)
    assert not missing_glyphs(text)
    # page 1 is not blank
    with Image.open(first_page_png(internal, tmp_path)) as image:
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128])
        assert dark > 200, "page 1 looks blank"

    _, external = _generate(client, visit_id, "external")
    ext = pdf_text(external)
    assert "复星集团" in ext and "祝文魁" in ext and "精进电动" in ext and "复星集团生物医药产业园项目" in ext
    assert "外部版" in ext or "可与来宾分享" in ext
    for internal_only in ("13912345678", "内部备注", "复星保密合作项目", "争取复星生物医药产业园年内签约",
                          "与复星集团商定第二轮洽谈时间", "内部资料 注意保密", "重点客商"):
        assert internal_only not in ext, internal_only

    # both files are kept, listed on the visit with who, when, which variant and the checksum
    session.expire_all()
    rows = session.scalars(select(BriefingFile).where(BriefingFile.visit_id == visit_id).order_by(BriefingFile.id)).all()
    session.commit()
    assert [r.variant for r in rows] == ["internal", "external"]
    import hashlib

    assert rows[0].sha256 == hashlib.sha256(internal).hexdigest() and rows[0].id == file_id
    assert rows[0].created_by_id == fosun["users"]["manager"].id and rows[0].note_revision == 1
    visit_page = client.get(f"/visits/{visit_id}").text
    assert rows[0].sha256[:12] in visit_page and rows[1].sha256[:12] in visit_page
    # a new generation never overwrites: another internal pack is another file
    second_id, _ = _generate(client, visit_id, "internal")
    session.expire_all()
    paths = [r.path for r in session.scalars(select(BriefingFile).where(BriefingFile.visit_id == visit_id))]
    session.commit()
    assert second_id != file_id and len(set(paths)) == 3
    assert all((settings.data_dir / p).is_file() for p in paths)


def test_confidential_projects_only_for_those_who_may_see_them(client, other_client, session, fosun):
    login(client, "officer", PASSWORD)  # the demo officer: not the confidential project's owner
    visit_id = fosun["visit_id"]
    _, officer_pack = _generate(client, visit_id, "internal")
    text = pdf_text(officer_pack)
    assert "复星集团生物医药产业园项目" in text and "复星保密合作项目" not in text
    preview = client.get(f"/visits/{visit_id}/briefing/preview?variant=internal")
    assert preview.status_code == 200 and "复星集团生物医药产业园项目" in preview.text
    assert "复星保密合作项目" not in preview.text
    manager = other_client
    login(manager, "manager", PASSWORD)
    assert "复星保密合作项目" in manager.get(f"/visits/{visit_id}/briefing/preview?variant=internal").text
    assert "复星保密合作项目" not in manager.get(f"/visits/{visit_id}/briefing/preview?variant=external").text


def test_internal_files_open_only_for_their_author_and_managers(client, other_client, session, fosun):
    login(client, "manager", PASSWORD)
    visit_id = fosun["visit_id"]
    internal_id, _ = _generate(client, visit_id, "internal")
    external_id, _ = _generate(client, visit_id, "external")
    officer = other_client
    login(officer, "officer", PASSWORD)
    base = f"/visits/{visit_id}/briefing/files"
    assert officer.get(f"{base}/{internal_id}/download").status_code == 403
    assert officer.get(f"{base}/{external_id}/download").status_code == 200
    assert client.get(f"/visits/999999/briefing/files/{internal_id}/download").status_code == 404


def test_user_text_that_tries_to_fetch_fetches_nothing_and_shows_as_text(client, session, fosun, counting_server):
    port, hits = counting_server
    login(client, "manager", PASSWORD)
    visit_id = fosun["visit_id"]
    session.expire_all()
    evil = f'<img src="http://127.0.0.1:{port}/tracker.png"> <img src="file:///etc/passwd">'
    session.execute(update(Contact).where(Contact.name == "祝文魁").values(notes=evil))
    session.execute(update(TourStop).where(TourStop.visit_id == visit_id, TourStop.position == 0).values(shown=evil))
    session.commit()
    post(client, f"/visits/{visit_id}/briefing/notes", {"talking_points": evil, "revision": "0"})
    _, pdf = _generate(client, visit_id, "internal")
    text = pdf_text(pdf)
    assert f'<img src="http://127.0.0.1:{port}/tracker.png">' in text
    assert '<img src="file:///etc/passwd">' in text
    assert "root:x:0:0" not in text
    assert hits == []
    preview = client.get(f"/visits/{visit_id}/briefing/preview?variant=internal").text
    assert f'<img src="http://127.0.0.1:{port}' not in preview and "&lt;img src=" in preview
    assert hits == []


def test_an_investor_name_that_closes_the_style_element_stays_text(client, session, fosun):
    """The investor's name is in the page header, a CSS string inside <style>: it must not end the element."""
    login(client, "manager", PASSWORD)
    visit_id = fosun["visit_id"]
    evil = "复星</style><script>alert(1)</script><style>"
    session.execute(update(Organization).where(Organization.name == "复星集团").values(name=evil))
    session.commit()
    preview = client.get(f"/visits/{visit_id}/briefing/preview?variant=internal").text
    assert "<script>alert(1)" not in preview
    assert preview.count("</style>") == preview.count("<style")  # every style element closes where it should
    _, pdf = _generate(client, visit_id, "internal")
    assert "复星</style><script>alert(1)</script><style>" in pdf_text(pdf)  # shown as written, as text


def test_bad_input_renders_or_fails_clearly(client, session, settings, fosun, tmp_path):
    users = fosun["users"]
    officer = users["officer"]
    enterprise = session.scalar(select(Organization).where(Organization.name == "精进电动"))
    login(client, "officer", PASSWORD)

    # no organization, no stops: the pack renders, empty sections left out
    session.expire_all()
    bare = make_visit(session, title="临时接待", officer=officer)
    _, pdf = _generate(client, bare.id, "internal")
    text = pdf_text(pdf)
    assert "临时接待" in text and "投资方：" not in text and "考察企业" not in text

    # 200 stops and a 20,000-character talking-points text: they flow across pages
    session.expire_all()
    long_visit = make_visit(session, title="大型考察团", officer=officer, organizations=[fosun["org"]],
                            stops=[enterprise] * 200)
    session.add(BriefingNote(visit_id=long_visit.id, revision=1, body=("招商引资要点" * 10 + "\n") * 330,
                             author_id=officer.id))
    session.commit()
    started = time.monotonic()
    _, pdf = _generate(client, long_visit.id, "internal")
    assert time.monotonic() - started < 60
    pages = pdf_pages_text(pdf)
    assert len(pages) > 15 and "200" in pdf_text(pdf)
    # the table's header is repeated on the pages the tour spans
    tour_pages = [p for p in pages if "精进电动" in p and "日程与行程" not in p]
    assert tour_pages and all("接待人" in p for p in tour_pages[:3])

    # a damaged image and a decompression bomb among the visit's attachments: left out with a note
    corrupt = b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 50
    bomb_path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb_path)  # 400 megapixels, a few KB on disk
    session.expire_all()
    good_path = tmp_path / "good.png"
    Image.new("RGB", (640, 480), (200, 30, 30)).save(good_path)
    for name, data in (("corrupt.jpg", corrupt), ("bomb.png", bomb_path.read_bytes()), ("good.png", good_path.read_bytes())):
        with contextlib.suppress(attachment_service.UploadRejected):  # refused at upload already: also fine
            attachment_service.create(session, entity_type="visit", entity_id=bare.id, filename=name, data=data,
                                      actor=officer, data_dir=settings.data_dir, max_bytes=20 * 1024 * 1024)
    _, pdf = _generate(client, bare.id, "internal")
    text = pdf_text(pdf)
    assert "good.png" in text
    assert "corrupt.jpg" in text and "无法放入" in text  # accepted at upload (JPEG magic), but not readable


def test_a_hung_render_is_stopped_and_the_next_one_works():
    from crm.pdf.renderer import Renderer, RenderTimeout
    from crm.web import STATIC_DIR

    renderer = Renderer(workers=1, timeout=60)
    try:
        small = '<html><body style="font-family: \'Noto Sans CJK SC\'">开发区</body></html>'
        assert renderer.render(small, static_dir=STATIC_DIR).pages == 1  # started and warm
        huge = "<html><body><table>" + "<tr><td>行</td><td>数据</td></tr>" * 40000 + "</table></body></html>"
        with pytest.raises(RenderTimeout):
            renderer.render(huge, static_dir=STATIC_DIR, timeout=0.5)
        assert renderer.render(small, static_dir=STATIC_DIR).pages == 1  # a fresh process took its place
    finally:
        renderer.close()


def test_talking_points_are_versioned_and_a_stale_save_is_refused(client, session, fosun):
    login(client, "manager", PASSWORD)
    visit_id = fosun["visit_id"]
    url = f"/visits/{visit_id}/briefing/notes"
    assert post(client, url, {"talking_points": "第一版", "revision": "0"}).status_code == 303
    assert post(client, url, {"talking_points": "第二版", "revision": "1"}).status_code == 303
    stale = post(client, url, {"talking_points": "我的版本", "revision": "1"})
    assert stale.status_code == 409 and "我的版本" in stale.text and "第二版" in stale.text
    too_long = post(client, url, {"talking_points": "字" * 50_001, "revision": "2"})
    assert too_long.status_code == 422 and 'id="talking_points-error"' in too_long.text
    session.expire_all()
    bodies = [n.body for n in session.scalars(select(BriefingNote).where(BriefingNote.visit_id == visit_id)
                                              .order_by(BriefingNote.revision))]
    session.commit()
    assert bodies == ["第一版", "第二版"]
    page = client.get(f"/visits/{visit_id}/briefing").text
    assert "第二版" in page and "第一版" in page  # the current text, and the earlier version in the history
    # someone who may not change the visit may not write its talking points
    other = session.scalar(select(Visit).where(Visit.id == visit_id))
    assert other.officer_id != fosun["users"]["admin"].id


def test_routes_need_a_session_and_csrf(client, session, fosun):
    visit_id = fosun["visit_id"]
    for url in (f"/visits/{visit_id}/briefing", f"/visits/{visit_id}/briefing/preview?variant=internal"):
        response = client.get(url)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    login(client, "manager", PASSWORD)
    refused = client.post(f"/visits/{visit_id}/briefing/files", data={"variant": "internal"})
    assert refused.status_code == 403
    refused = client.post(f"/visits/{visit_id}/briefing/notes", data={"talking_points": "x", "revision": "0"})
    assert refused.status_code == 403
    no_variant = post(client, f"/visits/{visit_id}/briefing/files", {"variant": "everything"})
    assert no_variant.status_code == 422
    assert client.get(f"/visits/{visit_id}/briefing/preview?variant=nope").status_code == 400
    session.expire_all()
    assert session.scalars(select(BriefingFile)).all() == []
    session.commit()


def test_background_generation_shows_progress(client, session, fosun, monkeypatch):
    monkeypatch.setattr(generation, "QUICK_WAIT_SECONDS", 0)
    login(client, "manager", PASSWORD)
    response = post(client, f"/visits/{fosun['visit_id']}/briefing/files", {"variant": "external"})
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert 'data-status="done"' in page.text or 'hx-trigger="load delay:1s"' in page.text
    _generate(client, fosun["visit_id"], "external")  # and it finishes


def test_an_interrupted_generation_is_marked_failed(client, session, fosun):
    from datetime import timedelta

    from crm.db import utcnow

    login(client, "manager", PASSWORD)
    session.expire_all()
    stuck = BriefingFile(visit_id=fosun["visit_id"], variant="internal", locale="zh_CN", status="running",
                         created_by_id=fosun["users"]["manager"].id, created_at=utcnow() - timedelta(hours=2))
    session.add(stuck)
    session.commit()
    page = client.get(f"/visits/{fosun['visit_id']}/briefing/files/{stuck.id}")
    assert 'data-status="failed"' in page.text


def test_cli_writes_the_pack_and_keeps_it(session, fosun, settings, monkeypatch, tmp_path, database_url, capsys):
    monkeypatch.setenv("CRM_DATABASE_URL", database_url)
    monkeypatch.setenv("CRM_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "out.pdf"
    code = cli.main(["briefing", str(fosun["visit_id"]), "--variant", "internal", "-o", str(out), "--as", "manager"])
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes().startswith(b"%PDF") and "复星保密合作项目" in pdf_text(out.read_bytes())
    assert cli.main(["briefing", "999999", "--variant", "internal", "-o", str(out)]) == 1
    session.expire_all()
    assert len(session.scalars(select(BriefingFile)).all()) == 1
    session.commit()


def test_projects_confidential_flag_is_what_the_pack_checks(session, fosun):
    """The confidential project exists and is flagged (guards the other tests' premise)."""
    project = session.scalar(select(Project).where(Project.name == "复星保密合作项目"))
    assert project.is_confidential and project.owner_id == fosun["users"]["manager"].id


def test_english_briefing_pages_show_no_chinese_interface_text(client, session, users, settings):
    import re

    from tests.factories import make_contact, make_org

    admin = users["admin"]
    org = make_org(session, actor=admin, name="Acme Holdings", name_en="Acme")
    make_contact(session, actor=admin, organization=org, name="Jane Doe")
    plant = make_org(session, actor=admin, name="Widget Works", kind="zone_enterprise")
    visit = make_visit(session, title="Acme delegation", officer=admin, organizations=[org], stops=[plant])
    login(client, "admin")
    post(client, "/language", {"locale": "en"})
    _, pdf = _generate(client, visit.id, "internal")
    cjk = re.compile(r"[\u3400-\u9fff]")
    text = pdf_text(pdf).replace("菏泽经济开发区", "").replace(admin.display_name, "")  # names are data
    assert "Delegation briefing" in text and "Page 1 of" in text and not cjk.findall(text)
    for url in (f"/visits/{visit.id}/briefing", f"/visits/{visit.id}/briefing/preview?variant=external",
                f"/visits/{visit.id}", "/reports", "/reports/pipeline", "/reports/exports"):
        html = client.get(url).text
        visible = (re.sub(r"<option[^>]*>[^<]*</option>", "", html).replace("菏泽经济开发区", "").replace("中文", "")
                   .replace(admin.display_name, ""))
        assert not cjk.findall(visible), (url, sorted(set(cjk.findall(visible)))[:20])


def test_past_interactions_list_only_visits_that_have_happened(client, session, fosun):
    from datetime import UTC, datetime, timedelta

    from tests.factories import make_visit

    login(client, "manager", PASSWORD)
    org, users = fosun["org"], fosun["users"]
    make_visit(session, title="复星二期意向回访（去年）", officer=users["officer"], organizations=[org], status="done",
               starts_at=datetime.now(UTC) - timedelta(days=300))
    make_visit(session, title="复星下月再访（计划）", officer=users["officer"], organizations=[org],
               starts_at=datetime.now(UTC) + timedelta(days=30))
    html = client.get(f"/visits/{fosun['visit_id']}/briefing/preview?variant=internal").text
    investor = html.split('id="investor"', 1)[1].split("</section>", 1)[0]
    assert "复星二期意向回访（去年）" in investor and "复星下月再访（计划）" not in investor


def test_a_restart_fails_the_renders_it_interrupted_at_once(db, settings, session, fosun):
    """Issue 16: a pack being generated when the server restarted said "generating…" for about three minutes
    (expire_stuck's limit) before it failed. The restarted app marks it failed when it starts; a pack asked for
    after the start is left to its render."""
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from crm.db import utcnow
    from crm.main import create_app

    manager = fosun["users"]["manager"]
    a_moment_ago = utcnow() - timedelta(seconds=5)
    running = BriefingFile(visit_id=fosun["visit_id"], variant="internal", locale="zh_CN", status="running",
                           created_by_id=manager.id, created_at=a_moment_ago)
    pending = BriefingFile(visit_id=fosun["visit_id"], variant="external", locale="zh_CN", status="pending",
                           created_by_id=manager.id, created_at=a_moment_ago)
    session.add_all([running, pending])
    session.commit()
    with TestClient(create_app(settings, database=db), base_url="http://testserver", follow_redirects=False) as client:
        login(client, "manager", PASSWORD)
        for row in (running, pending):
            page = client.get(f"/visits/{fosun['visit_id']}/briefing/files/{row.id}")
            assert page.status_code == 200
            assert 'data-status="failed"' in page.text and "interrupted" in page.text
        session.expire_all()
        assert {r.status for r in session.scalars(select(BriefingFile))} == {"failed"}
        after_start = BriefingFile(visit_id=fosun["visit_id"], variant="internal", locale="zh_CN", status="pending",
                                   created_by_id=manager.id, created_at=utcnow())
        session.add(after_start)
        session.commit()
        page = client.get(f"/visits/{fosun['visit_id']}/briefing/files/{after_start.id}")
        assert 'data-status="failed"' not in page.text


def test_a_worker_restarted_later_leaves_its_siblings_renders_alone(db, settings, session, fosun):
    """With several workers (`crm serve`), a worker that restarts while the others run must fail only what was asked
    for before the server started, not a pack a sibling is rendering now."""
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from crm.db import utcnow
    from crm.main import create_app

    manager = fosun["users"]["manager"]
    served_since = utcnow() - timedelta(minutes=10)
    before_start = BriefingFile(visit_id=fosun["visit_id"], variant="internal", locale="zh_CN", status="running",
                                created_by_id=manager.id, created_at=served_since - timedelta(minutes=1))
    siblings = BriefingFile(visit_id=fosun["visit_id"], variant="external", locale="zh_CN", status="running",
                            created_by_id=manager.id, created_at=utcnow() - timedelta(seconds=5))
    session.add_all([before_start, siblings])
    session.commit()
    worker = settings.model_copy(update={"served_since": served_since})
    with TestClient(create_app(worker, database=db)):
        session.expire_all()
        assert session.get(BriefingFile, before_start.id).status == "failed"
        assert session.get(BriefingFile, siblings.id).status == "running"
