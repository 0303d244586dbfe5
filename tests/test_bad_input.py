"""T1 of issue 8 point 6 through the real pages: dates outside the one sane range, a declaration counted in a year
its study dates do not touch, digits other than ASCII, more decimals than a form allows and control characters are
refused with a clear Chinese message, at the field where a form shows it, and nothing is stored; then every POST
route of the URL map posted with a control character in its fields, and every GET route with one in its query,
answers without a 5xx and changes nothing."""
from __future__ import annotations

import datetime
import io
import re

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import AnnualStandard, Declaration, Person, Region, RoleName, TitleChange
from tests import factories
from tests.access_policy import ALL_ROLES, ANONYMOUS
from tests.factories import PNG
from tests.helpers import (YEAR, assert_unchanged, client_as, csrf_from, declaration_data, log_in, make_person, page,
                           state_snapshot, study_dates, submit, uploaded_files, urls_and_forms, zh)

R = RoleName
TODAY = clock.today()
PAST = ("The date must lie between %(a)s and today (%(b)s).", {"a": "1900-01-01", "b": TODAY.isoformat()})
STUDY = ("The date must lie between %(a)s and %(b)s.",
         {"a": "1900-01-01", "b": (TODAY + datetime.timedelta(days=366)).isoformat()})
DIGITS = ("Numbers must be written with the digits 0-9 (no full-width or other digits).", {})
DATE_DIGITS = ("Enter the date with the digits 0-9, such as 2026-11-22.", {})
DECIMALS = ("At most %(n)s decimal place(s) allowed; %(value)s has more.", {"n": 1})
CONTROL = ("Contains an invisible control character (%(code)s): remove it and try again.", {"code": "U+0000"})
ONE_LINE = ("Must be a single line without tabs or line breaks.", {})
FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x30, 0x3A)}  # 0-9 -> ０-９


def field_errors(html: str, field: str) -> list[str]:
    """The field-level messages shown with a field (our macro's form-group, or FAB's form row)."""
    match = re.search(rf'id="group-{re.escape(field)}"(.*?)</div>', html, re.S)
    if match is None:  # FAB's generated form: the row of the field's input
        start = html.index(f'name="{field}"')
        match = re.search(r"(.*?)</tr>", html[start:], re.S)
    return [m.strip() for m in re.findall(r'class="(?:help-block[^"]*|alert alert-danger)">\s*([^<]+?)\s*<',
                                          match.group(1))]


def assert_refused_at(response, field: str, message: tuple[str, dict]) -> None:
    assert response.status_code == 200, response.status_code
    text = zh(message[0], **message[1])
    errors = field_errors(page(response), field)
    assert text in errors, (field, errors)


def assert_bad_character_page(response, name: str, code: str = "U+0000") -> None:
    """The request filter's 400 page: it names the field and the character, in Chinese."""
    assert response.status_code == 400, response.status_code
    html = page(response)
    assert f"“{name}”" in html and code in html and ("控制字符" in html), html[-2000:]


def multipart(client, url: str, data: dict, files=()):
    token = csrf_from(client.get(url).get_data(as_text=True))
    payload = {"csrf_token": token, **data}
    if files:
        payload["attachments"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(url, data=payload, content_type="multipart/form-data")


# ---------------------------------------------------------------- the profile (education) and a title change

PROFILE = {"gender": "F", "ethnicity": "回族", "native_place": "山东济南", "department": "心内科",
           "education": "硕士研究生", "school": "山东大学", "major": "临床医学", "graduation_date": "2012-07-01",
           "degree": "硕士", "admin_post": "科室主任", "admin_level": "正科级"}


def person_row(account) -> dict:
    db.session.expire_all()
    person = db.session.scalar(select(Person).where(Person.user_id == account.id))
    return {c.name: getattr(person, c.name) for c in Person.__table__.columns}


PROFILE_BAD = {
    "graduation in 2999": ({"graduation_date": "2999-07-01"}, "graduation_date", PAST),
    "graduation in 1800": ({"graduation_date": "1800-07-01"}, "graduation_date", PAST),
    "graduation a day ahead": ({"graduation_date": (TODAY + datetime.timedelta(days=1)).isoformat()},
                               "graduation_date", PAST),
}


@pytest.mark.parametrize("case", list(PROFILE_BAD))
def test_profile_dates_outside_the_sane_range_are_refused(client, fast_world, case):
    owner = make_person("改资料的人", fast_world.unit)
    token = log_in(client, owner.username, R.PROFESSIONAL.value)
    override, field, message = PROFILE_BAD[case]
    before = person_row(owner)
    response = client.post("/profile/", data={"csrf_token": token, **PROFILE, **override})
    assert_refused_at(response, field, message)
    assert person_row(owner) == before


@pytest.mark.parametrize("value", ["山东\x00大学", "山东\u202e学大", "山东\x1b[31m大学", "山东\x85大学"])
def test_profile_text_with_control_characters_is_refused_at_the_field(client, fast_world, value):
    owner = make_person("改资料的人", fast_world.unit)
    token = log_in(client, owner.username, R.PROFESSIONAL.value)
    before = person_row(owner)
    response = client.post("/profile/", data={"csrf_token": token, **PROFILE, "school": value})
    assert response.status_code == 200
    errors = field_errors(page(response), "school")
    assert errors and all(re.search(r"[\u4e00-\u9fff]", e) for e in errors), errors
    assert person_row(owner) == before
    # the same form without the character is saved: the refusal was the character's
    response = client.post("/profile/", data={"csrf_token": token, **PROFILE, "school": "齐鲁医学院"})
    assert response.status_code == 302 and person_row(owner)["school"] == "齐鲁医学院"


TITLE = {"title_series": "卫生技术", "title_level": "副高级", "title_name": "副主任医师", "title_date": "2025-06-01",
         "title_cert_no": "ZC-2025-0042"}


def title_changes() -> tuple:
    return db.session.scalar(select(func.count(TitleChange.id))), uploaded_files()


@pytest.mark.parametrize("override,field,message", [
    ({"title_date": "1800-01-01"}, "title_date", PAST),
    ({"title_date": "2999-06-01"}, "title_date", PAST),
])
def test_title_change_dates_outside_the_sane_range_are_refused(client, fast_world, override, field, message):
    owner = make_person("申请职称的人", fast_world.unit)
    log_in(client, owner.username, R.PROFESSIONAL.value)
    before = title_changes()
    response = multipart(client, "/profile/title", {**TITLE, **override}, [("证书.png", PNG)])
    assert_refused_at(response, field, message)
    assert title_changes() == before


def test_title_change_with_a_control_character_in_a_field_or_a_file_name_stores_nothing(client, fast_world):
    owner = make_person("申请职称的人", fast_world.unit)
    log_in(client, owner.username, R.PROFESSIONAL.value)
    before = title_changes()
    response = multipart(client, "/profile/title", {**TITLE, "title_cert_no": "ZC\x002025"}, [("证书.png", PNG)])
    assert response.status_code == 200 and field_errors(page(response), "title_cert_no")
    response = multipart(client, "/profile/title", TITLE, [("证书\x00.png", PNG)])
    assert_bad_character_page(response, "attachments")
    assert title_changes() == before
    assert multipart(client, "/profile/title", TITLE, [("证书.png", PNG)]).status_code == 302  # control
    assert title_changes()[0] == before[0] + 1


# ---------------------------------------------------------------- the declaration form

def declarations() -> int:
    return db.session.scalar(select(func.count(Declaration.id)))


@pytest.fixture()
def declarant(client, fast_world):
    log_in(client, make_person("申报学时的人", fast_world.unit).username, R.PROFESSIONAL.value)
    return client


def declare(client, data: dict):
    return multipart(client, "/hours/declare", data, [("证书.png", PNG)])


OLD = datetime.date(YEAR - 7, 3, 1)
DECLARATION_BAD = {
    # a course of seven years ago counted in this year
    "year its dates do not touch": (
        {"start_date": OLD.isoformat(), "end_date": (OLD + datetime.timedelta(days=2)).isoformat()}, "year",
        ("The learning took place from %(start)s to %(end)s: it can only be counted in a year it touches "
         "(%(years)s), not in %(year)s.", {"start": OLD.isoformat(), "end": (OLD + datetime.timedelta(days=2))
                                           .isoformat(), "years": str(OLD.year), "year": YEAR})),
    "hours with 3 decimals": ({"hours": "1.234"}, "hours", (DECIMALS[0], {"n": 1, "value": "1.234"})),
    "hours with 2 decimals": ({"hours": "7.25"}, "hours", (DECIMALS[0], {"n": 1, "value": "7.25"})),
    "full-width hours": ({"hours": "１２"}, "hours", DIGITS),
    "Arabic-Indic hours": ({"hours": "١٢"}, "hours", DIGITS),
    "hours with an exponent": ({"hours": "1e1"}, "hours", ("Hours must be a number.", {})),
    "start in 1800": ({"start_date": "1800-01-01"}, "start_date", STUDY),
    "end in 2999": ({"end_date": "2999-01-01"}, "end_date", STUDY),
    "full-width date": ({"start_date": "２０２６-01-01"}, "start_date", DATE_DIGITS),
    "NUL in the title": ({"title": "心血管\x00培训班"}, "title", CONTROL),
    "tab in the title": ({"title": "心血管\t培训班"}, "title", ONE_LINE),
}


@pytest.mark.parametrize("case", list(DECLARATION_BAD))
@pytest.mark.parametrize("action", ["draft", "submit"])
def test_bad_declaration_input_is_refused_at_the_field(declarant, case, action):
    override, field, message = DECLARATION_BAD[case]
    before = state_snapshot()
    response = declare(declarant, declaration_data(**override, action=action))
    assert_refused_at(response, field, message)
    assert_unchanged(before)


def test_a_declaration_of_last_year_counts_in_last_year_only(declarant):
    start, end = study_dates(YEAR - 1)
    data = declaration_data(start_date=start.isoformat(), end_date=end.isoformat())
    before = declarations()
    assert_refused_at(declare(declarant, {**data, "year": str(YEAR)}), "year", (
        DECLARATION_BAD["year its dates do not touch"][2][0],
        {"start": start.isoformat(), "end": end.isoformat(), "years": str(YEAR - 1), "year": YEAR}))
    assert declarations() == before
    assert declare(declarant, {**data, "year": str(YEAR - 1)}).status_code == 302
    assert declarations() == before + 1


def test_one_decimal_is_kept_as_typed(declarant):
    assert declare(declarant, declaration_data(hours="7.5")).status_code == 302
    assert db.session.scalar(select(Declaration.hours)) == 7.5


def test_a_control_character_in_a_detail_field_is_refused_by_the_request_filter(declarant):
    before = state_snapshot()
    response = declare(declarant, declaration_data(f_organiser="省卫健委\x00", action="submit"))
    assert_bad_character_page(response, "f_organiser")
    assert zh("The field “%(name)s” contains an invisible control character (%(code)s). Nothing was saved: "
              "remove the character and send the form again.", name="f_organiser", code="U+0000") in page(response)
    assert_unchanged(before)


# ---------------------------------------------------------------- the registration forms

def registered() -> tuple:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Person.id))), state_snapshot()["registrations"]


@pytest.mark.parametrize("override,field,message", [
    ({"graduation_date": "2999-07-01"}, "graduation_date", PAST),
    ({"graduation_date": "1800-07-01"}, "graduation_date", PAST),
    ({"title_date": "1800-01-01"}, "title_date", PAST),
    ({"title_date": "２０２０-01-01"}, "title_date", DATE_DIGITS),
    ({"department": "内科\x00"}, "department", CONTROL),
    ({"title_name": "主治\u202e医师"}, "title_name", (CONTROL[0], {"code": "U+202E"})),
    ({"native_place": "山东\r\n济南"}, "native_place", ONE_LINE),
])
def test_bad_person_registration_is_refused_at_the_field(client, fast_world, override, field, message):
    before = registered()
    response = submit(client, "/public/register/person", factories.person_form(fast_world.unit, **override))
    assert_refused_at(response, field, message)
    assert registered() == before


@pytest.mark.parametrize("override,field,message", [
    ({"address": "测试路\x001号"}, "address", CONTROL),
    ({"phone": "0531\x7f88888888"}, "phone", (CONTROL[0], {"code": "U+007F"})),
])
def test_bad_org_registration_is_refused_at_the_field(client, fast_world, override, field, message):
    before = registered()
    response = submit(client, "/public/register/unit", factories.org_form(fast_world.dept, **override))
    assert_refused_at(response, field, message)
    assert registered() == before


def test_a_unit_picked_with_full_width_digits_is_no_choice(client, fast_world):
    before = registered()
    unit_id = str(fast_world.unit.id).translate(FULL_WIDTH)
    response = submit(client, "/public/register/person", factories.person_form(fast_world.unit, unit_id=unit_id))
    assert response.status_code == 200 and zh("Choose your unit from the list.") in page(response)
    assert registered() == before


# ---------------------------------------------------------------- FAB's generated forms

NONE = "__None"


def standard_row():
    db.session.expire_all()
    row = db.session.scalar(select(AnnualStandard).where(AnnualStandard.year == YEAR,
                                                         AnnualStandard.region_id.is_(None)))
    return row.id, row.year, row.public_min, row.professional_min, row.total_min


@pytest.mark.parametrize("override,field,message", [
    ({"public_min": "３６"}, "public_min", DIGITS),
    ({"public_min": "36.25"}, "public_min", (DECIMALS[0], {"n": 1, "value": "36.25"})),
    ({"total_min": "1e2"}, "total_min", ("Enter a number such as 12 or 1.5.", {})),
    ({"year": "２０２６"}, "year", DIGITS),
    ({"year": "2026.5"}, "year", ("Enter a whole number.", {})),
])
def test_the_yearly_standards_edit_form_refuses_bad_numbers(client, fast_world, override, field, message):
    before = standard_row()
    log_in(client, fast_world.city_admin.username, R.HR_ADMIN.value)
    data = {"year": str(YEAR), "region": NONE, "public_min": "36", "professional_min": "64", "total_min": "100"}
    url = f"/standards/edit/{before[0]}"
    response = multipart(client, url, {**data, **override})
    assert_refused_at(response, field, message)
    assert standard_row() == before
    assert multipart(client, url, {**data, "public_min": "36.5"}).status_code == 302  # one decimal is fine
    assert standard_row()[2] == 36.5


@pytest.mark.parametrize("override,field,message", [
    ({"name": "丙区\x00"}, "name", CONTROL),
    ({"declaration_levels": "３"}, "declaration_levels", DIGITS),
])
def test_the_region_add_form_refuses_control_characters_and_other_digits(client, fast_world, override, field, message):
    log_in(client, fast_world.sysadmin.username, R.SYSADMIN.value)
    data = {"code": "370199", "name": "丙区", "parent": NONE, "declaration_levels": "3"}
    response = multipart(client, "/regions/add", {**data, **override})
    assert_refused_at(response, field, message)
    assert db.session.scalar(select(func.count(Region.id))) == 0


# ---------------------------------------------------------------- query strings and JSON bodies

def test_a_control_character_in_a_query_string_is_refused_naming_the_parameter(client, fast_world):
    log_in(client, fast_world.unit_admin.username, R.UNIT_ADMIN.value)
    response = client.get("/review/registrations/?q=%E5%BC%A0%01")
    assert_bad_character_page(response, "q", "U+0001")
    assert zh("The address contains an invisible control character (%(code)s) in “%(name)s”. Nothing was "
              "changed.", name="q", code="U+0001") in page(response)


def test_a_control_character_in_a_json_body_is_refused_with_json(client, fast_world):
    token = log_in(client, None, ANONYMOUS)
    response = client.post("/login/", json={"id_number": "a\u202eb", "password": "x"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 400 and response.is_json
    assert "U+202E" in response.get_json()["error"] and "控制字符" in response.get_json()["error"]


# ---------------------------------------------------------------- every route of the URL map

# Every role walks the URL map. The matrix's records belong to another org, so for the org-scoped roles nothing at
# all may change; support staff and the system admin act platform-wide, and a route that takes no input (revoke a
# membership, reset a password) does its work for them: what they must not leave is the character, anywhere.
WALKERS = [ANONYMOUS, R.PROFESSIONAL.value, R.UNIT_ADMIN.value, R.DEPT_ADMIN.value, R.HR_ADMIN.value,
           R.BASE_ADMIN.value, R.SUPPORT.value, R.SYSADMIN.value]
PLATFORM_WIDE = {R.SUPPORT.value, R.SYSADMIN.value}
assert set(WALKERS) <= set(ALL_ROLES)


def _post_endpoints(app) -> list[str]:
    return sorted({r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods})


def _get_endpoints(app) -> list[str]:
    return sorted({r.endpoint for r in app.url_map.iter_rules()
                   if "GET" in r.methods and not r.arguments and r.endpoint != "static"})


# Routes that take no input: the walk's extra field is ignored like any unknown field, and the action (logging out)
# is the point of the request.
NO_INPUT = {"AuthView.logout"}


def stored_with(bad: str) -> list[tuple[str, str]]:
    """(table, column) of every stored text holding `bad`, anywhere in the database."""
    from flask_appbuilder import Model
    from sqlalchemy import String, Text

    found = []
    for table in Model.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (String, Text)) and any(  # read back: SQLite's LIKE stops at a NUL
                    bad in (value or "") for value in db.session.scalars(select(column))):
                found.append((table.name, column.name))
    return found


def _url_and_form(app, endpoint: str, data: dict) -> tuple[str, dict]:
    """The access matrix's URL and plausible form of an endpoint (other URL arguments: a placeholder)."""
    from flask import url_for

    try:
        return urls_and_forms(app, endpoint, data)[0]
    except KeyError:
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        with app.test_request_context():
            return url_for(endpoint, **{name: "1" for name in rule.arguments}), {}


@pytest.mark.parametrize("role,bad", [(role, "\x00") for role in WALKERS]
                         + [(role, "\u202e") for role in (ANONYMOUS, R.PROFESSIONAL.value, R.UNIT_ADMIN.value)])
def test_every_post_route_with_a_control_character_stores_nothing(app, matrix, role, bad):
    client, token = client_as(app, matrix, role)
    before = state_snapshot()
    endpoints = _post_endpoints(app)
    assert len(endpoints) > 40  # the walk sees the whole URL map
    for endpoint in endpoints:
        if endpoint in NO_INPUT:
            continue
        url, form = _url_and_form(app, endpoint, matrix)
        for key in form or ["note"]:  # one field at a time carries the character, the others are plausible
            data = {**form, key: f"{form.get(key, 'x')}{bad}"}
            response = client.post(url, data={"csrf_token": token, **data})
            assert response.status_code < 500, (endpoint, key, response.status_code)
            if response.status_code == 400:  # the request filter's page: Chinese, naming the character
                assert re.search(r"[\u4e00-\u9fff]", page(response)), (endpoint, key)
    if role not in PLATFORM_WIDE:
        assert_unchanged(before)
    assert not stored_with(bad)


@pytest.mark.parametrize("role", [ANONYMOUS, R.PROFESSIONAL.value, R.UNIT_ADMIN.value])
def test_every_get_route_with_a_control_character_in_its_query_is_refused(app, matrix, role):
    client, _ = client_as(app, matrix, role)
    before = state_snapshot()
    for endpoint in _get_endpoints(app):
        with app.test_request_context():
            from flask import url_for

            url = url_for(endpoint)
        response = client.get(f"{url}?q=%00")
        assert response.status_code == 400, (endpoint, response.status_code)
        assert "U+0000" in page(response) and "控制字符" in page(response), endpoint
    assert_unchanged(before)


# ---------------------------------------------------------------- a training base's report

@pytest.mark.parametrize("line,message", [
    ("1.25", ("At most %(n)s decimal place(s) allowed; %(value)s has more.", {"n": 1, "value": "1.25"})),
    ("１２", DIGITS),
    ("1e1", None),
])
def test_a_base_report_refuses_other_digits_and_extra_decimals_by_line(client, fast_world, line, message):
    trainee = make_person("基地学员", fast_world.unit)
    log_in(client, fast_world.base_admin.username, R.BASE_ADMIN.value)
    before = state_snapshot()
    start, end = study_dates(YEAR)
    response = multipart(client, "/base/reports/new", {
        "title": "公需科目集中培训", "subject": "public", "form_id": str(declaration_data()["form_id"]),
        "year": str(YEAR), "start_date": start.isoformat(), "end_date": end.isoformat(),
        "lines": f"{trainee.username} 8\n{trainee.username[:-1]}0 {line}"})
    assert response.status_code == 200
    expected = (zh("Line %(n)s: %(problem)s", n=2, problem=zh(message[0], **message[1])) if message
                else zh("Line %(n)s: the hours are not a number.", n=2))
    assert expected in page(response)
    assert_unchanged(before)


def test_a_base_report_counts_only_in_a_year_its_dates_touch(client, fast_world):
    trainee = make_person("基地学员", fast_world.unit)
    log_in(client, fast_world.base_admin.username, R.BASE_ADMIN.value)
    before = state_snapshot()
    start, end = study_dates(YEAR - 1)
    response = multipart(client, "/base/reports/new", {
        "title": "公需科目集中培训", "subject": "public", "form_id": str(declaration_data()["form_id"]),
        "year": str(YEAR), "start_date": start.isoformat(), "end_date": end.isoformat(),
        "lines": f"{trainee.username} 8"})
    assert response.status_code == 200
    assert zh("The learning took place from %(start)s to %(end)s: it can only be counted in a year it touches "
              "(%(years)s), not in %(year)s.", start=start.isoformat(), end=end.isoformat(), years=str(YEAR - 1),
              year=YEAR) in page(response)
    assert_unchanged(before)


def test_generated_decimal_fields_allow_the_scale_of_every_numeric_column():
    """FAB's generated DecimalField does not know its column's scale: the input filter allows DECIMAL_PLACES, which
    must be the scale of every Numeric column (a new column with another scale must teach the filter)."""
    from flask_appbuilder import Model
    from sqlalchemy import Float, Numeric

    from app.views.input_filter import DECIMAL_PLACES

    from app.models.learning import MONEY

    # Amounts of money (yuan and fen) are edited only by the project's own forms, whose fields say places=2.
    money = {(t.name, c.name) for t in Model.metadata.sorted_tables for c in t.columns
             if isinstance(c.type, Numeric) and (c.type.precision, c.type.scale) == (MONEY.precision, MONEY.scale)}
    assert money == {("online_class", "price"), ("class_order", "amount")}, money
    scales = {(t.name, c.name): c.type.scale for t in Model.metadata.sorted_tables for c in t.columns
              if isinstance(c.type, Numeric) and not isinstance(c.type, Float) and (t.name, c.name) not in money}
    assert scales and set(scales.values()) == {DECIMAL_PLACES}, scales


def test_a_year_chosen_with_full_width_digits_is_no_choice(declarant):
    before = state_snapshot()
    response = declare(declarant, declaration_data(year=str(YEAR).translate(FULL_WIDTH), action="submit"))
    assert response.status_code == 200
    errors = field_errors(page(response), "year")
    assert errors and all(re.search(r"[\u4e00-\u9fff]", e) for e in errors), errors
    assert_unchanged(before)
