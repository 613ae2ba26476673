"""The import wizard at /imports over HTTP: organizations with contacts on the row (GB18030 CSV and .xlsx with
Chinese headers under a title row, a two-row header, blank and totals rows), the mapping saved and guessed again,
the preview's problems by row and column with nothing written, matching (skip / fill / update), all or nothing,
a double submit making one batch, undo (and its refusal), contacts by organization, and the bad files."""

from __future__ import annotations

import io
import re

import xlsxwriter
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports import service
from crm.imports.models import BatchStatus, ImportBatch, ImportMapping, ImportRecord
from crm.organizations.models import Organization
from crm.search.models import SearchTerm
from crm.validators import credit_code_check_char
from tests import factories
from tests.conftest import login, post
from tests.helpers import count_rows
from tests.import_progress import follow


def _code(body: str) -> str:
    return body + credit_code_check_char(body)


CODE_A = _code("91320594MA1XYW123")
CODE_B = _code("91320594MA1XYW456")


def _xlsx(rows, *, title: str | None = None, second=None) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    sheet = book.add_worksheet("客商名录")
    if second:
        contacts = book.add_worksheet("联系人")
        for r, row in enumerate(second):
            contacts.write_row(r, 0, row)
    r = 0
    if title:
        sheet.merge_range(0, 0, 0, 3, title)
        r = 1
    for row in rows:
        if row is not None and row[0] == "__merge__":
            sheet.merge_range(r, row[1], r, row[2], row[3])
            for c, v in row[4]:
                sheet.write(r, c, v)
        elif row is not None:
            for c, v in enumerate(row):
                if v is not None:
                    sheet.write(r, c, v)
        r += 1
    book.close()
    return out.getvalue()


def _upload(client, data: bytes, name: str, kind: str = "organizations", sheet: int = 1):
    return client.post("/imports/new", data={"csrf_token": client.csrf, "kind": kind, "sheet": str(sheet)},
                       files={"file": (name, data, "application/octet-stream")})


def _batch_id(response) -> int:
    assert response.status_code == 303, response.text
    return int(re.search(r"/imports/(\d+)/map", response.headers["location"]).group(1))


def _mapping_form(html: str) -> dict[str, str]:
    """The mapping page's choices as they stand (the guesses)."""
    chosen = {}
    for choice in re.finditer(r'<select id="col-\d+" name="(col_\d+)"[^>]*>(.*?)</select>', html, re.S):
        picked = re.search(r'<option value="([^"]*)" selected', choice.group(2))
        chosen[choice.group(1)] = picked.group(1) if picked else ""
    return chosen


def _walk_to_confirm(client, batch_id: int) -> str:
    page = client.get(f"/imports/{batch_id}/map")
    assert page.status_code == 200
    assert post(client, f"/imports/{batch_id}/map", _mapping_form(page.text)).status_code == 303
    preview = client.get(f"/imports/{batch_id}/preview")
    assert preview.status_code == 200 and "form-error" not in preview.text, preview.text
    return client.get(f"/imports/{batch_id}/confirm").text


def _commit(client, batch_id: int, key: str = "k" * 20):
    return post(client, f"/imports/{batch_id}/commit", {"submission_key": key})


def test_organizations_with_contacts_from_xlsx_and_gb18030_csv(client, users, session):
    login(client, "officer")
    rows = [
        ("__merge__", 2, 4, "联系人", [(0, "企业名称"), (1, "统一社会信用代码"), (5, "所在城市")]),
        (None, None, "姓名", "职务", "联系电话"),
        ("苏州星河新材料有限公司", CODE_A, "王芳", "总经理", "13800138000", "苏州"),
        None,  # a blank row between data
        ("苏州星河新材料有限公司", CODE_A, "李强", "财务总监", "0512-66880000", ""),  # same organization: merged
        ("Acme Robotics GmbH", "", "", "", "", "Munich"),
        ("合计", None, None, None, None, None),
    ]
    # the two-row header: 企业名称 and 统一社会信用代码 written in the top row, merged 联系人 over three columns
    batch_id = _batch_id(_upload(client, _xlsx(rows, title="2026年客商名录"), "客商名录.xlsx"))
    page = client.get(f"/imports/{batch_id}/map").text
    guessed = _mapping_form(page)
    assert guessed == {"col_0": "name", "col_1": "credit_code", "col_2": "contact_name", "col_3": "contact_title",
                       "col_4": "contact_phone", "col_5": "city"}, guessed
    assert "7" in page  # the totals row is named on the page
    confirm = _walk_to_confirm(client, batch_id)
    assert "submission_key" in confirm
    assert count_rows(session, Organization) == 0  # nothing written before the commit
    response = _commit(client, batch_id)
    assert response.status_code == 303 and response.headers["location"] == f"/imports/{batch_id}"
    assert "2" in follow(client, response).text  # the progress page, then the result
    again = _commit(client, batch_id)  # a double click: the same batch, nothing more
    assert again.status_code == 303
    assert _commit(client, batch_id, "z" * 20).status_code == 409  # another commit of a committed batch
    session.expire_all()
    orgs = {o.name: o for o in session.scalars(select(Organization))}
    assert set(orgs) == {"苏州星河新材料有限公司", "Acme Robotics GmbH"}
    star = orgs["苏州星河新材料有限公司"]
    assert star.credit_code == CODE_A and star.city == "苏州" and star.kind == "investor"
    contacts = {c.name: c for c in session.scalars(select(Contact))}
    assert contacts["王芳"].mobile == "13800138000" and contacts["王芳"].title == "总经理"
    assert contacts["李强"].phone == "0512-66880000" and contacts["李强"].organization_id == star.id
    assert "王芳" in star.search_text or "wang" in star.search_text  # the contact is searchable with it
    assert count_rows(session, ImportBatch) == 1
    batch = session.get(ImportBatch, batch_id)
    assert (batch.status, batch.created_count, batch.rows_read) == (BatchStatus.COMMITTED, 2, 3)
    assert batch.sheet_data is None
    history = client.get("/imports").text
    assert "客商名录.xlsx" in history and f"/imports/{batch_id}/undo" in history

    # the mapping is remembered: a CSV (GB18030) with a header the synonyms would not guess, mapped by hand once
    csv_rows = f"单位名称,信用代码,对接人员,手机\r\n苏州星河新材料有限公司,{CODE_A},赵敏,13900139000\r\n" \
               f"昆山示例精密机械有限公司,{CODE_B},钱亮,13700137000\r\n"
    csv_id = _batch_id(_upload(client, csv_rows.encode("gb18030"), "名录.csv"))
    guessed = _mapping_form(client.get(f"/imports/{csv_id}/map").text)
    assert guessed == {"col_0": "name", "col_1": "credit_code", "col_2": "", "col_3": "contact_mobile"}
    # contact details without a name: a problem on the preview, by row and column, nothing written
    assert post(client, f"/imports/{csv_id}/map", guessed).status_code == 303
    preview = client.get(f"/imports/{csv_id}/preview").text
    assert "Give the contact" in preview or "联系人姓名" in preview or "form-error" in preview
    assert post(client, f"/imports/{csv_id}/map", {**guessed, "col_2": "contact_name"}).status_code == 303
    session.expire_all()
    saved = session.scalar(select(ImportMapping))
    assert saved.headers["对接人员"] == "contact_name"
    third = _batch_id(_upload(client, csv_rows.encode("gb18030"), "名录.csv"))
    assert _mapping_form(client.get(f"/imports/{third}/map").text)["col_2"] == "contact_name"

    # matching: row 2 matches by credit code; "fill" leaves what is there, adds the contact
    preview = client.get(f"/imports/{csv_id}/preview").text
    assert f"/imports/{csv_id}/matching" in preview
    matching = client.get(f"/imports/{csv_id}/matching").text
    assert "苏州星河新材料有限公司" in matching and 'name="row_2"' in matching
    assert post(client, f"/imports/{csv_id}/matching", {"default_action": "skip", "row_2": "fill"}).status_code == 303
    assert "submission_key" in client.get(f"/imports/{csv_id}/confirm").text
    follow(client, _commit(client, csv_id, "c" * 20))
    session.expire_all()
    assert count_rows(session, Organization) == 3
    assert session.scalar(select(Contact).where(Contact.name == "赵敏")).organization_id == star.id
    csv_batch = session.get(ImportBatch, csv_id)
    assert (csv_batch.created_count, csv_batch.updated_count) == (1, 1)

    # skip: the same file again, both rows now match (by credit code); skipping them writes nothing
    _walk_to_confirm(client, third)
    assert post(client, f"/imports/{third}/matching", {"default_action": "skip"}).status_code == 303
    follow(client, _commit(client, third, "s" * 20))
    session.expire_all()
    assert (session.get(ImportBatch, third).skipped_count, count_rows(session, Organization)) == (2, 3)

    # undo of the first batch is refused: a later batch added a contact to an organization it created
    refused = post(client, f"/imports/{batch_id}/undo")
    assert refused.status_code == 409 and "苏州星河新材料有限公司" in refused.text
    session.expire_all()
    assert count_rows(session, Organization) == 3
    # undo the later batch, then the first: everything goes, the search index with it
    follow(client, post(client, f"/imports/{csv_id}/undo"))
    follow(client, post(client, f"/imports/{batch_id}/undo"))
    session.expire_all()
    assert count_rows(session, Organization) == 0 and count_rows(session, Contact) == 0
    assert session.scalar(select(SearchTerm).where(SearchTerm.kind == "organization")) is None
    assert session.get(ImportBatch, batch_id).status == BatchStatus.UNDONE
    assert post(client, f"/imports/{batch_id}/undo").status_code in (303, 409)


def test_preview_problems_update_and_all_or_nothing(client, users, session, monkeypatch):
    officer = users["officer"]
    existing = factories.make_org(session, actor=officer, name="无锡旧名称科技有限公司", city="无锡",
                                  credit_code=CODE_B)
    session.commit()
    login(client, "officer")
    bad = [("企业名称", "统一社会信用代码", "网址", "负责人"),
           ("好公司", "", "https://example.com", "张晓明"),
           ("", "91320594MA1XYZ12X", "not a url", "nobody")]
    batch_id = _batch_id(_upload(client, _xlsx(bad), "bad.xlsx"))
    guessed = _mapping_form(client.get(f"/imports/{batch_id}/map").text)
    twice = post(client, f"/imports/{batch_id}/map", {**guessed, "col_2": "name"})  # a field for two columns
    assert twice.status_code == 422 and 'aria-invalid="true"' in twice.text
    assert post(client, f"/imports/{batch_id}/map", {**guessed, "col_0": ""}).status_code == 422  # name missing
    assert post(client, f"/imports/{batch_id}/map", guessed).status_code == 303
    preview = client.get(f"/imports/{batch_id}/preview").text
    problems = re.findall(r"<tr><td data-label=\"[^\"]+\">(\d+)</td><td data-label=\"[^\"]+\">([^<]+)</td>", preview)
    assert {(row, col) for row, col in problems} >= {("3", "企业名称"), ("3", "统一社会信用代码"), ("3", "网址"),
                                                      ("3", "负责人")}, problems
    assert _commit(client, batch_id).status_code == 422  # problems: the commit writes nothing
    session.expire_all()
    assert count_rows(session, Organization) == 1

    # all or nothing: row 2 is written (its own chunk, committed), row 3 renames the organization matched by its
    # credit code to the name of another one, which the service refuses: row 2 is taken back, the batch is failed
    factories.make_org(session, actor=officer, name="常州已有公司")
    session.commit()
    clash = [("公司名称", "信用代码", "城市"), ("新公司", "", "南京"), ("常州已有公司", CODE_B, "苏州")]
    batch_id = _batch_id(_upload(client, _xlsx(clash), "clash.xlsx"))
    _walk_to_confirm(client, batch_id)
    assert post(client, f"/imports/{batch_id}/matching", {"default_action": "update"}).status_code == 303
    monkeypatch.setattr(service, "COMMIT_CHUNK", 1)  # so the failure comes after a committed chunk
    failed = follow(client, _commit(client, batch_id))  # written in the background: the result page says why
    assert "常州已有公司" in failed.text
    session.expire_all()
    assert session.scalar(select(Organization).where(Organization.name == "新公司")) is None
    assert session.get(Organization, existing.id).name == "无锡旧名称科技有限公司"
    assert count_rows(session, Organization) == 2 and count_rows(session, ImportRecord) == 0
    assert session.get(ImportBatch, batch_id).status == BatchStatus.FAILED

    # update: the existing organization (matched by credit code) takes the file's values; undo puts them back
    good = [("公司名称", "信用代码", "城市"), ("无锡新名称科技有限公司", CODE_B, "苏州")]
    batch_id = _batch_id(_upload(client, _xlsx(good[:2]), "good.xlsx"))
    _walk_to_confirm(client, batch_id)
    assert post(client, f"/imports/{batch_id}/matching", {"default_action": "update"}).status_code == 303
    follow(client, _commit(client, batch_id))
    session.expire_all()
    assert (session.get(Organization, existing.id).name, session.get(Organization, existing.id).city) == \
        ("无锡新名称科技有限公司", "苏州")
    follow(client, post(client, f"/imports/{batch_id}/undo"))
    session.expire_all()
    assert (session.get(Organization, existing.id).name, session.get(Organization, existing.id).city) == \
        ("无锡旧名称科技有限公司", "无锡")

    # the other officer sees neither the batch nor its steps
    other = factories.make_user(session, username="officer3", role="officer")
    session.commit()
    assert other
    client.cookies.clear()
    login(client, "officer2")
    assert client.get(f"/imports/{batch_id}").status_code == 404


def test_contacts_kind_and_bad_files(client, users, session):
    officer = users["officer"]
    org = factories.make_org(session, actor=officer, name="常州示例电池有限公司")
    session.commit()
    login(client, "officer")
    rows = [("企业名称", "联系人", "手机", "邮箱"), ("常州示例电池有限公司", "孙丽", "13600136000", "sun@example.com"),
            ("不存在的公司", "周杰", "", "")]
    batch_id = _batch_id(_upload(client, _xlsx(rows), "contacts.xlsx", kind="contacts"))
    assert post(client, f"/imports/{batch_id}/map", _mapping_form(client.get(f"/imports/{batch_id}/map").text)
                ).status_code == 303
    assert "不存在的公司" in client.get(f"/imports/{batch_id}/preview").text
    # the contacts on the second sheet of a 客商名录 workbook
    workbook = _xlsx([("企业名称", "城市"), ("常州示例电池有限公司", "常州")], second=rows[:2])
    batch_id = _batch_id(_upload(client, workbook, "客商名录.xlsx", kind="contacts", sheet=2))
    _walk_to_confirm(client, batch_id)
    follow(client, _commit(client, batch_id))
    session.expire_all()
    assert session.scalar(select(Contact)).organization_id == org.id

    bad_files = {
        "empty.xlsx": b"",
        "header.csv": "企业名称,统一社会信用代码\r\n".encode(),
        "twice.csv": "企业名称,城市,企业名称\r\n甲公司,苏州,乙公司\r\n".encode("gb18030"),
        "notes.txt.pdf": b"%PDF-1.4 ...",
        "broken.xlsx": b"PK\x03\x04 not really a zip",
        "locked.xlsx": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 64,
        "big.csv": ("企业名称\r\n" + "".join(f"公司{i}\r\n" for i in range(50_001))).encode(),
    }
    for name, data in bad_files.items():
        response = _upload(client, data, name)
        assert response.status_code in (413, 422), (name, response.status_code)
        assert "form-error" in response.text, name
    assert "打开密码" in _upload(client, bad_files["locked.xlsx"], "locked.xlsx").text
    session.expire_all()
    assert count_rows(session, ImportBatch) == 2  # the two contact files; no bad file made a batch
    assert service.purge_drafts(session) == 0  # the draft is younger than a day
