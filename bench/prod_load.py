"""Load run of the production setup against the development server, same mix, same run (issue 13).

    python bench/prod_load.py [--seconds 300] [--rounds 3] [--users 8] [--workers 2] [--only dev|prod] [--json F]

Two targets on the bench database jxjy_bench (1,000,000 persons, 10,000,000 hour records), one after the other:

* dev: `python run.py` (Flask's development server, werkzeug, one process), APP_ENV=development;
* prod: `scripts/prod.sh` (APP_ENV=production: nginx in front of two gunicorn nodes of --workers workers each, Redis
  for rate limits and the task queue (a Redis server of this run's own), the queue's worker and scheduler).

Both get the same settings: the bench database, one SECRET_KEY made for the run, login rate limits raised (all the
load comes from one address). Both stay up for the whole run and take turns (--rounds), so that a change in the
machine's other load falls on both. The client is this process (a second process on loopback): --users simulated people,
each a thread with its own cookie jar (the client code of bench/learning_load.py: urllib, no redirects followed),
in a closed loop without think time: the bound on concurrency is the number of users. Half are professionals of the
UnitAdmin's unit, half are the bench's reviewing admins (UnitAdmin, DeptAdmin, the city and the district HRAdmin).

The mix (each user draws its next action): logins through the real form (a few percent of the actions: login page,
captcha, POST; the captcha's answer is read the way a person reads the picture: this client knows the run's
SECRET_KEY and sets the challenge's stored digest to a known answer), home pages, review queues, list pages with
filters (declaration queue by year and subject, registrations by state, staff by name), declaration details (the
reviewer's and the owner's), declarations submitted (form + POST) and approvals (POST of a queue's decision form).
Approvals take the newest item of the admin's queue: what the professionals of this run submitted (the UnitAdmin
passes it to the department, the department to the HR bureau, the city HRAdmin credits it), else the newest of the
bench's pending pools (50,000 at each level), so a run never exhausts the data.

Printed per target: requests, throughput, p50 / p95 / p99, errors, requests/s per core, each page's count, latency
and share of the total time (the page that limits throughput is the one with the largest total), the load average;
then the ratio prod/dev and the goals (>= 3x, p99 < 500 ms, 0 errors); then the consistency check of what the run
wrote (bench/prod_load.py's `consistency`, also used by bench/faults.py).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import http.cookiejar
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import PASSWORD, bench_state, id_number_of, libpq_url  # noqa: E402
from learning_load import TOKEN, free_port, log  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/jxjy_bench")
CAPTCHA_ANSWER = "BENCH"
ADMINS = (("unit_admin", "UnitAdmin"), ("dept_admin", "DeptAdmin"), ("city_admin", "HRAdmin"),
          ("district_admin", "HRAdmin"))
QUEUE_IDS = re.compile(r'name="ids" value="(\d+)"')
OWN_IDS = re.compile(r'href="/hours/(\d+)"')
BENCH_ENV = {"LOGIN_RATE_LIMIT": "100000 per minute", "PUBLIC_POST_RATE_LIMIT": "100000 per minute",
             "LOG_LEVEL": "WARNING", "MAIL_SUPPRESS_SEND": "true", "ACCESS_LOG": "false"}


# ------------------------------------------------------------------------------------------------ the client
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 302 is the answer measured, not followed
        return None


def session_data(cookie_value: str) -> dict:
    """The payload of Flask's signed session cookie (readable by anyone; only the signature is secret)."""
    compressed = cookie_value.startswith(".")
    payload = cookie_value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


class CaptchaReader:
    """Reads the captcha as a person reads the picture: the challenge id is in the session, and this client (which
    knows the run's SECRET_KEY) stores the digest of a known answer for it. One connection, a lock."""

    def __init__(self, url: str, secret_key: str):
        self.url, self.key, self.lock, self.conn = libpq_url(url), secret_key.encode(), threading.Lock(), None

    def solve(self, jar: http.cookiejar.CookieJar) -> str:
        import psycopg

        cookie = next(c for c in jar if c.name == "session")
        challenge = session_data(cookie.value)["captcha"]
        digest = hmac.new(self.key, f"{challenge}:{CAPTCHA_ANSWER}".encode(), hashlib.sha256).hexdigest()
        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                    self.conn.execute("UPDATE captcha_challenge SET digest = %s WHERE id = %s", (digest, challenge))
                    break
                except psycopg.OperationalError:
                    self.conn = None
                    if attempt == 2:
                        raise
        return CAPTCHA_ANSWER


@dataclass
class Sample:
    label: str
    started: float
    seconds: float
    ok: bool
    status: int = 0


@dataclass
class Persona:
    kind: str      # "pro" or an ADMINS key
    role: str
    username: str
    slot: int = 0  # which row of a queue page this user decides (users of one admin never pick the same row)


class User:
    """One simulated person: logs in through the real form, then draws actions until a deadline (`work`, run in a
    thread of its own for each measured slice)."""

    def __init__(self, base: str, who: Persona, reader: CaptchaReader, seed: int, year: int):
        self.base, self.who, self.reader, self.year = base, who, reader, year
        self.rng = random.Random(seed)
        self.samples: list[Sample] = []
        self.errors: list[str] = []
        self.stop = threading.Event()  # set: the slice ends now (a fault test's own end)
        self.logged_in = False
        self.csrf = None
        self.queue_ids: list[int] = []
        self.own_ids: list[int] = []
        self.submitted: list[int] = []
        self._new_session()

    def _new_session(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    # one HTTP exchange, measured
    def _open(self, label: str, path: str, data: dict | list | None = None, expect=(200,)) -> tuple[int, str, dict]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers={"Accept-Language": "zh"})
        started = time.perf_counter()
        status, text, headers = 0, "", {}
        try:
            with self.opener.open(request, timeout=30) as response:
                status, headers = response.status, dict(response.headers)
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, dict(exc.headers or {})
            text = exc.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as exc:
            text = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        ok = status in expect
        self.samples.append(Sample(label, started, seconds, ok, status))
        if not ok:
            title = re.search(r"<title>(.*?)</title>", text, re.S)
            self.errors.append(f"{label} {path}: {status} {(title.group(1).strip() if title else text[:160])!r}")
        return status, text, headers

    def _token(self, page: str) -> str | None:
        match = TOKEN.search(page)
        return (match.group(1) or match.group(2)) if match else None

    # --------------------------------------------------------------------------------------- actions
    def login(self) -> bool:
        self._new_session()
        _status, page, _ = self._open("login page", "/login/")
        token = self._token(page)
        self._open("captcha", "/captcha.png")
        try:
            answer = self.reader.solve(self.jar)
        except Exception as exc:  # noqa: BLE001 - the database is out of reach (a fault): the login fails
            answer = "XXXX"
            self.errors.append(f"captcha: {type(exc).__name__}")
        status, _page, headers = self._open("login POST", "/login/", {
            "csrf_token": token or "", "role": self.who.role, "id_number": self.who.username,
            "password": PASSWORD, "captcha": answer}, expect=(302,))
        if status == 302 and "/login" in headers.get("Location", ""):
            self.samples[-1].ok = False
            self.errors.append(f"login POST: back to the login page ({self.who.kind})")
            status = 0
        self.logged_in = status == 302
        return self.logged_in

    def home(self):
        self._open("home", "/home/")

    def queue(self, filtered: bool = False):
        path = (f"/review/declarations/?year={self.year}&subject=professional" if filtered
                else "/review/declarations/")
        _status, page, _ = self._open("review queue, filtered" if filtered else "review queue", path)
        ids = [int(i) for i in QUEUE_IDS.findall(page)]
        if not filtered and ids:
            self.queue_ids, self.csrf = ids, self._token(page) or self.csrf

    def registrations(self):
        self._open("registrations list, state filter", "/review/registrations/?state=approved")

    def staff(self):
        self._open("staff list, name filter", "/staff/list/?_flt_0_name=" + urllib.parse.quote("王"))

    def review_detail(self):
        if not self.queue_ids:
            self.queue()
        if self.queue_ids:
            self._open("declaration detail (reviewer)", f"/review/declarations/{self.rng.choice(self.queue_ids)}")

    def approve(self):
        self.queue()  # the newest items, as the reviewer sees them now
        if not self.queue_ids or not self.csrf:
            return
        pick = self.queue_ids[self.who.slot % len(self.queue_ids)]
        self._open("approve (POST)", "/review/declarations/decide",
                   {"csrf_token": self.csrf, "action": "approve", "reason": "", "ids": [str(pick)]}, expect=(302,))
        self.queue_ids = [i for i in self.queue_ids if i != pick]

    def my_list(self):
        state = self.rng.choice(("", "approved", "pending"))
        _status, page, _ = self._open("my declarations" + (", state filter" if state else ""),
                                      "/hours/" + (f"?state={state}" if state else ""))
        ids = [int(i) for i in OWN_IDS.findall(page)]
        if ids:
            self.own_ids = ids

    def my_detail(self):
        if not self.own_ids:
            self.my_list()
        if self.own_ids:
            self._open("declaration detail (owner)", f"/hours/{self.rng.choice(self.own_ids)}")

    def annual(self):
        self._open("annual completion", "/hours/annual")

    def declare(self):
        _status, page, _ = self._open("declare form", "/hours/declare")
        token = self._token(page)
        day = time.strftime("%Y-%m-%d")
        end = f"{self.year}-01-03" if not day.startswith(str(self.year)) else day
        start = f"{self.year}-01-01"
        status, _page, headers = self._open("submit declaration (POST)", "/hours/declare", {
            "csrf_token": token or "", "subject": "professional", "form_id": "1", "year": str(self.year),
            "title": f"压力测试培训班{self.rng.randrange(10**6)}", "hours": "8", "start_date": start, "end_date": end,
            "f_organiser": "省卫健委", "f_location": "济南", "action": "submit"}, expect=(302,))
        match = re.search(r"/hours/(\d+)", headers.get("Location", ""))
        if status == 302 and match:
            self.submitted.append(int(match.group(1)))

    PRO_MIX = (("home", 25), ("my_list", 15), ("my_detail", 25), ("annual", 10), ("declare", 8), ("login", 2))
    ADMIN_MIX = (("home", 20), ("queue", 22), ("queue_filtered", 10), ("registrations", 10), ("staff", 10),
                 ("review_detail", 20), ("approve", 6), ("login", 2))

    def step(self):
        if not self.logged_in:  # a login refused (a fault): try again before anything else
            self.login()
            if not self.logged_in:
                time.sleep(0.5)
            return
        mix = self.PRO_MIX if self.who.kind == "pro" else self.ADMIN_MIX
        name = self.rng.choices([m[0] for m in mix], [m[1] for m in mix])[0]
        if name == "queue_filtered":
            self.queue(filtered=True)
        else:
            getattr(self, name)()

    def work(self, deadline: float):
        while time.time() < deadline and not self.stop.is_set():
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - a client-side failure is an error of the run
                self.errors.append(f"client: {type(exc).__name__}: {exc}")
                time.sleep(0.1)


# ------------------------------------------------------------------------------------------------ the people
def personas(url: str, n: int, seed: int) -> list[Persona]:
    """Half professionals (active, of the UnitAdmin's unit: their declarations go to its queue), half admins."""
    import psycopg

    n_admins = max(len(ADMINS), n // 2)
    n_pros = max(1, n - n_admins)
    with psycopg.connect(libpq_url(url)) as conn:
        unit = conn.execute("""SELECT m.org_id FROM membership m JOIN ab_user u ON u.id = m.user_id
                               WHERE u.username = %s AND m.role = 'UnitAdmin'""",
                            (id_number_of("unit_admin"),)).fetchone()[0]
        rows = conn.execute("""SELECT u.username FROM membership m JOIN ab_user u ON u.id = m.user_id
                               WHERE m.org_id = %s AND m.role = 'Professional' AND m.state = 'active'
                               ORDER BY u.id OFFSET %s LIMIT %s""", (unit, (seed * 37) % 9000, n_pros)).fetchall()
    people = [Persona("pro", "Professional", r[0]) for r in rows]
    for i in range(n_admins):
        key, role = ADMINS[i % len(ADMINS)]
        people.append(Persona(key, role, id_number_of(key), slot=i // len(ADMINS)))
    return people


# ------------------------------------------------------------------------------------------------ the servers
def wait_http(url: str, proc: subprocess.Popen, seconds: float, log_path: str) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=3).read()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited: see {log_path}")
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {seconds:.0f} s: see {log_path}")


class RedisServer:
    """A Redis server of this run's own (a fault test stops it without touching anyone else's)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Target:
    name = ""
    base = ""
    proc: subprocess.Popen | None = None

    @property
    def pgid(self) -> int:
        return self.proc.pid  # started with start_new_session: the group of everything it runs

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError


class DevServer(Target):
    name = "dev"

    def __init__(self, url: str, secret_key: str, workdir: str):
        self.url, self.key, self.workdir = url, secret_key, workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "dev.log")
        self.proc = None

    def start(self):
        env = dict(os.environ, APP_ENV="development", DATABASE_URL=self.url, SECRET_KEY=self.key, HOST="127.0.0.1",
                   PORT=str(self.port), INSTANCE_PATH=os.path.join(self.workdir, "dev-instance"), **BENCH_ENV)
        for key in ("REDIS_URL", "PROD_RUN_DIR", "GUNICORN_BIND"):
            env.pop(key, None)
        self.proc = subprocess.Popen([str(ROOT / ".venv/bin/python"), "run.py"], cwd=str(ROOT), env=env,
                                     stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(self.base + "/healthz", self.proc, 120, self.log_path)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


class ProdSetup(Target):
    """scripts/prod.sh on the bench database: nginx -> two gunicorn nodes, worker, scheduler, this run's Redis."""
    name = "prod"

    def __init__(self, url: str, secret_key: str, workdir: str, workers: int, redis: RedisServer):
        self.url, self.key, self.workdir, self.workers, self.redis = url, secret_key, workdir, workers, redis
        self.http_port, self.node_a, self.node_b, self.mail_port = (free_port() for _ in range(4))
        while len({self.http_port, self.node_a, self.node_b, self.mail_port}) < 4:
            self.node_b, self.mail_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.nodes = [f"http://127.0.0.1:{self.node_a}", f"http://127.0.0.1:{self.node_b}"]
        self.run_dir = os.path.join(workdir, "prod")
        self.log_path = os.path.join(workdir, "prod.log")
        self.proc = None
        self.extra_env: dict[str, str] = {}

    def env(self) -> dict:
        env = dict(os.environ, DATABASE_URL=self.url, REDIS_URL=self.redis.url, SECRET_KEY=self.key,
                   INSTANCE_PATH=os.path.join(self.workdir, "prod-instance"), PROD_RUN_DIR=self.run_dir,
                   PROD_HTTP_PORT=str(self.http_port), PROD_NODE_PORTS=f"{self.node_a} {self.node_b}",
                   GUNICORN_WORKERS=str(self.workers), MAIL_PORT=str(self.mail_port), **BENCH_ENV)
        for key in ("APP_ENV", "MAIL_SERVER", "PAYMENT_SECRET", "UPLOAD_FOLDER", "LEARNING_FOLDER"):
            env.pop(key, None)
        env.update(self.extra_env)
        return env

    def start(self):
        self.proc = subprocess.Popen(["bash", str(ROOT / "scripts/prod.sh")], cwd=str(ROOT), env=self.env(),
                                     stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            if "[prod] serving on" in Path(self.log_path).read_text(errors="replace"):
                return self
            if self.proc.poll() is not None:
                raise SystemExit(f"scripts/prod.sh exited: see {self.log_path}")
            time.sleep(0.5)
        raise SystemExit(f"scripts/prod.sh did not serve in 300 s: see {self.log_path}")

    def pids(self) -> dict[str, int]:
        return {name: int(pid) for name, pid in
                (line.split() for line in Path(self.run_dir, "pids").read_text().splitlines())}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # its trap stops every child, nginx first
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------------ measuring
@dataclass
class Result:
    target: str
    seconds: float
    samples: list[Sample]
    errors: list[str]
    load_before: tuple
    load_after: tuple
    submitted: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """CPU of the target's own processes per request (PostgreSQL's and the client's not included)."""
        return 1000 * self.extra.get("cpu_s", 0.0) / len(self.samples) if self.samples else 0.0

    def quantile(self, q: float, samples=None) -> float:
        times = sorted(s.seconds for s in (self.samples if samples is None else samples))
        return times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else 0.0

    def pages(self) -> list[tuple[str, list[Sample]]]:
        by: dict[str, list[Sample]] = {}
        for s in self.samples:
            by.setdefault(s.label, []).append(s)
        return sorted(by.items(), key=lambda kv: -sum(s.seconds for s in kv[1]))

    def report(self) -> None:
        cores = os.cpu_count() or 1
        failed = sum(1 for s in self.samples if not s.ok)
        log(f"\n== {self.target}: {len(self.samples)} requests in {self.seconds:.1f} s: {self.throughput:.1f} "
            f"requests/s ({self.throughput / cores:.1f} per core, {cores} cores shared by client and server)")
        log(f"   p50 {self.quantile(0.50):.1f} ms, p95 {self.quantile(0.95):.1f} ms, p99 {self.quantile(0.99):.1f} ms, "
            f"max {self.quantile(1.0):.1f} ms; errors "
            f"{failed + len([e for e in self.errors if e.startswith('client')])}"
            + (f" (first: {self.errors[:3]})" if self.errors else ""))
        seen = self.extra.get("load_seen") or [round(self.load_before[0], 2), round(self.load_after[0], 2)]
        log(f"   load average (1-min) seen at the start and end of each turn: {seen}")
        if self.extra.get("cpu_s"):
            log(f"   CPU of the target's processes: {self.extra['cpu_s']:.1f} s, {self.cpu_ms:.1f} ms per request "
                f"(= {1000 / self.cpu_ms if self.cpu_ms else 0:.0f} requests/s per core of application CPU; "
                f"PostgreSQL not included)")
        total = sum(s.seconds for s in self.samples) or 1.0
        log(f"   {'page':<36} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'share of time':>14}")
        for label, rows in self.pages():
            log(f"   {label:<36} {len(rows):>6} {self.quantile(.5, rows):>8.1f} {self.quantile(.95, rows):>8.1f} "
                f"{self.quantile(.99, rows):>8.1f} {100 * sum(s.seconds for s in rows) / total:>13.1f}%")
        top = self.pages()[0][0] if self.samples else "-"
        log(f"   the page that limits throughput (largest total time): {top}")

    def summary(self) -> dict:
        return {"target": self.target, "requests": len(self.samples), "seconds": round(self.seconds, 1),
                "throughput": round(self.throughput, 1), "p50_ms": round(self.quantile(.5), 1),
                "p95_ms": round(self.quantile(.95), 1), "p99_ms": round(self.quantile(.99), 1),
                "errors": sum(1 for s in self.samples if not s.ok), "cpu_ms_per_request": round(self.cpu_ms, 1),
                "load_before": self.load_before,
                "load_after": self.load_after, "limiting_page": self.pages()[0][0] if self.samples else None,
                "pages": {label: {"count": len(rows), "p50_ms": round(self.quantile(.5, rows), 1),
                                  "p99_ms": round(self.quantile(.99, rows), 1),
                                  "total_s": round(sum(s.seconds for s in rows), 1)} for label, rows in self.pages()},
                **self.extra}


def cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of the live processes of a process group: the target's own processes (the dev
    server; prod.sh with nginx, both gunicorn nodes and their workers, the queue's worker and scheduler)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def log_in_all(target: Target, people: list[Persona], reader: CaptchaReader, seed: int) -> list[User]:
    year = int(time.strftime("%Y"))
    users = [User(target.base, who, reader, seed * 1000 + i, year) for i, who in enumerate(people)]
    for u in users:
        if not u.login():
            raise SystemExit(f"{target.name}: {u.who.kind} could not log in: {u.errors[-3:]}")
        u.samples.clear()
        u.errors.clear()
    return users


def run_slice(target: Target, users: list[User], seconds: float, during=None) -> Result:
    """Every user draws actions for `seconds` (users already logged in); `during(users, started)` runs in this
    thread meanwhile (the fault tests)."""
    for u in users:
        u.samples, u.errors, u.submitted = [], [], []
        u.stop.clear()
    load_before = os.getloadavg()
    cpu_before = cpu_seconds(target.pgid)
    started = time.time()
    threads = [threading.Thread(target=u.work, args=(started + seconds,), daemon=True) for u in users]
    for t in threads:
        t.start()
    if during:
        during(users, started)
        for u in users:
            u.stop.set()
    for t in threads:
        t.join()
    wall = time.time() - started
    result = Result(target.name, wall, [s for u in users for s in u.samples], [e for u in users for e in u.errors],
                    load_before, os.getloadavg(), submitted=sum(len(u.submitted) for u in users))
    result.extra["cpu_s"] = cpu_seconds(target.pgid) - cpu_before
    return result


def merge(parts: list[Result]) -> Result:
    first = parts[0]
    merged = Result(first.target, sum(p.seconds for p in parts), [s for p in parts for s in p.samples],
                    [e for p in parts for e in p.errors], first.load_before, parts[-1].load_after,
                    submitted=sum(p.submitted for p in parts))
    merged.extra["cpu_s"] = sum(p.extra.get("cpu_s", 0.0) for p in parts)
    merged.extra["load_seen"] = [round(x, 2) for p in parts for x in (p.load_before[0], p.load_after[0])]
    return merged


# ------------------------------------------------------------------------------------------------ consistency
def audit_mark(url: str) -> int:
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0]


def consistency(url: str, mark: int) -> tuple[bool, str]:
    """What the run wrote, checked against the database's own rows: every declaration with an audit row after
    `mark` (submitted, approved at a level, credited).

    * no transition doubled: at most one audit row per (declaration, state reached);
    * every decided item has its audit row: the state of each declaration is the state its last audit row reached;
    * no hour record lost or counted twice: an approved declaration has exactly one HourRecord, any other none;
    * YearSummary equals the sum of the HourRecords, for every person (and year) touched."""
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET statement_timeout = '120s'")
        touched = "SELECT DISTINCT object_id FROM audit_log WHERE id > %(m)s AND object_type = 'declaration'"
        n = conn.execute(f"SELECT count(*) FROM ({touched}) t", {"m": mark}).fetchone()[0]
        by_state = dict(conn.execute(f"""SELECT to_state, count(*) FROM audit_log WHERE id > %(m)s
                                         AND object_type = 'declaration' GROUP BY 1""", {"m": mark}).fetchall())
        doubled = conn.execute("""SELECT object_id, to_state, count(*) FROM audit_log WHERE id > %(m)s
                                  AND object_type = 'declaration' AND to_state IS NOT NULL
                                  GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5""", {"m": mark}).fetchall()
        unaudited = conn.execute(f"""
            SELECT d.id, d.state, last.to_state FROM declaration d
            JOIN LATERAL (SELECT to_state FROM audit_log a WHERE a.object_type = 'declaration'
                          AND a.object_id = d.id AND a.to_state IS NOT NULL ORDER BY a.id DESC LIMIT 1) last ON true
            WHERE d.id IN ({touched}) AND d.state <> last.to_state LIMIT 5""", {"m": mark}).fetchall()
        records = conn.execute(f"""
            SELECT d.id, d.state, count(r.id) FROM declaration d
            LEFT JOIN hour_record r ON r.source = 'declaration' AND r.source_id = d.id
            WHERE d.id IN ({touched}) GROUP BY d.id, d.state
            HAVING count(r.id) <> CASE WHEN d.state = 'approved' THEN 1 ELSE 0 END LIMIT 5""", {"m": mark}).fetchall()
        persons = f"SELECT DISTINCT person_id FROM declaration WHERE id IN ({touched})"
        summaries = conn.execute(f"""
            WITH sums AS (SELECT person_id, year,
                                 sum(hours) FILTER (WHERE subject = 'public') AS pub,
                                 sum(hours) FILTER (WHERE subject = 'professional') AS pro
                          FROM hour_record WHERE person_id IN ({persons}) GROUP BY 1, 2),
                 kept AS (SELECT person_id, year, public_hours, professional_hours FROM year_summary
                          WHERE person_id IN ({persons}))
            SELECT coalesce(s.person_id, k.person_id), coalesce(s.year, k.year), s.pub, s.pro, k.public_hours,
                   k.professional_hours
            FROM sums s FULL JOIN kept k ON k.person_id = s.person_id AND k.year = s.year
            WHERE coalesce(s.pub, 0) <> coalesce(k.public_hours, 0)
               OR coalesce(s.pro, 0) <> coalesce(k.professional_hours, 0) LIMIT 5""", {"m": mark}).fetchall()
        n_persons = conn.execute(f"SELECT count(*) FROM ({persons}) p", {"m": mark}).fetchone()[0]
    problems = []
    if doubled:
        problems.append(f"transitions audited twice: {doubled}")
    if unaudited:
        problems.append(f"state without its audit row: {unaudited}")
    if records:
        problems.append(f"hour records lost or doubled (id, state, records): {records}")
    if summaries:
        problems.append(f"YearSummary differs from the HourRecords: {summaries}")
    states = ", ".join(f"{k or '-'} {v}" for k, v in sorted(by_state.items(), key=lambda kv: str(kv[0])))
    text = (f"{n} declarations touched ({states}), {n_persons} persons: "
            + ("consistent (no transition doubled, every state audited, one HourRecord per approved declaration, "
               "YearSummary = sum of HourRecords)" if not problems else "INCONSISTENT: " + "; ".join(problems)))
    return not problems, text


# ------------------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300, help="measured seconds per target")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the targets take turns, seconds/rounds each time (both stay up): a change in the "
                             "machine's other load falls on both")
    parser.add_argument("--users", type=int, default=8, help="simulated people (the bound on concurrency)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per node (two nodes)")
    parser.add_argument("--only", choices=("dev", "prod"), help="measure one target only")
    parser.add_argument("--seed", type=int, default=None,
                        help="which professionals and draws (default: new ones each run, so that no one's list of "
                             "declarations keeps growing over runs)")
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1, 10**6)
    if bench_state(args.db_url) is None:
        raise SystemExit("no bench database: run bench/generate.py first")
    for tool in ("redis-server", "nginx"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is not installed: run scripts/setup.sh")

    workdir = tempfile.mkdtemp(prefix="jxjy-prod-load-")
    os.chmod(workdir, 0o755)  # nginx's workers (another user when started as root) keep request bodies under it
    key = secrets.token_urlsafe(48)
    reader = CaptchaReader(args.db_url, key)
    people = personas(args.db_url, args.users, args.seed)
    log(f"bench database {args.db_url.rsplit('/', 1)[-1]}; {len(people)} simulated people "
        f"({sum(p.kind == 'pro' for p in people)} professionals, {sum(p.kind != 'pro' for p in people)} admins); "
        f"{args.seconds:.0f} s per target in {args.rounds} turns; seed {args.seed}; logs in {workdir}")
    names = [n for n in ("dev", "prod") if not args.only or args.only == n]
    redis = RedisServer().start()
    targets: dict[str, Target] = {}
    parts: dict[str, list[Result]] = {n: [] for n in names}
    mark = audit_mark(args.db_url)
    try:
        for name in names:
            targets[name] = (DevServer(args.db_url, key, workdir) if name == "dev"
                             else ProdSetup(args.db_url, key, workdir, args.workers, redis))
            log(f"[{name}] starting {'python run.py (werkzeug, one process)' if name == 'dev' else 'scripts/prod.sh'}"
                f" ...")
            targets[name].start()
        users = {name: log_in_all(targets[name], people, reader, args.seed) for name in names}
        for turn in range(args.rounds):
            for name in names:
                part = run_slice(targets[name], users[name], args.seconds / args.rounds)
                parts[name].append(part)
                log(f"[{name}] turn {turn + 1}/{args.rounds}: {part.throughput:.1f} requests/s, p99 "
                    f"{part.quantile(.99):.0f} ms, errors {sum(1 for x in part.samples if not x.ok)}, load average "
                    f"{part.load_before[0]:.2f} -> {part.load_after[0]:.2f}")
    finally:
        for target in targets.values():
            target.stop()
        redis.stop()

    results = {name: merge(parts[name]) for name in names if parts[name]}
    for result in results.values():
        result.report()
    if "dev" in results and "prod" in results:
        dev, prod = results["dev"], results["prod"]
        ratio = prod.throughput / dev.throughput if dev.throughput else float("inf")
        errors = sum(1 for x in prod.samples if not x.ok)
        log(f"\nprod/dev throughput: {ratio:.2f}x ({prod.throughput:.1f} vs {dev.throughput:.1f} requests/s); "
            f"application CPU per request: prod {prod.cpu_ms:.1f} ms, dev {dev.cpu_ms:.1f} ms")
        log(f"goals: >= 3x dev: {'met' if ratio >= 3 else 'NOT met'}; p99 < 500 ms: "
            f"{'met' if prod.quantile(.99) < 500 else 'NOT met'} ({prod.quantile(.99):.0f} ms); 0 errors: "
            f"{'met' if errors == 0 else 'NOT met'} ({errors})")
    ok, text = consistency(args.db_url, mark)
    log(f"consistency of what the run wrote: {text}")
    if args.json:
        Path(args.json).write_text(json.dumps({**{k: r.summary() for k, r in results.items()},
                                               "consistent": ok}, indent=2, ensure_ascii=False))
    bad = not ok or any(not x.ok for r in results.values() for x in r.samples)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
