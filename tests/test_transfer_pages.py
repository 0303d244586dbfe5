"""Unit transfer pages: /transfer/ (P7) and /review/transfers/ (U7) through the real forms; T1 bad input on both
forms; scope and escalation over HTTP; after the move the person is on the new unit's staff list with their hours."""
from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, OrgKind, OrgState, RoleName, Transfer
from app.workflows import transfer as flow
from tests import factories
from tests.helpers import (YEAR, cheap_passwords, credit_year, log_in, make_declaration, make_person, page, person_of,
                           pro, unit_of, zh)

R = RoleName


def admin(account, org):
    return factories.actor_for(account, R.UNIT_ADMIN, org)


def transfers() -> list[tuple]:
    return db.session.execute(select(Transfer.id, Transfer.person_id, Transfer.state, Transfer.to_unit_id,
                                     Transfer.reason).order_by(Transfer.id)).all()


def transfer_audits() -> list[tuple]:
    return db.session.execute(select(AuditLog.action, AuditLog.object_id).where(
        AuditLog.object_type == "transfer").order_by(AuditLog.id)).all()


def field_errors(response) -> list[str]:
    """The messages shown under the fields, as a person reads them."""
    return [html.unescape(m) for m in re.findall(r'<p class="help-block field-error">([^<]*)</p>',
                                                 response.get_data(as_text=True))]


def hours_row(html: str, year: int) -> list[str]:
    """The hour figures (public, professional, total) of a year on the annual completion page."""
    match = re.search(rf'<tr class="year-{year}">(.*?)</tr>', html, re.S)
    assert match, "no row for the year"
    cells = re.findall(r"<td>(.*?)</td>", match.group(1), re.S)
    return [re.sub(r"<[^>]+>|\s+", " ", c).split()[0] for c in cells[1:4]]


def logout(client, token):
    client.post("/logout/", data={"csrf_token": token})


# ---------------------------------------------------------------- the journey

def test_apply_release_accept_and_the_person_moves_with_their_hours(client, fast_world, outbox):
    world = fast_world
    doctor = make_person("调转的王医生", world.unit)
    credit_year(doctor, 12, 34)

    token = log_in(client, doctor.username, R.PROFESSIONAL.value)
    annual_before = hours_row(page(client.get("/hours/annual")), YEAR)
    home = page(client.get("/home/"))
    assert 'href="/transfer/"' in home and zh("Unit transfer") in home  # the menu entry
    form_page = page(client.get("/transfer/"))
    assert 'id="transfer-form"' in form_page and 'data-url="/public/orgs"' in form_page \
        and 'data-kinds="unit"' in form_page  # the searchable picker, never a full dropdown
    assert world.unit.name in form_page
    response = client.post("/transfer/", data={"csrf_token": token, "to_unit_id": str(world.other_unit.id),
                                               "note": "随配偶调动"})
    assert response.status_code == 302
    [(item_id, _, state, to_unit, _)] = transfers()
    assert (state, to_unit) == ("pending_out", world.other_unit.id)
    mine = page(client.get("/transfer/"))
    assert zh("Awaiting release by the current unit") in mine and "随配偶调动" in mine
    assert 'id="transfer-form"' not in mine and zh("a unit transfer is under review") in mine  # no second one
    logout(client, token)

    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    assert 'href="/review/transfers/"' in page(client.get("/home/"))
    queue = page(client.get("/review/transfers/"))
    assert "调转的王医生" in queue and zh("Release selected") in queue and zh("Reject selected") in queue
    assert doctor.username not in queue  # the ID number is masked
    response = client.post("/review/transfers/decide?tab=out", data={"csrf_token": token, "ids": str(item_id),
                                                                     "action": "approve"})
    assert response.status_code == 302
    assert transfers()[0][2] == "pending_in"
    assert "调转的王医生" not in page(client.get("/review/transfers/?tab=out"))
    assert "调转的王医生" in page(client.get("/review/transfers/?tab=history"))
    logout(client, token)

    token = log_in(client, world.other_unit_admin.username, R.UNIT_ADMIN.value)
    queue = page(client.get("/review/transfers/?tab=in"))
    assert "调转的王医生" in queue and zh("Accept selected") in queue
    assert "调转的王医生" not in page(client.get("/staff/list/"))
    client.post("/review/transfers/decide?tab=in", data={"csrf_token": token, "ids": str(item_id),
                                                        "action": "approve"})
    assert transfers()[0][2] == "done"
    assert "调转的王医生" in page(client.get("/staff/list/"))  # now on the new unit's staff list
    logout(client, token)

    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    assert "调转的王医生" not in page(client.get("/staff/list/"))  # and no longer on the old unit's
    logout(client, token)

    log_in(client, doctor.username, R.PROFESSIONAL.value)
    mine = page(client.get("/transfer/"))
    # both reviews: which unit, who, when, result
    for text in (zh("Transfer completed"), zh("Review by the current unit"), zh("Review by the new unit"),
                 zh("Released"), zh("Accepted"), world.unit_admin.first_name, world.other_unit_admin.first_name,
                 world.unit.name, world.other_unit.name):
        assert text in mine, text
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", mine)
    assert world.other_unit.name in page(client.get("/home/"))
    assert hours_row(page(client.get("/hours/annual")), YEAR) == annual_before == ["12", "34", "46"]
    assert {m.subject for m in outbox if doctor.email in m.recipients} == {
        zh("Your unit transfer: %(state)s", state=zh("Awaiting acceptance by the new unit")),
        zh("Your unit transfer: %(state)s", state=zh("Transfer completed"))}


def test_a_rejection_with_its_reason_is_shown_to_the_applicant(client, fast_world):
    world = fast_world
    doctor = make_person("被驳回的李医生", world.unit)
    item = flow.submit(pro(doctor, world.unit), world.other_unit.id)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    before = transfers(), transfer_audits()
    response = client.post("/review/transfers/decide", data={"csrf_token": token, "ids": str(item.id),
                                                             "action": "reject", "reason": ""}, follow_redirects=True)
    assert zh("A reason is required to reject.") in page(response)
    assert (transfers(), transfer_audits()) == before
    client.post("/review/transfers/decide", data={"csrf_token": token, "ids": str(item.id), "action": "reject",
                                                  "reason": "服务期未满五年"})
    assert transfers()[0][2:] == ("rejected", world.other_unit.id, "服务期未满五年")
    logout(client, token)
    log_in(client, doctor.username, R.PROFESSIONAL.value)
    mine = page(client.get("/transfer/"))
    assert "服务期未满五年" in mine and world.unit_admin.first_name in mine and zh("Rejected") in mine
    assert 'id="transfer-form"' in mine  # may apply again


def test_the_applicant_withdraws_from_the_page(client, fast_world):
    world = fast_world
    doctor = make_person("撤回的赵医生", world.unit)
    item = flow.submit(pro(doctor, world.unit), world.other_unit.id)
    flow.release(item, admin(world.unit_admin, world.unit))
    token = log_in(client, doctor.username, R.PROFESSIONAL.value)
    assert zh("Withdraw") in page(client.get("/transfer/"))
    response = client.post(f"/transfer/{item.id}/withdraw", data={"csrf_token": token}, follow_redirects=True)
    assert zh("Your transfer application has been withdrawn.") in page(response)
    assert transfers()[0][2] == "withdrawn"
    again = client.post(f"/transfer/{item.id}/withdraw", data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200 and transfers()[0][2] == "withdrawn"
    assert [a for a, _ in transfer_audits()] == ["transfer.submit", "transfer.release", "transfer.withdraw"]


# ---------------------------------------------------------------- "nothing pending" on the page

def test_the_page_names_what_is_pending_and_a_forced_post_is_refused(client, fast_world):
    world = fast_world
    doctor = make_person("有申报在审的人", world.unit)
    make_declaration(world, doctor, "pending_unit", title="在审的培训")
    token = log_in(client, doctor.username, R.PROFESSIONAL.value)
    body = page(client.get("/transfer/"))
    assert zh("an hour declaration is under review") in body and 'id="transfer-form"' not in body
    response = client.post("/transfer/", data={"csrf_token": token, "to_unit_id": str(world.other_unit.id)})
    assert response.status_code == 200
    assert zh("an hour declaration is under review") in page(response)
    assert transfers() == [] and transfer_audits() == []


# ---------------------------------------------------------------- T1: bad input on both forms

def bad_inputs(world):
    inactive = factories.make_org(OrgKind.UNIT, "待审核的单位", world.district, state=OrgState.PENDING)
    long_note = "调" * 201
    return [
        ({"to_unit_id": ""}, "Choose the new unit from the list."),
        ({}, "Choose the new unit from the list."),
        ({"to_unit_id": "987654"}, "Choose the new unit from the list."),
        ({"to_unit_id": "99999999999999999999"}, "Choose the new unit from the list."),
        ({"to_unit_id": "-3"}, "Choose the new unit from the list."),
        ({"to_unit_id": "abc"}, "Choose the new unit from the list."),
        ({"to_unit_id": "1; DROP TABLE transfer"}, "Choose the new unit from the list."),
        ({"to_unit_id": str(world.dept.id)}, "Choose the new unit from the list."),
        ({"to_unit_id": str(inactive.id)}, "Choose the new unit from the list."),
        ({"to_unit_id": str(world.unit.id)}, "The new unit must differ from the current unit."),
        ({"to_unit_id": str(world.other_unit.id), "note": "<b>请批准</b>"}, "The note may not contain < or >."),
        ({"to_unit_id": str(world.other_unit.id), "note": long_note}, ("The note may have at most %(n)s characters.",
                                                                     {"n": 200})),
    ]


def _message(msg):
    return zh(msg[0], **msg[1]) if isinstance(msg, tuple) else zh(msg)


def test_bad_input_on_the_application_form(client, fast_world):
    world = fast_world
    doctor = make_person("输入有误的人", world.unit)
    cases = bad_inputs(world)
    token = log_in(client, doctor.username, R.PROFESSIONAL.value)
    for data, msg in cases:
        response = client.post("/transfer/", data={"csrf_token": token, **data})
        assert response.status_code == 200, data
        assert _message(msg) in field_errors(response), data  # shown at the field, in Chinese
        assert "<b>请批准</b>" not in response.get_data(as_text=True)
    assert transfers() == [] and transfer_audits() == []


def test_bad_input_on_the_transfer_out_form(client, fast_world):
    world = fast_world
    employee = make_person("本院员工", world.unit)
    stranger = make_person("乙校的陌生人", world.other_unit)
    cases = bad_inputs(world)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    form_page = page(client.get("/review/transfers/start"))
    assert 'data-url="/review/transfers/staff"' in form_page and 'data-url="/public/orgs"' in form_page
    for data, msg in cases:
        response = client.post("/review/transfers/start", data={"csrf_token": token,
                                                                "person_id": str(person_of(employee).id), **data})
        assert response.status_code == 200, data
        assert _message(msg) in field_errors(response), data
    person_cases = [("", None), ("abc", None), ("99999999999", None), ("123456", None),
                    (str(person_of(stranger).id), "乙校的陌生人")]
    for value, hidden in person_cases:
        response = client.post("/review/transfers/start", data={"csrf_token": token, "person_id": value,
                                                                "to_unit_id": str(world.other_unit.id)})
        assert response.status_code == 200, value
        body = page(response)
        assert zh("Choose an employee of your unit from the list.") in field_errors(response)
        if hidden:
            assert hidden not in body  # another unit's person is never shown back
    assert transfers() == [] and transfer_audits() == []


# ---------------------------------------------------------------- the transfer-out of an employee

def test_a_unit_admin_starts_a_transfer_out_which_the_new_unit_accepts(client, fast_world):
    world = fast_world
    employee = make_person("分院的孙护士", world.sub_unit)
    stranger = make_person("孙乙校", world.other_unit)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    found = json.loads(client.get("/review/transfers/staff?q=孙").get_data(as_text=True))["results"]
    assert [r["text"] for r in found] == ["分院的孙护士"]
    assert found[0]["parent"] == world.sub_unit.name and employee.username not in json.dumps(found)
    assert stranger.username not in json.dumps(found)
    response = client.post("/review/transfers/start", data={"csrf_token": token,
                                                            "person_id": str(person_of(employee).id),
                                                            "to_unit_id": str(world.other_unit.id), "note": "工作需要"})
    assert response.status_code == 302
    [(item_id, _, state, _, _)] = transfers()
    assert state == "pending_in"
    history = page(client.get("/review/transfers/?tab=history"))
    assert "分院的孙护士" in history and zh("The current unit") in history and zh("Withdraw") in history
    assert "分院的孙护士" not in page(client.get("/review/transfers/?tab=in"))  # waits for the new unit
    logout(client, token)

    log_in(client, employee.username, R.PROFESSIONAL.value)
    mine = page(client.get("/transfer/"))
    assert zh("Transfer-out started by the unit") in mine and world.unit_admin.first_name in mine
    assert "withdraw-btn" not in mine  # the unit withdraws what it started

    client2 = client.application.test_client()
    token = log_in(client2, world.other_unit_admin.username, R.UNIT_ADMIN.value)
    assert "分院的孙护士" in page(client2.get("/review/transfers/?tab=in"))
    client2.post("/review/transfers/decide?tab=in", data={"csrf_token": token, "ids": str(item_id),
                                                         "action": "approve"})
    assert transfers()[0][2] == "done" and unit_of(employee) == world.other_unit.id


def test_the_old_unit_withdraws_the_transfer_out_it_started(client, fast_world):
    world = fast_world
    employee = make_person("被误调的人", world.unit)
    item = flow.start(admin(world.unit_admin, world.unit), person_of(employee).id, world.other_unit.id)
    applied = make_person("自己申请的人", world.unit)
    own = flow.submit(pro(applied, world.unit), world.other_unit.id)
    flow.release(own, admin(world.unit_admin, world.unit))
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    # a transfer the professional applied for is theirs to withdraw, not the unit's
    client.post(f"/review/transfers/{own.id}/withdraw", data={"csrf_token": token})
    assert db.session.execute(select(Transfer.state).where(Transfer.id == own.id)).scalar_one() == "pending_in"
    response = client.post(f"/review/transfers/{item.id}/withdraw", data={"csrf_token": token},
                           follow_redirects=True)
    assert zh("The transfer-out has been withdrawn.") in page(response)
    assert db.session.execute(select(Transfer.state).where(Transfer.id == item.id)).scalar_one() == "withdrawn"


# ---------------------------------------------------------------- scope and escalation over HTTP

@pytest.fixture()
def sibling(fast_world):
    org = factories.make_org(OrgKind.UNIT, "甲区第二医院", fast_world.dept)
    account = factories.make_account("兄弟单位管理员", [(R.UNIT_ADMIN, org)])
    cheap_passwords()
    return org, account


@pytest.mark.parametrize("who,state", [
    ("sibling", "pending_out"), ("sibling", "pending_in"),
    ("new", "pending_out"),        # the new unit's admin tries to release
    ("old", "pending_in"),         # the old unit's admin tries to accept
    ("sub_unit", "pending_out"),   # a sub-unit's admin for its parent unit's person
])
def test_nobody_decides_at_the_wrong_step_or_outside_their_subtree(client, fast_world, sibling, who, state):
    world = fast_world
    doctor = make_person("越权目标", world.unit)
    item = flow.submit(pro(doctor, world.unit), world.other_unit.id)
    if state == "pending_in":
        flow.release(item, admin(world.unit_admin, world.unit))
    account = {"sibling": sibling[1], "new": world.other_unit_admin, "old": world.unit_admin,
               "sub_unit": world.sub_unit_admin}[who]
    token = log_in(client, account.username, R.UNIT_ADMIN.value)
    before = transfers(), transfer_audits()
    tab = "out" if state == "pending_out" else "in"
    assert "越权目标" not in page(client.get(f"/review/transfers/?tab={tab}"))
    for action in ("approve", "reject"):
        client.post(f"/review/transfers/decide?tab={tab}", data={"csrf_token": token, "ids": str(item.id),
                                                                "action": action, "reason": "越权"})
    client.post(f"/review/transfers/{item.id}/withdraw", data={"csrf_token": token})
    assert (transfers(), transfer_audits()) == before
    assert unit_of(doctor) == world.unit.id


@pytest.mark.parametrize("who,role", [("dept_admin", R.DEPT_ADMIN), ("district_admin", R.HR_ADMIN),
                                      ("support", R.SUPPORT), ("base_admin", R.BASE_ADMIN)])
def test_only_unit_admins_reach_the_transfer_review(client, fast_world, who, role):
    world = fast_world
    item = flow.submit(pro(make_person("部门越权目标", world.unit), world.unit), world.other_unit.id)
    employee = make_person("部门想调的人", world.unit)
    token = log_in(client, getattr(world, who).username, role.value)
    before = transfers(), transfer_audits()
    assert client.get("/review/transfers/").status_code == 403
    assert client.get("/review/transfers/staff?q=部门").status_code == 403
    assert client.post("/review/transfers/decide", data={"csrf_token": token, "ids": str(item.id),
                                                         "action": "approve"}).status_code == 403
    assert client.post("/review/transfers/start", data={
        "csrf_token": token, "person_id": str(person_of(employee).id),
        "to_unit_id": str(world.other_unit.id)}).status_code == 403
    assert (transfers(), transfer_audits()) == before


def test_a_professional_cannot_act_for_another_person(client, fast_world):
    world = fast_world
    owner = make_person("申请本人", world.unit)
    item = flow.submit(pro(owner, world.unit), world.other_unit.id)
    nosy = make_person("好奇的同事", world.unit)
    token = log_in(client, nosy.username, R.PROFESSIONAL.value)
    before = transfers(), transfer_audits()
    assert "申请本人" not in page(client.get("/transfer/"))
    assert client.post(f"/transfer/{item.id}/withdraw", data={"csrf_token": token}).status_code == 404
    assert client.post("/review/transfers/decide", data={"csrf_token": token, "ids": str(item.id),
                                                         "action": "approve"}).status_code == 403
    # the application form names no person: extra fields change nothing about whose transfer it is
    client.post("/transfer/", data={"csrf_token": token, "to_unit_id": str(world.other_unit.id),
                                    "person_id": str(person_of(owner).id), "user_id": str(owner.id)})
    after = transfers()
    assert after[:1] == before[0] and len(after) == 2 and after[1][1] == person_of(nosy).id
    assert db.session.scalar(select(func.count(Transfer.id)).where(Transfer.person_id == person_of(owner).id)) == 1


def test_the_staff_picker_never_offers_another_units_people(client, fast_world):
    world = fast_world
    make_person("刘甲院", world.unit)
    make_person("刘乙校", world.other_unit)
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    names = [r["text"] for r in json.loads(client.get("/review/transfers/staff?q=刘").data)["results"]]
    assert names == ["刘甲院"]
    assert json.loads(client.get("/review/transfers/staff?q=%25").data)["results"] == []


def test_the_queue_pages_by_keyset(client, fast_world):
    world = fast_world
    names = [f"排队{i:02d}" for i in range(23)]
    for name in names:
        flow.submit(pro(make_person(name, world.unit), world.unit), world.other_unit.id)
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    first = page(client.get("/review/transfers/?tab=out"))
    assert all(n in first for n in names[3:]) and not any(n in first for n in names[:3])  # newest first
    after = re.search(r'href="/review/transfers/\?tab=out&amp;after=(\d+)"', client.get(
        "/review/transfers/?tab=out").get_data(as_text=True))
    assert after, "no next-page link"
    second = page(client.get(f"/review/transfers/?tab=out&after={after.group(1)}"))
    assert all(n in second for n in names[:3]) and not any(n in second for n in names[3:])
    assert "排队05" in page(client.get("/review/transfers/?tab=out&q=排队05"))
    assert "排队06" not in page(client.get("/review/transfers/?tab=out&q=排队05"))


def test_bad_input_on_the_decision_form(client, fast_world):
    world = fast_world
    item = flow.submit(pro(make_person("待审的人", world.unit), world.unit), world.other_unit.id)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    before = transfers(), transfer_audits()
    cases = [
        ({"ids": "abc", "action": "approve"}, zh("Select at least one transfer.")),
        ({"action": "approve"}, zh("Select at least one transfer.")),
        ({"ids": str(item.id), "action": "release"}, zh("Invalid request.")),  # only approve / reject
        ({"ids": str(item.id), "action": "accept"}, zh("Invalid request.")),
        ({"ids": str(item.id)}, zh("Invalid request.")),
        ({"ids": str(item.id), "action": "reject", "reason": "长" * 501}, zh("Invalid request.")),
        ({"ids": str(item.id), "action": "reject", "reason": "   "}, zh("A reason is required to reject.")),
        ({"ids": "99999999999999999999", "action": "approve"}, zh("Select at least one transfer.")),  # no row has it
        ({"ids": "987654", "action": "approve"}, zh("Record not found.")),
    ]
    for data, message in cases:
        response = client.post("/review/transfers/decide", data={"csrf_token": token, **data},
                               follow_redirects=True)
        assert response.status_code == 200, data
        assert message in page(response), data
    assert (transfers(), transfer_audits()) == before
    # HTML in a rejection reason is stored as text and shown escaped
    client.post("/review/transfers/decide", data={"csrf_token": token, "ids": str(item.id), "action": "reject",
                                                  "reason": "<script>alert(1)</script>"})
    assert transfers()[0][2] == "rejected"
    body = client.get("/review/transfers/?tab=history").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


def test_unknown_and_huge_ids_in_urls_are_not_found(client, fast_world):
    world = fast_world
    doctor = make_person("网址测试人", world.unit)
    token = log_in(client, doctor.username, R.PROFESSIONAL.value)
    for transfer_id in ("987654", "99999999999999999999"):
        assert client.post(f"/transfer/{transfer_id}/withdraw", data={"csrf_token": token}).status_code == 404
    client2 = client.application.test_client()
    token = log_in(client2, world.unit_admin.username, R.UNIT_ADMIN.value)
    for transfer_id in ("987654", "99999999999999999999"):
        assert client2.post(f"/review/transfers/{transfer_id}/withdraw",
                            data={"csrf_token": token}).status_code == 404
    assert client2.get("/review/transfers/?after=99999999999999999999").status_code == 200
    assert client2.get("/review/transfers/?tab=nonsense&q=" + "长" * 100).status_code == 200
