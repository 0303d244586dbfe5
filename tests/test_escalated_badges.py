"""X3 "已催办": an item escalated to the org above shows the badge in every review queue and on its detail page
(registrations, title changes, transfers, org changes, base reports; declarations in tests/test_reminders.py),
and an item that was not escalated shows none."""
from __future__ import annotations

import datetime

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select, update

from app.extensions import db
from app.models import ReviewWait, RoleName
from app.workflows import org_change as org_flow
from app.workflows import transfer as transfer_flow
from tests.factories import actor_for
from tests.helpers import (login, make_change, make_person, make_report, page, professional, pro, register,
                           reviewers_of)

R = RoleName
pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def _registration(w):
    return register(w.unit, "注册申请人"), "/review/registrations/", "/review/registrations/{}"


def _title_change(w):
    return make_change(w, professional(w.unit)), "/review/personnel/", "/review/personnel/{}"


def _transfer(w):
    item = transfer_flow.submit(pro(make_person("调转申请人", w.unit), w.unit), w.other_unit.id, "家庭原因")
    return item, "/review/transfers/", "/review/transfers/{}"


def _org_change(w):
    item = org_flow.request_change(actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit),
                                   org_flow.ChangeRequest(credit_code=None, parent_id=w.other_district.id))
    return item, "/review/org-changes/", "/review/org-changes/{}"


def _base_report(w):
    item = make_report(w.base_admin, w.base, [make_person("学员", w.unit)])
    return item, "/review/base-reports/", "/review/base-reports/{}"


@pytest.mark.parametrize("make", [_registration, _title_change, _transfer, _org_change, _base_report],
                         ids=["registration", "title_change", "transfer", "org_change", "base_report"])
def test_an_escalated_item_shows_it_in_its_queue_and_on_its_page(app, client, fast_world, make):
    w = fast_world
    item, queue, detail = make(w)
    # an org change waits at its old and its new parent at once: the first of them
    wait = db.session.scalars(select(ReviewWait).where(ReviewWait.object_type == type(item).__tablename__,
                                                       ReviewWait.object_id == item.id)
                              .order_by(ReviewWait.id)).first()
    admin, role = reviewers_of(w)[wait.org_id]
    login(client, admin.username, role=role.value)
    with force_locale("zh"):
        label = gettext("Escalated")
    assert label == "已催办"
    assert label not in page(client.get(queue)) and label not in page(client.get(detail.format(item.id)))
    db.session.execute(update(ReviewWait).where(ReviewWait.id == wait.id)
                       .values(escalated_at=datetime.datetime(2026, 3, 9, 9, 0)))
    db.session.commit()
    assert label in page(client.get(queue))
    assert label in page(client.get(detail.format(item.id)))
