"""Hour declarations through the real pages and forms: P8 declare, P9 progress, the reviewers' queue (U8, D5, H4),
P10 annual completion, and the T1 bad-input battery for declarations and their evidence files.

Forms are posted as a browser posts them: multipart, the CSRF token of the page, detail fields as f_<key>.
"""
from __future__ import annotations

import datetime
import io
import os
import re

import pytest
from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.models import (AnnualStandard, Attachment, AuditLog, Declaration, LearningForm, Org, Region, RoleName)
from app.validators import mask_id_number
from app.workflows import base_reports as report_flow
from app.workflows import declaration as decl_flow
from app.workflows.attachments import path_of
from tests import factories
from tests.factories import PNG
from tests.helpers import (YEAR, assert_unchanged, credit_year, csrf_from, declaration_data, learning_form, log_in,
                           make_declaration, make_person, make_report, page, person_of, state_snapshot, uploaded_files,
                           zh)

R = RoleName
JPEG = factories.JPEG  # real files: uploads are checked by parsing them
PDF = factories.PDF
TODAY = clock.today()
MB = 1024 * 1024

# A valid value for each detail field a learning form may ask for (f_<key> in the form).
VALID_DETAILS = {
    "organiser": "省卫健委", "location": "济南", "conf_level": "省级", "school": "山东大学", "major": "临床医学",
    "journal": "中华医学杂志", "issn": "0376-2491", "publish_date": (TODAY - datetime.timedelta(days=30)).isoformat(),
    "author_rank": "第一作者", "publisher": "人民卫生出版社", "isbn": "978-7-117-00000-1", "words": "12",
    "project_rank": "省部级", "role_in": "主持人", "patent_no": "ZL202510000000.1", "patent_type": "发明专利",
    "grant_date": (TODAY - datetime.timedelta(days=60)).isoformat(), "exam_name": "主治医师资格考试",
    "cert_no": "2025370100001", "exam_date": (TODAY - datetime.timedelta(days=90)).isoformat(),
    "platform": "山东专技在线",
}


@pytest.fixture()
def me(fast_world):
    return make_person("申报人张医生", fast_world.unit)


@pytest.fixture()
def my_client(client, me):
    log_in(client, me.username, R.PROFESSIONAL.value)
    return client


def full_data(form: LearningForm, **overrides) -> dict:
    """A complete, valid declaration of `form`: exactly the fields it asks for."""
    data = declaration_data(form, start_date=None, end_date=None, f_organiser=None, f_location=None, hours="8")
    for key in form.fields:
        if key == "dates":
            data["start_date"] = (TODAY - datetime.timedelta(days=3)).isoformat()
            data["end_date"] = (TODAY - datetime.timedelta(days=1)).isoformat()
        else:
            data[f"f_{key}"] = VALID_DETAILS[key]
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_form(client, url: str, data: dict, files=(), follow: bool = False):
    """GET the page for its CSRF token, then post the form as multipart with the files as `attachments`."""
    token = csrf_from(client.get(url).get_data(as_text=True))
    payload = {"csrf_token": token, **data}
    if files:
        payload["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(url, data=payload, content_type="multipart/form-data", follow_redirects=follow)


def declare(client, data: dict, files=(("证书.png", PNG),), follow: bool = True):
    return post_form(client, "/hours/declare", data, files, follow)


def mine(person_account) -> list[Declaration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Declaration).where(
        Declaration.person_id == person_of(person_account).id).order_by(Declaration.id)))


def row_state(item_id: int):
    return db.session.execute(select(Declaration.state, Declaration.reviewer_org_id, Declaration.title,
                                     Declaration.hours, Declaration.reason).where(Declaration.id == item_id)).one()


def field_group(html: str, field_id: str) -> str:
    """The form-group of a field as rendered (its label, input and field-level errors)."""
    match = re.search(rf'<div class="form-group[^"]*" id="group-{field_id}">(.*?)</div>', html, re.S)
    assert match, f"no form-group for {field_id}"
    return match.group(1)


def assert_field_error_in_chinese(html: str, field_id: str) -> None:
    group = field_group(html, field_id)
    errors = re.findall(r'class="help-block field-error">([^<]+)<', group)
    assert errors and all(re.search(r"[\u4e00-\u9fff]", e) for e in errors), (field_id, errors)


def titles_in(html: str, titles) -> set[str]:
    return {t for t in titles if t in html}


def logout(client):
    client.post("/logout/", data={"csrf_token": csrf_from(client.get("/home/").get_data(as_text=True))})


def as_user(client, account, role: R):
    logout(client)
    return log_in(client, account.username, role.value)


# ------------------------------------------------------------------ P8: the form shows exactly the chosen form's fields

def test_each_learning_form_offers_exactly_its_fields(my_client):
    html = my_client.get("/hours/declare").get_data(as_text=True)
    forms = list(db.session.scalars(select(LearningForm).where(LearningForm.active.is_(True))))
    assert len(forms) >= 9
    for form in forms:
        match = re.search(rf'<option value="{form.id}" data-fields="([^"]*)"', html)
        assert match, form.code
        assert match.group(1).split(",") == form.fields, form.code
    # every field a form may ask for has its block, which the page shows or hides by data-field
    for key in decl_flow.FIELDS:
        assert f'data-field="{key}"' in html, key
    for key in set(decl_flow.FIELDS) - {"dates"}:
        assert f'name="f_{key}"' in html, key


def test_an_inactive_form_is_neither_offered_nor_accepted(my_client, me):
    form = learning_form("online")
    db.session.execute(update(LearningForm).where(LearningForm.id == form.id).values(active=False))
    db.session.commit()
    assert f'<option value="{form.id}"' not in my_client.get("/hours/declare").get_data(as_text=True)
    before = state_snapshot()
    response = declare(my_client, full_data(form))
    assert response.status_code == 200
    assert zh("Please correct the marked fields.") in page(response)
    assert_field_error_in_chinese(page(response), "form_id")
    assert_unchanged(before)


@pytest.mark.parametrize("code", ["training", "conference", "degree", "paper", "book", "project", "patent", "exam",
                                  "online"])
def test_every_field_of_the_chosen_form_is_required(my_client, me, code):
    """Leaving out any one field the form asks for: a Chinese message naming it, nothing written; the complete
    form is accepted and stores exactly that form's fields (fields of other forms are dropped)."""
    form = learning_form(code)
    for key in form.fields:
        data = full_data(form)
        if key == "dates":
            data.pop("end_date")
            expected = zh("Enter the start and end dates.")
        else:
            data.pop(f"f_{key}")
            expected = zh("%(field)s is required for this learning form.", field=decl_flow.FIELDS[key][0])
        before = state_snapshot()
        response = declare(my_client, data)
        assert response.status_code == 200, key
        assert expected in page(response), key
        assert_unchanged(before)
    # the complete form goes through; a field of another form posted alongside is not stored
    other_key = next(k for k in VALID_DETAILS if k not in form.fields)
    response = declare(my_client, full_data(form, **{f"f_{other_key}": VALID_DETAILS[other_key]}))
    assert zh("Saved as a draft.") in page(response)
    [item] = mine(me)
    assert set(item.details) == set(form.fields) - {"dates"}
    assert item.form_id == form.id and item.state == "draft"


# ------------------------------------------------------------------ P8: draft, edit, delete, submit

def test_save_a_draft_edit_it_and_delete_it(app, my_client, me):
    response = declare(my_client, declaration_data(title="心内科进修", action="draft"))
    assert zh("Saved as a draft.") in page(response)
    [item] = mine(me)
    assert (item.state, item.reviewer_org_id, item.title) == ("draft", None, "心内科进修")
    assert response.request.path == f"/hours/{item.id}"
    assert zh("Not submitted") in page(response)
    [first] = db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id)).all()
    assert os.path.exists(path_of(first))

    edit = page(my_client.get(f"/hours/{item.id}/edit"))
    assert 'value="心内科进修"' in edit and 'value="省卫健委"' in edit  # the saved values are in the form
    response = post_form(my_client, f"/hours/{item.id}/edit",
                         declaration_data(title="心内科进修（修订）", hours="24", f_location="青岛", action="draft"),
                         files=[("结业证.jpg", JPEG)], follow=True)
    assert zh("Saved as a draft.") in page(response)
    [item] = mine(me)
    assert (item.state, item.title, item.hours, item.details["location"]) == ("draft", "心内科进修（修订）", 24,
                                                                              "青岛")
    files = list(db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id)))
    assert sorted(a.filename for a in files) == ["结业证.jpg", "证书.png"]  # the first file stays attached
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "declaration.edit")) == 1

    token = csrf_from(my_client.get(f"/hours/{item.id}").get_data(as_text=True))
    response = my_client.post(f"/hours/{item.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert response.request.path == "/hours/"
    assert zh("The draft has been deleted.") in page(response)
    assert mine(me) == []
    assert db.session.scalar(select(func.count(Attachment.id))) == 0
    assert not any(os.path.exists(path_of(a)) for a in files)  # the files went with it


def test_submit_a_draft_from_its_page(my_client, me, fast_world, outbox):
    declare(my_client, declaration_data(title="急救技能培训", action="draft"))
    [item] = mine(me)
    detail = my_client.get(f"/hours/{item.id}").get_data(as_text=True)
    assert 'id="submit-btn"' in detail and 'id="withdraw-btn"' not in detail
    response = my_client.post(f"/hours/{item.id}/submit", data={"csrf_token": csrf_from(detail)},
                              follow_redirects=True)
    assert zh("Submitted for review.") in page(response)
    assert zh("Waiting for the unit") in page(response)
    assert 'id="withdraw-btn"' in page(response)
    [item] = mine(me)
    assert (item.state, item.reviewer_org_id) == ("pending_unit", fast_world.unit.id)
    assert [m.recipients for m in outbox] == [[fast_world.unit_admin.email]]  # the next reviewer is told


def test_a_pending_declaration_can_be_neither_edited_nor_deleted(my_client, me, fast_world):
    item = make_declaration(fast_world, me, "pending_unit", title="待审的培训")
    before = state_snapshot()
    response = my_client.get(f"/hours/{item.id}/edit", follow_redirects=True)
    assert zh("Only a draft or a rejected declaration can be edited.") in page(response)
    token = csrf_from(response.get_data(as_text=True))
    response = my_client.post(f"/hours/{item.id}/edit", data={"csrf_token": token, **declaration_data(
        title="偷偷改掉", action="submit")}, content_type="multipart/form-data", follow_redirects=True)
    assert zh("Only a draft or a rejected declaration can be edited.") in page(response)
    response = my_client.post(f"/hours/{item.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert zh("Only a draft can be deleted.") in page(response)
    assert_unchanged(before)


# ------------------------------------------------------------------ P9: progress

STATES = {"draft": "草稿的培训", "pending_unit": "单位待审的培训", "pending_dept": "部门待审的培训",
          "approved": "已通过的培训", "rejected": "未通过的培训"}


def test_state_filters_show_the_right_rows(my_client, me, fast_world):
    for state, title in STATES.items():
        make_declaration(fast_world, me, state, title=title)
    make_declaration(fast_world, make_person("另一位申报人", fast_world.unit), "pending_unit", title="别人的培训")
    everything = set(STATES.values()) | {"别人的培训"}
    html = page(my_client.get("/hours/"))
    for label in ("全部", "待提交", "待审核", "审核通过", "审核不通过", zh("Reported by training bases")):
        assert label in html, label
    expected = {"": set(STATES.values()), "draft": {STATES["draft"]},
                "pending": {STATES["pending_unit"], STATES["pending_dept"]}, "approved": {STATES["approved"]},
                "rejected": {STATES["rejected"]}, "nonsense": set(STATES.values())}
    for state, titles in expected.items():
        response = my_client.get("/hours/", query_string={"state": state})
        assert response.status_code == 200
        assert titles_in(page(response), everything) == titles, state


def test_detail_shows_the_review_timeline(my_client, me, fast_world):
    item = make_declaration(fast_world, me, "pending_unit", title="时间线测试培训")
    decl_flow.approve(item, factories.actor_for(fast_world.unit_admin, R.UNIT_ADMIN, fast_world.unit))
    decl_flow.reject(item, factories.actor_for(fast_world.dept_admin, R.DEPT_ADMIN, fast_world.dept), "缺少结业证书")
    html = page(my_client.get(f"/hours/{item.id}"))
    timeline = html.split('class="table table-condensed timeline"')[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>",
                      timeline)
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$")
    assert [(bool(stamp.match(t)), who.split("(")[0], action, reason) for t, who, action, _state, reason in rows] == [
        (True, "申报人张医生", zh("Declaration created"), ""),
        (True, "申报人张医生", zh("Submitted for review"), ""),
        (True, "单位管理员", zh("Approved"), ""),
        (True, "主管部门管理员", zh("Rejected"), "缺少结业证书"),
    ]
    assert rows[-1][3] == zh("Rejected")
    assert me.username not in html and fast_world.dept_admin.username not in html  # actors' 证件号 are masked


def test_withdraw_a_pending_declaration_back_to_draft(my_client, me, fast_world):
    item = make_declaration(fast_world, me, "pending_unit", title="撤回测试培训")
    detail = my_client.get(f"/hours/{item.id}").get_data(as_text=True)
    response = my_client.post(f"/hours/{item.id}/withdraw", data={"csrf_token": csrf_from(detail)},
                              follow_redirects=True)
    assert zh("Withdrawn: the declaration is a draft again.") in page(response)
    assert row_state(item.id)[:2] == ("draft", None)
    # the unit's reviewer no longer has it
    as_user(my_client, fast_world.unit_admin, R.UNIT_ADMIN)
    assert "撤回测试培训" not in page(my_client.get("/review/declarations/"))


def test_a_declaration_past_the_first_level_cannot_be_withdrawn(my_client, me, fast_world):
    item = make_declaration(fast_world, me, "pending_dept", title="已过单位审核的培训")
    before = state_snapshot()
    detail = my_client.get(f"/hours/{item.id}").get_data(as_text=True)
    assert 'id="withdraw-btn"' not in detail
    response = my_client.post(f"/hours/{item.id}/withdraw", data={"csrf_token": csrf_from(detail)},
                              follow_redirects=True)
    assert zh("This action is not allowed in the item's current state.") in page(response)
    assert_unchanged(before)


def test_resubmit_a_rejected_declaration_after_editing(my_client, me, fast_world):
    item = make_declaration(fast_world, me, "rejected", title="被退回的培训")
    edit = page(my_client.get(f"/hours/{item.id}/edit"))
    assert zh("Reason of the rejection:") in edit and "证明材料不清晰" in edit
    response = post_form(my_client, f"/hours/{item.id}/edit",
                         declaration_data(title="被退回的培训（补充材料）", hours="12", action="submit"),
                         files=[("补充证明.pdf", PDF)], follow=True)
    assert zh("Submitted for review.") in page(response)
    state, reviewer, title, hours, reason = row_state(item.id)
    assert (state, reviewer, title, hours, reason) == ("pending_unit", fast_world.unit.id, "被退回的培训（补充材料）", 12, None)
    actions = db.session.scalars(select(AuditLog.action).where(
        AuditLog.object_type == "declaration", AuditLog.object_id == item.id).order_by(AuditLog.id)).all()
    assert actions[-3:] == ["declaration.reject", "declaration.edit", "declaration.submit"]


def test_the_base_tab_lists_hours_reported_by_training_bases(my_client, me, fast_world):
    other = make_person("别的学员", fast_world.unit)
    pending = make_report(fast_world.base_admin, fast_world.base, [me, other], title="待审的基地培训班", hours=6)
    approved = make_report(fast_world.base_admin, fast_world.base, [me], title="已认定的基地培训班", hours=10)
    make_report(fast_world.base_admin, fast_world.base, [other], title="别人的基地培训班")
    report_flow.approve(approved, factories.actor_for(fast_world.city_admin, R.HR_ADMIN, fast_world.city))
    assert pending.state == "pending"
    html = page(my_client.get("/hours/", query_string={"tab": "base"}))
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>.*?</td><td>.*?</td><td>(.*?)</td>\s*<td>"
                      r"<span[^>]*>(.*?)</span>", html, re.S)
    assert sorted((b, t, same_hours(h), s) for b, t, h, s in rows) == sorted([
        (fast_world.base.name, "待审的基地培训班", "6", zh("Pending review")),
        (fast_world.base.name, "已认定的基地培训班", "10", zh("Approved"))])
    assert "别人的基地培训班" not in html
    assert "基地培训班" not in page(my_client.get("/hours/"))  # not mixed into the own declarations


# ------------------------------------------------------------------ T1: bad input, through HTTP

def _training_max() -> str:
    return str(learning_form().max_hours)


BAD_INPUT = [
    # (id, overrides of a valid training declaration, the field whose group shows it or None, msgid, variables)
    ("zero-hours", {"hours": "0"}, "hours", "Hours must be greater than 0.", {}),
    ("negative-hours", {"hours": "-8"}, "hours", "Hours must be greater than 0.", {}),
    ("text-hours", {"hours": "八"}, "hours", "Hours must be a number.", {}),
    ("over-cap", {"hours": "90.5"}, "hours", "One declaration of this form may give at most %(n)s hours.",
     {"n": _training_max}),
    ("end-before-start", {"start_date": (TODAY - datetime.timedelta(days=1)).isoformat(),
                          "end_date": (TODAY - datetime.timedelta(days=5)).isoformat()},
     "end_date", "The end date is before the start date.", {}),
    ("future-dates", {"end_date": (TODAY + datetime.timedelta(days=5)).isoformat()}, "end_date",
     "The dates cannot be in the future.", {}),
    ("no-title", {"title": ""}, "title", "This field is required.", {}),
    ("markup-title", {"title": "<script>alert(1)</script>"}, "title",
     "Enter a title of 2 to 100 characters without < or >.", {}),
    ("no-organiser", {"f_organiser": ""}, "organiser", "%(field)s is required for this learning form.",
     {"field": lambda: decl_flow.FIELDS["organiser"][0]}),
    ("markup-organiser", {"f_organiser": "<img src=x onerror=alert(1)>"}, "organiser",
     "%(field)s is too long or contains < or >.", {"field": lambda: decl_flow.FIELDS["organiser"][0]}),
    ("no-hours", {"hours": ""}, "hours", "This field is required.", {}),
]


@pytest.mark.parametrize("overrides,field,msgid,variables", [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
@pytest.mark.parametrize("action", ["draft", "submit"])
def test_bad_declaration_is_refused_with_a_chinese_message(my_client, me, overrides, field, msgid, variables,
                                                           action):
    before = state_snapshot()
    response = declare(my_client, declaration_data(**{**overrides, "action": action}))
    assert response.status_code == 200
    html = page(response)
    message = zh(msgid, **{k: v() for k, v in variables.items()})
    assert message in html
    group = field_group(html, field if field in ("hours", "title", "end_date", "start_date") else f"f_{field}")
    assert message in group and "field-error" in group  # shown next to the field
    assert_unchanged(before)


@pytest.mark.parametrize("year", [YEAR - decl_flow.YEARS_BACK - 1, YEAR + 1, 1900])
def test_a_year_out_of_range_is_refused(my_client, me, year):
    before = state_snapshot()
    response = declare(my_client, declaration_data(year=str(year), action="submit"))
    assert response.status_code == 200
    assert_field_error_in_chinese(page(response), "year")
    assert_unchanged(before)


def test_form_specific_formats_are_checked(my_client, me):
    paper, book = learning_form("paper"), learning_form("book")
    cases = [(full_data(paper, f_issn="12345678"), "ISSN must look like 1234-567X.", {}),
             (full_data(paper, f_author_rank="挂名作者"), "Choose a value for %(field)s.",
              {"field": decl_flow.FIELDS["author_rank"][0]}),
             (full_data(paper, f_publish_date="2025-02-30"), "%(field)s must be a date.",
              {"field": decl_flow.FIELDS["publish_date"][0]}),
             (full_data(book, f_isbn="12345"), "ISBN must have 10 or 13 digits.", {}),
             (full_data(book, f_words="-3"), "%(field)s must be a positive number.",
              {"field": decl_flow.FIELDS["words"][0]})]
    for data, msgid, variables in cases:
        before = state_snapshot()
        response = declare(my_client, data)
        assert response.status_code == 200
        assert zh(msgid, **variables) in page(response), msgid
        assert_unchanged(before)


def test_the_yearly_cap_of_a_form_counts_submitted_declarations(my_client, me, fast_world):
    conference = learning_form("conference")  # at most 12 hours each, 36 a year
    for n in range(3):
        response = declare(my_client, full_data(conference, title=f"学术会议第{n + 1}场", hours="12",
                                                action="submit"))
        assert zh("Submitted for review.") in page(response)
    before = state_snapshot()
    response = declare(my_client, full_data(conference, title="学术会议第4场", hours="1", action="submit"))
    assert response.status_code == 200
    assert zh("This form gives at most %(cap)s hours a year; %(used)s are already declared for %(year)s.",
              cap=conference.year_cap, used="36.0", year=YEAR) in page(response)
    assert_unchanged(before)


BAD_FILES = [
    ("text-named-png", [("证书.png", b"just some text, not an image")], "%(name)s is not a PNG, JPEG or PDF file.",
     "证书.png"),
    ("svg", [("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')],
     "%(name)s is not a PNG, JPEG or PDF file.", "logo.svg"),
    ("html-named-pdf", [("scan.pdf", b"<html><script>alert(1)</script></html>")],
     "%(name)s is not a PNG, JPEG or PDF file.", "scan.pdf"),
    ("empty", [("empty.pdf", b"")], "%(name)s is not a PNG, JPEG or PDF file.", "empty.pdf"),
    ("good-then-bad", [("ok.png", PNG), ("bad.jpg", b"MZ\x90\x00 an executable")],
     "%(name)s is not a PNG, JPEG or PDF file.", "bad.jpg"),
    ("oversize-6mb", [("big.png", PNG + b"\x00" * (6 * MB))], "%(name)s is larger than 5 MB.", "big.png"),
    ("six-files", [(f"p{n}.png", PNG) for n in range(6)], "At most %(n)s attachments per declaration.", None),
]


@pytest.mark.parametrize("files,msgid,name", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_evidence_files_are_refused_and_nothing_is_stored(my_client, me, files, msgid, name):
    before = state_snapshot()
    response = declare(my_client, declaration_data(action="submit"), files=files)
    assert response.status_code == 200
    message = zh(msgid, name=name) if name else zh(msgid, n=5)
    group = field_group(page(response), "attachments")
    assert message in group and "field-error" in group
    assert_unchanged(before)  # no declaration, no attachment row, no file on disk


def test_a_request_over_the_upload_limit_gets_the_chinese_413_page(my_client, me):
    before = state_snapshot()
    response = declare(my_client, declaration_data(action="submit"), files=[("huge.pdf", PDF + b"0" * (11 * MB))],
                       follow=False)
    assert response.status_code == 413
    assert zh("The upload is too large: at most %(mb)s MB can be sent at once.", mb=10) in page(response)
    assert_unchanged(before)


def test_bad_input_on_edit_changes_nothing(my_client, me, fast_world):
    item = make_declaration(fast_world, me, "draft", title="待修改的草稿")
    before = state_snapshot()
    for data, files, msgid, variables in (
            (declaration_data(title="改坏的草稿", hours="0"), (), "Hours must be greater than 0.", {}),
            (declaration_data(title="改坏的草稿", f_organiser=""), (), "%(field)s is required for this learning form.",
             {"field": decl_flow.FIELDS["organiser"][0]}),
            (declaration_data(title="改坏的草稿"), [("x.png", b"GIF89a")], "%(name)s is not a PNG, JPEG or PDF file.",
             {"name": "x.png"})):
        response = post_form(my_client, f"/hours/{item.id}/edit", data, files)
        assert response.status_code == 200
        assert zh(msgid, **variables) in page(response)
    assert_unchanged(before)


# ------------------------------------------------------------------ evidence files

def test_evidence_is_stored_outside_static_under_a_random_name(app, my_client, me):
    files_before = set(uploaded_files())
    declare(my_client, declaration_data(action="draft"), files=[("结业证书.png", PNG), ("page.html", PDF)])
    [item] = mine(me)
    rows = list(db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id)
                                   .order_by(Attachment.id)))
    assert [(a.filename, a.content_type) for a in rows] == [("结业证书.png", "image/png"),
                                                           ("page.html", "application/pdf")]  # by content
    upload_root = os.path.realpath(app.config["UPLOAD_FOLDER"])
    static_root = os.path.realpath(app.static_folder)
    for row in rows:
        path = os.path.realpath(path_of(row))
        assert path.startswith(upload_root + os.sep) and not path.startswith(static_root + os.sep)
        assert row.filename not in row.stored_name
        assert my_client.get(f"/static/{row.stored_name}").status_code == 404
        assert my_client.get(f"/static/declarations/{row.stored_name}").status_code == 404
    assert set(uploaded_files()) - files_before == {os.path.join("declarations", a.stored_name) for a in rows}


@pytest.mark.parametrize("who,role", [("me", R.PROFESSIONAL), ("unit_admin", R.UNIT_ADMIN),
                                      ("dept_admin", R.DEPT_ADMIN), ("district_admin", R.HR_ADMIN),
                                      ("city_admin", R.HR_ADMIN)])
def test_evidence_is_served_as_an_attachment_with_nosniff(client, fast_world, me, who, role):
    """The applicant and the reviewers whose scope holds the unit download it (others: tests/test_access_matrix)."""
    item = make_declaration(fast_world, me, "pending_unit", title="附件下载测试")
    attachment = db.session.scalar(select(Attachment).where(Attachment.declaration_id == item.id))
    log_in(client, (me if who == "me" else getattr(fast_world, who)).username, role.value)
    detail_url = f"/hours/{item.id}" if who == "me" else f"/review/declarations/{item.id}"
    assert f"/attachments/{attachment.id}" in client.get(detail_url).get_data(as_text=True)
    response = client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 200
    assert response.data == PNG
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E8%AF%81%E4%B9%A6.png" in response.headers["Content-Disposition"]  # 证书.png
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("mode", ["nginx", "apache"])
def test_behind_the_proxy_evidence_leaves_through_it_with_the_same_headers(app, client, fast_world, me, mode,
                                                                          monkeypatch):
    """SENDFILE: the platform checks, the proxy sends the file (X-Accel-Redirect into the internal location of
    deploy/nginx.conf, or X-Sendfile); the name, type and nosniff are the platform's; a stranger gets nothing."""
    monkeypatch.setitem(app.config, "SENDFILE", mode)
    item = make_declaration(fast_world, me, "pending_unit", title="代理发送附件")
    attachment = db.session.scalar(select(Attachment).where(Attachment.declaration_id == item.id))
    log_in(client, fast_world.unit_admin.username, R.UNIT_ADMIN.value)
    response = client.get(f"/attachments/{attachment.id}")
    assert response.status_code == 200 and response.data == b"" and response.mimetype == "image/png"
    if mode == "nginx":
        assert response.headers["X-Accel-Redirect"] == f"/protected/uploads/declarations/{attachment.stored_name}"
    else:
        assert response.headers["X-Sendfile"] == os.path.abspath(path_of(attachment))
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E8%AF%81%E4%B9%A6.png" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"
    stranger = app.test_client()
    log_in(stranger, fast_world.other_district_admin.username, R.HR_ADMIN.value)
    refused = stranger.get(f"/attachments/{attachment.id}")
    assert refused.status_code in (403, 404)
    assert "X-Accel-Redirect" not in refused.headers and "X-Sendfile" not in refused.headers


def test_a_missing_attachment_is_not_found(my_client):
    assert my_client.get("/attachments/999999").status_code == 404


# ------------------------------------------------------------------ the reviewers' queue

def test_queue_shows_masked_id_numbers_and_filters_by_year_subject_and_title(client, fast_world):
    jia, yi = make_person("甲医生", fast_world.unit), make_person("乙医生", fast_world.sub_unit)
    make_declaration(fast_world, jia, title="甲的专业培训")
    make_declaration(fast_world, jia, title="甲的公需培训", subject="public", year=YEAR - 1)
    make_declaration(fast_world, yi, title="乙的专业培训")
    make_declaration(fast_world, jia, "draft", title="甲的草稿")
    titles = {"甲的专业培训", "甲的公需培训", "乙的专业培训", "甲的草稿"}
    log_in(client, fast_world.unit_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get("/review/declarations/"))
    assert titles_in(html, titles) == {"甲的专业培训", "甲的公需培训", "乙的专业培训"}
    for account in (jia, yi):
        assert mask_id_number(account.username) in html
        assert account.username not in html
    for query, expected in (({"year": YEAR - 1}, {"甲的公需培训"}), ({"subject": "public"}, {"甲的公需培训"}),
                            ({"subject": "professional"}, {"甲的专业培训", "乙的专业培训"}),
                            ({"q": "乙的"}, {"乙的专业培训"}),
                            ({"year": YEAR, "subject": "professional", "q": "甲"}, {"甲的专业培训"})):
        response = client.get("/review/declarations/", query_string=query)
        assert titles_in(page(response), titles) == expected, query
    detail = page(client.get(f"/review/declarations/{mine(yi)[0].id}"))
    assert mask_id_number(yi.username) in detail and yi.username not in detail
    assert "乙医生" in detail and fast_world.sub_unit.name in detail and "省卫健委" in detail


def test_queue_next_page_link_walks_every_row_once(client, fast_world):
    person = make_person("多条申报人", fast_world.unit)
    ids = {make_declaration(fast_world, person, title=f"分页测试第{n:02d}条", hours=1, attach=False).id for n in range(25)}
    log_in(client, fast_world.unit_admin.username, R.UNIT_ADMIN.value)
    seen, url, pages = [], "/review/declarations/", 0
    while url:
        html = client.get(url).get_data(as_text=True)
        rows = [int(x) for x in re.findall(r'name="ids" value="(\d+)"', html)]
        assert rows == sorted(rows, reverse=True)  # newest first
        seen += rows
        pages += 1
        nxt = re.search(r'<li class="next"><a href="([^"]+)">([^<]+)</a>', html)
        if nxt:
            assert nxt.group(2) == zh("Next page") and "after=" in nxt.group(1)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    assert pages == 2 and len(seen) == 25 and set(seen) == ids


def test_batch_approve_and_reject_with_a_required_reason(client, fast_world, outbox):
    person = make_person("批量审核申报人", fast_world.unit)
    a, b, c = (make_declaration(fast_world, person, title=f"批量{n}") for n in "甲乙丙")
    token = log_in(client, fast_world.unit_admin.username, R.UNIT_ADMIN.value)

    response = client.post("/review/declarations/decide", data={"csrf_token": token, "action": "approve"},
                           follow_redirects=True)
    assert zh("Select at least one declaration.") in page(response)

    response = client.post("/review/declarations/decide", data={
        "csrf_token": token, "ids": [str(a.id), str(b.id)], "action": "approve"}, follow_redirects=True)
    assert zh("%(n)s declaration(s) handled.", n=2) in page(response)
    assert row_state(a.id)[:2] == row_state(b.id)[:2] == ("pending_dept", fast_world.dept.id)

    before = state_snapshot()
    for reason in ("", "   "):
        response = client.post("/review/declarations/decide", data={
            "csrf_token": token, "ids": str(c.id), "action": "reject", "reason": reason}, follow_redirects=True)
        assert zh("A reason is required to reject.") in page(response)
    assert_unchanged(before)

    mails = len(outbox)
    client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(c.id), "action": "reject",
                                                     "reason": "证书照片模糊"})
    assert row_state(c.id)[0] == "rejected" and row_state(c.id)[4] == "证书照片模糊"
    assert any("证书照片模糊" in m.body and m.recipients == [person.email] for m in outbox[mails:])
    # already decided: a second decision on the same rows changes nothing
    before = state_snapshot()
    response = client.post("/review/declarations/decide", data={
        "csrf_token": token, "ids": [str(a.id), str(c.id)], "action": "approve"}, follow_redirects=True)
    assert zh("This action is not allowed in the item's current state.") in page(response)
    assert_unchanged(before)


# ------------------------------------------------------------------ P10: annual completion

def annual_rows(html: str) -> dict[int, str]:
    return {int(y): body for y, body in re.findall(r'<tr class="year-(\d+)">(.*?)</tr>', html, re.S)}


def same_hours(text: str) -> str:
    """Hours as a page shows them, whichever database: "30.0" (PostgreSQL) and "30" (SQLite) compare equal."""
    return re.sub(r"(?<![\d.])(\d+)\.0(?![\d.])", r"\1", text)


def cells(row: str) -> list[str]:
    return [same_hours(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_annual_page_shows_hours_against_the_standard(my_client, me):
    credit_year(me, 30, 60, YEAR)          # the seeded standard: 30 public, 60 professional, 90 in all
    credit_year(me, 10, 70, YEAR - 1)
    met, not_met, passed, failed = zh("Met"), zh("Not met"), zh("Passed"), zh("Not passed")
    html = page(my_client.get("/hours/annual"))
    rows = annual_rows(html)
    assert sorted(rows) == list(range(YEAR - 4, YEAR + 1))  # the last five years by default
    assert cells(rows[YEAR])[:5] == [str(YEAR), f"30 {met}", f"60 {met}", f"90 {met}", passed]
    assert cells(rows[YEAR - 1])[:5] == [str(YEAR - 1), f"10 {not_met}", f"70 {met}", f"80 {not_met}", failed]
    assert cells(rows[YEAR - 2])[4] == failed
    assert "certificate-btn" in rows[YEAR] and "certificate-btn" not in rows[YEAR - 1]  # only a passed year
    assert "register-btn" in rows[YEAR - 1] and "register-btn" not in rows[YEAR - 2]    # only a year with hours

    ranged = annual_rows(page(my_client.get("/hours/annual", query_string={"year_from": YEAR - 1,
                                                                            "year_to": YEAR - 1})))
    assert list(ranged) == [YEAR - 1]
    old = annual_rows(page(my_client.get("/hours/annual", query_string={"year_from": YEAR - 8,
                                                                         "year_to": YEAR - 6})))
    assert sorted(old) == [YEAR - 8, YEAR - 7, YEAR - 6]
    assert all(zh("(no standard for this year)") in row for row in old.values())  # none seeded that far back


def test_a_regional_standard_decides_the_result_and_is_on_the_standards_page(my_client, me, fast_world):
    region = Region(code="370102", name="甲区")
    db.session.add(region)
    db.session.flush()
    db.session.execute(update(Org).where(Org.id == fast_world.district.id).values(region_id=region.id))
    db.session.add(AnnualStandard(year=YEAR, region_id=region.id, public_min=40, professional_min=60,
                                  total_min=100))
    db.session.commit()
    credit_year(me, 30, 60, YEAR)
    row = cells(annual_rows(page(my_client.get("/hours/annual")))[YEAR])
    assert row[:5] == [str(YEAR), f"30 {zh('Not met')}", f"60 {zh('Met')}", f"90 {zh('Not met')}",
                       zh("Not passed")]
    html = page(my_client.get("/hours/standards"))
    assert zh("Yearly standards") in html
    marks = {int(r[0]): tuple(same_hours(x) for x in r[1:]) for r in re.findall(
        r"<tr><td>(\d{4})</td><td>([\d.]+)</td><td>([\d.]+)</td><td>([\d.]+)</td></tr>", html)}
    assert marks[YEAR] == ("40", "60", "100")  # the region's own
    assert marks[YEAR - 1] == ("30", "60", "90")  # the default where the region has none
    assert sorted(marks) == list(range(YEAR - 4, YEAR + 1))  # the seeded years


def test_the_details_list_every_credited_record_of_the_year(my_client, me, fast_world):
    own = make_declaration(fast_world, me, "approved", title="本人申报的进修", hours=20)
    report = make_report(fast_world.base_admin, fast_world.base, [me], title="基地报送的培训班", hours=6)
    report_flow.approve(report, factories.actor_for(fast_world.city_admin, R.HR_ADMIN, fast_world.city))
    make_declaration(fast_world, me, "pending_hr", title="尚在审核的进修")
    other = make_person("别的专技人员", fast_world.unit)
    make_declaration(fast_world, other, "approved", title="别人的进修")
    html = page(my_client.get(f"/hours/annual/{YEAR}"))
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    rows = [cells(r) for r in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    assert sorted((r[0], r[3], r[4]) for r in rows) == sorted([
        ("本人申报的进修", zh("Own declaration") + " · 省卫健委", "20"),
        ("基地报送的培训班", f"{zh('Reported by a training base')} · {fast_world.base.name}", "6")])
    assert own.title in html and "尚在审核的进修" not in html and "别人的进修" not in html
    assert my_client.get(f"/hours/annual/{YEAR + 1}").status_code == 404
