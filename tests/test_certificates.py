"""P11 certificates (年度结业证书 / 继续教育学时登记表) and X6 / H6 verification.

The PDFs are read back as a person or a verifier would: the text pypdf extracts, the fonts the file embeds.
One PDF of each kind is also written to test-artifacts/certificates/ (with a PNG of page 1 when poppler's
pdftoppm is installed) for a human to look at.
"""
from __future__ import annotations

import base64
import io
import itertools
import pathlib
import re
import shutil
import subprocess
from decimal import Decimal

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select

from app import clock
from app.extensions import db as _db
from app.models import AnnualStandard, AuditLog, Certificate, LearningForm, Person, RoleName, Subject
from app.workflows import certificates as certs
from app.workflows.base import DomainError, PermissionDenied
from app.workflows.declaration import credit
from tests import factories
from tests.helpers import CAPTCHA, csrf_from, page, zh

YEAR = clock.today().year - 1
ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "test-artifacts" / "certificates"
_source = itertools.count(1)

FORMS = {  # code: (name, group)
    "t-training": ("培训进修", "training"),
    "t-project": ("课题项目", "achievement"),
    "t-paper": ("论文", "paper"),
    "t-exam": ("职业资格考试", "exam"),
}


# ------------------------------------------------------------------ data

def _form(code: str) -> LearningForm:
    form = _db.session.scalar(select(LearningForm).where(LearningForm.code == code))
    if form is None:
        name, group = FORMS[code]
        form = LearningForm(code=code, name=name, group=group, fields_json="[]", max_hours=Decimal(90))
        _db.session.add(form)
        _db.session.flush()
    return form


def _standard(year: int = YEAR) -> None:
    """The pass mark of the year for every region: 30 public, 60 professional, 90 in all."""
    _db.session.execute(AnnualStandard.__table__.delete().where(AnnualStandard.year == year))
    _db.session.add(AnnualStandard(year=year, region_id=None, public_min=Decimal(30), professional_min=Decimal(60),
                                   total_min=Decimal(90)))
    _db.session.commit()


def _professional(world, name: str = "王晓明", **profile) -> tuple[Person, object]:
    account = factories.make_account(name, [(RoleName.PROFESSIONAL, world.unit)], person_unit=world.unit)
    person = _db.session.scalar(select(Person).where(Person.user_id == account.id))
    for key, value in profile.items():
        setattr(person, key, value)
    _db.session.commit()
    return person, account


def _credit(person: Person, subject: Subject, hours: str, form_code: str, title: str, year: int = YEAR) -> None:
    credit(person.id, year, subject, Decimal(hours), form_id=_form(form_code).id, title=title,
           source="declaration", source_id=next(_source))
    _db.session.commit()


def _passed_year(person: Person) -> None:
    """32.5 public + 72 professional = 104.5 hours: passes the 30 / 60 / 90 standard."""
    _standard()
    _credit(person, Subject.PUBLIC, "20", "t-training", "专业技术人员职业道德与诚信建设")
    _credit(person, Subject.PUBLIC, "12.5", "t-training", "数字经济与创新驱动发展")
    _credit(person, Subject.PROFESSIONAL, "40", "t-project", "基层医疗卫生服务能力提升研究")
    _credit(person, Subject.PROFESSIONAL, "20", "t-paper", "慢性病管理中的护理干预")
    _credit(person, Subject.PROFESSIONAL, "12", "t-exam", "计算机应用能力考试")


def _failed_year(person: Person) -> None:
    """30 public + 20 professional = 50 hours: below the standard."""
    _standard()
    _credit(person, Subject.PUBLIC, "30", "t-training", "公需科目网络培训")
    _credit(person, Subject.PROFESSIONAL, "20", "t-paper", "临床护理论文")


def _own(account) -> factories.Actor:
    return factories.actor_for(account, RoleName.PROFESSIONAL)


# ------------------------------------------------------------------ reading a PDF

def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(p.extract_text() or "" for p in reader.pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _fonts(pdf: bytes) -> list[dict]:
    """Every font of every page: its name, subtype and whether the font program is inside the file."""
    found = []
    for pdf_page in PdfReader(io.BytesIO(pdf)).pages:
        fonts = pdf_page.get("/Resources", {}).get_object().get("/Font", {})
        for ref in fonts.get_object().values():
            font = ref.get_object()
            descriptors = [font.get("/FontDescriptor")]
            for child in font.get("/DescendantFonts", []) or []:
                descriptors.append(child.get_object().get("/FontDescriptor"))
            embedded = any(d is not None and any(k in d.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3"))
                           for d in descriptors)
            found.append({"name": str(font.get("/BaseFont")), "subtype": str(font.get("/Subtype")),
                          "embedded": embedded})
    return found


def _save(name: str, pdf: bytes) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.pdf").write_bytes(pdf)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile",
                        str(ARTIFACTS / f"{name}.pdf"), str(ARTIFACTS / name)], check=True, timeout=30)


# ------------------------------------------------------------------ the PDFs

def test_completion_certificate_pdf_holds_the_name_and_hours_in_an_embedded_chinese_font(world):
    person, account = _professional(world)
    _passed_year(person)

    cert = certs.issue(person, YEAR, certs.COMPLETION, _own(account))
    pdf = certs.render_pdf(cert)
    _save("completion", pdf)

    assert pdf.startswith(b"%PDF")
    text = _flat(_text(pdf))
    assert "专业技术人员继续教育结业证书" in text
    assert "测试市专业技术人员继续教育结业证书" in text  # titled after the city bureau above the unit
    assert "王晓明" in text
    assert "公需科目32.5学时" in text and "专业科目72学时" in text and "共计104.5学时" in text
    for title in ("专业技术人员职业道德与诚信建设", "基层医疗卫生服务能力提升研究", "计算机应用能力考试"):
        assert title in text
    assert "发证机关：甲区人社局" in text  # the nearest HR bureau above the unit
    assert cert.number in text and cert.verify_code in text
    # the ID number is masked: never the full number anywhere in the document
    assert person.id_number not in text and person.id_number.encode() not in pdf
    assert f"{person.id_number[:6]}********{person.id_number[-4:]}" in text

    fonts = _fonts(pdf)
    cjk = [f for f in fonts if f["subtype"] == "/TrueType" or "WenQuanYi" in f["name"]]
    assert cjk and all(f["embedded"] for f in cjk), fonts
    # nothing is drawn in a font that is not in the file, apart from PDF's standard 14
    base14 = {"/Helvetica", "/Times-Roman", "/Courier", "/Symbol", "/ZapfDingbats"}
    assert all(f["embedded"] or f["name"].split("-")[0] in {b.split("-")[0] for b in base14} for f in fonts), fonts


def test_the_qr_code_is_in_the_pdf_and_the_link_is_the_public_verification_page(world):
    person, account = _professional(world)
    _passed_year(person)
    cert = certs.issue(person, YEAR, certs.COMPLETION, _own(account))
    pdf = certs.render_pdf(cert)

    images = [img for p in PdfReader(io.BytesIO(pdf)).pages for img in p.images]
    assert len(images) == 1
    url = f"http://localhost/verify/?number={cert.number}&code={cert.verify_code}"
    assert certs.verify_url(cert) == url
    # the picture in the PDF is the QR code of exactly that link (same modules as a fresh encoding of it)
    expected = Image.open(io.BytesIO(base64.b64decode(certs._qr_data_uri(url).split(",", 1)[1]))).convert("L")
    printed = images[0].image.convert("L")
    assert printed.size == expected.size and list(printed.getdata()) == list(expected.getdata())
    other = Image.open(io.BytesIO(base64.b64decode(certs._qr_data_uri(url + "X").split(",", 1)[1]))).convert("L")
    assert list(other.getdata()) != list(printed.getdata())


def test_register_form_lists_hours_per_learning_form_grouped_by_type(world):
    person, account = _professional(world, "李华", title_name="主治医师")
    _failed_year(person)
    _credit(person, Subject.PROFESSIONAL, "8", "t-training", "院内业务培训")

    cert = certs.issue(person, YEAR, certs.REGISTER, _own(account))
    pdf = certs.render_pdf(cert)
    _save("register", pdf)

    text = _flat(_text(pdf))
    assert f"测试市{YEAR}年度专业技术人员继续教育学时登记表" in text
    assert "李华" in text and "主治医师" in text
    assert "总学时58学时" in text and "公需科目30学时" in text and "专业科目28学时" in text
    # one row per learning form: the two training records add up, the paper stays apart, in catalogue order
    assert "培训类培训进修38" in text
    assert "论文著作类论文20" in text
    assert text.index("培训类") < text.index("论文著作类")
    assert person.id_number not in text and person.id_number.encode() not in pdf


def test_a_failed_year_gets_no_completion_certificate_but_the_register_form(world):
    person, account = _professional(world)
    _failed_year(person)

    with pytest.raises(DomainError) as exc:
        certs.issue(person, YEAR, certs.COMPLETION, _own(account))
    assert str(exc.value.message) == zh("A certificate is only issued for a year whose result is passed.")
    assert _db.session.scalar(select(func.count()).select_from(Certificate)) == 0

    register = certs.issue(person, YEAR, certs.REGISTER, _own(account))
    assert register.passed is False
    assert "50" in _flat(_text(certs.render_pdf(register)))


def test_a_year_without_a_standard_or_without_hours_is_refused(world):
    person, account = _professional(world)
    with pytest.raises(DomainError):  # nothing credited: no register either
        certs.issue(person, YEAR, certs.REGISTER, _own(account))
    _credit(person, Subject.PUBLIC, "40", "t-training", "公需科目", year=YEAR - 40)
    with pytest.raises(DomainError):  # out of the years the platform knows
        certs.issue(person, YEAR - 40, certs.REGISTER, _own(account))
    with pytest.raises(DomainError):
        certs.issue(person, clock.today().year + 1, certs.REGISTER, _own(account))
    with pytest.raises(DomainError):
        certs.issue(person, YEAR, "diploma", _own(account))
    assert _db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_reprinting_keeps_the_number_and_takes_the_new_hours(world):
    person, account = _professional(world)
    _passed_year(person)
    first = certs.issue(person, YEAR, certs.COMPLETION, _own(account))
    number, code = first.number, first.verify_code
    assert re.fullmatch(rf"JX{YEAR}\d{{10}}", number)
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{8}", code)

    _credit(person, Subject.PROFESSIONAL, "6", "t-exam", "补充考试")
    again = certs.issue(person, YEAR, certs.COMPLETION, _own(account))
    assert (again.id, again.number, again.verify_code) == (first.id, number, code)
    assert again.professional_hours == Decimal("78")
    assert _db.session.scalar(select(func.count()).select_from(Certificate)) == 1
    rows = _db.session.scalars(select(AuditLog).where(AuditLog.action == "certificate.issue")).all()
    assert len(rows) == 2 and all(r.object_id == first.id and r.actor_id == account.id for r in rows)
    assert all(person.id_number not in (r.comment or "") for r in rows)

    other_kind = certs.issue(person, YEAR, certs.REGISTER, _own(account))
    assert other_kind.id != first.id and other_kind.number != number


def test_only_the_person_and_admins_in_scope_may_print(world):
    person, account = _professional(world)
    _passed_year(person)
    stranger, _ = _professional(world, "赵六")
    denied = [
        _own(stranger.user),
        factories.actor_for(world.other_unit_admin, RoleName.UNIT_ADMIN, world.other_unit),
        factories.actor_for(world.other_district_admin, RoleName.HR_ADMIN, world.other_district),
        factories.actor_for(world.auditor, RoleName.AUDITOR),
        factories.Actor(None, "", ip="127.0.0.1"),
    ]
    for actor in denied:
        with pytest.raises(PermissionDenied):
            certs.issue(person, YEAR, certs.COMPLETION, actor)
    assert _db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    allowed = [factories.actor_for(world.unit_admin, RoleName.UNIT_ADMIN, world.unit),
               factories.actor_for(world.city_admin, RoleName.HR_ADMIN, world.city),
               factories.actor_for(world.support, RoleName.SUPPORT)]
    for actor in allowed:
        assert certs.issue(person, YEAR, certs.COMPLETION, actor).person_id == person.id


def test_a_title_with_markup_in_the_completion_table_is_escaped(world):
    person, account = _professional(world)
    _passed_year(person)
    _credit(person, Subject.PUBLIC, "1", "t-training", '<img src="file:///etc/hostname"><b>课程</b>&amp;')
    pdf = certs.render_pdf(certs.issue(person, YEAR, certs.COMPLETION, _own(account)))
    assert '<imgsrc="file:///etc/hostname"><b>课程</b>&amp;' in _flat(_text(pdf))
    assert not [img for p in PdfReader(io.BytesIO(pdf)).pages for img in p.images][1:]  # only the QR code


# ------------------------------------------------------------------ verification (workflow)

def test_verification_by_number_and_code(world):
    person, account = _professional(world)
    _passed_year(person)
    cert = certs.issue(person, YEAR, certs.COMPLETION, _own(account))

    assert certs.verify(cert.number, cert.verify_code).id == cert.id
    assert certs.verify(f" {cert.number.lower()} ", cert.verify_code.lower()).id == cert.id
    wrong = ("A" if cert.verify_code[0] != "A" else "B") + cert.verify_code[1:]
    assert certs.verify(cert.number, wrong) is None
    assert certs.verify(cert.number, "") is None
    assert certs.verify("JX" + "9" * 14, cert.verify_code) is None
    assert certs.verify(cert.number + "' OR '1'='1", cert.verify_code) is None


def test_lookup_by_id_number_and_name_needs_both(world):
    person, account = _professional(world, "孙丽")
    _passed_year(person)
    completion = certs.issue(person, YEAR, certs.COMPLETION, _own(account))
    register = certs.issue(person, YEAR, certs.REGISTER, _own(account))
    other, _ = _professional(world, "孙丽")  # same name, another person

    found = certs.lookup(person.id_number, "孙丽")
    assert {c.id for c in found} == {completion.id, register.id}
    assert {c.id for c in certs.lookup(" " + person.id_number.lower() + " ", " 孙 丽")} == {completion.id, register.id}
    assert certs.lookup(person.id_number, "孙莉") == []
    assert certs.lookup(person.id_number, "孙") == [] and certs.lookup(person.id_number, "孙丽丽") == []
    assert certs.lookup(person.id_number, "%") == [] and certs.lookup(person.id_number[:-1] + "%", "孙丽") == []
    assert certs.lookup(other.id_number, "孙丽") == []
    assert certs.lookup(person.id_number, "") == []
    assert certs.lookup("", "孙丽") == []

    foreigner, f_account = _professional(world, "Maria Garcia")
    _passed_year(foreigner)
    f_cert = certs.issue(foreigner, YEAR, certs.REGISTER, _own(f_account))
    assert [c.id for c in certs.lookup(foreigner.id_number, "maria  garcia")] == [f_cert.id]


# ------------------------------------------------------------------ the public page (X6, H6)

def _issued(world, name="周明"):
    person, account = _professional(world, name)
    _passed_year(person)
    return person, certs.issue(person, YEAR, certs.COMPLETION, _own(account))


def test_the_qr_link_shows_the_holder_hours_and_result(client, world):
    person, cert = _issued(world)
    response = client.get(f"/verify/?number={cert.number}&code={cert.verify_code}")
    assert response.status_code == 200
    body = page(response)
    assert zh("This certificate is genuine.") in body
    assert "周明" in body and str(YEAR) in body
    assert "32.5" in body and "72" in body and "104.5" in body
    assert zh("Passed") in body
    assert person.id_number not in body
    assert f"{person.id_number[:6]}********{person.id_number[-4:]}" in body


def test_a_wrong_code_is_not_found_and_shows_nothing_of_the_holder(client, world):
    person, cert = _issued(world)
    wrong = ("A" if cert.verify_code[0] != "A" else "B") + cert.verify_code[1:]
    body = page(client.get(f"/verify/?number={cert.number}&code={wrong}"))
    assert zh("No certificate matches this number and verification code.") in body
    assert "周明" not in body and "104.5" not in body
    assert client.get("/verify/").status_code == 200
    assert client.get("/verify/?number=x&code=" + "y" * 500).status_code == 200


def test_lookup_by_id_number_and_name_on_the_page(client, world):
    person, cert = _issued(world)
    url = "/verify/lookup"

    def post(id_number, name, captcha=CAPTCHA):
        token = csrf_from(page(client.get("/verify/")))
        client.get("/captcha.png")
        return client.post(url, data={"csrf_token": token, "id_number": id_number, "name": name,
                                      "captcha": captcha})

    response = post(person.id_number, "周明")
    assert response.status_code == 200
    body = page(response)
    assert cert.number in body and "104.5" in body
    assert person.id_number not in body  # neither in the result nor echoed into the form
    assert cert.verify_code not in body  # the lookup does not hand out the code
    assert person.id_number not in response.request.url

    body = page(post(person.id_number, "周敏"))
    assert zh("No certificate was found for this ID number and name.") in body and cert.number not in body

    body = page(post(person.id_number, "周明", captcha="0000"))
    assert cert.number not in body

    audit = _db.session.scalars(select(AuditLog).where(AuditLog.action == "certificate.lookup")
                                .order_by(AuditLog.id)).all()
    assert [a.result for a in audit] == ["ok", "not_found"]
    assert all(person.id_number not in (a.comment or "") for a in audit)


def test_lookup_without_csrf_token_is_refused(client, world):
    person, cert = _issued(world)
    client.get("/captcha.png")
    response = client.post("/verify/lookup", data={"id_number": person.id_number, "name": "周明",
                                                   "captcha": CAPTCHA})
    assert response.status_code == 400
    assert cert.number not in page(response)
