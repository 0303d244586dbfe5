"""The distribution statistics of a past year (年度统计快照): a snapshot equals an independent count of the people
at the time it is taken, stays as it was while the staff change (the live page follows them), is replaced when
taken again; a year without a snapshot says so; a year the statistics do not cover is refused (400); the scope is
that of today for a past year too; the year carries through the drill-down, the chart and the export; a past
year's figures link to no list of people; the CLI command and the scheduler's job take it."""
from __future__ import annotations

import io
import re
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import Membership, Org, OrgKind, Person, RoleName, StaffTallySnapshot, StaffTallyYear
from app.workflows import distribution as dist
from app.workflows import orgs as org_flow
from app.workflows import stat_snapshots
from app.workflows import statistics as stats
from tests.factories import actor_for, make_org
from tests.helpers import (expected_industries, expected_orgs, expected_qualifications, expected_titles, log_in,
                           make_person, orgs_of, page, person_of, staff_under, statements, titles_of, zh)

R = RoleName
PAGES = ("orgs", "titles", "industries", "qualifications")

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def last_year() -> int:
    return clock.today().year - 1


def figures(actor, org: Org, year=None) -> dict:
    """Every figure of the four pages of `org` for `year` (None: this year)."""
    titles = dist.titles(actor, org.id, year)
    quals = dist.qualifications(actor, org.id, year)
    industries = dist.industries(actor, org.id, year)
    orgs = dist.org_counts(actor, org.id, year)
    return {
        "titles": (titles_of(titles), titles.total.staff),
        "qualifications": ({i.value: i.staff for i in quals.items}, quals.total.staff),
        "industries": ({i.value: [i.units, i.staff] for i in industries.items},
                       (industries.total.units, industries.total.staff)),
        "orgs": ({k: v for k, v in orgs_of(orgs).items() if any(v)},
                 (orgs.total.departments, orgs.total.units, orgs.total.bases, orgs.total.staff)),
        "drill": sorted((c.id, n) for c, n in titles.children),
    }


def expected(org: Org) -> dict:
    """The same figures counted independently from the rows of the database as they are now."""
    staff = len(staff_under(org))
    industries = expected_industries(org)
    orgs = {k: v for k, v in expected_orgs(org).items() if any(v)}
    below = [o for o in db.session.scalars(select(Org)) if o.path.startswith(org.path) and o.id != org.id
             and o.state == "active"]
    return {
        "titles": (expected_titles(org), staff),
        "qualifications": (dict(expected_qualifications(org)), staff),
        "industries": (industries, (sum(v[0] for v in industries.values()), sum(v[1] for v in industries.values()))),
        "orgs": (orgs, (*(sum(o.kind == k for o in below) for k in ("department", "unit", "base")), staff)),
    }


def without_drill(found: dict) -> dict:
    return {k: v for k, v in found.items() if k != "drill"}


def levels(w) -> list[Org]:
    return [db.session.get(Org, o.id) for o in (w.city, w.district, w.other_district, w.dept, w.unit, w.sub_unit,
                                                w.other_unit)]


def person(name: str) -> Person:
    return db.session.scalar(select(Person).where(Person.name == name))


# ------------------------------------------------------------------ the workflow

def test_snapshot_equals_the_count_at_the_time_and_keeps_it(distribution_world):
    w = distribution_world
    city = actor_for(w.city_admin, R.HR_ADMIN, w.city)
    year = last_year()
    snapshot = stat_snapshots.take_snapshot(year)
    assert snapshot.year == year and snapshot.rows > 0
    kept = {}
    for org in levels(w):
        kept[org.id] = figures(city, org, year)
        assert without_drill(kept[org.id]) == expected(org), org.name
        assert kept[org.id] == figures(city, org), org.name  # the live page of the same moment
    # the staff change: a title, qualifications, a transfer, someone leaves, a newcomer, a new department, a move
    person("甲医甲").title_level = "中级"
    person("甲医乙").vocational_qualifications = "执业药师,新资格"
    person("分院甲").unit_id = w.other_unit.id
    db.session.commit()
    gone = db.session.scalar(select(Membership).where(Membership.user_id == person("甲医丙").user_id))
    gone.state = "removed"
    db.session.commit()
    person_of(make_person("新人", db.session.get(Org, w.sub_unit.id))).title_series = "统计"
    db.session.get(Org, w.other_unit.id).industry = "金融"
    db.session.commit()
    make_org(OrgKind.DEPARTMENT, "乙区教育局", db.session.get(Org, w.other_district.id))
    org_flow.rewrite_subtree(db.session.get(Org, w.dept.id), db.session.get(Org, w.other_district.id))
    db.session.commit()
    for org in levels(w):
        assert without_drill(figures(city, org)) == expected(org), org.name  # the live page follows
        assert figures(city, org, year) == kept[org.id], org.name  # the past year does not
    assert kept[w.district.id]["orgs"][0][w.dept.id] == [1, 2, 0, 8]  # the department was the district's then
    assert w.dept.id not in figures(city, db.session.get(Org, w.district.id))["orgs"][0]
    # taken again, the year holds the figures of now, once
    before = db.session.scalar(select(StaffTallySnapshot.taken_at).where(StaffTallySnapshot.year == year))
    again = stat_snapshots.take_snapshot(str(year))
    assert again.taken_at >= before
    for org in levels(w):
        assert without_drill(figures(city, org, year)) == expected(org), org.name
    assert db.session.scalar(select(func.count()).select_from(StaffTallyYear).where(StaffTallyYear.year == year)) \
        == again.rows
    assert db.session.scalar(select(func.count()).select_from(StaffTallySnapshot)) == 1


def test_other_years_are_untouched(distribution_world):
    w = distribution_world
    city = actor_for(w.city_admin, R.HR_ADMIN, w.city)
    stat_snapshots.take_snapshot(last_year() - 1)
    older = figures(city, w.city, last_year() - 1)
    person("甲医甲").title_series = "统计"
    db.session.commit()
    stat_snapshots.take_snapshot(last_year())
    assert figures(city, w.city, last_year() - 1) == older
    assert figures(city, w.city, last_year()) != older
    assert stat_snapshots.snapshot_years(2000, 3000) == {last_year(), last_year() - 1}


def test_years_without_snapshot_and_years_not_covered(distribution_world):
    w = distribution_world
    city = actor_for(w.city_admin, R.HR_ADMIN, w.city)
    for compute in (dist.org_counts, dist.titles, dist.industries, dist.qualifications):
        with pytest.raises(dist.NoSnapshot) as missing:
            compute(city, w.district.id, last_year())
        assert missing.value.year == last_year() and missing.value.org.id == w.district.id
        low, high = stats.year_range()
        for year in (low - 1, high + 1, "abc", "2025.5", " ", "1e3", 10 ** 30):
            with pytest.raises(stats.BadYear):
                compute(city, None, year)
        compute(city, None, high)  # this year: the live figures, no snapshot needed
        compute(city, None, "")
    for year in ("abc", clock.today().year + 1, 1900):
        with pytest.raises(stats.BadYear):
            stat_snapshots.take_snapshot(year)
    assert db.session.scalar(select(func.count()).select_from(StaffTallyYear)) == 0


def test_scope_of_a_past_year(distribution_world):
    w = distribution_world
    stat_snapshots.take_snapshot(last_year())
    unit_actor = actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit)
    for compute in (dist.org_counts, dist.titles, dist.industries, dist.qualifications):
        for org in (w.dept, w.other_unit, w.city, w.base, 999999, "x"):
            with pytest.raises(stats.OutOfScope):
                compute(unit_actor, getattr(org, "id", org), last_year())
            with pytest.raises(stats.OutOfScope):  # a year without snapshot tells nothing either
                compute(unit_actor, getattr(org, "id", org), last_year() - 1)
    assert orgs_of(dist.org_counts(unit_actor, None, last_year())) == {None: [0, 0, 0, 5],
                                                                        w.sub_unit.id: [0, 1, 0, 2]}


def test_a_past_page_reads_a_few_rows(distribution_world):
    w = distribution_world
    stat_snapshots.take_snapshot(last_year())
    actor = actor_for(w.city_admin, R.HR_ADMIN, w.city)
    with statements() as seen:
        for compute in (dist.org_counts, dist.titles, dist.industries, dist.qualifications):
            compute(actor, None, last_year())
    assert not [q for q in seen if re.search(r"\bFROM (person|staff_tally)\b", q)]
    assert len(seen) <= 20


def test_the_scheduler_job_keeps_last_year(distribution_world):
    assert stat_snapshots.snapshot_last_year() == last_year()
    assert db.session.get(StaffTallySnapshot, last_year()) is not None


# ------------------------------------------------------------------ through the pages

def _rows(html: str) -> dict:
    out = {}
    for key, body in re.findall(r'<tr class="distribution-row" data-(?:org|value)="([^"]*)">(.*?)</tr>', html, re.S):
        out[key] = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r'<td class="num[^"]*">(.*?)</td>', body,
                                                                            re.S)]
    return out


def test_pages_of_a_past_year(distribution_world, client):
    w = distribution_world
    year = last_year()
    stat_snapshots.take_snapshot(year)
    person("甲医甲").unit_id = w.other_unit.id  # after the snapshot: today's figures differ
    db.session.commit()
    log_in(client, w.district_admin.username, R.HR_ADMIN.value)
    html = page(client.get("/statistics/orgs"))
    assert _rows(html)[str(w.dept.id)] == ["1", "2", "0", "7"]
    assert f'<option value="{year}">{year}</option>' in html  # a year with a snapshot
    assert f'<option value="{year - 1}">{zh("%(year)s (no snapshot)", year=year - 1)}</option>' in html
    html = page(client.get(f"/statistics/orgs?year={year}"))
    assert _rows(html)[str(w.dept.id)] == ["1", "2", "0", "8"]
    assert f'href="/statistics/orgs?org={w.dept.id}&year={year}"' in html  # the drill-down keeps the year
    assert "/staff/list/?" not in html  # who was counted then is not kept: no list behind the figures
    assert zh("The figures of %(year)s as kept on %(date)s (the year's snapshot). Who was counted then is not "
              "kept: the figures of a past year open no list of people.", year=year, date="X").split("X")[0] in html
    assert f'/statistics/orgs/export?year={year}' in html
    opens = zh("Per organisation one level below: the competent departments, units and training bases of its subtree "
               "(itself included) and its professionals. Every figure of professionals opens the list of those people.")
    assert opens not in html and opens in page(client.get("/statistics/orgs"))
    chart = re.search(r'id="distribution-chart-data">(.*?)</script>', html, re.S).group(1)
    assert str(year) in chart
    html = page(client.get(f"/statistics/titles?year={year}&org={w.dept.id}"))
    assert _rows(html)["卫生技术"] == ["1", "1", "2", "1", "1", "0", "4"]
    assert f'href="/statistics/titles?org={w.district.id}&year={year}"' in html  # breadcrumbs keep it too
    assert f'<option value="{year}" selected>' in html
    assert "/staff/list/?" not in html
    html = page(client.get(f"/statistics/titles?org={w.dept.id}"))  # today: 甲医甲 has left the department
    assert _rows(html)["卫生技术"] == ["1", "1", "1", "1", "0", "0", "3"] and "/staff/list/?" in html
    html = page(client.get(f"/statistics/industries?year={year}"))
    assert _rows(html)["卫生健康"] == ["2", "7"]
    html = page(client.get(f"/statistics/qualifications?year={year}&org={w.unit.id}"))
    assert re.search(r'data-value="执业医师">.*?<td class="num staff">4</td>', html, re.S)


@pytest.mark.parametrize("name", PAGES)
def test_a_year_without_snapshot_says_so(distribution_world, client, name):
    w = distribution_world
    log_in(client, w.district_admin.username, R.HR_ADMIN.value)
    response = client.get(f"/statistics/{name}?year={last_year()}")
    html = page(response)
    message = zh("No statistics snapshot was kept for %(year)s, so its figures are not known. A year's figures are "
                 "kept when it ends (on 1 January), from then on.", year=last_year())
    assert response.status_code == 200 and message in html
    assert "distribution-table" not in html and "distribution-chart-data" not in html
    response = client.get(f"/statistics/{name}/export?year={last_year()}")
    assert response.status_code == 404 and message in page(response)


@pytest.mark.parametrize("name", PAGES)
def test_bad_years_are_refused(distribution_world, client, name):
    w = distribution_world
    log_in(client, w.district_admin.username, R.HR_ADMIN.value)
    low, high = stats.year_range()
    message = zh("Please choose a year from %(low)s to %(high)s.", low=low, high=high)
    for year in ("abc", low - 1, high + 1, "2025-1", "9" * 40):
        for url in (f"/statistics/{name}?year={year}", f"/statistics/{name}/export?year={year}"):
            response = client.get(url)
            assert response.status_code == 400 and message in page(response), url
    assert client.get(f"/statistics/{name}?year=%00").status_code == 400  # refused before the page
    assert client.get(f"/statistics/{name}?year={high}").status_code == 200


@pytest.mark.parametrize("name", PAGES)
def test_other_orgs_are_not_found_in_a_past_year(distribution_world, client, name):
    w = distribution_world
    stat_snapshots.take_snapshot(last_year())
    log_in(client, w.district_admin.username, R.HR_ADMIN.value)
    for year in (last_year(), last_year() - 1):
        for org in (w.other_district.id, w.other_unit.id, w.city.id, w.base.id, 999999, "abc"):
            assert client.get(f"/statistics/{name}?org={org}&year={year}").status_code == 404, (org, year)
            assert client.get(f"/statistics/{name}/export?org={org}&year={year}").status_code == 404, (org, year)
    html = page(client.get(f"/statistics/{name}?year={last_year()}"))
    assert w.other_district.name not in html and w.other_unit.name not in html and "乙校" not in html


@pytest.mark.parametrize("name", PAGES)
def test_export_of_a_past_year(distribution_world, client, name):
    w = distribution_world
    year = last_year()
    stat_snapshots.take_snapshot(year)
    person("甲医甲").unit_id = w.other_unit.id
    db.session.commit()
    log_in(client, w.city_admin.username, R.HR_ADMIN.value)
    response = client.get(f"/statistics/{name}/export?org={w.district.id}&year={year}")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert f"-{year}-" in unquote(response.headers["Content-Disposition"])
    rows = [tuple(row) for row in load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)]
    total = rows[-1]
    if name == "orgs":
        assert total[1:] == (1, 2, 0, 8)
    elif name == "titles":
        assert total[-1] == 8
    elif name == "industries":
        assert total[1:] == (2, 8)
    else:
        assert {r[0]: r[1] for r in rows[1:-1]}["执业医师"] == 4 and total[1] == 8
    live = client.get(f"/statistics/{name}/export?org={w.district.id}")
    assert f"-{year + 1}-" in unquote(live.headers["Content-Disposition"])
    live_total = [tuple(r) for r in load_workbook(io.BytesIO(live.data)).active.iter_rows(values_only=True)][-1]
    assert live_total[-1] == 7  # today 甲医甲 is in the other district


# ------------------------------------------------------------------ the CLI command

def test_the_cli_command(distribution_world, app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["stats-snapshot", "--year", str(last_year())])
    assert result.exit_code == 0, result.output
    assert f"statistics snapshot of {last_year()} taken" in result.output
    city = actor_for(distribution_world.city_admin, R.HR_ADMIN, distribution_world.city)
    assert without_drill(figures(city, distribution_world.city, last_year())) == expected(distribution_world.city)
    result = runner.invoke(args=["stats-snapshot"])  # default: last year, again (replaced)
    assert result.exit_code == 0 and str(last_year()) in result.output
    for bad in ("abc", str(clock.today().year + 1)):
        result = runner.invoke(args=["stats-snapshot", "--year", bad])
        assert result.exit_code != 0 and "choose a year" in result.output
    assert stat_snapshots.snapshot_years(0, 10 ** 4) == {last_year()}
