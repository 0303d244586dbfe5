"""The REST API on the bench database (issue 12, Speed): a review queue's first page and an item's details
(server time, median of --reps after a warm-up), and a batch approval of 100 items, through bearer tokens.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/jxjy_bench_api python bench/api.py

The batch approval changes the database it runs on (100 registrations approved): run it on a copy
(`CREATE DATABASE jxjy_bench_api TEMPLATE jxjy_bench`, then `flask db upgrade` on the copy), or pass --no-batch.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from common import DB_URL, PASSWORD, app_overrides, id_number_of  # noqa: E402
from measure import instrumented_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--no-batch", action="store_true")
    args = parser.parse_args()
    app, _recorder, timer = instrumented_app(app_overrides(DB_URL))
    client = app.test_client()

    def token(key: str, role: str) -> dict:
        response = client.post("/api/v1/auth/login", json={"role": role, "id_number": id_number_of(key),
                                                          "password": PASSWORD})
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    def timed(label: str, url: str, headers: dict) -> None:
        client.get(url, headers=headers)  # warm-up
        times = []
        for _ in range(args.reps):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])
            times.append(timer.last * 1000)
        print(f"{label:58} median {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms")

    rows = []
    for key, role in (("unit_admin", "UnitAdmin"), ("dept_admin", "DeptAdmin"), ("city_admin", "HRAdmin")):
        headers = token(key, role)
        for queue in ("registrations", "title-changes", "declarations"):
            timed(f"{role} GET /api/v1/review/{queue}", f"/api/v1/review/{queue}", headers)
        first = client.get("/api/v1/review/registrations", headers=headers).get_json()["items"]
        if first:
            timed(f"{role} GET /api/v1/review/registrations/<id>", f"/api/v1/review/registrations/{first[0]['id']}",
                  headers)
        rows.append((key, role, headers))
    if not args.no_batch:
        _key, role, headers = rows[-1]  # the city bureau: every pending registration is in its scope
        ids, after = [], None
        while len(ids) < 100:
            page = client.get("/api/v1/review/registrations" + (f"?after={after}" if after else ""),
                              headers=headers).get_json()
            ids += [row["id"] for row in page["items"] if row["can_decide"]]
            after = page["next_after"]
            if after is None:
                break
        ids = ids[:100]
        t0 = time.perf_counter()
        response = client.post("/api/v1/review/registrations/batch", json={"ids": ids, "action": "approve"},
                               headers=headers)
        elapsed = time.perf_counter() - t0
        body = response.get_json()
        print(f"{role} POST batch approve {len(ids)} registrations: {elapsed * 1000:.0f} ms, done {body['done']}, "
              f"failed {len(body['failed'])}")


if __name__ == "__main__":
    main()
