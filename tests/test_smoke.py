"""The shortest journey through the real pages, in the default language (Chinese)."""
from tests import factories
from tests.helpers import login, page, submit, zh


def test_register_approve_login(client, world, outbox):
    form = factories.person_form(world.unit)
    r = submit(client, "/public/register/person", form)
    assert r.status_code == 200, page(r)[:3000]
    assert "注册信息已提交审核" in page(r), page(r)[:3000]
    r = login(client, world.unit_admin.username, role="UnitAdmin")
    assert r.status_code == 200
    html = page(client.get("/review/registrations/"))
    assert "张三" in html and zh("Registration review") in html
    assert 'lang="zh-CN"' in html
