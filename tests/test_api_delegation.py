"""X9 through the API (issue 12): a deputy lists the delegations it may act under and, with
`X-On-Behalf-Of: <id>`, decides for the delegator through the same workflow checks as the web's switch; the audit
log says "A on behalf of B". A delegation that is not the token's, not yet or no longer in force, or revoked is
refused (403) and nothing changes."""
from __future__ import annotations

import datetime

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import AuditLog, Declaration, RoleName
from app.workflows import delegation as flow
from app.workflows.accounts import display_name
from tests import factories
from tests.helpers import make_declaration, make_person, membership_of, second_admin

R = RoleName
pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def token(client, account, role="UnitAdmin") -> dict:
    response = client.post("/api/v1/auth/login", json={"id_number": account.username,
                                                       "password": factories.PASSWORD, "role": role})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}


def setup(w, start=0, end=3):
    deputy = membership_of(second_admin(w, "接口代理人"), w.unit)
    boss = factories.actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit)
    today = clock.today()
    item = flow.create(boss, deputy.id, today + datetime.timedelta(days=start), today + datetime.timedelta(days=end),
                       "出差")
    return deputy, item


def test_the_deputy_lists_its_delegations_and_decides_on_behalf(client, fast_world):
    w = fast_world
    deputy, delegation = setup(w)
    auth = token(client, deputy.user)
    listed = client.get("/api/v1/delegations", headers=auth).get_json()["items"]
    assert [(d["id"], d["status"], d["acting"]) for d in listed] == [(delegation.id, "active", False)]
    assert listed[0]["delegator"] == display_name(w.unit_admin)
    acting = {**auth, "X-On-Behalf-Of": str(delegation.id)}
    assert client.get("/api/v1/delegations", headers=acting).get_json()["items"][0]["acting"] is True
    item = make_declaration(w, make_person("接口申报人", w.unit))
    response = client.post(f"/api/v1/review/declarations/{item.id}/decision", json={"action": "approve"},
                           headers=acting)
    assert response.status_code == 200, response.get_json()
    [row] = db.session.scalars(select(AuditLog).where(AuditLog.object_type == "declaration",
                                                      AuditLog.object_id == item.id,
                                                      AuditLog.action == "declaration.approve"))
    assert (row.actor_id, row.on_behalf_of_id) == (deputy.user_id, w.unit_admin.id)
    # without the header the deputy decides as themselves
    other = make_declaration(w, make_person("接口申报人乙", w.unit))
    assert client.post(f"/api/v1/review/declarations/{other.id}/decision", json={"action": "approve"},
                       headers=auth).status_code == 200
    [own] = db.session.scalars(select(AuditLog).where(AuditLog.object_id == other.id,
                                                      AuditLog.action == "declaration.approve"))
    assert (own.actor_id, own.on_behalf_of_id) == (deputy.user_id, None)


@pytest.mark.parametrize("case", ["stranger", "not_yet", "revoked", "garbage", "huge", "someone_elses"])
def test_a_delegation_that_is_not_in_force_for_this_token_is_refused_and_nothing_changes(client, fast_world, case):
    w = fast_world
    deputy, delegation = setup(w, start=1 if case == "not_yet" else 0)
    if case == "revoked":
        flow.revoke(delegation, factories.actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit))
    holder = deputy.user
    if case == "someone_elses":  # the delegator's own token naming the delegation it gave
        holder = w.unit_admin
    if case == "stranger":
        holder = second_admin(w, "旁人管理员")
    header = {"garbage": "12abc", "huge": "99999999999"}.get(case, str(delegation.id))
    auth = {**token(client, holder), "X-On-Behalf-Of": header}
    item = make_declaration(w, make_person("未被代理的申报人", w.unit))
    response = client.post(f"/api/v1/review/declarations/{item.id}/decision", json={"action": "approve"},
                           headers=auth)
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert "代理" in response.get_json()["error"]
    db.session.expire_all()
    assert db.session.get(Declaration, item.id).state == "pending_unit"
    assert client.get("/api/v1/delegations", headers=auth).status_code == 403


def test_the_openapi_document_lists_the_delegations_and_the_header(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/delegations" in spec["paths"]
    assert "X-On-Behalf-Of" in spec["info"]["description"]
