"""Redis, which keeps the rate limits, stops: pages keep being served to people already signed in, and a login is
refused with a clear Chinese message (503), never let through without its rate limit (fail open) nor a 500. When
Redis is back, logins work again without restarting the app.

A real Redis server (redis-server on a free port) is stopped and started again under the app's limiter."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from app.models import RoleName
from tests import factories
from tests.helpers import login, page, zh

REFUSED = ("This form cannot be accepted right now: the service that counts attempts (against password guessing) "
           "cannot be reached. Nothing was done. Please try again in a few minutes.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    pytest.skip("redis-server did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture()
def redis_limits(app, monkeypatch):
    """The app's limiter on a Redis server of its own, built with the app's storage options (as in production)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/setup.sh installs it)")
    from limits.storage import storage_from_string
    from limits.strategies import STRATEGIES

    from app.extensions import limiter

    port = _free_port()
    box = {"proc": _start_redis(port), "port": port}
    storage = storage_from_string(f"redis://127.0.0.1:{port}/0", **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}))
    monkeypatch.setattr(limiter, "_storage", storage)
    monkeypatch.setattr(limiter, "_limiter", STRATEGIES[limiter._strategy](storage))
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    yield box
    if box["proc"].poll() is None:
        _stop(box["proc"])


def _logged_in(client) -> bool:
    response = client.get("/hours/")
    return response.status_code == 200


def test_redis_down_refuses_logins_clearly_and_keeps_serving_pages(app, world, redis_limits):
    me = factories.make_account("张医生", [(RoleName.PROFESSIONAL, world.unit)], person_unit=world.unit)
    other = factories.make_account("李医生", [(RoleName.PROFESSIONAL, world.unit)], person_unit=world.unit)
    signed_in = app.test_client()
    assert login(signed_in, me.username, follow=False).status_code == 302
    assert _logged_in(signed_in)

    _stop(redis_limits["proc"])  # Redis is gone
    # reads go on: the person already signed in keeps working, the login page itself opens
    assert signed_in.get("/hours/").status_code == 200
    assert signed_in.get("/", follow_redirects=True).status_code == 200
    assert app.test_client().get("/login/").status_code == 200
    # a login is refused, clearly, and not let through (fail open) nor a server error
    newcomer = app.test_client()
    refused = login(newcomer, other.username, follow=False)
    assert refused.status_code == 503, refused.status_code
    assert zh(REFUSED) in page(refused)
    assert not _logged_in(newcomer)
    # the JSON answer of the API's token endpoint says the same
    api = app.test_client().post("/api/v1/auth/login", json={"id_number": other.username, "password": "x",
                                                             "role": "Professional"})
    assert api.status_code == 503, api.status_code
    assert zh(REFUSED) in api.get_json()["error"]

    # Redis is back (same address): logins work again without restarting anything, and are limited again
    redis_limits["proc"] = _start_redis(redis_limits["port"])
    assert login(newcomer, other.username, follow=False).status_code == 302
    assert _logged_in(newcomer)
    statuses = [login(app.test_client(), other.username, follow=False).status_code for _ in range(4)]
    assert 429 in statuses, statuses  # the limit counts in Redis again (3 per minute: one more than that refused)
