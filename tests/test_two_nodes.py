"""Issue 13 point 2: two application nodes (two gunicorn instances on two loopback ports, production mode) on one
PostgreSQL database, one Redis and one file store share what must be shared:

- a session made on one node is valid on the other, and an API token too;
- logging out on one node voids the session on both;
- a lockout counted on both nodes holds on both;
- a captcha answered on one node cannot be answered again on the other;
- a file uploaded through one node is served by the other;
- a rate limit counts the requests of both nodes (Redis), per client address as the proxy forwards it.

The nodes run `gunicorn -c gunicorn.conf.py run:app` as production runs it (APP_ENV=production, a strong
SECRET_KEY, PostgreSQL, Redis) against the test run's own database. PostgreSQL and Redis are needed: on the SQLite
pass the module is skipped and says why (the PostgreSQL pass of ./test.sh and .ci/run runs it)."""
from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests
from sqlalchemy import text

from app.extensions import db
from tests.helpers import PNG, YEAR, csrf_from, learning_form, make_person, study_dates
from tests import factories

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDIS_DB = "redis://127.0.0.1:6379/14"
WRONG = "账号或密码错误"
ANSWER = "TEST"
LIMIT = 6  # PUBLIC_POST_RATE_LIMIT of the nodes (the captcha image is limited by it)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


pytestmark = [
    pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="two nodes need PostgreSQL: this is the "
                       "SQLite pass (the PostgreSQL pass runs it)"),
    pytest.mark.skipif(not _redis_up(), reason="two nodes need Redis on 127.0.0.1:6379"),
    pytest.mark.usefixtures("fresh_id_sequence"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def nodes(app, tmp_path_factory):
    """Two production nodes on the test database, sharing Redis (its db 14, emptied first) and one file store."""
    import redis

    redis.Redis.from_url(REDIS_DB).flushdb()
    store = tmp_path_factory.mktemp("shared-store")
    key = secrets.token_urlsafe(48)
    env = {**os.environ, "APP_ENV": "production", "SECRET_KEY": key,
           "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": REDIS_DB,
           "TASK_QUEUE": f"two-nodes-{uuid.uuid4().hex[:8]}", "UPLOAD_FOLDER": str(store / "uploads"),
           "LEARNING_FOLDER": str(store / "learning"), "PAYMENT_SIMULATED": "true",
           "PAYMENT_SECRET": secrets.token_urlsafe(48), "GUNICORN_WORKERS": "1", "PROXY_TRUSTED_HOPS": "1",
           "PUBLIC_POST_RATE_LIMIT": f"{LIMIT} per minute", "LOGIN_RATE_LIMIT": "100 per minute",
           "MAIL_SUPPRESS_SEND": "true", "LOG_FORMAT": "text"}
    env.pop("TEST_DATABASE_URL", None)
    urls, procs = [], []
    for name in ("a", "b"):
        port = _free_port()
        instance = store / f"instance-{name}"  # each node its own instance folder: only the store is shared
        instance.mkdir()
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "run:app"], cwd=ROOT,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "INSTANCE_PATH": str(instance)},
            stdout=subprocess.DEVNULL, stderr=open(store / f"node-{name}.log", "wb")))
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 90
    try:
        for url, proc in zip(urls, procs):
            while True:
                assert proc.poll() is None, (store / f"node-{'ab'[procs.index(proc)]}.log").read_text()[-3000:]
                try:
                    if requests.get(url + "/login/", timeout=5).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline, "a node did not start in 90 s"
                time.sleep(0.2)
        yield urls[0], urls[1], key
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _solve_captcha(browser: requests.Session, node: str, key: str) -> str:
    """Ask `node` for a captcha image; the challenge it keeps (the newest row) is given a known answer, the way
    a person reads the picture."""
    assert browser.get(node + "/captcha.png").status_code == 200
    row = db.session.execute(text("SELECT id FROM captcha_challenge ORDER BY created_at DESC LIMIT 1")).one()
    digest = hmac.new(key.encode(), f"{row.id}:{ANSWER}".encode(), hashlib.sha256).hexdigest()
    db.session.execute(text("UPDATE captcha_challenge SET digest = :d WHERE id = :i"), {"d": digest, "i": row.id})
    db.session.commit()
    return ANSWER


def _login_form(browser: requests.Session, node: str, key: str, account, password=factories.PASSWORD) -> dict:
    token = csrf_from(browser.get(node + "/login/").text)
    return {"csrf_token": token, "role": "Professional", "id_number": account.username, "password": password,
            "captcha": _solve_captcha(browser, node, key)}


def _web_login(browser, node, key, account, password=factories.PASSWORD) -> requests.Response:
    return browser.post(node + "/login/", data=_login_form(browser, node, key, account, password))


def _logged_in(browser: requests.Session, node: str) -> bool:
    response = browser.get(node + "/home/")
    return response.status_code == 200 and "/login/" not in response.url


def _api_login(node: str, account, password=factories.PASSWORD) -> requests.Response:
    return requests.post(node + "/api/v1/auth/login", json={"id_number": account.username, "password": password,
                                                            "role": "Professional"})


@pytest.fixture()
def person(fast_world):
    return make_person("两节点医生", fast_world.unit)


def test_a_session_and_a_token_made_on_one_node_hold_on_the_other(nodes, person):
    a, b, key = nodes
    browser = requests.Session()
    assert not _logged_in(browser, b)
    response = _web_login(browser, a, key, person)
    assert response.status_code == 200 and "/login/" not in response.url, response.text[-500:]
    assert _logged_in(browser, a) and _logged_in(browser, b)
    assert "两节点医生" in browser.get(b + "/home/").text
    token = _api_login(a, person).json()["access_token"]
    me = requests.get(b + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["account_id"] == person.id


def test_logging_out_on_one_node_voids_the_session_on_both(nodes, person):
    a, b, key = nodes
    browser = requests.Session()
    _web_login(browser, a, key, person)
    saved = browser.cookies.copy()  # what a thief copied before the logout
    token = csrf_from(browser.get(b + "/home/").text)
    browser.post(b + "/logout/", data={"csrf_token": token})
    replay = requests.Session()
    replay.cookies = saved
    assert not _logged_in(replay, a) and not _logged_in(replay, b)


def test_a_lockout_counted_on_both_nodes_holds_on_both(nodes, person):
    a, b, key = nodes
    for node in (a, b, a, b, a):  # five failures, spread over the nodes
        assert _api_login(node, person, "Wrong#2026x").status_code == 401
    assert _api_login(b, person).json() == {"error": WRONG, "code": "login_failed"}  # the right password now
    browser = requests.Session()
    response = _web_login(browser, a, key, person)
    assert WRONG in response.text and not _logged_in(browser, a)


def test_a_captcha_answered_on_one_node_cannot_be_answered_on_the_other(nodes, person):
    a, b, key = nodes
    browser = requests.Session()
    form = _login_form(browser, a, key, person)
    before = browser.cookies.copy()  # the session that names the challenge
    assert "/login/" not in browser.post(b + "/login/", data=form).url  # answered once, on node b: in
    replay = requests.Session()
    replay.cookies = before
    response = replay.post(a + "/login/", data=form)  # the same answer again, on node a
    assert "/login/" in response.url and not _logged_in(replay, a)


def test_a_file_uploaded_through_one_node_is_served_by_the_other(nodes, person):
    a, b, _key = nodes
    bearer = {"Authorization": "Bearer " + _api_login(a, person).json()["access_token"]}
    start, end = study_dates()
    draft = requests.post(a + "/api/v1/me/declarations", headers=bearer, json={
        "subject": "professional", "form_id": learning_form().id, "year": YEAR, "title": "两节点培训",
        "hours": "4", "start_date": start.isoformat(), "end_date": end.isoformat(),
        "details": {"organiser": "省卫健委", "location": "济南"}})
    assert draft.status_code == 201, draft.text
    item = draft.json()
    uploaded = requests.post(f"{a}/api/v1/me/declarations/{item['id']}/attachments", headers=bearer,
                             files={"attachments": ("证书.png", io.BytesIO(PNG), "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    [file] = uploaded.json()["attachments"]
    served = requests.get(f"{b}/api/v1/me/declarations/{item['id']}/attachments/{file['id']}", headers=bearer)
    assert served.status_code == 200 and served.content == PNG


def test_a_rate_limit_counts_the_requests_of_both_nodes(nodes):
    a, b, _key = nodes
    client = {"X-Forwarded-For": "203.0.113.7"}  # one person, as the proxy forwards their address
    codes = [requests.get((a, b)[i % 2] + "/captcha.png", headers=client).status_code for i in range(LIMIT + 2)]
    assert codes == [200] * LIMIT + [429, 429], codes
    # another person is not limited by the first one's requests
    assert requests.get(b + "/captcha.png", headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 200
