import re
from tests.conftest import login, csrf_from
from tests import factories
from app.models import RoleName

def test_explore(client, world, app):
    from app.extensions import db
    person = factories.make_account("乙校老师", [(RoleName.PROFESSIONAL, world.other_unit)], person_unit=world.other_unit)
    from app.models import Person
    p = db.session.query(Person).filter_by(user_id=person.id).one()
    accounts = {"UnitAdmin": world.unit_admin, "Support": world.support, "Auditor": world.auditor, "SysAdmin": world.sysadmin}
    for role, acc in [("anon", None)] + list(accounts.items()):
        c = app.test_client()
        if acc:
            r = login(c, acc.username, role=role, follow=False)
            print('LOGIN', r.status_code, r.headers.get('Location')); import re as _re; print(_re.findall(r'alert[^>]*>([^<]*)', r.get_data(as_text=True)))
            tok = csrf_from(c.get("/account/password").get_data(as_text=True))
        else:
            tok = csrf_from(c.get("/login/").get_data(as_text=True))
        for url, m in [("/orgs/list/", "GET"), ("/orgs/add", "GET"), 
                       (f"/staff/action/reset_password/{p.id}", "POST"), (f"/staff/action/reset_password/{p.id}", "GET"),
                       ("/staff/action_post", "POST"), ("/api/v1/menu/", "GET"), ("/back", "GET"), ("/orgs/download/x.txt", "GET"),
                       ]:
            try:
                if m == "GET":
                    r = c.get(url)
                else:
                    r = c.post(url, data={"csrf_token": tok, "action": "reset_password", "rowid": str(p.id)})
                print(role, m, url, r.status_code, r.headers.get("Location"))
            except Exception as e:
                print(role, m, url, "EXC", repr(e)[:100])
