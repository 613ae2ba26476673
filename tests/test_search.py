"""The header's search: organizations and contacts as the user types, grouped, with the match highlighted."""

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
