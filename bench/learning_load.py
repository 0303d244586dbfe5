"""Load run of the learning player's heartbeats (issue 11): N simulated learners (200 by default), each logged in
through the real login form, open their player page and send the player's heartbeats (POST /learning/beat, JSON,
X-CSRFToken, every --interval seconds, position = where a video playing at 1x would be) for --seconds seconds,
against the platform served by gunicorn with several workers on PostgreSQL. The client is a second process on
loopback (one thread per learner, urllib with its own cookie jar).

    python bench/learning_load.py [--learners 200] [--seconds 60] [--interval 5] [--workers 5]

Database: the learning bench's `jxjy_bench_learning` (1,000,000 persons, 2,000 classes, 5,000,000 progress rows;
made by bench/heartbeat.py on its first run). The learners are persons whose lesson in progress is half watched.

Printed: requests, throughput (requests/s), p50 / p95 / p99 of the beats' response times, errors (0 expected), and
the check afterwards that no learner was credited more time than elapsed: for each learner, the growth of
`watched` on the lesson must not exceed the wall-clock time between its first and last beats plus the engine's
tolerance (2 s): the learners are picked among those whose last beat is older than the engine's MAX_GAP, so their
first beat starts a new sitting and credits nothing. --cheaters of them report positions at triple speed.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import CAPTCHA, PASSWORD, libpq_url  # noqa: E402

URL = os.environ.get("LEARNING_BENCH_DATABASE_URL",
                     "postgresql+psycopg://postgres@127.0.0.1:5432/jxjy_bench_learning")
TOLERANCE = 2.0  # seconds: app/workflows/learning.py TOLERANCE
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
PLAYER_TOKEN = re.compile(r'data-csrf="([^"]+)"')


def log(msg: str) -> None:
    print(msg, flush=True)


def pick_learners(n: int, seed: int = 1) -> list[dict]:
    """Active professionals with a lesson half watched and not complete, one lesson each, spread over the ids, whose
    last beat is older than the engine's MAX_GAP (their first beat of the run starts a new sitting)."""
    import psycopg

    with psycopg.connect(libpq_url(URL)) as conn:
        rows = conn.execute("""
            SELECT u.username, e.id, lp.lesson_id, lp.watched, l.duration
            FROM lesson_progress lp JOIN enrolment e ON e.id = lp.enrolment_id
            JOIN person p ON p.id = e.person_id JOIN ab_user u ON u.id = p.user_id
            JOIN lesson l ON l.id = lp.lesson_id
            WHERE lp.beat_at < localtimestamp - interval '2 minutes' AND EXISTS (SELECT 1 FROM membership m WHERE m.user_id = u.id AND m.role = 'Professional'
                          AND m.state = 'active') AND lp.completed_at IS NULL AND lp.watched > 0 AND lp.watched < l.duration - 120
              AND e.state = 'studying' AND e.id %% 97 = %s
            ORDER BY e.id LIMIT %s""", (seed % 97, n)).fetchall()
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} learners with a lesson in progress; run bench/heartbeat.py --fresh")
    return [dict(username=r[0], enrolment_id=r[1], lesson_id=r[2], watched=float(r[3]), duration=float(r[4]))
            for r in rows]


def watched_now(learners: list[dict]) -> dict[tuple[int, int], float]:
    import psycopg

    keys = [(x["enrolment_id"], x["lesson_id"]) for x in learners]
    with psycopg.connect(libpq_url(URL)) as conn:
        rows = conn.execute("SELECT enrolment_id, lesson_id, watched FROM lesson_progress "
                            "WHERE enrolment_id = ANY(%s)", ([k[0] for k in keys],)).fetchall()
    wanted = set(keys)
    return {(r[0], r[1]): float(r[2]) for r in rows if (r[0], r[1]) in wanted}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int) -> subprocess.Popen:
    env = dict(os.environ, BENCH_DATABASE_URL=URL, GUNICORN_BIND=f"127.0.0.1:{port}",
               GUNICORN_WORKERS=str(workers), PYTHONPATH=f"{ROOT}:{HERE}")
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
                             "wsgi_bench:app"], cwd=str(HERE), env=env, stdout=subprocess.DEVNULL,
                            stderr=open("/tmp/learning_load_gunicorn.log", "w"), start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("gunicorn did not start: see /tmp/learning_load_gunicorn.log")
            time.sleep(0.3)
    raise SystemExit("gunicorn did not answer in 60 s")


class Learner(threading.Thread):
    # logins hash the password on purpose (slow): a few at a time, all before the measured beating starts
    logins = threading.BoundedSemaphore(4)

    def __init__(self, base: str, who: dict, seconds: float, interval: float, ready: threading.Barrier,
                 rate: float = 1.0):
        super().__init__(daemon=True)
        self.base, self.who, self.seconds, self.interval, self.ready = base, who, seconds, interval, ready
        self.rate = rate  # 1: an honest player; 3: a player at triple speed (or a forged position)
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.times: list[float] = []
        self.errors: list[str] = []
        self.first_beat = self.last_beat = None
        self.csrf = None
        self.snapped = 0

    def _open(self, path: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def login(self) -> None:
        _status, page = self._open("/login/")
        match = TOKEN.search(page)
        self._open("/captcha.png")
        form = urllib.parse.urlencode({"csrf_token": match.group(1) or match.group(2), "role": "Professional",
                                       "id_number": self.who["username"], "password": PASSWORD,
                                       "captcha": CAPTCHA}).encode()
        status, page = self._open("/login/", form, {"Content-Type": "application/x-www-form-urlencoded"})
        status, page = self._open(f"/learning/study/{self.who['enrolment_id']}/{self.who['lesson_id']}")
        match = PLAYER_TOKEN.search(page)
        if status != 200 or not match:
            title = re.search(r"<title>(.*?)</title>", page, re.S)
            raise RuntimeError(f"{self.who['username']}: the player page did not open ({status}, "
                               f"{title.group(1).strip() if title else page[:200]})")
        self.csrf = match.group(1)

    def beat(self, position: float) -> None:
        body = json.dumps({"enrolment_id": self.who["enrolment_id"], "lesson_id": self.who["lesson_id"],
                           "position": round(position, 1)}).encode()
        sent = time.time()
        started = time.perf_counter()
        status, text = self._open("/learning/beat", body, {"Content-Type": "application/json",
                                                            "X-CSRFToken": self.csrf,
                                                            "X-Requested-With": "XMLHttpRequest"})
        self.times.append(time.perf_counter() - started)
        if status != 200:
            self.errors.append(f"{status} {text[:200]}")
            return
        answer = json.loads(text)
        if self.rate > 1 and answer.get("snap_to") is not None:  # the player snaps back, as player.js does
            self.snapped += 1
        self.csrf = answer.get("csrf") or self.csrf
        # the server judged this beat between `sent` and now: the bound on its credit spans from the first beat's
        # sending to the last beat's answer
        self.first_beat = self.first_beat or sent
        self.last_beat = time.time()

    def run(self) -> None:
        try:
            with self.logins:
                self.login()
        except Exception as exc:  # noqa: BLE001 - reported as an error of the run
            self.errors.append(f"login: {exc}")
            self.ready.wait()
            return
        self.ready.wait()  # every learner logged in and on the player page: the measured beating starts
        begin = time.time()  # the video starts playing; the player's first beat comes later
        # learners do not beat in lockstep: each one beats at its own phase of the interval, as players opened at
        # different moments do
        phase = (self.who["enrolment_id"] % 97) / 97 * self.interval
        time.sleep(phase)
        while time.time() - begin < self.seconds:
            self.beat(self.who["watched"] + (time.time() - begin) * self.rate)
            time.sleep(max(0.0, self.interval - (time.time() - begin - phase) % self.interval))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=5, help="seconds between two beats of a learner")
    parser.add_argument("--workers", type=int, default=5, help="gunicorn workers")
    parser.add_argument("--seed", type=int, default=1, help="which learners (another seed: others)")
    parser.add_argument("--cheaters", type=int, default=10,
                        help="how many of the learners report positions at triple speed (their credit must still "
                             "not exceed the time elapsed)")
    args = parser.parse_args(argv)

    learners = pick_learners(args.learners, args.seed)
    before = watched_now(learners)
    port = free_port()
    log(f"gunicorn with {args.workers} workers on 127.0.0.1:{port}, database {URL.rsplit('/', 1)[-1]}")
    server = start_server(port, args.workers)
    try:
        started = []
        ready = threading.Barrier(len(learners) + 1, action=lambda: started.append(time.time()))
        threads = [Learner(f"http://127.0.0.1:{port}", who, args.seconds, args.interval, ready,
                           rate=3.0 if i < args.cheaters else 1.0) for i, who in enumerate(learners)]
        t0 = time.time()
        for thread in threads:
            thread.start()
        ready.wait()
        log(f"{len(threads)} learners logged in and on their player pages in {started[0] - t0:.1f} s")
        for thread in threads:
            thread.join()
        wall = time.time() - started[0]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    after = watched_now(learners)

    times = sorted(t for th in threads for t in th.times)
    errors = [e for th in threads for e in th.errors]
    over = []
    for th in threads:
        key = (th.who["enrolment_id"], th.who["lesson_id"])
        gained = after.get(key, 0.0) - before.get(key, 0.0)
        elapsed = (th.last_beat - th.first_beat) if th.first_beat else 0.0
        if gained > elapsed + TOLERANCE + 1e-6:
            over.append((th.who["username"], round(gained, 1), round(elapsed, 1)))
    quantile = (lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000) if times else (lambda q: 0.0)
    log(f"learners {len(threads)}, beats {len(times)} in {wall:.1f} s of beating: {len(times) / wall:.1f} requests/s "
        f"({len(times) / wall / (os.cpu_count() or 1):.1f} per core, client and server on the same "
        f"{os.cpu_count()} cores)")
    if times:
        log(f"response time p50 {quantile(0.50):.1f} ms, p95 {quantile(0.95):.1f} ms, p99 {quantile(0.99):.1f} ms, "
            f"max {times[-1] * 1000:.1f} ms, mean {statistics.mean(times) * 1000:.1f} ms")
    log(f"errors {len(errors)}" + (f": {errors[:5]}" if errors else ""))
    gained_total = sum(after.get(k, 0.0) - before.get(k, 0.0) for k in before)
    log(f"credited {gained_total:.0f} s of video in total; learners credited more than elapsed: {len(over)}"
        + (f" {over[:5]}" if over else ""))
    cheaters = [th for th in threads if th.rate > 1]
    if cheaters:
        log(f"triple-speed learners: {len(cheaters)}, their beats snapped back: "
            f"{sum(th.snapped for th in cheaters)} of {sum(len(th.times) for th in cheaters)}")
    return 1 if errors or over else 0


if __name__ == "__main__":
    import urllib.parse  # noqa: F401  (urllib.parse.urlencode above)

    sys.exit(main())
