"""The hours step of the bench generator (issue 3): 10,000,000 credited hour records, the declarations behind
them, the reviewers' queues and the per-person-per-year summaries, on an existing foundation bench database.

    python bench/generate.py --hours          # (re)load the hours only; the foundation data stays

Who gets what (deterministic for a seed):

* Every professional whose membership is active (about 850,000) learns in each of the five years
  (this year - 4 .. this year). Records per person and year: 0-4 (mean about 2.35), adjusted so that the total is
  exactly --hour-records (10,000,000).
* The first record of a year is usually 公需 (public), the others 专业 (professional). Learning forms, titles,
  organisers, dates and hours follow the seeded catalogue's rules and caps (training in days of 8 hours,
  conference 4/8/12, paper 15/30, exam 20, ...).
* Records of the 网络学习 form are credited by the online platform (source "online", source_id = the platform's
  enrolment number, increasing). Every other record comes from an approved Declaration (source "declaration",
  source_id = declaration id) with the same person, year, subject, form, title and hours; the declaration went
  through the unit's chain and its reviewer_org is the chain's last level (the HR bureau).
* Declarations still in review or not credited: pending_unit (reviewer = the person's unit), pending_dept (the
  unit's competent department), pending_hr (the nearest HR bureau), rejected (at some level of the chain),
  draft. Part of the pending ones is concentrated on the bench admins' orgs so that each admin's queue has more
  than 1,000 pages of 20 (see QUEUES).
* YearSummary = the sums of each person's records of a year, computed while streaming.

Ids follow time: the rows are streamed year by year (oldest first) and person by person inside a year, as a
platform that has run for five years would have numbered them.

The three tables are loaded in parallel over three connections, each in one transaction: TRUNCATE, then
COPY ... (FREEZE) (the rows are written frozen and all-visible, so VACUUM has nothing to do), FK triggers off
(session_replication_role = replica) and checked afterwards with anti-joins; the indexes stay in place.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import random
import time

# Default queue sizes (declarations waiting at each level) and how many of them wait at the bench admins' orgs.
QUEUES = {
    # state: (total, at the bench admin's org)
    "pending_unit": (200_000, 25_000),   # 25,000 at the UnitAdmin's unit (and its sub-units)
    "pending_dept": (50_000, 25_000),    # 25,000 at the DeptAdmin's department
    "pending_hr": (50_000, 0),           # the city HRAdmin's scope holds every HR bureau: all 50,000
}
REJECTED = 120_000
DRAFTS = 40_000
COUNT_WEIGHTS = [(0, 4), (1, 10), (2, 40), (3, 36), (4, 10)]  # records per person and year (mean 2.38 before fit)

PUBLIC_TOPICS = ["习近平新时代中国特色社会主义思想概论", "数字经济与创新驱动发展", "专业技术人员职业道德与诚信建设",
                 "知识产权保护与运用", "心理健康与压力管理", "法治政府建设与依法行政", "生态文明建设与绿色发展",
                 "人工智能与数字化转型", "乡村振兴战略解读", "安全生产与应急管理", "总体国家安全观教育",
                 "科学素养与创新方法", "黄河流域生态保护和高质量发展", "保密知识教育", "优化营商环境专题"]
PLATFORMS = ["济南市专业技术人员继续教育网络学习平台", "山东省专业技术人员继续教育公共服务平台",
             "国家专业技术人员继续教育公共服务平台"]
TRAININGS = ["临床诊疗新进展专题培训班", "中小学教师信息技术应用能力提升培训", "建筑工程质量安全管理培训班",
             "会计人员继续教育专题培训", "新能源汽车关键技术培训", "水利工程建设与运行管理培训班",
             "智慧农业技术推广培训班", "检验检测机构能力验证培训", "软件工程与项目管理高级研修班",
             "护理质量与安全管理培训班", "课程思政与教学改革研修班", "智能制造技术应用培训", "国土空间规划编制培训班",
             "生态环境监测技术培训", "新闻采编业务能力提升培训", "基层卫生适宜技术推广培训班",
             "BIM技术应用专题培训", "财务数字化转型研修班", "公共卫生应急处置能力培训", "特殊教育教学能力提升培训"]
ORGANISERS = ["山东省医学会", "济南市卫生健康委员会", "山东大学继续教育学院", "山东省建设教育协会", "济南市教育教学研究院",
              "山东省会计学会", "齐鲁工业大学", "济南市专业技术人员继续教育基地", "中华医学会山东分会",
              "山东省科学技术协会", "山东建筑大学继续教育学院", "济南市人力资源和社会保障局"]
LOCATIONS = ["济南", "济南", "济南", "青岛", "北京", "上海", "线上"]
CONFERENCES = ["全国临床医学", "山东省护理", "中国土木工程", "全国基础教育", "山东省会计", "中国计算机应用", "全国水利",
               "山东省检验医学", "中国机械工程", "全国中医药"]
CONF_LEVELS = [("国际", 120), ("国家级", 120), ("省级", 80), ("市级", 40)]
SCHOOLS = ["山东大学", "山东师范大学", "济南大学", "山东建筑大学", "山东第一医科大学", "齐鲁工业大学", "山东财经大学"]
MAJORS = ["临床医学", "教育管理", "土木工程", "计算机技术", "会计", "护理", "机械工程", "公共管理"]
PAPER_TOPICS = ["基层医疗机构慢病管理模式", "核心素养导向的课堂教学", "装配式建筑施工质量控制", "智能电网负荷预测",
                "中小企业财务风险防控", "优质护理服务质量评价", "农田灌溉节水技术", "城市轨道交通运营安全",
                "大数据环境下的档案管理", "新能源汽车电池热管理", "检验结果互认机制", "乡村学校教师专业发展"]
JOURNALS = [("中华医学杂志", "0376-2491", 300), ("中国教育学刊", "1002-4808", 300), ("建筑结构", "1002-848X", 300),
            ("山东医药", "1002-266X", 150), ("现代教育", "1005-5843", 150), ("山东工业技术", "1006-7523", 150),
            ("财会通讯", "1002-8072", 150), ("护理研究", "1009-6493", 150)]
AUTHOR_RANKS = ["独著", "第一作者", "第二作者", "第三作者及以后"]
PUBLISHERS = ["山东科学技术出版社", "人民卫生出版社", "高等教育出版社", "山东教育出版社", "中国建筑工业出版社"]
PROJECT_RANKS = [("国家级", 400), ("省部级", 300), ("市厅级", 200)]
ROLES_IN = ["主持人", "主要参与人", "参与人"]
PATENT_THINGS = ["医用输液固定", "教学演示", "混凝土养护", "电缆检测", "农田灌溉控制", "水质采样", "零件打磨"]
PATENT_TYPES = [("发明专利", 300), ("实用新型", 100), ("外观设计", 100)]
EXAMS = ["全国卫生专业技术资格考试（中级）", "注册会计师全国统一考试", "一级建造师执业资格考试", "执业药师职业资格考试",
         "计算机技术与软件专业技术资格考试", "全国经济专业技术资格考试"]
REJECT_REASONS = ["证明材料不清晰，请重新上传", "学时超出该学习形式的认定标准", "培训时间与证明材料不一致",
                  "该成果已在往年申报，请勿重复申报"]
# Forms with a yearly cap are used at most once per person and year (the catalogue's caps then always hold).
CAPPED = {"conference", "degree", "paper", "book", "project", "patent", "exam"}
# Professional forms and their share of professional records (the rest of the mix is 网络学习).
PROFESSIONAL_MIX = [("training", 46), ("online", 22), ("conference", 9), ("paper", 7), ("exam", 4), ("project", 3),
                    ("degree", 3), ("book", 3), ("patent", 3)]


def log(msg: str) -> None:
    print(msg, flush=True)


class Variant:
    """A precomputed record shape: everything but the person, ids and dates."""

    __slots__ = ("subject", "form_code", "form_id", "title", "tenths", "hours", "provider", "details",
                 "date_field", "has_dates", "duration", "online")

    def __init__(self, subject, form_code, form_id, title, tenths, provider, details, date_field=None,
                 has_dates=True, duration=0):
        self.subject, self.form_code, self.form_id, self.title = subject, form_code, form_id, title
        self.tenths, self.hours = tenths, f"{tenths // 10}.{tenths % 10}"
        self.provider = provider if provider is not None else "\\N"
        # details_json; "@D" stands for the record's date (publication, grant, examination date)
        self.details = json.dumps(details, ensure_ascii=False, separators=(", ", ": "))
        self.date_field, self.has_dates, self.duration = date_field, has_dates, duration
        self.online = form_code == "online"
        assert "\t" not in self.details + self.title and "\\" not in self.details + self.title


def build_variants(year: int, forms: dict[str, int], rng: random.Random) -> tuple[list, dict[str, list]]:
    """(public pool, professional pools by form code) of the year; pools are lists of Variants."""
    f = forms
    public = []
    for topic in PUBLIC_TOPICS:
        for tenths in (300, 300, 300, 300, 300, 300, 320, 360, 400, 240):
            platform = rng.choice(PLATFORMS)
            public.append(Variant("public", "online", f["online"], f"{year}年度公需科目：{topic}", tenths, platform,
                                  {"platform": platform}, duration=rng.randint(7, 60)))
    for tenths in (80, 160, 240, 300):
        for org in ("济南市人力资源和社会保障局", "济南市专业技术人员继续教育基地"):
            public.append(Variant("public", "training", f["training"], f"{year}年专业技术人员公需科目集中培训班",
                                  tenths, org, {"organiser": org, "location": "济南"}, duration=tenths // 80))
    pro: dict[str, list] = {code: [] for code, _ in PROFESSIONAL_MIX}
    for name in TRAININGS:
        for days in (4, 5, 6, 7, 8, 8, 9, 10, 10, 11, 12):
            org = rng.choice(ORGANISERS)
            tenths = min(days * 80, 900)
            pro["training"].append(Variant("professional", "training", f["training"], f"{year}年{name}", tenths, org,
                                           {"organiser": org, "location": rng.choice(LOCATIONS)}, duration=days))
    for topic in PAPER_TOPICS + TRAININGS[:8]:
        for tenths in (240, 300, 400, 480, 600, 600, 640, 720):
            platform = rng.choice(PLATFORMS)
            pro["online"].append(Variant("professional", "online", f["online"], f"{year}年度专业科目：{topic}", tenths,
                                         platform, {"platform": platform}, duration=rng.randint(14, 90)))
    for n, field in enumerate(CONFERENCES):
        for level, tenths in CONF_LEVELS:
            org = rng.choice(ORGANISERS)
            pro["conference"].append(Variant(
                "professional", "conference", f["conference"], f"第{year - 2000 + n}届{field}学术年会", tenths, org,
                {"organiser": org, "conf_level": level}, duration=rng.randint(1, 3)))
    for school in SCHOOLS:
        for major in MAJORS:
            pro["degree"].append(Variant("professional", "degree", f["degree"], f"{school}{major}专业在职研究生学习",
                                         600, None, {"school": school, "major": major}, duration=120))
    for topic in PAPER_TOPICS:
        for journal, issn, tenths in JOURNALS:
            pro["paper"].append(Variant("professional", "paper", f["paper"], f"{topic}研究", tenths, None,
                                        {"journal": journal, "issn": issn, "publish_date": "@D",
                                         "author_rank": rng.choice(AUTHOR_RANKS)}, "publish_date", False))
    for topic in PAPER_TOPICS:
        for words in (10, 20, 30, 40, 50, 60):
            publisher = rng.choice(PUBLISHERS)
            isbn = f"978{rng.randrange(10 ** 9, 10 ** 10)}"
            pro["book"].append(Variant("professional", "book", f["book"], f"{topic}实务", words * 10, None,
                                       {"publisher": publisher, "isbn": isbn, "publish_date": "@D",
                                        "words": str(words * 10)}, "publish_date", False))
    for topic in PAPER_TOPICS:
        for rank, tenths in PROJECT_RANKS:
            pro["project"].append(Variant("professional", "project", f["project"], f"{topic}关键技术研究", tenths,
                                          None, {"project_rank": rank, "role_in": rng.choice(ROLES_IN)},
                                          duration=rng.randint(60, 200)))
    for thing in PATENT_THINGS:
        for ptype, tenths in PATENT_TYPES:
            number = f"ZL{year - 1}{rng.randrange(1, 3)}{rng.randrange(10 ** 7, 10 ** 8)}.{rng.randrange(10)}"
            pro["patent"].append(Variant("professional", "patent", f["patent"], f"一种{thing}装置", tenths, None,
                                         {"patent_no": number, "patent_type": ptype, "grant_date": "@D"},
                                         "grant_date", False))
    for exam in EXAMS:
        for k in range(5):
            pro["exam"].append(Variant("professional", "exam", f["exam"], f"通过{exam}", 200, None,
                                       {"exam_name": exam, "cert_no": f"{year}{rng.randrange(10 ** 9, 10 ** 10)}",
                                        "exam_date": "@D"}, "exam_date", False))
    return public, pro


class Stream:
    """One COPY ... FROM STDIN (FREEZE) on its own connection and transaction, fed in batches."""

    def __init__(self, stack: contextlib.ExitStack, url: str, table: str, columns: list[str], truncate: str,
                 batch: int = 20_000):
        import psycopg

        self.table, self.batch, self.buf, self.n = table, batch, [], 0
        self.conn = stack.enter_context(psycopg.connect(url))
        self.conn.execute("SET session_replication_role = replica")  # FK triggers off; checked afterwards
        self.conn.execute("SET synchronous_commit = off")
        self.conn.execute(f"TRUNCATE {truncate}")
        self.copy = stack.enter_context(self.conn.cursor().copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN (FREEZE)"))

    def add(self, line: str) -> None:
        self.buf.append(line)
        if len(self.buf) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.copy.write("".join(self.buf))
            self.n += len(self.buf)
            self.buf.clear()


def load_hours(url: str, *, seed: int = 2026, n_records: int = 10_000_000, scale: float = 1.0,
               today: datetime.date | None = None) -> dict:
    """Load the hours into the bench database at `url` (a libpq URL). Returns figures for the log and comment.
    `scale` multiplies the queue sizes (for small test databases)."""
    import psycopg

    t_all = time.perf_counter()
    timings: list[tuple[str, float]] = []

    def step(label, t0):
        dt = time.perf_counter() - t0
        timings.append((label, dt))
        log(f"  {label:<40} {dt:7.1f} s")

    today = today or datetime.date.today()
    years = list(range(today.year - 4, today.year + 1))
    rng = random.Random(seed * 7 + 3)
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn:
        forms = dict(conn.execute("SELECT code, id FROM learning_form").fetchall())
        missing = {code for code, _ in PROFESSIONAL_MIX} - set(forms)
        if missing:
            raise SystemExit(f"learning forms missing from the catalogue: {sorted(missing)}")
        orgs = {row[0]: row[1:] for row in conn.execute(
            "SELECT o.id, o.kind, o.path, coalesce(r.declaration_levels, 3) FROM org o "
            "LEFT JOIN region r ON r.id = o.region_id")}
        persons = conn.execute(
            "SELECT p.id, p.unit_id FROM person p JOIN membership m ON m.user_id = p.user_id "
            "AND m.role = 'Professional' AND m.org_id = p.unit_id WHERE m.state = 'active' ORDER BY p.id").fetchall()
        admins = {role: (org_id, path) for role, org_id, path in conn.execute(
            "SELECT m.role, o.id, o.path FROM membership m JOIN org o ON o.id = m.org_id "
            "WHERE m.role IN ('UnitAdmin', 'DeptAdmin', 'HRAdmin') AND m.state = 'active' ORDER BY m.id")}
    if not persons:
        raise SystemExit("no active professionals: generate the foundation data first")

    # The review chain of every unit, as app.workflows.declaration.chain_for builds it.
    chains: dict[int, tuple[int, int | None, int | None]] = {}

    def chain(unit_id):
        hit = chains.get(unit_id)
        if hit is None:
            ids = [int(x) for x in orgs[unit_id][1].strip("/").split("/")][::-1]
            dept = next((i for i in ids if orgs[i][0] == "department"), None)
            hr = next((i for i in ids if orgs[i][0] in ("hr_district", "hr_city")), None)
            levels = orgs[hr][2] if hr is not None else 3
            hit = (unit_id, dept if levels >= 3 else None, hr if levels >= 2 else None)
            chains[unit_id] = hit
        return hit

    n_active = len(persons)
    pids = [p for p, _ in persons]
    units = [u for _, u in persons]
    person_chain = [chain(u) for u in units]

    # records per person and year, fitted to exactly n_records
    values = [k for k, w in COUNT_WEIGHTS for _ in range(w)]
    counts = bytearray(rng.choice(values) for _ in range(n_active * len(years)))
    diff = n_records - sum(counts)
    while diff:
        i = rng.randrange(len(counts))
        if diff > 0 and counts[i] < 6:
            counts[i] += 1
            diff -= 1
        elif diff < 0 and counts[i] > 0:
            counts[i] -= 1
            diff += 1

    # declarations that are not credited: (person index, state) per year
    extras: list[dict[int, list[str]]] = [dict() for _ in years]

    def place(state, n, candidates, year_choices):
        for _ in range(n):
            i = candidates[rng.randrange(len(candidates))]
            y = year_choices[rng.randrange(len(year_choices))]
            extras[y].setdefault(i, []).append(state)

    everyone = range(n_active)
    with_dept = [i for i in everyone if person_chain[i][1] is not None]
    recent = [len(years) - 1] * 9 + [len(years) - 2]  # pending: 90% this year, 10% last year
    _unit_org, unit_path = admins.get("UnitAdmin", (None, None))
    dept_org, _dept_path = admins.get("DeptAdmin", (None, None))
    at_unit = [i for i in everyone if unit_path and orgs[units[i]][1].startswith(unit_path)]
    at_dept = [i for i in with_dept if person_chain[i][1] == dept_org]
    plan = {}
    for state, (total, at_admin) in QUEUES.items():
        total, at_admin = int(total * scale), int(at_admin * scale)
        pool = {"pending_unit": at_unit, "pending_dept": at_dept}.get(state)
        if not pool:
            at_admin = 0
        place(state, at_admin, pool or [], recent)
        place(state, total - at_admin, with_dept if state == "pending_dept" else everyone, recent)
        plan[state] = (total, at_admin)
    place("rejected", int(REJECTED * scale), everyone, list(range(len(years))))
    place("draft", int(DRAFTS * scale), everyone, [len(years) - 1])
    step(f"plan ({n_active:,} active professionals)", t0)

    # day numbers: 0 = 1 Jan of the first year; the last usable day is yesterday
    first = datetime.date(years[0], 1, 1)
    last_day = (today - first).days - 1
    day_str = [(first + datetime.timedelta(days=d)).isoformat() for d in range(last_day + 1)]
    times = ["09:12:31", "10:05:47", "14:33:02", "15:48:19", "16:20:55", "11:41:08"]
    stamp = [f"{d} {times[i % len(times)]}" for i, d in enumerate(day_str)]
    year_start = [(datetime.date(y, 1, 1) - first).days for y in years]
    year_end = [min((datetime.date(y, 12, 31) - first).days, last_day) for y in years]

    variants = [build_variants(y, forms, random.Random(seed * 31 + y)) for y in years]
    mix_codes = [code for code, w in PROFESSIONAL_MIX for _ in range(w)]

    decl_cols = ["id", "person_id", "unit_id", "reviewer_org_id", "subject", "form_id", "year", "title", "hours",
                 "start_date", "end_date", "details_json", "state", "reason", "created_at", "submitted_at"]
    rec_cols = ["id", "person_id", "year", "subject", "hours", "form_id", "title", "source", "source_id", "provider",
                "credited_at"]
    sum_cols = ["person_id", "year", "public_hours", "professional_hours"]
    rnd = rng.random
    randrange = rng.randrange
    stats = {"records": 0, "online": 0, "declarations": 0, "states": {}, "summaries": 0, "passed": [0] * len(years),
             "person_years": [0] * len(years)}
    states = stats["states"]
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        decl = Stream(stack, url, "declaration", decl_cols, "declaration CASCADE")
        # CASCADE: enrolment.credited_record_id refers to hour_record (the bench loads no online learning)
        rec = Stream(stack, url, "hour_record", rec_cols, "hour_record, certificate CASCADE")
        summ = Stream(stack, url, "year_summary", sum_cols, "year_summary")
        did = 0
        hid = 0
        enrol = 5_000_000  # the online platform's enrolment numbers
        for yi, year in enumerate(years):
            public_pool, pro_pools = variants[yi]
            y0, y1 = year_start[yi], year_end[yi]
            span = y1 - y0
            extra = extras[yi]
            base = yi * n_active
            npub = len(public_pool)
            nmix = len(mix_codes)
            for i in range(n_active):
                k = counts[base + i]
                more = extra.get(i)
                if not k and not more:
                    continue
                pid = pids[i]
                unit, dept, hr = person_chain[i]
                last = hr or dept or unit
                pub = pro = 0
                used = set()
                for j in range(k):
                    if (j == 0) == (rnd() < 0.9):
                        v = public_pool[int(rnd() * npub)]
                    else:
                        code = mix_codes[int(rnd() * nmix)]
                        if code in used:
                            code = "training"
                        used.add(code)
                        pool = pro_pools[code]
                        v = pool[int(rnd() * len(pool))]
                    if v.subject == "public":
                        pub += v.tenths
                    else:
                        pro += v.tenths
                    start = y0 + int(rnd() * max(span - v.duration - 20, 1))
                    end = min(start + v.duration, y1)
                    hid += 1
                    if v.online:
                        enrol += 1 + int(rnd() * 3)
                        credited = min(end + 1, last_day)
                        rec.add(f"{hid}\t{pid}\t{year}\t{v.subject}\t{v.hours}\t{v.form_id}\t{v.title}\tonline\t"
                                f"{enrol}\t{v.provider}\t{stamp[credited]}\n")
                        continue
                    did += 1
                    submitted = min(end + 1 + int(rnd() * 20), last_day)
                    credited = min(submitted + 3 + int(rnd() * 30), last_day)
                    details = v.details.replace("@D", day_str[end]) if v.date_field else v.details
                    dates = f"{day_str[start]}\t{day_str[end]}" if v.has_dates else "\\N\t\\N"
                    decl.add(f"{did}\t{pid}\t{unit}\t{last}\t{v.subject}\t{v.form_id}\t{year}\t{v.title}\t{v.hours}\t"
                             f"{dates}\t{details}\tapproved\t\\N\t{stamp[submitted]}\t{stamp[submitted]}\n")
                    rec.add(f"{hid}\t{pid}\t{year}\t{v.subject}\t{v.hours}\t{v.form_id}\t{v.title}\tdeclaration\t"
                            f"{did}\t{v.provider}\t{stamp[credited]}\n")
                if k:
                    summ.add(f"{pid}\t{year}\t{pub // 10}.{pub % 10}\t{pro // 10}.{pro % 10}\n")
                    stats["person_years"][yi] += 1
                    if pub >= 300 and pro >= 600:
                        stats["passed"][yi] += 1
                for state in more or ():
                    code = mix_codes[int(rnd() * nmix)]
                    pool = pro_pools[code] if rnd() < 0.8 else public_pool
                    v = pool[int(rnd() * len(pool))]
                    if state in ("pending_unit", "pending_dept", "pending_hr", "draft"):
                        # waiting now: submitted in the last 90 days
                        submitted = last_day - int(rnd() * 90)
                        end = min(submitted - 1, y1)
                        start = max(end - v.duration, y0)
                    else:
                        start = y0 + int(rnd() * max(span - v.duration - 20, 1))
                        end = min(start + v.duration, y1)
                        submitted = min(end + 1 + int(rnd() * 20), last_day)
                    reviewer = {"pending_unit": unit, "pending_dept": dept, "pending_hr": hr}.get(state)
                    reason = "\\N"
                    if state == "rejected":
                        reviewer = (unit, dept or unit, last)[randrange(3)]
                        reason = REJECT_REASONS[randrange(len(REJECT_REASONS))]
                    details = v.details.replace("@D", day_str[end]) if v.date_field else v.details
                    dates = f"{day_str[start]}\t{day_str[end]}" if v.has_dates else "\\N\t\\N"
                    did += 1
                    sub = "\\N" if state == "draft" else stamp[submitted]
                    rev = reviewer if reviewer else "\\N"
                    decl.add(f"{did}\t{pid}\t{unit}\t{rev}\t{v.subject}\t"
                             f"{v.form_id}\t{year}\t{v.title}\t{v.hours}\t{dates}\t{details}\t{state}\t{reason}\t"
                             f"{stamp[submitted]}\t{sub}\n")
                    states[state] = states.get(state, 0) + 1
            log(f"    {year}: {hid:>11,} records, {did:>10,} declarations so far ({time.perf_counter() - t0:5.1f} s)")
        for s in (decl, rec, summ):
            s.flush()
        stack.close()  # end the COPYs, commit the three transactions
    states["approved"] = did - sum(states.values())
    stats.update(records=hid, declarations=did, summaries=summ.n, online=rec.n - states["approved"])
    step("COPY declaration + hour_record + year_summary", t0)

    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("declaration", "hour_record", "certificate"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
        step("sequences", t0)
        t0 = time.perf_counter()
        check_hours(conn)
        step("consistency checks (anti-joins, sums)", t0)
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE declaration, hour_record, year_summary, certificate")
        step("VACUUM ANALYZE", t0)
        stats["size"] = {t: conn.execute(f"SELECT pg_size_pretty(pg_total_relation_size('{t}'))").fetchone()[0]
                         for t in ("declaration", "hour_record", "year_summary")}
        queues = {}
        for role, (org_id, path) in admins.items():
            state = {"UnitAdmin": "pending_unit", "DeptAdmin": "pending_dept", "HRAdmin": "pending_hr"}[role]
            queues[role] = conn.execute(
                "SELECT count(*) FROM declaration WHERE state = %s AND reviewer_org_id IN "
                "(SELECT id FROM org WHERE path LIKE %s)", (state, path + "%")).fetchone()[0]
        stats["queues"] = queues
    stats["plan"] = plan
    stats["seconds"] = time.perf_counter() - t_all
    stats["timings"] = timings
    return stats


def check_hours(conn) -> None:
    """Every reference and every sum, checked after the load (FK triggers were off)."""
    conn.execute("SET work_mem = '512MB'")
    checks = {
        "hour_record.person_id": "SELECT count(*) FROM hour_record h LEFT JOIN person p ON p.id = h.person_id "
                                 "WHERE p.id IS NULL",
        "declaration.person/unit": "SELECT count(*) FROM declaration d LEFT JOIN person p ON p.id = d.person_id "
                                   "WHERE p.id IS NULL OR p.unit_id <> d.unit_id",
        "declaration.reviewer_org_id": "SELECT count(*) FROM declaration d LEFT JOIN org o ON o.id = d.reviewer_org_id "
                                       "WHERE (d.reviewer_org_id IS NULL) <> (d.state = 'draft') "
                                       "OR (d.reviewer_org_id IS NOT NULL AND o.id IS NULL)",
        "declaration.reviewer in the unit's chain": (
            "SELECT count(*) FROM declaration d JOIN org u ON u.id = d.unit_id JOIN org r ON r.id = d.reviewer_org_id "
            "WHERE d.state <> 'draft' AND NOT (u.path LIKE r.path || '%') "
            "OR (d.state = 'pending_unit' AND d.reviewer_org_id <> d.unit_id) "
            "OR (d.state = 'pending_dept' AND r.kind <> 'department') "
            "OR (d.state IN ('pending_hr', 'approved') AND r.kind NOT IN ('hr_district', 'hr_city'))"),
        "record -> approved declaration": (
            "SELECT count(*) FROM hour_record h LEFT JOIN declaration d ON d.id = h.source_id "
            "AND d.state = 'approved' AND d.person_id = h.person_id AND d.year = h.year AND d.hours = h.hours "
            "AND d.subject = h.subject AND d.form_id = h.form_id AND d.title = h.title "
            "WHERE h.source = 'declaration' AND d.id IS NULL"),
        "approved declaration -> record": (
            "SELECT count(*) FROM declaration d LEFT JOIN hour_record h ON h.source = 'declaration' "
            "AND h.source_id = d.id AND h.person_id = d.person_id WHERE d.state = 'approved' AND h.id IS NULL"),
        "year_summary = sum of records": (
            "SELECT count(*) FROM (SELECT person_id, year, sum(hours) FILTER (WHERE subject = 'public') AS pub, "
            "sum(hours) FILTER (WHERE subject = 'professional') AS pro FROM hour_record GROUP BY person_id, year) h "
            "FULL JOIN year_summary s USING (person_id, year) "
            "WHERE s.person_id IS NULL OR h.person_id IS NULL OR coalesce(h.pub, 0) <> s.public_hours "
            "OR coalesce(h.pro, 0) <> s.professional_hours"),
    }
    problems = []
    for label, sql in checks.items():
        bad = conn.execute(sql).fetchone()[0]
        if bad:
            problems.append(f"{label}: {bad}")
    conn.execute("RESET work_mem")
    if problems:
        raise SystemExit("hours consistency check failed: " + "; ".join(problems))

