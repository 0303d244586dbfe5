"""The pending counts in the review queues' headings stop at COUNT_CAP (an exact count of a city's pending rows costs in
proportion to them): past it the heading says "more than"; below it the exact figure."""
from __future__ import annotations

from app.models import RoleName
from app.views import labels
from app.workflows import base, registration
from tests.factories import actor_for
from tests.helpers import login, page, register, zh

R = RoleName


def test_a_queue_heading_counts_exactly_below_the_cap_and_says_more_than_past_it(app, world, monkeypatch):
    for name in ("封顶甲", "封顶乙", "封顶丙"):
        register(world.unit, name)
    client = app.test_client()
    login(client, world.unit_admin.username, role=R.UNIT_ADMIN.value)
    assert zh("%(n)s pending", n=3) in page(client.get("/review/registrations/"))
    monkeypatch.setattr(base, "COUNT_CAP", 2)
    monkeypatch.setattr(labels, "COUNT_CAP", 2)
    html = page(client.get("/review/registrations/"))
    assert zh("More than %(n)s pending", n="2") in html and zh("%(n)s pending", n=3) not in html
    with app.test_request_context():
        assert registration.pending_count(actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit)) == 3  # cap + 1
    assert zh("More than %(n)s pending", n="2") not in page(client.get("/review/declarations/"))  # none pending
