"""Baseline: what Flask-AppBuilder 5.3 defaults cost on the bench database (run by bench/run.py in a subprocess).

A minimal FAB app of its own (fresh AppBuilder(), plain SecurityManager, AUTH_DB, DB roles whose permissions FAB
syncs into ab_permission / ab_view_menu / ab_permission_view_role), on the same tables as the project. One
generated ModelView on Person:

* its add form keeps the `unit` relationship, which FAB renders as a <select> holding every Org;
* its list has `unit` and `user` in search_columns: FAB's search form renders every related row, so the list
  page carries a <select> of all 1,000,000 accounts.

With --hours (issue 3), on the tables of the hours:

* `HourRecordModelView` and `DeclarationModelView`: generated ModelViews with FAB's defaults (no list_columns,
  search_columns, base_order or page size of their own). FAB's list pagination is `?page_<ViewName>=<n>` (0-based,
  25 rows a page: `page_size`), sorting `?_oc_<ViewName>=<column>&_od_<ViewName>=asc|desc`; each list page runs
  `SELECT count(*)` over the filtered table and `LIMIT 25 OFFSET page*25`. The default search form of
  Declaration lists every related Person (1,000,000) and Org (2 x 20,000) as <option>s.
* `DeclarationQueueModelView`: FAB configured as close to our queue as it goes without custom code:
  base_filters state = pending_hr (the city HR bureau's whole queue), base_order id desc, search_columns without
  relationships.

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


def hours_views():
    from flask_appbuilder import ModelView
    from flask_appbuilder.models.sqla.filters import FilterEqual
    from flask_appbuilder.models.sqla.interface import SQLAInterface

    from app.models import Declaration, HourRecord

    class HourRecordModelView(ModelView):
        datamodel = SQLAInterface(HourRecord)

    class DeclarationModelView(ModelView):
        datamodel = SQLAInterface(Declaration)

    class DeclarationQueueModelView(ModelView):
        datamodel = SQLAInterface(Declaration)
        base_filters = [["state", FilterEqual, "pending_hr"]]
        base_order = ("id", "desc")
        list_columns = ["person", "unit", "title", "subject", "form", "year", "hours", "state"]
        search_columns = ["title", "year", "subject", "state"]

    return [(HourRecordModelView, "Hour records"), (DeclarationModelView, "Declarations"),
            (DeclarationQueueModelView, "Declaration queue")]


def create_baseline_app(url: str, hours: bool = False):
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
        if hours:  # a separate app (and process): the foundation figures keep their one-view menu
            for view, name in hours_views():
                appbuilder.add_view(view, name, category="Bench")
        else:
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
    parser.add_argument("--slow-reps", type=int, default=2, help="0 skips the list pages with 1,000,000 options")
    parser.add_argument("--hours", action="store_true",
                        help="instead: an app with the list views of the hours tables (issue 3) and their pages")
    parser.add_argument("--hours-reps", type=int, default=5, help="timed repetitions of the hours list pages")
    args = parser.parse_args(argv)

    import logging

    logging.disable(logging.WARNING)
    flask_app, appbuilder, db, engine = create_baseline_app(args.db_url, args.hours)
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

    if not args.hours:
        r = measure(client, timer, recorder, "FAB index page /", "/", args.reps, args.warmup)
        record("index", r)
        r = measure(client, timer, recorder, "FAB GET /personmodelview/add (unit dropdown)", "/personmodelview/add",
                    args.reps, args.warmup, keep_body=True)
        record("add", r, options=_options(r.body.decode(), "unit"))
    if args.slow_reps and not args.hours:
        r = measure(client, timer, recorder, "FAB GET /personmodelview/list/ (account filter)",
                    "/personmodelview/list/", args.slow_reps, 0, keep_body=True)
        # the search form's fields travel as JSON (`form_fields | tojson`), so "<" is written \u003c
        record("list", r, options=r.body.count(b"<option") + r.body.count(b"\\u003coption"))
        with engine.connect() as conn:
            results[-1]["accounts"] = conn.exec_driver_sql("SELECT count(*) FROM ab_user").scalar()
            results[-1]["orgs"] = conn.exec_driver_sql("SELECT count(*) FROM org").scalar()
    if args.hours:
        rows = _rows_shown
        pages = [
            ("hr_first", "FAB HourRecord list (defaults), first page", "/hourrecordmodelview/list/", args.hours_reps),
            ("hr_deep", "FAB HourRecord list (defaults), page 1,000",
             "/hourrecordmodelview/list/?page_HourRecordModelView=999", args.hours_reps),
            ("hr_deep_sorted", "FAB HourRecord list, newest first, page 1,000",
             "/hourrecordmodelview/list/?_oc_HourRecordModelView=id&_od_HourRecordModelView=desc"
             "&page_HourRecordModelView=999", args.hours_reps),
            ("dq_first", "FAB Declaration list (state = pending_hr, newest first), first page",
             "/declarationqueuemodelview/list/", args.hours_reps),
            ("dq_deep", "FAB Declaration list (state = pending_hr, newest first), page 1,000",
             "/declarationqueuemodelview/list/?page_DeclarationQueueModelView=999", args.hours_reps),
        ]
        if args.slow_reps:
            pages += [
                ("decl_first", "FAB Declaration list (defaults), first page", "/declarationmodelview/list/",
                 args.slow_reps),
                ("decl_deep", "FAB Declaration list (defaults), page 1,000",
                 "/declarationmodelview/list/?page_DeclarationModelView=999", args.slow_reps),
            ]
        for key, label, url, reps in pages:
            r = measure(client, timer, recorder, label, url, reps, 0 if reps < 3 else 1, keep_body=True)
            record(key, r, options=r.body.count(b"<option") + r.body.count(b"\\u003coption"))
            results[-1]["rows"] = rows(r.body)
            r.body = b""
    print(json.dumps({"results": results}, ensure_ascii=False))
    return 0


def _rows_shown(body: bytes) -> int:
    """Rows of a FAB list page: each row has its own show link (/<view>/show/<pk>)."""
    return len(set(re.findall(rb"/show/(\d+)", body)))


def _options(html: str, field: str) -> int:
    match = re.search(rf'<select[^>]*name="{field}"[^>]*>(.*?)</select>', html, re.S)
    return match.group(1).count("<option") if match else 0


if __name__ == "__main__":
    sys.exit(main())
