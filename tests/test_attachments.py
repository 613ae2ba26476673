"""Attachments on visits: upload (htmx and plain forms), storage by content hash with thumbnails, download with the
original (Chinese) name, the size limit and the type check (extension and content), who may see and delete, CSRF,
and the audit entries on the visit."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from crm.attachments import service as attachment_service
from crm.attachments.models import Attachment
from crm.attachments.routes import content_disposition
from crm.audit.models import AuditEntry
from crm.organizations.models import Organization
from tests.conftest import login
from tests.factories import make_visit
from tests.helpers import count_rows

HTMX = {"HX-Request": "true", "HX-Target": "attachments"}
MB = 1024 * 1024


def png_bytes(size=(64, 48), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def pdf_bytes(text: str = "考察纪要") -> bytes:
    return b"%PDF-1.4\n% " + text.encode() + b"\n%%EOF\n"


def docx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def send(client, visit_id: int, filename: str, data: bytes, *, htmx: bool = False, csrf: str | None = "session",
         next_url: str | None = None, content_type: str = "application/octet-stream", entity_type: str = "visit"):
    """Posts the upload form as a browser would: multipart, the token in the form (plain) or header (htmx)."""
    fields = {"entity_type": entity_type, "entity_id": str(visit_id)}
    if next_url is not None:
        fields["next"] = next_url
    headers = dict(HTMX) if htmx else {}
    token = client.csrf if csrf == "session" else csrf
    if token is not None:
        if htmx:
            headers["X-CSRF-Token"] = token
        fields["csrf_token"] = token
    return client.post("/attachments", data=fields, files={"file": (filename, data, content_type)}, headers=headers)


def blobs(data_dir) -> list:
    root = data_dir / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file() and "thumbnails" not in p.parts) if root.exists() else []


def thumbnails(data_dir) -> list:
    root = data_dir / "attachments" / "thumbnails"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def rows(session) -> list[Attachment]:
    session.expire_all()
    found = list(session.scalars(select(Attachment).order_by(Attachment.id)))
    session.commit()
    return found


def visit_audit(session, visit_id: int) -> list[AuditEntry]:
    session.expire_all()
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "visit",
                                                            AuditEntry.entity_id == visit_id).order_by(AuditEntry.id)))
    session.commit()
    return entries


@pytest.fixture
def visit(session, users):
    return make_visit(session, title="比亚迪来访考察", officer=users["officer"])


@pytest.fixture
def data_dir(settings):
    return settings.data_dir


# Uploading and storing

def test_an_uploaded_photo_is_stored_by_hash_with_a_thumbnail(officer_client, session, visit, data_dir, users):
    photo = png_bytes((640, 480))
    response = send(officer_client, visit.id, "现场照片.png", photo, next_url=f"/visits/{visit.id}#attachments")
    assert response.status_code == 303
    assert response.headers["location"] == f"/visits/{visit.id}#attachments"
    assert "crm_flash" in response.headers["set-cookie"]

    [row] = rows(session)
    sha = hashlib.sha256(photo).hexdigest()
    assert (row.entity_type, row.entity_id, row.filename, row.content_type) == ("visit", visit.id, "现场照片.png", "image/png")
    assert (row.size, row.sha256, row.has_thumbnail, row.uploaded_by_id) == (len(photo), sha, True, users["officer"].id)
    assert blobs(data_dir) == [data_dir / "attachments" / sha[:2] / sha[2:]]
    assert (data_dir / "attachments" / sha[:2] / sha[2:]).read_bytes() == photo

    thumb = officer_client.get(f"/attachments/{row.id}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.format == "JPEG" and max(image.size) <= 320 and image.size == (320, 240)


def test_htmx_upload_answers_with_the_list_showing_the_file(officer_client, session, visit):
    response = send(officer_client, visit.id, "考察照片.png", png_bytes(), htmx=True, next_url=f"/visits/{visit.id}")
    assert response.status_code == 200
    html = response.text
    [row] = rows(session)
    assert html.lstrip().startswith('<section class="card attachments" id="attachments">')
    assert f'<img src="/attachments/{row.id}/thumbnail" alt="考察照片.png"' in html
    assert f'href="/attachments/{row.id}"' in html and "1 KB" in html
    assert "张晓明" in html  # who uploaded it
    assert 'hx-encoding="multipart/form-data"' in html and 'enctype="multipart/form-data"' in html
    assert 'accept=".jpg,.jpeg,.png' in html and "20 MB" in html  # the limit and the types, in the help text
    assert "hx-confirm=" in html and f'href="/attachments/{row.id}/delete?next=%2Fvisits%2F{visit.id}"' in html
    assert response.headers["hx-trigger"] == "attachments-changed"


def test_the_same_bytes_uploaded_twice_are_stored_once(officer_client, session, visit, data_dir):
    photo = png_bytes()
    assert send(officer_client, visit.id, "一.png", photo).status_code == 303
    assert send(officer_client, visit.id, "二.png", photo).status_code == 303
    first, second = rows(session)
    assert first.sha256 == second.sha256 and [first.filename, second.filename] == ["一.png", "二.png"]
    assert len(blobs(data_dir)) == 1 and len(thumbnails(data_dir)) == 1


@pytest.mark.parametrize(("filename", "data", "content_type"), [
    ("纪要.pdf", pdf_bytes(), "application/pdf"),
    ("方案.docx", docx_bytes(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("老文件.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, "application/msword"),
    ("名单.csv", "姓名,职务\n祝文魁,总经理\n".encode("gb18030"), "text/csv"),
    ("动图.GIF", b"GIF89a" + b"\x00" * 20, "image/gif"),
])
def test_documents_of_the_allowed_types_are_accepted(officer_client, session, visit, filename, data, content_type):
    assert send(officer_client, visit.id, filename, data).status_code == 303
    [row] = rows(session)
    assert row.content_type == content_type and row.has_thumbnail is False  # the GIF is damaged: no thumbnail


# Refusals

@pytest.mark.parametrize(("filename", "data", "says"), [
    ("setup.exe", b"MZ\x90\x00" + b"\x00" * 100, "“setup.exe”不是允许上传的文件类型。允许的类型：JPG, PNG, GIF, WebP, PDF"),
    ("报告.pdf", b"<!doctype html><script>alert(1)</script>", "“报告.pdf”的内容与扩展名 .pdf 不符"),
    ("照片.jpg", png_bytes(), "“照片.jpg”的内容与扩展名 .jpg 不符"),
    ("表格.xlsx", docx_bytes(), "“表格.xlsx”的内容与扩展名 .xlsx 不符"),
    ("空.png", b"", "“空.png”是空文件。"),
    ("", b"", "请选择要上传的文件。"),
])
def test_a_wrong_or_empty_file_is_refused_with_the_reason(officer_client, session, visit, data_dir, filename, data, says):
    response = send(officer_client, visit.id, filename, data, htmx=True)
    assert response.status_code == 422
    assert says in response.text
    assert 'id="attachment-error" role="alert">' + says in response.text
    assert rows(session) == [] and blobs(data_dir) == []
    assert visit_audit(session, visit.id) == []


def test_a_refused_plain_upload_goes_back_with_the_reason(officer_client, session, visit):
    response = send(officer_client, visit.id, "setup.exe", b"MZ" + b"\x00" * 10, next_url=f"/visits/{visit.id}")
    assert response.status_code == 303 and response.headers["location"] == f"/visits/{visit.id}"
    assert "crm_flash" in response.headers["set-cookie"]
    assert rows(session) == []


def test_a_file_over_the_limit_is_refused_with_the_limit(officer_client, app, session, visit, data_dir):
    app.state.settings.max_upload_mb = 1
    too_big = png_bytes() + b"\x00" * (MB + 1)  # within the request's slack of 1 MB: read, then refused
    response = send(officer_client, visit.id, "大照片.png", too_big, htmx=True)
    assert response.status_code == 422
    assert "“大照片.png”超过 1 MB，超出了允许的上限。" in response.text
    assert "不超过 1 MB" in response.text  # the help text follows the setting
    assert rows(session) == [] and blobs(data_dir) == []


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(officer_client, app, session, visit, data_dir):
    app.state.settings.max_upload_mb = 1
    huge = png_bytes() + b"\x00" * (3 * MB)
    response = send(officer_client, visit.id, "巨大.png", huge, htmx=True)
    assert response.status_code == 413
    assert response.headers["hx-retarget"] == "#attachment-error" and response.headers["hx-reswap"] == "outerHTML"
    assert response.text.strip() == '<p class="field-error" id="attachment-error" role="alert">文件超过 1 MB，超出了允许的上限。</p>'

    plain = send(officer_client, visit.id, "巨大.png", huge)  # the CSRF check would read the form: it refuses first
    assert plain.status_code == 400 and "文件超过 1 MB，超出了允许的上限。" in plain.text
    assert rows(session) == [] and blobs(data_dir) == []


def test_a_decompression_bomb_is_kept_without_a_thumbnail(officer_client, session, visit, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # so a 64×48 image counts as a bomb
    assert send(officer_client, visit.id, "炸弹.png", png_bytes()).status_code == 303
    [row] = rows(session)
    assert row.has_thumbnail is False
    assert officer_client.get(f"/attachments/{row.id}/thumbnail").status_code == 404
    assert officer_client.get(f"/attachments/{row.id}").content == png_bytes()


def test_files_are_refused_on_every_other_form(officer_client, session):
    response = officer_client.post("/organizations", data={"csrf_token": officer_client.csrf, "name": "带文件机构",
                                                           "kind": "investor"},
                                   files={"file": ("x.png", png_bytes(), "image/png")})
    assert response.status_code == 400
    assert count_rows(session, Organization) == 0


def test_a_plain_form_still_passes_the_csrf_check_as_multipart(officer_client, session):
    """A form posted as multipart without a file (what a browser sends for enctype=multipart) is still read."""
    response = officer_client.post("/organizations", data={"csrf_token": officer_client.csrf, "name": "多部分机构",
                                                           "kind": "investor"}, files={"unused": (None, "")})
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert response.status_code == 303, response.text
    assert count_rows(session, Organization) == 1


# Downloading

def test_download_gives_the_original_bytes_and_name(officer_client, session, visit):
    document = pdf_bytes()
    send(officer_client, visit.id, "考察报告 2026.pdf", document)
    [row] = rows(session)
    response = officer_client.get(f"/attachments/{row.id}")
    assert response.status_code == 200 and response.content == document
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert "filename*=UTF-8''" + quote("考察报告 2026.pdf", safe="") in disposition
    assert disposition == "attachment; filename=\"____ 2026.pdf\"; filename*=UTF-8''%E8%80%83%E5%AF%9F%E6%8A%A5%E5%91%8A%202026.pdf"


def test_a_cached_copy_is_revalidated(officer_client, session, visit):
    send(officer_client, visit.id, "合影.png", png_bytes())
    [row] = rows(session)
    etags = []
    for url in (f"/attachments/{row.id}", f"/attachments/{row.id}/thumbnail"):
        first = officer_client.get(url)
        assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
        again = officer_client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        etags.append(first.headers["etag"])
    assert etags[0] != etags[1]


def test_images_open_in_the_browser(officer_client, session, visit):
    send(officer_client, visit.id, "合影.png", png_bytes())
    [row] = rows(session)
    response = officer_client.get(f"/attachments/{row.id}")
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("inline; ")


def test_content_disposition_never_breaks_the_header():
    assert content_disposition("attachment", 'a"b\\c%.txt') == (
        "attachment; filename=\"a_b_c_.txt\"; filename*=UTF-8''a%22b%5Cc%25.txt")


def test_the_name_is_cleaned_of_folders_and_control_characters():
    assert attachment_service.clean_filename("C:\\Users\\张\\照片.jpg") == "照片.jpg"
    assert attachment_service.clean_filename("../../etc/passwd") == "passwd"
    assert attachment_service.clean_filename("a\r\nb.pdf") == "ab.pdf"
    long_name = "长" * 300 + ".pdf"
    assert len(attachment_service.clean_filename(long_name)) == 200
    assert attachment_service.clean_filename(long_name).endswith("长.pdf")


def test_signed_out_users_are_sent_to_sign_in(officer_client, other_client, session, visit):
    send(officer_client, visit.id, "合影.png", png_bytes())
    [row] = rows(session)
    for url in (f"/attachments/{row.id}", f"/attachments/{row.id}/thumbnail", f"/attachments/{row.id}/delete"):
        response = other_client.get(url)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), url


def test_unknown_attachments_and_records_are_404(officer_client, session, visit):
    assert officer_client.get("/attachments/999999").status_code == 404
    assert officer_client.get("/attachments/abc").status_code == 404
    assert send(officer_client, 999999, "x.png", png_bytes()).status_code == 404
    assert send(officer_client, visit.id, "x.png", png_bytes(), entity_type="organization").status_code == 404
    assert rows(session) == []


def test_a_missing_file_on_disk_is_404_not_500(officer_client, session, visit, data_dir):
    send(officer_client, visit.id, "纪要.pdf", pdf_bytes())
    [row] = rows(session)
    for path in blobs(data_dir):
        path.unlink()
    assert officer_client.get(f"/attachments/{row.id}").status_code == 404


# Who may do what

def test_colleagues_see_the_files_but_only_those_allowed_change_them(officer_client, other_client, app, session, visit):
    send(officer_client, visit.id, "合影.png", png_bytes())
    [row] = rows(session)
    login(other_client, "officer2")  # neither the visit's officer, nor its author, nor a manager
    assert other_client.get(f"/attachments/{row.id}").status_code == 200
    assert other_client.get(f"/attachments/{row.id}/delete").status_code == 403
    response = other_client.post(f"/attachments/{row.id}/delete", data={"csrf_token": other_client.csrf})
    assert response.status_code == 403
    assert send(other_client, visit.id, "他人.png", png_bytes((10, 10))).status_code == 403
    assert [r.id for r in rows(session)] == [row.id]

    with TestClient(app, follow_redirects=False) as manager_client:
        login(manager_client, "manager")
        assert manager_client.get(f"/attachments/{row.id}/delete").status_code == 200
        response = manager_client.post(f"/attachments/{row.id}/delete", data={"csrf_token": manager_client.csrf})
    assert response.status_code == 303 and response.headers["location"] == f"/visits/{visit.id}"
    assert rows(session) == []


def test_the_state_changes_need_a_csrf_token(officer_client, session, visit):
    assert send(officer_client, visit.id, "合影.png", png_bytes(), csrf=None).status_code == 403
    assert send(officer_client, visit.id, "合影.png", png_bytes(), csrf="forged").status_code == 403
    assert rows(session) == []
    send(officer_client, visit.id, "合影.png", png_bytes())
    [row] = rows(session)
    assert officer_client.post(f"/attachments/{row.id}/delete").status_code == 403
    assert len(rows(session)) == 1


# Deleting

def test_deleting_keeps_shared_bytes_and_removes_the_last_copy(officer_client, session, visit, data_dir):
    photo = png_bytes()
    send(officer_client, visit.id, "一.png", photo)
    send(officer_client, visit.id, "二.png", photo)
    first, second = rows(session)

    page = officer_client.get(f"/attachments/{first.id}/delete?next=/visits/{visit.id}")
    assert page.status_code == 200 and "删除“一.png”？" in page.text
    response = officer_client.post(f"/attachments/{first.id}/delete",
                                   data={"csrf_token": officer_client.csrf, "next": f"/visits/{visit.id}"})
    assert response.status_code == 303
    assert [r.id for r in rows(session)] == [second.id]
    assert len(blobs(data_dir)) == 1 and len(thumbnails(data_dir)) == 1  # still used by 二.png

    response = officer_client.post(f"/attachments/{second.id}/delete", data={"next": f"/visits/{visit.id}"},
                                   headers={**HTMX, "X-CSRF-Token": officer_client.csrf})
    assert response.status_code == 200
    assert "还没有照片或文件。" in response.text and "二.png" not in response.text
    assert rows(session) == [] and blobs(data_dir) == [] and thumbnails(data_dir) == []


def test_additions_and_removals_are_audited_on_the_visit(officer_client, session, visit, users):
    send(officer_client, visit.id, "签约合影.png", png_bytes())
    [row] = rows(session)
    officer_client.post(f"/attachments/{row.id}/delete", data={"csrf_token": officer_client.csrf})
    added, removed = visit_audit(session, visit.id)
    assert (added.action, added.changes, added.actor_id) == ("update", {"attachments": [None, "签约合影.png"]},
                                                             users["officer"].id)
    assert (removed.action, removed.changes) == ("update", {"attachments": ["签约合影.png", None]})
    assert added.entity_label == "比亚迪来访考察"


def test_a_visit_attendee_may_add_files(other_client, session, visit, users):
    from crm.visits.models import VisitHost

    session.add(VisitHost(visit_id=visit.id, user_id=users["officer2"].id))
    session.commit()
    login(other_client, "officer2")
    assert send(other_client, visit.id, "陪同照片.png", png_bytes()).status_code == 303
    assert [r.filename for r in rows(session)] == ["陪同照片.png"]


def test_a_deleted_record_takes_its_files_along(session, visit, data_dir, users):
    """What a record type that can be deleted does: remove_all_for in its transaction, discard after the commit."""
    other = make_visit(session, title="另一次考察", officer=users["officer"])
    shared, own = png_bytes(), pdf_bytes()
    for visit_id, name, data in ((visit.id, "合影.png", shared), (visit.id, "纪要.pdf", own), (other.id, "合影.png", shared)):
        attachment_service.add(session, entity_type="visit", entity_id=visit_id, filename=name, data=data,
                               actor=users["officer"], data_dir=data_dir, max_bytes=MB)
    session.commit()
    assert len(blobs(data_dir)) == 2

    hashes = attachment_service.remove_all_for(session, entity_type="visit", entity_id=visit.id)
    session.commit()
    attachment_service.discard_unused_blobs(session, hashes=hashes, data_dir=data_dir)
    assert [(r.entity_id, r.filename) for r in rows(session)] == [(other.id, "合影.png")]
    sha = hashlib.sha256(shared).hexdigest()
    assert blobs(data_dir) == [data_dir / "attachments" / sha[:2] / sha[2:]]  # still used by the other visit


def test_an_upload_sent_twice_with_its_one_time_key_attaches_the_file_once(officer_client, session, visit):
    """A double click or a retry after a time-out: the form's one-time key makes the second send a replay."""
    page = officer_client.get(f"/visits/{visit.id}").text
    key = re.search(r'name="submission_key" value="([^"]+)"', page.split('action="/attachments"')[1]).group(1)
    fields = {"entity_type": "visit", "entity_id": str(visit.id), "csrf_token": officer_client.csrf,
              "next": f"/visits/{visit.id}#attachments", "submission_key": key}
    for _ in range(2):
        response = officer_client.post("/attachments", data=fields,
                                       files={"file": ("签约仪式.png", png_bytes(), "image/png")})
        assert response.status_code == 303
        assert response.headers["location"] == f"/visits/{visit.id}#attachments"
    assert [row.filename for row in rows(session)] == ["签约仪式.png"]
