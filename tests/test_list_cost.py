"""A generated list page costs what the page holds: the same number of SQL statements whatever the number of rows
(no query per row), a capped count (an exact count of a city's million rows is a scan), nothing read past the cap.

The views are every generated ModelView of the app (found from appbuilder.baseviews), each listed by a role that may
list it, with few and with many rows of its model in scope."""
from __future__ import annotations

import itertools
import re

import pytest

from app.extensions import appbuilder, db
from app.models import AuditLog, Org, OrgKind, Person, RoleName
from app.views.admin import AppModelView, RowInterface
from tests import factories
from tests.helpers import login, page, statements, zh

R = RoleName
SEQ = itertools.count(1)




def _staff(world, n):
    """n professionals, each in a unit of their own (a lazy load per row would show as one query per unit)."""
    for i in range(n):
        unit = factories.make_org(OrgKind.UNIT, f"职员单位{next(SEQ)}", world.dept)
        factories.make_account(f"职员{next(SEQ)}", [(R.PROFESSIONAL, unit)], person_unit=unit)


def _orgs(world, n):
    """n orgs, each below the one made before it: every row has a parent of its own."""
    parent = world.dept
    for _ in range(n):
        parent = factories.make_org(OrgKind.UNIT, f"批量单位{next(SEQ)}", parent)


def _audit(world, n):
    db.session.add_all([AuditLog(action="login", result="ok", actor=f"某人{i}") for i in range(n)])
    db.session.commit()


# model -> (who lists it, how to add n rows of it in that person's scope)
LISTED = {
    Person: (lambda w: (w.city_admin, R.HR_ADMIN), _staff),
    Org: (lambda w: (w.sysadmin, R.SYSADMIN), _orgs),
    AuditLog: (lambda w: (w.auditor, R.AUDITOR), _audit),
}


def generated_views():
    return [v for v in appbuilder.baseviews if isinstance(v, AppModelView)]


def test_every_generated_list_interface_caps_and_eager_loads(app):
    """Each generated view reads through RowInterface, and loads the related rows its list shows with the page."""
    assert len(generated_views()) >= 5
    for view in generated_views():
        assert isinstance(view.datamodel, RowInterface), type(view).__name__
        related = [c for c in view.list_columns if view.datamodel.is_relation(c)]
        assert set(view.datamodel.eager) == set(related), type(view).__name__


@pytest.mark.parametrize("model", list(LISTED), ids=lambda m: m.__name__)
def test_a_list_page_costs_the_same_with_few_or_many_rows(app, world, model):
    views = [v for v in generated_views() if v.datamodel.obj is model]
    assert views, f"no generated list of {model.__name__}"
    who, add = LISTED[model]
    account, role = who(world)
    client = app.test_client()
    login(client, account.username, role=role.value)
    for view in views:
        url = f"{view.route_base}/list/"
        add(world, 3)
        with statements() as few:
            assert client.get(url).status_code == 200
        add(world, 25)
        with statements() as many:
            response = client.get(url)
        assert response.status_code == 200
        assert len(many) == len(few), (url, many)


def test_the_count_is_capped_and_nothing_is_read_past_it(app, world, monkeypatch):
    monkeypatch.setattr(RowInterface, "COUNT_CAP", 10)
    app.jinja_env.globals["list_count_cap"] = 10
    try:
        _staff(world, 14)
        client = app.test_client()
        login(client, world.city_admin.username, role=R.HR_ADMIN.value)
        html = page(client.get("/staff/list/?psize_StaffModelView=5"))
        assert zh("more than %(n)s", n="10") in html
        assert len(set(re.findall(r"职员\d+", html))) == 5
        with statements() as seen:
            past = client.get("/staff/list/?psize_StaffModelView=5&page_StaffModelView=3")
        assert past.status_code == 200
        assert not any("FROM person" in s and "OFFSET" in s.upper() for s in seen)  # nothing read past the cap
        html = page(client.get("/staff/list/?psize_StaffModelView=5&page_StaffModelView=1"))
        assert len(set(re.findall(r"职员\d+", html))) == 5  # pages inside the cap read as before
    finally:
        app.jinja_env.globals["list_count_cap"] = RowInterface.COUNT_CAP


def _lister(app, world, view):
    """A logged-in client of the first role that may open the view's list."""
    for account, role in ((world.city_admin, R.HR_ADMIN), (world.sysadmin, R.SYSADMIN), (world.auditor, R.AUDITOR),
                          (world.unit_admin, R.UNIT_ADMIN)):
        client = app.test_client()
        login(client, account.username, role=role.value)
        if client.get(f"{view.route_base}/list/").status_code == 200:
            return client
    raise AssertionError(f"nobody lists {type(view).__name__}")


def test_every_search_filter_of_every_generated_list_refuses_a_value_of_the_wrong_type(app, world):
    """FAB hands a search value to the database as typed: a word against a number or a date column is a
    PostgreSQL error. Every search column of every generated list, with a word: 400, never 5xx; with a value of
    its own type: the list."""
    checked = 0
    for view in generated_views():
        client = _lister(app, world, view)
        model = view.datamodel
        for column in view.search_columns:
            typed = (model.is_integer(column) or model.is_numeric(column) or model.is_float(column)
                     or model.is_date(column) or model.is_datetime(column) or model.is_relation(column))
            fitting = ("2026-01-01" if model.is_date(column) or model.is_datetime(column)
                       else "1" if typed else "张")
            assert client.get(f"{view.route_base}/list/?_flt_0_{column}={fitting}").status_code == 200, column
            if typed:
                response = client.get(f"{view.route_base}/list/?_flt_0_{column}=簟簟")
                assert response.status_code == 400, (type(view).__name__, column, response.status_code)
                checked += 1
        response = client.get(f"{view.route_base}/list/?_flt_0_no_such_column=1")
        assert response.status_code == 400
    assert checked >= 3  # the standards' numbers and year, the audit log's times at least
