"""H7: the HR bureau edits the yearly standards and the learning-form catalogue (FAB ModelViews /standards/ and
/learning-forms/). The city bureau edits everything; a district bureau only its own region's standards; nobody
else reaches either screen."""
from __future__ import annotations

import re

import pytest
from jinja2.utils import htmlsafe_json_dumps
from sqlalchemy import select, update

from app.extensions import db
from app.models import AnnualStandard, LearningForm, Org, Region, RoleName
from app.models.hours import FORM_GROUPS
from app.workflows.declaration import FIELDS
from tests.helpers import (FormFields, YEAR, assert_unchanged, cheap_passwords, csrf_from, log_in, make_person, page,
                           state_snapshot, zh)

R = RoleName
NONE = "__None"  # FAB's value for an empty relationship select (here: every region, the default)


@pytest.fixture()
def regional_world(world):
    """The world with a region for each district bureau (甲区 for district, 乙区 for other_district)."""
    cheap_passwords()
    world.region, world.other_region = Region(code="370102", name="甲区"), Region(code="370103", name="乙区")
    db.session.add_all([world.region, world.other_region])
    db.session.flush()
    db.session.execute(update(Org).where(Org.id == world.district.id).values(region_id=world.region.id))
    db.session.execute(update(Org).where(Org.id == world.other_district.id).values(region_id=world.other_region.id))
    db.session.commit()
    return world


def standard(year: int, region: Region | None) -> AnnualStandard | None:
    db.session.expire_all()
    return db.session.scalar(select(AnnualStandard).where(
        AnnualStandard.year == year,
        AnnualStandard.region_id == region.id if region else AnnualStandard.region_id.is_(None)))


def add_standard(year: int, region: Region | None, total: int = 100) -> AnnualStandard:
    row = AnnualStandard(year=year, region_id=region.id if region else None, public_min=30, professional_min=60,
                         total_min=total)
    db.session.add(row)
    db.session.commit()
    return row


def post_fab(client, url: str, data: dict):
    """Post a FAB form as the browser does: the page's CSRF token, multipart."""
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data}, content_type="multipart/form-data")


def after_redirect(client, response) -> str:
    """The page a redirect leads to, with the messages flashed on the way."""
    assert response.status_code == 302, response.status_code
    return page(client.get(response.headers["Location"], follow_redirects=True))


def standard_form(year: int, region: Region | None, public="30", professional="60", total="90") -> dict:
    return {"year": str(year), "region": str(region.id) if region else NONE, "public_min": public,
            "professional_min": professional, "total_min": total}


def form_data(**overrides) -> dict:
    data = {"code": "lecture", "name": "专题讲座", "group": "training", "fields_json": ["organiser", "dates"],
            "hour_rule": "每半天计4学时", "max_hours": "8", "year_cap": "24", "active": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def shown_ids(html: str, base: str) -> set[int]:
    return {int(x) for x in re.findall(rf'href="/{base}/show/(\d+)', html)}


# ------------------------------------------------------------------ the city bureau

def test_city_hr_edits_a_standard(client, regional_world):
    row = standard(YEAR, None)
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    assert row.id in shown_ids(client.get("/standards/list/").get_data(as_text=True), "standards")
    response = post_fab(client, f"/standards/edit/{row.id}", standard_form(YEAR, None, "36", "64", "100"))
    assert response.status_code == 302
    row = standard(YEAR, None)
    assert (row.public_min, row.professional_min, row.total_min) == (36, 64, 100)
    # a professional's standards page shows the new figures
    client.post("/logout/", data={"csrf_token": csrf_from(client.get("/home/").get_data(as_text=True))})
    log_in(client, make_person("看标准的人", regional_world.unit).username, R.PROFESSIONAL.value)
    assert re.search(rf"<td>{YEAR}</td><td>36(\.0)?</td><td>64(\.0)?</td><td>100(\.0)?</td>",
                     client.get("/hours/standards").get_data(as_text=True))


def test_city_hr_adds_a_regional_standard(client, regional_world):
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    assert post_fab(client, "/standards/add",
                    standard_form(YEAR, regional_world.other_region, total="120")).status_code == 302
    assert standard(YEAR, regional_world.other_region).total_min == 120


def test_a_second_standard_for_the_same_year_and_region_is_refused(client, regional_world):
    """Two defaults (no region) for one year would make the pass mark depend on row order."""
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    own = add_standard(YEAR, regional_world.region)
    before = state_snapshot()
    for region in (None, regional_world.region):
        response = post_fab(client, "/standards/add", standard_form(YEAR, region, total="10"))
        assert response.status_code == 302
        assert zh("A standard for this year and region already exists.") in after_redirect(client, response)
        assert_unchanged(before)
    # nor by editing another year's standard into an existing year and region
    response = post_fab(client, f"/standards/edit/{standard(YEAR - 1, None).id}", standard_form(YEAR, None))
    assert zh("A standard for this year and region already exists.") in after_redirect(client, response)
    response = post_fab(client, f"/standards/edit/{own.id}", standard_form(YEAR, None))
    assert zh("A standard for this year and region already exists.") in after_redirect(client, response)
    assert_unchanged(before)


# ------------------------------------------------------------------ the learning-form catalogue, through its form

def name_of(msgid: str) -> str:
    """A field's Chinese name (ISSN and ISBN are the same in Chinese)."""
    return msgid if msgid in ("ISSN", "ISBN") else zh(msgid)


def declaration_fields(client, form: LearningForm) -> list[str]:
    """The fields the declaration form shows for `form` (its option names them; the page shows those only)."""
    html = client.get("/hours/declare").get_data(as_text=True)
    match = re.search(rf'<option value="{form.id}" data-fields="([^"]*)"', html)
    assert match, f"learning form {form.id} is not offered"
    return match.group(1).split(",")


def as_professional(client, regional_world) -> None:
    client.post("/logout/", data={"csrf_token": csrf_from(client.get("/home/").get_data(as_text=True))})
    log_in(client, make_person("申报的人", regional_world.unit).username, R.PROFESSIONAL.value)


def learning_form(code: str) -> LearningForm | None:
    db.session.expire_all()
    return db.session.scalar(select(LearningForm).where(LearningForm.code == code))


def test_city_hr_adds_a_learning_form_by_ticking_fields(client, regional_world):
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    list_url = "/learning-forms/list/?page_LearningFormModelView=0"
    assert 'href="/learning-forms/add' in client.get(list_url).get_data(as_text=True)
    form = FormFields(page(client.get("/learning-forms/add", headers={"Referer": f"http://localhost{list_url}"})))
    # every field a declaration may ask for is a box named in Chinese; nothing to type as JSON
    boxes = form.boxes("fields_json")
    assert set(boxes) == {name_of(spec[0]._args[0]) for spec in FIELDS.values()}
    assert not [f for f in form.fields if f["type"] in ("text", "textarea") and f.get("name") == "fields_json"]
    # the group is a select of Chinese names
    groups = form.options("group")
    assert {zh(str(label._args[0])) for label in FORM_GROUPS.values()} <= set(groups)
    for label in (zh("Organiser"), zh("Location"), zh("Dates")):
        boxes[label]["checked"] = True
    response = client.post("/learning-forms/add", data=form.submission(
        code="lecture", name="专题讲座", group=groups[zh("Training")], hour_rule="每半天计4学时", max_hours="8",
        year_cap="24"))
    assert response.status_code == 302 and response.headers["Location"].endswith(list_url)
    added = learning_form("lecture")
    assert (added.name, added.group, added.fields, added.max_hours, added.year_cap, added.active) == (
        "专题讲座", "training", ["organiser", "location", "dates"], 8, 24, True)
    # the list names its group and fields in Chinese
    shown = page(client.get(response.headers["Location"]))
    assert added.id in shown_ids(shown, "learning-forms")
    row = shown.split(f'href="/learning-forms/show/{added.id}"')[1].split("</tr>")[0]
    assert "、".join([zh("Organiser"), zh("Location"), zh("Dates")]) in row and zh("Training") in row
    # a professional's declaration form asks for exactly the ticked fields
    as_professional(client, regional_world)
    assert declaration_fields(client, added) == ["organiser", "location", "dates"]


def test_city_hr_changes_the_fields_of_a_learning_form(client, regional_world):
    conference = learning_form("conference")
    assert conference.fields == ["organiser", "conf_level", "dates"]
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    form = FormFields(page(client.get(f"/learning-forms/edit/{conference.id}")))
    boxes = form.boxes("fields_json")
    assert {label for label, box in boxes.items() if box["checked"]} == {
        zh("Organiser"), zh("Conference level"), zh("Dates")}
    assert form.options("group")[zh("Training")] == "training"
    boxes[zh("Conference level")]["checked"] = False
    boxes[zh("Location")]["checked"] = True
    response = client.post(f"/learning-forms/edit/{conference.id}", data=form.submission())
    assert response.status_code == 302
    assert learning_form("conference").fields == ["organiser", "location", "dates"]
    as_professional(client, regional_world)
    assert declaration_fields(client, conference) == ["organiser", "location", "dates"]


def test_the_catalogue_shows_names_not_codes(client, regional_world):
    paper = learning_form("paper")  # journal, issn, publish_date, author_rank; group "paper"
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    names = "、".join(name_of(m) for m in ("Journal", "ISSN", "Publication date", "Author rank"))
    listed = page(client.get("/learning-forms/list/"))
    row = listed.split(f'href="/learning-forms/show/{paper.id}"')[1].split("</tr>")[0]
    shown = page(client.get(f"/learning-forms/show/{paper.id}"))
    for html in (row, shown):
        assert names in html and zh("Papers and books") in html and zh("Yes") in html
        assert "publish_date" not in html and "author_rank" not in html and '["' not in html
    assert re.search(r">\s*paper\s*<", row) is None  # the group's code
    cells = dict((" ".join(k.split()), " ".join(v.split())) for k, v in re.findall(
        r"<th[^>]*>(.*?)</th>\s*<td>\s*<span[^>]*>(.*?)</span>\s*</td>", shown, re.S))
    assert cells[zh("Group")] == zh("Papers and books")
    assert cells[zh("Fields the declaration asks for")] == names
    assert cells[zh("Code")] == "paper"  # the form's own code, which the HR bureau chose
    # the edit form describes each box: a select field names its choices
    form = page(client.get(f"/learning-forms/edit/{paper.id}"))
    assert zh("one of: %(values)s", values="独著 / 第一作者 / 第二作者 / 第三作者及以后") in form


def test_city_hr_retires_a_learning_form(client, regional_world):
    form = db.session.scalar(select(LearningForm).where(LearningForm.code == "online"))
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    data = form_data(code=form.code, name=form.name, group=form.group, fields_json=form.fields,
                     max_hours=str(form.max_hours), year_cap="", active=None)  # the box unticked
    assert post_fab(client, f"/learning-forms/edit/{form.id}", data).status_code == 302
    db.session.expire_all()
    assert db.session.get(LearningForm, form.id).active is False


BAD_FORMS = [
    ("no-field-ticked", {"fields_json": None}, lambda: zh("Tick at least one field the declaration asks for.")),
    ("unknown-key", {"fields_json": ["organiser", "colour"]},
     lambda: zh("Unknown field: %(keys)s. Tick fields from the list.", keys="colour")),
    ("json-typed", {"fields_json": '["organiser", "dates"]'},
     lambda: zh("Unknown field: %(keys)s. Tick fields from the list.", keys='["organiser", "dates"]')),
    ("negative-cap", {"max_hours": "-1"}, lambda: zh("Hours must be between 0 and 1000.")),
    ("negative-year-cap", {"year_cap": "-5"}, lambda: zh("Hours must be between 0 and 1000.")),
    ("huge-cap", {"max_hours": "100000"}, lambda: zh("Hours must be between 0 and 1000.")),
    ("full-width-digits", {"max_hours": "８"},
     lambda: zh("Numbers must be written with the digits 0-9 (no full-width or other digits).")),
    ("arabic-indic-digits", {"year_cap": "٢٤"},
     lambda: zh("Numbers must be written with the digits 0-9 (no full-width or other digits).")),
    ("two-decimals", {"max_hours": "7.25"},
     lambda: zh("At most %(n)s decimal place(s) allowed; %(value)s has more.", n=1, value="7.25")),
    ("exponent", {"max_hours": "1e2"}, lambda: zh("Enter a number such as 12 or 1.5.")),
    ("no-cap", {"max_hours": ""}, lambda: zh("This field is required.")),
    ("unknown-group", {"group": "colour"}, lambda: zh("Choose a value for %(field)s.", field=zh("Group"))),
    ("bad-code", {"code": "Lecture 1"},
     lambda: zh("2 to 30 lower-case letters, digits or _, starting with a letter, e.g. lecture.")),
    ("long-name", {"name": "讲" * 51}, lambda: zh("At most %(n)s characters.", n=50)),
]


@pytest.mark.parametrize("overrides,message", [c[1:] for c in BAD_FORMS], ids=[c[0] for c in BAD_FORMS])
def test_a_bad_learning_form_is_refused_in_chinese_and_nothing_is_written(client, regional_world, overrides, message):
    existing = db.session.scalar(select(LearningForm).where(LearningForm.code == "training"))
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    before = state_snapshot()
    for url, data in (("/learning-forms/add", form_data(**overrides)),
                      (f"/learning-forms/edit/{existing.id}", form_data(**{"code": "training", **overrides}))):
        response = post_fab(client, url, data)
        assert response.status_code == 200, url
        assert message() in page(response), url
    assert_unchanged(before)


def test_a_code_names_one_learning_form(client, regional_world):
    conference = learning_form("conference")
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    before = state_snapshot()
    for url in ("/learning-forms/add", f"/learning-forms/edit/{conference.id}"):
        response = post_fab(client, url, form_data(code="training"))
        assert response.status_code == 200, url
        assert zh("Another learning form already has this code.") in page(response), url
    assert_unchanged(before)
    # its own code is no clash
    assert post_fab(client, f"/learning-forms/edit/{conference.id}", form_data(code="conference")).status_code == 302


# ------------------------------------------------------------------ a district bureau

def test_district_hr_sees_the_defaults_and_its_own_regions_standards_only(client, regional_world):
    own, other = add_standard(YEAR, regional_world.region), add_standard(YEAR, regional_world.other_region)
    defaults = set(db.session.scalars(select(AnnualStandard.id).where(AnnualStandard.region_id.is_(None))))
    assert defaults
    log_in(client, regional_world.district_admin.username, R.HR_ADMIN.value)
    assert shown_ids(client.get("/standards/list/").get_data(as_text=True), "standards") == defaults | {own.id}
    assert client.get(f"/standards/show/{own.id}").status_code == 200
    assert client.get(f"/standards/show/{other.id}").status_code in (302, 404)


def test_district_hr_adds_standards_for_its_own_region_only(client, regional_world):
    log_in(client, regional_world.district_admin.username, R.HR_ADMIN.value)
    add_form = page(client.get("/standards/add"))
    choices = add_form.split('id="region"')[1].split("</select>")[0]
    assert regional_world.region.name in choices and regional_world.other_region.name not in choices
    before = state_snapshot()
    response = post_fab(client, "/standards/add", standard_form(YEAR - 1, regional_world.other_region, total="70"))
    assert response.status_code == 200  # another region is not a valid choice
    assert_unchanged(before)
    # a default for every region: a district cannot make one; what it adds is its own region's
    post_fab(client, "/standards/add", standard_form(YEAR - 1, None, total="70"))
    db.session.expire_all()
    added = db.session.scalars(select(AnnualStandard).where(AnnualStandard.total_min == 70)).all()
    assert [(s.year, s.region_id) for s in added] == [(YEAR - 1, regional_world.region.id)]
    assert post_fab(client, "/standards/add",
                    standard_form(YEAR - 2, regional_world.region, total="95")).status_code == 302
    assert standard(YEAR - 2, regional_world.region).total_min == 95
    assert (standard(YEAR - 2, regional_world.other_region) is None
            and standard(YEAR - 1, regional_world.other_region) is None)


def test_district_hr_edits_its_own_standard_but_not_a_default_nor_into_another_region(client, regional_world):
    own = add_standard(YEAR, regional_world.region)
    default = standard(YEAR, None)
    token = log_in(client, regional_world.district_admin.username, R.HR_ADMIN.value)
    before = state_snapshot()
    # the default (every region's) standard: visible, not editable
    assert client.get(f"/standards/show/{default.id}").status_code == 200
    assert client.get(f"/standards/edit/{default.id}").status_code == 403
    for region in (None, regional_world.region):
        response = client.post(f"/standards/edit/{default.id}", data={"csrf_token": token, **standard_form(
            YEAR, region, total="1")}, content_type="multipart/form-data")
        assert response.status_code == 403
        assert_unchanged(before)
    # its own standard moved to another region: that region is not even a choice
    response = post_fab(client, f"/standards/edit/{own.id}",
                        standard_form(YEAR, regional_world.other_region, total="1"))
    assert response.status_code == 200
    region_cell = page(response).split('id="region"')[1].split("</td>")[0]
    assert 'class="alert alert-danger"' in region_cell  # refused at the field (FAB's own text, see the report)
    assert regional_world.other_region.name not in page(response).split('id="region"')[1].split("</select>")[0]
    assert_unchanged(before)
    # ... or turned into the default of every region
    response = post_fab(client, f"/standards/edit/{own.id}", standard_form(YEAR, None, total="1"))
    assert response.status_code == 302
    assert zh("You do not have permission to do this.") in after_redirect(client, response)
    assert_unchanged(before)
    # the counterpart: its own region's figures it may change
    assert post_fab(client, f"/standards/edit/{own.id}",
                    standard_form(YEAR, regional_world.region, total="99")).status_code == 302
    assert standard(YEAR, regional_world.region).total_min == 99


def test_district_hr_cannot_touch_the_catalogue(client, regional_world):
    form = db.session.scalar(select(LearningForm).where(LearningForm.code == "training"))
    log_in(client, regional_world.district_admin.username, R.HR_ADMIN.value)
    before = state_snapshot()
    assert shown_ids(client.get("/learning-forms/list/").get_data(as_text=True), "learning-forms") == set()
    assert client.get(f"/learning-forms/show/{form.id}").status_code in (302, 404)
    assert client.get("/learning-forms/add").status_code == 403
    token = csrf_from(client.get("/account/password").get_data(as_text=True))
    for url, data, status in (("/learning-forms/add", form_data(), 403),
                              (f"/learning-forms/edit/{form.id}", form_data(code="training", max_hours="999"), 404)):
        response = client.post(url, data={"csrf_token": token, **data}, content_type="multipart/form-data")
        assert response.status_code == status, (url, response.status_code)
    assert_unchanged(before)


# ------------------------------------------------------------------ everybody else

@pytest.mark.parametrize("who,role", [("professional", R.PROFESSIONAL), ("unit_admin", R.UNIT_ADMIN),
                                      ("dept_admin", R.DEPT_ADMIN), ("base_admin", R.BASE_ADMIN),
                                      ("support", R.SUPPORT), ("sysadmin", R.SYSADMIN), ("auditor", R.AUDITOR)])
def test_other_roles_cannot_reach_the_catalogue(client, regional_world, who, role):
    account = make_person("专技人员", regional_world.unit) if who == "professional" else getattr(regional_world, who)
    token = log_in(client, account.username, role.value)
    row, form = standard(YEAR, None), db.session.scalar(select(LearningForm).limit(1))
    before = state_snapshot()
    for url in ("/standards/list/", f"/standards/edit/{row.id}", "/learning-forms/list/",
                f"/learning-forms/edit/{form.id}"):
        assert client.get(url).status_code == 403, url
    for url, data in (("/standards/add", standard_form(YEAR - 2, None, total="1")),
                      (f"/standards/edit/{row.id}", standard_form(YEAR, None, total="1")),
                      ("/learning-forms/add", form_data()),
                      (f"/learning-forms/edit/{form.id}", form_data(code=form.code, max_hours="999"))):
        response = client.post(url, data={"csrf_token": token, **data}, content_type="multipart/form-data")
        assert response.status_code == 403, url
    assert_unchanged(before)


def test_a_saved_learning_form_lands_back_on_the_filtered_list(client, regional_world):
    """The list filtered by group (the search's select of Chinese group names), a row edited: back on that list."""
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    # the search offers the groups by their Chinese names (FAB writes the filter's select into its script)
    listed = client.get("/learning-forms/list/").get_data(as_text=True)
    option = htmlsafe_json_dumps(f'<option value="paper">{zh("Papers and books")}</option>')[1:-1]
    assert option in listed
    filtered = "/learning-forms/list/?_flt_3_group=paper"
    html = page(client.get(filtered))
    ids = shown_ids(html, "learning-forms")
    papers = {learning_form("paper").id, learning_form("book").id}
    assert ids == papers
    book = learning_form("book")
    form = FormFields(page(client.get(f"/learning-forms/edit/{book.id}", headers={
        "Referer": f"http://localhost{filtered}"})))
    response = client.post(f"/learning-forms/edit/{book.id}", data=form.submission(max_hours="50"))
    assert response.status_code == 302 and response.headers["Location"].endswith(filtered)
    assert learning_form("book").max_hours == 50


def test_the_standards_form_names_the_default_region(client, regional_world):
    """The empty region choice (every region's default) is named, not shown as FAB's value "__None"."""
    row = standard(YEAR, None)
    log_in(client, regional_world.city_admin.username, R.HR_ADMIN.value)
    for url in ("/standards/add", f"/standards/edit/{row.id}"):
        form = FormFields(page(client.get(url)))
        assert form.options("region").get(zh("All regions (default)")) == NONE, url
        assert "__None" not in form.options("region"), url
