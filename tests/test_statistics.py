"""H6 / D6 / U10 completion statistics: the figures against an independent count of the generated people, the
scope of each admin (drill-down inside the subtree only), the roles without the page, bad years."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AnnualStandard, Org, Region, RoleName
from app.workflows import statistics as stats
from tests import factories
from tests.factories import actor_for
from tests.helpers import YEAR, credit_year, is_login_redirect, log_in, make_person, page, statements, zh

R = RoleName
URL = "/statistics/completion"
DEFAULT = (30, 60, 90)     # the default standard of the year, set by the test
DISTRICT = (40, 80, 120)   # the district's own, stricter standard

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def _standard(year: int, region_id, marks) -> None:
    row = db.session.scalar(select(AnnualStandard).where(AnnualStandard.year == year,
                                                         AnnualStandard.region_id.is_(None) if region_id is None
                                                         else AnnualStandard.region_id == region_id))
    if row is None:
        row = AnnualStandard(year=year, region_id=region_id)
        db.session.add(row)
    row.public_min, row.professional_min, row.total_min = (Decimal(m) for m in marks)
    db.session.commit()


# (org attribute of the world, name, public hours, professional hours, staff?)
PEOPLE = [
    ("unit", "甲医甲", 30, 60, True), ("unit", "甲医乙", 10, 20, True), ("unit", "甲医丙", 0, 0, True),
    ("unit", "甲医丁", 40, 90, True), ("unit", "甲医戊", 50, 0, True),
    ("sub_unit", "分院甲", 30, 60, True), ("sub_unit", "分院乙", 0, 0, True),
    ("other_unit", "乙校甲", 30, 60, True), ("other_unit", "乙校乙", 5, 0, True),
    ("unit", "非在册人员", 99, 99, False),  # a profile without an active registration: not staff, never counted
]


@pytest.fixture()
def data(fast_world):
    w = fast_world
    _standard(YEAR, None, DEFAULT)
    for attr, name, public, professional, staff in PEOPLE:
        unit = getattr(w, attr)
        account = make_person(name, unit) if staff else factories.make_account(name, person_unit=unit)
        if public or professional:
            credit_year(account, public, professional)
        if name == "甲医丙":  # hours of last year only
            credit_year(account, 30, 60, YEAR - 1)
    return w


def _expected(w, under: Org, marks_of) -> dict:
    """The independent count: per org one level below `under` (None: `under` itself), from PEOPLE."""
    out: dict = {}
    for attr, _name, public, professional, staff in PEOPLE:
        unit = getattr(w, attr)
        if not staff or not unit.path.startswith(under.path):
            continue
        rest = unit.path[len(under.path):].strip("/")
        key = int(rest.split("/")[0]) if rest else None
        p_min, pro_min, t_min = marks_of(unit)
        row = out.setdefault(key, [0, 0, 0])
        row[0] += 1
        row[1] += 1 if public + professional > 0 else 0
        row[2] += 1 if public >= p_min and professional >= pro_min and public + professional >= t_min else 0
    return out


def _figures(result) -> dict:
    return {(row.org.id if row.org else None): [row.headcount, row.took_part, row.passed]
            for row in result.rows if row.headcount}


def _table(html: str) -> dict:
    """The table as a person reads it: data-org -> [headcount, took part, did not, passed, pass rate]."""
    rows = {}
    for org, body in re.findall(r'<tr class="completion-row" data-org="([^"]+)">(.*?)</tr>', html, re.S):
        rows[org] = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r'<td class="num[^"]*">(.*?)</td>',
                                                                                   body, re.S)]
    return rows


def _total(html: str) -> str:
    return re.search(r'<tr class="completion-total">(.*?)</tr>', html, re.S).group(1)


def test_city_figures_match_an_independent_count(data):
    w = data
    result = stats.completion(actor_for(w.city_admin, R.HR_ADMIN, w.city))
    expected = _expected(w, w.city, lambda unit: DEFAULT)
    assert _figures(result) == expected
    assert {r.org.id for r in result.rows} == {w.district.id, w.other_district.id}  # no training base
    assert result.total.headcount == 9 and result.total.took_part == 7 and result.total.passed == 4
    assert result.total.pass_rate == round(100 * 4 / 9, 1)
    district = next(r for r in result.rows if r.org.id == w.district.id)
    assert district.not_taken == 2 and district.not_passed == 4


def test_each_level_down_to_the_unit_and_its_own_people(data):
    w = data
    actor = actor_for(w.district_admin, R.HR_ADMIN, w.district)
    for org in (w.district, w.dept, w.unit, w.sub_unit):
        result = stats.completion(actor, YEAR, org.id)
        assert _figures(result) == _expected(w, org, lambda unit: DEFAULT), org.name
    unit_level = stats.completion(actor, YEAR, w.unit.id)
    assert unit_level.rows[0].org is None and unit_level.rows[0].headcount == 5  # 本级: the unit's own people


def test_the_year_of_the_hours_counts(data):
    w = data
    result = stats.completion(actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit), YEAR - 1)
    own = result.rows[0]
    assert own.org is None and (own.headcount, own.took_part, own.passed) == (5, 1, 1)


def test_the_standard_of_the_persons_region(data):
    """A district with its own standard: its units (without a region of their own) take the nearest HR bureau's."""
    w = data
    region = Region(code="370199", name="甲区")
    db.session.add(region)
    db.session.flush()
    db.session.get(Org, w.district.id).region_id = region.id
    db.session.commit()
    _standard(YEAR, region.id, DISTRICT)

    def marks_of(unit):
        return DISTRICT if unit.path.startswith(w.district.path) else DEFAULT

    result = stats.completion(actor_for(w.city_admin, R.HR_ADMIN, w.city))
    assert _figures(result) == _expected(w, w.city, marks_of)
    assert next(r for r in result.rows if r.org.id == w.district.id).passed == 1  # only 40 + 90


def test_one_bounded_set_of_statements_whatever_the_headcount(data, app):
    """Aggregates only: the statements of a page do not grow with its people."""
    w = data
    actor = actor_for(w.city_admin, R.HR_ADMIN, w.city)
    with statements() as seen:
        db.session.expire_all()
        stats.completion(actor)
        small = len(seen)
        for n in range(5):
            credit_year(make_person(f"新增{n}", w.unit), 30, 60)
        seen.clear()
        db.session.expire_all()
        stats.completion(actor)
    assert len(seen) == small <= 8
    assert not [q for q in seen if "person" in q and "count(" not in q]  # no person row is read, only counted


# ------------------------------------------------------------------ through the page


def test_page_table_chart_and_staff_link(data, client):
    w = data
    log_in(client, w.city_admin.username, R.HR_ADMIN.value)
    response = client.get(URL)
    assert response.status_code == 200
    html = page(response)
    table = _table(html)
    assert table[str(w.district.id)] == ["7", "5", "2", "3", "42.9%"]
    assert table[str(w.other_district.id)] == ["2", "2", "0", "1", "50.0%"]
    assert zh("Completion statistics") in html and zh("Pass rate") in html and zh("Sum of the level") in _total(html)
    assert f'href="/statistics/completion?year={YEAR}&org={w.district.id}"' in html.replace("&amp;", "&")
    assert 'href="/staff/list/"' in _total(html)  # the total headcount opens the staff list of the whole scope
    assert 'id="completion-chart-data"' in html and "/static/vendor/echarts/echarts.min.js" in html
    assert "<script>" not in html  # the chart is drawn by a static file (CSP: no inline script)
    # drill down: the department, and no staff link for a part of the scope
    html = page(client.get(f"{URL}?year={YEAR}&org={w.dept.id}"))
    assert _table(html)[str(w.unit.id)] == ["7", "5", "2", "3", "42.9%"]
    assert 'href="/staff/list/"' not in _total(html) and "<td class=\"num headcount\">7</td>" in _total(html)


def test_export_is_the_page_table_of_the_admins_scope(data, client):
    import io

    import openpyxl

    w = data
    log_in(client, w.city_admin.username, R.HR_ADMIN.value)
    assert f'href="/statistics/completion/export?year={YEAR}&org={w.city.id}"' in page(client.get(URL))
    response = client.get(f"{URL}/export?year={YEAR}&org={w.city.id}")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    rows = list(openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == (zh("Organisation"), zh("Headcount"))
    by_name = {row[0]: row[1:] for row in rows[1:]}
    assert by_name[w.district.name] == (7, 5, 2, 3, 42.9)
    assert by_name[zh("Sum of the level")][0] == sum(v[0] for k, v in by_name.items() if k != zh("Sum of the level"))
    district = client.__class__(client.application)
    log_in(district, w.district_admin.username, R.HR_ADMIN.value)
    assert district.get(f"{URL}/export?year={YEAR}&org={w.other_district.id}").status_code == 404
    assert district.get(f"{URL}/export?year=1800").status_code == 400


def test_the_chart_library_is_served_by_the_platform(client):
    response = client.get("/static/vendor/echarts/echarts.min.js")
    assert response.status_code == 200 and b"echarts" in response.data[:2000]
    response.close()


def test_a_district_admin_never_sees_another_district(data, client):
    w = data
    log_in(client, w.district_admin.username, R.HR_ADMIN.value)
    html = page(client.get(URL))
    assert w.district.name in html and w.dept.name in html
    assert w.other_district.name not in html and w.other_unit.name not in html and w.city.name not in html
    assert set(_table(html)) == {str(w.dept.id)}
    for org in (w.other_district.id, w.other_unit.id, w.city.id, w.base.id, 999999, "abc", -1, 2 ** 40):
        response = client.get(f"{URL}?org={org}")
        assert response.status_code == 404, org
        assert w.other_unit.name not in page(response)


def test_a_unit_admin_sees_its_unit_and_sub_units_only(data, client):
    w = data
    log_in(client, w.unit_admin.username, R.UNIT_ADMIN.value)
    table = _table(page(client.get(URL)))
    assert table == {"own": ["5", "4", "1", "2", "40.0%"], str(w.sub_unit.id): ["2", "1", "1", "1", "50.0%"]}
    assert client.get(f"{URL}?org={w.dept.id}").status_code == 404


@pytest.mark.parametrize("year", ["abc", "1900", str(YEAR + 1), "2026.5", ""])
def test_bad_year_is_a_chinese_message_not_a_server_error(data, client, year):
    w = data
    log_in(client, w.dept_admin.username, R.DEPT_ADMIN.value)
    response = client.get(f"{URL}?year={year}")
    if year == "":
        assert response.status_code == 200  # no year: this year
        return
    assert response.status_code == 400
    assert zh("Please choose a year from %(low)s to %(high)s.", low=YEAR - stats.YEARS_BACK, high=YEAR) \
        in page(response)


@pytest.mark.parametrize("who, role", [("base_admin", R.BASE_ADMIN), ("support", R.SUPPORT),
                                       ("sysadmin", R.SYSADMIN), ("auditor", R.AUDITOR)])
def test_roles_without_the_menu_are_refused(data, client, who, role):
    log_in(client, getattr(data, who).username, role.value)
    response = client.get(URL)
    assert response.status_code in (302, 403)
    assert zh("Completion statistics") not in page(client.get("/home/"))


def test_professionals_and_anonymous_are_refused(data, client):
    assert is_login_redirect(client.get(URL))
    account = make_person("普通专技人员", data.unit)
    log_in(client, account.username, R.PROFESSIONAL.value)
    assert client.get(URL).status_code in (302, 403)


def test_the_menu_of_admins(data, client):
    log_in(client, data.dept_admin.username, R.DEPT_ADMIN.value)
    html = page(client.get("/home/"))
    assert zh("Queries and statistics") in html and zh("Completion statistics") in html
