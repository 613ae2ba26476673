"""The header's search: organizations and contacts as the user types, grouped, with the match highlighted."""

import re

import pytest

from tests.factories import make_contact, make_org


def test_search_groups_results_and_highlights_the_match(officer_client, session, users):
    fosun = make_org(session, actor=users["officer"], name="复星集团", name_en="Fosun Group")
    make_contact(session, actor=users["officer"], organization=fosun, name="祝文魁", title="首席战略赋能官")
    make_org(session, actor=users["officer"], name="玉皇新能源")
    html = officer_client.get("/search", params={"q": "复星"}).text
    assert "<mark>复星</mark>集团" in html
    assert "祝文魁" in html  # the contact, through its organization's name
    assert "玉皇新能源" not in html
    assert html.index("机构") < html.index("联系人")


def test_two_character_words_pinyin_initials_and_english(officer_client, session, users):
    make_org(session, actor=users["officer"], name="现代医药港", name_en="Modern Medical Port")
    for q in ("医药", "xdyyg", "medical"):
        response = officer_client.get("/search", params={"q": q}, headers={"HX-Request": "true"})
        assert response.status_code == 200 and "<html" not in response.text
        assert "/organizations/" in response.text and "Modern" in response.text, q
    assert "<mark>Medical</mark>" in officer_client.get("/search", params={"q": "medical"}).text


def test_highlighting_never_lets_html_through(officer_client, session, users):
    make_org(session, actor=users["officer"], name="<b>复星</b><script>x()</script>")
    html = officer_client.get("/search", params={"q": "复星"}).text
    assert "<script>x()" not in html and "&lt;b&gt;<mark>复星</mark>&lt;/b&gt;" in html
    html = officer_client.get("/search", params={"q": "<script>"}).text
    assert "<script>x()" not in html


def test_empty_and_unmatched_queries(officer_client):
    assert officer_client.get("/search", params={"q": ""}, headers={"HX-Request": "true"}).text == ""
    assert "两个汉字即可" in officer_client.get("/search").text
    assert "没有与“无此机构”匹配的结果" in officer_client.get("/search", params={"q": "无此机构"}).text


@pytest.mark.parametrize("common_postings", [2000, 1])
def test_common_and_rare_queries_find_the_same_records(officer_client, session, users, monkeypatch, common_postings):
    """A query whose every bigram is common is read in display order with a substring check instead of from the
    bigram candidates (search_service.is_common); both ways must find exactly the same records."""
    from crm.search import service as search_service

    monkeypatch.setattr(search_service, "COMMON_POSTINGS", common_postings)
    officer = users["officer"]
    for name in ("复星集团", "复星医药", "上海星河", "复兴制药"):
        org = make_org(session, actor=officer, name=name)
        make_contact(session, actor=officer, organization=org, name=f"{name[:2]}联系人")
    def text(url):
        return re.sub(r"<[^>]+>", "", officer_client.get(url).text)

    page = text("/search?q=复星")
    assert "复星集团" in page and "复星医药" in page and "复兴制药" not in page and "上海星河" not in page
    listed = text("/organizations?q=fx")
    assert "复星集团" in listed and "复星医药" in listed and "复兴制药" in listed and "上海星河" not in listed
    contacts = text("/contacts?q=复星")
    assert contacts.count("复星联系人") == 2
    from crm.organizations.models import Organization

    assert search_service.is_common(session, "organization", "复星", Organization.search_text) is (common_postings == 1)


def test_common_pieces_of_a_whole_that_occurs_nowhere_are_not_common(officer_client, session, users, monkeypatch):
    """甲乙 and 乙甲 are each in two names but 甲乙甲 in none: reading the list in display order would look through
    the whole table, so the (empty) candidate list answers instead."""
    from crm.organizations.models import Organization
    from crm.search import service as search_service

    monkeypatch.setattr(search_service, "COMMON_POSTINGS", 1)
    for name in ("甲乙丙", "乙甲丁", "甲乙戊", "乙甲己"):
        make_org(session, actor=users["officer"], name=name)
    assert search_service.is_common(session, "organization", "甲乙", Organization.search_text)
    assert not search_service.is_common(session, "organization", "甲乙甲", Organization.search_text)
    assert "甲乙丙" not in re.sub(r"<[^>]+>", "", officer_client.get("/organizations?q=甲乙甲").text)
