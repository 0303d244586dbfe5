"""Multi-row writes (one INSERT, UPDATE or DELETE statement for many people of several units under several orgs) of
people, memberships and year summaries leave the staff flag, the completion rollup (per unit and per subtree) and
the staff tally equal to a count made here person by person. On PostgreSQL the counters follow each statement once
(app/models/statement_triggers.py), on SQLite row by row: the same figures either way."""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import Org, Person
from app.workflows.title_change import split_list
from tests import factories
from tests.helpers import YEAR
from tests.test_statistics_rollup import _standard, check

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")

STAFF = ("EXISTS (SELECT 1 FROM membership m WHERE m.user_id = person.user_id AND m.role = 'Professional'"
         " AND m.state = 'active')")


def expected_tally() -> dict:
    """Per org and dimension, its subtree's staff counted person by person (the own rows: the unit's own)."""
    tally: Counter = Counter()
    paths = {o.id: o.path for o in db.session.scalars(select(Org))}
    for person in db.session.scalars(select(Person).where(Person.is_staff, Person.unit_id.is_not(None))):
        tally[(person.unit_id, "own", "", "")] += 1
        for org_id in (int(a) for a in paths[person.unit_id].strip("/").split("/")):
            tally[(org_id, "staff", "", "")] += 1
            tally[(org_id, "title", person.title_series or "", person.title_level or "")] += 1
            for item in set(split_list(person.vocational_qualifications or "")):
                tally[(org_id, "qual", item, "")] += 1
    return dict(tally)


def stored_tally() -> dict:
    return {tuple(row[:4]): row[4] for row in db.session.execute(text(
        "SELECT org_id, dim, value, value2, n FROM staff_tally WHERE n <> 0"))}


def check_all(w) -> tuple[dict, dict]:
    """The staff flags, the rollup (tests/test_statistics_rollup.check) and the tally against the people."""
    db.session.expire_all()
    flags = db.session.execute(text(f"SELECT count(*) FROM person WHERE is_staff IS DISTINCT FROM {STAFF}"))
    assert flags.scalar() == 0
    figures = check(w)
    assert stored_tally() == expected_tally()
    return figures


def run(sql: str, **params) -> None:
    db.session.execute(text(sql), params)
    db.session.commit()


@pytest.fixture()
def w(world):
    _standard(YEAR - 1, None, (10, 10, 20))
    _standard(YEAR, None, (10, 20, 30))
    world.accounts = [factories.make_account(f"批量{n}") for n in range(12)]
    return world


def test_multi_row_writes_of_people_memberships_and_summaries(w):
    ids = [a.id for a in w.accounts]
    units = [w.unit, w.sub_unit, w.other_unit, w.dept]
    cases = " ".join(f"WHEN {uid} THEN {units[n % 4].id}" for n, uid in enumerate(ids))
    quals = ["执业医师,主治医师", "执业药师", None, "教师资格；执业医师"]
    qual_cases = " ".join(f"WHEN {uid} THEN {'NULL' if quals[n % 4] is None else repr(quals[n % 4])}"
                          for n, uid in enumerate(ids))
    user_ids = ", ".join(str(i) for i in ids)
    # one INSERT of people (not staff yet) in four units, then one of their memberships: they all become staff
    run(f"INSERT INTO person (user_id, name, id_number, unit_id, title_series, title_level, vocational_qualifications,"
        f" created_at) SELECT u.id, u.first_name, u.username, CASE u.id {cases} END,"
        f" CASE WHEN u.id % 2 = 0 THEN '卫生技术' END, CASE WHEN u.id % 3 = 0 THEN '中级' ELSE '初级' END,"
        f" CASE u.id {qual_cases} END, CURRENT_TIMESTAMP FROM ab_user u WHERE u.id IN ({user_ids})")
    check_all(w)
    run("INSERT INTO membership (user_id, role, org_id, state, is_super, created_at)"
        " SELECT p.user_id, 'Professional', p.unit_id, 'active', :no, CURRENT_TIMESTAMP FROM person p"
        f" WHERE p.user_id IN ({user_ids})", no=False)
    people = [p for p, in db.session.execute(text(f"SELECT id FROM person WHERE user_id IN ({user_ids}) ORDER BY id"))]
    assert db.session.scalar(text(f"SELECT count(*) FROM person WHERE is_staff AND user_id IN ({user_ids})")) == 12
    check_all(w)
    # one INSERT of year summaries (two years), one UPDATE of some, one DELETE of others
    run("INSERT INTO year_summary (person_id, year, public_hours, professional_hours)"
        " SELECT p.id, y.year, (p.id % 3) * 6, (p.id % 4) * 8 FROM person p,"
        f" (SELECT {YEAR} AS year UNION ALL SELECT {YEAR - 1}) y WHERE p.user_id IN ({user_ids})")
    heads, years = check_all(w)
    assert heads[w.unit.id] == 3 and years[(w.unit.id, YEAR)][0] == 3
    run(f"UPDATE year_summary SET public_hours = public_hours + 5 WHERE year = {YEAR} AND person_id % 2 = 0")
    check_all(w)
    run(f"DELETE FROM year_summary WHERE year = {YEAR - 1} AND person_id % 3 = 0")
    check_all(w)
    # one UPDATE moving people between units of different districts, one changing titles and qualifications only
    moved = ", ".join(str(p) for p in people[:6])
    run(f"UPDATE person SET unit_id = CASE WHEN unit_id = {w.other_unit.id} THEN {w.unit.id}"
        f" ELSE {w.other_unit.id} END WHERE id IN ({moved})")
    check_all(w)
    run("UPDATE person SET title_level = '副高级', vocational_qualifications = '执业医师、注册会计师'"
        f" WHERE id IN ({', '.join(str(p) for p in people[::2])})")
    check_all(w)
    # one UPDATE revoking some memberships, one giving some back, one DELETE of memberships
    run(f"UPDATE membership SET state = 'revoked' WHERE user_id IN ({user_ids}) AND user_id % 3 <> 0")
    check_all(w)
    run(f"UPDATE membership SET state = 'active' WHERE user_id IN ({user_ids}) AND user_id % 2 = 0")
    check_all(w)
    run(f"DELETE FROM membership WHERE user_id IN ({user_ids}) AND user_id % 5 = 0")
    check_all(w)
    # one DELETE of people (their summaries first)
    gone = ", ".join(str(p) for p in people[5:])
    run(f"DELETE FROM year_summary WHERE person_id IN ({gone})")
    check_all(w)
    run(f"DELETE FROM person WHERE id IN ({gone})")
    check_all(w)
    assert db.session.scalar(text("SELECT count(*) FROM person WHERE is_staff")) > 0


def test_a_statement_changing_nothing_counted_writes_no_counter(w):
    """An UPDATE of other columns (or to the same values) of many people leaves the counters' rows untouched."""
    for n, account in enumerate(w.accounts[:4]):
        db.session.add(Person(user_id=account.id, name=f"批量{n}", id_number=account.username,
                              unit_id=(w.unit if n % 2 else w.other_unit).id))
    db.session.commit()
    run("INSERT INTO membership (user_id, role, org_id, state, is_super, created_at)"
        " SELECT p.user_id, 'Professional', p.unit_id, 'active', :no, CURRENT_TIMESTAMP FROM person p", no=False)
    check_all(w)
    if db.engine.dialect.name != "postgresql":
        return
    versions = "SELECT {0} FROM completion_unit UNION ALL SELECT {0} FROM completion_org"
    before = db.session.execute(text(versions.format("xmin::text"))).scalars().all()
    run("UPDATE person SET department = '内科', unit_id = unit_id, is_staff = is_staff")
    run("UPDATE membership SET is_super = is_super, state = state")
    assert db.session.execute(text(versions.format("xmin::text"))).scalars().all() == before
    check_all(w)
