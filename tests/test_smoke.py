from tests.conftest import post
from tests.factories import make_contact, make_org


def test_officer_finds_fosun_by_pinyin_initials(officer_client, session, users):
    org = make_org(session, actor=users["officer"], name="复星集团", name_en="Fosun Group")
    make_contact(session, actor=users["officer"], organization=org, name="祝文魁")
    for q in ("复星", "fx", "fuxing", "fosun", "祝文魁"):
        response = officer_client.get("/organizations", params={"q": q})
        assert response.status_code == 200
        assert "复星集团" in response.text, q
    response = officer_client.get(f"/organizations/{org.id}")
    assert "祝文魁" in response.text
    assert post(officer_client, "/logout").status_code == 303
