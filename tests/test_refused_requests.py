"""A refused request is never a server error (SECURITY.md "headers, errors", T7, T8).

Every mutating rule of the URL map, sent without a CSRF token by an anonymous visitor and by each role of the test
world, answers the Chinese "page expired" page (JSON for a script), in the site's layout, and changes no row of any
table. An oversize upload from a logged-in user answers a Chinese 413 page. The refusal page shows back the text a
person typed into a form of this site, never their secrets, and never text an attacker's page posted."""
from __future__ import annotations

import io

import pytest
from flask_appbuilder import Model
from sqlalchemy import func, select
from werkzeug.routing import AnyConverter

from app import clock
from app.extensions import db
from app.models import AuditLog, RoleName
from tests import factories
from tests.helpers import cheap_passwords, csrf_from, log_in, make_person, page, zh

R = RoleName
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
ARGUMENTS = {"name": "muldelete", "pk": "1", "kind": "person", "action": "submit", "token": "x",
             "year": clock.today().year}


# Exempt from CSRF by design (tests/test_csrf.py CSRF_EXEMPT): a payment provider's signed callback, which stores
# every notice it receives (refused ones too) and answers "fail" to an unsigned one (tests/test_orders.py).
CSRF_EXEMPT = {"PaymentView.notify"}


def mutating_requests(app) -> list[tuple[str, str]]:
    """(method, url) for every rule of the URL map that accepts a mutating method, its arguments filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in CSRF_EXEMPT:
            continue
        for method in sorted(rule.methods & MUTATING):
            values = {arg: ARGUMENTS.get(arg, 1) for arg in rule.arguments}
            for arg, converter in rule._converters.items():
                if isinstance(converter, AnyConverter):
                    values[arg] = sorted(converter.items)[0]
            _, url = rule.build(values, append_unknown=False)
            found.append((method, url))
    return sorted(set(found))


def row_counts() -> dict[str, int]:
    """The number of rows of every table, and the newest audit row: a refused request leaves them all as they were."""
    counts = {t.name: db.session.execute(select(func.count()).select_from(t)).scalar_one()
              for t in Model.metadata.sorted_tables}
    counts["newest audit row"] = db.session.scalar(select(func.max(AuditLog.id)))
    db.session.rollback()
    return counts


def expired_message() -> str:
    return zh("The page has expired. Please refresh it and try again.")


def assert_refused(response, label) -> None:
    assert response.status_code == 400, (label, response.status_code, response.headers.get("Location"))
    body = page(response)
    assert expired_message() in body, label
    assert zh("What you entered was not saved.") in body, label
    if isinstance(label, tuple) and label[-1].startswith("/api/"):  # the REST API (issue 12) answers JSON
        assert response.get_json()["code"] == "bad_request", label
        return
    assert 'class="navbar' in body, label  # the site's own layout, not a bare fallback


def test_the_walk_covers_the_mutating_routes(app):
    requests = mutating_requests(app)
    assert len(requests) >= 80
    assert ("POST", "/login/") in requests and ("POST", "/hours/declare") in requests


def test_every_mutating_route_without_a_token_logged_out(app, client, world):
    client.get("/login/")  # a session of its own, as a visitor who opened a page first
    before = row_counts()
    for method, url in mutating_requests(app):
        response = client.open(url, method=method, data={"name": "伪造的名称", "password": factories.PASSWORD})
        assert_refused(response, (method, url))
    assert row_counts() == before


ROLES = {
    "unit admin": lambda world: (world.unit_admin, R.UNIT_ADMIN),
    "HR admin": lambda world: (world.city_admin, R.HR_ADMIN),
    "department admin": lambda world: (world.dept_admin, R.DEPT_ADMIN),
    "training base admin": lambda world: (world.base_admin, R.BASE_ADMIN),
    "support": lambda world: (world.support, R.SUPPORT),
    "system admin": lambda world: (world.sysadmin, R.SYSADMIN),
    "auditor": lambda world: (world.auditor, R.AUDITOR),
    "professional": lambda world: (make_person("防伪测试人", world.unit), R.PROFESSIONAL),
}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_mutating_route_without_a_token_logged_in(app, client, world, role):
    account, role_name = ROLES[role](world)
    cheap_passwords()
    log_in(client, account.username, role_name.value)
    before = row_counts()
    for method, url in mutating_requests(app):
        response = client.open(url, method=method, data={"name": "伪造的名称", "ids": "1", "action": "approve"})
        assert_refused(response, (role, method, url))
        assert url.startswith("/api/") or account.first_name in page(response)  # still logged in: the role's menu
    xhr = client.post("/hours/declare", data={"title": "x"}, headers={"X-Requested-With": "XMLHttpRequest"})
    assert xhr.status_code == 400 and xhr.get_json() == {
        "error": f'{expired_message()} {zh("What you entered was not saved.")}', "code": "bad_request"}
    api = client.post("/account/password", data={}, headers={"Accept": "application/json"})
    assert api.status_code == 400 and expired_message() in api.get_json()["error"]
    assert row_counts() == before
    assert client.get("/home/").status_code == 200  # the refused logout did not log out either


def _professional(client, world):
    person = make_person("上传测试人", world.unit)
    log_in(client, person.username, R.PROFESSIONAL.value)
    return person


def test_oversize_upload_logged_in_is_a_chinese_413(app, client, world):
    _professional(client, world)
    token = csrf_from(client.get("/hours/declare").get_data(as_text=True))
    limit = app.config["MAX_CONTENT_LENGTH"]
    before = row_counts()
    for label, data in (("with a valid token", {"csrf_token": token}), ("without a token", {})):
        big = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * limit)
        response = client.post("/hours/declare", data={**data, "title": "大文件", "attachments": (big, "big.png")},
                               content_type="multipart/form-data")
        assert response.status_code == 413, (label, response.status_code)
        body = page(response)
        assert zh("The upload is too large: at most %(mb)s MB can be sent at once.", mb=limit // 2 ** 20) in body
        assert 'class="navbar' in body and "上传测试人" in body
    big = io.BytesIO(b"\0" * (limit + 1))
    xhr = client.post("/hours/declare", data={"csrf_token": token, "attachments": (big, "big.pdf")},
                      content_type="multipart/form-data", headers={"X-Requested-With": "XMLHttpRequest"})
    assert xhr.status_code == 413 and "MB" in xhr.get_json()["error"]
    assert row_counts() == before


def test_oversize_upload_logged_out_is_a_chinese_413(app, client, world):
    """The public org registration takes a licence scan: the same page for a visitor."""
    token = csrf_from(client.get("/public/register/unit").get_data(as_text=True))
    limit = app.config["MAX_CONTENT_LENGTH"]
    before = row_counts()
    response = client.post("/public/register/unit", data={"csrf_token": token, "org_name": "大文件单位",
                                                          "licence": (io.BytesIO(b"\0" * (limit + 1)), "执照.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 413
    assert zh("The upload is too large: at most %(mb)s MB can be sent at once.", mb=limit // 2 ** 20) in page(response)
    assert 'class="navbar' in page(response)
    assert row_counts() == before


def test_the_refusal_shows_back_what_was_typed_in_a_form_of_this_site(app, client, world):
    _professional(client, world)
    response = client.post("/hours/declare", data={"title": "我填了很久的培训班名称", "hours": "12",
                                                   "subject": "professional", "cert_no": "ZC-2025-0042",
                                                   "note": "第一行\n第二行", "password": "Secret#2026x"},
                           headers={"Referer": "http://localhost/hours/declare"})
    assert_refused(response, "same-site form")
    body = page(response)
    assert "我填了很久的培训班名称" in body and "第一行\n第二行" in body and "ZC-2025-0042" in body
    assert "professional" not in body  # a chosen option's code is nothing the person typed
    assert "Secret#2026x" not in body  # never a secret
    assert 'href="/hours/declare"' in body  # back to the form, to refresh it
    assert zh("Back to the page and refresh it") in body


@pytest.mark.parametrize("referer", [None, "https://evil.example/hours/declare", "http://localhost.evil.example/"])
def test_a_foreign_page_cannot_make_the_refusal_show_its_text(app, client, world, referer):
    _professional(client, world)
    headers = {"Referer": referer} if referer else {}
    response = client.post("/hours/declare", data={"title": "请拨打客服电话 400-000-0000 领取补贴"}, headers=headers)
    assert_refused(response, referer)
    body = page(response)
    assert "400-000-0000" not in body
    assert "evil.example" not in body  # and no link back to it


def test_other_error_pages_render_in_the_layout_for_a_logged_in_user(app, client, world):
    _professional(client, world)
    for url, code, msgid in (("/no-such-page", 404, "The page you asked for does not exist."),
                             ("/public/progress/withdraw", 405, "This action is not allowed.")):
        response = client.get(url)
        assert response.status_code == code
        assert zh(msgid) in page(response) and "上传测试人" in page(response), url
    xhr = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert xhr.status_code == 404 and xhr.get_json() == {"error": zh("The page you asked for does not exist."),
                                                         "code": "not_found"}


def test_refusals_count_nothing_in_the_database(app, client, world):
    """The walk's row counts can fail: a request that does go through changes them."""
    from tests.helpers import submit

    _professional(client, world)
    before = row_counts()
    assert submit(client, "/logout/", {}).status_code in (200, 302)
    assert row_counts() != before
