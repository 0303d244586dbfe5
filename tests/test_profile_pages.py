"""The pages of P6 (profile, title change), P7 (identity correction), U6 / D4 / H3 (personnel change review), S3
(identity correction review) and the evidence downloads, through HTTP as people use them: Chinese pages, T1 bad
input at the field with nothing changed, scope of reviewers and downloads, audit rows."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import AuditLog, ChangeAttachment, IdentityCorrection, Person, RoleName, TitleChange
from app.workflows import identity as id_flow
from tests import factories
from tests.factories import JPEG, PDF, PNG, actor_for
from tests.helpers import (NEW_TITLE, OLD_TITLE, assert_unchanged, cheap_passwords, log_in, make_change,
                           make_correction, page, person_of, professional, state_snapshot, title_of, uploaded_files,
                           zh)

R = RoleName
SANE_PAST = {"a": "1900-01-01", "b": clock.today().isoformat()}


def files(*pairs):
    return [(io.BytesIO(data), name) for name, data in pairs]


def post(client, url, token, data, attachments=None):
    payload = {"csrf_token": token, **data}
    if attachments is not None:
        payload["attachments"] = attachments
        return client.post(url, data=payload, content_type="multipart/form-data")
    return client.post(url, data=payload)


PROFILE = {"gender": "F", "ethnicity": "回族", "native_place": "山东济南", "department": "心内科",
           "education": "硕士研究生", "school": "山东大学", "major": "临床医学", "graduation_date": "2012-07-01",
           "degree": "硕士", "postdoc": "y", "admin_post": "科室主任", "admin_level": "正科级",
           "vocational_qualifications-0": "执业医师", "vocational_qualifications-1": "心理咨询师",
           "academic_titles-0": "泰山学者"}
TITLE_FORM = {"title_series": "卫生技术", "title_level": "副高级", "title_name": "副主任医师",
              "title_date": "2025-06-01", "title_cert_no": "ZC-2025-0042"}


def person_snapshot(account):
    person = db.session.execute(select(Person).where(Person.user_id == account.id)).scalar_one()
    db.session.refresh(person)
    return {c.name: getattr(person, c.name) for c in Person.__table__.columns}


def change_snapshot():
    return (db.session.execute(select(TitleChange.id, TitleChange.state)).all(),
            db.session.execute(select(IdentityCorrection.id, IdentityCorrection.state)).all(),
            db.session.execute(select(ChangeAttachment.id)).all(), uploaded_files(),
            db.session.execute(select(AuditLog.action, AuditLog.object_id).where(AuditLog.action.in_(
                ["profile.edit", "title_change.submit", "identity_correction.submit"]))).all())


# ---------------------------------------------------------------- P6: the profile page

def test_profile_page_in_chinese_with_locked_fields(client, fast_world):
    world = fast_world
    owner = professional(world.unit, "王晓燕")
    log_in(client, owner.username, R.PROFESSIONAL.value)
    html = page(client.get("/profile/"))
    assert zh("My profile") in html and zh("Professional title") in html
    assert owner.username not in html and person_of(owner).masked_id_number in html
    assert "王晓燕" in html and world.unit.name in html
    assert zh("Your name and ID number can only be corrected by support staff, with images of your ID card; a "
              "change of unit goes through a unit transfer.") in html
    assert "主治医师" in html and "2018-09-01" in html
    assert 'name="name"' not in html and 'name="id_number"' not in html and 'name="unit_id"' not in html
    assert zh("Request a title change") in html and zh("Request a correction of name or ID number") in html
    home = page(client.get("/home/"))
    assert zh("My profile") in home and 'href="/profile/"' in home


def test_profile_saves_at_once_with_one_audit_row(client, fast_world):
    world = fast_world
    owner = professional(world.unit)
    token = log_in(client, owner.username, R.PROFESSIONAL.value)
    response = post(client, "/profile/", token, {**PROFILE, "name": "改名", "unit_id": str(world.other_unit.id),
                                                 "title_level": "正高级", "id_number": "110105194912310021"})
    assert response.status_code == 302
    person = person_snapshot(owner)
    assert (person["gender"], person["ethnicity"], person["education"], person["admin_level"]) == \
        ("F", "回族", "硕士研究生", "正科级")
    assert person["graduation_date"].isoformat() == "2012-07-01" and person["postdoc"] is True
    assert person["vocational_qualifications"] == "执业医师,心理咨询师" and person["academic_titles"] == "泰山学者"
    assert (person["name"], person["unit_id"], person["id_number"]) == ("申请职称的医生", world.unit.id,
                                                                        owner.username)
    assert {k: person[k] for k in OLD_TITLE} == OLD_TITLE
    html = page(client.get("/profile/"))
    assert zh("Your profile has been saved.") in html
    assert 'value="执业医师"' in html and 'value="心理咨询师"' in html and 'value="泰山学者"' in html
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "profile.edit")) == 1
    post(client, "/profile/", token, PROFILE)  # the same again: nothing changed, nothing audited
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "profile.edit")) == 1


LONG = "长" * 61
PROFILE_BAD = {
    "school empty": ({"school": ""}, "school", "This field is required."),
    "education not chosen": ({"education": ""}, "education", "This field is required."),
    "education not in the list": ({"education": "<script>"}, "education", "Choose a value from the list."),
    "gender invented": ({"gender": "X"}, "gender", "Choose a value from the list."),
    "school too long": ({"school": LONG}, "school", "At most %(max)d characters.", {"max": 60}),
    "HTML in the major": ({"major": "<img src=x onerror=alert(1)>"}, "major",
                          "Must not contain < > or control characters."),
    "HTML in a qualification": ({"vocational_qualifications-0": "<b>执业医师</b>"}, "vocational_qualifications-0",
                                "Must not contain < > or control characters."),
    "qualification too long": ({"academic_titles-0": "称" * 51}, "academic_titles-0",
                               "At most %(max)d characters.", {"max": 50}),
    "graduation on 30 February": ({"graduation_date": "2012-02-30"}, "graduation_date",
                                  "Enter a valid date such as 2026-11-22."),
    "graduation as text": ({"graduation_date": "去年"}, "graduation_date", "Enter a valid date such as 2026-11-22."),
    "graduation in the future": ({"graduation_date": "2999-01-01"}, "graduation_date",
                                 "The date must lie between %(a)s and today (%(b)s).", SANE_PAST),
    "control character": ({"department": "心内\x00科"}, "department", "Must not contain < > or control characters."),
}


@pytest.mark.parametrize("case", list(PROFILE_BAD))
def test_bad_profile_input_is_refused_at_the_field(client, fast_world, case):
    world = fast_world
    owner = professional(world.unit)
    token = log_in(client, owner.username, R.PROFESSIONAL.value)
    override, field, msgid, *kw = PROFILE_BAD[case]
    before, changes = person_snapshot(owner), change_snapshot()
    response = post(client, "/profile/", token, {**PROFILE, **override})
    assert response.status_code == 200
    html = page(response)
    group = html[html.index(f'id="{field}"'):]
    group = group[:group.index("</div>")]
    assert zh(msgid, **(kw[0] if kw else {})) in group, group
    raw = response.get_data(as_text=True)  # what the browser parses: the payloads only escaped
    assert "<script>x" not in raw and "<img src=x" not in raw and "<b>执业医师" not in raw
    assert person_snapshot(owner) == before and change_snapshot() == changes


# ---------------------------------------------------------------- P6: title change by the professional

def test_title_change_request_withdraw_and_history(client, fast_world):
    world = fast_world
    owner = professional(world.unit)
    token = log_in(client, owner.username, R.PROFESSIONAL.value)
    html = page(client.get("/profile/title"))
    assert zh("Change of professional title") in html and 'value="主治医师"' in html
    response = post(client, "/profile/title", token, TITLE_FORM, files(("职称证书.png", PNG), ("聘书.pdf", PDF)))
    assert response.status_code == 302
    assert title_of(owner) == OLD_TITLE  # the old title stays in force
    html = page(client.get("/profile/"))
    assert zh("Your title change has been submitted to your unit for review.") in html
    assert zh("Pending review") in html and world.unit.name in html
    assert "职称证书.png" in html and "副主任医师" in html
    # one at a time: the form is not offered, a second post is refused
    assert zh("A title change is already under review. Withdraw it first or wait for the decision.") in \
        page(client.get("/profile/title"))
    before = change_snapshot()
    post(client, "/profile/title", token, {**TITLE_FORM, "title_level": "正高级"}, files(("证书.png", PNG)))
    assert change_snapshot() == before
    item = db.session.scalar(select(TitleChange))
    client.post(f"/profile/title/{item.id}/withdraw", data={"csrf_token": token})
    assert db.session.execute(select(TitleChange.state)).scalar_one() == "withdrawn"
    html = page(client.get("/profile/"))
    assert zh("The title change has been withdrawn.") in html and zh("Withdrawn") in html
    # a rejected one shows the reviewer's reason, before → after
    item = make_change(world, owner, "rejected")
    html = page(client.get("/profile/"))
    assert "证书编号与扫描件不符" in html and "主治医师" in html and "副主任医师" in html


TITLE_BAD = {
    "no file": ({}, [], "attachments", "Attach at least one evidence file."),
    "text behind .png": ({}, [("证书.png", b"just some text")], "attachments",
                         "%(name)s is not a PNG, JPEG or PDF file.", {"name": "证书.png"}),
    "HTML behind .pdf": ({}, [("证书.pdf", b"<html><body>x</body></html>")], "attachments",
                         "%(name)s is not a PNG, JPEG or PDF file.", {"name": "证书.pdf"}),
    "nothing changes": ({"title_level": "中级", "title_name": "主治医师", "title_date": "2018-09-01",
                         "title_cert_no": "ZC-2018-0001"}, [("证书.png", PNG)], "title_series",
                        "The new title is the same as the current one: nothing to change."),
    "series empty": ({"title_series": ""}, [("证书.png", PNG)], "title_series", "This field is required."),
    "series invented": ({"title_series": "魔法"}, [("证书.png", PNG)], "title_series",
                        "Choose a value from the list."),
    "HTML in the title": ({"title_name": "<script>alert(1)</script>"}, [("证书.png", PNG)], "title_name",
                          "Must not contain < > or control characters."),
    "title too long": ({"title_name": "职" * 51}, [("证书.png", PNG)], "title_name",
                       "At most %(max)d characters.", {"max": 50}),
    "impossible date": ({"title_date": "2025-13-01"}, [("证书.png", PNG)], "title_date",
                        "Enter a valid date such as 2026-11-22."),
    "future date": ({"title_date": "2999-06-01"}, [("证书.png", PNG)], "title_date",
                    "The date must lie between %(a)s and today (%(b)s).", SANE_PAST),
    "certificate number too long": ({"title_cert_no": "9" * 51}, [("证书.png", PNG)], "title_cert_no",
                                    "At most %(max)d characters.", {"max": 50}),
}


@pytest.mark.parametrize("case", list(TITLE_BAD))
def test_bad_title_change_is_refused_at_the_field(client, fast_world, case):
    world = fast_world
    owner = professional(world.unit)
    token = log_in(client, owner.username, R.PROFESSIONAL.value)
    override, attached, field, msgid, *kw = TITLE_BAD[case]
    before, person = change_snapshot(), person_snapshot(owner)
    response = post(client, "/profile/title", token, {**TITLE_FORM, **override}, files(*attached))
    assert response.status_code == 200
    html = page(response)
    group = html[html.index(f'id="group-{field}"'):]
    group = group[:group.index("</div>")]
    assert zh(msgid, **(kw[0] if kw else {})) in group, group
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    assert change_snapshot() == before and person_snapshot(owner) == person


# ---------------------------------------------------------------- P7: identity correction by the professional

def test_identity_request_and_withdraw(client, fast_world):
    world = fast_world
    owner = professional(world.unit, "李明")
    token = log_in(client, owner.username, R.PROFESSIONAL.value)
    html = page(client.get("/profile/identity"))
    assert zh("Correction of name or ID number") in html and owner.username not in html
    number = factories.new_id_number()
    response = post(client, "/profile/identity", token, {"new_name": "李小明", "new_id_number": number,
                                                         "note": "身份证换发"}, files(("正面.png", PNG), ("反面.jpg", JPEG)))
    assert response.status_code == 302
    html = page(client.get("/profile/"))
    assert zh("Your request has been sent to support staff.") in html
    assert number not in html and "李小明" in html
    item = db.session.scalar(select(IdentityCorrection))
    assert (item.new_name, item.new_id_number, item.old_id_number) == ("李小明", number, owner.username)
    client.post(f"/profile/identity/{item.id}/withdraw", data={"csrf_token": token})
    assert db.session.execute(select(IdentityCorrection.state)).scalar_one() == "withdrawn"


IDENTITY_BAD = {
    "empty name": ({"new_name": ""}, None, "new_name", "This field is required."),
    "HTML name": ({"new_name": "<b>李小明</b>"}, None, "new_name",
                  "Name may only contain Chinese characters, letters, spaces and the middle dot"),
    "too long name": ({"new_name": "李" * 31}, None, "new_name", "At most %(max)d characters.", {"max": 30}),
    "empty number": ({"new_id_number": ""}, None, "new_id_number", "This field is required."),
    "wrong check digit": ({"new_id_number": "110105194912310021"}, None, "new_id_number",
                          "ID number check digit is wrong"),
    "19 digits": ({"new_id_number": "11010519491231002X1"}, None, "new_id_number",
                  "ID number must be 18 characters"),
    "impossible birth date": ({"new_id_number": "110105194913310028"}, None, "new_id_number",
                              "ID number contains an invalid date of birth"),
    "another account's number": ("taken", None, "new_id_number", "This ID number belongs to another account."),
    "no image": ({}, [], "attachments", "Attach one or two images of the ID card."),
    "three images": ({}, [("1.png", PNG), ("2.png", PNG), ("3.png", PNG)], "attachments",
                     "Attach one or two images of the ID card."),
    "a PDF": ({}, [("身份证.pdf", PDF)], "attachments", "The ID card must be a PNG or JPEG image."),
    "text behind .jpg": ({}, [("身份证.jpg", b"plain text")], "attachments",
                         "%(name)s is not a PNG, JPEG or PDF file.", {"name": "身份证.jpg"}),
    "note with HTML": ({"note": "<script>x</script>"}, None, "note", "Must not contain < > or control characters."),
}


@pytest.mark.parametrize("case", list(IDENTITY_BAD))
def test_bad_identity_request_is_refused_at_the_field(client, fast_world, case):
    world = fast_world
    owner = professional(world.unit)
    token = log_in(client, owner.username, R.PROFESSIONAL.value)
    override, attached, field, msgid, *kw = IDENTITY_BAD[case]
    if override == "taken":
        override = {"new_id_number": world.unit_admin.username}
    data = {"new_name": "李小明", "new_id_number": factories.new_id_number(), **override}
    before, person = change_snapshot(), person_snapshot(owner)
    response = post(client, "/profile/identity", token, data,
                    files(*(attached if attached is not None else [("正面.png", PNG)])))
    assert response.status_code == 200
    html = page(response)
    group = html[html.index(f'id="group-{field}"'):]
    group = group[:group.index("</div>")]
    assert zh(msgid, **(kw[0] if kw else {})) in group, group
    raw = response.get_data(as_text=True)
    assert "<script>x</script>" not in raw and "<b>李小明</b>" not in raw
    assert change_snapshot() == before and person_snapshot(owner) == person


# ---------------------------------------------------------------- U6 / D4 / H3: the review pages

def test_unit_admin_reviews_with_a_diff_and_decides_in_batch(client, fast_world, outbox):
    world = fast_world
    first, second = professional(world.unit, "甲医生"), professional(world.sub_unit, "乙医生")
    a, b = make_change(world, first), make_change(world, second)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get("/review/personnel/"))
    assert zh("Personnel change review") in html and "甲医生" in html and "乙医生" in html
    assert first.username not in html and person_of(first).masked_id_number in html
    assert "副高级" in html and "中级" in html
    nav = page(client.get("/home/"))
    assert zh("Personnel change review") in nav
    detail = page(client.get(f"/review/personnel/{a.id}"))
    assert 'class="warning changed" data-field="title_level"' in detail
    assert 'data-field="title_series"' in detail and 'class="warning changed" data-field="title_series"' not in detail
    assert "职称证书.png" in detail
    # reject without a reason: refused, nothing changes
    client.post("/review/personnel/decide", data={"csrf_token": token, "ids": [str(a.id), str(b.id)],
                                                  "action": "reject"})
    assert page(client.get("/review/personnel/")).count(zh("A reason is required to reject.")) == 1
    assert {s for s, in db.session.execute(select(TitleChange.state))} == {"pending"}
    client.post("/review/personnel/decide", data={"csrf_token": token, "ids": [str(a.id), str(b.id)],
                                                  "action": "approve"})
    assert {s for s, in db.session.execute(select(TitleChange.state))} == {"approved"}
    assert title_of(first) == NEW_TITLE and title_of(second) == NEW_TITLE
    assert sorted(m.recipients for m in outbox if m.recipients in ([first.email], [second.email])) == sorted(
        [[first.email], [second.email]])  # (the admins were told of the requests too)
    approved = page(client.get("/review/personnel/?state=approved"))
    assert "甲医生" in approved and "乙医生" in approved
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "title_change.approve")) == 2


def test_rejected_tab_shows_the_reason(client, fast_world):
    world = fast_world
    item = make_change(world, professional(world.unit, "丙医生"))
    token = log_in(client, world.dept_admin.username, R.DEPT_ADMIN.value)
    client.post("/review/personnel/decide", data={"csrf_token": token, "ids": str(item.id), "action": "reject",
                                                  "reason": "聘书缺少盖章"})
    html = page(client.get("/review/personnel/?state=rejected"))
    assert "丙医生" in html and "聘书缺少盖章" in html


OUT_OF_SCOPE = [("other_unit_admin", R.UNIT_ADMIN, "unit"), ("sub_unit_admin", R.UNIT_ADMIN, "unit"),
                ("unit_admin", R.UNIT_ADMIN, "other_unit"), ("dept_admin", R.DEPT_ADMIN, "other_unit"),
                ("other_district_admin", R.HR_ADMIN, "sub_unit")]


@pytest.mark.parametrize("admin,role,unit", OUT_OF_SCOPE, ids=[f"{a}-vs-{u}" for a, _, u in OUT_OF_SCOPE])
def test_admin_outside_the_subtree_cannot_see_or_decide(client, fast_world, admin, role, unit):
    world = fast_world
    owner = professional(getattr(world, unit), "越权对象")
    item = make_change(world, owner)
    attachment = db.session.scalar(select(ChangeAttachment.id))
    token = log_in(client, getattr(world, admin).username, role.value)
    before, title = state_snapshot(), title_of(owner)
    assert "越权对象" not in page(client.get("/review/personnel/"))
    for url in (f"/review/personnel/{item.id}", f"/change-files/{attachment}"):
        response = client.get(url)
        assert response.status_code == 404 and "越权对象" not in page(response), url
    for action in ("approve", "reject"):
        response = client.post("/review/personnel/decide", data={"csrf_token": token, "ids": str(item.id),
                                                                 "action": action, "reason": "越权"})
        assert response.status_code in (302, 403, 404)
    assert db.session.execute(select(TitleChange.state)).scalar_one() == "pending"
    assert title_of(owner) == title
    assert_unchanged(before)


def test_professional_cannot_act_as_reviewer(client, fast_world):
    world = fast_world
    item = make_change(world, professional(world.unit, "被审者"))
    colleague = professional(world.unit, "好奇的同事")
    token = log_in(client, colleague.username, R.PROFESSIONAL.value)
    before = state_snapshot()
    assert client.get("/review/personnel/").status_code == 403
    assert client.get(f"/review/personnel/{item.id}").status_code == 403
    assert client.post("/review/personnel/decide", data={"csrf_token": token, "ids": str(item.id),
                                                         "action": "approve"}).status_code == 403
    assert client.post(f"/profile/title/{item.id}/withdraw", data={"csrf_token": token}).status_code == 404
    assert client.get("/support/identity/").status_code == 403
    assert db.session.execute(select(TitleChange.state)).scalar_one() == "pending"
    assert_unchanged(before)


# ---------------------------------------------------------------- the evidence downloads

def _download_ok(response, content):
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.data == content


@pytest.mark.parametrize("who,role,ok", [("owner", R.PROFESSIONAL, True), ("unit_admin", R.UNIT_ADMIN, True),
                                         ("dept_admin", R.DEPT_ADMIN, True), ("city_admin", R.HR_ADMIN, True),
                                         ("colleague", R.PROFESSIONAL, False),
                                         ("other_unit_admin", R.UNIT_ADMIN, False),
                                         ("sub_unit_admin", R.UNIT_ADMIN, False),
                                         ("base_admin", R.BASE_ADMIN, False), ("support", R.SUPPORT, False),
                                         ("sysadmin", R.SYSADMIN, False), ("auditor", R.AUDITOR, False)])
def test_title_change_evidence_only_to_those_who_may_see_it(client, fast_world, who, role, ok):
    world = fast_world
    owner = professional(world.unit)
    make_change(world, owner)
    attachment = db.session.scalar(select(ChangeAttachment.id))
    account = {"owner": owner, "colleague": None}.get(who) or getattr(world, who, None) or \
        professional(world.unit, "同科室的同事")
    log_in(client, account.username, role.value)
    response = client.get(f"/change-files/{attachment}")
    if ok:
        _download_ok(response, PNG)
    else:
        assert response.status_code == 404
    assert client.get("/change-files/999999").status_code == 404


@pytest.mark.parametrize("who,role,ok", [("owner", R.PROFESSIONAL, True), ("support", R.SUPPORT, True),
                                         ("sysadmin", R.SYSADMIN, False), ("unit_admin", R.UNIT_ADMIN, False),
                                         ("city_admin", R.HR_ADMIN, False), ("auditor", R.AUDITOR, False),
                                         ("colleague", R.PROFESSIONAL, False)])
def test_identity_images_only_to_the_applicant_and_support(client, fast_world, who, role, ok):
    world = fast_world
    owner = professional(world.unit)
    make_correction(world, owner)
    attachment = db.session.scalar(select(ChangeAttachment.id).order_by(ChangeAttachment.id))
    account = {"owner": owner}.get(who) or getattr(world, who, None) or professional(world.unit, "同事")
    log_in(client, account.username, role.value)
    response = client.get(f"/change-files/{attachment}")
    if ok:
        _download_ok(response, PNG)
    else:
        assert response.status_code == 404


def test_download_needs_a_login(client, fast_world):
    make_change(fast_world, professional(fast_world.unit))
    attachment = db.session.scalar(select(ChangeAttachment.id))
    response = client.get(f"/change-files/{attachment}")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


# ---------------------------------------------------------------- S3: the support pages

def test_support_reviews_identity_with_full_numbers_audited(app, client, fast_world, outbox):
    world = fast_world
    owner = professional(world.unit, "李明")
    old_number = owner.username
    number = factories.new_id_number()
    item = id_flow.submit(actor_for(owner, R.PROFESSIONAL, world.unit), "李小明", number,
                          [("正面.png", PNG), ("反面.jpg", JPEG)])
    token = log_in(client, world.support.username, R.SUPPORT.value)
    listing = page(client.get("/support/identity/"))
    assert zh("Identity corrections") in listing and "李小明" in listing
    assert number not in listing and old_number not in listing  # masked in the list
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "identity.view")) == 0
    detail = page(client.get(f"/support/identity/{item.id}"))
    assert number in detail and old_number in detail and "正面.png" in detail
    views = db.session.scalars(select(AuditLog).where(AuditLog.action == "identity.view")).all()
    assert len(views) == 1 and (views[0].actor_id, views[0].object_id) == (world.support.id, item.id)
    client.post(f"/support/identity/{item.id}/decide", data={"csrf_token": token, "action": "reject"})
    assert db.session.execute(select(IdentityCorrection.state)).scalar_one() == "pending"
    client.post(f"/support/identity/{item.id}/decide", data={"csrf_token": token, "action": "approve"})
    assert db.session.execute(select(IdentityCorrection.state)).scalar_one() == "approved"
    assert person_snapshot(owner)["id_number"] == number
    assert zh("The correction has been approved and applied.") in page(client.get("/support/identity/?state=approved"))
    fresh = app.test_client()
    log_in(fresh, number, R.PROFESSIONAL.value)
    assert "李小明" in page(fresh.get("/profile/"))


@pytest.mark.parametrize("who,role", [("sysadmin", R.SYSADMIN), ("unit_admin", R.UNIT_ADMIN),
                                      ("city_admin", R.HR_ADMIN), ("auditor", R.AUDITOR)])
def test_only_support_reaches_the_identity_pages(client, fast_world, who, role):
    world = fast_world
    item = make_correction(world, professional(world.unit))
    token = log_in(client, getattr(world, who).username, role.value)
    before = state_snapshot()
    assert client.get("/support/identity/").status_code == 403
    assert client.get(f"/support/identity/{item.id}").status_code == 403
    assert client.post(f"/support/identity/{item.id}/decide", data={"csrf_token": token,
                                                                    "action": "approve"}).status_code == 403
    assert db.session.execute(select(IdentityCorrection.state)).scalar_one() == "pending"
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "identity.view")) == 0
    assert_unchanged(before)


def test_pages_render_for_reviewers_in_english_too(client, fast_world):
    world = fast_world
    make_change(world, professional(world.unit, "英文界面"))
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    client.get("/lang/en")
    assert client.get("/review/personnel/").status_code == 200


def test_home_cards_count_what_waits(client, fast_world):
    world = fast_world
    make_change(world, professional(world.sub_unit, "分院医生"))
    make_change(world, professional(world.other_unit, "乙校老师"))
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get("/home/"))
    card = html[html.index('id="pending-changes-card"'):]
    assert zh("Title changes waiting for your review") in card[:400]
    assert '<span class="stat-number">1</span>' in card[:400]
    assert 'id="pending-corrections-card"' not in html
    support = factories.make_account("另一位客服", [(R.SUPPORT, None)])
    cheap_passwords()
    make_correction(world, professional(world.unit, "改名的人"))
    other = client.application.test_client()
    log_in(other, support.username, R.SUPPORT.value)
    html = page(other.get("/home/"))
    card = html[html.index('id="pending-corrections-card"'):]
    assert '<span class="stat-number">1</span>' in card[:400] and 'id="pending-changes-card"' not in html


@pytest.mark.parametrize("modules,ok", [(["registrations"], False), (["personnel"], True)])
def test_org_defined_role_without_the_personnel_module_reaches_no_evidence(client, fast_world, modules, ok):
    import json

    from app.models import Membership, OrgRole

    world = fast_world
    item = make_change(world, professional(world.unit, "模块测试"))
    attachment = db.session.scalar(select(ChangeAttachment.id))
    deputy = factories.make_account("只审注册的管理员", [(R.UNIT_ADMIN, world.unit)])
    cheap_passwords()
    role = OrgRole(org_id=world.unit.id, name="注册审核员", modules_json=json.dumps(modules))
    db.session.add(role)
    db.session.flush()
    membership = db.session.scalar(select(Membership).where(Membership.user_id == deputy.id))
    membership.is_super, membership.org_role_id = False, role.id
    db.session.commit()
    log_in(client, deputy.username, R.UNIT_ADMIN.value)
    assert (client.get(f"/change-files/{attachment}").status_code == 200) is ok
    assert (client.get(f"/review/personnel/{item.id}").status_code == 200) is ok
