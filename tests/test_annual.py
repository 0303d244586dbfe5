"""State machine 8: the annual result is computed from credited hours and the year's standard."""
from decimal import Decimal

from app import clock
from app.models import AnnualStandard, RoleName, Subject
from app.workflows import annual
from app.workflows.declaration import credit
from tests import factories


def _person(world, db):
    from app.models import Person

    account = factories.make_account("年度测试", [(RoleName.PROFESSIONAL, world.unit)], person_unit=world.unit)
    return db.session.query(Person).filter_by(user_id=account.id).one()


def test_pass_needs_every_minimum(world, db):
    person = _person(world, db)
    year = clock.today().year
    credit(person.id, year, Subject.PUBLIC, Decimal(30), form_id=None, title="公需", source="online", source_id=1)
    credit(person.id, year, Subject.PROFESSIONAL, Decimal(59), form_id=None, title="专业", source="online",
           source_id=2)
    db.session.commit()
    result = annual.year_result(person, year)
    assert result.public_met and not result.professional_met and not result.passed
    credit(person.id, year, Subject.PROFESSIONAL, Decimal(1), form_id=None, title="专业", source="online",
           source_id=3)
    db.session.commit()
    assert annual.year_result(person, year).passed


def test_region_standard_overrides_default_and_later_years_keep_the_latest(world, db):
    _person(world, db)
    from app.models import Region

    region = Region(code="370199", name="测试区")
    db.session.add(region)
    db.session.flush()
    world.unit.region_id = region.id
    last = db.session.query(AnnualStandard).filter(AnnualStandard.region_id.is_(None)).order_by(
        AnnualStandard.year.desc()).first()
    db.session.add(AnnualStandard(year=last.year, region_id=region.id, public_min=50, professional_min=125,
                                  total_min=175))
    db.session.commit()
    marks = annual.standards([last.year, last.year + 1], region.id)
    assert marks[last.year].public_min == 50
    assert marks[last.year + 1] is marks[last.year]  # a year not set yet keeps the latest standard
    assert annual.standards([last.year], None)[last.year].public_min == last.public_min


def test_the_nearest_region_up_the_chain_wins_and_a_unit_without_region_takes_its_hr_bureaus(world, db):
    """City standard for the city and its districts, a district's own standard for that district only; a unit with
    no region of its own is judged by the region of the nearest HR bureau above it."""
    from app.models import Region

    person = _person(world, db)
    city = Region(code="370100", name="测试市")
    db.session.add(city)
    db.session.flush()
    district, other = Region(code="370102", name="甲区", parent_id=city.id), Region(code="370103", name="乙区",
                                                                                     parent_id=city.id)
    db.session.add_all([district, other])
    db.session.flush()
    year = clock.today().year
    db.session.add_all([
        AnnualStandard(year=year, region_id=city.id, public_min=40, professional_min=80, total_min=120),
        AnnualStandard(year=year, region_id=district.id, public_min=45, professional_min=90, total_min=135)])
    world.unit.region_id = None
    world.city.region_id, world.district.region_id = city.id, other.id
    db.session.commit()
    assert annual.standards([year], district.id)[year].public_min == 45
    assert annual.standards([year], other.id)[year].public_min == 40  # no own standard: the city's
    # the unit lies below the district bureau (region 乙区), whose nearest standard is the city's
    assert annual.year_result(person, year).standard.public_min == 40
    world.district.region_id = district.id
    db.session.commit()
    db.session.expire_all()
    assert annual.year_result(person, year).standard.public_min == 45
