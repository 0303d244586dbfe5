"""T8: uploads are checked by parsing, not by their first bytes. An image must decode as a PNG or JPEG within a pixel
limit, a PDF must parse; a PNG or PDF header with HTML behind it, a truncated image, an SVG and a "decompression
bomb" are refused with a Chinese message and nothing is stored, through the workflow and through the real upload
pages. Every file download is private: no-store, nosniff, attachment."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Attachment, ChangeAttachment, Declaration, RoleName, TitleChange
from app.workflows import attachments as files_flow
from app.workflows.base import DomainError
from tests import factories
from tests.helpers import cheap_passwords, csrf_from, declaration_data, log_in, make_person, page, uploaded_files, zh

R = RoleName


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int, height: int) -> bytes:
    """A well-formed PNG of a few hundred bytes that declares width x height pixels (a decompression bomb)."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + _chunk(b"IEND", b"")


def _pdf_with_script() -> bytes:
    pdf = factories.sample_pdf()
    return pdf.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>", 1)


DAMAGED = "%(name)s cannot be opened: the file is damaged or is not really a PNG, JPEG or PDF file."
MARKUP = "%(name)s contains web page code and is refused."
NOT_A_KIND = "%(name)s is not a PNG, JPEG or PDF file."
TOO_MANY_PIXELS = "%(name)s has too many pixels (at most %(n)s million)."

# name, content, the message a person reads
REFUSED = {
    "PNG header, then HTML": ("证书.png", b"\x89PNG\r\n\x1a\n<html><body><script>alert(1)</script></body></html>",
                              MARKUP),
    "PNG header, then a page without tags we look for": ("证书.png", b"\x89PNG\r\n\x1a\n<p>hello</p>", DAMAGED),
    "PDF header, then <script>": ("证明.pdf", b"%PDF-1.7\n<script>alert(document.cookie)</script>\n%%EOF\n", MARKUP),
    "PDF header only": ("证明.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", DAMAGED),
    "JPEG header, then HTML": ("照片.jpg", b"\xff\xd8\xff\xe0<!DOCTYPE html><title>x</title>", MARKUP),
    "a real PNG with HTML appended": ("证书.png", factories.PNG + b"<html><script>alert(1)</script></html>", MARKUP),
    "a real PNG with bytes appended": ("证书.png", factories.PNG + b"trailing", DAMAGED),
    "a real PDF with a script action": ("证明.pdf", _pdf_with_script(), DAMAGED),
    "truncated PNG": ("证书.png", factories.sample_image("PNG", (64, 64))[:-30], DAMAGED),
    "truncated JPEG": ("照片.jpg", factories.sample_image("JPEG", (64, 64))[:-60], DAMAGED),
    "truncated PDF": ("证明.pdf", factories.PDF[: len(factories.PDF) // 2], DAMAGED),
    "PNG with a broken checksum": ("证书.png", factories.PNG[:40] + bytes([factories.PNG[40] ^ 0xFF]) +
                                   factories.PNG[41:], DAMAGED),
    "SVG": ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', NOT_A_KIND),
    "SVG named .png": ("logo.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', NOT_A_KIND),
    "GIF (not allowed)": ("动图.png", factories.sample_image("GIF"), NOT_A_KIND),
    "100,000 x 100,000 PNG in a few bytes": ("炸弹.png", huge_png(100_000, 100_000), TOO_MANY_PIXELS),
    "just over the pixel limit": ("大图.png", huge_png(10_000, 5_001), TOO_MANY_PIXELS),
}
ACCEPTED = {
    "PNG": ("证书.png", factories.PNG, "png", "image/png"),
    "JPEG": ("照片.jpg", factories.JPEG, "jpg", "image/jpeg"),
    "PDF": ("证明.pdf", factories.PDF, "pdf", "application/pdf"),
    "PDF of three pages": ("多页.pdf", factories.sample_pdf(3), "pdf", "application/pdf"),
    "JPEG of a phone camera's size": ("照片.jpg", factories.sample_image("JPEG", (4000, 3000)), "jpg", "image/jpeg"),
    "PNG named .pdf (the content decides)": ("扫描.pdf", factories.PNG, "png", "image/png"),
}


def _message(msgid: str, name: str) -> str:
    return zh(msgid, name=name, n=files_flow.MAX_PIXELS // 1_000_000)


# ------------------------------------------------------------------ the workflow function

@pytest.mark.parametrize("case", sorted(REFUSED))
def test_check_files_refuses(app, case):
    name, content, msgid = REFUSED[case]
    with app.test_request_context(headers={"Accept-Language": "zh"}):
        with pytest.raises(DomainError) as refused:
            files_flow.check_files([("ok.png", factories.PNG), (name, content)])
        assert str(refused.value) == _message(msgid, name)
        assert refused.value.field == "attachments"


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_check_files_accepts_real_files(app, case):
    name, content, ext, content_type = ACCEPTED[case]
    with app.test_request_context():
        assert files_flow.check_files([(name, content)]) == [(name, content, ext, content_type)]


def test_a_bomb_is_refused_quickly(app):
    import time

    with app.test_request_context():
        started = time.monotonic()
        with pytest.raises(DomainError):
            files_flow.check_files([("炸弹.png", huge_png(60_000, 60_000))])
        assert time.monotonic() - started < 1


@pytest.mark.parametrize("case", ["PNG header, then HTML", "PDF header, then <script>", "truncated JPEG"])
def test_store_attachments_writes_nothing_when_one_file_is_refused(app, world, case):
    person = make_person("上传测试人", world.unit)
    from tests.helpers import make_declaration

    item = make_declaration(world, person, "draft")
    files_before, rows_before = uploaded_files(), db.session.scalar(select(func.count(Attachment.id)))
    with app.test_request_context():
        with pytest.raises(DomainError):
            files_flow.store_attachments(item, [("ok.png", factories.PNG), REFUSED[case][:2]])
    db.session.rollback()
    assert uploaded_files() == files_before
    assert db.session.scalar(select(func.count(Attachment.id))) == rows_before


# ------------------------------------------------------------------ the real upload pages

@pytest.fixture()
def uploader(client, world):
    cheap_passwords()
    person = make_person("上传测试人", world.unit)
    log_in(client, person.username, R.PROFESSIONAL.value)
    return person


def _post(client, url: str, data: dict, attached: list[tuple[str, bytes]]):
    token = csrf_from(client.get(url).get_data(as_text=True))
    payload = {"csrf_token": token, **data, "attachments": [(io.BytesIO(c), n) for n, c in attached]}
    return client.post(url, data=payload, content_type="multipart/form-data")


def _counts():
    db.session.expire_all()
    return (db.session.scalar(select(func.count(Declaration.id))), db.session.scalar(select(func.count(Attachment.id))),
            db.session.scalar(select(func.count(TitleChange.id))),
            db.session.scalar(select(func.count(ChangeAttachment.id))), uploaded_files())


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_declaration_page_refuses_and_stores_nothing(client, uploader, case):
    name, content, msgid = REFUSED[case]
    before = _counts()
    response = _post(client, "/hours/declare", declaration_data(action="submit"), [(name, content)])
    assert response.status_code == 200  # the form again, with the message at the field
    assert _message(msgid, name) in page(response)
    assert _counts() == before


TITLE_FORM = {"title_series": "卫生技术", "title_level": "副高级", "title_name": "副主任医师",
              "title_date": "2025-06-01", "title_cert_no": "ZC-2025-0042"}


@pytest.mark.parametrize("case", ["PNG header, then HTML", "PDF header, then <script>", "SVG",
                                  "100,000 x 100,000 PNG in a few bytes", "truncated PDF"])
def test_title_change_page_refuses_and_stores_nothing(client, uploader, case):
    name, content, msgid = REFUSED[case]
    before = _counts()
    response = _post(client, "/profile/title", TITLE_FORM, [("聘书.pdf", factories.PDF), (name, content)])
    assert response.status_code == 200
    assert _message(msgid, name) in page(response)
    assert _counts() == before


def test_real_files_are_stored_and_served_privately(client, uploader):
    attached = [("证书.png", factories.PNG), ("照片.jpg", factories.JPEG), ("证明.pdf", factories.PDF)]
    response = _post(client, "/hours/declare", declaration_data(action="submit"), attached)
    assert response.status_code == 302, page(response)[:3000]
    rows = list(db.session.scalars(select(Attachment).order_by(Attachment.id)))
    assert [(r.filename, r.content_type) for r in rows] == [
        ("证书.png", "image/png"), ("照片.jpg", "image/jpeg"), ("证明.pdf", "application/pdf")]
    for row, (_, content) in zip(rows, attached):
        download = client.get(f"/attachments/{row.id}")
        assert download.status_code == 200 and download.data == content
        assert download.headers["Cache-Control"] == "private, no-store"
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Disposition"].startswith("attachment;")


def test_title_change_evidence_is_served_privately(client, uploader):
    response = _post(client, "/profile/title", TITLE_FORM, [("聘书.pdf", factories.PDF)])
    assert response.status_code == 302, page(response)[:3000]
    row = db.session.scalar(select(ChangeAttachment))
    download = client.get(f"/change-files/{row.id}")
    assert download.status_code == 200 and download.data == factories.PDF
    assert download.headers["Cache-Control"] == "private, no-store"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_every_file_response_is_private_whatever_the_view_set(app):
    """The rule lives in one after_request hook: a view that forgets it (inline, a cacheable default) is corrected."""
    from flask import send_file

    def served(data: bytes, mimetype: str):
        with app.test_request_context("/hours/declare"):  # any endpoint of the app (static files keep caching)
            response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=False, download_name="x",
                                 max_age=3600)
            return app.process_response(response)

    pdf = served(factories.PDF, "application/pdf")
    assert pdf.headers["Cache-Control"] == "private, no-store"
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    assert pdf.headers["Content-Disposition"].startswith("attachment")  # a PDF is never opened in the page
    png = served(factories.PNG, "image/png")
    assert png.headers["Cache-Control"] == "private, no-store"
    assert png.headers["Content-Disposition"].startswith("inline")  # a decoded image may sit in an <img>
    html = served(b"<html></html>", "text/html")
    assert html.headers["Content-Disposition"].startswith("attachment")
