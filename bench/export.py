"""X7: the export of 100,000 staff rows as the city HR admin, with openpyxl's write-only mode (ours) and with its
default mode (the baseline), in the same run; then the same export through the task queue (issue 13): how long
the web request holds its worker (it reads EXPORT_INLINE_ROWS + 1 rows, records the export, queues it and
redirects) against the request that writes the whole file, and how long the queue's job takes.

    python bench/export.py [--reps 1] [--no-baseline] [--no-memory] [--no-queue]

Each figure is the whole request `GET /staff/export/` through the app (permission, scope, search, the rows read in
batches, the workbook written and sent), timed on the WSGI call, then once more under tracemalloc for the peak of
Python memory (tracemalloc slows the run, so it is not timed). The baseline is the same request with the sheet
writer swapped for one on a default-mode workbook (every cell kept in memory until it is saved). The file is read
back (read-only) to check its rows. Needs the database made by bench/generate.py (1,000,000 persons).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # first: bench/run.py, not the project's run.py
from common import DB_URL, app_overrides, bench_state, id_number_of  # noqa: E402
from run import login  # noqa: E402

URL = "/staff/export/"


def default_mode_writer():
    """export.SheetWriter on a default-mode workbook: the baseline."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from app.workflows import export

    class DefaultModeWriter(export.SheetWriter):
        def __init__(self, title: str):
            self.workbook = Workbook()
            self.sheet = self.workbook.active
            self.sheet.title = export._sheet_title(title)
            self.bold = Font(bold=True)

    return DefaultModeWriter


def one_export(client, memory: bool) -> tuple[float, float | None, bytes]:
    """(seconds, peak MiB or None, body) of one GET of the export."""
    if memory:
        tracemalloc.start()
    started = time.perf_counter()
    response = client.get(URL)
    body = response.get_data()  # the file is sent from a temporary file: reading it is part of the request
    elapsed = time.perf_counter() - started
    peak = None
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    if response.status_code != 200:
        raise RuntimeError(f"{URL}: {response.status_code}")
    return elapsed, peak, body


def data_rows(body: bytes) -> tuple[int, str]:
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    return len(rows) - 1, str(rows[-1][0])


def measure(client, label: str, reps: int, memory: bool) -> dict:
    times = []
    body = b""
    for _ in range(reps):
        elapsed, _peak, body = one_export(client, memory=False)
        times.append(elapsed)
    rows, last = data_rows(body)
    cut = last.startswith("导出已") or "narrow" in last
    rows -= 1 if cut else 0
    peak = one_export(client, memory=True)[1] if memory else None
    seconds = sorted(times)[len(times) // 2]  # the median
    result = {"label": label, "seconds": seconds, "rows": rows, "rows_per_s": rows / seconds, "peak_mib": peak,
              "bytes": len(body), "cut_note": cut}
    print(f"{label:<34} {seconds:7.2f} s  {rows:>7,} rows  {rows / seconds:>9,.0f} rows/s  "
          + (f"peak {peak:7.1f} MiB" if peak is not None else "peak     n/a")
          + f"  {len(body) / 2 ** 20:5.1f} MiB file" + ("  (+ the cap's note row)" if cut else ""), flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--reps", type=int, default=1, help="timed runs of each (the median is printed)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--no-queue", action="store_true", help="skip the export through the task queue")
    args = parser.parse_args(argv)
    if bench_state(args.db_url) is None:
        print("no bench database: run bench/generate.py first", file=sys.stderr)
        return 2

    from app import create_app
    from app.workflows import export

    app = create_app(**app_overrides(args.db_url))
    client = app.test_client()
    login(client, id_number_of("city_admin"), "HRAdmin")
    print(f"GET {URL} as the city HR admin (ROW_CAP {export.ROW_CAP:,}, batches of {export.BATCH:,})")
    client.get("/staff/list/")  # warm the app (permissions, metadata) before timing
    results = [measure(client, "ours (openpyxl write-only)", args.reps, not args.no_memory)]
    if not args.no_baseline:
        ours = export.SheetWriter
        export.SheetWriter = default_mode_writer()
        try:
            results.append(measure(client, "baseline (openpyxl default mode)", args.reps, not args.no_memory))
        finally:
            export.SheetWriter = ours
        base, mine = results[1], results[0]
        print(f"write-only vs default: {base['seconds'] / mine['seconds']:.2f}x the speed"
              + (f", {base['peak_mib'] / mine['peak_mib']:.1f}x less peak memory" if mine["peak_mib"] else ""))
    if not args.no_queue:
        through_queue(app, client, results[0]["seconds"])
    return 0


def through_queue(app, client, inline_seconds: float) -> None:
    """The export as production makes it: the request queues it (RQ on Redis, a queue of its own), the job runs here
    as a worker runs it (`exports.run`), and the file is read back."""
    import uuid

    import redis
    from openpyxl import load_workbook

    from app.extensions import db
    from app.models import ExportJob
    from app.workflows import exports

    url = "redis://127.0.0.1:6379/12"
    redis.Redis.from_url(url).ping()
    name = f"bench-export-{uuid.uuid4().hex[:8]}"
    app.config.update(TASKS_INLINE=False, REDIS_URL=url, TASK_QUEUE=name)
    try:
        started = time.perf_counter()
        response = client.get(URL)
        request_seconds = time.perf_counter() - started
        if response.status_code != 302 or "/exports/" not in response.headers["Location"]:
            raise RuntimeError(f"{URL} was not queued: {response.status_code}")
        export_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        with app.app_context():
            started = time.perf_counter()
            exports.run(export_id)
            job_seconds = time.perf_counter() - started
            item = db.session.get(ExportJob, export_id)
            state, rows, path = item.state, item.rows, exports.file_path(item)
        body = client.get(f"/exports/{export_id}/file").get_data()
        written = sum(1 for _ in load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows()) - 1
        print(f"through the queue: the web request {request_seconds * 1000:,.0f} ms (redirect to the export's page; "
              f"{inline_seconds / request_seconds:.0f}x shorter than writing the file in the request), the job "
              f"{job_seconds:.2f} s, {state}, {rows:,} rows recorded, {written:,} in the file", flush=True)
        if path:
            os.remove(path)
    finally:
        connection = redis.Redis.from_url(url)
        for key in connection.scan_iter(f"*{name}*"):
            connection.delete(key)


if __name__ == "__main__":
    sys.exit(main())
