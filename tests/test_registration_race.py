"""Two registrations of the same 证件号 arriving at the same instant: the loser gets a clear message, no 500."""
from sqlalchemy import func, select

from app.models import Account, Registration
from app.workflows import registration as reg_flow
from tests import factories
from tests.helpers import submit


def test_simultaneous_duplicate_registration_gets_a_message(client, world, db, monkeypatch):
    accounts_before = db.session.scalar(select(func.count(Account.id)))
    form = factories.person_form(world.unit)
    first = submit(client, "/public/register/person", form)
    assert "注册信息已提交审核" in first.get_data(as_text=True)

    # The second request passed its "already registered?" check before the first one committed.
    monkeypatch.setattr(reg_flow, "find_account", lambda id_number: None)
    second = submit(client, "/public/register/person", {**form, "email": "other@example.cn"})
    html = second.get_data(as_text=True)
    assert second.status_code == 200
    assert "同一注册申请在同一时刻重复提交" in html
    assert db.session.scalar(select(func.count(Account.id))) == accounts_before + 1
    assert db.session.scalar(select(func.count(Registration.id))) == 1
