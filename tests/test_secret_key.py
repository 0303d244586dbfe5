"""No known secret key (SECURITY.md "secrets"): a production start refuses a missing, short or well-known
SECRET_KEY, SQLite, per-process rate limits and the simulated payment provider; a development start makes a random key once into the instance
folder (mode 0600) and keeps it. Real starts run in a child process, as `python run.py` would."""
from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys

import pytest
from flask import Flask

from app import UnsafeConfiguration, _settle_secrets, create_app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD_KEY = secrets.token_urlsafe(48)
PRODUCTION = {"APP_ENV": "production", "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://app@db.internal/jxjy",
              "RATELIMIT_STORAGE_URI": "redis://redis.internal:6379/0"}


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    """Start the application as a deployment does: configuration from the environment only."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SECRET_KEY", "APP_ENV", "DATABASE_URL", "REDIS_URL", "INSTANCE_PATH")}
    clean.update({"INSTANCE_PATH": str(tmp_path / "instance"), "PYTHONDONTWRITEBYTECODE": "1", **env})
    code = "from app import create_app; app = create_app(); print('KEY=' + app.secret_key)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=120)


def key_of(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr[-2000:]
    return next(line for line in result.stdout.splitlines() if line.startswith("KEY="))[4:]


# ------------------------------------------------------------------ production

def test_a_start_that_does_not_say_development_without_a_key_refuses(tmp_path):
    result = start(tmp_path, DATABASE_URL="postgresql+psycopg://app@db.internal/jxjy",
                   REDIS_URL="redis://redis.internal:6379/0")
    assert result.returncode != 0
    assert "UnsafeConfiguration" in result.stderr and "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "instance" / "secret_key").exists()  # no key is made up for production


def test_production_with_the_old_default_key_refuses(tmp_path):
    result = start(tmp_path, APP_ENV="production", SECRET_KEY="dev-only-secret-change-me",
                   DATABASE_URL="postgresql+psycopg://app@db.internal/jxjy", REDIS_URL="redis://redis.internal:6379/0")
    assert result.returncode != 0
    assert "SECRET_KEY is a well-known value" in result.stderr


@pytest.mark.parametrize("key", [None, "", "dev-only-secret-change-me", "test-secret", "change-me", "CHANGE-ME",
                                 "short-but-random-Q7x!", "x" * 64, "ab" * 40])
def test_production_refuses_a_missing_short_or_known_key(tmp_path, key):
    with pytest.raises(UnsafeConfiguration, match="SECRET_KEY"):
        create_app(INSTANCE_PATH=str(tmp_path), SECRET_KEY=key, **PRODUCTION)


@pytest.mark.parametrize("setting, value, words", [
    ("SQLALCHEMY_DATABASE_URI", "sqlite:////srv/jxjy/app.db", "SQLite"),
    ("RATELIMIT_STORAGE_URI", "memory://", "REDIS_URL"),
])
def test_production_refuses_sqlite_and_per_process_rate_limits(tmp_path, setting, value, words):
    with pytest.raises(UnsafeConfiguration, match=words):
        create_app(INSTANCE_PATH=str(tmp_path), SECRET_KEY=GOOD_KEY, **{**PRODUCTION, setting: value})


def test_production_refuses_the_simulated_payment_provider_unless_told_and_then_a_known_secret(tmp_path):
    """On the simulated provider anyone "pays" by pressing its button: a production platform takes it only when
    configured as a trial (PAYMENT_SIMULATED), and then not with the development signing secret."""
    base = {**PRODUCTION, "SECRET_KEY": GOOD_KEY, "INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(UnsafeConfiguration, match="simulated provider"):
        create_app(**base, PAYMENT_PROVIDER="simulated")
    with pytest.raises(UnsafeConfiguration, match="PAYMENT_SECRET"):
        create_app(**base, PAYMENT_PROVIDER="simulated", PAYMENT_SIMULATED=True)
    for accepted in ({"PAYMENT_PROVIDER": "simulated", "PAYMENT_SIMULATED": True,
                      "PAYMENT_SECRET": secrets.token_urlsafe(32)},
                     {"PAYMENT_PROVIDER": "some.provider:Class"}):
        app = Flask("probe", instance_path=str(tmp_path))
        app.config.update(**PRODUCTION, SECRET_KEY=GOOD_KEY, **accepted)
        _settle_secrets(app)  # no refusal


def test_an_unknown_app_env_refuses(tmp_path):
    with pytest.raises(UnsafeConfiguration, match="APP_ENV"):
        create_app(INSTANCE_PATH=str(tmp_path), SECRET_KEY=GOOD_KEY, **{**PRODUCTION, "APP_ENV": "staging"})


def test_production_with_a_random_key_postgresql_and_redis_is_accepted(tmp_path):
    app = Flask("probe", instance_path=str(tmp_path))
    app.config.update(SECRET_KEY=GOOD_KEY, **PRODUCTION)
    _settle_secrets(app)
    assert app.config["SECRET_KEY"] == GOOD_KEY
    assert not (tmp_path / "secret_key").exists()


def test_the_repository_holds_no_usable_key():
    import config

    assert config.Config.SECRET_KEY in (None, os.environ.get("SECRET_KEY"))
    with open(os.path.join(ROOT, "config.py"), encoding="utf-8") as f:
        assert "dev-only-secret-change-me" not in f.read()


# ------------------------------------------------------------------ development (run.sh)

def test_development_makes_a_private_key_once_and_keeps_it(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    first = key_of(start(tmp_path, APP_ENV="development", DATABASE_URL=db_url))
    path = tmp_path / "instance" / "secret_key"
    assert path.read_text().strip() == first
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # readable by its owner only
    second = key_of(start(tmp_path, APP_ENV="development", DATABASE_URL=db_url))
    assert second == first  # sessions survive a restart
    other = key_of(start(tmp_path / "elsewhere", APP_ENV="development", DATABASE_URL=db_url))
    assert other != first  # each installation its own key


def test_development_with_an_explicit_key_uses_it_and_writes_nothing(tmp_path):
    key = key_of(start(tmp_path, APP_ENV="development", SECRET_KEY=GOOD_KEY,
                       DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}"))
    assert key == GOOD_KEY
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_a_damaged_key_file_is_refused_not_used(tmp_path):
    (tmp_path / "secret_key").write_text("\n")
    app = Flask("probe", instance_path=str(tmp_path))
    app.config.update(APP_ENV="development", SECRET_KEY=None)
    with pytest.raises(UnsafeConfiguration, match="secret_key"):
        _settle_secrets(app)


def test_run_sh_starts_in_development():
    with open(os.path.join(ROOT, "run.sh"), encoding="utf-8") as f:
        assert "export APP_ENV=development" in f.read()
