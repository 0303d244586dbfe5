"""The REST API on the bench database (issue 12, Speed): a review queue's first page and an item's details
(server time, median of --reps after a warm-up), and batch approvals of 100 items, through bearer tokens.

    python bench/api.py                  # on a scratch copy of the bench database, dropped at the end (~2 min)
    python bench/api.py --in-place --no-batch   # the reads only, on the bench database itself
    python bench/api.py --profile        # also cProfile each batch (top functions by cumulative time)

The batches change the database they run on (items approved, audit and notification rows written), so by default the
script makes a scratch copy (`CREATE DATABASE <name>_run TEMPLATE <name>`), prepares it and drops it at the end,
whatever happens. Preparing the copy adds what the generator does not make: three evidence files for every
declaration under review (rows in `attachment`; the details list them) and 2 x --items pending title changes at the
unit admin's unit (opened through the title change machine, so their reviewers are notified and wait rows exist).

Each batch kind is measured twice on different items of the same queue:
* batch: POST /api/v1/review/<queue>/batch with --items ids (one transaction, a savepoint per item);
* baseline: the same number of items decided one by one, each in a transaction of its own (`machine.decide`), the
  way the batch worked before.
E-mails are handed to the task queue after the commit (a private RQ queue on the local Redis, emptied at the end), as
in production where a worker delivers them; without Redis they would be delivered inside the request (--inline-mail
measures that too).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from common import DB_URL, PASSWORD, app_overrides, id_number_of, split_url  # noqa: E402
from measure import instrumented_app  # noqa: E402

REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BATCHES = (  # label, queue, admin key, role
    ("registrations (city bureau)", "registrations", "city_admin", "HRAdmin"),
    ("declarations, unit level (next: department)", "declarations", "unit_admin", "UnitAdmin"),
    ("declarations, final (credit hours)", "declarations", "city_admin", "HRAdmin"),
    ("title changes (unit)", "title-changes", "unit_admin", "UnitAdmin"),
)
MODELS = {"registrations": "Registration", "declarations": "Declaration", "title-changes": "TitleChange"}


# ---------------------------------------------------------------- the scratch copy

def _admin(url: str):
    import psycopg

    admin_url, name = split_url(url)
    return psycopg.connect(admin_url, autocommit=True), name


def make_copy(url: str) -> str:
    conn, name = _admin(url)
    copy = f"{name}_run"
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        t0 = time.perf_counter()
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}" STRATEGY = FILE_COPY')
    print(f"scratch copy {copy} of {name}: {time.perf_counter() - t0:.0f} s")
    return url.rpartition("/")[0] + "/" + copy


def drop_copy(url: str) -> None:
    conn, name = _admin(url)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"dropped {name}")


def prepare(app, items: int) -> None:
    """Evidence rows for the declarations under review; 2 x `items` pending title changes at the unit admin's unit."""
    import json

    from sqlalchemy import select, text

    from app.extensions import db
    from app.models import Account, Membership, Person, TitleChange
    from app.workflows import title_change as title_flow
    from app.workflows.accounts import actor_of
    from app.workflows.base import transaction

    with app.app_context():
        t0 = time.perf_counter()
        n = db.session.execute(text(
            "INSERT INTO attachment (declaration_id, filename, stored_name, content_type, size, created_at) "
            "SELECT d.id, f.name, 'bench-' || d.id || '-' || f.no || '.pdf', 'application/pdf', 180000 + f.no, "
            "       d.submitted_at "
            "FROM declaration d CROSS JOIN (VALUES (1, '结业证书.pdf'), (2, '培训通知.pdf'), (3, '学时证明.pdf')) "
            "     AS f(no, name) "
            "WHERE d.state IN ('pending_unit', 'pending_dept', 'pending_hr')")).rowcount
        db.session.commit()
        db.session.execute(text("ANALYZE attachment"))
        db.session.commit()
        print(f"prepared {n:,} evidence rows for the declarations under review: {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        admin = db.session.scalar(select(Account).where(Account.username == id_number_of("unit_admin")))
        unit_id = db.session.scalar(select(Membership.org_id).where(Membership.user_id == admin.id))
        rows = db.session.execute(
            select(Person, Membership).join(Membership, Membership.user_id == Person.user_id)
            .where(Person.unit_id == unit_id, Membership.org_id == unit_id, Membership.role == "Professional",
                   Membership.state == "active", Person.user_id != admin.id)
            .order_by(Person.id).limit(2 * items)).all()
        with transaction():
            for person, membership in rows:
                actor = actor_of(membership)
                after = {**title_flow.current_title(person), "title_level": "正高级", "title_name": "主任医师",
                         "title_date": "2026-06-30", "title_cert_no": f"ZG{person.id}"}
                title_flow.machine.open(TitleChange(
                    person_id=person.id, unit_id=unit_id,
                    before_json=json.dumps(title_flow.current_title(person), ensure_ascii=False),
                    after_json=json.dumps(title_flow.encode(after), ensure_ascii=False)), actor, commit=False)
        print(f"prepared {len(rows)} pending title changes at the unit admin's unit: {time.perf_counter() - t0:.1f} s")


# ---------------------------------------------------------------- measuring

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--items", type=int, default=100, help="items per batch (default %(default)s)")
    parser.add_argument("--no-batch", action="store_true", help="the reads only")
    parser.add_argument("--in-place", action="store_true",
                        help="run on the bench database itself, no copy (its rows change with the batches)")
    parser.add_argument("--profile", action="store_true", help="cProfile each batch")
    parser.add_argument("--inline-mail", action="store_true",
                        help="no task queue: the e-mails of each batch are delivered inside its request")
    args = parser.parse_args()
    url = DB_URL if args.in_place or args.no_batch else make_copy(DB_URL)
    try:
        run(url, args)
    finally:
        if url != DB_URL:
            drop_copy(url)


def _task_queue(inline: bool) -> dict:
    if inline:
        return {"TASKS_INLINE": True}
    try:
        from redis import Redis

        Redis.from_url(REDIS).ping()
    except Exception:  # noqa: BLE001 - no Redis here: e-mails go inline, as the platform does without it
        print("no Redis: the e-mails are delivered inside each request")
        return {"TASKS_INLINE": True}
    return {"REDIS_URL": REDIS, "TASK_QUEUE": f"bench-api-{os.getpid()}", "TASKS_INLINE": False}


def run(url: str, args) -> None:
    tasks = _task_queue(args.inline_mail)
    upload = tempfile.mkdtemp(prefix="bench-api-uploads-")
    app, recorder, timer = instrumented_app({**app_overrides(url), "UPLOAD_FOLDER": upload, **tasks})
    if not args.no_batch:
        prepare(app, args.items)
    client = app.test_client()
    tokens = {}

    def token(key: str, role: str) -> dict:
        if key not in tokens:
            response = client.post("/api/v1/auth/login", json={"role": role, "id_number": id_number_of(key),
                                                              "password": PASSWORD})
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
            tokens[key] = {"Authorization": f"Bearer {response.get_json()['access_token']}"}
        return tokens[key]

    def timed(label: str, url: str, headers: dict) -> None:
        client.get(url, headers=headers)  # warm-up
        times, counts = [], []
        for _ in range(args.reps):
            recorder.start()
            response = client.get(url, headers=headers)
            counts.append(len(recorder.stop()))
            assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])
            times.append(timer.last * 1000)
        extra = ""
        if "/declarations/" in url:
            extra = f", {len(response.get_json()['evidence'])} evidence files"
        print(f"{label:64} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms   "
              f"{statistics.median(counts):.0f} statements{extra}")

    for key, role in (("unit_admin", "UnitAdmin"), ("dept_admin", "DeptAdmin"), ("city_admin", "HRAdmin")):
        headers = token(key, role)
        for queue in ("registrations", "title-changes", "declarations"):
            timed(f"{role} GET /api/v1/review/{queue}", f"/api/v1/review/{queue}", headers)
        for queue in ("registrations", "title-changes", "declarations"):
            first = client.get(f"/api/v1/review/{queue}", headers=headers).get_json()["items"]
            if first:
                timed(f"{role} GET /api/v1/review/{queue}/<id>", f"/api/v1/review/{queue}/{first[0]['id']}",
                      headers)
    if args.no_batch:
        return
    try:
        for label, queue, key, role in BATCHES:
            batch(app, client, recorder, timer, token(key, role), label, queue, key, args)
    finally:
        if not tasks.get("TASKS_INLINE"):
            from rq import Queue
            from redis import Redis

            Queue(tasks["TASK_QUEUE"], connection=Redis.from_url(REDIS)).delete(delete_jobs=True)


def _ids(client, queue: str, headers: dict, n: int) -> list[int]:
    ids, after = [], None
    while len(ids) < n:
        page = client.get(f"/api/v1/review/{queue}" + (f"?after={after}" if after else ""),
                          headers=headers).get_json()
        ids += [row["id"] for row in page["items"] if row["can_decide"]]
        after = page["next_after"]
        if after is None:
            break
    return ids[:n]


def batch(app, client, recorder, timer, headers, label, queue, key, args) -> None:
    from sqlalchemy import select

    from app import models
    from app.extensions import db
    from app.models import Account, Membership
    from app.workflows.accounts import actor_of
    from app.api.review import KINDS

    n = args.items
    ids = _ids(client, queue, headers, 2 * n)
    if len(ids) < 2 * n:
        print(f"{label}: only {len(ids)} items can be decided, {2 * n} needed; skipped")
        return
    base_ids, batch_ids = ids[:n], ids[n:]

    # baseline: one transaction per item, in order (what the batch did before)
    machine, model = KINDS[queue].flow.machine, getattr(models, MODELS[queue])
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.username == id_number_of(key)))
        membership = db.session.scalar(select(Membership).where(Membership.user_id == account.id,
                                                                Membership.role == machine_role(key)))
        actor = actor_of(membership, "127.0.0.1")
        db.session.commit()
        recorder.start()
        t0 = time.perf_counter()
        failed = 0
        for item_id in base_ids:
            try:
                machine.decide(db.session.get(model, item_id), "approve", actor)
            except Exception:  # noqa: BLE001 - counted
                db.session.rollback()
                failed += 1
        base_ms = (time.perf_counter() - t0) * 1000
        base_statements = len(recorder.stop())
        db.session.remove()

    profiler = cProfile.Profile() if args.profile else None
    recorder.start()
    if profiler:
        profiler.enable()
    response = client.post(f"/api/v1/review/{queue}/batch", json={"ids": batch_ids, "action": "approve"},
                           headers=headers)
    if profiler:
        profiler.disable()
    statements = recorder.stop()
    body = response.get_json()
    ms = timer.last * 1000
    print(f"{label:46} batch of {n}: {ms:7.0f} ms, {len(statements):4} statements, done {body['done']}, "
          f"failed {len(body['failed'])}   | baseline one transaction per item: {base_ms:7.0f} ms, "
          f"{base_statements:5} statements, failed {failed}   -> {base_ms / ms:4.1f}x  "
          f"{'ok' if ms < 1000 else 'MISSED'} (< 1,000 ms)")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
        kinds = {}
        for s in statements:
            head = " ".join(s.sql.split()[:4])[:60]
            kinds.setdefault(head, [0, 0.0])
            kinds[head][0] += 1
            kinds[head][1] += s.ms
        for head, (count, total) in sorted(kinds.items(), key=lambda kv: -kv[1][1])[:15]:
            print(f"    {count:5} x {total:8.1f} ms  {head}")


def machine_role(key: str) -> str:
    from common import ADMIN_ACCOUNTS

    return ADMIN_ACCOUNTS[key][3]


if __name__ == "__main__":
    main()
