"""U10 / D6 / H6 查询统计: 人员查询 (staff lookup with learning record and password reset) and 学时查询 (hours
lookup, exported to .xlsx), each inside the admin's subtree only: results against figures computed here from the
generated people, scope, roles without the pages, the password reset and bad input."""
from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Account, AnnualStandard, AuditLog, Membership, Region, RoleName
from app.validators import mask_id_number
from app.workflows import accounts, lookup
from tests.helpers import YEAR, credit_year, is_login_redirect, log_in, make_person, page, password_of, zh

R = RoleName
STANDARD = (30, 60, 90)   # public, professional, total of the year (the default standard, no region)

# (org attribute of the world, name, public hours, professional hours)
PEOPLE = [
    ("unit", "查询甲一", 30, 60), ("unit", "查询甲二", 10, 20), ("unit", "查询甲三", 0, 0),
    ("sub_unit", "查询分院", 40, 90),
    ("other_unit", "查询乙一", 30, 60),
]


def passed(public: int, professional: int) -> bool:
    return public >= STANDARD[0] and professional >= STANDARD[1] and public + professional >= STANDARD[2]


@pytest.fixture()
def lookup_world(fast_world):
    w = fast_world
    db.session.add(AnnualStandard(year=YEAR, region_id=None, public_min=Decimal(STANDARD[0]),
                                  professional_min=Decimal(STANDARD[1]), total_min=Decimal(STANDARD[2])))
    db.session.commit()
    people = {}
    for attr, name, public, professional in PEOPLE:
        account = make_person(name, getattr(w, attr))
        if public or professional:
            credit_year(account, public, professional)
        people[name] = account
    credit_year(people["查询甲三"], 30, 60, YEAR - 1)  # last year's hours only
    w.people = people
    return w


def client_of(app, account, role: RoleName):
    client = app.test_client()
    token = log_in(client, account.username, role.value)
    return client, token


def names_in(html: str, css_class: str) -> list[str]:
    return re.findall(rf'<tr class="{css_class}"><td><a href="[^"]*">([^<]+)</a>', html)


# ---------------------------------------------------------------- 人员查询

@pytest.mark.parametrize("who, role, expected", [
    ("unit_admin", R.UNIT_ADMIN, ["查询分院", "查询甲一", "查询甲三", "查询甲二"]),
    ("dept_admin", R.DEPT_ADMIN, ["查询分院", "查询甲一", "查询甲三", "查询甲二"]),
    ("district_admin", R.HR_ADMIN, ["查询分院", "查询甲一", "查询甲三", "查询甲二"]),
    ("city_admin", R.HR_ADMIN, ["查询乙一", "查询分院", "查询甲一", "查询甲三", "查询甲二"]),
    ("other_unit_admin", R.UNIT_ADMIN, ["查询乙一"]),
])
def test_staff_lookup_by_the_beginning_of_a_name_finds_the_subtree_only(app, lookup_world, who, role, expected):
    client, _ = client_of(app, getattr(lookup_world, who), role)
    html = page(client.get("/lookup/staff?q=查询"))
    assert sorted(names_in(html, "staff-hit")) == sorted(expected)
    assert lookup_world.people["查询甲一"].username not in html  # 证件号 masked
    if "查询甲一" in expected:
        assert mask_id_number(lookup_world.people["查询甲一"].username) in html


def test_staff_lookup_by_id_number_is_exact_and_scoped(app, lookup_world):
    client, _ = client_of(app, lookup_world.unit_admin, R.UNIT_ADMIN)
    target = lookup_world.people["查询分院"]
    html = page(client.get(f"/lookup/staff?q={target.username.lower()}"))  # a lower-case x is the same number
    assert names_in(html, "staff-hit") == ["查询分院"]
    other = lookup_world.people["查询乙一"]
    html = page(client.get(f"/lookup/staff?q={other.username}"))
    assert names_in(html, "staff-hit") == []
    assert zh("Nobody in your organisations matches this search.") in html


def test_the_learning_record_shows_each_years_hours_and_result(app, lookup_world):
    client, _ = client_of(app, lookup_world.district_admin, R.HR_ADMIN)
    for name, public, professional in (("查询甲一", 30, 60), ("查询甲二", 10, 20), ("查询分院", 40, 90)):
        html = page(client.get(f"/lookup/staff/{lookup_world.people[name].id}"))
        assert lookup_world.unit.name in html or lookup_world.sub_unit.name in html
        row = re.search(rf'data-year="{YEAR}">(.*?)</tr>', html, re.S).group(1)
        assert re.search(rf'class="num public">{public}(\.0)?<', row), row
        assert re.search(rf'class="num professional">{professional}(\.0)?<', row), row
        assert re.search(rf'class="num total">{public + professional}(\.0)?<', row), row
        assert zh("Passed" if passed(public, professional) else "Not passed") in row
    html = page(client.get(f"/lookup/staff/{lookup_world.people['查询甲三'].id}"))
    last_year = re.search(rf'data-year="{YEAR - 1}">(.*?)</tr>', html, re.S).group(1)
    assert zh("Not passed") not in last_year and re.search(r'class="num total">90(\.0)?<', last_year)


@pytest.mark.parametrize("who, role", [("unit_admin", R.UNIT_ADMIN), ("dept_admin", R.DEPT_ADMIN),
                                       ("district_admin", R.HR_ADMIN), ("other_district_admin", R.HR_ADMIN)])
def test_another_orgs_person_is_not_found(app, lookup_world, who, role):
    client, token = client_of(app, getattr(lookup_world, who), role)
    outsider = lookup_world.people["查询乙一"] if who != "other_district_admin" else lookup_world.people["查询甲一"]
    before = password_of(outsider.id)
    assert client.get(f"/lookup/staff/{outsider.id}").status_code == 404
    response = client.post(f"/lookup/staff/{outsider.id}/reset-password", data={"csrf_token": token})
    assert response.status_code == 404
    assert password_of(outsider.id) == before
    assert client.get("/lookup/staff/99999999999").status_code == 404
    assert client.get(f"/lookup/staff/{lookup_world.unit_admin.id}").status_code == 404  # an admin, no professional


@pytest.mark.parametrize("who, role", [("base_admin", R.BASE_ADMIN), ("support", R.SUPPORT),
                                       ("auditor", R.AUDITOR)])
def test_roles_without_the_lookup_are_refused(app, lookup_world, who, role):
    client, token = client_of(app, getattr(lookup_world, who), role)
    target = lookup_world.people["查询甲一"]
    before = password_of(target.id)
    for url in ("/lookup/staff?q=查询", f"/lookup/staff/{target.id}", "/lookup/hours", "/lookup/hours/export"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/lookup/staff/{target.id}/reset-password",
                       data={"csrf_token": token}).status_code == 403
    assert password_of(target.id) == before


def test_professionals_are_refused_and_visitors_sent_to_log_in(app, lookup_world):
    client, token = client_of(app, lookup_world.people["查询甲二"], R.PROFESSIONAL)
    target = lookup_world.people["查询甲一"]
    assert client.get("/lookup/staff?q=查询").status_code == 403
    assert client.get("/lookup/hours").status_code == 403
    assert client.post(f"/lookup/staff/{target.id}/reset-password", data={"csrf_token": token}).status_code == 403
    assert is_login_redirect(app.test_client().get("/lookup/staff"))


def test_the_password_reset_sets_the_last_six_characters_and_forces_a_change(app, lookup_world):
    client, token = client_of(app, lookup_world.dept_admin, R.DEPT_ADMIN)
    target = lookup_world.people["查询分院"]
    response = client.post(f"/lookup/staff/{target.id}/reset-password", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/lookup/staff/{target.id}")
    assert zh("The password was reset to the last 6 characters of the ID number; the person must change it at "
              "the next login.") in page(client.get(response.headers["Location"]))
    db.session.expire_all()
    account = db.session.get(Account, target.id)
    assert accounts.verify_password(target.username, target.username[-6:], purpose="login") is not None
    assert account.must_change_password
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "password.admin_reset",
                                                    AuditLog.object_id == target.id)) is not None


def test_the_password_reset_needs_the_forms_csrf_token(app, lookup_world):
    client, _ = client_of(app, lookup_world.unit_admin, R.UNIT_ADMIN)
    target = lookup_world.people["查询甲一"]
    before = password_of(target.id)
    assert client.post(f"/lookup/staff/{target.id}/reset-password").status_code == 400
    assert client.get(f"/lookup/staff/{target.id}/reset-password").status_code == 405
    assert password_of(target.id) == before


def test_a_fellow_admin_who_is_also_staff_keeps_the_password(app, lookup_world):
    """The accounts workflow refuses an account that administers the actor's own org, even when it is staff."""
    fellow = make_person("同级管理员", lookup_world.unit)
    db.session.add(Membership(user_id=fellow.id, role=R.UNIT_ADMIN.value, org_id=lookup_world.unit.id,
                                        state="active", is_super=False))
    db.session.commit()
    client, token = client_of(app, lookup_world.unit_admin, R.UNIT_ADMIN)
    before = password_of(fellow.id)
    assert client.get(f"/lookup/staff/{fellow.id}").status_code == 200
    assert client.post(f"/lookup/staff/{fellow.id}/reset-password", data={"csrf_token": token}).status_code == 403
    assert password_of(fellow.id) == before


@pytest.mark.parametrize("query, message", [
    ("370102199001011235", ("ID number check digit is wrong", {})),
    ("12345", ("Enter a whole ID number.", {})),
    ("张" * 41, ("This search text cannot be used: %(limit)s characters at most, no control characters.",
                {"limit": 40})),
])
def test_bad_staff_lookup_input_gets_a_chinese_message(app, lookup_world, query, message):
    client, _ = client_of(app, lookup_world.unit_admin, R.UNIT_ADMIN)
    response = client.get("/lookup/staff", query_string={"q": query})
    assert response.status_code == 400
    assert zh(message[0], **message[1]) in page(response)


# ---------------------------------------------------------------- 学时查询

def hours_rows(html: str) -> dict[str, tuple]:
    rows = {}
    for name, public, professional, total, verdict in re.findall(
            r'<tr class="hours-row"><td><a href="[^"]*">([^<]+)</a></td>.*?class="num public">([^<]+)<.*?'
            r'class="num professional">([^<]+)<.*?class="num total">([^<]+)<.*?class="result">([^<]+)<', html, re.S):
        rows[name] = (Decimal(public), Decimal(professional), Decimal(total), verdict)
    return rows


def expected_rows(names) -> dict[str, tuple]:
    out = {}
    for _attr, name, public, professional in PEOPLE:
        if name in names:
            out[name] = (Decimal(public), Decimal(professional), Decimal(public + professional),
                         zh("Passed") if passed(public, professional) else zh("Not passed"))
    return out


MINE = ["查询甲一", "查询甲二", "查询甲三", "查询分院"]


@pytest.mark.parametrize("who, role, names", [
    ("unit_admin", R.UNIT_ADMIN, MINE), ("dept_admin", R.DEPT_ADMIN, MINE), ("district_admin", R.HR_ADMIN, MINE),
    ("city_admin", R.HR_ADMIN, MINE + ["查询乙一"]), ("other_unit_admin", R.UNIT_ADMIN, ["查询乙一"]),
])
def test_hours_lookup_shows_the_years_hours_and_result_of_the_subtree(app, lookup_world, who, role, names):
    client, _ = client_of(app, getattr(lookup_world, who), role)
    response = client.get(f"/lookup/hours?year={YEAR}")
    assert response.status_code == 200
    html = page(response)
    assert hours_rows(html) == expected_rows(names)
    assert zh("%(n)s people found.", n=len(names)) in html


def test_hours_lookup_of_last_year_and_each_filter(app, lookup_world):
    client, _ = client_of(app, lookup_world.city_admin, R.HR_ADMIN)
    last = hours_rows(page(client.get(f"/lookup/hours?year={YEAR - 1}")))
    assert last["查询甲三"][:3] == (30, 60, 90) and last["查询甲一"][:3] == (0, 0, 0)
    assert set(hours_rows(page(client.get("/lookup/hours?name=查询甲")))) == {"查询甲一", "查询甲二", "查询甲三"}
    assert set(hours_rows(page(client.get("/lookup/hours?unit=甲区人民医院分")))) == {"查询分院"}
    assert set(hours_rows(page(client.get("/lookup/hours", query_string={"unit": lookup_world.unit.name})))) == \
        {"查询甲一", "查询甲二", "查询甲三", "查询分院"}  # the sub-unit's name starts with the unit's
    target = lookup_world.people["查询乙一"]
    assert set(hours_rows(page(client.get(f"/lookup/hours?id_number={target.username}")))) == {"查询乙一"}


def test_hours_lookup_by_region(app, lookup_world):
    city_region = Region(code="370100", name="测试市")
    db.session.add(city_region)
    db.session.flush()
    district_region = Region(code="370102", name="甲区", parent_id=city_region.id)
    db.session.add(district_region)
    db.session.flush()
    lookup_world.city.region_id = city_region.id
    for org in (lookup_world.district, lookup_world.dept, lookup_world.unit, lookup_world.sub_unit):
        org.region_id = district_region.id
    db.session.commit()
    client, _ = client_of(app, lookup_world.city_admin, R.HR_ADMIN)
    html = page(client.get("/lookup/hours"))
    assert 'name="region"' in html and "甲区" in html
    assert set(hours_rows(page(client.get(f"/lookup/hours?region={district_region.id}")))) == set(MINE)
    assert set(hours_rows(page(client.get(f"/lookup/hours?region={city_region.id}")))) == set()
    # a region the district admin cannot choose (its own region has no region below)
    client, _ = client_of(app, lookup_world.district_admin, R.HR_ADMIN)
    response = client.get(f"/lookup/hours?region={city_region.id}")
    assert response.status_code == 400 and zh("Choose a region from the list.") in page(response)


def test_hours_lookup_pages(app, lookup_world, monkeypatch):
    monkeypatch.setattr(lookup, "PAGE_SIZE", 2)
    client, _ = client_of(app, lookup_world.city_admin, R.HR_ADMIN)
    seen = []
    for number in (1, 2, 3):
        html = page(client.get(f"/lookup/hours?page={number}"))
        seen += list(hours_rows(html))
        assert (zh("Next page") in html) == (number < 3)
    assert sorted(seen) == sorted(MINE + ["查询乙一"])


def test_hours_lookup_exports_the_filtered_list(app, lookup_world):
    client, _ = client_of(app, lookup_world.district_admin, R.HR_ADMIN)
    html = page(client.get("/lookup/hours?name=查询甲"))
    assert "/lookup/hours/export?" in html
    response = client.get(f"/lookup/hours/export?year={YEAR}&name=查询甲")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(response.get_data())).worksheets[0].iter_rows()]
    assert rows[0] == [zh(label) for label in ("Name", "ID number", "Unit", "Public subject hours",
                                               "Professional subject hours", "Total hours", "Result")]
    got = {r[0]: r for r in rows[1:]}
    assert set(got) == {"查询甲一", "查询甲二", "查询甲三"}
    first = got["查询甲一"]
    assert first[1] == mask_id_number(lookup_world.people["查询甲一"].username)
    assert first[2] == lookup_world.unit.name and first[3:6] == [30, 60, 90] and first[6] == zh("Passed")
    assert got["查询甲二"][6] == zh("Not passed")


def test_hours_export_of_another_district_has_none_of_it(app, lookup_world):
    client, _ = client_of(app, lookup_world.other_district_admin, R.HR_ADMIN)
    response = client.get("/lookup/hours/export")
    names = [r[0].value for r in load_workbook(io.BytesIO(response.get_data())).worksheets[0].iter_rows()][1:]
    assert names == ["查询乙一"]


@pytest.mark.parametrize("query, message", [
    ("year=abc", ("Please choose a year from %(low)s to %(high)s.", "years")),
    ("year=1900", ("Please choose a year from %(low)s to %(high)s.", "years")),
    (f"year={YEAR + 1}", ("Please choose a year from %(low)s to %(high)s.", "years")),
    ("id_number=370102199001011235", ("ID number check digit is wrong", None)),
    ("id_number=ab", ("Enter a whole ID number.", None)),
    ("page=99999999999999999999", ("This page number cannot be used.", None)),
    ("page=0", ("This page number cannot be used.", None)),
    ("page=51", ("Only the first %(n)s pages are shown: narrow the search, or export the list.", "pages")),
    ("region=99999999999999999999", ("Choose a region from the list.", None)),
])
def test_bad_hours_lookup_input_gets_a_chinese_message(app, lookup_world, query, message):
    client, _ = client_of(app, lookup_world.district_admin, R.HR_ADMIN)
    msgid, args = message
    low, high = lookup.year_range()
    kwargs = {"years": {"low": low, "high": high}, "pages": {"n": lookup.MAX_PAGES}, None: {}}[args]
    for url in (f"/lookup/hours?{query}", f"/lookup/hours/export?{query}"):
        if "page=" in query and "export" in url:
            continue  # an export has no pages
        response = client.get(url)
        assert response.status_code == 400, url
        assert zh(msgid, **kwargs) in page(response), url


@pytest.mark.parametrize("who, role, shown", [
    ("unit_admin", R.UNIT_ADMIN, True), ("dept_admin", R.DEPT_ADMIN, True), ("city_admin", R.HR_ADMIN, True),
    ("base_admin", R.BASE_ADMIN, False), ("support", R.SUPPORT, False),
])
def test_the_lookups_are_in_the_queries_and_statistics_menu_of_the_org_admins(app, fast_world, who, role, shown):
    client, _ = client_of(app, getattr(fast_world, who), role)
    html = page(client.get("/home/"))
    for href, label in (("/lookup/staff", "Staff lookup"), ("/lookup/hours", "Hours lookup")):
        assert (f'href="{href}"' in html) == shown, href
        assert (zh(label) in html) == shown, label
    assert (zh("Queries and statistics") in html) == shown
