"""Baseline: what Flask-AppBuilder 5.3 defaults cost on the bench database (run by bench/run.py in a subprocess).

A minimal FAB app of its own (fresh AppBuilder(), plain SecurityManager, AUTH_DB, DB roles whose permissions FAB
syncs into ab_permission / ab_view_menu / ab_permission_view_role), on the same tables as the project. One
generated ModelView on Person:

* its add form keeps the `unit` relationship, which FAB renders as a <select> holding every Org;
* its list has `unit` and `user` in search_columns: FAB's search form renders every related row, so the list
  page carries a <select> of all 1,000,000 accounts.

The last line of stdout is a JSON document with the figures.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DB_URL, PASSWORD  # noqa: E402
from measure import SqlRecorder, WsgiTimer, csrf_from, instrument_security_manager, measure  # noqa: E402

ADMIN = "fab_bench_admin"


def create_baseline_app(url: str):
    from flask import Flask
    from flask_appbuilder import AppBuilder, ModelView
    from flask_appbuilder.const import AUTH_DB
    from flask_appbuilder.models.sqla.interface import SQLAInterface
    from flask_appbuilder.utils.legacy import get_sqla_class

    from app.models import Person  # the project's tables, on FAB's Model metadata

    flask_app = Flask("fab_baseline")
    flask_app.config.update(
        SECRET_KEY="fab-baseline-secret", SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_TRACK_MODIFICATIONS=False,
        AUTH_TYPE=AUTH_DB, WTF_CSRF_ENABLED=True, FAB_ADD_SECURITY_API=False, TESTING=True,
    )
    db = get_sqla_class()()
    db.init_app(flask_app)
    appbuilder = AppBuilder()  # not the project's singleton

    class PersonModelView(ModelView):
        datamodel = SQLAInterface(Person)
        # The generated form, minus `user` (else the add page would also list the 1,000,000 accounts).
        add_columns = ["name", "id_number", "gender", "birth_date", "unit", "department", "education", "school",
                       "major", "degree", "title_series", "title_level"]
        list_columns = ["name", "id_number", "unit", "department", "title_level"]
        search_columns = ["name", "id_number", "unit", "user"]

    with flask_app.app_context():
        appbuilder.init_app(flask_app, db.session)
        appbuilder.add_view(PersonModelView, "Persons", category="Bench")
        sm = appbuilder.sm
        if sm.find_user(username=ADMIN) is None:
            sm.add_user(ADMIN, "FAB", "Admin", "fab_admin@bench.jxjy.example.cn", sm.find_role(sm.auth_role_admin),
                        password=PASSWORD)
        engine = db.engine
    return flask_app, appbuilder, db, engine


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--slow-reps", type=int, default=2, help="0 skips the list page")
    args = parser.parse_args(argv)

    import logging

    logging.disable(logging.WARNING)
    flask_app, appbuilder, db, engine = create_baseline_app(args.db_url)
    recorder = SqlRecorder()
    recorder.attach(engine)
    instrument_security_manager(appbuilder.sm, recorder)
    timer = WsgiTimer(flask_app)
    client = flask_app.test_client()
    token = csrf_from(client.get("/login/").get_data(as_text=True))
    response = client.post("/login/", data={"csrf_token": token, "username": ADMIN, "password": PASSWORD})
    if response.status_code != 302 or "login" in response.headers.get("Location", ""):
        raise SystemExit(f"FAB login failed: {response.status_code}")

    results = []

    def record(key, result, options=None):
        d = result.as_dict()
        d["key"] = key
        if options is not None:
            d["options"] = options
        results.append(d)
        print(f"{result.label:<52} median {result.median:9.1f} ms  {result.size:>12,} B  {result.statements} stmt "
              f"({result.auth_statements} auth)", flush=True)

    r = measure(client, timer, recorder, "FAB index page /", "/", args.reps, args.warmup)
    record("index", r)
    r = measure(client, timer, recorder, "FAB GET /personmodelview/add (unit dropdown)", "/personmodelview/add",
                args.reps, args.warmup, keep_body=True)
    record("add", r, options=_options(r.body.decode(), "unit"))
    if args.slow_reps:
        r = measure(client, timer, recorder, "FAB GET /personmodelview/list/ (account filter)",
                    "/personmodelview/list/", args.slow_reps, 0, keep_body=True)
        # the search form's fields travel as JSON (`form_fields | tojson`), so "<" is written \u003c
        record("list", r, options=r.body.count(b"<option") + r.body.count(b"\\u003coption"))
        with engine.connect() as conn:
            results[-1]["accounts"] = conn.exec_driver_sql("SELECT count(*) FROM ab_user").scalar()
            results[-1]["orgs"] = conn.exec_driver_sql("SELECT count(*) FROM org").scalar()
    print(json.dumps({"results": results}, ensure_ascii=False))
    return 0


def _options(html: str, field: str) -> int:
    match = re.search(rf'<select[^>]*name="{field}"[^>]*>(.*?)</select>', html, re.S)
    return match.group(1).count("<option") if match else 0


if __name__ == "__main__":
    sys.exit(main())
