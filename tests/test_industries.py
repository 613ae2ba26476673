"""Admins keep the list of industry chains; a retired chain stays on the organizations that have it."""

from sqlalchemy import select

from crm.organizations.models import IndustryChain, Organization
from tests.conftest import login, post
from tests.factories import make_org
from tests.helpers import count_rows, field_error, reload


def _chain(session, name_zh):
    session.expire_all()
    return session.scalar(select(IndustryChain).where(IndustryChain.name_zh == name_zh))


def test_only_admins_manage_industry_chains(officer_client, session):
    before = count_rows(session, IndustryChain)
    assert officer_client.get("/admin/industries").status_code == 403
    response = post(officer_client, "/admin/industries", {"name_zh": "数字经济", "name_en": "Digital", "sort_order": "70"})
    assert response.status_code == 403
    assert count_rows(session, IndustryChain) == before


def test_admin_adds_a_chain_that_then_appears_in_the_organization_form(client, users, session):
    login(client, "admin")
    response = post(client, "/admin/industries", {"name_zh": "数字经济", "name_en": "Digital economy", "sort_order": "70"})
    assert response.status_code == 303
    assert "数字经济" in client.get("/admin/industries").text
    assert "数字经济" in client.get("/organizations/new").text


def test_duplicate_and_invalid_entries_are_refused_beside_the_field(client, users, session):
    login(client, "admin")
    before = count_rows(session, IndustryChain)
    response = post(client, "/admin/industries", {"name_zh": "新能源", "name_en": "Anything", "sort_order": "1"})
    assert response.status_code == 422 and field_error(response.text, "name_zh")
    response = post(client, "/admin/industries", {"name_zh": "甲", "name_en": "A", "sort_order": "abc"})
    assert response.status_code == 422 and field_error(response.text, "sort_order")
    assert count_rows(session, IndustryChain) == before


def test_retired_chain_stays_on_its_organizations_and_leaves_the_choices(client, users, session):
    chain = _chain(session, "新材料")
    org = make_org(session, actor=users["officer"], name="鲁西新材料", industry_chain_id=chain.id)
    login(client, "admin")
    response = post(client, f"/admin/industries/{chain.id}",
                    {"name_zh": "新材料", "name_en": "New materials", "sort_order": "50"})  # no is_active: retire
    assert response.status_code == 303
    assert _chain(session, "新材料").is_active is False
    assert "新材料" not in client.get("/organizations/new").text.split('id="f-industry_chain_id"')[1].split("</select>")[0]
    # The organization keeps it, shows it, and can still be saved with it.
    assert "新材料" in client.get(f"/organizations/{org.id}").text
    edit = client.get(f"/organizations/{org.id}/edit").text
    assert f'<option value="{chain.id}" selected>' in edit
    form = {"name": org.name, "kind": org.kind, "industry_chain_id": str(chain.id), "version": str(org.version),
            "city": "菏泽", "owner_id": str(org.owner_id)}
    assert post(client, f"/organizations/{org.id}", form).status_code == 303
    assert reload(session, Organization, org.id).industry_chain_id == chain.id
