"""The REST API (issue 12): token login through the web login's own check (T5 lockout shared with the web), token
refresh and revocation (T6), CSRF for cookie sessions, the professional's and the reviewer's endpoints with the
web's scope rules (another org's item: 404 and nothing changed), batch decisions, the OpenAPI document."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiRefreshToken, Attachment, AuditLog, Declaration, RoleName
from app.workflows import accounts
from tests import factories
from tests.helpers import (PNG, YEAR, assert_unchanged, cheap_passwords, credit_year, learning_form, login,
                           make_change, make_correction, make_declaration, make_person, register, state_snapshot,
                           study_dates, token_for, zh)

R = RoleName
WRONG = "账号或密码错误"
pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def api_login(client, account, role: str | None = "Professional", password: str = factories.PASSWORD, **extra):
    body = {"id_number": account.username, "password": password, **extra}
    if role:
        body["role"] = role
    return client.post("/api/v1/auth/login", json=body)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def tokens_of(client, account, role="Professional") -> dict:
    response = api_login(client, account, role)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture()
def pro(fast_world):
    return make_person("接口医生", fast_world.unit)


# ------------------------------------------------------------------ login, lockout, one message

def test_login_gives_short_lived_access_and_refresh_token(client, pro):
    body = tokens_of(client, pro)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["membership"]["role"] == "Professional"
    me = client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.get_json()["account_id"] == pro.id
    # the refresh token is kept hashed only
    assert db.session.scalar(select(func.count(ApiRefreshToken.id)).where(
        ApiRefreshToken.token_hash == body["refresh_token"])) == 0
    # the login is audited like the web's
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "login", AuditLog.actor_id == pro.id, AuditLog.result == "ok")) == 1
    # no cookie is set on token answers
    assert "Set-Cookie" not in me.headers


def test_wrong_password_unknown_account_and_locked_give_one_message(client, pro, app):
    unknown = client.post("/api/v1/auth/login", json={"id_number": "110101199003071234", "password": "x",
                                                      "role": "Professional"})
    wrong = api_login(client, pro, password="Wrong#2026x")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json() == {"error": WRONG, "code": "login_failed"}


def test_four_web_failures_and_one_api_failure_lock_both(app, pro):
    web = app.test_client()
    for _ in range(4):
        response = login(web, pro.username, "Wrong#2026x", follow=True)
        assert WRONG in response.get_data(as_text=True)
    api = app.test_client()
    assert api_login(api, pro, password="Wrong#2026x").status_code == 401
    # now locked on both paths, even with the right password
    assert api_login(api, pro).get_json()["error"] == WRONG
    response = login(app.test_client(), pro.username, follow=True)
    assert "/home/" not in response.request.path and WRONG in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ApiRefreshToken.id))) == 0


def test_five_api_failures_lock_the_web_login(app, pro):
    api = app.test_client()
    for _ in range(5):
        api_login(api, pro, password="Wrong#2026x")
    response = login(app.test_client(), pro.username, follow=True)
    assert WRONG in response.get_data(as_text=True)


def test_several_roles_get_the_list_to_choose_from(client, fast_world):
    account = factories.make_account("两种身份", [(R.PROFESSIONAL, fast_world.unit), (R.UNIT_ADMIN, fast_world.unit)],
                                     person_unit=fast_world.unit)
    cheap_passwords()
    response = api_login(client, account, role=None)
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == "choose_role" and {c["role"] for c in body["choices"]} == {"Professional", "UnitAdmin"}
    admin = next(c for c in body["choices"] if c["role"] == "UnitAdmin")
    chosen = api_login(client, account, role=None, membership_id=admin["membership_id"])
    assert chosen.status_code == 200 and chosen.get_json()["membership"]["role"] == "UnitAdmin"


def test_bad_login_bodies_are_400_json(client, pro):
    for body in (None, [], {"id_number": 1}, {"id_number": "x"}, {"id_number": "x", "password": "y", "role": "Boss"}):
        response = client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 400 and response.get_json()["code"] in ("invalid", "bad_request")
        assert response.get_json()["error"]


def test_errors_are_chinese_by_default_and_english_on_request(client):
    assert client.get("/api/v1/me").get_json()["error"] == zh(
        "Please log in: the access token is missing, expired or revoked.")
    english = client.get("/api/v1/me", headers={"Accept-Language": "en"}).get_json()["error"]
    assert english == "Please log in: the access token is missing, expired or revoked."
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"


# ------------------------------------------------------------------ refresh and revocation (T6)

def test_refresh_rotates_and_a_used_refresh_token_is_refused(client, pro):
    first = tokens_of(client, pro)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 401 and again.get_json()["code"] == "invalid_token"
    assert client.get("/api/v1/me", headers=bearer(second.get_json()["access_token"])).status_code == 200


def test_logout_revokes_every_token_and_web_session(app, pro):
    client = app.test_client()
    body = tokens_of(client, pro)
    web = app.test_client()
    login(web, pro.username)
    assert web.get("/home/").status_code == 200
    out = client.post("/api/v1/auth/logout", json={"refresh_token": body["refresh_token"]},
                      headers=bearer(body["access_token"]))
    assert out.status_code == 200
    assert client.get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}).status_code == 401
    assert web.get("/home/").status_code == 302


def test_web_password_change_revokes_tokens(app, pro):
    client = app.test_client()
    body = tokens_of(client, pro)
    web = app.test_client()
    login(web, pro.username)
    response = web.post("/account/password", data={"csrf_token": token_for(web), "old_password": factories.PASSWORD,
                                                   "password": "Another#2027y", "confirm": "Another#2027y"})
    assert response.status_code == 302
    assert client.get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}).status_code == 401


def test_removal_of_rights_and_deactivation_revoke_tokens(app, pro, fast_world):
    from app.models import Membership

    client = app.test_client()
    body = tokens_of(client, pro)
    membership = db.session.scalar(select(Membership).where(Membership.user_id == pro.id))
    support = factories.actor_for(fast_world.support, R.SUPPORT)
    accounts.revoke_role(membership, support)  # support removes the role (the web's SupportView.revoke)
    assert client.get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}).status_code == 401


def test_identity_correction_revokes_tokens(app, pro, fast_world):
    client = app.test_client()
    body = tokens_of(client, pro)
    make_correction(fast_world, pro, "approved")  # support approves: the 证件号 changes, every session ends
    assert client.get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}).status_code == 401


def test_deactivation_and_expiry_refuse_tokens(app, pro):
    client = app.test_client()
    body = tokens_of(client, pro)
    pro.active = False  # (an account switched off by support)
    db.session.commit()
    assert client.get("/api/v1/me", headers=bearer(body["access_token"])).status_code == 401
    pro.active = True
    db.session.commit()
    app.config["API_ACCESS_MINUTES"] = -1  # an access token issued already expired
    try:
        expired = tokens_of(client, pro)["access_token"]
    finally:
        del app.config["API_ACCESS_MINUTES"]
    response = client.get("/api/v1/me", headers=bearer(expired))
    assert response.status_code == 401 and response.get_json()["code"] == "unauthorized"


def test_forged_and_malformed_tokens_are_401(client, pro):
    body = tokens_of(client, pro)
    for header in ("Bearer x", "Bearer " + body["access_token"][:-2] + "xx", "Basic abc", "Bearer " + body[
            "refresh_token"], ""):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header


# ------------------------------------------------------------------ CSRF for cookie sessions (T7)

def test_cookie_session_needs_csrf_on_the_api(app, pro):
    web = app.test_client()
    login(web, pro.username)
    assert web.get("/api/v1/me").status_code == 200  # a read with the session works (Swagger UI in the browser)
    before = state_snapshot()
    refused = web.post("/api/v1/me/declarations", json={"subject": "public"})
    assert refused.status_code == 400 and refused.get_json()["code"] == "bad_request"
    refused = web.post("/api/v1/auth/logout", json={})
    assert refused.status_code == 400
    assert_unchanged(before)
    assert web.get("/home/").status_code == 200  # still logged in: the logout was refused
    done = web.post("/api/v1/auth/logout", json={}, headers={"X-CSRFToken": token_for(web)})
    assert done.status_code == 200


def test_token_with_a_session_cookie_still_needs_csrf(app, pro):
    web = app.test_client()
    login(web, pro.username)
    body = tokens_of(app.test_client(), pro)
    refused = web.post("/api/v1/auth/logout", json={}, headers=bearer(body["access_token"]))
    assert refused.status_code == 400


def test_every_api_post_with_a_session_cookie_needs_the_csrf_token(app, pro):
    """Generated from the URL map: each POST of /api/v1, sent with a logged-in session cookie and no CSRF token
    (even with a valid bearer token), is refused with a JSON 400 and changes nothing."""
    web = app.test_client()
    login(web, pro.username)
    access = tokens_of(app.test_client(), pro)["access_token"]
    before = state_snapshot()
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or "POST" not in rule.methods:
            continue
        url = rule.rule.replace("<int:declaration_id>", "1").replace("<int:item_id>", "1").replace(
            "<int:year>", str(YEAR)).replace("<any(completion, register):kind>", "completion")
        url = url.replace('<any("registrations","title-changes","declarations","transfers"):queue>', "declarations")
        assert "<" not in url, url
        for headers in ({}, bearer(access)):
            response = web.post(url, json={"action": "approve", "ids": [1]}, headers=headers)
            assert response.status_code == 400 and response.get_json()["code"] == "bad_request", url
            checked += 1
    assert checked >= 2 * 11
    assert_unchanged(before)
    assert web.get("/home/").status_code == 200


# ------------------------------------------------------------------ the professional

def test_profile_shows_my_own_id_number_in_full(client, pro):
    access = tokens_of(client, pro)["access_token"]
    body = client.get("/api/v1/me", headers=bearer(access)).get_json()
    assert body["id_number"] == pro.username and body["name"] == "接口医生"


def test_declare_submit_withdraw_with_attachments_and_timeline(client, pro, fast_world):
    access = tokens_of(client, pro)["access_token"]
    start, end = study_dates()
    draft = {"subject": "professional", "form_id": learning_form().id, "year": YEAR, "title": "接口申报培训班",
             "hours": "8", "start_date": start.isoformat(), "end_date": end.isoformat(),
             "details": {"organiser": "省卫健委", "location": "济南"}}
    created = client.post("/api/v1/me/declarations", json=draft, headers=bearer(access))
    assert created.status_code == 201, created.get_json()
    item = created.get_json()
    assert item["state"] == "draft" and item["attachments"] == []
    with_file = client.post(f"/api/v1/me/declarations/{item['id']}/attachments", headers=bearer(access),
                            data={"attachments": [(io.BytesIO(PNG), "证书.png")]},
                            content_type="multipart/form-data")
    assert with_file.status_code == 201 and len(with_file.get_json()["attachments"]) == 1
    fake = client.post(f"/api/v1/me/declarations/{item['id']}/attachments", headers=bearer(access),
                       data={"attachments": [(io.BytesIO(b"<html>"), "x.png")]},
                       content_type="multipart/form-data")
    assert fake.status_code == 400 and fake.get_json()["error"]
    submitted = client.post(f"/api/v1/me/declarations/{item['id']}/submit", headers=bearer(access))
    assert submitted.status_code == 200 and submitted.get_json()["state"] == "pending_unit"
    assert [t["action"] for t in submitted.get_json()["timeline"]][-1].endswith("submit")
    again = client.post(f"/api/v1/me/declarations/{item['id']}/submit", headers=bearer(access))
    assert again.status_code == 409 and again.get_json()["code"] == "conflict"
    withdrawn = client.post(f"/api/v1/me/declarations/{item['id']}/withdraw", headers=bearer(access))
    assert withdrawn.status_code == 200 and withdrawn.get_json()["state"] == "draft"  # back to the applicant
    listed = client.get("/api/v1/me/declarations", headers=bearer(access)).get_json()["items"]
    assert [d["id"] for d in listed] == [item["id"]]


def test_a_bad_declaration_is_refused_with_the_webs_message_and_nothing_stored(client, pro):
    access = tokens_of(client, pro)["access_token"]
    start, end = study_dates()
    bad = {"subject": "professional", "form_id": learning_form().id, "year": YEAR, "title": "超上限",
           "hours": "9999", "start_date": end.isoformat(), "end_date": start.isoformat(), "details": {}}
    response = client.post("/api/v1/me/declarations", json=bad, headers=bearer(access))
    assert response.status_code == 400 and response.get_json()["code"] == "invalid"
    assert db.session.scalar(select(func.count(Declaration.id))) == 0


def test_another_persons_declaration_is_not_found(client, pro, fast_world):
    other = make_person("别人", fast_world.other_unit)
    item = make_declaration(fast_world, other, "draft")
    access = tokens_of(client, pro)["access_token"]
    before = state_snapshot()
    assert client.get(f"/api/v1/me/declarations/{item.id}", headers=bearer(access)).status_code == 404
    for action in ("submit", "withdraw"):
        assert client.post(f"/api/v1/me/declarations/{item.id}/{action}", headers=bearer(access)).status_code == 404
    assert_unchanged(before)


def test_title_change_through_the_web_forms_checks(client, pro):
    access = tokens_of(client, pro)["access_token"]
    none = client.post("/api/v1/me/title-change", headers=bearer(access), content_type="multipart/form-data",
                       data={"title_series": "卫生技术", "title_level": "正高级", "title_name": "主任医师"})
    assert none.status_code == 400
    done = client.post("/api/v1/me/title-change", headers=bearer(access), content_type="multipart/form-data",
                       data={"title_series": "卫生技术", "title_level": "正高级", "title_name": "主任医师",
                             "attachments": [(io.BytesIO(PNG), "证书.png")]})
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["after"]["title_name"] == "主任医师" and done.get_json()["state"] == "pending"
    history = client.get("/api/v1/me/title-changes", headers=bearer(access)).get_json()
    assert [h["id"] for h in history] == [done.get_json()["id"]]


def test_annual_certificate_classes_orders_registrations(client, pro):
    access = tokens_of(client, pro)["access_token"]
    annual = client.get(f"/api/v1/me/annual/{YEAR}", headers=bearer(access))
    assert annual.status_code == 200 and annual.get_json()["result"]["year"] == YEAR
    assert client.get(f"/api/v1/me/annual/{YEAR + 1}", headers=bearer(access)).status_code == 404
    refused = client.post(f"/api/v1/me/certificates/{YEAR}/register", headers=bearer(access))
    assert refused.status_code == 400 and refused.get_json()["error"]  # nothing credited yet: the web's refusal
    credit_year(pro, 30, 60)
    pdf = client.post(f"/api/v1/me/certificates/{YEAR}/register", headers=bearer(access))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    for url in ("/api/v1/me/classes", "/api/v1/me/orders", "/api/v1/me/registrations"):
        response = client.get(url, headers=bearer(access))
        assert response.status_code == 200 and isinstance(response.get_json(), list), url


def test_an_admin_cannot_use_the_professionals_endpoints(client, fast_world):
    access = tokens_of(client, fast_world.unit_admin, "UnitAdmin")["access_token"]
    assert client.get("/api/v1/me", headers=bearer(access)).status_code == 403
    assert client.get("/api/v1/auth/me", headers=bearer(access)).status_code == 200


# ------------------------------------------------------------------ the reviewer

def test_reviewer_queue_detail_and_decision(client, pro, fast_world):
    item = make_declaration(fast_world, pro)
    access = tokens_of(client, fast_world.unit_admin, "UnitAdmin")["access_token"]
    queue = client.get("/api/v1/review/declarations", headers=bearer(access)).get_json()
    assert [row["id"] for row in queue["items"]] == [item.id] and queue["items"][0]["can_decide"]
    detail = client.get(f"/api/v1/review/declarations/{item.id}", headers=bearer(access)).get_json()
    assert detail["evidence"][0]["filename"] == "证书.png" and detail["id_number"] != pro.username
    assert any(c["field"] == "hours" for c in detail["changes"])
    no_reason = client.post(f"/api/v1/review/declarations/{item.id}/decision", json={"action": "reject"},
                            headers=bearer(access))
    assert no_reason.status_code == 400
    done = client.post(f"/api/v1/review/declarations/{item.id}/decision", json={"action": "approve"},
                       headers=bearer(access))
    assert done.status_code == 200 and done.get_json()["state"] == "pending_dept"
    assert done.get_json()["timeline"][-1]["action"] == "declaration.approve"


def test_evidence_downloads_follow_the_webs_rules(client, pro, fast_world):
    item = make_declaration(fast_world, pro)
    theirs = make_declaration(fast_world, make_person("乙校老师", fast_world.other_unit))
    mine_file = db.session.scalar(select(Attachment.id).where(Attachment.declaration_id == item.id))
    their_file = db.session.scalar(select(Attachment.id).where(Attachment.declaration_id == theirs.id))
    admin = tokens_of(client, fast_world.unit_admin, "UnitAdmin")["access_token"]
    response = client.get(f"/api/v1/review/declarations/{item.id}/evidence/{mine_file}", headers=bearer(admin))
    assert response.status_code == 200 and response.data == PNG
    assert response.headers["Content-Disposition"].startswith("attachment")
    for url in (f"/api/v1/review/declarations/{item.id}/evidence/{their_file}",
                f"/api/v1/review/declarations/{theirs.id}/evidence/{their_file}",
                f"/api/v1/review/title-changes/{item.id}/evidence/{mine_file}"):
        assert client.get(url, headers=bearer(admin)).status_code == 404, url
    own = tokens_of(client, pro)["access_token"]
    assert client.get(f"/api/v1/me/declarations/{item.id}/attachments/{mine_file}",
                      headers=bearer(own)).data == PNG
    assert client.get(f"/api/v1/me/declarations/{item.id}/attachments/{their_file}",
                      headers=bearer(own)).status_code == 404


def test_the_login_is_rate_limited_like_the_web_form(app, client, pro, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    codes = [api_login(client, pro, password="Wrong#2026x").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    assert client.post("/api/v1/auth/login", json={}).get_json()["code"] == "rate_limited"


def test_title_change_before_after_and_reject_with_reason(client, pro, fast_world):
    change = make_change(fast_world, pro)
    access = tokens_of(client, fast_world.unit_admin, "UnitAdmin")["access_token"]
    detail = client.get(f"/api/v1/review/title-changes/{change.id}", headers=bearer(access)).get_json()
    assert any(c["changed"] for c in detail["changes"]) and detail["evidence"]
    done = client.post(f"/api/v1/review/title-changes/{change.id}/decision",
                       json={"action": "reject", "reason": "证书不清晰"}, headers=bearer(access))
    assert done.status_code == 200 and done.get_json()["state"] == "rejected"


def test_another_orgs_items_are_not_found_and_unchanged(client, fast_world):
    other = make_person("乙校教师", fast_world.other_unit)
    declaration = make_declaration(fast_world, other)
    change = make_change(fast_world, other)
    reg = register(fast_world.other_unit, "乙校申请人")
    access = tokens_of(client, fast_world.unit_admin, "UnitAdmin")["access_token"]
    before = state_snapshot()
    for queue, item_id in (("declarations", declaration.id), ("title-changes", change.id),
                           ("registrations", reg.id)):
        assert client.get(f"/api/v1/review/{queue}/{item_id}", headers=bearer(access)).status_code == 404
        response = client.post(f"/api/v1/review/{queue}/{item_id}/decision", json={"action": "approve"},
                               headers=bearer(access))
        assert response.status_code == 404, queue
        batch = client.post(f"/api/v1/review/{queue}/batch", json={"ids": [item_id], "action": "approve"},
                            headers=bearer(access))
        assert batch.status_code == 200 and batch.get_json()["done"] == 0
        queue_ids = [r["id"] for r in client.get(f"/api/v1/review/{queue}", headers=bearer(access)).get_json()[
            "items"]]
        assert item_id not in queue_ids
    assert_unchanged(before)


def test_batch_decides_those_in_scope_only(client, fast_world):
    mine = [make_declaration(fast_world, make_person(f"本院医生{i}", fast_world.unit)) for i in range(3)]
    theirs = make_declaration(fast_world, make_person("乙校老师", fast_world.other_unit))
    access = tokens_of(client, fast_world.unit_admin, "UnitAdmin")["access_token"]
    response = client.post("/api/v1/review/declarations/batch", headers=bearer(access),
                           json={"ids": [d.id for d in mine] + [theirs.id, 2 ** 31 - 1], "action": "approve"})
    body = response.get_json()
    assert response.status_code == 200 and body["done"] == 3
    assert {f["id"] for f in body["failed"]} == {theirs.id, 2 ** 31 - 1}
    db.session.expire_all()
    assert {db.session.get(Declaration, d.id).state for d in mine} == {"pending_dept"}
    assert db.session.get(Declaration, theirs.id).state == "pending_unit"


def test_a_queue_the_role_has_not_is_forbidden(client, fast_world):
    access = tokens_of(client, fast_world.dept_admin, "DeptAdmin")["access_token"]
    assert client.get("/api/v1/review/transfers", headers=bearer(access)).status_code == 403
    assert client.get("/api/v1/review/declarations", headers=bearer(access)).status_code == 200
    pro_access = tokens_of(client, make_person("普通人", fast_world.unit))["access_token"]
    assert client.get("/api/v1/review/declarations", headers=bearer(pro_access)).status_code == 403


# ------------------------------------------------------------------ the document

def test_openapi_document_lists_every_endpoint_and_the_ui_is_served_locally(client, app):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    paths = {(path, method) for path, ops in doc["paths"].items() for method in ops if method != "parameters"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("ApiAuth.", "ApiMe.", "ApiReview.")):
            for method in rule.methods & {"GET", "POST"}:
                path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
                assert (path, method.lower()) in paths, (path, method)
    for ops in doc["paths"].values():
        for op in ops.values():
            assert "400" in op["responses"] and op["summary"]
    ui = client.get("/api/v1/docs")
    assert ui.status_code == 200 and "swagger-ui-bundle.js" in ui.get_data(as_text=True)
    assert "cdn" not in ui.get_data(as_text=True).lower()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_a_reviewer_never_decides_their_own_declaration(client, fast_world):
    both = factories.make_account("自审管理员", [(R.PROFESSIONAL, fast_world.unit), (R.UNIT_ADMIN, fast_world.unit)],
                                  person_unit=fast_world.unit)
    cheap_passwords()
    own = make_declaration(fast_world, both)
    access = tokens_of(client, both, "UnitAdmin")["access_token"]
    before = state_snapshot()
    assert own.id not in [r["id"] for r in client.get("/api/v1/review/declarations",
                                                        headers=bearer(access)).get_json()["items"]]
    assert client.get(f"/api/v1/review/declarations/{own.id}", headers=bearer(access)).status_code == 404
    assert client.post(f"/api/v1/review/declarations/{own.id}/decision", json={"action": "approve"},
                       headers=bearer(access)).status_code == 404
    batch = client.post("/api/v1/review/declarations/batch", json={"ids": [own.id], "action": "approve"},
                        headers=bearer(access)).get_json()
    assert batch["done"] == 0
    assert_unchanged(before)
