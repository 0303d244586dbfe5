"""X7 / T9 / T11: every admin list exports to .xlsx with its current filters and scope; formula-looking text stays
text; 证件号 are masked as on the page; the export has exactly the permission of its list."""
from __future__ import annotations

import io
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook

from app.models import OrgKind, RoleName
from app.validators import mask_id_number
from app.workflows import export
from tests import factories
from tests.helpers import is_login_redirect, login, make_declaration, make_person, page, person_of, register, zh

R = RoleName
FORMULA = '=HYPERLINK("http://x","y")'
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def client_of(app, account, role: RoleName):
    client = app.test_client()
    login(client, account.username, role=role.value)
    return client


def sheet(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype == XLSX
    workbook = load_workbook(io.BytesIO(response.get_data()))
    return workbook.worksheets[0]


def rows_of(response) -> list[list]:
    return [[cell.value for cell in row] for row in sheet(response).iter_rows()]


def column(rows: list[list], label: str) -> list:
    index = rows[0].index(label)
    return [row[index] for row in rows[1:]]


def no_live_formula(ws) -> None:
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)


# ------------------------------------------------------------------ generated lists

def test_staff_export_has_chinese_headers_the_scope_and_masked_id_numbers(app, world):
    mine = make_person("导出甲一", world.unit)
    make_person("导出甲二", world.sub_unit)
    make_person("导出乙一", world.other_unit)
    rows = rows_of(client_of(app, world.district_admin, R.HR_ADMIN).get("/staff/export/"))
    assert rows[0] == [zh("Name"), zh("ID number"), zh("Unit"), zh("Department"), zh("Title series"),
                       zh("Title level")]
    names = column(rows, zh("Name"))
    assert sorted(names) == ["导出甲一", "导出甲二"]  # never the other district's staff
    numbers = column(rows, zh("ID number"))
    assert mask_id_number(mine.username) in numbers
    assert mine.username not in numbers and all("*" in n for n in numbers)
    assert world.unit.name in column(rows, zh("Unit"))  # a relation as its text
    # the other district's admin gets theirs only
    other = rows_of(client_of(app, world.other_district_admin, R.HR_ADMIN).get("/staff/export/"))
    assert column(other, zh("Name")) == ["导出乙一"]


def test_a_search_and_an_order_narrow_the_export_exactly_like_the_list(app, world):
    for name in ("检出甲一", "检出甲二", "检出乙一", "甲检出"):
        make_person(name, world.unit)
    client = client_of(app, world.city_admin, R.HR_ADMIN)
    args = "_flt_0_name=检出甲&_oc_StaffModelView=name&_od_StaffModelView=desc"
    listed = page(client.get(f"/staff/list/?{args}"))
    names = column(rows_of(client.get(f"/staff/export/?{args}")), zh("Name"))
    assert names == ["检出甲二", "检出甲一"]
    assert all(name in listed for name in names) and "检出乙一" not in listed and "甲检出" not in listed
    assert column(rows_of(client.get("/staff/export/?_flt_1_name=检出乙一")), zh("Name")) == ["检出乙一"]


def test_the_list_page_links_to_its_export_with_the_current_query(app, world):
    client = client_of(app, world.city_admin, R.HR_ADMIN)
    html = page(client.get("/staff/list/?_flt_0_name=检出甲"))
    assert zh("Export to Excel") in html
    assert 'href="/staff/export/?_flt_0_name=' in html
    assert client.get("/orgs/list/").status_code == 200 and zh("Export to Excel") in page(client.get("/orgs/list/"))


def test_formula_looking_names_come_out_as_text(app, world):
    factories.make_org(OrgKind.UNIT, "+SUM(1,2)单位", world.district)
    factories.make_org(OrgKind.UNIT, "@cmd|' /C calc'!A0", world.district)
    make_person(FORMULA, world.unit)
    make_person("-2+3", world.unit)
    make_person("#N/A", world.unit)  # an error code is text too
    client = client_of(app, world.city_admin, R.HR_ADMIN)
    ws = sheet(client.get("/staff/export/"))
    no_live_formula(ws)
    cells = {cell.value: cell for row in ws.iter_rows() for cell in row}
    for text in (FORMULA, "-2+3"):
        assert cells[text].data_type == "s" and cells[text].quotePrefix, text
    assert cells["#N/A"].data_type == "s"
    org_ws = sheet(client.get("/orgs/export/"))
    no_live_formula(org_ws)
    org_names = {cell.value: cell for row in org_ws.iter_rows() for cell in row}
    assert org_names["+SUM(1,2)单位"].quotePrefix and org_names["@cmd|' /C calc'!A0"].quotePrefix
    assert not org_names[world.unit.name].quotePrefix  # ordinary text is left alone


def test_the_file_name_is_chinese_in_rfc_5987_form(app, world):
    response = client_of(app, world.city_admin, R.HR_ADMIN).get("/staff/export/")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    name = unquote(disposition.split("filename*=UTF-8''")[1])
    assert name.startswith(zh("Staff")) and name.endswith(".xlsx")
    assert "no-store" in response.headers["Cache-Control"]


def test_the_row_cap_ends_the_sheet_with_a_note(app, world, monkeypatch):
    for i in range(5):
        make_person(f"封顶{'一二三四五'[i]}", world.unit)
    monkeypatch.setattr(export, "ROW_CAP", 3)
    monkeypatch.setattr(export, "BATCH", 2)  # several batches, and a batch boundary at the cap
    rows = rows_of(client_of(app, world.city_admin, R.HR_ADMIN).get("/staff/export/"))
    assert len(rows) == 1 + 3 + 1
    assert rows[-1][0] == zh("The export stops at %(n)s rows: narrow the filters to export the rest.", n="3")


def test_bad_arguments_are_refused_as_on_the_list(app, world):
    client = client_of(app, world.city_admin, R.HR_ADMIN)
    for args in ("_oc_StaffModelView=password", "_flt_0_unit=abc", "_flt_7_name=x", "psize_StaffModelView=-1"):
        assert client.get(f"/staff/list/?{args}").status_code == 400, args
        assert client.get(f"/staff/export/?{args}").status_code == 400, args


def test_roles_without_the_list_are_refused_and_anonymous_goes_to_login(app, world):
    assert is_login_redirect(app.test_client().get("/staff/export/"))
    assert is_login_redirect(app.test_client().get("/review/registrations/export"))
    assert is_login_redirect(app.test_client().get("/review/declarations/export"))
    assert client_of(app, world.auditor, R.AUDITOR).get("/staff/export/").status_code == 403
    assert client_of(app, world.base_admin, R.BASE_ADMIN).get("/orgs/export/").status_code == 403
    assert client_of(app, world.city_admin, R.HR_ADMIN).get("/audit/export/").status_code == 403
    assert client_of(app, world.support, R.SUPPORT).get("/review/registrations/export").status_code == 403
    assert client_of(app, world.sysadmin, R.SYSADMIN).get("/review/declarations/export").status_code == 403


# ------------------------------------------------------------------ review queues

def test_registration_queue_export_keeps_its_tab_filters_and_scope(app, world, monkeypatch):
    monkeypatch.setattr(export, "BATCH", 1)  # the queue read in batches of one
    mine = register(world.unit, "待审甲一")
    register(world.unit, "待审甲二")
    register(world.other_unit, "待审乙一")
    client = client_of(app, world.unit_admin, R.UNIT_ADMIN)
    rows = rows_of(client.get("/review/registrations/export"))
    assert rows[0][:4] == [zh("Submitted"), zh("Kind"), zh("Applicant"), zh("ID number")]
    assert sorted(column(rows, zh("Applicant"))) == ["待审甲一", "待审甲二"]
    assert mask_id_number(mine.user.username) in column(rows, zh("ID number"))
    assert mine.user.username not in column(rows, zh("ID number"))
    assert column(rows_of(client.get("/review/registrations/export?q=甲二")), zh("Applicant")) == ["待审甲二"]
    assert len(rows_of(client.get("/review/registrations/export?state=approved"))) == 1  # header only
    html = page(client.get("/review/registrations/?q=甲二"))
    assert 'href="/review/registrations/export?state=pending&amp;q=' in client.get(
        "/review/registrations/?q=甲二").get_data(as_text=True)
    assert zh("Export to Excel") in html
    other = rows_of(client_of(app, world.other_unit_admin, R.UNIT_ADMIN).get("/review/registrations/export"))
    assert column(other, zh("Applicant")) == ["待审乙一"]


def test_declaration_queue_export_keeps_its_filters_scope_and_neutralises_titles(app, world, monkeypatch):
    doctor = make_person("申报医生", world.unit)
    make_declaration(world, doctor, title=FORMULA)
    make_declaration(world, doctor, title="普通培训班")
    teacher = make_person("乙校老师", world.other_unit)
    make_declaration(world, teacher, title="乙校培训班")
    monkeypatch.setattr(export, "BATCH", 1)  # the queue read in batches of one
    client = client_of(app, world.unit_admin, R.UNIT_ADMIN)
    response = client.get("/review/declarations/export")
    ws = sheet(response)
    no_live_formula(ws)
    rows = rows_of(response)
    assert rows[0] == [zh("Applicant"), zh("ID number"), zh("Unit"), zh("Title"), zh("Subject"),
                       zh("Learning form"), zh("Year"), zh("Hours"), zh("State")]
    assert sorted(column(rows, zh("Title"))) == sorted([FORMULA, "普通培训班"])  # never the other unit's
    assert set(column(rows, zh("ID number"))) == {mask_id_number(person_of(doctor).id_number)}
    cell = next(c for row in ws.iter_rows() for c in row if c.value == FORMULA)
    assert cell.data_type == "s" and cell.quotePrefix
    assert column(rows_of(client.get("/review/declarations/export?q=普通")), zh("Title")) == ["普通培训班"]
    assert 'href="/review/declarations/export' in client.get("/review/declarations/").get_data(as_text=True)


@pytest.mark.parametrize("text,neutral", [("=1+1", True), ("+1", True), ("-1", True), ("@A1", True),
                                          ("\tx", True), ("\rx", True), ("＝1", True), ("张三", False),
                                          ("a=b", False), ("", False)])
def test_formula_starts(text, neutral):
    assert export.is_formula_like(text) is neutral
