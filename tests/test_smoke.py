from tests.conftest import login, submit
from tests import factories


def test_register_approve_login(client, world, outbox):
    form = factories.person_form(world.unit)
    r = submit(client, "/public/register/person", form)
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html[:3000]
    assert "注册信息已提交审核" in html or "submitted" in html, html[:3000]
    r = login(client, world.unit_admin.username, role="UnitAdmin")
    assert r.status_code == 200
    html = client.get("/review/registrations/").get_data(as_text=True)
    assert "张三" in html
