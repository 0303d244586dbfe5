"""X3 with a frozen clock: a waiting item reminds its reviewers after N days (once per period), is escalated once to
the org above after M days (its admins are told, the item shows "已催办"), a decision ends the wait; a professional
whose year is not complete is told on the HR bureau's date what is missing, once; the settings are the city HR
bureau's."""
from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import AnnualStandard, Notification, ReminderSetting, ReviewWait, RoleName
from app.workflows import declaration as decl_flow
from app.workflows import reminders
from app.workflows.base import DomainError, PermissionDenied
from tests.factories import actor_for
from tests.helpers import csrf_from, login, make_declaration, make_person, page

R = RoleName
T0 = datetime.datetime(clock.today().year, 3, 2, 9, 0)
pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


@pytest.fixture()
def frozen(monkeypatch):
    """clock.now() is what the test sets."""
    state = {"now": T0}
    monkeypatch.setattr(clock, "now", lambda: state["now"])

    def at(days: float):
        state["now"] = T0 + datetime.timedelta(days=days)
        return state["now"]
    return at


def notes(account, kind):
    return list(db.session.scalars(select(Notification).where(Notification.user_id == account.id,
                                                                  Notification.kind == kind)))


def settings(unit=(3, 7)):
    db.session.add(ReminderSetting(org_kind="unit", remind_days=unit[0], escalate_days=unit[1]))
    db.session.commit()


def test_reminders_after_n_days_escalation_after_m_days_nothing_twice(fast_world, frozen, outbox):
    w = fast_world
    settings()
    item = make_declaration(w, make_person("申报人", w.unit))
    [wait] = db.session.scalars(select(ReviewWait))
    assert (wait.object_id, wait.org_id, wait.since) == (item.id, w.unit.id, T0)

    frozen(2.9)
    assert reminders.review_reminders() == {"reminded": 0, "escalated": 0}
    frozen(3)
    assert reminders.review_reminders()["reminded"] == 1
    [reminder] = notes(w.unit_admin, "reminder")
    assert reminder.link == f"/review/declarations/{item.id}"
    frozen(5)
    assert reminders.review_reminders() == {"reminded": 0, "escalated": 0}  # the same period: nothing twice
    assert len(notes(w.unit_admin, "reminder")) == 1
    frozen(6)
    assert reminders.review_reminders()["reminded"] == 1  # the next period
    frozen(7)
    done = reminders.review_reminders()
    assert done["escalated"] == 1
    [escalation] = notes(w.dept_admin, "escalation")  # the org above the unit
    assert escalation.object_id == item.id and w.unit.name in escalation.body
    assert reminders.review_reminders()["escalated"] == 0  # once
    assert len(notes(w.dept_admin, "escalation")) == 1
    db.session.expire_all()
    [wait] = db.session.scalars(select(ReviewWait))
    assert wait.escalated_at == T0 + datetime.timedelta(days=7) and wait.escalated_to_id == w.dept.id
    # nobody outside the unit's chain heard of it
    assert notes(w.other_unit_admin, "reminder") == [] and notes(w.district_admin, "escalation") == []


def test_the_escalated_item_shows_it_and_a_decision_ends_the_wait(client, fast_world, frozen):
    w = fast_world
    settings((1, 2))
    item = make_declaration(w, make_person("申报人", w.unit))
    frozen(2)
    reminders.review_reminders()
    login(client, w.unit_admin.username, role="UnitAdmin")
    from flask_babel import force_locale, gettext

    with force_locale("zh"):
        label = gettext("Escalated")
    assert label in page(client.get("/review/declarations/"))
    decl_flow.approve(item, actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit))
    [wait] = db.session.scalars(select(ReviewWait))  # now it waits at the department, afresh
    assert (wait.org_id, wait.escalated_at, wait.since) == (w.dept.id, None, T0 + datetime.timedelta(days=2))
    frozen(3)
    assert reminders.review_reminders() == {"reminded": 0, "escalated": 0}  # no setting for departments


def test_settings_belong_to_the_city_hr_bureau(fast_world, client):
    w = fast_world
    city = actor_for(w.city_admin, R.HR_ADMIN, w.city)
    reminders.save_settings(city, {"unit": ("3", "7"), "department": ("", "10")})
    assert (db.session.get(ReminderSetting, "unit").remind_days, db.session.get(ReminderSetting, "unit")
            .escalate_days) == (3, 7)
    with pytest.raises(DomainError):
        reminders.save_settings(city, {"unit": ("7", "3")})
    with pytest.raises(DomainError):
        reminders.save_settings(city, {"unit": ("-1", "")})
    for actor in (actor_for(w.district_admin, R.HR_ADMIN, w.district), actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit)):
        with pytest.raises(PermissionDenied):
            reminders.save_settings(actor, {"unit": ("1", "2")})
    # through the page
    login(client, w.city_admin.username, role="HRAdmin")
    html = page(client.get("/reminders/"))
    token = csrf_from(html)
    client.post("/reminders/", data={"csrf_token": token, "part": "reviews", "remind_unit": "4",
                                     "escalate_unit": "9"})
    db.session.expire_all()
    assert db.session.get(ReminderSetting, "unit").remind_days == 4


def test_a_professional_is_told_what_is_missing_once_on_the_date(fast_world, frozen):
    w = fast_world
    year = clock.today().year
    db.session.add(AnnualStandard(year=year, region_id=None, public_min=Decimal(30), professional_min=Decimal(60),
                                  total_min=Decimal(90)))
    db.session.commit()
    behind = make_person("未完成的人", w.unit)
    done = make_person("已完成的人", w.unit)
    person_done = db.session.scalar(select(decl_flow.Person).where(decl_flow.Person.user_id == done.id))
    decl_flow.credit(person_done.id, year, decl_flow.Subject.PUBLIC, Decimal(30), form_id=None, title="公需课",
                     source="test", source_id=1)
    decl_flow.credit(person_done.id, year, decl_flow.Subject.PROFESSIONAL, Decimal(60), form_id=None,
                     title="专业课", source="test", source_id=2)
    person_behind = db.session.scalar(select(decl_flow.Person).where(decl_flow.Person.user_id == behind.id))
    decl_flow.credit(person_behind.id, year, decl_flow.Subject.PROFESSIONAL, Decimal(20), form_id=None,
                     title="专业课", source="test", source_id=3)
    db.session.commit()
    day = clock.today() + datetime.timedelta(days=1)
    reminders.set_completion_date(actor_for(w.city_admin, R.HR_ADMIN, w.city), year, day) \
        if day.year == year else pytest.skip("the run's day is the last of the year")

    assert reminders.completion_reminders(day - datetime.timedelta(days=1)) == 0
    assert reminders.completion_reminders(day) == 1
    [note] = notes(behind, "completion")
    assert "30" in note.body and "40" in note.body and "70" in note.body  # public, professional, total missing
    assert notes(done, "completion") == []
    assert reminders.completion_reminders(day + datetime.timedelta(days=1)) == 0  # once
    with pytest.raises(DomainError):  # sent: the date cannot move any more
        reminders.set_completion_date(actor_for(w.city_admin, R.HR_ADMIN, w.city), year, day)
