"""Small factories for tests: valid ID numbers, orgs, accounts with roles, registrations."""
from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass

from app.demo import make_credit_code, make_id_number
from app.extensions import db
from app.models import Account, Membership, MembershipState, Org, OrgKind, OrgState, Person, RoleName
from app.workflows.accounts import display_name, hash_password
from app.workflows.base import Actor
from app.workflows.orgs import create_org

PASSWORD = "Test@2026a"
FRESH_CAPTCHA = "fresh"  # tests.helpers.submit() loads a new captcha picture and answers it
_seq = itertools.count(1)
_HASH = None


def new_id_number() -> str:
    n = next(_seq)
    # Unique for n < 14,000 and always a past birth date.
    return make_id_number("370102", datetime.date(1960, 1, 1) + datetime.timedelta(days=(n * 13) % 14000), n)


def make_org(kind: OrgKind, name: str, parent: Org | None = None, state: OrgState = OrgState.ACTIVE) -> Org:
    initial = state if state in (OrgState.PENDING, OrgState.ACTIVE) else OrgState.ACTIVE
    org = create_org(kind=kind, name=name, parent=parent, state=initial,
                     credit_code=make_credit_code("370102", 100000 + next(_seq)))
    org.state = state.value  # a fixture may build a world whose orgs were already closed, rejected …
    _commit()
    return org


def make_account(name: str = "测试用户", roles: list[tuple[RoleName, Org | None]] = (), *,
                 id_number: str | None = None, password: str = PASSWORD, person_unit: Org | None = None) -> Account:
    global _HASH
    if password == PASSWORD:
        _HASH = _HASH or hash_password(PASSWORD)
        pw_hash = _HASH
    else:
        pw_hash = hash_password(password)
    id_number = id_number or new_id_number()
    account = Account(username=id_number, first_name=name, last_name="", email=f"u{id_number}@example.cn",
                      active=True, password=pw_hash, mobile="13800000000")
    db.session.add(account)
    db.session.flush()
    for role, org in roles:
        db.session.add(Membership(user_id=account.id, role=role.value, org_id=org.id if org else None,
                                  state=MembershipState.ACTIVE.value, is_super=role != RoleName.PROFESSIONAL))
    if person_unit is not None:
        db.session.add(Person(user_id=account.id, name=name, id_number=id_number, unit_id=person_unit.id))
    _commit()
    return account


_one_transaction = False


def _commit() -> None:
    """A factory's row is committed, unless a whole set is being built in one transaction (World.build)."""
    if _one_transaction:
        db.session.flush()
    else:
        db.session.commit()


def actor_for(account: Account, role: RoleName, org: Org | None = None) -> Actor:
    return Actor(account.id, display_name(account), role, org.id if org else None,
                 None if org is None else org.path, "127.0.0.1")


@dataclass
class World:
    city: Org
    district: Org
    other_district: Org
    dept: Org
    unit: Org
    sub_unit: Org
    other_unit: Org
    base: Org
    unit_admin: Account
    sub_unit_admin: Account
    other_unit_admin: Account
    dept_admin: Account
    district_admin: Account
    other_district_admin: Account
    city_admin: Account
    base_admin: Account
    support: Account
    sysadmin: Account
    auditor: Account

    @classmethod
    def build(cls) -> "World":
        global _one_transaction
        _one_transaction = True
        try:
            world = cls._build()
            db.session.commit()
        finally:
            _one_transaction = False
        return world

    @classmethod
    def _build(cls) -> "World":
        city = make_org(OrgKind.HR_CITY, "测试市人社局")
        district = make_org(OrgKind.HR_DISTRICT, "甲区人社局", city)
        other_district = make_org(OrgKind.HR_DISTRICT, "乙区人社局", city)
        dept = make_org(OrgKind.DEPARTMENT, "甲区卫健局", district)
        unit = make_org(OrgKind.UNIT, "甲区人民医院", dept)
        sub_unit = make_org(OrgKind.UNIT, "甲区人民医院分院", unit)
        other_unit = make_org(OrgKind.UNIT, "乙区第一中学", other_district)
        base = make_org(OrgKind.BASE, "测试继续教育基地", city)
        R = RoleName
        return cls(
            city=city, district=district, other_district=other_district, dept=dept, unit=unit, sub_unit=sub_unit,
            other_unit=other_unit, base=base,
            unit_admin=make_account("单位管理员", [(R.UNIT_ADMIN, unit)]),
            sub_unit_admin=make_account("分院管理员", [(R.UNIT_ADMIN, sub_unit)]),
            other_unit_admin=make_account("乙校管理员", [(R.UNIT_ADMIN, other_unit)]),
            dept_admin=make_account("主管部门管理员", [(R.DEPT_ADMIN, dept)]),
            district_admin=make_account("甲区人社管理员", [(R.HR_ADMIN, district)]),
            other_district_admin=make_account("乙区人社管理员", [(R.HR_ADMIN, other_district)]),
            city_admin=make_account("市人社管理员", [(R.HR_ADMIN, city)]),
            base_admin=make_account("基地管理员", [(R.BASE_ADMIN, base)]),
            support=make_account("客服人员", [(R.SUPPORT, None)]),
            sysadmin=make_account("系统管理员", [(R.SYSADMIN, None)]),
            auditor=make_account("审计人员", [(R.AUDITOR, None)]),
        )


def person_form(unit: Org, **overrides) -> dict:
    """A complete, valid professional registration form."""
    data = {
        "id_type": "resident_id", "id_number": new_id_number(), "password": PASSWORD, "confirm": PASSWORD,
        "mobile": "13912345678", "email": f"p{next(_seq)}@example.cn", "name": "张三", "gender": "M",
        "ethnicity": "汉族", "unit_id": str(unit.id), "department": "内科", "education": "大学本科",
        "school": "山东大学", "major": "临床医学", "degree": "学士", "title_series": "卫生技术", "title_level": "中级",
        "commitment": "y", "captcha": FRESH_CAPTCHA,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def org_form(parent: Org, **overrides) -> dict:
    data = {
        "org_name": f"新注册单位{next(_seq)}", "credit_code": make_credit_code("370102", 200000 + next(_seq)),
        "parent_id": str(parent.id), "phone": "0531-88888888", "nature": "事业单位", "industry": "教育",
        "address": "测试路1号", "name": "李四", "id_type": "resident_id", "id_number": new_id_number(),
        "password": PASSWORD, "confirm": PASSWORD, "mobile": "13912345679", "email": f"o{next(_seq)}@example.cn",
        "commitment": "y", "captcha": FRESH_CAPTCHA,
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# ------------------------------------------------------------------ upload samples: real files that parse

def sample_image(fmt: str = "PNG", size: tuple[int, int] = (2, 2)) -> bytes:
    """A real, tiny image (uploads are checked by decoding them, not by their first bytes)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 40, 40)).save(buffer, fmt)
    return buffer.getvalue()


def sample_pdf(pages: int = 1) -> bytes:
    """A real, tiny PDF of blank pages."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(72, 72)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


PNG = sample_image("PNG")
JPEG = sample_image("JPEG")
PDF = sample_pdf()


def make_online_class(base: Org, reviewer: Org, title: str = "专业科目：临床新进展", *, price="128.00",
                      state: str = "published", year: int | None = None, hours=12) -> "OnlineClass":
    """A class of `base` (reviewed by the HR bureau `reviewer`) open for enrolment today: published by default,
    its window a month either side of today (issue 11)."""
    from decimal import Decimal

    from app import clock
    from app.models import OnlineClass

    today = clock.today()
    item = OnlineClass(base_id=base.id, reviewer_org_id=reviewer.id, title=title, track="professional",
                       specialty="卫生专业", year=year or today.year, hours=Decimal(str(hours)), price=Decimal(price),
                       enrol_start=today - datetime.timedelta(days=30), enrol_end=today + datetime.timedelta(days=30),
                       intro="")
    item.state = state  # a fixture writes the state its story needs (classes are published by the HR bureau)
    db.session.add(item)
    db.session.commit()
    return item
