"""The generated lists' search and paging at scale: "starts with" keeps FAB's meaning (case-insensitive where a
letter has a case) while an index can serve it; the staff list offers only the searches an index serves; a page is
chosen by its ids and shown in their order; custom lists load what each row shows with the page."""
from __future__ import annotations

import re


from app.models import OrgKind, RoleName
from app.workflows import dashboard
from tests import factories
from tests.helpers import login, page, statements, zh

R = RoleName




def staff(world, *names):
    for name in names:
        factories.make_account(name, [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)


def city(app, world):
    client = app.test_client()
    login(client, world.city_admin.username, role=R.HR_ADMIN.value)
    return client


def listed(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"检索[甲乙丙丁戊][一二]?", html)))  # a name shows more than once a row


def test_a_chinese_prefix_finds_exactly_the_names_that_start_with_it(app, world):
    staff(world, "检索甲一", "检索甲二", "检索乙一", "甲检索")
    html = page(city(app, world).get("/staff/list/?_flt_0_name=检索甲"))
    assert sorted(listed(html)) == ["检索甲一", "检索甲二"]


def test_equals_is_offered_and_other_text_searches_are_refused_on_the_staff_list(app, world):
    staff(world, "检索甲一", "检索甲二")
    client = city(app, world)
    assert listed(page(client.get("/staff/list/?_flt_1_name=检索甲二"))) == ["检索甲二"]
    for index in (2, 3, 9, 10, 99):  # contains, ends with …: a scan of the city; past FAB's list: an IndexError
        assert client.get(f"/staff/list/?_flt_{index}_name=检索").status_code == 400


def test_a_prefix_with_letters_stays_case_insensitive(app, world):
    factories.make_org(OrgKind.UNIT, "Abc检索单位", world.dept)
    client = app.test_client()
    login(client, world.sysadmin.username, role=R.SYSADMIN.value)
    assert "Abc检索单位" in page(client.get("/orgs/list/?_flt_0_name=aBC检索"))


def test_pages_follow_the_order_and_do_not_overlap(app, world):
    staff(world, "检索丁", "检索甲", "检索丙", "检索戊", "检索乙")
    client = city(app, world)
    base = "/staff/list/?_flt_0_name=检索&_oc_StaffModelView=name&_od_StaffModelView=asc&psize_StaffModelView=2"
    pages = [listed(page(client.get(f"{base}&page_StaffModelView={n}"))) for n in range(3)]
    assert pages[0] + pages[1] + pages[2] == sorted(["检索丁", "检索甲", "检索丙", "检索戊", "检索乙"])
    newest_first = listed(page(client.get("/staff/list/?_flt_0_name=检索")))
    assert newest_first == ["检索乙", "检索戊", "检索丙", "检索甲", "检索丁"]


def test_the_support_org_search_costs_the_same_with_few_or_many_rows(app, world):
    client = app.test_client()
    login(client, world.support.username, role=R.SUPPORT.value)
    parent = world.dept
    for i in range(3):
        parent = factories.make_org(OrgKind.UNIT, f"检索单位{i}", parent)
    with statements() as few:
        assert client.get("/support/orgs/?q=检索").status_code == 200
    for i in range(3, 30):
        parent = factories.make_org(OrgKind.UNIT, f"检索单位{i}", parent)
    with statements() as many:
        html = page(client.get("/support/orgs/?q=检索"))
    assert html.count("检索单位") >= 30
    assert len(many) == len(few)


def test_the_system_administrators_counts_per_role_are_capped(app, world, monkeypatch):
    monkeypatch.setattr(dashboard, "COUNT_CAP", 2)
    staff(world, "检索甲", "检索乙", "检索丙")
    client = app.test_client()
    login(client, world.sysadmin.username, role=R.SYSADMIN.value)
    html = page(client.get("/home/"))
    cell = re.search(r'data-role="Professional">([^<]*)<', html).group(1)
    assert cell == zh("more than %(n)s", n="2")
    assert re.search(r'data-role="SysAdmin">1<', html)
