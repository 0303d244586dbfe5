"""X7: the export of 100,000 staff rows as the city HR admin, with openpyxl's write-only mode (ours) and with its
default mode (the baseline), in the same run.

    python bench/export.py [--reps 1] [--no-baseline] [--no-memory]

Each figure is the whole request `GET /staff/export/` through the app (permission, scope, search, the rows read in
batches, the workbook written and sent), timed on the WSGI call, then once more under tracemalloc for the peak of
Python memory (tracemalloc slows the run, so it is not timed). The baseline is the same request with the sheet
writer swapped for one on a default-mode workbook (every cell kept in memory until it is saved). The file is read
back (read-only) to check its rows. Needs the database made by bench/generate.py (1,000,000 persons).
"""
from __future__ import annotations

import argparse
import io
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
