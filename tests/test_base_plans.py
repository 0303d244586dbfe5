"""B1 / state machine 6: a training base's annual training plan and annual report, reviewed by the HR bureau above
(待审核 → 通过 | 驳回 with a reason, one by one or in a batch); B2 by an uploaded .xlsx list; the base's home page
at a glance."""
from __future__ import annotations

import datetime
import io
import os
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db as _db
from app.models import AuditLog, BaseFiling, BaseReport, BaseReportLine, Enrolment, OnlineClass, OrgKind, RoleName
from app.workflows import base_plans as flow
from app.workflows import base_reports as report_flow
from app.workflows.base import DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.factories import actor_for
from tests.helpers import learning_form, log_in, make_person, page, person_of, zh

R = RoleName
YEAR = clock.today().year
pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def plan(actor, kind="plan", year=YEAR, **kw):
    args = {"title": "2026年度继续教育培训计划", "classes": "12", "trainees": "800", "hours": "24",
            "content": "全年计划举办公需科目培训班6期、专业科目培训班6期。", **kw}
    return flow.submit(actor, kind=kind, year=year, **args)


@pytest.fixture()
def filer(world):
    """The demo world's base admin, who files."""
    return actor_for(world.base_admin, R.BASE_ADMIN, world.base)


@pytest.fixture()
def bureau(world):
    """The city HR admin: the bureau above the base."""
    return actor_for(world.city_admin, R.HR_ADMIN, world.city)


def filings(db) -> list[tuple]:
    db.session.expire_all()
    return sorted(tuple(r) for r in db.session.execute(select(BaseFiling.id, BaseFiling.state, BaseFiling.reason)))


def stored_files(app) -> list[str]:
    folder = os.path.join(app.config["UPLOAD_FOLDER"], "base_plans")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def docx(parts: dict | None = None) -> bytes:
    """A minimal Word document (or, with other `parts`, a zip that only looks like one)."""
    if parts is None:
        parts = {"[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                 'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                 'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
                 "word/document.xml": '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org'
                 '/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>年度报告</w:t></w:r></w:p></w:body>'
                 '</w:document>'}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def xlsx(rows: list[tuple], header=("证件号", "姓名", "学时")) -> bytes:
    wb = openpyxl.Workbook()
    sheet = wb.active
    if header:
        sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- state machine 6: the grid

@pytest.mark.parametrize("state", ["pending", "approved", "rejected"])
@pytest.mark.parametrize("action", ["approve", "reject"])
def test_only_a_pending_filing_is_decided(world, db, filer, bureau, state, action):
    item = plan(filer)
    if state != "pending":
        flow.decide(item, state[:-1] if state == "approved" else "reject", bureau, "材料不全")
    before = filings(db)
    if state == "pending":
        flow.decide(item, action, bureau, "计划与往年重复")
        db.session.expire_all()
        assert item.state == {"approve": "approved", "reject": "rejected"}[action]
        assert item.decided_by_id == world.city_admin.id and item.decided_at is not None
        assert (item.reason is not None) == (action == "reject")
        assert [a.action for a in db.session.scalars(select(AuditLog).where(
            AuditLog.object_type == "base_filing", AuditLog.object_id == item.id).order_by(AuditLog.id))] == \
            ["base_filing.submit", f"base_filing.{action}"]
    else:
        with pytest.raises(TransitionNotAllowed):
            flow.decide(item, action, bureau, "再次处理")
        assert filings(db) == before


def test_a_reason_is_required_to_reject_one_or_a_batch(world, db, filer, bureau):
    item = plan(filer)
    before = filings(db)
    for reason in (None, "", "   "):
        with pytest.raises(DomainError) as exc:
            flow.decide(item, "reject", bureau, reason)
        assert exc.value.field == "reason"
        with pytest.raises(DomainError):
            flow.decide_many([item.id], "reject", bureau, reason)
    assert filings(db) == before


def test_a_batch_decides_every_ticked_filing_in_scope(world, db, filer, bureau):
    a = plan(filer)
    b = plan(filer, kind="report", title="2026年度工作报告")
    done, failed = flow.decide_many([a.id, b.id, 2 ** 31 + 5], "approve", bureau)
    assert done == 2 and [i for i, _ in failed] == [2 ** 31 + 5]
    assert [s for _, s, _ in filings(db)] == ["approved", "approved"]


def test_the_base_admin_never_decides_and_hr_outside_the_region_cannot(world, db, filer):
    item = plan(filer)
    district_hr = actor_for(world.district_admin, R.HR_ADMIN, world.district)  # the base is under the city
    before = filings(db)
    for actor in (filer, district_hr, actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit)):
        with pytest.raises(PermissionDenied):
            flow.decide(item, "approve", actor)
        assert not flow.can_decide(item, actor)
    assert flow.decide_many([item.id], "approve", district_hr)[0] == 0
    assert filings(db) == before
    # a base under the district: the district and the city decide, the other district does not
    near = factories.make_org(OrgKind.BASE, "甲区培训基地", world.district)
    near_admin = factories.make_account("甲区基地管理员", [(R.BASE_ADMIN, near)])
    near_plan = plan(actor_for(near_admin, R.BASE_ADMIN, near))
    other_hr = actor_for(world.other_district_admin, R.HR_ADMIN, world.other_district)
    with pytest.raises(PermissionDenied):
        flow.decide(near_plan, "approve", other_hr)
    assert flow.can_decide(near_plan, district_hr) and flow.can_decide(near_plan, actor_for(
        world.city_admin, R.HR_ADMIN, world.city))
    assert [f.id for f in flow.queue(district_hr)] == [near_plan.id]
    assert flow.queue(other_hr) == []


def test_the_filer_cannot_decide_their_own_filing_in_another_role(world, db):
    """One account that administers the base and works at the bureau above never approves its own filing."""
    both = factories.make_account("兼任管理员", [(R.BASE_ADMIN, world.base), (R.HR_ADMIN, world.city)])
    item = plan(actor_for(both, R.BASE_ADMIN, world.base))
    with pytest.raises(PermissionDenied):
        flow.decide(item, "approve", actor_for(both, R.HR_ADMIN, world.city))


def test_another_bases_filings_are_not_visible(world, db, filer):
    other_base = factories.make_org(OrgKind.BASE, "乙区培训基地", world.other_district)
    other_admin = factories.make_account("乙区基地管理员", [(R.BASE_ADMIN, other_base)])
    other = plan(actor_for(other_admin, R.BASE_ADMIN, other_base), title="乙区基地的计划")
    mine = plan(filer)
    assert [f.id for f in flow.of_base(filer)] == [mine.id]
    assert flow.get(filer, other.id) is None and flow.get(filer, mine.id) is not None
    district_hr = actor_for(world.district_admin, R.HR_ADMIN, world.district)
    assert flow.get(district_hr, other.id) is None and flow.get(district_hr, mine.id) is None


def test_only_an_active_base_admin_files(world, db):
    for actor in (actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit),
                  actor_for(world.city_admin, R.HR_ADMIN, world.city)):
        with pytest.raises(PermissionDenied):
            plan(actor)
    assert filings(db) == []


# ---------------------------------------------------------------- filing: one per year, fields, attachment

def test_one_live_plan_and_one_live_report_per_year(world, db, filer, bureau):
    first = plan(filer)
    plan(filer, kind="report", title="年度工作报告")
    with pytest.raises(DomainError) as exc:
        plan(filer, title="第二份计划")
    assert exc.value.field == "year" and str(exc.value.message) == str(flow.DUPLICATE)
    flow.decide(first, "approve", bureau)
    with pytest.raises(DomainError):
        plan(filer, title="第二份计划")
    assert len(filings(db)) == 2


def test_a_rejected_filing_is_filed_again_as_a_new_one(world, db, filer, bureau):
    first = plan(filer)
    flow.decide(first, "reject", bureau, "培训学时安排不合理")
    again = plan(filer, hours="32")
    assert again.id != first.id and again.state == "pending"
    assert [(s, r) for _, s, r in filings(db)] == [("rejected", "培训学时安排不合理"), ("pending", None)]
    assert flow.year_states(world.base.id, YEAR)["plan"].id == again.id


def test_the_unique_index_refuses_a_second_live_filing_racing_in(world, db, filer, monkeypatch):
    plan(filer)
    monkeypatch.setattr(flow, "live", lambda *a: None)  # as if both requests had checked at the same instant
    with pytest.raises(DomainError) as exc:
        plan(filer, title="同时提交的计划")
    assert exc.value.field == "year"
    assert len(filings(db)) == 1


@pytest.mark.parametrize("override,field", [
    ({"year": YEAR - 3}, "year"), ({"year": "abc"}, "year"), ({"title": "x"}, "title"),
    ({"title": "<b>计划</b>"}, "title"), ({"classes": "-1"}, "classes"), ({"classes": "１２"}, "classes"),
    ({"trainees": "1.5"}, "trainees"), ({"hours": "1.25"}, "hours"), ({"hours": "100000"}, "hours"),
    ({"content": "太短"}, "content"), ({"content": "计划内容\x00隐藏字符在这里"}, "content"),
])
def test_bad_fields_are_refused_at_the_field(world, db, filer, override, field):
    with pytest.raises(DomainError) as exc:
        plan(filer, **override)
    assert exc.value.field == field
    assert filings(db) == []


def test_a_report_is_for_this_year_or_the_last(world, db, filer):
    plan(filer, kind="report", year=YEAR - 1, title="上年度工作报告")
    with pytest.raises(DomainError):
        plan(filer, kind="report", year=YEAR + 1, title="明年的报告")
    plan(filer, kind="plan", year=YEAR + 1, title="明年的计划")


@pytest.mark.parametrize("name,data", [
    ("报告.pdf", factories.PDF),
    ("报告.docx", docx()),
    ("报告.xlsx", xlsx([("110105199001011236", "张三", 8)])),
])
def test_a_pdf_word_or_excel_attachment_is_kept(app, world, db, filer, name, data):
    item = plan(filer, attachment=(name, data))
    assert item.file_name == name and item.file_size == len(data)
    with open(flow.path_of(item), "rb") as fh:
        assert fh.read() == data


@pytest.mark.parametrize("name,data", [
    ("计划.pdf", factories.PNG),                                   # an image renamed
    ("计划.docx", b"<html><script>alert(1)</script></html>"),      # a page renamed
    ("计划.pdf", b"%PDF-1.4\n garbage"),                             # a broken PDF
    ("计划.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100),  # Word 97-2003 or an encrypted file
    ("计划.docx", docx({"[Content_Types].xml": "<Types/>", "a.txt": "x"})),  # a zip that is no document
    ("计划.docx", docx({"[Content_Types].xml": '<!DOCTYPE x [<!ENTITY a "b">]><Types/>',
                        "word/document.xml": "<w/>"})),               # an entity trick
    ("计划.xlsx", docx({"[Content_Types].xml": "spreadsheetml.sheet", "xl/workbook.xml": "<w/>",
                        "xl/vbaProject.bin": "macro"})),              # macros
    ("计划.pdf", b"%PDF-" + b"0" * (6 * 1024 * 1024)),               # oversize
])
def test_a_bad_attachment_is_refused_and_nothing_is_stored(app, world, db, filer, name, data):
    before = stored_files(app)
    with pytest.raises(DomainError) as exc:
        plan(filer, attachment=(name, data))
    assert exc.value.field == "attachment"
    assert filings(db) == [] and stored_files(app) == before


# ---------------------------------------------------------------- the pages

def test_the_base_files_a_plan_the_hr_bureau_rejects_it_in_a_batch_and_the_base_files_again(app, client, fast_world):
    world = fast_world
    token = log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    index = page(client.get("/base/plans/"))
    assert zh("Not filed yet.") in index and 'id="new-plan"' in index
    form = {"csrf_token": token, "year": str(YEAR), "title": "基地年度培训计划", "classes": "10", "trainees": "500",
            "hours": "24", "content": "全年举办培训班十期，覆盖卫生、教育等专业。",
            "attachment": (io.BytesIO(factories.PDF), "年度计划.pdf")}
    response = client.post("/base/plans/new/plan", data=form, content_type="multipart/form-data")
    assert response.status_code == 302, page(response)
    item = _db.session.scalar(select(BaseFiling))
    assert response.headers["Location"].endswith(f"/base/plans/{item.id}")
    shown = page(client.get(f"/base/plans/{item.id}"))
    assert "基地年度培训计划" in shown and zh("Pending review") in shown and zh("Classes planned") in shown
    download = client.get(f"/base/plans/{item.id}/file")
    assert download.status_code == 200 and download.data == factories.PDF
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    # a second plan for the year is refused on the form
    form["attachment"] = (io.BytesIO(b""), "")
    again = client.post("/base/plans/new/plan", data=form, content_type="multipart/form-data")
    assert again.status_code == 200 and zh(
        "A filing of this kind for this year is already pending or approved. Only a rejected one can be filed "
        "again.") in page(again)

    hr = app.test_client()
    hr_token = log_in(hr, world.city_admin.username, R.HR_ADMIN.value)
    assert zh("Base plans and annual reports waiting for your review") in page(hr.get("/home/"))
    queue = page(hr.get("/review/base-plans/"))
    assert "基地年度培训计划" in queue and world.base.name in queue
    assert "基地年度培训计划" not in page(hr.get("/review/base-plans/?kind=report"))
    assert "基地年度培训计划" not in page(hr.get(f"/review/base-plans/?year={YEAR - 1}"))
    assert "基地年度培训计划" in page(hr.get("/review/base-plans/?state=&kind=plan"))
    assert hr.get(f"/review/base-plans/{item.id}/file").data == factories.PDF
    detail = page(hr.get(f"/review/base-plans/{item.id}"))
    assert 'id="reject-filing"' in detail
    refused = hr.post("/review/base-plans/decide", data={"csrf_token": hr_token, "ids": str(item.id),
                                                        "action": "reject", "reason": ""}, follow_redirects=True)
    assert zh("A reason is required to reject.") in page(refused)
    hr.post(f"/review/base-plans/decide?back={item.id}", data={
        "csrf_token": hr_token, "ids": str(item.id), "action": "reject", "reason": "培训计划缺少师资安排"})
    _db.session.expire_all()
    assert _db.session.get(BaseFiling, item.id).state == "rejected"
    assert "基地年度培训计划" not in page(hr.get("/review/base-plans/"))  # the queue: pending ones
    for query in ("?state=", "?state=rejected", "?state=rejected&kind=plan&year=%d" % YEAR):
        assert "培训计划缺少师资安排" in page(hr.get(f"/review/base-plans/{query}")), query
    assert "培训计划缺少师资安排" not in page(hr.get("/review/base-plans/?state=approved"))

    index = page(client.get("/base/plans/"))
    assert "培训计划缺少师资安排" in index and zh("Rejected") in index and zh("File it again") in index
    form.update(title="基地年度培训计划（修改）", attachment=(io.BytesIO(b""), ""))
    assert client.post("/base/plans/new/plan", data=form, content_type="multipart/form-data").status_code == 302
    assert [s for _, s, _ in filings(_db)] == ["rejected", "pending"]


def test_another_bases_filing_is_not_found_on_any_page(app, client, fast_world):
    world = fast_world
    other_base = factories.make_org(OrgKind.BASE, "乙区培训基地", world.other_district)
    other_admin = factories.make_account("乙区基地管理员", [(R.BASE_ADMIN, other_base)])
    other = plan(actor_for(other_admin, R.BASE_ADMIN, other_base), title="乙区基地的计划",
                 attachment=("乙区.pdf", factories.PDF))
    log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    for url in (f"/base/plans/{other.id}", f"/base/plans/{other.id}/file"):
        assert client.get(url).status_code == 404
    assert "乙区基地的计划" not in page(client.get("/base/plans/"))
    hr = app.test_client()
    token = log_in(hr, world.district_admin.username, R.HR_ADMIN.value)  # 甲区: not above 乙区
    for url in (f"/review/base-plans/{other.id}", f"/review/base-plans/{other.id}/file"):
        assert hr.get(url).status_code == 404
    assert "乙区基地的计划" not in page(hr.get("/review/base-plans/?state="))
    hr.post("/review/base-plans/decide", data={"csrf_token": token, "ids": str(other.id), "action": "approve"})
    _db.session.expire_all()
    assert _db.session.get(BaseFiling, other.id).state == "pending"


def test_unknown_kinds_and_filters_are_harmless(app, client, fast_world):
    world = fast_world
    log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    assert client.get("/base/plans/new/other").status_code == 404
    assert client.get("/base/plans/?year=abc").status_code == 200
    hr = app.test_client()
    log_in(hr, world.city_admin.username, R.HR_ADMIN.value)
    assert hr.get("/review/base-plans/?state=evil&kind=evil&year=99999999999").status_code == 200


# ---------------------------------------------------------------- the base's org info (B1): already in place

def test_a_base_edits_its_profile_and_asks_the_hr_bureau_for_a_new_credit_code(world, db, bureau):
    """The org-profile workflow serves bases too: free fields saved at once, a credit-code change reviewed by the
    HR bureau above (state machine 5)."""
    from app.demo import make_credit_code
    from app.workflows import org_change

    actor = actor_for(world.base_admin, R.BASE_ADMIN, world.base)
    org_change.edit_profile(actor, {"phone": "0633-1234567", "address": "日照市东港区"})
    db.session.expire_all()
    assert world.base.phone == "0633-1234567"
    item = org_change.request_change(actor, org_change.ChangeRequest(credit_code=make_credit_code("371102", 77001),
                                                                     parent_id=None))
    assert item.old_parent_id == world.city.id
    district_hr = actor_for(world.district_admin, R.HR_ADMIN, world.district)
    assert not org_change.can_decide(item, district_hr)
    org_change.decide(item, "approve", bureau)
    db.session.expire_all()
    assert item.state == "approved" and world.base.credit_code == item.new_credit_code


# ---------------------------------------------------------------- B2 by an uploaded .xlsx

def _trainees(world, n=3):
    units = (world.unit, world.sub_unit, world.other_unit)
    return [make_person(f"学员{'甲乙丙丁'[i]}", units[i % 3]) for i in range(n)]


def _upload(client, token, content: bytes, name="学员名单.xlsx"):
    return client.post("/base/reports/upload", data={
        "csrf_token": token, "title": "2026年专业科目培训班", "subject": "professional",
        "form_id": str(learning_form().id), "year": str(YEAR), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data")


def _reports() -> tuple[int, int]:
    _db.session.expire_all()
    return (_db.session.scalar(select(func.count(BaseReport.id))),
            _db.session.scalar(select(func.count(BaseReportLine.id))))


def test_a_good_sheet_files_a_report_with_every_trainee(app, client, fast_world):
    world = fast_world
    people = _trainees(world)
    token = log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    template = client.get("/base/reports/template.xlsx")
    assert template.status_code == 200
    header = [c.value for c in next(openpyxl.load_workbook(io.BytesIO(template.data)).active.iter_rows())]
    assert header == [f"{zh('ID number')}*", "姓名*", "学时*"]  # 证件号码; a list headed 证件号 is read too
    # the template's example row is left in: it is ignored; hours as numbers or text
    content = xlsx([("110105199001011236", "张三", 24)] + [
        (p.username, person_of(p).name, h) for p, h in zip(people, (8, 12.5, "16"))], header=header)
    response = _upload(client, token, content)
    assert response.status_code == 302, page(response)
    report = _db.session.scalar(select(BaseReport))
    assert sorted(line.hours for line in report.lines) == [Decimal("8"), Decimal("12.5"), Decimal("16")]
    assert report.state == "pending"


def test_bad_rows_are_each_listed_with_their_reason_and_nothing_is_filed(app, client, fast_world):
    world = fast_world
    a, b, c = _trainees(world)
    token = log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    unknown = factories.new_id_number()
    rows = [
        (a.username, person_of(a).name, 8),            # row 2: good
        (b.username, "张冠李戴", 8),                     # row 3: the name does not match
        (unknown, "查无此人", 8),                        # row 4: nobody has this number
        (a.username, person_of(a).name, 4),            # row 5: listed twice
        (c.username, person_of(c).name, "1.25"),       # row 6: two decimals
        (c.username, person_of(c).name, "=A1*2"),      # row 7: a formula (and listed twice)
        (int(c.username[:-1]), "数字", 8),              # row 8: an ID number typed into a number cell
        (b.username, None, 8),                         # row 9: the name is missing
    ]
    response = _upload(client, token, xlsx(rows))
    body = page(response)
    assert response.status_code == 200
    assert zh("Line %(n)s: the name does not match the ID number.", n=3) in body
    assert zh("Line %(n)s: no registered professional has this ID number.", n=4) in body
    assert zh("Line %(n)s: this ID number is listed twice.", n=5) in body
    for n in (6, 7, 8, 9):  # each row named with its own reason
        assert zh("Line %(n)s: %(problem)s", n=n, problem="@").split("@")[0].strip() in body
    assert zh("is a formula; enter the value itself") in body
    assert zh("is a number cell: enter the ID number as text (a number cell loses its last digits)") in body
    assert zh("%(column)s is required", column=zh("Name")) in body
    assert _reports() == (0, 0)


@pytest.mark.parametrize("content,message", [
    (factories.PNG, "This is not an Excel workbook (.xlsx). Download the template, fill it in and upload it without "
                    "renaming another kind of file."),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512,
     "The file is encrypted or in the old Excel 97-2003 (.xls) format. Remove the password, save it as an Excel "
     "workbook (.xlsx) and upload it again."),
])
def test_a_renamed_or_encrypted_file_is_refused_with_the_spreadsheet_message(app, client, fast_world, content,
                                                                          message):
    world = fast_world
    _trainees(world, 1)
    token = log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    response = _upload(client, token, content)
    assert response.status_code == 200 and zh(message) in page(response)
    assert _reports() == (0, 0)


def test_wrong_headers_and_an_empty_file_are_refused(app, client, fast_world):
    world = fast_world
    token = log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    assert zh("Choose the filled template (.xlsx) to upload.") in page(_upload(client, token, b""))
    wrong = page(_upload(client, token, xlsx([("1", "2", "3")], header=("身份证", "姓名", "学时"))))
    assert "身份证" in wrong and zh("ID number") in wrong
    assert zh("List at least one trainee.") in page(_upload(client, token, xlsx([])))
    assert _reports() == (0, 0)


def test_the_typed_list_still_works(app, client, fast_world):
    world = fast_world
    (a,) = _trainees(world, 1)
    token = log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    assert 'id="upload-tab"' in page(client.get("/base/reports/new"))
    response = client.post("/base/reports/new", data={
        "csrf_token": token, "title": "2026年公需科目培训班", "subject": "public", "form_id": str(learning_form().id),
        "year": str(YEAR), "lines": f"{a.username} 6"})
    assert response.status_code == 302
    assert _reports() == (1, 1)


# ---------------------------------------------------------------- the base's home page

def test_the_base_home_shows_its_year_at_a_glance(app, client, fast_world):
    world = fast_world
    filer = actor_for(world.base_admin, R.BASE_ADMIN, world.base)
    bureau = actor_for(world.city_admin, R.HR_ADMIN, world.city)
    first = plan(filer)
    flow.decide(first, "approve", bureau)
    people = _trainees(world, 3)
    report_flow.submit_report(filer, title="培训班", subject="public", form_id=learning_form().id, year=YEAR,
                              start_date=None, end_date=None, lines_text=f"{people[0].username} 4")
    # classes of the base by state, two learners in the published one (one of them in two classes)
    today = clock.today()
    classes = []
    for state in ("published", "published", "pending", "draft"):
        row = OnlineClass(base_id=world.base.id, reviewer_org_id=world.city.id, title=f"{state}班", track="public",
                          year=YEAR, hours=Decimal("10"), price=0, enrol_start=today,
                          enrol_end=today + datetime.timedelta(days=30), state=state)
        _db.session.add(row)
        classes.append(row)
    other_base = factories.make_org(OrgKind.BASE, "乙区培训基地", world.other_district)
    other_class = OnlineClass(base_id=other_base.id, reviewer_org_id=world.other_district.id, title="别家班",
                              track="public", year=YEAR, hours=Decimal("10"), price=0, enrol_start=today,
                              enrol_end=today, state="published")
    _db.session.add(other_class)
    _db.session.flush()
    p = [person_of(x).id for x in people]
    _db.session.add_all([Enrolment(class_id=classes[0].id, person_id=p[0]), Enrolment(class_id=classes[0].id,
                         person_id=p[1]), Enrolment(class_id=classes[1].id, person_id=p[0]),
                         Enrolment(class_id=other_class.id, person_id=p[2])])
    _db.session.commit()

    log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    home = client.get("/home/").get_data(as_text=True)

    def card(card_id):
        start = home.index(f'id="{card_id}"')
        number = home.index('class="stat-number">', start) + len('class="stat-number">')
        return home[number:home.index("</span>", number)].strip()

    import html
    assert html.unescape(card("base-plan")) == zh("Approved")
    assert html.unescape(card("base-report")) == zh("Not filed yet")
    assert card("base-pending") == "1"
    assert card("base-classes-published") == "2" and card("base-classes-pending") == "1"
    assert card("base-classes-draft") == "1" and card("base-classes-closed") == "0"
    assert card("base-learners") == "2"
