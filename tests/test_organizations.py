"""Organizations: list, search, filters, forms with validation, duplicates, edit conflicts, archive."""

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEntry
from crm.organizations.models import IndustryChain, Organization
from crm.validators import credit_code_check_char
from tests.conftest import post
from tests.factories import make_contact, make_org, make_user

VALID_CODE = "91371700MA0000099" + credit_code_check_char("91371700MA0000099")


def _form(**overrides):
    data = {"name": "鲁南新材料有限公司", "name_en": "Lunan New Materials", "credit_code": "", "kind": "investor",
            "industry_chain_id": "", "ownership": "private", "country_region": "中国", "city": "临沂", "address": "",
            "website": "", "tags": "", "description": "", "owner_id": ""}
    data.update(overrides)
    return data


def _count(session):
    session.expire_all()
    return session.scalar(select(func.count(Organization.id)))


# Search

@pytest.fixture
def zone(session, users):
    officer = users["officer"]
    fosun = make_org(session, actor=officer, name="复星集团", name_en="Fosun Group")
    make_contact(session, actor=officer, organization=fosun, name="祝文魁")
    make_org(session, actor=officer, name="玉皇新能源", kind="zone_enterprise")
    make_org(session, actor=officer, name="现代医药港", kind="zone_enterprise")
    return fosun


@pytest.mark.parametrize("q", ["复星", "复星集团", "星集", "fx", "FX", "fuxing", "fxjt", "Fosun", "fosun group", "祝文魁", "zwk"])
def test_search_finds_fosun(officer_client, zone, q):
    html = officer_client.get("/organizations", params={"q": q}).text
    assert "复星集团" in html
    assert "玉皇新能源" not in html


def test_two_character_chinese_search_narrows_the_list(officer_client, zone):
    html = officer_client.get("/organizations", params={"q": "医药"}).text
    assert "现代医药港" in html and "复星集团" not in html


def test_search_special_characters_are_literal(officer_client, zone):
    html = officer_client.get("/organizations", params={"q": "%"}).text
    assert "复星集团" not in html
    assert "没有匹配的机构" in html


def test_active_search_returns_only_the_results_fragment(officer_client, zone):
    response = officer_client.get("/organizations", params={"q": "fx"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "复星集团" in response.text
    assert "<html" not in response.text and "<form" not in response.text
    assert response.headers["vary"] == "HX-Request"
    full = officer_client.get("/organizations", params={"q": "fx"})
    assert "<html" in full.text and 'value="fx"' in full.text  # the query stays in the URL and the box


def test_filters_by_kind_industry_ownership_owner_and_tag(officer_client, session, users):
    chain = session.scalar(select(IndustryChain).where(IndustryChain.code == "biomedicine"))
    make_org(session, actor=users["officer"], name="甲医药", industry_chain_id=chain.id, ownership="foreign", tags="外资，重点")
    make_org(session, actor=users["officer2"], name="乙物流", kind="zone_enterprise", owner_id=users["officer2"].id)

    def names(**params):
        html = officer_client.get("/organizations", params=params).text
        return {n for n in ("甲医药", "乙物流") if n in html}

    assert names() == {"甲医药", "乙物流"}
    assert names(kind="zone_enterprise") == {"乙物流"}
    assert names(industry=chain.id) == {"甲医药"}
    assert names(ownership="foreign") == {"甲医药"}
    assert names(owner=users["officer2"].id) == {"乙物流"}
    assert names(tag="重点") == {"甲医药"}
    assert names(tag="重") == set()  # tags match whole


def test_pagination_and_sorting(officer_client, session, users):
    for i in range(55):
        make_org(session, actor=users["officer"], name=f"分页机构{i:02d}")
    first = officer_client.get("/organizations", params={"sort": "name"}).text
    assert first.count('href="/organizations/') - first.count('href="/organizations/new') >= 50
    assert "第 1 页，共 2 页" in first and "分页机构00" in first and "分页机构54" not in first
    second = officer_client.get("/organizations", params={"sort": "name", "page": 2}).text
    assert "分页机构54" in second and "分页机构00" not in second
    beyond = officer_client.get("/organizations", params={"sort": "name", "page": 99})
    assert beyond.status_code == 200 and "分页机构54" in beyond.text  # clamped to the last page


def test_chinese_names_sort_by_pinyin(officer_client, session, users):
    for name in ("中科", "阿里", "百度"):  # zhong, a, bai
        make_org(session, actor=users["officer"], name=name)
    html = officer_client.get("/organizations", params={"sort": "name"}).text
    assert html.index("阿里") < html.index("百度") < html.index("中科")


@pytest.mark.parametrize("params, fragment", [
    ({"page": "abc"}, "不是页码"), ({"page": "0"}, "不是页码"), ({"page": "-1"}, "不是页码"),
    ({"sort": "password"}, "不是本列表的排序方式"), ({"kind": "alien"}, "不是有效的筛选值"),
    ({"owner": "x1"}, "不是有效的筛选值"), ({"industry": "1;drop"}, "不是有效的筛选值"),
])
def test_bad_list_parameters_get_a_clear_400(officer_client, params, fragment):
    response = officer_client.get("/organizations", params=params)
    assert response.status_code == 400
    assert fragment in response.text


def test_empty_state_offers_a_way_forward(officer_client):
    html = officer_client.get("/organizations").text
    assert "暂无机构" in html and 'href="/organizations/new"' in html


# Create

def test_create_redirects_to_the_new_record_and_audits_it(officer_client, session, users):
    response = post(officer_client, "/organizations", _form(credit_code=VALID_CODE.lower(), tags="新材料, 意向客商、重点"))
    assert response.status_code == 303
    org = session.scalar(select(Organization))
    assert response.headers["location"] == f"/organizations/{org.id}"
    assert org.credit_code == VALID_CODE  # normalised to upper case
    assert org.tags_list == ["新材料", "意向客商", "重点"]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.entity_type == "organization"))
    assert entry.action == "create" and entry.actor_id == users["officer"].id
    assert entry.changes["name"] == [None, "鲁南新材料有限公司"]
    page = officer_client.get(response.headers["location"])
    assert "已创建机构" in page.text and "鲁南新材料有限公司" in page.text


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "此项为必填"),
    ("name", "名" * 121, "最多 120 个字符"),
    ("credit_code", "91370000163044926", "应为 18 位"),
    ("credit_code", "9137000016304492OW", "不能出现“O”"),
    ("credit_code", "91370000163044926X", "校验位不符"),
    ("website", "javascript:alert(1)", "http://"),
    ("kind", "alien", "请从列出的选项中选择"),
    ("ownership", "martian", "请从列出的选项中选择"),
    ("owner_id", "999999", "请从列出的选项中选择"),
    ("description", "a\x00b", "控制字符"),
])
def test_invalid_input_rerenders_with_the_error_beside_the_field_and_saves_nothing(officer_client, session, field, value, message):
    response = post(officer_client, "/organizations", _form(**{field: value, "city": "临沂市区"}))
    assert response.status_code == 422
    assert message in response.text
    assert f'id="{field}-error"' in response.text
    assert 'value="临沂市区"' in response.text  # the user's other input is kept
    assert _count(session) == 0


def test_htmx_submit_gets_the_form_fragment_back(officer_client, session):
    response = post(officer_client, "/organizations", _form(name=""), headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert response.text.lstrip().startswith("<form") and "<html" not in response.text


def test_duplicate_credit_code_links_to_the_existing_record(officer_client, session, users):
    existing = make_org(session, actor=users["officer"], name="已有机构", credit_code=VALID_CODE)
    response = post(officer_client, "/organizations", _form(name="另一个名字", credit_code=VALID_CODE))
    assert response.status_code == 422
    assert f'href="/organizations/{existing.id}"' in response.text and "已有记录" in response.text
    assert _count(session) == 1


def test_duplicate_normalised_name_links_to_the_existing_record(officer_client, session, users):
    existing = make_org(session, actor=users["officer"], name="复星集团（上海）")
    response = post(officer_client, "/organizations", _form(name=" 复星集团(上海) "))
    assert response.status_code == 422
    assert f'href="/organizations/{existing.id}"' in response.text
    assert _count(session) == 1


# Edit

def _edit_form(org, **overrides):
    data = _form(name=org.name, name_en=org.name_en, kind=org.kind, ownership=org.ownership,
                 country_region=org.country_region, city=org.city, owner_id=str(org.owner_id or ""))
    data["version"] = str(org.version)
    data.update(overrides)
    return data


def test_edit_is_audited_with_old_and_new_values(officer_client, session, users):
    org = make_org(session, actor=users["officer"], name="复星集团", city="上海")
    response = post(officer_client, f"/organizations/{org.id}", _edit_form(org, city="菏泽"))
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Organization, org.id).city == "菏泽"
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "update"))
    assert entry.changes == {"city": ["上海", "菏泽"]}
    timeline = officer_client.get(f"/organizations/{org.id}").text
    assert "修改了" in timeline and "<del>上海</del>" in timeline and "<ins>菏泽</ins>" in timeline


def test_saving_without_changes_writes_no_audit_entry(officer_client, session, users):
    org = make_org(session, actor=users["officer"], name="复星集团", city="上海")
    assert post(officer_client, f"/organizations/{org.id}", _edit_form(org)).status_code == 303
    assert session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "update")) == 0


def test_an_edit_made_on_a_stale_copy_is_refused_and_shows_what_changed(officer_client, app, session, users):
    from fastapi.testclient import TestClient

    from tests.conftest import login

    org = make_org(session, actor=users["officer"], name="复星集团", city="上海")
    stale_form = _edit_form(org, city="济南")  # the officer opened the form at version 1
    with TestClient(app, follow_redirects=False) as manager:
        login(manager, "manager")
        assert post(manager, f"/organizations/{org.id}", _edit_form(org, city="菏泽")).status_code == 303
    response = post(officer_client, f"/organizations/{org.id}", stale_form)
    assert response.status_code == 409
    assert "其他人保存了这条记录" in response.text
    assert "练建军" in response.text and "<ins>菏泽</ins>" in response.text  # who changed what
    assert 'value="济南"' in response.text  # the officer's input is kept
    session.expire_all()
    current = session.get(Organization, org.id)
    assert current.city == "菏泽" and current.version == 2
    # Re-submitting on the current version applies the officer's change.
    assert post(officer_client, f"/organizations/{org.id}", {**stale_form, "version": "2"}).status_code == 303
    session.expire_all()
    assert session.get(Organization, org.id).city == "济南"


def test_edit_without_version_is_treated_as_stale(officer_client, session, users):
    org = make_org(session, actor=users["officer"], name="复星集团", city="上海")
    form = _edit_form(org, city="济南")
    del form["version"]
    assert post(officer_client, f"/organizations/{org.id}", form).status_code == 409


# Archive and restore

def test_archive_needs_confirmation_then_hides_and_restore_brings_back(officer_client, session, users):
    org = make_org(session, actor=users["officer"], name="复星集团")
    confirm = officer_client.get(f"/organizations/{org.id}/archive")
    assert confirm.status_code == 200 and "归档“复星集团”？" in confirm.text
    assert post(officer_client, f"/organizations/{org.id}/archive").status_code == 303

    def listed(**params):
        return "复星集团" in officer_client.get("/organizations", params=params, headers={"HX-Request": "true"}).text

    assert not listed() and not listed(q="fx")
    assert listed(archived="1")
    assert post(officer_client, f"/organizations/{org.id}/restore").status_code == 303
    assert listed() and not listed(archived="1")
    session.expire_all()
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "organization").order_by(AuditEntry.id)).all()
    assert actions == ["create", "archive", "restore"]


def test_only_the_owner_or_a_manager_may_archive(client, session, users):
    from tests.conftest import login

    org = make_org(session, actor=users["officer"], name="复星集团", owner_id=users["officer"].id)
    login(client, "officer2")
    assert client.get(f"/organizations/{org.id}/archive").status_code == 403
    assert post(client, f"/organizations/{org.id}/archive").status_code == 403
    session.expire_all()
    assert session.get(Organization, org.id).archived_at is None
    assert "归档" not in client.get(f"/organizations/{org.id}").text.split("<main")[1].split("动态")[0]


def test_manager_may_archive_any_organization(client, session, users):
    from tests.conftest import login

    org = make_org(session, actor=users["officer"], name="复星集团")
    login(client, "manager")
    assert post(client, f"/organizations/{org.id}/archive").status_code == 303


def test_organization_page_shows_contacts_and_timeline(officer_client, zone):
    html = officer_client.get(f"/organizations/{zone.id}").text
    assert "祝文魁" in html and "动态" in html and "创建了" in html


def test_one_character_query_still_finds(officer_client, zone):
    """A single character has no bigram: the search falls back to the substring match alone."""
    html = officer_client.get("/organizations", params={"q": "星"}, headers={"HX-Request": "true"}).text
    assert "复星集团" in html and "玉皇新能源" not in html


def test_the_search_index_follows_edits(officer_client, session, users):
    org = make_org(session, actor=users["officer"], name="鲁西化工")
    form = _edit_form(org, name="鲁南制药")
    assert post(officer_client, f"/organizations/{org.id}", form).status_code == 303

    def found(q):
        return f"/organizations/{org.id}" in officer_client.get(
            "/organizations", params={"q": q}, headers={"HX-Request": "true"}).text

    assert found("制药") and found("lnzy") and not found("化工") and not found("lxhg")


def test_tag_filter_offers_only_tags_in_use(officer_client, session, users):
    org = make_org(session, actor=users["officer"], name="甲机构", tags="外资，重点")
    page = officer_client.get("/organizations").text
    assert '<option value="外资"' in page and '<option value="重点"' in page
    assert post(officer_client, f"/organizations/{org.id}", _edit_form(org, tags="外资")).status_code == 303
    page = officer_client.get("/organizations").text
    assert '<option value="外资"' in page and '<option value="重点"' not in page
    assert "甲机构" in officer_client.get("/organizations", params={"tag": "外资"}, headers={"HX-Request": "true"}).text
    assert "甲机构" not in officer_client.get("/organizations", params={"tag": "重点"}, headers={"HX-Request": "true"}).text


def test_credit_code_is_checked_inline_as_it_is_typed(officer_client, session, users):
    def check(code, **params):
        response = officer_client.get("/organizations/check-credit-code", params={"credit_code": code, **params},
                                      headers={"HX-Request": "true"})
        assert response.status_code == 200 and "<html" not in response.text
        return response.text

    assert "应为 18 位" in check("9137")
    assert "校验位不符" in check("91370000163044926X")
    assert check(VALID_CODE).strip() == ""
    assert check("").strip() == ""
    existing = make_org(session, actor=users["officer"], name="已有机构", credit_code=VALID_CODE)
    assert f'href="/organizations/{existing.id}"' in check(VALID_CODE.lower())
    assert check(VALID_CODE, organization=str(existing.id)).strip() == ""  # its own code, when editing it


def test_long_lists_count_only_ten_pages_ahead(officer_client, app, session, users):
    """Counting 20,000 rows costs more than showing 50; the list says "N+" once it stops counting."""
    app.state.settings.page_size = 2
    for i in range(30):
        make_org(session, actor=users["officer"], name=f"计数{i:02d}")
    first = officer_client.get("/organizations", params={"sort": "name"}, headers={"HX-Request": "true"}).text
    assert "共 22+ 条" in first and "共 11+ 页" in first
    near_end = officer_client.get("/organizations", params={"sort": "name", "page": 14}, headers={"HX-Request": "true"}).text
    assert "共 30 条" in near_end and "共 15 页" in near_end and "计数27" in near_end
    app.state.settings.page_size = 50


def test_the_officer_filter_follows_changes_to_users_at_once(officer_client, session, users):
    """The filter's options are kept between requests (they are the same for everyone): a renamed, new or
    deactivated user shows in the next page."""
    officer2 = users["officer2"]
    page = officer_client.get(f"/organizations?owner={officer2.id}").text
    assert f'<option value="{officer2.id}" selected>李四</option>' in page and ">练建军</option>" in page
    officer2.display_name = "李四<光>"
    session.commit()
    page = officer_client.get("/organizations").text
    assert f'<option value="{officer2.id}">李四&lt;光&gt;</option>' in page and ">李四</option>" not in page
    newcomer = make_user(session, username="newcomer", display_name="王五")
    users["manager"].is_active = False
    session.commit()
    page = officer_client.get(f"/organizations?owner={newcomer.id}").text
    assert f'<option value="{newcomer.id}" selected>王五</option>' in page and ">练建军</option>" not in page
