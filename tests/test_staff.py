"""U10 staff list: approved professionals of the admin's subtree only; applicants are not staff."""
from sqlalchemy import update

from app.models import Membership, MembershipState, RoleName
from tests import factories
from tests.helpers import login, page, submit


def test_staff_list_shows_approved_professionals_only(client, world, db):
    factories.make_account("在职人员", [(RoleName.PROFESSIONAL, world.unit)], person_unit=world.unit)
    factories.make_account("分院人员", [(RoleName.PROFESSIONAL, world.sub_unit)], person_unit=world.sub_unit)
    factories.make_account("乙校人员", [(RoleName.PROFESSIONAL, world.other_unit)], person_unit=world.other_unit)
    rejected = factories.make_account("被驳回者", [(RoleName.PROFESSIONAL, world.unit)], person_unit=world.unit)
    db.session.execute(update(Membership).where(Membership.user_id == rejected.id)
                       .values(state=MembershipState.REJECTED.value))
    db.session.commit()
    submit(client, "/public/register/person", factories.person_form(world.unit, name="待审核者"))

    login(client, world.unit_admin.username, role="UnitAdmin")
    text = page(client.get("/staff/list/"))
    assert "在职人员" in text and "分院人员" in text
    for absent in ("乙校人员", "被驳回者", "待审核者"):
        assert absent not in text
