"""U9 batch import on the bench database: files of 10,000 and 100,000 new professionals imported by the unit admin
(济阳区第1人民医院), each as the platform does it (openpyxl read-only, every row checked with the forms' validators and
against the database chunk by chunk, multi-row INSERTs, one transaction), against a baseline measured in the same
run: openpyxl's default mode and one ORM object per row (10,000 rows only: it is the slow way).

    python bench/import_staff.py [--sizes 10000,100000] [--no-baseline] [--no-memory]

Printed per size: the check (the preview: parse + validate every row), the import (what the worker does after
"import": the rows' database checks again, then the write), their sum against the target, rows per second, and the
peak of Python memory (tracemalloc, in a run of its own, not timed): the larger of the check's and the import's, and
each of them; the upload's bytes, read before, are left out. Nothing stays in the database: each run happens inside
an outer transaction that is rolled back at the end (the workflow's commit releases a savepoint instead), so the
figures leave out one WAL flush.
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
import tempfile
import time
import tracemalloc
import zipfile
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from common import DB_URL, app_overrides, bench_state, id_number_of  # noqa: E402

ADMIN = "unit_admin"


def write_file(path: str, n: int) -> None:
    """The template's columns filled with n new people, saved the way Excel, WPS and LibreOffice save a workbook:
    the sheet's size in its <dimension> (openpyxl's default mode writes it) and text in the shared-strings table
    (openpyxl writes inline strings, which its own reader parses much slower: `_shared_strings` converts)."""
    import openpyxl

    from app.demo import make_id_number
    from app.workflows import staff_import as flow

    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.append([f"{c.header}{'*' if c.required else ''}" for c in flow.COLUMNS])
    keys = [c.key for c in flow.COLUMNS]
    series = ["工程技术", "卫生技术", "经济", "会计", "中小学教师"]
    for i in range(n):
        # 证件号 the bench never made: its persons use sequence numbers below 100, its admins 901 and up
        born = datetime.date(1961, 1, 1) + datetime.timedelta(days=i // 700)
        values = {"name": f"导入{chr(0x4e00 + i % 20000)}{chr(0x4e00 + i // 20000)}",
                  "id_number": make_id_number("370124", born, 100 + i % 700), "ethnicity": "汉族",
                  "mobile": f"139{i:08d}", "education": "大学本科", "degree": "学士", "department": "第一科室",
                  "graduation_date": "2005-07-01", "title_series": series[i % 5], "title_level": "中级",
                  "title_name": "工程师", "title_date": "2015-12-31"}
        sheet.append([values.get(k) for k in keys])
    wb.save(path)
    _shared_strings(path)


_INLINE = re.compile(rb'<c r="([A-Z]+[0-9]+)"( s="[0-9]+")? t="inlineStr"><is><t(?: xml:space="preserve")?>(.*?)</t></is></c>')


def _shared_strings(path: str) -> None:
    """Rewrite the first sheet's inline strings as shared strings (xl/sharedStrings.xml), as Excel stores text."""
    table: dict[bytes, int] = {}

    def shared(match) -> bytes:
        index = table.setdefault(match.group(3), len(table))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (match.group(1), match.group(2) or b"", index)

    tmp = path + ".tmp"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, count = _INLINE.subn(shared, data)
                strings = b"".join(b"<si><t>%s</t></si>" % text for text in table)
                dst.writestr("xl/sharedStrings.xml", b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                             b'main" count="%d" uniqueCount="%d">%s</sst>' % (count, len(table), strings))
            elif item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
            elif item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Type="http://schemas.openxmlformats.org/'
                                    b'officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml" '
                                    b'Id="rIdSharedStrings"/></Relationships>')
            dst.writestr(item, data)
    os.replace(tmp, path)


@contextmanager
def rolled_back(db):
    """db.session, for the block, is a session on one connection whose outer transaction is rolled back at the end
    (the workflow's commit releases a savepoint)."""
    from sqlalchemy.orm import Session

    connection = db.engine.connect()
    outer = connection.begin()
    db.session.remove()
    db.session.registry.set(Session(bind=connection, join_transaction_mode="create_savepoint"))
    try:
        yield
    finally:
        db.session.remove()
        outer.rollback()
        connection.close()


def import_once(app, path: str, n: int, memory: bool = False) -> dict:
    from flask import g
    from sqlalchemy import select

    from sqlalchemy import text

    from app.extensions import db
    from app.models import Account, Membership, RoleName
    from app.workflows import accounts, staff_import as flow

    folds, real_finish = [], flow._finish

    def finish_after_the_fold(batch, action, *args):
        """The rollups' deferred folds run at the commit, which the bench's outer transaction never reaches: run
        them here, timed (the one step that holds the city's rollup rows, PostgreSQL)."""
        if action == "done":
            started = time.perf_counter()
            db.session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
            folds.append(time.perf_counter() - started)
        return real_finish(batch, action, *args)

    flow._finish = finish_after_the_fold
    with app.test_request_context(), rolled_back(db):
        admin = db.session.scalar(select(Account).where(Account.username == id_number_of(ADMIN)))
        membership = db.session.scalar(select(Membership).where(Membership.user_id == admin.id,
                                                                Membership.role == RoleName.UNIT_ADMIN.value))
        g.user = admin
        actor = accounts.actor_of(membership)
        content = Path(path).read_bytes()
        if memory:
            tracemalloc.start()
        t0 = time.perf_counter()
        batch = flow.start(actor, membership.id, "bench.xlsx", content, "all", "zh")
        t1 = time.perf_counter()
        check_peak = tracemalloc.get_traced_memory()[1] if memory else None
        if memory:
            tracemalloc.reset_peak()
        assert batch.state == "checked" and batch.valid_rows == n, (batch.state, batch.message, batch.failed_rows,
                                                                     flow.preview(batch)[:3])
        done = flow.confirm(actor, batch.id)
        t2 = time.perf_counter()
        peak = tracemalloc.get_traced_memory()[1] if memory else None
        if memory:
            tracemalloc.stop()
        assert done.state == "done" and done.created_rows == n, (done.state, done.message)
    flow._finish = real_finish
    return {"check": t1 - t0, "import": t2 - t1, "peak": peak, "check_peak": check_peak, "fold": sum(folds)}


def baseline_once(app, path: str, n: int) -> float:
    """openpyxl's default mode, the same row checks, one ORM object graph per row, one flush at the end."""
    import openpyxl
    from flask import g
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Account, Membership, MembershipState, Person, RoleName
    from app.workflows import accounts, staff_import as flow

    with app.test_request_context(), rolled_back(db):
        admin = db.session.scalar(select(Account).where(Account.username == id_number_of(ADMIN)))
        membership = db.session.scalar(select(Membership).where(Membership.user_id == admin.id,
                                                                Membership.role == RoleName.UNIT_ADMIN.value))
        g.user = admin
        t0 = time.perf_counter()
        sheet = openpyxl.load_workbook(path).worksheets[0]
        keys = [c.key for c in flow.COLUMNS]
        for values in sheet.iter_rows(min_row=2, values_only=True):
            checked, reasons = flow._check_row({k: v for k, v in zip(keys, values) if v not in (None, "")})
            assert not reasons, reasons
            if db.session.scalar(select(Account.id).where(Account.username == checked["id_number"])):
                continue
            account = Account(username=checked["id_number"], first_name=checked["name"], last_name="", active=True,
                              email=f"{checked['id_number']}@{flow.NO_EMAIL_DOMAIN}",
                              password=accounts.initial_password(), must_change_password=True)
            db.session.add(account)
            db.session.flush()
            db.session.add(Person(user_id=account.id, name=checked["name"], id_number=checked["id_number"],
                                  unit_id=membership.org_id, title_series=checked.get("title_series")))
            db.session.add(Membership(user_id=account.id, role=RoleName.PROFESSIONAL.value, org_id=membership.org_id,
                                      state=MembershipState.ACTIVE.value))
        db.session.flush()
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    if not bench_state(DB_URL):
        sys.exit("no complete bench database: run bench/generate.py first")
    from app import create_app

    app = create_app(**app_overrides(DB_URL), TASKS_INLINE=True, UPLOAD_FOLDER=tempfile.mkdtemp(prefix="bench-imp-"))
    targets = {10_000: 5.0, 100_000: 45.0}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            path = os.path.join(tmp, f"staff-{n}.xlsx")
            with app.test_request_context():
                write_file(path, n)  # the template's headers, in Chinese
            size = os.path.getsize(path) / 1e6
            result = import_once(app, path, n)
            target = targets.get(n)
            total = result["check"] + result["import"]
            print(f"{n:>7,} rows ({size:.1f} MB): check (parse + validate) {result['check']:6.2f} s + import (the "
                  f"database checks again + write) {result['import']:6.2f} s = {total:6.2f} s, {n / total:,.0f} rows/s"
                  + (f" | target {target:.0f} s: {'met' if total < target else 'NOT MET'}" if target else ""),
                  flush=True)
            print(f"{'':>7}  the city's rollup rows are held from the rollups' fold at the commit only: "
                  f"{result['fold'] * 1000:,.0f} ms (not the whole write)", flush=True)
            if not args.no_memory:
                peaks = import_once(app, path, n, memory=True)
                peak = max(peaks["check_peak"], peaks["peak"])
                print(f"{'':>7}  peak Python memory of check + import: {peak / 1e6:.1f} MB ({peak / n:,.0f} bytes a "
                      f"row; check {peaks['check_peak'] / 1e6:.1f} MB, import {peaks['peak'] / 1e6:.1f} MB)", flush=True)
            if not args.no_baseline and n <= 10_000:
                base = baseline_once(app, path, n)
                print(f"{'':>7}  baseline (openpyxl default mode, one ORM object per row): {base:6.2f} s "
                      f"= {base / total:.1f}x ours", flush=True)


if __name__ == "__main__":
    main()
