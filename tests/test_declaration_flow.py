"""Issue 3 journey through HTTP: declare with evidence, three reviewers approve in turn, the year passes."""
import datetime
import io

from sqlalchemy import select

from app import clock
from app.models import Declaration, LearningForm, RoleName, YearSummary
from tests import factories
from tests.helpers import csrf_from, login, page

PNG = factories.PNG  # a real image: uploads are checked by decoding them
YEAR = clock.today().year


def _declare(client, form_code, hours, action="submit", **details):
    lf = client.application.extensions["sqlalchemy"].session.scalar(
        select(LearningForm).where(LearningForm.code == form_code))
    token = csrf_from(client.get("/hours/declare").get_data(as_text=True))
    data = {"csrf_token": token, "subject": details.pop("subject", "professional"), "form_id": str(lf.id),
            "year": str(YEAR), "title": details.pop("title", "心血管病诊疗新进展培训班"), "hours": str(hours),
            "action": action, **{f"f_{k}": v for k, v in details.items() if k not in ("start_date", "end_date")}}
    for key in ("start_date", "end_date"):
        if key in details:
            data[key] = details[key]
    data["attachments"] = [(io.BytesIO(PNG), "证书.png")]
    return client.post("/hours/declare", data=data, content_type="multipart/form-data", follow_redirects=True)


def test_declare_and_three_level_review(client, world, db, outbox):
    person = factories.make_account("申报人", [(RoleName.PROFESSIONAL, world.unit)], person_unit=world.unit)
    login(client, person.username)
    today = clock.today()
    r = _declare(client, "training", 60, organiser="省卫健委", location="济南",
                 start_date=(today - datetime.timedelta(days=8)).isoformat(),
                 end_date=(today - datetime.timedelta(days=1)).isoformat())
    assert r.status_code == 200
    assert "待单位审核" in page(r), page(r)[:2000]
    item = db.session.scalar(select(Declaration))
    assert item.state == "pending_unit" and item.reviewer_org_id == world.unit.id

    for admin, role, expected in ((world.unit_admin, "UnitAdmin", "pending_dept"),
                                  (world.dept_admin, "DeptAdmin", "pending_hr"),
                                  (world.district_admin, "HRAdmin", "approved")):
        client.post("/logout/", data={"csrf_token": csrf_from(client.get("/home/").get_data(as_text=True))})
        login(client, admin.username, role=role)
        queue = client.get("/review/declarations/")
        assert "心血管病诊疗新进展培训班" in page(queue)
        token = csrf_from(queue.get_data(as_text=True))
        client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(item.id),
                                                         "action": "approve"})
        db.session.expire_all()
        assert db.session.get(Declaration, item.id).state == expected

    summary = db.session.get(YearSummary, (item.person_id, YEAR))
    assert summary.professional_hours == 60
    client.post("/logout/", data={"csrf_token": csrf_from(client.get("/home/").get_data(as_text=True))})
    login(client, person.username)
    annual = page(client.get("/hours/annual"))
    assert "<td>60 <span" in annual
    assert any("审核通过" in m.subject for m in outbox)
