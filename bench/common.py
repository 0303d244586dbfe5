"""Shared settings of the benchmark scripts: database, fixed accounts, app factory overrides."""
from __future__ import annotations

import datetime
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/jxjy_bench")
PASSWORD = "Bench@2026"
CAPTCHA = "2468"
COMMENT_PREFIX = "jxjy-bench complete"

# Fixed accounts made by the generator (seq >= 900 never collides with the generated persons, whose seq < 100).
BIRTH = datetime.date(1975, 2, 2)
ADMIN_ACCOUNTS = {
    # key: (region code, seq, name, role)
    "unit_admin": ("370102", 901, "李单位", "UnitAdmin"),
    "dept_admin": ("370102", 902, "张主管", "DeptAdmin"),
    "city_admin": ("370102", 903, "赵人社", "HRAdmin"),
    "district_admin": ("370102", 904, "钱区人社", "HRAdmin"),
    "auditor": ("370102", 905, "孙审计", "Auditor"),
    "support": ("370102", 906, "周客服", "Support"),
    "sysadmin": ("370102", 907, "吴系统", "SysAdmin"),
}
PLATFORM_ROLES = ("auditor", "support", "sysadmin")  # no org: their memberships have none


def id_number_of(key: str) -> str:
    from app.demo import make_id_number

    region, seq, _name, _role = ADMIN_ACCOUNTS[key]
    return make_id_number(region, BIRTH, seq)


def split_url(url: str) -> tuple[str, str]:
    """(libpq URL of the server's `postgres` database, database name) for a SQLAlchemy URL."""
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    base, _, name = plain.rpartition("/")
    return base + "/postgres", name


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def bench_state(url: str) -> str | None:
    """The completion comment of the bench database, or None if it is missing or incomplete."""
    import psycopg

    admin_url, name = split_url(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if row is None or not row[0] or not row[0].startswith(COMMENT_PREFIX):
        return None
    return row[0]


HOURS_MARK = " | hours: "


def has_hours(state: str | None) -> bool:
    """True if the completion comment says the hours step (generate.py --hours) finished."""
    return bool(state) and HOURS_MARK in state


def foundation_comment(state: str) -> str:
    return state.split(HOURS_MARK)[0]


def set_comment(url: str, comment: str) -> None:
    import psycopg

    admin_url, name = split_url(url)
    assert "'" not in comment
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")


def app_overrides(url: str) -> dict:
    return dict(
        SQLALCHEMY_DATABASE_URI=url,
        TESTING=True,
        CAPTCHA_FIXED=CAPTCHA,
        SECRET_KEY="bench-secret",
        MAIL_SUPPRESS_SEND=True,
        RATELIMIT_STORAGE_URI="memory://",
        LOGIN_RATE_LIMIT="100000 per minute",
        PUBLIC_POST_RATE_LIMIT="100000 per minute",
        LOG_LEVEL="WARNING",
    )
