"""person.is_staff, the staff list's filter, follows the memberships on every path that writes one: the database
keeps it (triggers), so registration, approval, rejection, withdrawal, revocation, factories and hand-written SQL
all agree with "holds an active Professional membership"."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select, text, update

from app.models import Membership, MembershipState, Person, RoleName
from app.workflows import memberships
from app.workflows import registration as reg_flow
from app.workflows.base import transaction
from tests import factories
from tests.factories import PASSWORD, actor_for, make_account

R = RoleName


@pytest.fixture(autouse=True)
def _fresh_ids(monkeypatch):
    monkeypatch.setattr(factories, "_seq", itertools.count(1))


def staff_flag(db, user_id: int) -> bool:
    return db.session.execute(select(Person.is_staff).where(Person.user_id == user_id)).scalar_one()


def truth(db, user_id: int) -> bool:
    return db.session.scalar(select(Membership.id).where(
        Membership.user_id == user_id, Membership.role == R.PROFESSIONAL.value,
        Membership.state == MembershipState.ACTIVE.value).limit(1)) is not None


def register(unit, id_number: str):
    data = reg_flow.AccountData(id_type="resident_id", id_number=id_number, password=PASSWORD, confirm=PASSWORD,
                                name="王五", email=f"w{id_number}@example.cn", mobile="13912345678",
                                existing_user=False)
    return reg_flow.register_person(data, unit.id, {"education": "大学本科"}, ip="10.1.1.1")


def unit_admin(world):
    return actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit)


def test_a_factory_professional_is_staff_and_an_admin_is_not(world, db):
    staff = make_account("张三", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
    admin_with_profile = make_account("李四", [(R.UNIT_ADMIN, world.unit)], person_unit=world.unit)
    assert staff_flag(db, staff.id) is True
    assert staff_flag(db, admin_with_profile.id) is False


@pytest.mark.parametrize("decision, expected", [("approve", True), ("reject", False), ("withdraw", False)])
def test_a_registration_is_staff_only_once_approved(world, db, decision, expected):
    id_number = factories.new_id_number()
    reg = register(world.unit, id_number)
    assert staff_flag(db, reg.user_id) is False  # pending
    if decision == "approve":
        reg_flow.approve(reg, unit_admin(world))
    elif decision == "reject":
        reg_flow.reject(reg, unit_admin(world), "材料不全")
    else:
        reg_flow.withdraw(reg.id, id_number, PASSWORD, ip="10.9.9.9")
    db.session.expire_all()
    assert staff_flag(db, reg.user_id) is expected
    assert truth(db, reg.user_id) is expected


def test_revoking_the_membership_ends_staff(world, db):
    staff = make_account("张三", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
    membership = db.session.scalar(select(Membership).where(Membership.user_id == staff.id))
    with transaction():
        memberships.revoke(membership, unit_admin(world))
    db.session.expire_all()
    assert staff_flag(db, staff.id) is False


def test_a_second_active_membership_keeps_staff_when_one_ends(world, db):
    staff = make_account("张三", [(R.PROFESSIONAL, world.unit), (R.PROFESSIONAL, world.other_unit)],
                         person_unit=world.unit)
    first = db.session.scalars(select(Membership).where(Membership.user_id == staff.id)).first()
    db.session.delete(first)
    db.session.commit()
    assert staff_flag(db, staff.id) is True
    db.session.execute(text("DELETE FROM membership WHERE user_id = :u"), {"u": staff.id})
    db.session.commit()
    assert staff_flag(db, staff.id) is False


def test_a_person_added_after_the_membership_is_staff(world, db):
    account = make_account("王二", [(R.PROFESSIONAL, world.unit)])  # membership first, no profile
    db.session.add(Person(user_id=account.id, name="王二", id_number=account.username, unit_id=world.unit.id))
    db.session.commit()
    assert staff_flag(db, account.id) is True


def test_the_flag_cannot_be_written_by_hand(world, db):
    staff = make_account("张三", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
    other = make_account("李四", [(R.UNIT_ADMIN, world.unit)], person_unit=world.unit)
    db.session.execute(update(Person).where(Person.user_id == staff.id).values(is_staff=False))
    db.session.execute(update(Person).where(Person.user_id == other.id).values(is_staff=True))
    db.session.commit()
    assert staff_flag(db, staff.id) is True
    assert staff_flag(db, other.id) is False


def test_a_membership_moved_by_sql_moves_the_flag(world, db):
    staff = make_account("张三", [(R.PROFESSIONAL, world.unit)], person_unit=world.unit)
    other = make_account("李四", [], person_unit=world.unit)
    db.session.execute(update(Membership).where(Membership.user_id == staff.id).values(user_id=other.id))
    db.session.commit()
    assert (staff_flag(db, staff.id), staff_flag(db, other.id)) == (False, True)
    db.session.execute(update(Membership).where(Membership.user_id == other.id)
                       .values(state=MembershipState.REVOKED.value))
    db.session.commit()
    assert staff_flag(db, other.id) is False
