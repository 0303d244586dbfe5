"""Issue 8: every review queue row opens a detail page. A registration's page shows what the applicant entered (the
ID number masked, no birth date beside a number that carries it), an org's licence scan to the reviewers in scope
only (audited), and takes the decision through the batch's workflow function; a transfer's page likewise."""
from __future__ import annotations

import datetime
import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.models import (AuditLog, ChangeAttachment, Membership, MembershipState, OrgKind, Person, Registration,
                        RoleName, Transfer)
from app.validators import birth_date_and_gender, mask_id_number
from app.workflows import registration as reg_flow
from app.workflows import transfer as transfer_flow
from tests import factories
from tests.helpers import cheap_passwords, log_in, make_person, page, register, submit, zh

R = RoleName


pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


def png_bytes() -> bytes:
    """A real PNG picture (it opens and verifies as an image)."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def decisions(reg_id: int) -> list[str]:
    return list(db.session.execute(select(AuditLog.action).where(
        AuditLog.object_type == "registration", AuditLog.object_id == reg_id,
        AuditLog.action.in_(["registration.approve", "registration.reject"]))).scalars())


def state_of(reg_id: int) -> str:
    return db.session.execute(select(Registration.state).where(Registration.id == reg_id)).scalar_one()


def licence_views(reg_id: int) -> int:
    return db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "licence.view", AuditLog.object_id == reg_id)) or 0


def cell(html: str, key: str) -> str:
    """The text of a detail page's value cell."""
    match = re.search(rf'<td data-field="{key}"[^>]*>(.*?)</td>', html, re.S)
    assert match, f"no field {key} on the page"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


PERSON = dict(name="赵详情", gender="F", ethnicity="回族", native_place="山东济南", department="心内科",
              education="硕士研究生", school="山东大学", major="临床医学", graduation_date="2012-07-01", degree="硕士",
              postdoc="y", admin_post="科室副主任", title_series="卫生技术", title_level="副高级",
              title_name="副主任医师", title_date="2019-12-01", title_cert_no="WS-2019-0042",
              vocational_qualifications="执业医师，心血管介入", academic_titles="省级青年专家",
              mobile="13912340001", email="zhao.detail@example.cn")


def register_person_through_page(client, unit, **overrides):
    form = factories.person_form(unit, **{**PERSON, **overrides})
    response = submit(client, "/public/register/person", form)
    assert response.status_code == 200 and "注册信息已提交审核" in page(response), page(response)[:3000]
    reg = db.session.scalar(select(Registration).where(Registration.applicant_name == form["name"])
                            .order_by(Registration.id.desc()))
    return reg, form


def register_unit_through_page(client, parent, *, licence=None, **overrides):
    form = factories.org_form(parent, org_name="详情测试医院", address="经十路100号", phone="0531-86660000",
                              nature="事业单位", industry="卫生健康", name="钱管理", **overrides)
    if licence is not None:
        form["licence"] = (io.BytesIO(licence[1]), licence[0])
    response = submit(client, "/public/register/unit", form)
    return response, form


# ---------------------------------------------------------------- a professional's registration

def test_queue_row_opens_a_detail_page_with_everything_entered(client, fast_world):
    world = fast_world
    reg, form = register_person_through_page(client, world.sub_unit)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)

    queue = page(client.get("/review/registrations/"))
    assert f'href="/review/registrations/{reg.id}"' in queue  # the row opens its detail page
    html = page(client.get(f"/review/registrations/{reg.id}"))
    expected = {key: form[key] for key in ("name", "native_place", "department", "school", "major", "title_name",
                                           "title_cert_no", "vocational_qualifications", "academic_titles",
                                           "education", "degree", "title_series", "title_level", "ethnicity",
                                           "graduation_date", "title_date", "mobile", "email", "admin_post")}
    expected.update(unit=world.sub_unit.name, gender=zh("Female"), postdoc=zh("Yes"),
                    id_type=zh("Resident ID card"), id_number=mask_id_number(form["id_number"]))
    for key, value in expected.items():
        assert cell(html, key) == value, key
    assert cell(html, "reviewer_org") == world.sub_unit.name
    assert form["id_number"] not in html  # reviewers get the masked number only
    # the birth date is the part of a resident number the mask hides: it is not shown beside it
    born = birth_date_and_gender(form["id_number"])[0]
    assert born.isoformat() not in html and born.strftime("%Y%m%d") not in html
    assert cell(html, "birth_date") == zh("Contained in the ID number (not shown)")
    assert 'id="decide-form"' in html and 'id="approve-btn"' in html and 'id="reject-btn"' in html
    assert token


def test_birth_date_is_shown_beside_a_number_that_does_not_carry_it(client, fast_world):
    world = fast_world
    reg, form = register_person_through_page(client, world.unit, id_type="passport", id_number="E12345678",
                                             name="钱护照")
    person = db.session.scalar(select(Person).where(Person.user_id == reg.user_id))
    person.birth_date = datetime.date(1988, 3, 9)
    db.session.commit()
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get(f"/review/registrations/{reg.id}"))
    assert cell(html, "birth_date") == "1988-03-09"
    assert cell(html, "id_number") == mask_id_number("E12345678") and "E12345678" not in html
    assert reg_flow.birth_date_shown("E12345678") and not reg_flow.birth_date_shown(factories.new_id_number())


# ---------------------------------------------------------------- deciding on the detail page

def post_decision(client, token, reg_id, action, reason=None):
    data = {"csrf_token": token, "action": action}
    if reason is not None:
        data["reason"] = reason
    return client.post(f"/review/registrations/{reg_id}/decide", data=data)


def test_approve_on_the_detail_page(client, fast_world, outbox):
    world = fast_world
    reg = register(world.unit, "孙批准")
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    response = post_decision(client, token, reg.id, "approve")
    assert response.status_code == 302 and response.headers["Location"].endswith("/review/registrations/")
    assert state_of(reg.id) == "approved" and decisions(reg.id) == ["registration.approve"]
    assert db.session.execute(select(Membership.state).where(Membership.id == reg.membership_id)).scalar_one() \
        == MembershipState.ACTIVE.value
    assert [m.recipients for m in outbox if m.recipients != [world.unit_admin.email]] == [[reg.user.email]]  # the
    # applicant hears of it, as from the batch
    # an already-decided row shows its state and decision, no buttons
    html = page(client.get(f"/review/registrations/{reg.id}"))
    assert cell(html, "state") == zh("Approved") and cell(html, "decided_by") == world.unit_admin.first_name
    assert 'id="decide-form"' not in html and 'approve-btn' not in html


def test_reject_needs_a_reason_then_shows_it(client, fast_world):
    world = fast_world
    reg = register(world.unit, "孙驳回详情")
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    for reason in (None, "", "   "):
        response = post_decision(client, token, reg.id, "reject", reason)
        assert response.headers["Location"].endswith(f"/review/registrations/{reg.id}")
        assert state_of(reg.id) == "pending" and decisions(reg.id) == []
    assert zh("A reason is required to reject.") in page(client.get(f"/review/registrations/{reg.id}"))
    post_decision(client, token, reg.id, "reject", "学历信息与证书不符")
    assert state_of(reg.id) == "rejected" and decisions(reg.id) == ["registration.reject"]
    html = page(client.get(f"/review/registrations/{reg.id}"))
    assert cell(html, "reason") == "学历信息与证书不符" and 'id="decide-form"' not in html


def test_a_second_decision_makes_no_second_transition(client, fast_world):
    world = fast_world
    reg = register(world.unit, "孙双击")
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    post_decision(client, token, reg.id, "approve")
    for action, reason in (("approve", None), ("reject", "重复提交")):
        response = post_decision(client, token, reg.id, action, reason)
        assert response.headers["Location"].endswith(f"/review/registrations/{reg.id}")
    # and the batch on the same row after the detail page's decision
    client.post("/review/registrations/decide", data={"csrf_token": token, "ids": str(reg.id), "action": "reject",
                                                      "reason": "重复"})
    assert state_of(reg.id) == "approved" and decisions(reg.id) == ["registration.approve"]


def test_the_detail_of_ones_own_registration_offers_no_decision(client, fast_world):
    world = fast_world
    reg = register(world.unit, world.unit_admin.first_name, account=world.unit_admin)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get(f"/review/registrations/{reg.id}"))
    assert 'id="decide-form"' not in html and zh("You cannot decide your own registration.") in html
    post_decision(client, token, reg.id, "approve")
    assert state_of(reg.id) == "pending" and decisions(reg.id) == []


# ---------------------------------------------------------------- an org's registration and its licence scan

def test_org_detail_shows_the_org_and_its_licence_scan_to_the_reviewer(client, fast_world):
    world = fast_world
    scan = png_bytes()
    response, form = register_unit_through_page(client, world.dept, licence=("营业执照.png", scan))
    assert "注册信息已提交审核" in page(response), page(response)[:3000]
    reg = db.session.scalar(select(Registration).where(Registration.applicant_name == "详情测试医院"))
    log_in(client, world.dept_admin.username, R.DEPT_ADMIN.value)
    html = page(client.get(f"/review/registrations/{reg.id}"))
    expected = {"org_name": "详情测试医院", "kind": zh("Employer unit"), "credit_code": form["credit_code"],
                "parent": world.dept.name, "nature": "事业单位", "industry": "卫生健康", "address": "经十路100号",
                "phone": "0531-86660000", "contact": "钱管理", "name": "钱管理",
                "id_number": mask_id_number(form["id_number"]), "mobile": form["mobile"], "email": form["email"]}
    for key, value in expected.items():
        assert cell(html, key) == value, key
    assert form["id_number"] not in html
    licence_url = f"/review/registrations/{reg.id}/licence"
    assert f'src="{licence_url}?inline=1"' in html  # the picture is shown on the page

    inline = client.get(f"{licence_url}?inline=1")
    assert inline.status_code == 200 and inline.data == scan and inline.mimetype == "image/png"
    assert inline.headers["X-Content-Type-Options"] == "nosniff" and "no-store" in inline.headers["Cache-Control"]
    assert "attachment" not in inline.headers.get("Content-Disposition", "")
    download = client.get(licence_url)
    assert download.status_code == 200 and download.data == scan
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert licence_views(reg.id) == 2  # each opening is a sensitive read in the audit trail


def test_an_org_without_a_scan_says_so(client, fast_world):
    world = fast_world
    register_unit_through_page(client, world.dept)
    reg = db.session.scalar(select(Registration).where(Registration.applicant_name == "详情测试医院"))
    log_in(client, world.dept_admin.username, R.DEPT_ADMIN.value)
    html = page(client.get(f"/review/registrations/{reg.id}"))
    assert zh("No business licence scan was uploaded.") in html
    assert client.get(f"/review/registrations/{reg.id}/licence").status_code == 404


def test_a_licence_that_is_no_image_is_refused_and_nothing_stored(client, fast_world):
    world = fast_world
    response, _ = register_unit_through_page(client, world.dept,
                                             licence=("执照.png", b"<html><script>alert(1)</script></html>"))
    assert "注册信息已提交审核" not in page(response)
    assert db.session.scalar(select(func.count(Registration.id))) == 0
    assert db.session.scalar(select(func.count(ChangeAttachment.id))) == 0


# reviewers who hold the page but not the registration, and roles without the page
OUTSIDERS = [
    ("other_district_admin", R.HR_ADMIN, 404),
    ("other_unit_admin", R.UNIT_ADMIN, 404),
    ("unit_admin", R.UNIT_ADMIN, 404),      # below the department the unit registered under
    ("sub_unit_admin", R.UNIT_ADMIN, 404),
    ("base_admin", R.BASE_ADMIN, 403),
    ("support", R.SUPPORT, 403),
    ("sysadmin", R.SYSADMIN, 403),
    ("auditor", R.AUDITOR, 403),
]


@pytest.mark.parametrize("who,role,status", OUTSIDERS, ids=[o[0] for o in OUTSIDERS])
def test_outsiders_reach_neither_the_detail_nor_the_scan(client, fast_world, who, role, status):
    world = fast_world
    scan = png_bytes()
    register_unit_through_page(client, world.dept, licence=("营业执照.png", scan))
    reg = db.session.scalar(select(Registration).where(Registration.applicant_name == "详情测试医院"))
    token = log_in(client, getattr(world, who).username, role.value)
    for url in (f"/review/registrations/{reg.id}", f"/review/registrations/{reg.id}/licence",
                f"/review/registrations/{reg.id}/licence?inline=1"):
        response = client.get(url)
        assert response.status_code == status, url
        assert response.data != scan and "详情测试医院" not in page(response)
    response = post_decision(client, token, reg.id, "approve")
    assert response.status_code == status
    assert state_of(reg.id) == "pending" and decisions(reg.id) == [] and licence_views(reg.id) == 0


def test_anonymous_visitors_are_sent_to_the_login(client, fast_world):
    world = fast_world
    register_unit_through_page(client, world.dept, licence=("营业执照.png", png_bytes()))
    reg = db.session.scalar(select(Registration).where(Registration.applicant_name == "详情测试医院"))
    for url in (f"/review/registrations/{reg.id}", f"/review/registrations/{reg.id}/licence"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_the_hr_bureau_above_sees_the_same_detail(client, fast_world):
    """The subtree rule downwards: the district bureau above the department reviews its registrations too."""
    world = fast_world
    register_unit_through_page(client, world.dept, licence=("营业执照.png", png_bytes()))
    reg = db.session.scalar(select(Registration).where(Registration.applicant_name == "详情测试医院"))
    log_in(client, world.district_admin.username, R.HR_ADMIN.value)
    assert client.get(f"/review/registrations/{reg.id}").status_code == 200
    assert client.get(f"/review/registrations/{reg.id}/licence").status_code == 200


# ---------------------------------------------------------------- transfers: the queue that had no detail page

def test_transfer_rows_open_a_detail_page_where_the_decision_is_taken(client, fast_world):
    world = fast_world
    mover = make_person("调转详情人", world.unit)
    target = factories.make_org(OrgKind.UNIT, "甲区第二医院", world.dept)
    target_admin = factories.make_account("二院管理员", [(R.UNIT_ADMIN, target)])
    cheap_passwords()
    item = transfer_flow.submit(factories.actor_for(mover, R.PROFESSIONAL, world.unit), target.id, "家庭原因")

    # the new unit does not see an application its current unit has not released
    token = log_in(client, target_admin.username, R.UNIT_ADMIN.value)
    assert client.get(f"/review/transfers/{item.id}").status_code == 404
    client.post("/logout/", data={"csrf_token": token})

    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    assert f'href="/review/transfers/{item.id}"' in page(client.get("/review/transfers/?tab=out"))
    html = page(client.get(f"/review/transfers/{item.id}"))
    for text in ("调转详情人", world.unit.name, "甲区第二医院", "家庭原因", mask_id_number(mover.username)):
        assert text in html
    assert mover.username not in html and 'id="decide-form"' in html
    client.post("/review/transfers/decide?tab=out", data={"csrf_token": token, "ids": str(item.id),
                                                            "action": "approve"})
    assert db.session.execute(select(Transfer.state).where(Transfer.id == item.id)).scalar_one() == "pending_in"
    assert 'id="decide-form"' not in page(client.get(f"/review/transfers/{item.id}"))  # now the new unit's turn
    client.post("/logout/", data={"csrf_token": token})

    token = log_in(client, world.other_unit_admin.username, R.UNIT_ADMIN.value)
    assert client.get(f"/review/transfers/{item.id}").status_code == 404
    client.post("/logout/", data={"csrf_token": token})
    log_in(client, target_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get(f"/review/transfers/{item.id}"))
    assert 'id="decide-form"' in html and zh("Accept") in html
