"""H6 / D6 / U10 distribution statistics (orgs and staff, titles, industries, qualifications): the figures against
an independent count of the people in the database, the tally following every change (staff flag, unit, title,
qualifications, an org moved), the scope of each admin (404 outside the subtree, the export included), the roles
without the pages, the export, and each figure's link to the staff list of its people."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

from app.extensions import db
from app.models import Membership, Org, OrgKind, Person, RoleName
from app.workflows import distribution as dist
from app.workflows import orgs as org_flow
from app.workflows import statistics as stats
from tests.factories import actor_for, make_org
from tests.helpers import (expected_industries, expected_orgs, expected_qualifications, expected_titles,
                           is_login_redirect, log_in, make_person, orgs_of, page, person_of, staff_under, titles_of,
                           zh)

R = RoleName
PAGES = ("orgs", "titles", "industries", "qualifications")

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")

def check_all(actor, org: Org) -> None:
    titles = dist.titles(actor, org.id)
    assert titles_of(titles) == expected_titles(org), org.name
    assert titles.total.staff == len(staff_under(org))
    quals = dist.qualifications(actor, org.id)
    assert {i.value: i.staff for i in quals.items} == dict(expected_qualifications(org)), org.name
    assert quals.total.staff == len(staff_under(org))
    industries = dist.industries(actor, org.id)
    assert {i.value: [i.units, i.staff] for i in industries.items} == expected_industries(org), org.name
    orgs = dist.org_counts(actor, org.id)
    assert {k: v for k, v in orgs_of(orgs).items() if any(v)} == \
        {k: v for k, v in expected_orgs(org).items() if any(v)}, org.name
    assert orgs.total.staff == len(staff_under(org))


# ------------------------------------------------------------------ figures

def test_figures_match_an_independent_count_at_every_level(distribution_world):
    w = distribution_world
    city = actor_for(w.city_admin, R.HR_ADMIN, w.city)
    for org in (w.city, w.district, w.other_district, w.dept, w.unit, w.sub_unit, w.other_unit):
        check_all(city, org)


def test_known_figures_of_the_city(distribution_world):
    w = distribution_world
    titles = {i.value: i for i in dist.titles(actor_for(w.city_admin, R.HR_ADMIN, w.city)).items}
    health = titles["卫生技术"]
    assert (health.grades["senior"], health.grades["senior_正高级"], health.grades["senior_副高级"],
            health.grades["intermediate"], health.grades["junior"], health.staff) == (2, 1, 1, 1, 1, 4)
    assert titles[""].grades["none"] == 1 and titles["会计"].grades["none"] == 1  # blank and 未定级 alike
    quals = {i.value: i.staff for i in dist.qualifications(actor_for(w.city_admin, R.HR_ADMIN, w.city)).items}
    assert quals["执业医师"] == 4 and quals["教师资格"] == 2  # a repeated item counts once per person
    orgs = dist.org_counts(actor_for(w.city_admin, R.HR_ADMIN, w.city))
    row = next(r for r in orgs.rows if r.org and r.org.id == w.district.id)
    assert (row.departments, row.units, row.bases, row.staff) == (1, 2, 0, 8)
    assert next(r for r in orgs.rows if r.org and r.org.id == w.base.id).bases == 1
    assert (orgs.total.departments, orgs.total.units, orgs.total.bases, orgs.total.staff) == (1, 3, 1, 10)


def test_the_tally_follows_every_change(distribution_world):
    """Title, qualifications, unit, staff flag and an org moved under another parent: the figures stay those of an
    independent count after each."""
    w = distribution_world
    city = actor_for(w.city_admin, R.HR_ADMIN, w.city)

    def person(name):
        return db.session.scalar(select(Person).where(Person.name == name))

    person("甲医甲").title_level = "中级"
    person("甲医乙").vocational_qualifications = "执业药师,新资格"
    db.session.commit()
    check_all(city, w.city)
    person("分院甲").unit_id = w.other_unit.id  # a transfer
    db.session.commit()
    check_all(city, w.city)
    check_all(city, w.other_district)
    gone = db.session.scalar(select(Membership).where(Membership.user_id == person("甲医丙").user_id))
    gone.state = "removed"  # no longer staff
    db.session.commit()
    assert not person("甲医丙").is_staff
    check_all(city, w.city)
    # the department (with its unit and sub-unit) moves to the other district
    org_flow.rewrite_subtree(db.session.get(Org, w.dept.id), db.session.get(Org, w.other_district.id))
    db.session.commit()
    for org in (w.city, w.district, w.other_district, w.dept, w.unit):
        check_all(city, db.session.get(Org, org.id))
    new = make_person("新人", db.session.get(Org, w.sub_unit.id))
    person_of(new).title_series = "统计"
    db.session.commit()
    check_all(city, db.session.get(Org, w.other_district.id))
    if db.engine.dialect.name == "postgresql":  # the changes of each transaction were summed at its commit
        assert db.session.scalar(text("SELECT count(*) FROM staff_tally_delta")) == 0


def test_many_changes_in_one_transaction(distribution_world):
    """An import's shape: many staff changed before one commit (PostgreSQL sums them into the tally at commit)."""
    w = distribution_world
    for i in range(30):
        person = person_of(make_person(f"批量{i}", db.session.get(Org, w.sub_unit.id)))
        person.title_series, person.title_level = "统计", ("初级", "中级", "正高级")[i % 3]
        person.vocational_qualifications = "统计师" if i % 2 else None
    for person in db.session.scalars(select(Person).where(Person.name.like("甲医%"))):
        person.unit_id = w.other_unit.id
    db.session.commit()
    check_all(actor_for(w.city_admin, R.HR_ADMIN, w.city), db.session.get(Org, w.city.id))
    titles = {i.value: i for i in dist.titles(actor_for(w.city_admin, R.HR_ADMIN, w.city)).items}
    assert titles["统计"].staff == 30 and titles["统计"].grades["senior"] == 10


def test_the_statements_do_not_grow_with_the_people(distribution_world):
    from tests.helpers import statements
    w = distribution_world
    actor = actor_for(w.city_admin, R.HR_ADMIN, w.city)
    with statements() as seen:
        for compute in (dist.org_counts, dist.titles, dist.industries, dist.qualifications):
            compute(actor)
    assert not [q for q in seen if re.search(r"\bFROM person\b", q)]  # the tally only, never the people
    assert len(seen) <= 16


def test_scope_of_the_workflow(distribution_world):
    w = distribution_world
    unit_actor = actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit)
    for compute in (dist.org_counts, dist.titles, dist.industries, dist.qualifications):
        for org in (w.dept, w.other_unit, w.city, w.base, 999999, "x"):
            with pytest.raises(stats.OutOfScope):
                compute(unit_actor, getattr(org, "id", org))
    own = dist.org_counts(unit_actor)
    assert orgs_of(own) == {None: [0, 0, 0, 5], w.sub_unit.id: [0, 1, 0, 2]}


# ------------------------------------------------------------------ through the pages

def _cells(html: str, cls: str) -> dict:
    """data-org / data-value of each row -> its figures as a person reads them."""
    out = {}
    for key, body in re.findall(r'<tr class="distribution-row" data-(?:org|value)="([^"]*)">(.*?)</tr>', html, re.S):
        out[key] = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r'<td class="num[^"]*">(.*?)</td>', body,
                                                                            re.S)]
    return out


def test_pages_tables_charts_and_links(distribution_world, client):
    w = distribution_world
    log_in(client, w.district_admin.username, R.HR_ADMIN.value)
    html = page(client.get("/statistics/orgs"))
    assert _cells(html, "")[str(w.dept.id)] == ["1", "2", "0", "8"]
    assert zh("Org and staff statistics") in html and zh("Competent departments") in html
    assert 'id="distribution-chart-data"' in html and "/static/vendor/echarts/echarts.min.js" in html
    assert "<script>" not in html
    assert f'href="/statistics/orgs?org={w.dept.id}"' in html
    html = page(client.get("/statistics/titles"))
    assert _cells(html, "")["卫生技术"] == ["1", "1", "2", "1", "1", "0", "4"]
    # a figure opens the staff list of exactly its people
    link = re.search(r'<td class="num senior"><a href="([^"]+)">2</a>', html).group(1)
    listed = page(client.get(link))
    assert "甲医甲" in listed and "甲医乙" in listed and "甲医丙" not in listed and "非在册人员" not in listed
    link = re.search(r'<td class="num senior_正高级"><a href="([^"]+)">1</a>', html).group(1)
    listed = page(client.get(link))
    assert "甲医甲" in listed and "甲医乙" not in listed
    html = page(client.get(f"/statistics/qualifications?org={w.unit.id}"))
    link = re.search(r'data-value="执业医师">.*?<a href="([^"]+)">4</a>', html, re.S).group(1)
    listed = page(client.get(link))
    assert all(n in listed for n in ("甲医甲", "甲医乙", "甲医丙", "分院乙")) and "分院甲" not in listed
    html = page(client.get("/statistics/industries"))
    assert _cells(html, "")["卫生健康"] == ["2", "7"]
    link = re.search(r'data-value="卫生健康">.*?<a href="([^"]+)">7</a>', html, re.S).group(1)
    listed = page(client.get(link))
    assert "分院乙" in listed and "卫健局甲" not in listed


def test_the_staff_list_filter_never_reaches_outside_the_scope(distribution_world, client):
    w = distribution_world
    log_in(client, w.unit_admin.username, R.UNIT_ADMIN.value)
    from app.views.admin import staff_list_url
    with client.application.test_request_context():
        outside = staff_list_url(w.other_unit.id)
        inside = staff_list_url(w.sub_unit.id)
    response = client.get(outside)
    assert response.status_code == 200 and "乙校甲" not in page(response)
    assert "分院甲" in page(client.get(inside)) and "甲医甲" not in page(client.get(inside))
    assert client.get(outside.replace(str(w.other_unit.id), "abc")).status_code == 400
    assert client.get("/staff/list/?_flt_2_title_level=senior").status_code == 400  # groups by their Chinese name
    assert client.get("/staff/list/?_flt_2_title_level=高级").status_code == 200
    assert client.get("/staff/list/?_flt_1_unit_id=" + "业" * 31).status_code == 400


@pytest.mark.parametrize("name", PAGES)
def test_export_of_each_page(distribution_world, client, name):
    w = distribution_world
    log_in(client, w.city_admin.username, R.HR_ADMIN.value)
    response = client.get(f"/statistics/{name}/export?org={w.district.id}")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    total = rows[-1]
    if name == "orgs":
        assert rows[0][0] == zh("Organisation") and total[1:] == (1, 2, 0, 8)
    elif name == "titles":
        assert total[-1] == 8 and rows[0][0] == zh("Title series")
    elif name == "industries":
        assert total[1:] == (2, 8)
    else:
        assert {r[0]: r[1] for r in rows[1:-1]}["执业医师"] == 4 and total[1] == 8
    assert all("乙校" not in str(c) for row in rows for c in row)


@pytest.mark.parametrize("name", PAGES)
def test_other_orgs_are_not_found_page_and_export(distribution_world, client, name):
    w = distribution_world
    log_in(client, w.district_admin.username, R.HR_ADMIN.value)
    for org in (w.other_district.id, w.other_unit.id, w.city.id, w.base.id, 999999, "abc", 2 ** 40):
        assert client.get(f"/statistics/{name}?org={org}").status_code == 404, org
        assert client.get(f"/statistics/{name}/export?org={org}").status_code == 404, org
    html = page(client.get(f"/statistics/{name}"))
    assert w.other_district.name not in html and w.other_unit.name not in html and "乙校" not in html


@pytest.mark.parametrize("name", PAGES)
def test_professionals_bases_and_platform_roles_are_refused(distribution_world, client, name):
    w = distribution_world
    assert is_login_redirect(client.get(f"/statistics/{name}"))
    for who, role in (("base_admin", R.BASE_ADMIN), ("support", R.SUPPORT), ("auditor", R.AUDITOR)):
        with client.session_transaction() as session:
            session.clear()
        log_in(client, getattr(w, who).username, role.value)
        assert client.get(f"/statistics/{name}").status_code == 403, who
        assert client.get(f"/statistics/{name}/export").status_code == 403, who
    with client.session_transaction() as session:
        session.clear()
    log_in(client, make_person("普通专技人员", w.unit).username, R.PROFESSIONAL.value)
    assert client.get(f"/statistics/{name}").status_code == 403


def test_menu_of_admins(distribution_world, client):
    log_in(client, distribution_world.unit_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get("/home/"))
    for label in ("Org and staff statistics", "Title statistics", "Industry statistics", "Qualification statistics"):
        assert zh(label) in html


def test_a_district_in_a_new_branch_counts_its_orgs(distribution_world):
    """A department and a base made after the people: the org counts are read live."""
    w = distribution_world
    make_org(OrgKind.DEPARTMENT, "乙区教育局", w.other_district)
    result = dist.org_counts(actor_for(w.city_admin, R.HR_ADMIN, w.city))
    row = next(r for r in result.rows if r.org and r.org.id == w.other_district.id)
    assert (row.departments, row.units, row.staff) == (1, 1, 2)
