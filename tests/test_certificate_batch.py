"""A batch of 年度结业证书 from the completion statistics (issue 13, point 4: PDF batches in the task queue): the
people the page counts as passed, one PDF each in a .zip, issued as each person's own print issues them (number
kept, audited, the admin's scope checked); small batches come at once, bigger ones are made by the queue's worker
and wait under 导出记录; bad years, other scopes, empty and oversized batches get a Chinese message."""
from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.extensions import db
from app.models import AnnualStandard, AuditLog, Certificate, ExportJob, ExportState, Person, RoleName
from app.workflows import certificates as certs
from app.workflows import exports
from app.workflows import statistics as stats
from tests import factories
from tests.helpers import YEAR, credit_year, is_login_redirect, log_in, make_person, page, person_of, zh

R = RoleName
URL = "/statistics/completion/certificates"
ZIP = "application/zip"

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")

# (org attribute of the world, name, public hours, professional hours); the standard is 30 / 60 / 90
PEOPLE = [
    ("unit", "证书甲", 30, 60), ("unit", "证书乙", 10, 20), ("unit", "证书丙", 40, 90), ("unit", "证书丁", 0, 0),
    ("sub_unit", "分院证书", 30, 60),
    ("other_unit", "乙校证书", 30, 60),
]
PASSED_UNDER_DISTRICT = {"证书甲", "证书丙", "分院证书"}


@pytest.fixture()
def passed_staff(fast_world):
    w = fast_world
    db.session.add(AnnualStandard(year=YEAR, region_id=None, public_min=Decimal(30), professional_min=Decimal(60),
                                  total_min=Decimal(90)))
    db.session.commit()
    w.people = {}
    for attr, name, public, professional in PEOPLE:
        account = make_person(name, getattr(w, attr))
        if public or professional:
            credit_year(account, public, professional)
        w.people[name] = account
    return w


def members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def text_of(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages))


def as_admin(client, account, role):
    log_in(client, account.username, role.value)
    return client


def test_the_zip_holds_the_certificate_of_each_person_the_page_counts_as_passed(passed_staff, client):
    w = passed_staff
    as_admin(client, w.city_admin, R.HR_ADMIN)
    html = page(client.get(f"/statistics/completion?year={YEAR}&org={w.district.id}")).replace("&amp;", "&")
    link = f'href="{URL}?year={YEAR}&org={w.district.id}"'
    assert link in html and zh("Certificates of the %(n)s who passed (.zip)", n=3) in html
    response = client.get(f"{URL}?year={YEAR}&org={w.district.id}")
    assert response.status_code == 200 and response.mimetype == ZIP
    assert "no-store" in response.headers["Cache-Control"]
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and ".zip" in disposition
    files = members(response.data)
    issued = {c.person_id: c for c in db.session.scalars(select(Certificate).where(Certificate.year == YEAR))}
    assert len(files) == len(issued) == 3
    for name in PASSED_UNDER_DISTRICT:
        person = person_of(w.people[name])
        cert = issued[person.id]
        assert cert.kind == certs.COMPLETION and cert.passed
        pdf = files[f"{name}-{cert.number}.pdf"]
        assert pdf[:5] == b"%PDF-"
        text = text_of(pdf)
        assert name in text and cert.number in text and "结业证书" in text, text
        assert person.id_number not in text  # masked, as on every certificate
    audited = list(db.session.scalars(select(AuditLog.comment).where(AuditLog.action == "certificate.issue")))
    assert len(audited) == 3 and all(str(YEAR) in c for c in audited)
    # the page's figure and the batch are the same people
    result = stats.completion(factories.actor_for(w.city_admin, R.HR_ADMIN, w.city), YEAR, w.district.id)
    assert result.total.passed == len(files)


def test_a_reprint_keeps_the_persons_number(passed_staff, client):
    w = passed_staff
    person = person_of(w.people["证书甲"])
    own = certs.issue(person, YEAR, certs.COMPLETION, factories.actor_for(w.people["证书甲"], R.PROFESSIONAL))
    as_admin(client, w.unit_admin, R.UNIT_ADMIN)
    files = members(client.get(f"{URL}?year={YEAR}").data)
    assert f"证书甲-{own.number}.pdf" in files
    assert {n.split("-")[0] for n in files} == PASSED_UNDER_DISTRICT  # the unit and its sub-unit
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 3


def test_an_admin_prints_inside_their_own_scope_only(passed_staff, client):
    w = passed_staff
    as_admin(client, w.district_admin, R.HR_ADMIN)
    assert client.get(f"{URL}?year={YEAR}&org={w.other_district.id}").status_code == 404
    assert client.get(f"{URL}?year={YEAR}&org={w.other_unit.id}").status_code == 404
    assert client.get(f"{URL}?year={YEAR}&org=abc").status_code == 404
    other = client.application.test_client()
    as_admin(other, w.unit_admin, R.UNIT_ADMIN)
    assert other.get(f"{URL}?year={YEAR}&org={w.district.id}").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


@pytest.mark.parametrize("who, role", [("base_admin", R.BASE_ADMIN), ("support", R.SUPPORT),
                                       ("sysadmin", R.SYSADMIN), ("auditor", R.AUDITOR)])
def test_roles_without_the_statistics_print_nothing(passed_staff, client, who, role):
    as_admin(client, getattr(passed_staff, who), role)
    assert client.get(f"{URL}?year={YEAR}").status_code in (302, 403)
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_professionals_and_anonymous_print_nothing(passed_staff, client):
    assert is_login_redirect(client.get(f"{URL}?year={YEAR}"))
    log_in(client, passed_staff.people["证书甲"].username, R.PROFESSIONAL.value)
    assert client.get(f"{URL}?year={YEAR}").status_code in (302, 403)
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_bad_year_empty_and_oversized_batches_are_told_in_chinese(passed_staff, client, app, monkeypatch):
    w = passed_staff
    as_admin(client, w.city_admin, R.HR_ADMIN)
    response = client.get(f"{URL}?year=1800")
    assert response.status_code == 400
    assert zh("Please choose a year from %(low)s to %(high)s.", low=YEAR - stats.YEARS_BACK, high=YEAR) \
        in page(response)
    # nobody passed last year: back to the page, with the reason
    response = client.get(f"{URL}?year={YEAR - 1}", follow_redirects=True)
    assert zh("Nobody here has passed %(year)s yet: there is no certificate to print.", year=YEAR - 1) \
        in page(response)
    # the city's 4 passed people over a limit of 3: print each org below instead
    monkeypatch.setitem(app.config, "CERTIFICATE_BATCH_MAX", 3)
    response = client.get(f"{URL}?year={YEAR}", follow_redirects=True)
    assert zh("More than %(n)s people passed here: print the certificates of each organisation below separately.",
              n="3") in page(response)
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0
    assert len(members(client.get(f"{URL}?year={YEAR}&org={w.district.id}").data)) == 3  # a part of it


def test_a_person_no_longer_passed_when_printed_is_left_out(passed_staff, client, monkeypatch):
    w = passed_staff
    real = certs.issue

    def refuse_one(person, year, kind, actor):
        if person.name == "证书丙":  # e.g. an hour record withdrawn between the list and the print
            raise certs.DomainError("no longer passed")
        return real(person, year, kind, actor)

    monkeypatch.setattr(certs, "issue", refuse_one)
    as_admin(client, w.district_admin, R.HR_ADMIN)
    files = members(client.get(f"{URL}?year={YEAR}").data)
    assert {n.split("-")[0] for n in files} == PASSED_UNDER_DISTRICT - {"证书丙"}


def test_a_big_batch_is_made_by_the_queue_and_downloaded_from_the_export_records(queue_app, passed_staff, monkeypatch):
    w = passed_staff
    monkeypatch.setitem(queue_app.config, "CERTIFICATE_INLINE", 2)
    client = as_admin(queue_app.test_client(), w.district_admin, R.HR_ADMIN)
    response = client.get(f"{URL}?year={YEAR}")
    assert response.status_code == 302 and "/exports/" in response.headers["Location"]
    export_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    item = db.session.get(ExportJob, export_id)
    assert item.kind == "zip" and item.state == ExportState.WRITING.value
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 0  # nothing made in the request
    html = page(client.get(f"/exports/{export_id}", follow_redirects=True))
    assert zh("The certificates are many: they are being made in the background. The file will wait here and "
              "under the export records.") in html
    assert zh("Certificates made so far:") in html

    exports.run(export_id)  # as the worker runs it

    db.session.expire_all()
    item = db.session.get(ExportJob, export_id)
    assert item.state == ExportState.DONE.value and item.rows == 3 and item.file_name.endswith(".zip")
    html = page(client.get(f"/exports/{export_id}"))
    assert zh("Download the file (.%(suffix)s)", suffix="zip") in html
    assert zh("%(n)s certificates", n="3") in page(client.get("/exports/"))
    download = client.get(f"/exports/{export_id}/file")
    assert download.status_code == 200 and download.mimetype == ZIP
    assert {n.split("-")[0] for n in members(download.get_data())} == PASSED_UNDER_DISTRICT
    issuers = set(db.session.scalars(select(Certificate.issued_by_id)))
    assert issuers == {w.district_admin.id}  # issued as the admin who asked, in the worker's replay
    # another admin never sees it
    stranger = as_admin(queue_app.test_client(), w.other_district_admin, R.HR_ADMIN)
    assert stranger.get(f"/exports/{export_id}/file").status_code == 404


def test_the_passed_people_are_the_rollups_passed_figures_at_every_level(passed_staff):
    w = passed_staff
    actor = factories.actor_for(w.city_admin, R.HR_ADMIN, w.city)
    for org in (w.city, w.district, w.dept, w.unit, w.sub_unit, w.other_district, w.other_unit):
        result = stats.completion(actor, YEAR, org.id)
        _org, _year, people = stats.passed_people(actor, YEAR, org.id, 100)
        assert len(people) == result.total.passed, org.name
        names = set(db.session.scalars(select(Person.name).where(Person.id.in_(people))))
        assert names <= {name for _attr, name, pub, pro in PEOPLE if pub >= 30 and pro >= 60}
