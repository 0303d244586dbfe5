"""Rules asked of the workflows, never repeated in views and templates: what the applicant may do with a declaration
in each state (the detail page offers exactly that, and nothing else goes through), how evidence is served, and
the one way every view shows a workflow's refusal (`views.util.domain_errors`)."""
from __future__ import annotations

import ast
import datetime
import pathlib

import pytest
from flask import get_flashed_messages
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, NotFound
from wtforms import StringField

from app import clock
from app.extensions import db
from app.models import Attachment, Declaration, LearningForm, Org, Person, RoleName, Transfer
from app.views.util import denied_as, domain_errors
from app.workflows import declaration as decl_flow
from app.workflows import transfer as transfer_flow
from app.workflows.base import DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.helpers import csrf_from, login, page, zh

R = RoleName
VIEWS = pathlib.Path(__file__).resolve().parent.parent / "app" / "views"

# What the applicant may do in each state, in the order the detail page offers it.
OWNER_ACTIONS = {
    "draft": ["edit", "submit", "delete"],
    "rejected": ["edit", "submit"],
    "pending_unit": ["withdraw"],
    "pending_dept": [],
    "pending_hr": [],
    "approved": [],
}


def _declaration(world, account, state: str) -> Declaration:
    """A declaration of `account` with one PNG as evidence, brought to `state` by the reviewers of its chain."""
    person = db.session.scalar(select(Person).where(Person.user_id == account.id))
    form = db.session.scalar(select(LearningForm).where(LearningForm.code == "training"))
    end = clock.today() - datetime.timedelta(days=1)
    data = decl_flow.DeclarationInput("professional", form.id, end.year, "规则测试培训", "8",
                                      end - datetime.timedelta(days=2), end,
                                      {"organiser": "省卫健委", "location": "济南"})
    item = decl_flow.save(factories.actor_for(account, R.PROFESSIONAL, person.unit), data, submit=state != "draft",
                          attachments=[("证书.png", factories.PNG)])
    reviewers = {world.unit.id: (world.unit_admin, R.UNIT_ADMIN), world.dept.id: (world.dept_admin, R.DEPT_ADMIN),
                 world.district.id: (world.district_admin, R.HR_ADMIN)}
    while item.state != state:
        admin, role = reviewers[item.reviewer_org_id]
        reviewer = factories.actor_for(admin, role, db.session.get(Org, item.reviewer_org_id))
        if state == "rejected":
            decl_flow.reject(item, reviewer, "材料不清晰")
        else:
            decl_flow.approve(item, reviewer)
    return item


def _row(item_id: int):
    db.session.expire_all()
    return db.session.execute(select(Declaration.state, Declaration.title, Declaration.hours,
                                     Declaration.reviewer_org_id).where(Declaration.id == item_id)).one_or_none()


@pytest.mark.parametrize("state", list(OWNER_ACTIONS))
def test_the_detail_page_offers_exactly_what_the_applicant_may_do_and_nothing_else_goes_through(client, world,
                                                                                             state):
    account = factories.make_account("规则申报人", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
    item = _declaration(world, account, state)
    assert decl_flow.owner_actions(item) == OWNER_ACTIONS[state]
    assert decl_flow.editable(item) is ("edit" in OWNER_ACTIONS[state])
    assert decl_flow.deletable(item) is ("delete" in OWNER_ACTIONS[state])

    login(client, account.username)
    html = page(client.get(f"/hours/{item.id}"))
    owner_part = html[html.index('class="owner-actions"'):]
    offered = {"edit": f'href="/hours/{item.id}/edit"' in owner_part,
               "submit": 'id="submit-btn"' in owner_part,
               "withdraw": 'id="withdraw-btn"' in owner_part,
               "delete": f'action="/hours/{item.id}/delete"' in owner_part}
    assert [a for a in ("edit", "submit", "withdraw", "delete") if offered[a]] == OWNER_ACTIONS[state]

    # what the page does not offer is refused with a message, and changes nothing
    token = csrf_from(html)
    before = _row(item.id)
    for action in ("edit", "submit", "withdraw", "delete"):
        if action in OWNER_ACTIONS[state]:
            continue
        if action == "edit":
            response = client.get(f"/hours/{item.id}/edit", follow_redirects=True)
            assert zh("Only a draft or a rejected declaration can be edited.") in page(response)
            continue
        response = client.post(f"/hours/{item.id}/{action}", data={"csrf_token": token}, follow_redirects=True)
        assert response.status_code == 200 and response.request.path == f"/hours/{item.id}"
        refusal = ("Only a draft can be deleted." if action == "delete"
                   else "This action is not allowed in the item's current state.")
        assert zh(refusal) in page(response), action
        assert _row(item.id) == before, action


@pytest.mark.parametrize("case,offered", [("applied", True), ("released", True), ("rejected", False),
                                         ("started by the unit", False)])
def test_the_transfer_page_offers_withdrawal_exactly_when_the_workflow_allows_it(client, world, case, offered):
    account = factories.make_account("调动申请人", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
    person = db.session.scalar(select(Person).where(Person.user_id == account.id))
    old_unit = factories.actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit)
    if case == "started by the unit":
        item = transfer_flow.start(old_unit, person.id, world.other_unit.id, "单位发起")
    else:
        item = transfer_flow.submit(factories.actor_for(account, R.PROFESSIONAL, world.unit), world.other_unit.id)
        if case == "released":
            transfer_flow.release(item, old_unit)
        elif case == "rejected":
            transfer_flow.decide_many([item.id], "reject", old_unit, "不同意")
    state = db.session.scalar(select(Transfer.state).where(Transfer.id == item.id))
    login(client, account.username)
    html = page(client.get("/transfer/"))
    assert (f'action="/transfer/{item.id}/withdraw"' in html) is offered
    client.post(f"/transfer/{item.id}/withdraw", data={"csrf_token": csrf_from(html)})
    db.session.expire_all()
    assert db.session.scalar(select(Transfer.state).where(Transfer.id == item.id)) == (
        "withdrawn" if offered else state)


def test_declaration_evidence_is_an_uncached_attachment_to_the_applicant_only(client, world):
    account = factories.make_account("证据申报人", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
    item = _declaration(world, account, "draft")
    attachment = db.session.scalar(select(Attachment.id).where(Attachment.declaration_id == item.id))
    login(client, world.unit_admin.username, role=R.UNIT_ADMIN.value)
    assert client.get(f"/attachments/{attachment}").status_code == 404  # a draft is nobody else's business
    client.post("/logout/", data={"csrf_token": csrf_from(client.get("/home/").get_data(as_text=True))})
    login(client, account.username)
    response = client.get(f"/attachments/{attachment}")
    assert response.status_code == 200 and response.data == factories.PNG
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"


# ------------------------------------------------------------------ the one way a view shows a refusal

class _Form(FlaskForm):
    class Meta:
        csrf = False

    name = StringField("name")


def test_a_refusal_naming_a_field_is_shown_at_the_field_and_flashed_and_the_code_after_runs(app):
    with app.test_request_context("/", method="POST", data={"name": "x"}):
        form = _Form()
        with domain_errors(form) as refused:
            raise DomainError("名称已被使用", field="name")
            pytest.fail("never reached")  # pragma: no cover
        assert isinstance(refused.error, DomainError)
        assert form.name.errors == ["名称已被使用"]
        assert get_flashed_messages(with_categories=True) == [("danger", "名称已被使用")]


def test_a_block_that_runs_through_leaves_no_error_and_no_message(app):
    with app.test_request_context("/"):
        with domain_errors(_Form(meta={"csrf": False})) as refused:
            done = True
        assert done and refused.error is None
        assert get_flashed_messages() == []


def test_a_refusal_without_a_form_is_a_flash_message(app):
    with app.test_request_context("/"):
        with domain_errors() as refused:
            raise TransitionNotAllowed("当前状态下不允许此操作。")
        assert isinstance(refused.error, TransitionNotAllowed)
        assert get_flashed_messages(with_categories=True) == [("danger", "当前状态下不允许此操作。")]


@pytest.mark.parametrize("status,page_error", [(403, Forbidden), (404, NotFound)])
def test_a_permission_refusal_is_the_error_page_asked_for_and_nothing_is_flashed(app, status, page_error):
    with app.test_request_context("/"):
        with pytest.raises(page_error):
            with domain_errors(denied=status):
                raise PermissionDenied("无权操作")
        with pytest.raises(page_error):
            with denied_as(status):
                raise PermissionDenied("无权操作")
        with domain_errors() as refused:  # without `denied` it is a refusal like any other
            raise PermissionDenied("无权操作")
        assert isinstance(refused.error, PermissionDenied)
        assert get_flashed_messages() == ["无权操作"]


def test_anything_but_a_refusal_goes_through(app):
    with app.test_request_context("/"):
        with pytest.raises(ZeroDivisionError):
            with domain_errors():
                1 / 0
        with pytest.raises(DomainError):
            with denied_as(404):
                raise DomainError("不是权限问题")
        assert get_flashed_messages() == []


def test_no_view_handles_a_workflow_refusal_by_hand():
    """Views show refusals through views.util (domain_errors / denied_as / batch_decision), never with their own
    `except DomainError` (a message, a field error or a status code that differs from one page to the next)."""
    refusals = {"DomainError", "PermissionDenied", "TransitionNotAllowed", "ConcurrentTransition"}
    found = []
    for path in sorted(VIEWS.glob("*.py")):
        if path.name == "util.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                names = {t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in types}
                if names & refusals:
                    found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_no_template_decides_which_declaration_is_editable():
    """The detail page asks `declaration.owner_actions`; no template compares a declaration's state to decide
    what its owner may do."""
    html = (VIEWS.parent / "templates" / "hours" / "detail.html").read_text(encoding="utf-8")
    owner_part = html[html.index('class="owner-actions"'):html.index("{% else %}", html.index('class="owner-actions"'))]
    assert "item.state" not in owner_part
