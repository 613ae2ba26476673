"""Contacts over HTTP: create from an organization, server-side validation, escaping, search through the
organization, archive/restore rights, edit conflicts, audit, and the organization picker."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select

from crm.audit.models import AuditEntry
from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.i18n import gettext
from crm.organizations import service as organization_service
from crm.organizations.models import Organization
from tests.conftest import login, post
from tests.factories import make_contact, make_org
from tests.helpers import count_rows, field_error, input_value, reload, textarea_value

SCRIPT = "<script>alert(1)</script>"


def zh(msgid: str, **params) -> str:
    """A message as the (Chinese) page shows it, HTML-escaped like Jinja does."""
    return str(escape(gettext("zh_CN", msgid, **params)))












def contact_data(org_id: int, **overrides) -> dict[str, str]:
    data = {
        "organization_id": str(org_id), "name": "王建国", "title": "董事长", "mobile": "13800138000",
        "phone": "0530-5310000", "email": "wang@example.com", "wechat": "wangjg2021", "notes": "首次接触",
    }
    data.update(overrides)
    return data



@pytest.fixture
def org(session, users):
    return make_org(session, actor=users["officer"], name="鲁西新材料科技", name_en="Luxi New Materials")


def org_listed(html: str, org_id: int) -> bool:
    return f'href="/organizations/{org_id}"' in html


# Creating


def test_create_contact_from_organization(officer_client, session, users, org):
    org_id = org.id  # ids are kept as ints: expire_all() below expires the objects
    page = officer_client.get("/contacts/new", params={"organization": org_id})
    assert page.status_code == 200
    assert f'<input type="hidden" name="organization_id" value="{org_id}">' in page.text
    assert "鲁西新材料科技" in page.text

    response = post(officer_client, "/contacts", contact_data(org_id))
    assert response.status_code == 303, response.text
    session.expire_all()
    contact = session.scalar(select(Contact).where(Contact.name == "王建国"))
    session.commit()
    assert contact is not None
    assert response.headers["location"] == f"/contacts/{contact.id}"
    assert (contact.organization_id, contact.title, contact.mobile, contact.email, contact.wechat, contact.phone,
            contact.notes) == (org_id, "董事长", "13800138000", "wang@example.com", "wangjg2021", "0530-5310000", "首次接触")
    assert contact.archived_at is None

    shown = officer_client.get(f"/contacts/{contact.id}")
    assert shown.status_code == 200
    assert zh("Contact “%(name)s” created.", name="王建国") in shown.text  # the flash
    assert "王建国" in shown.text and "董事长" in shown.text and "鲁西新材料科技" in shown.text

    org_page = officer_client.get(f"/organizations/{org_id}")
    assert org_page.status_code == 200
    assert f'<a href="/contacts/{contact.id}">王建国</a>' in org_page.text

    listing = officer_client.get("/contacts")
    assert listing.status_code == 200
    assert f'<a href="/contacts/{contact.id}">王建国</a>' in listing.text
    assert f'<a href="/organizations/{org_id}">鲁西新材料科技</a>' in listing.text


BAD_FIELDS = [
    pytest.param("mobile", "12345", ("Enter a mainland mobile number of 11 digits starting with 1, e.g. 13800138000.", {}),
                 id="bad-mobile"),
    pytest.param("email", "a@b", ("Enter an e-mail address such as name@example.com.", {}), id="bad-email"),
    pytest.param("wechat", "1abc", ("A WeChat ID has 6 to 20 letters, digits, _ or -, and starts with a letter.", {}),
                 id="bad-wechat"),
    pytest.param("phone", "abc", ("Enter a phone number with digits, spaces, dashes or brackets, e.g. 0530-5310000.", {}),
                 id="bad-phone"),
    pytest.param("name", "王" * 61, ("At most %(max)s characters (you entered %(n)s).", {"max": 60, "n": 61}),
                 id="name-too-long"),
    pytest.param("name", "", ("This field is required.", {}), id="name-missing"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FIELDS)
def test_invalid_field_rerenders_form_and_writes_nothing(officer_client, session, org, field, value, message):
    response = post(officer_client, "/contacts", contact_data(org.id, **{field: value}))
    assert response.status_code == 422
    html = response.text
    assert zh("Please correct the fields marked below.") in html
    msgid, params = message
    assert field_error(html, field) == zh(msgid, **params)
    assert f'id="f-{field}" name="{field}" required aria-invalid="true"' in html or \
        f'id="f-{field}" name="{field}" aria-invalid="true"' in html
    # the user's input is kept, the bad value and the good ones alike
    assert input_value(html, field) == value
    for other in ("name", "title", "mobile", "phone", "email", "wechat"):
        if other != field:
            assert input_value(html, other) == contact_data(org.id)[other], other
            assert field_error(html, other) is None, other
    assert textarea_value(html, "notes") == "首次接触"
    assert f'name="organization_id" value="{org.id}"' in html  # the organization stays chosen
    assert count_rows(session, Contact) == 0


@pytest.mark.parametrize("case", ["missing", "unknown", "archived"])
def test_missing_unknown_or_archived_organization_is_refused(officer_client, session, users, org, case):
    if case == "missing":
        org_id, message = "", zh("This field is required.")
    elif case == "unknown":
        org_id, message = "999999", zh("Choose an organization that exists and is not archived.")
    else:
        organization_service.archive(session, org=org, actor=users["officer"])
        org_id, message = str(org.id), zh("Choose an organization that exists and is not archived.")
    response = post(officer_client, "/contacts", contact_data(0, organization_id=org_id))
    assert response.status_code == 422
    assert field_error(response.text, "organization_id") == message
    assert input_value(response.text, "name") == "王建国"
    assert input_value(response.text, "mobile") == "13800138000"
    assert count_rows(session, Contact) == 0


def test_organization_id_too_large_for_the_database_is_refused_not_a_server_error(app, users, session, org):
    huge = "9" * 20  # digits, but larger than any id the database can hold
    with TestClient(app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False) as c:
        login(c, "officer")
        assert c.get("/contacts/new", params={"organization": huge}).status_code == 200
        response = post(c, "/contacts", contact_data(0, organization_id=huge))
        assert response.status_code == 422
        assert field_error(response.text, "organization_id") == zh("Choose one of the listed options.")
        assert c.get(f"/contacts/{huge}").status_code == 404
    assert count_rows(session, Contact) == 0


# Escaping


def test_markup_in_name_and_notes_is_escaped_everywhere(officer_client, session, org):
    notes = "<b>粗体</b><script>steal()</script>"
    response = post(officer_client, "/contacts", contact_data(org.id, name=SCRIPT, notes=notes))
    assert response.status_code == 303, response.text
    contact_url = response.headers["location"]

    pages = {
        "contact": officer_client.get(contact_url),
        "organization": officer_client.get(f"/organizations/{org.id}"),
        "contacts list": officer_client.get("/contacts"),
        "contacts search": officer_client.get("/contacts", params={"q": "script"}),
        "edit form": officer_client.get(f"{contact_url}/edit"),
        "archive confirm": officer_client.get(f"{contact_url}/archive"),
    }
    for where, page in pages.items():
        assert page.status_code == 200, where
        assert SCRIPT not in page.text, where
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, where
        assert "<script>steal()</script>" not in page.text, where
        assert "<b>粗体</b>" not in page.text, where
    assert "&lt;b&gt;粗体&lt;/b&gt;&lt;script&gt;steal()&lt;/script&gt;" in pages["contact"].text
    assert "&lt;b&gt;粗体&lt;/b&gt;" in pages["edit form"].text

    # the re-rendered form after a validation error escapes the input too
    invalid = post(officer_client, "/contacts", contact_data(org.id, name=SCRIPT, notes=notes, mobile="12345"))
    assert invalid.status_code == 422
    assert SCRIPT not in invalid.text and "<b>粗体</b>" not in invalid.text
    assert input_value(invalid.text, "name") == "&lt;script&gt;alert(1)&lt;/script&gt;"


# Search through the organization, archive and restore


def test_organization_found_by_contact_name_until_contact_archived(officer_client, session, users, org):
    contact = make_contact(session, actor=users["officer"], organization=org, name="祝文魁")
    org_id, contact_id = org.id, contact.id  # kept as ints: expire_all() expires the objects
    contact_link = f'<a href="/contacts/{contact_id}">祝文魁</a>'  # as the organization page and the list show it
    for q in ("祝文魁", "zwk", "zhuwenkui"):
        response = officer_client.get("/organizations", params={"q": q})
        assert response.status_code == 200
        assert org_listed(response.text, org_id), q

    confirm = officer_client.get(f"/contacts/{contact_id}/archive")
    assert confirm.status_code == 200
    assert f'action="/contacts/{contact_id}/archive"' in confirm.text
    assert reload(session, Contact, contact_id).archived_at is None  # the confirm page changes nothing

    response = post(officer_client, f"/contacts/{contact_id}/archive")
    assert response.status_code == 303
    assert response.headers["location"] == f"/contacts/{contact_id}"
    assert reload(session, Contact, contact_id).archived_at is not None
    for q in ("祝文魁", "zwk"):
        assert not org_listed(officer_client.get("/organizations", params={"q": q}).text, org_id), q
    assert org_listed(officer_client.get("/organizations", params={"q": "鲁西"}).text, org_id)  # still there by name
    assert contact_link not in officer_client.get(f"/organizations/{org_id}").text
    assert contact_link not in officer_client.get("/contacts").text
    assert contact_link in officer_client.get("/contacts", params={"archived": "1"}).text

    response = post(officer_client, f"/contacts/{contact_id}/restore")
    assert response.status_code == 303
    assert reload(session, Contact, contact_id).archived_at is None
    for q in ("祝文魁", "zwk"):
        assert org_listed(officer_client.get("/organizations", params={"q": q}).text, org_id), q
    assert contact_link in officer_client.get(f"/organizations/{org_id}").text
    assert contact_link in officer_client.get("/contacts").text

    session.expire_all()
    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_type == "contact", AuditEntry.entity_id == contact_id)
        .order_by(AuditEntry.id)
    ).all()
    session.commit()
    assert actions == ["create", "archive", "restore"]


def test_officer_who_does_not_own_the_organization_cannot_archive(client, other_client, session, users, org):
    contact = make_contact(session, actor=users["officer"], organization=org, name="祝文魁")
    contact_id = contact.id
    login(client, "officer2")
    assert client.get(f"/contacts/{contact_id}/archive").status_code == 403
    response = post(client, f"/contacts/{contact_id}/archive")
    assert response.status_code == 403
    assert zh("Your role does not allow this.") in response.text
    assert reload(session, Contact, contact_id).archived_at is None
    shown = client.get(f"/contacts/{contact_id}").text
    assert f'href="/contacts/{contact_id}/archive"' not in shown  # no archive button offered

    login(other_client, "manager")  # a manager may, without owning the organization
    assert other_client.get(f"/contacts/{contact_id}/archive").status_code == 200
    assert post(other_client, f"/contacts/{contact_id}/archive").status_code == 303
    assert reload(session, Contact, contact_id).archived_at is not None
    assert post(client, f"/contacts/{contact_id}/restore").status_code == 403
    assert reload(session, Contact, contact_id).archived_at is not None


# Editing


def test_edit_records_audit_entry_with_old_and_new_value(officer_client, session, users, org):
    contact = make_contact(session, actor=users["officer"], organization=org, name="祝文魁", title="副总经理")
    contact_id, officer_id, org_id = contact.id, users["officer"].id, org.id
    edit = officer_client.get(f"/contacts/{contact_id}/edit")
    assert edit.status_code == 200
    assert '<input type="hidden" name="version" value="1">' in edit.text
    assert input_value(edit.text, "title") == "副总经理"

    data = {**contact_data(org_id, name="祝文魁", title="总经理", mobile="", phone="", email="", wechat="", notes=""),
            "version": "1"}
    response = post(officer_client, f"/contacts/{contact_id}", data)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/contacts/{contact_id}"

    session.expire_all()
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.entity_type == "contact", AuditEntry.entity_id == contact_id,
                                 AuditEntry.action == "update")
    ).all()
    saved = session.get(Contact, contact_id)
    session.commit()
    assert saved.title == "总经理" and saved.version == 2
    assert len(entries) == 1
    assert entries[0].changes == {"title": ["副总经理", "总经理"]}
    assert entries[0].actor_id == officer_id
    assert entries[0].organization_id == org_id

    shown = officer_client.get(f"/contacts/{contact_id}")
    assert "<del>副总经理</del> → <ins>总经理</ins>" in shown.text
    assert zh("Changes saved.") in shown.text


def test_edit_with_stale_version_is_refused_and_changes_nothing(officer_client, session, users, org):
    contact = make_contact(session, actor=users["officer"], organization=org, name="祝文魁", title="副总经理")
    contact_id = contact.id
    assert 'name="version" value="1"' in officer_client.get(f"/contacts/{contact_id}/edit").text
    # meanwhile someone else saves
    contact_service.update(session, contact=contact, version=1, actor=users["officer2"], data={
        "organization_id": org.id, "name": "祝文魁", "title": "总经理", "mobile": "", "phone": "", "email": "",
        "wechat": "", "notes": ""})

    data = {**contact_data(org.id, name="祝文魁", title="董事", mobile="", phone="", email="", wechat="", notes=""),
            "version": "1"}
    response = post(officer_client, f"/contacts/{contact_id}", data)
    assert response.status_code == 409
    html = response.text
    assert zh("Someone else saved this record after you opened it. Nothing was overwritten: review their changes "
              "below, then apply yours again.") in html
    assert "李四" in html and "<ins>总经理</ins>" in html  # whose change, and what it was
    assert input_value(html, "title") == "董事"  # the user's entry is kept
    assert '<input type="hidden" name="version" value="2">' in html  # saving again applies over the current version

    saved = reload(session, Contact, contact_id)
    assert (saved.title, saved.version) == ("总经理", 2)
    session.expire_all()
    n_updates = session.scalar(select(func.count(AuditEntry.id)).where(
        AuditEntry.entity_type == "contact", AuditEntry.entity_id == contact_id, AuditEntry.action == "update"))
    session.commit()
    assert n_updates == 1


def test_contact_search_follows_organization_rename(officer_client, session, users, org):
    contact = make_contact(session, actor=users["officer"], organization=org, name="祝文魁")
    assert f'href="/contacts/{contact.id}"' in officer_client.get("/contacts", params={"q": "鲁西"}).text
    edit = officer_client.get(f"/organizations/{org.id}/edit")
    version = re.search(r'name="version" value="(\d+)"', edit.text).group(1)
    response = post(officer_client, f"/organizations/{org.id}", {
        "name": "齐鲁新材料科技", "kind": "investor", "owner_id": str(users["officer"].id), "version": version})
    assert response.status_code == 303, response.text
    assert f'href="/contacts/{contact.id}"' in officer_client.get("/contacts", params={"q": "齐鲁"}).text
    assert f'href="/contacts/{contact.id}"' not in officer_client.get("/contacts", params={"q": "鲁西"}).text


# Bad addresses


def test_bad_page_number_is_a_clear_400(officer_client):
    response = officer_client.get("/contacts", params={"page": "abc"})
    assert response.status_code == 400
    assert zh("“%(value)s” is not a page number: use a whole number from 1.", value="abc") in response.text


def test_unknown_and_malformed_contact_ids_are_404(officer_client):
    for url in ("/contacts/999999", "/contacts/abc", "/contacts/999999/edit"):
        response = officer_client.get(url)
        assert response.status_code == 404, url
        assert zh("There is no such page or record. It may have been removed, or the address is mistyped.") in response.text
        assert zh("Not found") in response.text


# The organization picker


def test_organization_picker_lists_matching_organizations_as_radio_options(officer_client, session, users):
    fosun = make_org(session, actor=users["officer"], name="复星集团")
    other = make_org(session, actor=users["officer"], name="鲁西新材料科技")
    gone = make_org(session, actor=users["officer"], name="复兴科技")  # also fx, but archived
    organization_service.archive(session, org=gone, actor=users["officer"])

    response = officer_client.get("/contacts/organization-options", params={"q": "fx"})
    assert response.status_code == 200
    assert f'<input type="radio" name="organization_id" value="{fosun.id}"> 复星集团' in response.text
    assert f'value="{other.id}"' not in response.text
    assert f'value="{gone.id}"' not in response.text

    none = officer_client.get("/contacts/organization-options", params={"q": "zzzz"})
    assert none.status_code == 200
    assert 'type="radio"' not in none.text
    assert zh("No organization matches “%(q)s”.", q="zzzz") in none.text


def test_form_without_organization_id_lists_matches_for_organization_q(officer_client, session, users):
    fosun = make_org(session, actor=users["officer"], name="复星集团")
    other = make_org(session, actor=users["officer"], name="鲁西新材料科技")
    fosun_id = fosun.id
    data = contact_data(0, organization_id="")
    del data["organization_id"]
    response = post(officer_client, "/contacts", {**data, "organization_q": "fx"})
    assert response.status_code == 422
    html = response.text
    assert f'<input type="radio" name="organization_id" value="{fosun_id}"> 复星集团' in html
    assert f'value="{other.id}"' not in html
    assert 'name="organization_q" value="fx"' in html
    assert field_error(html, "organization_id") == zh("This field is required.")
    assert input_value(html, "name") == "王建国"
    assert count_rows(session, Contact) == 0

    # choosing one of the listed organizations then saves
    response = post(officer_client, "/contacts", {**data, "organization_q": "fx", "organization_id": str(fosun_id)})
    assert response.status_code == 303
    session.expire_all()
    assert session.scalar(select(Contact.organization_id).where(Contact.name == "王建国")) == fosun_id
    assert session.scalar(select(func.count(Organization.id))) == 2
    session.commit()
