"""Menu names say what is inside: no menu named after a learning-form category, one name for one page, every label
translated. Checked on the menu registry and on the menu each of the 8 roles actually sees."""
from __future__ import annotations

import re

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.models import LearningForm, RoleName
from app.models.hours import FORM_GROUPS
from app.workflows.certificates import GROUP_ZH
from tests import factories
from tests.helpers import CJK, login, page

NAV = re.compile(r'<ul class="nav navbar-nav">(.*?)<ul class="nav navbar-nav navbar-right', re.S)
LINK = re.compile(r'<a[^>]*href="(/[^"#]*)"[^>]*>(.*?)</a>', re.S)
CATEGORY = re.compile(r'<a class="dropdown-toggle"[^>]*>(.*?)</a>', re.S)
TITLE = re.compile(r"<title>(.*?)</title>", re.S)


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def _registry(app, locale: str):
    """(category labels, item labels) of every menu entry registered, in `locale`."""
    from app.extensions import appbuilder

    with app.test_request_context(), force_locale(locale):
        categories, items = [], []
        for entry in appbuilder.menu.get_list():
            if entry.childs:
                categories.append(str(entry.label))
                items += [str(child.label) for child in entry.childs if child.name != "-"]
            else:
                items.append(str(entry.label))
        return categories, items


def _category_names(db, locale: str) -> set[str]:
    """The names of the learning-form categories (and of the catalogue's forms) a person sees."""
    with force_locale(locale):
        names = {str(label) for label in FORM_GROUPS.values()}
    if locale == "zh":
        names |= set(GROUP_ZH.values())
    names |= set(db.session.scalars(select(LearningForm.name)))
    return names


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_no_menu_is_named_after_a_learning_form_category(app, db, locale):
    categories, items = _registry(app, locale)
    forms = _category_names(db, locale)
    assert forms and categories and items
    for label in categories + items:
        clash = [name for name in forms if name == label or (locale == "zh" and name in label)]
        assert not clash, f"menu {label!r} is named after the learning-form category {clash}"


def test_the_base_menu_says_what_it_holds(app, db):
    categories, _items = _registry(app, "zh")
    assert "继续教育基地" in categories and "培训类" not in categories


def test_one_label_per_menu_entry_and_every_label_translated(app, db):
    categories, items = _registry(app, "zh")
    assert len(set(items)) == len(items), [x for x in items if items.count(x) > 1]
    assert len(set(categories)) == len(categories), categories
    assert not set(categories) & set(items), set(categories) & set(items)
    for label in categories + items:
        assert CJK.search(label), f"menu label {label!r} is not translated"


def _accounts(world):
    w = world
    professional = factories.make_account("专技人员", [(RoleName.PROFESSIONAL, w.unit)], person_unit=w.unit)
    return [(professional, RoleName.PROFESSIONAL), (w.unit_admin, RoleName.UNIT_ADMIN),
            (w.dept_admin, RoleName.DEPT_ADMIN), (w.city_admin, RoleName.HR_ADMIN), (w.base_admin, RoleName.BASE_ADMIN),
            (w.support, RoleName.SUPPORT), (w.sysadmin, RoleName.SYSADMIN), (w.auditor, RoleName.AUDITOR)]


def test_each_role_menu_names_the_page_it_opens(app, db, world):
    """Every role's menu: labels unique, none a learning-form category, and the page each link opens carries the
    menu's name as its title (the same term in the menu and on the page: e.g. 下级单位 for every role)."""
    forms = _category_names(db, "zh")
    seen_pages: dict[str, str] = {}
    for account, role in _accounts(world):
        client = app.test_client()
        login(client, account.username, role=role.value)
        home = page(client.get("/home/"))
        nav = NAV.search(home)
        assert nav, "no menu on the home page"
        links = [(href, _text(label)) for href, label in LINK.findall(nav.group(1))]
        categories = [_text(c) for c in CATEGORY.findall(nav.group(1))]
        labels = [label for _href, label in links]
        assert len(labels) >= 2, (role, labels)
        assert len(set(labels)) == len(labels), (role, labels)
        for label in labels + categories:
            assert CJK.search(label), (role, label)
            assert not [f for f in forms if f in label], (role, label)
        for href, label in links:
            response = client.get(href)
            assert response.status_code == 200, (role, href, response.status_code)
            title = _text(TITLE.search(page(response)).group(1))
            assert title.split(" - ")[0] == label, f"{role.value}: menu {label!r} opens {href} titled {title!r}"
            path = href.split("?")[0]
            assert seen_pages.setdefault(path, label) == label, f"{path} is called {seen_pages[path]!r} and {label!r}"


def test_sub_units_page_has_one_name_for_every_role(app, world):
    """The page behind 下级单位 is called 下级单位 for a unit, a department and an HR bureau alike."""
    for account, role in [(world.unit_admin, RoleName.UNIT_ADMIN), (world.dept_admin, RoleName.DEPT_ADMIN),
                          (world.city_admin, RoleName.HR_ADMIN)]:
        client = app.test_client()
        login(client, account.username, role=role.value)
        html = page(client.get("/org/sub-units/"))
        assert "<title>下级单位 - " in html and "下级机构" not in html
