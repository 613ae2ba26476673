"""Issue 13, holes 2 and 3: control characters and bytes that are not UTF-8 are refused (or, in search text,
removed) in one place, the form parser and the query check, with one message; no length limit cuts what the user
typed without saying so. On both databases: PostgreSQL refuses NUL in text, which used to be a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.assessment.models import OfficerTarget
from crm.briefings.models import BriefingNote
from crm.indicators import service as indicator_service
from crm.indicators.models import Indicator, IndicatorValue
from crm.organizations.models import Organization, Tag
from tests.conftest import login, post
from tests.factories import make_org, make_visit
from tests.helpers import count_rows, field_error, reload

CONTROL_ZH = "文本中含有控制字符"  # "This text contains control characters; please remove them."
CONTROL_EN = "This text contains control characters; please remove them."


@pytest.fixture
def manager_client(client, users):
    login(client, "manager")
    return client


@pytest.mark.parametrize("path", ["/organizations", "/search", "/visits", "/projects", "/contacts"])
def test_nul_in_search_text_is_removed_not_a_server_error(manager_client, users, session, path):
    make_org(session, actor=users["manager"], name="复星集团")
    for q in ("%00", "复星%00", "%C2%85复星%01", "%09复星%0A"):
        response = manager_client.get(f"{path}?q={q}")
        assert response.status_code == 200, (path, q, response.text[:500])
    found = manager_client.get("/organizations?q=%E5%A4%8D%E6%98%9F%00")  # 复星 + NUL: searched as 复星
    assert "复星集团" in found.text


@pytest.mark.parametrize("query", ["kind=%00", "sort=name%01", "page=1%C2%9F", "tag=%7F", "kind%00=investor"])
def test_a_control_character_in_any_other_parameter_is_refused_with_the_message(manager_client, users, query):
    response = manager_client.get(f"/organizations?{query}")
    assert response.status_code == 400
    assert CONTROL_ZH in response.text


def test_the_refusal_is_in_the_readers_language(client, session):
    from tests.factories import make_user

    make_user(session, username="reader", role="officer", locale="en")
    login(client, "reader")
    response = client.get("/projects?stage=%00")
    assert response.status_code == 400 and CONTROL_EN in response.text


@pytest.mark.parametrize("query", ["q=%FF", "q=%C3%28", "kind=%ED%A0%80", "q=%E4%B8"])
def test_a_query_that_is_not_utf8_is_refused_not_turned_into_replacement_characters(manager_client, users, query):
    response = manager_client.get(f"/organizations?{query}")
    assert response.status_code == 400
    assert "不是 UTF-8" in response.text


def test_a_control_character_in_the_path_is_refused(manager_client, users):
    response = manager_client.get("/assessment/department%00")
    assert response.status_code in (400, 404) and response.status_code < 500


def test_talking_points_with_nul_or_c1_are_refused_beside_the_field_and_nothing_is_written(manager_client, users,
                                                                                           session):
    visit = make_visit(session, title="复星来访", officer=users["manager"])
    url = f"/visits/{visit.id}/briefing/notes"
    for evil in ("一、争取签约\x00", "一、争取\x85签约", "\x1b[31m一、争取签约", "一、\x7f争取"):
        response = post(manager_client, url, {"talking_points": evil, "revision": "0"}, headers={"HX-Request": "true"})
        assert response.status_code == 422, (repr(evil), response.text[:300])
        assert CONTROL_ZH in (field_error(response.text, "talking_points") or ""), repr(evil)
    assert count_rows(session, BriefingNote) == 0
    fine = post(manager_client, url, {"talking_points": "一、争取签约\n\t二、介绍地块", "revision": "0"})
    assert fine.status_code == 303
    assert count_rows(session, BriefingNote) == 1


def test_a_field_with_c1_controls_is_refused_beside_it(manager_client, users, session):
    from tests.test_organizations import _form

    response = post(manager_client, "/organizations", _form(name="复星\x85集团"), headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert CONTROL_ZH in (field_error(response.text, "name") or "")
    response = post(manager_client, "/organizations", _form(name="复星\n集团"), headers={"HX-Request": "true"})
    assert response.status_code == 422  # a line break in a one-line field
    assert count_rows(session, Organization) == 0


def test_a_value_read_without_a_field_is_refused_by_the_parser(manager_client, users, session):
    visit = make_visit(session, title="复星来访", officer=users["manager"])
    response = post(manager_client, f"/visits/{visit.id}/briefing/notes", {"talking_points": "要点", "revision": "0\x00"})
    assert response.status_code == 400 and CONTROL_ZH in response.text
    response = post(manager_client, f"/visits/{visit.id}/briefing/files", {"variant": "internal\x9b"})
    assert response.status_code == 400 and CONTROL_ZH in response.text
    assert count_rows(session, BriefingNote) == 0


def _raw_post(client, url: str, body: bytes, content_type: str = "application/x-www-form-urlencoded"):
    return client.post(url, content=body, headers={"Content-Type": content_type})


def test_a_form_body_that_is_not_utf8_is_refused_and_nothing_is_written(manager_client, users, session):
    csrf = manager_client.csrf.encode()
    for name in (b"\xe9\xe9", b"%E9%E9", b"%E4%B8", b"%ED%A0%80"):  # Latin-1 bytes, cut UTF-8, an encoded surrogate
        body = b"csrf_token=" + csrf + b"&kind=investor&name=" + name
        response = _raw_post(manager_client, "/organizations", body)
        assert response.status_code == 400, (name, response.text[:300])
        assert "不是 UTF-8" in response.text
    boundary = "XyZ"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{manager_client.csrf}\r\n"
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ninvestor\r\n"
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n").encode() + (
                     b"\xe5\xa4\x8d\xe6\x98\r\n--" + boundary.encode() + b"--\r\n")
    response = _raw_post(manager_client, "/organizations", multipart, f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400 and "不是 UTF-8" in response.text
    latin = _raw_post(manager_client, "/organizations", b"csrf_token=" + csrf + b"&kind=investor&name=x",
                      "application/x-www-form-urlencoded; charset=latin-1")
    assert latin.status_code == 400
    assert count_rows(session, Organization) == 0
    utf8 = _raw_post(manager_client, "/organizations",
                     b"csrf_token=" + csrf + b"&kind=investor&name=" + "复星集团".encode())  # raw UTF-8 is UTF-8
    assert utf8.status_code == 303
    assert session.scalar(select(Organization.name)) == "复星集团"


def test_header_control_characters_never_reach_the_database(client, users, session):
    page = client.get("/login")
    from tests.conftest import csrf_from

    response = client.post("/login", data={"username": "manager", "password": "secret-pass-1",
                                            "csrf_token": csrf_from(page.text), "next": "/"},
                           headers={"User-Agent": "Mozilla\x00/5.0", "HX-Current-URL": "http://testserver/\x00"})
    assert response.status_code == 303


# Hole 3: nothing is cut without a word

def test_a_tag_over_20_characters_is_refused_beside_the_field(manager_client, users, session):
    from tests.test_organizations import _edit_form, _form

    long_tag = "新一代信息技术与高端装备制造产业集群重点"
    too_long = long_tag + "项"
    assert (len(long_tag), len(too_long)) == (20, 21)
    response = post(manager_client, "/organizations", _form(tags=f"外资，{too_long}"), headers={"HX-Request": "true"})
    assert response.status_code == 422
    error = field_error(response.text, "tags") or ""
    assert "20" in error and too_long in error
    assert count_rows(session, Organization) == 0 and count_rows(session, Tag) == 0
    assert post(manager_client, "/organizations", _form(tags=f"外资，{long_tag}")).status_code == 303

    org = session.scalar(select(Organization))
    response = post(manager_client, f"/organizations/{org.id}", _edit_form(org, tags=too_long),
                    headers={"HX-Request": "true"})
    assert response.status_code == 422 and too_long in (field_error(response.text, "tags") or "")
    assert reload(session, Organization, org.id).tags_list == ["外资", long_tag]


def test_tags_that_would_overflow_their_column_are_refused(manager_client, users, session):
    from tests.test_organizations import _form

    tags = "，".join(f"标签{i:03d}" for i in range(50))  # 299 characters: 301 stored as ",a,b,"
    response = post(manager_client, "/organizations", _form(tags=tags), headers={"HX-Request": "true"})
    assert response.status_code == 422 and field_error(response.text, "tags")
    assert count_rows(session, Organization) == 0


def test_assessment_targets_too_long_are_refused_not_cut(manager_client, users, session):
    figure = "100" + " " * 25 + "5"  # was cut to 24 characters, so 100 was saved
    url = f"/assessment/2025/officers/{users['officer'].id}/target"
    response = post(manager_client, url, {"investment_signed_wan_cny": figure, "version": "0"},
                    headers={"HX-Request": "true"})
    assert response.status_code == 422, response.text[:300]
    assert "24" in (field_error(response.text, "investment_signed_wan_cny") or "")
    assert count_rows(session, OfficerTarget) == 0


def test_indicator_figures_too_long_are_refused_not_cut(manager_client, users, session):
    indicator_service.ensure_defaults(session)
    session.commit()
    tax = session.scalar(select(Indicator).where(Indicator.code == "tax_revenue"))
    figure = "100" + " " * 40 + "5"  # was cut to 40 characters, so 100 was saved
    response = post(manager_client, "/indicators/periods/2025-01",
                    {f"value-{tax.id}": figure, f"version-{tax.id}": "0"}, headers={"HX-Request": "true"})
    assert response.status_code == 422, response.text[:300]
    assert "40" in (field_error(response.text, f"value-{tax.id}") or "")
    assert count_rows(session, IndicatorValue) == 0


def test_a_redirect_to_an_address_with_characters_a_header_cannot_hold_is_encoded_not_a_500(manager_client, users, client):
    """Found by the fuzz: U+FFFF in a parameter the route redirects with became a latin-1 error in HX-Redirect."""
    fragment = manager_client.get("/indicators/periods?period=a%EF%BF%BFb", headers={"HX-Request": "true"})
    assert fragment.status_code == 204, fragment.text[:300]
    assert fragment.headers["HX-Redirect"] == "/indicators/periods/a%EF%BF%BFb"
    plain = manager_client.get("/indicators/periods?period=a%EF%BF%BFb")
    assert plain.status_code == 303 and plain.headers["location"] == "/indicators/periods/a%EF%BF%BFb"


def test_signing_in_from_an_address_with_chinese_keeps_it_whole(client, users):
    anonymous = client.get("/search?q=复星&kind=organization", headers={"HX-Request": "true"})
    assert anonymous.status_code == 401
    target = anonymous.headers["HX-Redirect"]
    assert target.isascii() and target.startswith("/login?next=/search%3Fq%3D")
    page = client.get(target)
    assert page.status_code == 200 and 'value="/search?q=%E5%A4%8D%E6%98%9F&amp;kind=organization"' in page.text
