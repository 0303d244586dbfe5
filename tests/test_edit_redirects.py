"""A saved add / edit form of a generated screen (FAB ModelView) lands back on the list it was opened from: the
same view's list with the same page, size and order. FAB itself sends it to the last page of a history kept in the
session and shared by every tab, so working in another tab in between landed the admin somewhere else.

The views are found in appbuilder.baseviews (every ModelView that can add or edit), the admin who may edit each
from the role permissions in app/security.py, the rows from the list page, the form values from the edit page as a
browser would submit them."""
from __future__ import annotations

import re

import pytest
from flask_appbuilder import ModelView

from app.extensions import appbuilder, db
from app.models import Region, RoleName as R
from app.security import ROLE_PERMISSIONS
from tests.helpers import FormFields, cheap_passwords, log_in

SITE = "http://localhost"  # the test app's SERVER_NAME


# ------------------------------------------------------------------ a browser's view of a FAB form

def local(location: str) -> str:
    return location[len(SITE):] if location.startswith(SITE) else location


# ------------------------------------------------------------------ the views, their admins, their rows

def editable_views() -> list[ModelView]:
    views = [v for v in appbuilder.baseviews
             if isinstance(v, ModelView) and {"can_add", "can_edit"} & set(v.base_permissions)]
    assert views, "no generated view with add / edit found"
    return views


def may(role: str, view: ModelView, permission: str) -> bool:
    return any(re.fullmatch(v, view.class_permission_name) and re.fullmatch(p, permission)
               for v, p in ROLE_PERMISSIONS.get(role, []))


def admin_for(world, view: ModelView, permission: str):
    """The world's account (widest scope first) whose role may use `permission` on the view."""
    for who, role in (("city_admin", R.HR_ADMIN), ("sysadmin", R.SYSADMIN), ("support", R.SUPPORT),
                      ("district_admin", R.HR_ADMIN), ("dept_admin", R.DEPT_ADMIN), ("unit_admin", R.UNIT_ADMIN),
                      ("base_admin", R.BASE_ADMIN), ("auditor", R.AUDITOR)):
        if may(role.value, view, permission):
            return getattr(world, who), role.value
    pytest.fail(f"no account of the test world may {permission} on {view.class_permission_name}")


@pytest.fixture()
def world_with_regions(world):
    cheap_passwords()
    # every view needs a row to edit: the catalogue and the standards come with the migrations, regions not
    db.session.add_all([Region(code="370102", name="甲区"), Region(code="370103", name="乙区")])
    db.session.commit()
    return world


def list_url_of(view: ModelView) -> str:
    """The view's list with a page, page size and order chosen, as an admin leaves it after paging."""
    name = view.__class__.__name__
    args = [f"psize_{name}=25", f"page_{name}=0"]
    if view.order_columns:
        args += [f"_oc_{name}={view.order_columns[0]}", f"_od_{name}=asc"]
    return f"{view.route_base}/list/?" + "&".join(args)


def first_edit_link(client, view: ModelView, list_url: str) -> str:
    html = client.get(list_url).get_data(as_text=True)
    links = re.findall(rf'href="({re.escape(view.route_base)}/edit/\d+)', html)
    assert links, f"{view.__class__.__name__}: no row to edit on {list_url}"
    return links[0]


def other_list(view: ModelView) -> str:
    others = [v for v in appbuilder.baseviews if isinstance(v, ModelView) and v is not view]
    return f"{others[0].route_base}/list/"


# ------------------------------------------------------------------ tests

def test_every_generated_edit_form_returns_to_the_list_it_came_from(client, world_with_regions):
    for view in editable_views():
        if "can_edit" not in view.base_permissions:
            continue
        name = view.__class__.__name__
        account, role = admin_for(world_with_regions, view, "can_edit")
        log_in(client, account.username, role)
        list_url = list_url_of(view)
        edit_url = first_edit_link(client, view, list_url)
        form = FormFields(client.get(edit_url, headers={"Referer": SITE + list_url}).get_data(as_text=True))
        assert form.value("next") == list_url, name
        assert ("back-to-list", list_url) in form.links, name
        # the admin looks at another screen in another tab before saving: FAB's history would land there
        assert client.get(other_list(view)).status_code in (200, 403)
        response = client.post(edit_url, data=form.submission(), headers={"Referer": SITE + edit_url})
        assert response.status_code == 302, (name, response.status_code)
        assert local(response.headers["Location"]) == list_url, name
        assert client.get(response.headers["Location"]).status_code == 200, name
        client.post("/logout/", data={"csrf_token": form.value("csrf_token")})


def test_a_refused_save_keeps_the_way_back(client, world_with_regions):
    """A form shown again with its errors still returns to the list it was opened from."""
    for view in editable_views():
        if "can_edit" not in view.base_permissions:
            continue
        name = view.__class__.__name__
        account, role = admin_for(world_with_regions, view, "can_edit")
        log_in(client, account.username, role)
        list_url = list_url_of(view)
        edit_url = first_edit_link(client, view, list_url)
        form = FormFields(client.get(edit_url, headers={"Referer": SITE + list_url}).get_data(as_text=True))
        texts = [f["name"] for f in form.fields if f["type"] == "text" and f.get("name")]
        # every text field emptied: at least one of them is required on each of these forms
        response = client.post(edit_url, data=form.submission(**{t: "" for t in texts}))
        assert response.status_code == 200, (name, response.status_code)
        again = FormFields(response.get_data(as_text=True))
        assert again.value("next") == list_url and ("back-to-list", list_url) in again.links, name
        client.post("/logout/", data={"csrf_token": form.value("csrf_token")})


def test_every_generated_add_form_carries_the_list_it_came_from(client, world_with_regions):
    for view in editable_views():
        if "can_add" not in view.base_permissions:
            continue
        name = view.__class__.__name__
        account, role = admin_for(world_with_regions, view, "can_add")
        log_in(client, account.username, role)
        list_url = list_url_of(view)
        html = client.get(list_url).get_data(as_text=True)
        assert f'href="{view.route_base}/add' in html, name
        form = FormFields(client.get(f"{view.route_base}/add", headers={"Referer": SITE + list_url})
                          .get_data(as_text=True))
        assert form.value("next") == list_url and ("back-to-list", list_url) in form.links, name
        # an explicit next (a link that names its list) is followed just the same
        form = FormFields(client.get(f"{view.route_base}/add", query_string={"next": list_url}).get_data(as_text=True))
        assert form.value("next") == list_url, name
        client.post("/logout/", data={"csrf_token": form.value("csrf_token")})


def forged(view: ModelView) -> list[str]:
    own = f"{view.route_base}/list/"
    return [f"https://evil.example{own}", f"//evil.example{own}", f"/\\evil.example{own}", "https://evil.example/",
            f"http://localhost.evil.example{own}", other_list(view), f"{other_list(view)}?x={own}",
            f"{own}../../{other_list(view).lstrip('/')}", f"{own}\r\nSet-Cookie: x=1", f"javascript:alert(1)//{own}",
            f"{view.route_base}/edit/1"]


def test_a_forged_next_is_ignored(client, world_with_regions):
    """Another site, another view's list or any other page of the same view: back to the view's own list."""
    for view in editable_views():
        if "can_edit" not in view.base_permissions:
            continue
        name = view.__class__.__name__
        own = f"{view.route_base}/list/"
        account, role = admin_for(world_with_regions, view, "can_edit")
        log_in(client, account.username, role)
        edit_url = first_edit_link(client, view, list_url_of(view))
        for bad in forged(view):
            # a bad Referer or next when the form is opened is not carried
            headers = {"Referer": bad} if bad.isprintable() else {}
            form = FormFields(client.get(edit_url, query_string={"next": bad}, headers=headers)
                              .get_data(as_text=True))
            assert form.value("next") == "", (name, bad)
            assert ("back-to-list", own) in form.links, (name, bad)
            # nor is a next posted with the form (one with control characters is refused by the input filter)
            response = client.post(edit_url, data=form.submission(next=bad))
            if bad.isprintable():
                assert response.status_code == 302, (name, bad, response.status_code)
                assert local(response.headers["Location"]) == own, (name, bad)
            else:
                assert response.status_code in (200, 400) and "Location" not in response.headers, (name, bad)
        client.post("/logout/", data={"csrf_token": form.value("csrf_token")})


def test_an_action_returns_to_the_page_it_was_taken_on(client, world_with_regions):
    """A FAB action (staff password reset) goes back to the filtered list or the row's page it was taken on; a
    Referer of another site or another view is not followed."""
    from tests.helpers import make_person

    views = [v for v in appbuilder.baseviews if isinstance(v, ModelView) and v.actions]
    assert views, "no generated view with actions found"
    make_person("被重置的人", world_with_regions.unit)
    for view in views:
        name = view.__class__.__name__
        account, role = admin_for(world_with_regions, view, f"can_{next(iter(view.actions))}")
        token = log_in(client, account.username, role)
        list_url = list_url_of(view)
        html = client.get(list_url).get_data(as_text=True)
        pks = re.findall(rf'href="{re.escape(view.route_base)}/show/(\d+)', html)
        assert pks, f"{name}: no row on {list_url}"
        own = f"{view.route_base}/list/"
        for action_name in view.actions:
            for referer, lands in ((SITE + list_url, list_url), (f"{view.route_base}/show/{pks[0]}",
                                                                  f"{view.route_base}/show/{pks[0]}"),
                                   ("https://evil.example" + own, own), (SITE + other_list(view), own)):
                response = client.post(f"{view.route_base}/action_post", headers={"Referer": referer}, data={
                    "csrf_token": token, "action": action_name, "rowid": [pks[0]]})
                assert response.status_code == 302, (name, action_name, referer)
                assert local(response.headers["Location"]) == lands, (name, action_name, referer)
        client.post("/logout/", data={"csrf_token": token})
