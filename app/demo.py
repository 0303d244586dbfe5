"""Demo data: a city with 3 districts, HR bureaus, departments, units with sub-units, a training base,
one account per role and a few hundred professionals in every registration state.

Every demo account's password is DEMO_PASSWORD; the README lists them.
"""
from __future__ import annotations

import datetime
import json
import random
from decimal import Decimal

from sqlalchemy import select

from . import clock
from .extensions import db
from .models import (Account, Membership, MembershipState, Org, OrgKind, OrgState, Person, Region, Registration,
                     RegistrationState, RoleName, Subject)
from .validators import _gb11643_check_char, _uscc_check_char
from .workflows.accounts import hash_password
from .workflows.base import Actor
from .workflows.pending import pending_for_person
from .workflows.attachments import store_change_files
from .workflows.orgs import create_org
from .workflows.registration import LICENCE_OWNER

DEMO_PASSWORD = "Demo@2026"


def make_id_number(region: str, birth: datetime.date, seq: int) -> str:
    """A valid GB 11643 number (deterministic, for demo and test data)."""
    body = f"{region}{birth:%Y%m%d}{seq % 1000:03d}"
    return body + _gb11643_check_char(body)


def make_credit_code(region: str, seq: int) -> str:
    """A valid GB 32100 code: 1 + 2 (legal person, enterprise) + region + 9-char org code + check char."""
    body = f"91{region}{seq:08d}X"[:17]
    body = body[:16] + "0123456789ABCDEFGHJKLMNPQRTUWXY"[seq % 31]
    return body + _uscc_check_char(body)


# The demo accounts listed in the README: (证件号, name, role, org key)
DEMO_ACCOUNTS = [
    ("370102198001010015", "王专技", RoleName.PROFESSIONAL, "u-hospital1"),
    ("370102197502020022", "李单位", RoleName.UNIT_ADMIN, "u-hospital1"),
    ("370102197003030015", "张主管", RoleName.DEPT_ADMIN, "d-health"),
    ("370102196804040024", "赵人社", RoleName.HR_ADMIN, "hr-city"),
    ("370102197205050014", "钱区人社", RoleName.HR_ADMIN, "hr-lixia"),
    ("370102198506060026", "孙基地", RoleName.BASE_ADMIN, "b-base1"),
    ("370102199007070013", "周客服", RoleName.SUPPORT, None),
    ("370102198308080026", "吴系统", RoleName.SYSADMIN, None),
    ("370102198109090010", "郑审计", RoleName.AUDITOR, None),
]
# Issue 4 (personnel and org changes): a professional with hours and nothing pending, free to change title and
# unit; the admin of the unit a transfer goes to; a second admin of 李单位's unit holding an org-defined role.
CHANGE_ACCOUNTS = [
    ("370102198811110122", "刘调转", RoleName.PROFESSIONAL, "u-hospital1"),
    ("370102197912120210", "何接收", RoleName.UNIT_ADMIN, "u-hospital2"),
    ("370102198603130313", "孔审核", RoleName.UNIT_ADMIN, "u-hospital1"),
]
QUIET_UNITS = ("u-street", "u-lixia-m1")
# An account holding two roles, to show the role choice after login.
MULTI_ROLE = ("370102198210100017", "陈双岗", [(RoleName.PROFESSIONAL, "u-school1"), (RoleName.UNIT_ADMIN, "u-school1"),
                                               (RoleName.UNIT_ADMIN, "u-school2")])

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕鹏辉宇浩凯健俊帆帅旭宁婷雪琳晨阳"


def _account(id_number: str, name: str, email: str, password_hash: str) -> Account:
    account = Account(username=id_number, first_name=name, last_name="", email=email, active=True,
                      password=password_hash, id_type="resident_id", mobile="139" + id_number[-8:].replace("X", "0"))
    db.session.add(account)
    db.session.flush()
    return account


def seed(persons: int = 240, rng_seed: int = 7) -> bool:
    """Load the demo data once; returns False if it is already there."""
    if db.session.scalar(select(Org.id).limit(1)) is not None:
        return False
    rng = random.Random(rng_seed)
    pw = hash_password(DEMO_PASSWORD)

    city = Region(code="370100", name="济南市")
    db.session.add(city)
    db.session.flush()
    districts = {}
    for code, name in (("370102", "历下区"), ("370103", "市中区"), ("370104", "槐荫区")):
        districts[code] = Region(code=code, name=name, parent_id=city.id)
        db.session.add(districts[code])
    db.session.flush()

    seq = iter(range(1, 10_000))
    orgs: dict[str, Org] = {}

    def org(key, kind, name, parent, region, state=OrgState.ACTIVE, **fields):
        orgs[key] = create_org(kind=kind, name=name, parent=parent, state=state, region_id=region.id,
                               credit_code=make_credit_code(region.code, next(seq)), **fields)
        return orgs[key]

    hr_city = org("hr-city", OrgKind.HR_CITY, "济南市人力资源和社会保障局", None, city, nature="机关")
    hr_lixia = org("hr-lixia", OrgKind.HR_DISTRICT, "历下区人力资源和社会保障局", hr_city, districts["370102"],
                   nature="机关")
    hr_shizhong = org("hr-shizhong", OrgKind.HR_DISTRICT, "市中区人力资源和社会保障局", hr_city,
                      districts["370103"], nature="机关")
    org("hr-huaiyin", OrgKind.HR_DISTRICT, "槐荫区人力资源和社会保障局", hr_city, districts["370104"], nature="机关")
    d_health = org("d-health", OrgKind.DEPARTMENT, "济南市卫生健康委员会", hr_city, city, nature="机关",
                   industry="卫生健康")
    d_edu = org("d-edu", OrgKind.DEPARTMENT, "济南市教育局", hr_city, city, nature="机关", industry="教育")
    d_lixia_edu = org("d-lixia-edu", OrgKind.DEPARTMENT, "历下区教育和体育局", hr_lixia, districts["370102"],
                      nature="机关", industry="教育")
    org("d-shizhong-build", OrgKind.DEPARTMENT, "市中区住房和城乡建设局", hr_shizhong, districts["370103"],
        nature="机关", industry="工程建设")

    units = [
        ("u-hospital1", "济南市第一人民医院", d_health, city, "卫生健康"),
        ("u-hospital2", "济南市中心医院", d_health, city, "卫生健康"),
        ("u-hospital3", "济南市妇幼保健院", d_health, city, "卫生健康"),
        ("u-cdc", "济南市疾病预防控制中心", d_health, city, "卫生健康"),
        ("u-school1", "济南第一中学", d_edu, city, "教育"),
        ("u-school2", "济南外国语学校", d_edu, city, "教育"),
        ("u-school3", "济南市实验中学", d_edu, city, "教育"),
        ("u-college", "济南职业学院", d_edu, city, "教育"),
        ("u-lixia-p1", "历下区实验小学", d_lixia_edu, districts["370102"], "教育"),
        ("u-lixia-p2", "历下区燕山小学", d_lixia_edu, districts["370102"], "教育"),
        ("u-lixia-m1", "历下区第二中学", d_lixia_edu, districts["370102"], "教育"),
        ("u-design", "济南城建设计研究院有限公司", orgs["d-shizhong-build"], districts["370103"], "工程建设"),
        ("u-build", "济南四建集团有限责任公司", orgs["d-shizhong-build"], districts["370103"], "工程建设"),
        ("u-soft", "山东浪潮软件科技有限公司", hr_lixia, districts["370102"], "信息技术"),
        ("u-bank", "济南农村商业银行股份有限公司", hr_shizhong, districts["370103"], "金融"),
        ("u-farm", "槐荫区农业技术推广站", orgs["hr-huaiyin"], districts["370104"], "农业"),
        ("u-media", "济南日报报业集团", hr_city, city, "文化传媒"),
        ("u-mfg", "济南二机床集团有限公司", orgs["hr-huaiyin"], districts["370104"], "制造业"),
        ("u-street", "历下区解放路街道办事处", hr_lixia, districts["370102"], "其他"),
        ("u-township", "市中区党家街道人社所", hr_shizhong, districts["370103"], "其他"),
    ]
    for key, name, parent, region, industry in units:
        org(key, OrgKind.UNIT, name, parent, region, nature="事业单位" if "有限" not in name else "国有企业",
            industry=industry, phone="0531-8" + f"{next(seq):07d}"[-7:], address=f"{region.name}示范路{len(orgs)}号")
    # Sub-units (branches) registered under their unit.
    org("u-hospital1-east", OrgKind.UNIT, "济南市第一人民医院东院区", orgs["u-hospital1"], city, nature="事业单位",
        industry="卫生健康")
    org("u-hospital1-lab", OrgKind.UNIT, "济南市第一人民医院检验中心", orgs["u-hospital1"], city, nature="事业单位",
        industry="卫生健康")
    org("u-build-branch", OrgKind.UNIT, "济南四建集团第一分公司", orgs["u-build"], districts["370103"],
        nature="国有企业", industry="工程建设")
    org("b-base1", OrgKind.BASE, "济南市专业技术人员继续教育基地", hr_city, city, nature="事业单位", industry="教育")

    # A few org registrations waiting in the HR and department queues.
    pending_orgs = [
        ("历下区文化馆", OrgKind.UNIT, hr_lixia, districts["370102"]),
        ("济南市口腔医院", OrgKind.UNIT, d_health, city),
        ("济南市市场监督管理局", OrgKind.DEPARTMENT, hr_city, city),
        ("济南继续教育学院", OrgKind.BASE, hr_city, city),
    ]

    # Demo accounts, one per role.
    for id_number, name, role, key in DEMO_ACCOUNTS:
        account = _account(id_number, name, f"{role.value.lower()}{'-' + key if key else ''}@jxjy.example.cn", pw)
        db.session.add(Membership(user_id=account.id, role=role.value, org_id=orgs[key].id if key else None,
                                  state=MembershipState.ACTIVE.value, is_super=role != RoleName.PROFESSIONAL))
        if role == RoleName.PROFESSIONAL:
            _person(account, orgs[key], rng)
    account = _account(MULTI_ROLE[0], MULTI_ROLE[1], "demo-multi@jxjy.example.cn", pw)
    for role, key in MULTI_ROLE[2]:
        db.session.add(Membership(user_id=account.id, role=role.value, org_id=orgs[key].id,
                                  state=MembershipState.ACTIVE.value, is_super=role != RoleName.PROFESSIONAL))
    _person(account, orgs["u-school1"], rng)

    for n, (name, kind, parent, region) in enumerate(pending_orgs):
        new = create_org(kind=kind, name=name, parent=parent, state=OrgState.PENDING, region_id=region.id,
                         credit_code=make_credit_code(region.code, 5000 + n))
        admin_id = make_id_number("370103", datetime.date(1985, 1, 1) + datetime.timedelta(days=37 * n), 500 + n)
        admin = _account(admin_id, rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                         f"org{n}@jxjy.example.cn", pw)
        role = {OrgKind.UNIT: RoleName.UNIT_ADMIN, OrgKind.DEPARTMENT: RoleName.DEPT_ADMIN,
                OrgKind.BASE: RoleName.BASE_ADMIN}[kind]
        reg = _registration(kind.value, admin, role, new, parent, name, RegistrationState.PENDING, None,
                            is_super=True)
        db.session.flush()
        store_change_files(LICENCE_OWNER, reg.id, [("营业执照.png", demo_licence(name, new.credit_code))])

    # Professionals in every registration state, spread over the units.
    # Two units keep no staff so that nothing is pending for them: their org changes wait in the demo (issue 4).
    unit_keys = [k for k in orgs if k.startswith("u-") and k not in QUIET_UNITS]
    states = [RegistrationState.APPROVED] * 5 + [RegistrationState.PENDING] * 3 + [
        RegistrationState.REJECTED, RegistrationState.WITHDRAWN]
    start = datetime.date(1965, 1, 1)
    for i in range(persons):
        state = states[i % len(states)] if i >= len(states) else states[i]
        unit = orgs[rng.choice(unit_keys)]
        birth = start + datetime.timedelta(days=rng.randrange(0, 365 * 35))
        id_number = make_id_number(rng.choice(["370102", "370103", "370104"]), birth, i)
        if db.session.scalar(select(Account.id).where(Account.username == id_number)):
            continue
        account = _account(id_number, rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                           f"p{i:04d}@jxjy.example.cn", pw)
        person = _person(account, unit, rng)
        reason = "所在单位填写错误，请重新选择单位后注册" if state == RegistrationState.REJECTED else None
        _registration("person", account, RoleName.PROFESSIONAL, unit, unit, person.name, state, reason)
    for id_number, name, role, key in CHANGE_ACCOUNTS:
        account = _account(id_number, name, f"demo-{id_number[-4:]}@jxjy.example.cn", pw)
        db.session.add(Membership(user_id=account.id, role=role.value, org_id=orgs[key].id,
                                  state=MembershipState.ACTIVE.value, is_super=name == "何接收"))
        if role == RoleName.PROFESSIONAL:
            _person(account, orgs[key], rng)
    db.session.flush()
    _hours(orgs, rng)
    db.session.commit()
    _changes(orgs)
    from .demo_learning import seed_learning  # issue 11: online classes; 王专技 half way through the free one

    seed_learning(orgs, DEMO_ACCOUNTS[5][0], DEMO_ACCOUNTS[3][0], DEMO_ACCOUNTS[0][0])
    from .workflows.stat_snapshots import take_snapshot  # last year's statistics snapshot (年度统计快照)

    take_snapshot(clock.today().year - 1)  # replaces that year's rows if any: idempotent
    return True


def _hours(orgs: dict[str, Org], rng: random.Random) -> None:
    """Declarations and credited hours: the demo professional passes one year and fails another; queues at
    every review level hold something; a training base report waits for the city HR bureau."""
    from .models import BaseReport, BaseReportLine, Declaration, LearningForm
    from .workflows.declaration import chain_for, credit

    forms = {f.code: f for f in db.session.scalars(select(LearningForm))}
    if not forms:
        return
    this_year = clock.today().year
    demo = db.session.scalar(select(Person).join(Account, Person.user_id == Account.id)
                             .where(Account.username == DEMO_ACCOUNTS[0][0]))
    plan = [  # (year, subject, form, title, hours, state)
        (this_year - 2, "public", "online", "专业技术人员职业道德与诚信建设", 40, "approved"),
        (this_year - 2, "professional", "training", "心血管疾病诊疗新进展培训班", 56, "approved"),
        (this_year - 2, "professional", "paper", "基层医院胸痛中心建设的实践与思考", 30, "approved"),
        (this_year - 1, "public", "online", "数字经济与创新驱动发展", 10, "approved"),
        (this_year - 1, "professional", "conference", "全国心血管病学术年会", 12, "approved"),
        (this_year, "professional", "training", "急危重症救治能力提升培训", 24, "pending_unit"),
        (this_year, "professional", "exam", "健康管理师职业资格考试", 20, "draft"),
    ]
    details = {"online": {"platform": "专技继续教育平台"}, "training": {"organiser": "山东省卫生健康委员会",
                                                                 "location": "济南"},
               "paper": {"journal": "中国医院管理", "issn": "1001-5329", "publish_date": f"{this_year - 2}-06-01",
                         "author_rank": "第一作者"},
               "conference": {"organiser": "中华医学会", "conf_level": "国家级"},
               "exam": {"exam_name": "健康管理师", "cert_no": "JK20260001", "exam_date": f"{this_year}-03-15"}}
    for year, subject, code, title, hours, state in plan:
        form = forms[code]
        dated = "dates" in form.fields
        start = datetime.date(year, 4, 10) if dated else None
        item = Declaration(person_id=demo.id, unit_id=demo.unit_id, subject=subject, form_id=form.id, year=year,
                           title=title, hours=hours, start_date=start,
                           end_date=start + datetime.timedelta(days=6) if dated else None,
                           details_json=json.dumps(details[code], ensure_ascii=False), state=state,
                           reviewer_org_id=demo.unit_id if state == "pending_unit" else None,
                           submitted_at=None if state == "draft" else datetime.datetime(year, 5, 1))
        db.session.add(item)
        db.session.flush()
        if state == "approved":
            credit(demo.id, year, Subject(subject), Decimal(hours), form_id=form.id, title=title,
                   source="declaration", source_id=item.id, provider=details[code].get("organiser"))
    # Other professionals' declarations waiting at each level of their chains.
    # (the demo accounts of the README keep only what is described there)
    listed = select(Account.id).where(Account.username.in_(
        [a[0] for a in DEMO_ACCOUNTS + CHANGE_ACCOUNTS] + [MULTI_ROLE[0]]))
    staff = list(db.session.scalars(select(Person).join(Membership, Membership.user_id == Person.user_id).where(
        Membership.role == RoleName.PROFESSIONAL.value, Membership.state == MembershipState.ACTIVE.value,
        Person.user_id.notin_(listed)).order_by(Person.id).limit(40)))
    titles = ["医疗质量安全管理培训", "新课程标准解读研修班", "建设工程质量管理专题培训", "财务共享服务中心建设研讨"]
    for n, person in enumerate(staff):
        chain = chain_for(person.unit)
        step = n % len(chain)
        reviewer = chain[step]
        state = "pending_unit" if step == 0 else ("pending_dept" if reviewer.kind == "department" else "pending_hr")
        db.session.add(Declaration(
            person_id=person.id, unit_id=person.unit_id, subject="professional", form_id=forms["training"].id,
            year=this_year, title=titles[n % len(titles)], hours=rng.choice([8, 16, 24, 32]),
            start_date=datetime.date(this_year, 3, 1), end_date=datetime.date(this_year, 3, 3),
            details_json=json.dumps({"organiser": "济南市继续教育中心", "location": "济南"}, ensure_ascii=False),
            state=state, reviewer_org_id=reviewer.id, submitted_at=datetime.datetime.now()))
    base = orgs["b-base1"]
    report = BaseReport(base_id=base.id, reviewer_org_id=base.parent_id, title=f"{this_year}年公需科目集中培训班",
                        subject="public", form_id=forms["training"].id, year=this_year, state="pending",
                        start_date=datetime.date(this_year, 4, 1), end_date=datetime.date(this_year, 4, 3))
    db.session.add(report)
    db.session.flush()
    for person in staff[:12]:
        db.session.add(BaseReportLine(report_id=report.id, person_id=person.id, hours=24))


def _changes(orgs: dict[str, Org]) -> None:
    """Issue 4 items in every queue, made through the workflows (so each has its audit trail): title changes
    waiting at 济南市第一人民医院, a transfer out of it and one into it, an identity correction for support,
    a credit-code change and a parent change waiting for the orgs above, and an org-defined role."""
    from .workflows import admins, identity, org_change, title_change, transfer
    from .workflows.accounts import display_name

    def actor(account: Account, role: RoleName, org: Org | None) -> Actor:
        return Actor(account.id, display_name(account), role, org.id if org else None, org.path if org else None)

    def staff_of(keys: tuple, n: int, skip: set) -> list[Person]:
        people = db.session.scalars(select(Person).join(Membership, Membership.user_id == Person.user_id).where(
            Person.unit_id.in_([orgs[k].id for k in keys]), Membership.role == RoleName.PROFESSIONAL.value,
            Membership.state == MembershipState.ACTIVE.value).order_by(Person.id))
        return [p for p in people if p.id not in skip and not pending_for_person(p)][:n]

    def account_of(id_number: str) -> Account:
        return db.session.scalar(select(Account).where(Account.username == id_number))

    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
           b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\x0d\xef\x46\xb8\x00\x00\x00\x00IEND\xaeB`\x82")
    unit = orgs["u-hospital1"]
    HOSPITAL = ("u-hospital1", "u-hospital1-east", "u-hospital1-lab")  # 李单位's unit and its sub-units
    used = {p.id for p in db.session.scalars(select(Person).join(Account, Person.user_id == Account.id).where(
        Account.username.in_([DEMO_ACCOUNTS[0][0], CHANGE_ACCOUNTS[0][0], MULTI_ROLE[0]])))}
    upgrades = [("卫生技术", "副高级", "副主任医师"), ("卫生技术", "中级", "主治医师"), ("卫生技术", "正高级", "主任医师")]
    for person, (series, level, name) in zip(staff_of(HOSPITAL, 3, used), upgrades):
        used.add(person.id)
        title_change.submit(actor(person.user, RoleName.PROFESSIONAL, person.unit),
                            {"title_series": series, "title_level": level, "title_name": name,
                             "title_date": datetime.date(clock.today().year, 1, 1),
                             "title_cert_no": f"ZC{person.id:06d}"}, [("职称证书.png", png)])
    for person in staff_of(HOSPITAL, 1, used):
        used.add(person.id)
        transfer.submit(actor(person.user, RoleName.PROFESSIONAL, person.unit), orgs["u-hospital2"].id, "工作调动")
    school = orgs["u-school3"]
    school_admin = _org_admin(school, "370102198306160612", "卫实验")
    for person in staff_of(("u-school3",), 1, used):  # released by the school: waits for the hospital to accept
        used.add(person.id)
        item = transfer.submit(actor(person.user, RoleName.PROFESSIONAL, school), unit.id, "夫妻团聚")
        transfer.release(item, actor(school_admin, RoleName.UNIT_ADMIN, school))
    for person in staff_of(("u-hospital2",), 1, used):
        used.add(person.id)
        identity.submit(actor(person.user, RoleName.PROFESSIONAL, orgs["u-hospital2"]), person.name + "娟",
                        person.id_number, [("身份证正面.png", png)], "户籍姓名更正")
    street_admin = _org_admin(orgs["u-street"], "37010219770414041X", "冯街道")
    org_change.request_change(actor(street_admin, RoleName.UNIT_ADMIN, orgs["u-street"]),
                              org_change.ChangeRequest(credit_code=make_credit_code("370102", 7001),
                                                       parent_id=None, note="营业执照换发"))
    school_admin = _org_admin(orgs["u-lixia-m1"], "370102198004150515", "褚二中")
    org_change.request_change(actor(school_admin, RoleName.UNIT_ADMIN, orgs["u-lixia-m1"]),
                              org_change.ChangeRequest(credit_code=None, parent_id=orgs["d-edu"].id,
                                                       note="划归市教育局管理"))
    li = account_of(DEMO_ACCOUNTS[1][0])
    role = admins.create_role(actor(li, RoleName.UNIT_ADMIN, unit), "注册与学时审核员",
                              ["registrations", "declarations"])
    kong = db.session.scalar(select(Membership).join(Account, Membership.user_id == Account.id).where(
        Account.username == CHANGE_ACCOUNTS[2][0]))
    admins.set_role(actor(li, RoleName.UNIT_ADMIN, unit), kong.id, role.id)


def _org_admin(org: Org, id_number: str, name: str) -> Account:
    """A super admin for a demo org that has none (password DEMO_PASSWORD)."""
    account = _account(id_number, name, f"demo-{id_number[-4:]}@jxjy.example.cn", hash_password(DEMO_PASSWORD))
    db.session.add(Membership(user_id=account.id, role=RoleName.UNIT_ADMIN.value, org_id=org.id,
                              state=MembershipState.ACTIVE.value, is_super=True))
    db.session.commit()
    return account


def _person(account: Account, unit: Org, rng: random.Random) -> Person:
    from .validators import birth_date_and_gender

    birth, gender = birth_date_and_gender(account.username)
    person = Person(user_id=account.id, name=account.first_name, id_number=account.username, gender=gender,
                    birth_date=birth, ethnicity="汉族", unit_id=unit.id, department=rng.choice(["办公室", "业务科", "技术部", "一科"]),
                    education=rng.choice(["大学本科", "硕士研究生", "大学专科", "博士研究生"]),
                    school=rng.choice(["山东大学", "山东师范大学", "济南大学", "山东建筑大学"]),
                    major=rng.choice(["临床医学", "汉语言文学", "土木工程", "计算机科学与技术", "会计学"]),
                    degree=rng.choice(["学士", "硕士", "无"]),
                    title_series=rng.choice(["卫生技术", "中小学教师", "工程技术", "经济", "会计"]),
                    title_level=rng.choice(["初级", "中级", "副高级", "正高级"]))
    db.session.add(person)
    db.session.flush()
    return person


def demo_licence(name: str, code: str) -> bytes:
    """A made-up business licence scan for a demo org registration (so the reviewer's detail page shows one)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    from .workflows.certificates import FONT_CANDIDATES

    image = Image.new("RGB", (640, 420), (252, 248, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle((12, 12, 627, 407), outline=(170, 40, 40), width=6)
    font = big = None
    for path, index in FONT_CANDIDATES:
        try:
            font, big = ImageFont.truetype(path, 22, index=index), ImageFont.truetype(path, 40, index=index)
            break
        except OSError:
            continue
    font = font or ImageFont.load_default()
    big = big or font
    draw.text((320, 70), "营 业 执 照", fill=(170, 40, 40), font=big, anchor="mm")
    draw.text((320, 115), "（演示样本，非真实证照）", fill=(120, 120, 120), font=font, anchor="mm")
    for n, line in enumerate((f"统一社会信用代码：{code}", f"名称：{name}", "类型：演示数据", "住所：山东省济南市")):
        draw.text((60, 170 + 50 * n), line, fill=(40, 40, 40), font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _registration(kind, account, role, org, reviewer, name, state, reason, is_super=False) -> Registration:
    membership_state = {RegistrationState.APPROVED: MembershipState.ACTIVE,
                        RegistrationState.PENDING: MembershipState.PENDING,
                        RegistrationState.REJECTED: MembershipState.REJECTED,
                        RegistrationState.WITHDRAWN: MembershipState.WITHDRAWN}[state]
    membership = Membership(user_id=account.id, role=role.value, org_id=org.id, state=membership_state.value,
                            is_super=is_super)
    db.session.add(membership)
    db.session.flush()
    decided = None if state == RegistrationState.PENDING else datetime.datetime.now()
    reg = Registration(kind=kind, user_id=account.id, membership_id=membership.id, org_id=org.id,
                       reviewer_org_id=reviewer.id, applicant_name=name, state=state.value, reason=reason,
                       decided_at=decided)
    db.session.add(reg)
    return reg
