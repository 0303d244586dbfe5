"""Load the benchmark database: 20,000 orgs and 1,000,000 professionals on PostgreSQL.

    python bench/generate.py                 # (re)create jxjy_bench and load it
    python bench/generate.py --if-missing    # only if no complete bench database exists
    python bench/generate.py --drop          # drop the bench database and exit
    python bench/generate.py --hours         # (re)load only the hours of issue 3 (bench/generate_hours.py)
    python bench/generate.py --no-hours      # the foundation data only

`--if-missing` makes whatever is missing: everything, or only the hours when the foundation data is there.

The schema comes from the project's Alembic migrations; rows are generated in Python streams and loaded with
PostgreSQL COPY (psycopg 3 `cursor.copy()`). Foreign-key triggers are skipped while loading
(session_replication_role = replica: every key is generated consistent) and checked afterwards with anti-joins;
every other constraint and index stays in place. VACUUM ANALYZE at the end.

The tree: 1 city HR bureau, 15 district bureaus, ~290 competent departments (one per sector and district), 12
training bases, the rest employer units (about 8% of them sub-units of another unit). Each person has an account
(ab_user, valid unique 证件号, one shared password hash), a Person profile at a unit, a Professional membership at
that unit and a person Registration reviewed by the unit: 5% pending, 85% approved, 6% rejected, 4% withdrawn;
the membership state follows the registration (approved -> active, pending -> pending, ...), as in the app.
"""
from __future__ import annotations

import argparse
import datetime
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (ADMIN_ACCOUNTS, COMMENT_PREFIX, DB_URL, HOURS_MARK, PASSWORD, app_overrides,  # noqa: E402
                    bench_state, foundation_comment, has_hours, id_number_of, libpq_url, set_comment, split_url)
import derived  # noqa: E402

CITY = ("370100", "济南市")
DISTRICTS = [("370102", "历下区"), ("370103", "市中区"), ("370104", "槐荫区"), ("370105", "天桥区"),
             ("370112", "历城区"), ("370113", "长清区"), ("370114", "章丘区"), ("370115", "济阳区"),
             ("370116", "莱芜区"), ("370117", "钢城区"), ("370124", "平阴县"), ("370126", "商河县"),
             ("370171", "高新区"), ("370172", "南部山区"), ("370173", "起步区")]
# Sector: (department name, industry, nature, unit name templates, size factor of its units)
SECTORS = [
    ("卫生健康委员会", "卫生健康", "事业单位", ["人民医院", "中医医院", "社区卫生服务中心", "卫生院", "妇幼保健院",
                                         "口腔医院", "疾病预防控制中心", "精神卫生中心", "康复医院", "第{n}人民医院"], 3.0),
    ("教育局", "教育", "事业单位", ["第{n}中学", "实验小学", "第{n}小学", "幼儿园", "职业中等专业学校", "实验中学",
                               "外国语学校", "特殊教育学校", "第{n}幼儿园"], 2.0),
    ("住房和城乡建设局", "工程建设", "国有企业", ["建筑设计研究院", "建设工程有限公司", "市政工程有限公司",
                                         "建设监理有限公司", "房地产开发有限公司"], 1.5),
    ("交通运输局", "交通运输", "国有企业", ["公路事业发展中心", "交通工程有限公司", "公交有限公司", "物流有限公司"], 1.0),
    ("农业农村局", "农业", "事业单位", ["农业技术推广站", "畜牧兽医站", "农机服务中心", "种业有限公司"], 0.6),
    ("水务局", "水利", "事业单位", ["水利工程服务中心", "供水有限公司", "水文站"], 0.8),
    ("文化和旅游局", "文化旅游", "事业单位", ["文化馆", "图书馆", "博物馆", "旅游发展有限公司", "艺术剧院"], 0.6),
    ("科学技术局", "信息技术", "民营企业", ["科技有限公司", "软件有限公司", "信息技术有限公司", "电子科技有限公司",
                                     "生物科技有限公司"], 1.0),
    ("工业和信息化局", "制造业", "民营企业", ["机械制造有限公司", "电气有限公司", "重工有限公司", "材料科技有限公司",
                                      "汽车零部件有限公司"], 1.5),
    ("自然资源和规划局", "自然资源", "事业单位", ["测绘院", "规划设计研究院", "地质勘查院", "不动产登记中心"], 0.8),
    ("生态环境局", "生态环境", "事业单位", ["环境监测站", "环保科技有限公司"], 0.6),
    ("市场监督管理局", "质量监督", "事业单位", ["检验检测中心", "计量测试所", "标准化研究院"], 0.8),
    ("财政局", "金融财会", "股份制企业", ["会计师事务所有限公司", "村镇银行股份有限公司", "农村商业银行支行",
                                   "财务咨询有限公司"], 1.0),
    ("民政局", "社会服务", "事业单位", ["社会福利院", "养老服务中心", "救助管理站"], 0.5),
    ("应急管理局", "安全生产", "民营企业", ["安全技术服务有限公司", "消防技术服务有限公司"], 0.5),
    ("园林和林业绿化局", "林业", "事业单位", ["林场", "园林绿化工程有限公司", "苗圃"], 0.5),
    ("融媒体中心", "文化传媒", "事业单位", ["广播电视台", "传媒有限公司", "报社"], 0.8),
    ("体育局", "体育", "事业单位", ["体育中心", "体育运动学校"], 0.5),
]
CITY_EXTRA_DEPTS = [("国有资产监督管理委员会", "国有资产", "国有企业"), ("审计局", "审计", "机关")]
PLACES = ("泉城 解放路 经十路 燕山 千佛山 大明湖 趵突泉 舜耕 山大路 花园路 历山 文化东路 和平路 甸柳 姚家 龙洞 智远 "
          "东关 大观园 七里山 王官庄 杆石桥 四里村 魏家庄 白马山 八里桥 北园 堤口 药山 洪家楼 唐冶 王舍人 港沟 华山 "
          "荷花 崮山 平安 明水 双山 枣园 鹊山 泺口 匡山 玉函 二七 六里山 舜华 奥体 汉峪 孙村 遥墙 临港 大学城 "
          "文昌 归德 张夏 万德 埠村 圣井 官庄 刁镇 曲堤 仁风 回河 新市 孔村 玉皇庙 殷巷 龙山 普集 相公庄 白云湖").split()
BRANDS = ("华信 鲁能 泉胜 金桥 海诺 恒通 瑞丰 博远 明德 新元 齐鲁 泰山 黄河 东岳 银座 浪潮 中科 天成 宏达 鼎盛 "
          "九州 德润 嘉和 同创 永泰 盛世 远航 汇智 卓越 普惠 正泰 众诚 万达 星辰 腾飞 安泰 润华 聚源 华能 凯瑞").split()
BRANCHES = ["东院区", "西院区", "南院区", "北院区", "分院", "第一分公司", "第二分公司", "第三分公司", "分校", "研发中心",
            "检验中心", "分部", "营业部", "项目部"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥玲芬燕鹏辉宇浩凯健俊帆帅旭宁婷雪琳晨阳欣怡梓涵子轩"
DEPARTMENTS = ["办公室", "业务科", "技术部", "一科", "二科", "财务科", "质控科", "教务处", "研发部", "工程部"]
EDUCATIONS = ["大学本科", "硕士研究生", "大学专科", "博士研究生"]
SCHOOLS = ["山东大学", "山东师范大学", "济南大学", "山东建筑大学", "山东第一医科大学", "齐鲁工业大学", "山东财经大学"]
MAJORS = ["临床医学", "汉语言文学", "土木工程", "计算机科学与技术", "会计学", "护理学", "机械工程", "数学与应用数学"]
DEGREES = ["学士", "硕士", "博士", "无"]
TITLE_SERIES = ["卫生技术", "中小学教师", "工程技术", "经济", "会计", "农业技术", "新闻"]
TITLE_LEVELS = ["初级", "中级", "副高级", "正高级"]
REG_STATES = [("pending", "pending", 5), ("approved", "active", 85), ("rejected", "rejected", 6),
              ("withdrawn", "withdrawn", 4)]
REJECT_REASON = "所在单位填写错误，请重新选择单位后注册"
EPOCH = datetime.datetime(2023, 1, 1, 8, 0, 0)
NULL = "\\N"  # COPY's NULL
SPAN_SECONDS = 3 * 365 * 24 * 3600


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------- the org tree

class OrgRow:
    __slots__ = ("id", "kind", "name", "parent", "path", "region_id", "state", "nature", "industry", "weight",
                 "credit_code", "district")

    def __init__(self, id_, kind, name, parent, region_id, state, nature, industry, district, weight=0.0):
        self.id, self.kind, self.name, self.parent = id_, kind, name, parent
        self.path = f"{parent.path if parent else '/'}{id_}/"
        self.region_id, self.state, self.nature, self.industry = region_id, state, nature, industry
        self.district, self.weight, self.credit_code = district, weight, None


def build_orgs(total: int, rng: random.Random) -> list[OrgRow]:
    """A realistic tree of `total` orgs; ids are 1..total and every path is "/<ancestor ids>/<id>/"."""
    orgs: list[OrgRow] = []
    names: set[str] = set()

    def add(kind, name, parent, region_id, state="active", nature=None, industry=None, district="", weight=0.0):
        org = OrgRow(len(orgs) + 1, kind, name, parent, region_id, state, nature, industry, district, weight)
        orgs.append(org)
        names.add(name)
        return org

    # regions: 1 = city, 2.. = districts (same order as DISTRICTS)
    city = add("hr_city", f"{CITY[1]}人力资源和社会保障局", None, 1, nature="机关", district=CITY[1])
    bureaus = [add("hr_district", f"{name}人力资源和社会保障局", city, 2 + i, nature="机关", district=name)
               for i, (_code, name) in enumerate(DISTRICTS)]
    depts: list[tuple[OrgRow, int]] = []  # (department, sector index or -1)
    for s, (dept, industry, *_rest) in enumerate(SECTORS):
        depts.append((add("department", f"{CITY[1]}{dept}", city, 1, nature="机关", industry=industry,
                          district=CITY[1]), s))
    for dept, industry, _nature in CITY_EXTRA_DEPTS:
        depts.append((add("department", f"{CITY[1]}{dept}", city, 1, nature="机关", industry=industry,
                          district=CITY[1]), -1))
    for b in bureaus:
        for s, (dept, industry, *_rest) in enumerate(SECTORS):
            depts.append((add("department", f"{b.district}{dept}", b, b.region_id, nature="机关",
                              industry=industry, district=b.district), s))
    for n in range(12):
        parent = city if n < 4 else bureaus[(n - 4) * 2 % len(bureaus)]
        add("base", f"{parent.district}专业技术人员继续教育基地" + ("" if n < 1 else f"（{BRANDS[n]}）"), parent,
            parent.region_id, nature="事业单位", industry="教育", district=parent.district)

    n_units = total - len(orgs)
    n_sub = n_units * 8 // 100
    counters: Counter = Counter()
    top_units: list[OrgRow] = []
    for _ in range(n_units - n_sub):
        roll = rng.random()
        if roll < 0.85:
            dept, s = rng.choice(depts)
            if s < 0:
                s = rng.randrange(len(SECTORS))
            parent = dept
        else:  # enterprises and institutions registered directly under an HR bureau
            s = rng.choice([7, 8, 12, 2])
            parent = city if roll > 0.98 else rng.choice(bureaus)
        _dept, industry, nature, templates, factor = SECTORS[s]
        district = parent.district
        for attempt in range(50):
            template = rng.choice(templates)
            if "{n}" in template:
                key = (district, template)
                counters[key] += 1
                name = district + template.format(n=counters[key])
            elif "有限公司" in template or "股份" in template or "事务所" in template:
                name = f"{CITY[1]}{rng.choice(BRANDS)}{rng.choice(BRANDS)}{template}"
                if attempt > 10:
                    name = f"{district}{rng.choice(BRANDS)}{rng.choice(BRANDS)}{template}"
            else:
                name = f"{district}{rng.choice(PLACES)}{template}"
            if name not in names:
                break
        else:
            name = f"{name}（{len(orgs)}）"
        weight = min(random_pareto(rng), 300.0) * factor
        top_units.append(add("unit", name, parent, parent.region_id, nature=nature, industry=industry,
                             district=district, weight=weight))
    big = sorted(top_units, key=lambda o: -o.weight)[: len(top_units) // 4]
    for _ in range(n_sub):
        parent = rng.choice(big)
        last = orgs[-1]
        if rng.random() < 0.1 and last.kind == "unit" and last.parent.kind == "unit" and last.parent.parent.kind != "unit":
            parent = orgs[-1]  # a few sub-sub-units
        for attempt in range(30):
            name = parent.name + rng.choice(BRANCHES)
            if name not in names:
                break
        else:
            name = f"{parent.name}分部（{len(orgs)}）"
        add("unit", name, parent, parent.region_id, nature=parent.nature, industry=parent.industry,
            district=parent.district, weight=parent.weight * 0.3)
    # a few units are not (yet) active: the picker must not offer them
    for org in orgs:
        if org.kind == "unit":
            roll = rng.random()
            if roll < 0.01:
                org.state = "pending"
            elif roll < 0.013:
                org.state = rng.choice(["rejected", "withdrawn"])
    assert len(orgs) == total, (len(orgs), total)
    return orgs


def random_pareto(rng: random.Random) -> float:
    return rng.paretovariate(1.2)


# ------------------------------------------------------------------------------------------- numbers

def id_number_factory():
    """Fast GB 11643 numbers: the weighted sum of the 14-digit prefix (region + birth date) is computed once."""
    from app.validators import _GB11643_CHECK, _GB11643_WEIGHTS

    cache: dict[tuple[str, int], tuple[str, int]] = {}
    w15, w16, w17 = _GB11643_WEIGHTS[14], _GB11643_WEIGHTS[15], _GB11643_WEIGHTS[16]
    start = datetime.date(1962, 1, 1)

    def make(region: str, day: int, seq: int) -> str:
        key = (region, day)
        hit = cache.get(key)
        if hit is None:
            prefix = f"{region}{start + datetime.timedelta(days=day):%Y%m%d}"
            hit = (prefix, sum(int(d) * w for d, w in zip(prefix, _GB11643_WEIGHTS)))
            cache[key] = hit
        prefix, total = hit
        a, b, c = seq // 100, seq // 10 % 10, seq % 10
        return f"{prefix}{a}{b}{c}{_GB11643_CHECK[(total + a * w15 + b * w16 + c * w17) % 11]}"

    return make


def credit_code(region: str, seq: int) -> str:
    from app.demo import make_credit_code

    return make_credit_code(region, seq)


# ------------------------------------------------------------------------------------------- loading

def text_value(v) -> str:
    if v is None:
        return "\\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    return str(v)


def copy_rows(cur, table: str, columns: list[str], rows, batch: int = 20000) -> int:
    """COPY rows (tuples of str / None / bool / int / date) into table; values never hold tabs or newlines."""
    n = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buf = []
        for row in rows:
            buf.append("\t".join(map(text_value, row)))
            n += 1
            if len(buf) >= batch:
                copy.write("\n".join(buf) + "\n")
                buf.clear()
        if buf:
            copy.write("\n".join(buf) + "\n")
    return n


def copy_lines(cur, table: str, columns: list[str], lines, batch: int = 20000) -> int:
    """COPY pre-formatted tab-separated lines (fast path for the million-row tables)."""
    n = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buf = []
        for line in lines:
            buf.append(line)
            if len(buf) >= batch:
                copy.write("".join(buf))
                n += len(buf)
                buf.clear()
        if buf:
            copy.write("".join(buf))
            n += len(buf)
    return n


class Timer:
    def __init__(self):
        self.rows = []

    def run(self, label, fn, *args):
        t0 = time.perf_counter()
        n = fn(*args)
        dt = time.perf_counter() - t0
        self.rows.append((label, n, dt))
        log(f"  {label:<34} {n if n is not None else '':>10} rows  {dt:7.1f} s")
        return n


def create_database(url: str) -> None:
    import psycopg

    admin_url, name = split_url(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")


def drop_database(url: str) -> None:
    import psycopg

    admin_url, name = split_url(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(url: str) -> None:
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(**app_overrides(url))
    with app.app_context():
        upgrade()
        from app.extensions import db

        db.engine.dispose()


def generate(url: str, n_orgs: int, n_persons: int, seed: int) -> None:
    import psycopg

    from app.workflows.accounts import hash_password

    t_start = time.perf_counter()
    timer = Timer()
    log(f"bench database {split_url(url)[1]}: {n_orgs:,} orgs, {n_persons:,} persons")
    timer.run("create database", create_database, url)
    timer.run("alembic upgrade (schema)", migrate, url)

    rng = random.Random(seed)
    from app import create_app

    with create_app(**app_overrides(url)).app_context():
        pw_hash = hash_password(PASSWORD)  # one hash for every account, with the app's configured method
    t0 = time.perf_counter()
    orgs = build_orgs(n_orgs, rng)
    region_codes = [CITY[0]] + [code for code, _ in DISTRICTS]
    for seq, org in enumerate(orgs, start=1):
        org.credit_code = credit_code(region_codes[org.region_id - 1], seq)
    units = [o for o in orgs if o.kind == "unit" and o.state == "active"]
    unit_ids = [o.id for o in units]
    cum = []
    acc = 0.0
    for o in units:
        acc += o.weight
        cum.append(acc)
    person_units = rng.choices(unit_ids, cum_weights=cum, k=n_persons)
    state_pool = [i for i, (_s, _m, pct) in enumerate(REG_STATES) for _ in range(pct)]
    person_states = bytes(rng.choice(state_pool) for _ in range(n_persons))
    log(f"  {'org tree + person plan (python)':<34} {'':>10}       {time.perf_counter() - t0:7.1f} s")

    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET session_replication_role = replica")  # skip FK triggers; checked below
        conn.execute("SET max_parallel_maintenance_workers = 0")
        conn.execute("SET synchronous_commit = off")
        cur = conn.cursor()

        regions = [(1, CITY[0], CITY[1], None)] + [(2 + i, code, name, 1) for i, (code, name) in enumerate(DISTRICTS)]
        timer.run("region", copy_rows, cur, "region", ["id", "code", "name", "parent_id"], regions)
        timer.run("org", copy_rows, cur, "org",
                  ["id", "kind", "name", "credit_code", "region_id", "parent_id", "path", "state", "nature",
                   "industry", "phone", "address", "contact", "created_at"],
                  ((o.id, o.kind, o.name, o.credit_code, o.region_id, o.parent.id if o.parent else None, o.path,
                    o.state, o.nature, o.industry, f"0531-{80000000 + o.id}", f"{o.district}示范路{o.id}号",
                    None, EPOCH - datetime.timedelta(days=400) + datetime.timedelta(minutes=o.id)) for o in orgs))

        # ---- persons: the same deterministic plan streamed once per table
        make_id = id_number_factory()
        regions6 = [code for code, _ in DISTRICTS[:6]]
        ndays = 365 * 38
        start = datetime.date(1962, 1, 1)

        def person_key(i):
            r = i % 6
            j = i // 6
            day = (j * 7919) % ndays  # spread birth dates
            seq = j // ndays * 2 + (i & 1)  # odd/even seq -> male/female
            return regions6[r], day, seq

        name_rng = random.Random(seed + 1)
        names = [name_rng.choice(SURNAMES) + name_rng.choice(GIVEN) + (name_rng.choice(GIVEN)
                                                                      if name_rng.random() < 0.7 else "")
                 for _ in range(n_persons)]
        id_numbers = [make_id(*person_key(i)) for i in range(n_persons)]
        assert len(set(id_numbers)) == n_persons, "id numbers not unique"
        step = SPAN_SECONDS / n_persons

        def stamp(i, extra_days=0.0):
            return (EPOCH + datetime.timedelta(seconds=int(i * step), days=extra_days)).strftime("%Y-%m-%d %H:%M:%S")

        # accounts 1..n_persons, then the fixed admin accounts
        def account_lines():
            for i in range(n_persons):
                idn = id_numbers[i]
                ts = stamp(i)
                yield (f"{i + 1}\t{names[i]}\t\t{idn}\t{pw_hash}\tt\tp{i + 1}@bench.jxjy.example.cn\t\\N\t0\t0\t"
                       f"{ts}\t{ts}\tresident_id\t13{i + 1:09d}\tf\n")
            for k, key in enumerate(ADMIN_ACCOUNTS):
                _region, _seq, name, _role = ADMIN_ACCOUNTS[key]
                yield (f"{n_persons + k + 1}\t{name}\t\t{id_number_of(key)}\t{pw_hash}\tt\t{key}@bench.jxjy.example.cn"
                       f"\t\\N\t0\t0\t{stamp(0)}\t{stamp(0)}\tresident_id\t1590000{k:04d}\tf\n")

        timer.run("ab_user (accounts)", copy_lines, cur, "ab_user",
                  ["id", "first_name", "last_name", "username", "password", "active", "email", "last_login",
                   "login_count", "fail_login_count", "created_on", "changed_on", "id_type", "mobile",
                   "must_change_password"], account_lines())

        prof_rng = random.Random(seed + 2)

        def person_lines():
            ch = prof_rng.choice
            for i in range(n_persons):
                region, day, seq = person_key(i)
                birth = start + datetime.timedelta(days=day)
                gender = "M" if seq % 2 else "F"
                yield (f"{i + 1}\t{i + 1}\t{names[i]}\t{id_numbers[i]}\t{gender}\t{birth}\t汉族\t{person_units[i]}\t"
                       f"{ch(DEPARTMENTS)}\t{ch(EDUCATIONS)}\t{ch(SCHOOLS)}\t{ch(MAJORS)}\t{ch(DEGREES)}\tf\t"
                       f"{ch(TITLE_SERIES)}\t{ch(TITLE_LEVELS)}\t{stamp(i)}\t"
                       f"{'t' if REG_STATES[person_states[i]][1] == 'active' else 'f'}\n")

        timer.run("person", copy_lines, cur, "person",
                  ["id", "user_id", "name", "id_number", "gender", "birth_date", "ethnicity", "unit_id",
                   "department", "education", "school", "major", "degree", "postdoc", "title_series", "title_level",
                   "created_at", "is_staff"], person_lines())  # is_staff: what the triggers (off while loading) keep

        # admin memberships: the largest unit, the department with the most persons, the city bureau
        per_org = Counter(person_units)
        by_id = {o.id: o for o in orgs}
        big_unit = max(units, key=lambda o: per_org[o.id])
        dept_total: Counter = Counter()
        for org_id, n in per_org.items():
            for anc in by_id[org_id].path.strip("/").split("/"):
                dept_total[int(anc)] += n
        big_dept = max((o for o in orgs if o.kind == "department"), key=lambda o: dept_total[o.id])
        big_district = max((o for o in orgs if o.kind == "hr_district"), key=lambda o: dept_total[o.id])
        admin_orgs = {"unit_admin": big_unit, "dept_admin": big_dept, "city_admin": orgs[0],
                      "district_admin": big_district}

        def membership_lines():
            for i in range(n_persons):
                yield (f"{i + 1}\t{i + 1}\tProfessional\t{person_units[i]}\t{REG_STATES[person_states[i]][1]}\tf\t"
                       f"{stamp(i)}\n")
            for k, key in enumerate(ADMIN_ACCOUNTS):
                role = ADMIN_ACCOUNTS[key][3]
                org = admin_orgs.get(key)  # platform roles have no org
                org_id, is_super = (org.id, "t") if org else (NULL, "f")
                yield (f"{n_persons + k + 1}\t{n_persons + k + 1}\t{role}\t{org_id}\tactive\t{is_super}\t"
                       f"{stamp(0)}\n")

        timer.run("membership", copy_lines, cur, "membership",
                  ["id", "user_id", "role", "org_id", "state", "is_super", "created_at"], membership_lines())

        decide_rng = random.Random(seed + 3)

        def registration_lines():
            for i in range(n_persons):
                state = REG_STATES[person_states[i]][0]
                unit = person_units[i]
                if state == "pending":
                    decided, reason = "\\N", "\\N"
                else:
                    decided = stamp(i, decide_rng.random() * 10)
                    reason = REJECT_REASON if state == "rejected" else "\\N"
                yield (f"{i + 1}\tperson\t{i + 1}\t{i + 1}\t{unit}\t{unit}\t{names[i]}\t{state}\t{reason}\t{stamp(i)}"
                       f"\t{decided}\t\\N\n")

        timer.run("registration", copy_lines, cur, "registration",
                  ["id", "kind", "user_id", "membership_id", "org_id", "reviewer_org_id", "applicant_name", "state",
                   "reason", "created_at", "decided_at", "decided_by_id"], registration_lines())

        for table in ("region", "org", "ab_user", "person", "membership", "registration"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        del names, id_numbers

        def check():
            problems = []
            checks = {
                "org.path": "SELECT count(*) FROM org c LEFT JOIN org p ON p.id = c.parent_id "
                            "WHERE c.path <> coalesce(p.path, '/') || c.id || '/'",
                "person.unit_id": "SELECT count(*) FROM person x LEFT JOIN org o ON o.id = x.unit_id "
                                  "WHERE o.id IS NULL OR o.kind <> 'unit'",
                "person.user_id": "SELECT count(*) FROM person x LEFT JOIN ab_user u ON u.id = x.user_id "
                                  "WHERE u.id IS NULL",
                "membership.user_id": "SELECT count(*) FROM membership x LEFT JOIN ab_user u ON u.id = x.user_id "
                                      "WHERE u.id IS NULL",
                "membership.org_id": "SELECT count(*) FROM membership x LEFT JOIN org o ON o.id = x.org_id "
                                     "WHERE x.org_id IS NOT NULL AND o.id IS NULL",
                "registration.membership": "SELECT count(*) FROM registration r JOIN membership m "
                                           "ON m.id = r.membership_id WHERE m.user_id <> r.user_id "
                                           "OR m.org_id <> r.org_id",
                "person.is_staff": "SELECT count(*) FROM person p WHERE p.is_staff <> EXISTS (SELECT 1 FROM "
                                   "membership m WHERE m.user_id = p.user_id AND m.role = 'Professional' "
                                   "AND m.state = 'active')",
                "registration.reviewer": "SELECT count(*) FROM registration r LEFT JOIN org o "
                                         "ON o.id = r.reviewer_org_id WHERE o.id IS NULL",
            }
            for label, sql in checks.items():
                bad = cur.execute(sql).fetchone()[0]
                if bad:
                    problems.append(f"{label}: {bad}")
            if problems:
                raise SystemExit("consistency check failed: " + "; ".join(problems))
            return len(checks)

        timer.run("consistency checks (anti-joins)", check)
        conn.commit()
        conn.autocommit = True
        timer.run("VACUUM ANALYZE", lambda: cur.execute("VACUUM ANALYZE") and None)
        # Validate a sample of 证件号 with the application's own validator.
        from app.validators import validate_resident_id

        sample = [r[0] for r in cur.execute("SELECT username FROM ab_user WHERE id % 997 = 0").fetchall()]
        for number in sample:
            validate_resident_id(number)
        log(f"  validated {len(sample)} sampled 证件号 with app.validators.validate_resident_id")
        stats = dict(cur.execute("SELECT kind, count(*) FROM org GROUP BY kind").fetchall())
        pend = dict(cur.execute("SELECT state, count(*) FROM registration GROUP BY state").fetchall())
        depth = cur.execute("SELECT max(length(path) - length(replace(path, '/', '')) - 1) FROM org").fetchone()[0]
        size = cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        total = time.perf_counter() - t_start
        _admin_url, name = split_url(url)
        comment = (f"{COMMENT_PREFIX}: orgs={n_orgs} persons={n_persons} seed={seed} "
                   f"generated={datetime.datetime.now():%Y-%m-%d %H:%M} load_seconds={total:.0f}")
        cur.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")

    log(f"orgs by kind: {stats}; max depth {depth}")
    log(f"registrations by state: {pend}")
    log(f"bench orgs: unit {big_unit.name} (id {big_unit.id}, {per_org[big_unit.id]:,} persons); "
        f"department {big_dept.name} (id {big_dept.id}, {dept_total[big_dept.id]:,} persons in its subtree); "
        f"city bureau id 1 ({n_persons:,})")
    for key in ADMIN_ACCOUNTS:
        place = admin_orgs[key].name if key in admin_orgs else "(platform)"
        log(f"  {ADMIN_ACCOUNTS[key][3]:<10} login {id_number_of(key)} / {PASSWORD}  at {place}")
    log(f"database size {size}; total {total:.1f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DB_URL, help="SQLAlchemy URL of the bench database (default %(default)s)")
    parser.add_argument("--orgs", type=int, default=20_000)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--if-missing", action="store_true",
                        help="make only what is missing: nothing if a complete bench database with hours exists, "
                             "the hours only if the foundation data exists")
    parser.add_argument("--drop", action="store_true", help="drop the bench database and exit")
    parser.add_argument("--hours", action="store_true",
                        help="(re)load only the hours (declarations, hour records, year summaries) of issue 3")
    parser.add_argument("--no-hours", action="store_true", help="load the foundation data only")
    parser.add_argument("--hour-records", type=int, default=10_000_000)
    parser.add_argument("--queue-scale", type=float, default=1.0,
                        help="multiply the declaration queue sizes (for small test databases)")
    args = parser.parse_args(argv)
    if args.drop:
        drop_database(args.db_url)
        log(f"dropped {split_url(args.db_url)[1]}")
        return 0
    state = bench_state(args.db_url)
    if args.if_missing and state and (has_hours(state) or args.no_hours):
        log(f"bench database present ({state}); not regenerating")
        return 0
    if args.hours or (args.if_missing and state):
        if state is None:
            raise SystemExit("no complete bench database: run `python bench/generate.py` first")
        generate_hours(args.db_url, state, args.seed, args.hour_records, args.queue_scale)
        return 0
    generate(args.db_url, args.orgs, args.persons, args.seed)
    if not args.no_hours:
        generate_hours(args.db_url, bench_state(args.db_url), args.seed, args.hour_records, args.queue_scale)
    else:
        derived.fill_qualifications(args.db_url, log)
        derived.rebuild(args.db_url, log)  # the triggers were off while loading: count the rollups once
    return 0


def generate_hours(url: str, state: str, seed: int, n_records: int, scale: float) -> None:
    """Bring the schema up to date (Alembic), then load the hours (bench/generate_hours.py)."""
    from generate_hours import load_hours

    t0 = time.perf_counter()
    base = foundation_comment(state)
    set_comment(url, base)  # the hours are incomplete until the end of this step
    log(f"hours: {n_records:,} hour records into {split_url(url)[1]}")
    migrate(url)
    log(f"  {'alembic upgrade (schema)':<40} {time.perf_counter() - t0:7.1f} s")
    stats = load_hours(libpq_url(url), seed=seed, n_records=n_records, scale=scale)
    total = time.perf_counter() - t0
    states = stats["states"]
    set_comment(url, f"{base}{HOURS_MARK}records={stats['records']} declarations={stats['declarations']} "
                     f"pending_unit={states.get('pending_unit', 0)} pending_dept={states.get('pending_dept', 0)} "
                     f"pending_hr={states.get('pending_hr', 0)} generated={datetime.datetime.now():%Y-%m-%d %H:%M} "
                     f"load_seconds={total:.0f}")
    log(f"hour records {stats['records']:,} ({stats['online']:,} from the online platform, "
        f"{stats['records'] - stats['online']:,} from approved declarations); year summaries {stats['summaries']:,}")
    log(f"declarations {stats['declarations']:,} by state: " + ", ".join(f"{k} {v:,}" for k, v in states.items()))
    log("pending at the bench admins' orgs (planned): " + ", ".join(
        f"{k} {at:,} of {n:,}" for k, (n, at) in stats["plan"].items()))
    log("queues in the bench admins' scopes: " + ", ".join(f"{k} {v:,}" for k, v in stats["queues"].items()))
    log("passed (public >= 30, professional >= 60) per year: " + ", ".join(
        f"{p * 100 / max(n, 1):.0f}% of {n:,}" for p, n in zip(stats["passed"], stats["person_years"])))
    log("sizes: " + ", ".join(f"{k} {v}" for k, v in stats["size"].items()) + f"; hours total {total:.1f} s")
    derived.fill_qualifications(url, log)
    derived.rebuild(url, log)  # the triggers were off while loading: the statistics' rollups counted once

if __name__ == "__main__":
    sys.exit(main())
