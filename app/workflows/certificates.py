"""P11 printing and X6 / H6 verification: the 年度结业证书 (only for a passed year) and the 继续教育学时登记表,
each with a number, a verification code and a QR code that resolves on the public verification page.

The PDFs are official documents in a fixed Chinese wording (the seeds' layouts), so their text is written in
Chinese in app/templates/pdf/ and never depends on the UI language. Chinese is drawn in a TrueType font from the
Debian packages (fonts-wqy-zenhei), registered once per process with ReportLab and embedded (subset) in every PDF.
"""
from __future__ import annotations

import base64
import datetime
import functools
import hmac
import io
import os
import re
import secrets
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import clock
from ..extensions import db
from ..models import Certificate, HourRecord, Org, OrgKind, Person, RoleName, Subject
from ..validators import mask_id_number, normalize_id_number
from .annual import records, year_result
from .base import Actor, DomainError, PermissionDenied, audit

COMPLETION = "completion"
REGISTER = "register"
KINDS = (COMPLETION, REGISTER)
KIND_LABELS = {COMPLETION: _l("Annual completion certificate"), REGISTER: _l("Continuing education hours register")}

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8
NUMBER_DIGITS = 10
NUMBER_RE = re.compile(r"^JX\d{14}$")
UNSAFE_IN_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')  # not in a file name inside a .zip

# Who may print someone's certificate besides the person: the reviewers whose scope covers the person's unit,
# and support / system administrators. (The auditor reads the audit trail, not people's certificates.)
PRINTING_ADMINS = {RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN}
PRINTING_GLOBAL = {RoleName.SUPPORT, RoleName.SYSADMIN}

# 学习类型 of the register, in the seeds' order (LearningForm.group -> the printed label).
GROUP_ZH = OrderedDict([("training", "培训类"), ("achievement", "成果类"), ("paper", "论文著作类"),
                        ("exam", "考试类"), ("degree", "学历教育"), ("online", "网络学习")])
# The register (seed 003) has no 网络学习 type: online learning is printed under 培训类 with its form's name.
REGISTER_GROUP = {"online": "training"}
SUBJECT_ZH = {Subject.PUBLIC.value: "公需科目", Subject.PROFESSIONAL.value: "专业科目"}

# TrueType CJK fonts ReportLab can embed (OpenType/CFF files such as Noto CJK cannot be used by it directly).
# (path, index of the face inside a .ttc)
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)
FONT_NAME = "CertCJK"
_font_lock = threading.Lock()
_font_ready = False


class FontMissing(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------- issuing

def _may_print(person: Person, actor: Actor | None) -> bool:
    if actor is None or actor.user_id is None:
        return False
    if actor.user_id == person.user_id:
        return True
    if actor.role in PRINTING_GLOBAL:
        return True
    return actor.role in PRINTING_ADMINS and person.unit is not None and actor.covers(person.unit.path)


def _new_number(year: int) -> str:
    return f"JX{year:04d}{secrets.randbelow(10 ** NUMBER_DIGITS):0{NUMBER_DIGITS}d}"


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _existing(person_id: int, year: int, kind: str) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(
        Certificate.person_id == person_id, Certificate.year == year, Certificate.kind == kind))


def issue(person: Person, year: int, kind: str, actor: Actor) -> Certificate:
    """Issue (or re-print) the person's certificate of a kind for a year; one row per person / year / kind.

    A re-print keeps the number and the code and takes the hours of the day. Raises DomainError when the
    certificate cannot be issued and PermissionDenied when the actor may not print the person's documents.
    """
    if kind not in KINDS:
        raise DomainError(_l("Unknown kind of certificate."))
    if not _may_print(person, actor):
        raise PermissionDenied(_l("You do not have permission to do this."))
    this_year = clock.today().year
    if not isinstance(year, int) or not (this_year - 30 <= year <= this_year):
        raise DomainError(_l("There is no result for this year."))
    result = year_result(person, year)
    if kind == COMPLETION and not result.passed:
        raise DomainError(_l("A certificate is only issued for a year whose result is passed."))
    if kind == REGISTER and result.total <= 0:
        raise DomainError(_l("No hours have been credited for this year."))

    try:
        cert = _existing(person.id, year, kind)
        if cert is None:
            cert = _insert(person, year, kind, result, actor)
            comment = "issued"
        else:
            changed = (cert.public_hours, cert.professional_hours, cert.passed) != (
                result.public, result.professional, result.passed)
            if changed:
                cert.public_hours, cert.professional_hours, cert.passed = (
                    result.public, result.professional, result.passed)
                cert.issued_at = datetime.datetime.now().replace(microsecond=0)
                cert.issued_by_id = actor.user_id
            comment = "reprinted, hours updated" if changed else "reprinted"
        audit(actor, "certificate.issue", object_type="certificate", object_id=cert.id,
              comment=f"{kind} {year} {cert.number} {comment}; person {mask_id_number(person.id_number)}")
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return cert


def _insert(person: Person, year: int, kind: str, result, actor: Actor) -> Certificate:
    """Insert a new row; retry on a number collision, return the row a concurrent request made first."""
    for _ in range(8):
        cert = Certificate(number=_new_number(year), verify_code=_new_code(), kind=kind, person_id=person.id,
                           year=year, public_hours=result.public, professional_hours=result.professional,
                           passed=result.passed, issued_at=datetime.datetime.now().replace(microsecond=0),
                           issued_by_id=actor.user_id)
        try:
            with db.session.begin_nested():
                db.session.add(cert)
            return cert
        except IntegrityError:
            existing = _existing(person.id, year, kind)
            if existing is not None:  # printed at the same moment by another request
                return existing
    raise DomainError(_l("The certificate could not be issued. Please try again."))  # pragma: no cover


def may_print_batches(actor: Actor | None) -> bool:
    """Whether the actor's role prints other people's certificates (a batch still checks each person's scope)."""
    return actor is not None and actor.user_id is not None and actor.role in PRINTING_ADMINS | PRINTING_GLOBAL


def _member_name(person: Person, cert: Certificate) -> str:
    """The PDF's name inside the batch: the holder's name and the certificate number (unique, and what the
    verification page asks for); no ID number."""
    return f"{UNSAFE_IN_NAME.sub('_', person.name or '')}-{cert.number}.pdf"


def write_batch(dest, person_ids, year: int, actor: Actor) -> int:
    """年度结业证书 of `year` for each person, one PDF each, into a .zip at `dest` (a path or a file); returns how
    many. Each certificate is issued as the person's own print would issue it (their number kept, audited, the
    actor's scope checked); a person whose year is no longer passed by now is left out."""
    written = 0
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as archive:  # PDFs are compressed already
        for person_id in person_ids:
            person = db.session.get(Person, person_id)
            if person is None:
                continue
            try:
                cert = issue(person, year, COMPLETION, actor)
            except (DomainError, PermissionDenied):
                continue
            archive.writestr(_member_name(person, cert), render_pdf(cert))
            written += 1
    return written


# ---------------------------------------------------------------------------------------------- verifying

def _clean(value: str | None, limit: int = 40) -> str:
    return re.sub(r"[\s\-]+", "", (value or "")[:limit]).upper()


def verify(number: str | None, code: str | None) -> Certificate | None:
    """The certificate with this number, if the verification code matches (case and spaces do not matter)."""
    number, code = _clean(number), _clean(code)
    if not NUMBER_RE.match(number) or len(code) != CODE_LENGTH:
        return None
    cert = db.session.scalar(select(Certificate).where(Certificate.number == number))
    if cert is None or not hmac.compare_digest(cert.verify_code.encode(), code.encode()):
        return None
    return cert


def lookup(id_number: str | None, name: str | None, actor: Actor | None = None) -> list[Certificate]:
    """H6 e-certificate lookup: the certificates of the person with this 证件号 AND this name (newest first).
    With an actor, the lookup is written to the audit trail (a read of personal data)."""
    id_number = normalize_id_number((id_number or "")[:30])
    name = re.sub(r"\s+", "", (name or "")[:30]).upper()  # spaces and letter case do not matter
    found: list[Certificate] = []
    if id_number and name:
        found = list(db.session.scalars(
            select(Certificate).join(Person, Certificate.person_id == Person.id)
            .where(Person.id_number == id_number, func.upper(func.replace(Person.name, " ", "")) == name)
            .order_by(Certificate.year.desc(), Certificate.kind)))
    if actor is not None:
        audit(actor, "certificate.lookup", object_type="person",
              object_id=found[0].person_id if found else None, result="ok" if found else "not_found",
              comment=f"{mask_id_number(id_number)} {len(found)} found")
        db.session.commit()
    return found


def verify_url(cert: Certificate) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL", "").rstrip("/")
    return f"{base}/verify/?" + urlencode({"number": cert.number, "code": cert.verify_code})


# ---------------------------------------------------------------------------------------------- the PDF

def issuer_of(person: Person) -> tuple[Org | None, Org | None]:
    """(the nearest HR bureau above the person's unit, the city HR bureau above it), read from the unit's path."""
    unit = person.unit
    if unit is None:
        return None, None
    ids = [int(x) for x in (unit.path or "").strip("/").split("/") if x]
    orgs = {o.id: o for o in db.session.scalars(select(Org).where(Org.id.in_(ids)))}
    chain = [orgs[i] for i in reversed(ids) if i in orgs]  # nearest first
    hr_kinds = (OrgKind.HR_DISTRICT.value, OrgKind.HR_CITY.value)
    nearest = next((o for o in chain if o.kind in hr_kinds), None)
    city = next((o for o in chain if o.kind == OrgKind.HR_CITY.value), None)
    return nearest, city


def _city_name(city: Org | None) -> str:
    """The city a certificate is titled after: the city bureau's region, else its name up to 市."""
    if city is None:
        return ""
    if city.region is not None and city.region.name:
        return city.region.name
    head, sep, _ = city.name.partition("市")
    return head + sep if sep else ""


def hours_text(value) -> str:
    """30.0 -> "30", 42.5 -> "42.5"."""
    value = Decimal(value or 0).quantize(Decimal("0.1"))
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value)


def date_zh(value: datetime.date | datetime.datetime) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def _title_of(person: Person) -> str:
    if person.title_name:
        return person.title_name
    parts = [p for p in (person.title_series, person.title_level) if p]
    return " ".join(parts) if parts else "无"


@dataclass
class RegisterRow:
    group: str
    form: str
    hours: Decimal


def register_rows(items: list[HourRecord]) -> list[RegisterRow]:
    """Hours per 学习形式, grouped by 学习类型 in the catalogue's order."""
    sums: dict[tuple[str, str], Decimal] = {}
    for r in items:
        if r.form is not None:
            group, form = r.form.group, r.form.name
        else:
            group, form = ("training" if r.source == "base" else "online"), r.title
        group = REGISTER_GROUP.get(group, group)
        sums[(group, form)] = sums.get((group, form), Decimal(0)) + Decimal(r.hours)
    order = list(GROUP_ZH)
    keys = sorted(sums, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[1]))
    return [RegisterRow(GROUP_ZH.get(g, g), f, sums[(g, f)]) for g, f in keys]


@functools.lru_cache(maxsize=512)
def _qr_data_uri(text: str) -> str:
    """The QR code of a link as a PNG data URI, made locally (a re-print of the same certificate reuses it)."""
    import qrcode  # lazy for cost: loaded only when a certificate is drawn

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=2)
    qr.add_data(text)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image().save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def font_path() -> tuple[str, int]:
    """The CJK TrueType font to embed: CERT_FONT_PATH (config or environment) or the first Debian candidate."""
    configured = current_app.config.get("CERT_FONT_PATH") or os.environ.get("CERT_FONT_PATH")
    candidates = ((configured, 0),) + FONT_CANDIDATES if configured else FONT_CANDIDATES
    for path, index in candidates:
        if path and os.path.isfile(path):
            return path, index
    raise FontMissing("No Chinese TrueType font found for the certificate PDFs (tried "
                      + ", ".join(p for p, _ in candidates if p)
                      + "). Install fonts-wqy-zenhei (scripts/setup.sh does) or set CERT_FONT_PATH.")


def ensure_font() -> None:
    """Register the CJK font with ReportLab once per process and make it known to xhtml2pdf as `CertCJK`."""
    global _font_ready
    if _font_ready:
        return
    with _font_lock:
        if _font_ready:
            return
        # lazy for cost: the PDF toolchain loads only when the first certificate is rendered
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont
        from xhtml2pdf import default as pisa_default

        path, index = font_path()
        pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=index))
        for bold in (0, 1):
            for italic in (0, 1):
                addMapping(FONT_NAME, bold, italic, FONT_NAME)
        # every xhtml2pdf document copies this table when it starts: `font-family: CertCJK` resolves to the font
        pisa_default.DEFAULT_FONT[FONT_NAME.lower()] = FONT_NAME
        _font_ready = True


def document_context(cert: Certificate) -> dict:
    person = cert.person
    nearest, city = issuer_of(person)
    items = records(person, cert.year)
    resident = (person.user.id_type or "resident_id") == "resident_id" if person.user else True
    public = [r for r in items if r.subject == Subject.PUBLIC.value]
    professional = [r for r in items if r.subject == Subject.PROFESSIONAL.value]
    return {
        "cert": cert,
        "person": person,
        "masked_id": mask_id_number(person.id_number),
        "id_label": "身份证号" if resident else "证件号码",
        "city": _city_name(city),
        "issuer": nearest.name if nearest is not None else "",
        "unit": person.unit.name if person.unit is not None else "",
        "title": _title_of(person),
        "public": hours_text(cert.public_hours),
        "professional": hours_text(cert.professional_hours),
        "total": hours_text(Decimal(cert.public_hours) + Decimal(cert.professional_hours)),
        "sections": [(SUBJECT_ZH[Subject.PUBLIC.value], public), (SUBJECT_ZH[Subject.PROFESSIONAL.value], professional)],
        "rows": register_rows(items),
        "issued": date_zh(cert.issued_at),
        "qr": _qr_data_uri(verify_url(cert)),
        "verify_url": verify_url(cert),
        "hours_text": hours_text,
        "platform": current_app.config.get("APP_NAME", ""),
        "doc_noun": "证书" if cert.kind == COMPLETION else "登记表",
    }


def render_pdf(cert: Certificate) -> bytes:
    """The certificate as an A4 PDF with its Chinese font embedded. Raises FontMissing without a usable font."""
    from xhtml2pdf import pisa  # lazy for cost, as above
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    ensure_font()
    template = "pdf/completion.html" if cert.kind == COMPLETION else "pdf/register.html"
    html = current_app.jinja_env.get_template(template).render(**document_context(cert))
    out = io.BytesIO()
    # The document only holds our own markup and a data: URI; it may fetch nothing, local or remote.
    policy = ResourceAccessPolicy.server(None, allow_remote=False)
    status = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=policy)
    if status.err:
        raise RuntimeError(f"certificate PDF could not be rendered ({status.err} errors)")
    return out.getvalue()
