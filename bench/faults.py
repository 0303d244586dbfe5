"""Faults during the load (issue 13): the production setup (scripts/prod.sh: nginx, two gunicorn nodes, the task
queue's worker and scheduler, a Redis server of this run's own) on the bench database jxjy_bench, under the mix of
bench/prod_load.py, while one thing after another breaks:

    python bench/faults.py [--only kill-worker,rq-import,pg-restart,redis-stop] [--users 8] [--workers 2]

1. kill-worker: `kill -9` of one gunicorn worker of the first node. Its master starts a new one; a request it was
   serving fails (nginx retries a GET on the other node, never a POST).
2. rq-import: the UnitAdmin imports a file of --import-rows new professionals (the queue checks and writes it);
   the queue's worker is killed (`kill -9`) while it writes. The import's page must then say that the worker stopped
   (the batch is "interrupted", nothing written: the write is one transaction); the worker is started again by
   prod.sh, and a retry (the same file uploaded again) writes every row exactly once. (The persons stay in the bench
   database, at the UnitAdmin's unit: a later run finds them and writes none again.)
3. pg-restart: `pg_ctlcluster <version> main restart` (PostgreSQL of the whole machine). Requests in flight fail
   cleanly (an error page, no hang); the app reconnects by itself (SQLAlchemy's pool_pre_ping, app/__init__.py):
   the same gunicorn workers serve again a few seconds later.
4. redis-stop: this run's Redis stops for --redis-seconds (30). Pages keep being served; a login is refused with
   the platform's Chinese message (503), never let through without its rate limit; when Redis is back, logins work.
   (deploy/nginx.conf does not count a 503 as a failed node: when it did, these refusals took both nodes out of
   the upstream for 10 s at a time and every page answered 502.)

After each fault the load stops for a moment and the consistency check of bench/prod_load.py runs on everything the
run wrote so far: no transition audited twice, every state with its audit row, one HourRecord per approved
declaration (none lost, none doubled), YearSummary equal to the sum of the HourRecords of every person touched.
Each fault prints its outcome; the exit status is 1 when an outcome or a check failed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import prod_load as pl  # noqa: E402
from common import bench_state, id_number_of, libpq_url  # noqa: E402
from learning_load import log  # noqa: E402


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return sorted(out)


def zh(msgid: str) -> str:
    """The Chinese text of a msgid, from the shipped translations."""
    from babel.messages.pofile import read_po

    with open(ROOT / "translations/zh/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    message = catalog.get(msgid)
    if message is None or not message.string:
        raise SystemExit(f"no Chinese translation for {msgid!r}")
    return message.string


def errors_between(users, t0: float, t1: float) -> list[pl.Sample]:
    return [s for u in users for s in u.samples if t0 <= s.started < t1 and not s.ok]


def requests_between(users, t0: float, t1: float) -> list[pl.Sample]:
    return [s for u in users for s in u.samples if t0 <= s.started < t1]


def statuses(samples) -> str:
    counts: dict[str, int] = {}
    for s in samples:
        key = str(s.status or "no answer")
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())) or "none"


class Faults:
    def __init__(self, args, prod: pl.ProdSetup, redis: pl.RedisServer, reader: pl.CaptchaReader, workdir: str):
        self.args, self.prod, self.redis, self.reader, self.workdir = args, prod, redis, reader, workdir
        self.outcomes: list[tuple[str, bool, str]] = []

    def outcome(self, name: str, ok: bool, text: str) -> None:
        self.outcomes.append((name, ok, text))
        log(f"[{name}] {'OK' if ok else 'FAILED'}: {text}")

    def node_master(self) -> tuple[str, int]:
        pids = self.prod.pids()
        name = next(n for n in pids if n.startswith("node-"))
        return name, pids[name]

    def wait_quiet(self, users, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            time.sleep(0.2)

    # ------------------------------------------------------------------------------------ 1. a gunicorn worker
    def kill_worker(self, users, started):
        self.wait_quiet(users, 10)
        name, master = self.node_master()
        before = children(master)
        victim = before[0]
        t0 = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        respawned = None
        while time.perf_counter() - t0 < 30:
            now = children(master)
            if len(now) >= len(before) and victim not in now:
                respawned = time.perf_counter() - t0
                break
            time.sleep(0.1)
        self.wait_quiet(users, 15)
        t1 = time.perf_counter()
        failed = errors_between(users, t0 - 1, t0 + 5)
        late = errors_between(users, t0 + 5, t1)
        ok = respawned is not None and not late
        self.outcome("kill-worker", ok,
                     f"kill -9 of worker {victim} of {name} (master {master}): "
                     + (f"its master started a new worker in {respawned:.1f} s ({len(children(master))} workers)"
                        if respawned is not None else "NO new worker within 30 s")
                     + f"; requests failed around the kill: {len(failed)} ({statuses(failed)}) of "
                       f"{len(requests_between(users, t0 - 1, t0 + 5))}; afterwards {len(late)} errors in "
                       f"{len(requests_between(users, t0 + 5, t1))} requests")

    # ------------------------------------------------------------------------------------ 2. the RQ worker
    def import_file(self) -> tuple[str, list[str]]:
        """A template filled with --import-rows new people (证件号 no other bench makes: sequence numbers 800-899,
        born from 1962), the same file on every run."""
        import openpyxl

        sys.path.insert(0, str(ROOT))
        from app.demo import make_id_number
        from app.workflows import staff_import as flow

        path = os.path.join(self.workdir, "faults-import.xlsx")
        wb = openpyxl.Workbook()
        sheet = wb.active
        sheet.append([f"{c.header}{'*' if c.required else ''}" for c in flow.COLUMNS])
        keys = [c.key for c in flow.COLUMNS]
        ids = []
        for i in range(self.args.import_rows):
            born = datetime.date(1962, 1, 1) + datetime.timedelta(days=i // 100)
            number = make_id_number("370124", born, 800 + i % 100)
            ids.append(number)
            values = {"name": f"故障{chr(0x4e00 + i % 20000)}{chr(0x4e00 + i // 20000)}", "id_number": number,
                      "ethnicity": "汉族", "mobile": f"137{i:08d}", "education": "大学本科", "degree": "学士",
                      "department": "第二科室", "graduation_date": "2006-07-01", "title_series": "卫生技术",
                      "title_level": "中级", "title_name": "主治医师", "title_date": "2016-12-31"}
            sheet.append([values.get(k) for k in keys])
        wb.save(path)
        return path, ids

    def _multipart(self, fields: dict, file_field: str, path: str) -> tuple[bytes, str]:
        boundary = secrets.token_hex(16)
        parts = []
        for k, v in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                     f'filename="{os.path.basename(path)}"\r\nContent-Type: application/vnd.openxmlformats-'
                     f'officedocument.spreadsheetml.sheet\r\n\r\n'.encode() + Path(path).read_bytes() + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return b"".join(parts), f"multipart/form-data; boundary={boundary}"

    def upload(self, admin: pl.User, path: str) -> int:
        _status, page, _ = admin._open("import page", "/import/")
        token = admin._token(page)
        body, ctype = self._multipart({"csrf_token": token, "mode": "valid"}, "file", path)
        request = urllib.request.Request(admin.base + "/import/upload", data=body, headers={"Content-Type": ctype})
        try:
            with admin.opener.open(request, timeout=120) as response:
                answer = (response.status, "", response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            answer = (exc.code, exc.headers.get("Location", ""), exc.read().decode("utf-8", "replace"))
        match = re.search(r"/import/batch/(\d+)", answer[1])
        if not match:
            if answer[1]:  # sent back to the import page: the refusal is flashed there
                answer = (answer[0], answer[1], admin._open("import page", "/import/")[1])
            alert = re.findall(r'class="alert[^"]*"[^>]*>(.*?)</div>', answer[2], re.S)
            alerts = [re.sub(r"<[^>]+>|\s+", " ", a).strip() for a in alert][:3]
            raise SystemExit(f"upload refused: {answer[0]} {answer[1]} {alerts}")
        return int(match.group(1))

    def status(self, admin: pl.User, batch: int) -> dict:
        status, text, _ = admin._open("import status", f"/import/batch/{batch}/status")
        return json.loads(text) if status == 200 else {"state": f"http {status}"}

    def wait_state(self, admin, batch, states, seconds=300, want=None) -> dict:
        end = time.time() + seconds
        while time.time() < end:
            st = self.status(admin, batch)
            if st.get("state") in states or (want and want(st)):
                return st
            time.sleep(0.5)
        raise SystemExit(f"batch {batch} did not reach {states} in {seconds} s: {st}")

    def confirm(self, admin: pl.User, batch: int) -> None:
        _status, page, _ = admin._open("import batch page", f"/import/batch/{batch}")
        admin._open("import confirm", f"/import/batch/{batch}/confirm",
                    {"csrf_token": admin._token(page) or "", "mode": "valid"}, expect=(302,))

    def rq_import(self, users, started):
        import psycopg

        path, ids = self.import_file()
        admin = pl.User(self.prod.base, pl.Persona("unit_admin", "UnitAdmin", id_number_of("unit_admin")),
                        self.reader, 99, int(time.strftime("%Y")))
        assert admin.login(), admin.errors
        with psycopg.connect(libpq_url(self.args.db_url)) as conn:
            existing = conn.execute("SELECT count(*) FROM person WHERE id_number = ANY(%s)", (ids,)).fetchone()[0]
        batch = self.upload(admin, path)
        self.wait_state(admin, batch, {"checked"})
        self.confirm(admin, batch)
        # the write has started in the worker: kill it
        self.wait_state(admin, batch, {"done", "refused", "interrupted"}, 120,
                        want=lambda st: st.get("queue") == "started")
        worker_pid = int(Path(self.prod.run_dir, "worker.pid").read_text())
        t0 = time.time()
        os.kill(worker_pid, signal.SIGKILL)
        killed_state = self.status(admin, batch)
        message = zh("The background worker stopped before the end. Nothing was imported: upload the file again.")
        said, page = None, ""
        while time.time() - t0 < 240:
            _status, page, _ = admin._open("import batch page", f"/import/batch/{batch}")
            if message in page:
                said = time.time() - t0
                break
            time.sleep(2)
        state_after = self.status(admin, batch).get("state")
        with psycopg.connect(libpq_url(self.args.db_url)) as conn:
            after_kill = conn.execute("SELECT count(*) FROM person WHERE id_number = ANY(%s)", (ids,)).fetchone()[0]
        new_worker = int(Path(self.prod.run_dir, "worker.pid").read_text())
        # the retry: the same file again, to the end
        retry = self.upload(admin, path)
        self.wait_state(admin, retry, {"checked", "refused", "interrupted"})
        self.confirm(admin, retry)
        final = self.wait_state(admin, retry, {"done", "refused", "interrupted"}, 600)
        with psycopg.connect(libpq_url(self.args.db_url)) as conn:
            persons, distinct = conn.execute("SELECT count(*), count(DISTINCT id_number) FROM person "
                                             "WHERE id_number = ANY(%s)", (ids,)).fetchone()
            accounts = conn.execute("SELECT count(*) FROM ab_user WHERE username = ANY(%s)", (ids,)).fetchone()[0]
            memberships = conn.execute("""SELECT count(*) FROM membership m JOIN ab_user u ON u.id = m.user_id
                                          WHERE u.username = ANY(%s) AND m.role = 'Professional'""",
                                       (ids,)).fetchone()[0]
            created = conn.execute("SELECT created_rows, existing_rows FROM import_batch WHERE id = %s",
                                   (retry,)).fetchone()
        n = len(ids)
        ok = (said is not None and state_after == "interrupted" and after_kill == existing
              and final.get("state") == "done" and persons == distinct == accounts == memberships == n)
        self.outcome("rq-import", ok,
                     f"batch {batch} ({n} rows) state {killed_state.get('state')!r} / queue "
                     f"{killed_state.get('queue')!r} when worker {worker_pid} was killed; the page said "
                     f"「{message}」 " + (f"{said:.0f} s later" if said is not None else "NEVER (240 s)")
                     + f", batch state {state_after!r}; persons written by the killed import: {after_kill - existing}; "
                       f"worker started again as {new_worker}; the retry (batch {retry}) ended {final.get('state')!r}: "
                       f"created {created[0]}, already there {created[1]}; now {persons} persons / {distinct} distinct "
                       f"证件号 / {accounts} accounts / {memberships} memberships for the {n} rows")

    # ------------------------------------------------------------------------------------ 3. PostgreSQL
    def pg_restart(self, users, started):
        self.wait_quiet(users, 10)
        name, master = self.node_master()
        workers_before = {m: children(pid) for m, pid in self.prod.pids().items() if m.startswith("node-")}
        version = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(x) for x in v.split(".")])[-1]
        t0 = time.perf_counter()
        done = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                              capture_output=True, text=True, timeout=120)
        restarted = time.perf_counter() - t0
        self.wait_quiet(users, 20)
        t1 = time.perf_counter()
        failed = errors_between(users, t0 - 1, t1)
        after_ok = [s for u in users for s in u.samples if s.started >= t0 + restarted and s.ok]
        first_ok = min((s.started + s.seconds for s in after_ok), default=None)
        last_error = max((s.started + s.seconds for s in failed), default=None)
        late = errors_between(users, t1 - 10, t1)
        slowest = max((s.seconds for s in failed), default=0.0)
        workers_after = {m: children(pid) for m, pid in self.prod.pids().items() if m.startswith("node-")}
        ok = done.returncode == 0 and not late and workers_after == workers_before and slowest < 35
        self.outcome("pg-restart", ok,
                     f"pg_ctlcluster {version} main restart took {restarted:.1f} s "
                     f"(exit {done.returncode}); requests failed: {len(failed)} ({statuses(failed)}), the slowest "
                     f"failure answered in {slowest * 1000:.0f} ms, the last one "
                     + (f"{last_error - t0:.1f} s after the restart began" if last_error else "-")
                     + "; first success after the restart "
                     + (f"{first_ok - t0:.1f} s after it began" if first_ok else "NEVER")
                     + f"; errors in the last 10 s: {len(late)}; gunicorn workers "
                     + ("unchanged (no restart of the app)" if workers_after == workers_before else
                        f"CHANGED {workers_before} -> {workers_after}")
                     + "; the pool checks each connection before use (pool_pre_ping=True, app/__init__.py)")

    # ------------------------------------------------------------------------------------ 4. Redis
    def try_login(self) -> tuple[int, str]:
        probe = pl.User(self.prod.base, pl.Persona("city_admin", "HRAdmin", id_number_of("city_admin")), self.reader,
                        7, int(time.strftime("%Y")))
        _s, page, _ = probe._open("login page", "/login/")
        token = probe._token(page)
        probe._open("captcha", "/captcha.png", expect=(200, 503))
        try:
            answer = self.reader.solve(probe.jar)
        except (KeyError, StopIteration):  # no picture was made (its route is rate-limited too): a guess
            answer = "XXXX"
        status, page, headers = probe._open("login POST", "/login/", {
            "csrf_token": token or "", "role": "HRAdmin", "id_number": probe.who.username,
            "password": pl.PASSWORD, "captcha": answer}, expect=(200, 302, 503))
        return status, page

    def redis_stop(self, users, started):
        self.wait_quiet(users, 10)
        message = zh("This form cannot be accepted right now: the service that counts attempts (against password "
                     "guessing) cannot be reached. Nothing was done. Please try again in a few minutes.")
        t0 = time.perf_counter()
        self.redis.stop()
        time.sleep(2)
        status_down, page_down = self.try_login()
        time.sleep(max(0.0, self.args.redis_seconds - (time.perf_counter() - t0)))
        t1 = time.perf_counter()
        self.redis.start()
        time.sleep(3)
        status_up, _ = self.try_login()
        self.wait_quiet(users, 10)
        during = requests_between(users, t0, t1)
        reads = [s for s in during if "POST" not in s.label and s.label not in ("login page", "captcha")]
        read_errors = [s for s in reads if not s.ok]
        refused = [s for s in during if s.label in ("login POST", "captcha") and s.status == 503]
        writes_failed = [s for s in during if "POST" in s.label and s.label != "login POST" and not s.ok]
        late = errors_between(users, t1 + 5, time.perf_counter())
        ok = (status_down == 503 and message in page_down and not read_errors and status_up == 302
              and not late)
        self.outcome("redis-stop", ok,
                     f"Redis stopped for {t1 - t0:.0f} s: {len(reads)} page reads served, {len(read_errors)} failed "
                     f"({statuses(read_errors)}); a login while it was down: {status_down}"
                     + (" with 「" + message + "」" if message in page_down else " WITHOUT the message")
                     + f"; login POSTs and captcha pictures of the load refused the same way (503): {len(refused)}; "
                       f"other POSTs failed: "
                       f"{len(writes_failed)} ({statuses(writes_failed)}); a login after it came back: {status_up}; "
                       f"errors from 5 s after: {len(late)}")


FAULTS = ("kill-worker", "rq-import", "pg-restart", "redis-stop")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(FAULTS), help="comma-separated faults, in this order")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per node")
    parser.add_argument("--import-rows", type=int, default=3000)
    parser.add_argument("--redis-seconds", type=float, default=30)
    parser.add_argument("--stale-seconds", type=int, default=20,
                        help="TASK_STALE_SECONDS of the run: a job silent this long has lost its worker")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--db-url", default=pl.DB_URL)
    args = parser.parse_args(argv)
    chosen = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = set(chosen) - set(FAULTS)
    if unknown:
        raise SystemExit(f"unknown faults: {sorted(unknown)} (known: {', '.join(FAULTS)})")
    if bench_state(args.db_url) is None:
        raise SystemExit("no bench database: run bench/generate.py first")

    workdir = tempfile.mkdtemp(prefix="jxjy-faults-")
    os.chmod(workdir, 0o755)  # nginx's workers (another user when started as root) keep request bodies under it
    key = secrets.token_urlsafe(48)
    reader = pl.CaptchaReader(args.db_url, key)
    redis = pl.RedisServer().start()
    prod = pl.ProdSetup(args.db_url, key, workdir, args.workers, redis)
    prod.extra_env = {"TASK_STALE_SECONDS": str(args.stale_seconds), "IMPORT_BACKGROUND_ROWS": "1000"}
    faults = Faults(args, prod, redis, reader, workdir)
    log(f"faults {', '.join(chosen)} under load ({args.users} simulated people) against scripts/prod.sh "
        f"({args.workers} workers per node) on {args.db_url.rsplit('/', 1)[-1]}; logs in {workdir}")
    mark = pl.audit_mark(args.db_url)
    checks_ok = True
    try:
        prod.start()
        users = pl.log_in_all(prod, pl.personas(args.db_url, args.users, args.seed), reader, args.seed)
        for name in chosen:
            log(f"\n[{name}] load running; load average {os.getloadavg()[0]:.2f}")
            result = pl.run_slice(prod, users, 3600, during=getattr(faults, name.replace("-", "_")))
            failed = [s for s in result.samples if not s.ok]
            log(f"[{name}] the load during this fault: {len(result.samples)} requests in {result.seconds:.0f} s, "
                f"{len(failed)} failed ({statuses(failed)}); load average {result.load_after[0]:.2f}")
            ok, text = pl.consistency(args.db_url, mark)
            checks_ok &= ok
            log(f"[{name}] consistency check: {text}")
    finally:
        prod.stop()
        redis.stop()
    log("\nsummary:")
    for name, ok, _text in faults.outcomes:
        log(f"  {name}: {'OK' if ok else 'FAILED'}")
    log(f"  consistency after every fault: {'OK' if checks_ok else 'FAILED'}")
    return 0 if checks_ok and all(ok for _n, ok, _t in faults.outcomes) and len(faults.outcomes) == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
