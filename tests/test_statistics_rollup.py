"""The completion statistics' rollup (completion_unit, completion_rollup, completion_standard) equals the live
aggregate after every kind of write that changes a figure: hours credited (a declaration, a base report, a
summary corrected by hand), staff joining and leaving (registration, revocation, transfer), a person's unit
changed, a standard added or edited (through its screen too), an org's region or place in the tree changed.

The expected figures are computed here, in Python, from each staff person's year summaries and
annual.year_result (state machine 8); the page's figures are also compared with statistics.live_figures."""
from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text, update

from app.extensions import db
from app.models import (AnnualStandard, CompletionOrg, CompletionOrgYear, CompletionRollup, CompletionUnit, Membership,
                        Org, Person, Region, RoleName, YearSummary)
from app.models import rollup
from app.workflows import annual, memberships, orgs
from app.workflows import base_reports as report_flow
from app.workflows import registration as reg_flow
from app.workflows import statistics as stats
from app.workflows import transfer as transfer_flow
from app.workflows.base import transaction
from app.workflows.title_change import split_list
from tests import factories
from tests.factories import actor_for
from tests.helpers import (YEAR, credit_year, csrf_from, log_in, make_declaration, make_person, make_report,
                           needs_postgres, person_of, pro, register)

R = RoleName
YEARS = (YEAR - 1, YEAR)

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def expected() -> tuple[dict, dict]:
    """Headcount per unit, and (counted, took part, passed) per unit and year, person by person."""
    heads: Counter = Counter()
    years: dict = defaultdict(lambda: [0, 0, 0])
    for person in db.session.scalars(select(Person).where(Person.is_staff, Person.unit_id.is_not(None))):
        heads[person.unit_id] += 1
        for summary in db.session.scalars(select(YearSummary).where(YearSummary.person_id == person.id)):
            row = years[(person.unit_id, summary.year)]
            row[0] += 1
            row[1] += 1 if summary.public_hours + summary.professional_hours > 0 else 0
            row[2] += 1 if annual.year_result(person, summary.year).passed else 0
    return dict(heads), {key: tuple(row) for key, row in years.items()}


def stored() -> tuple[dict, dict]:
    heads = {u: h for u, h in db.session.execute(select(CompletionUnit.unit_id, CompletionUnit.headcount)) if h}
    years = {(r.unit_id, r.year): (r.counted, r.took_part, r.passed)
             for r in db.session.scalars(select(CompletionRollup)) if (r.counted, r.took_part, r.passed) != (0, 0, 0)}
    return heads, years


def subtrees(heads: dict, years: dict) -> tuple[dict, dict]:
    """The units' own figures summed over each org's subtree."""
    tree_heads: Counter = Counter()
    tree_years: dict = defaultdict(lambda: [0, 0, 0])
    for org in db.session.scalars(select(Org)):
        for unit in db.session.scalars(select(Org).where(Org.path.startswith(org.path))):
            tree_heads[org.id] += heads.get(unit.id, 0)
            for (unit_id, year), row in years.items():
                if unit_id == unit.id:
                    tree_years[(org.id, year)] = [a + b for a, b in zip(tree_years[(org.id, year)], row)]
    return ({k: v for k, v in tree_heads.items() if v},
            {k: tuple(v) for k, v in tree_years.items() if any(v)})


def stored_subtrees() -> tuple[dict, dict]:
    heads = {o: h for o, h in db.session.execute(select(CompletionOrg.org_id, CompletionOrg.headcount)) if h}
    years = {(r.org_id, r.year): (r.counted, r.took_part, r.passed)
             for r in db.session.scalars(select(CompletionOrgYear)) if (r.counted, r.took_part, r.passed) != (0, 0, 0)}
    return heads, years


def check(w) -> tuple[dict, dict]:
    """The rollup equals the person-by-person count, its subtree rows the sums of the units' rows, and every
    page of the city equals the live aggregate."""
    db.session.expire_all()
    own = expected()
    assert stored() == own
    assert stored_subtrees() == subtrees(*own)
    for year in YEARS:
        for org in (w.city, w.district, w.dept, w.unit, w.other_district):
            org = db.session.get(Org, org.id)
            assert stats._figures(org, year) == stats.live_figures(org, year), (org.name, year)
    return stored()


def _standard(year: int, region_id, marks) -> AnnualStandard:
    row = db.session.scalar(select(AnnualStandard).where(
        AnnualStandard.year == year,
        AnnualStandard.region_id.is_(None) if region_id is None else AnnualStandard.region_id == region_id))
    if row is None:
        row = AnnualStandard(year=year, region_id=region_id)
        db.session.add(row)
    row.public_min, row.professional_min, row.total_min = (Decimal(m) for m in marks)
    db.session.commit()
    return row


@pytest.fixture()
def w(fast_world):
    """The world with a default standard both years, three staff of world.unit with hours, one of other_unit."""
    world = fast_world
    _standard(YEAR - 1, None, (10, 10, 20))
    _standard(YEAR, None, (10, 20, 30))
    world.people = [make_person(name, world.unit) for name in ("甲", "乙", "丙")]
    world.other = make_person("丁", world.other_unit)
    credit_year(world.people[0], 10, 20)
    credit_year(world.people[1], 5, 5)
    credit_year(world.people[1], 10, 10, YEAR - 1)
    credit_year(world.other, 30, 30)
    return world


def test_the_migration_backfill_equals_the_triggers(w):
    kept = check(w)
    with transaction():
        rollup.rebuild(db.session.connection())
    assert check(w) == kept
    assert kept[0] == {w.unit.id: 3, w.other_unit.id: 1}
    assert kept[1] == {(w.unit.id, YEAR): (2, 2, 1), (w.unit.id, YEAR - 1): (1, 1, 1),
                       (w.other_unit.id, YEAR): (1, 1, 1)}


def test_hours_credited_by_an_approved_declaration(w):
    account = w.people[2]
    make_declaration(w, account, "pending_dept", hours=25)
    before = check(w)  # nothing credited while under review
    make_declaration(w, account, "approved", title="第二次培训", hours=25)
    after = check(w)
    assert before[1].get((w.unit.id, YEAR)) == (2, 2, 1) and after[1][(w.unit.id, YEAR)] == (3, 3, 1)
    credit_year(account, 10, 0)  # the public hours make the third pass
    assert check(w)[1][(w.unit.id, YEAR)] == (3, 3, 2)


def test_hours_credited_by_a_base_report(w):
    report = make_report(w.base_admin, w.base, [w.people[1], w.people[2]], hours=20)
    report_flow.approve(report, actor_for(w.city_admin, R.HR_ADMIN, w.city))
    assert check(w)[1][(w.unit.id, YEAR)] == (3, 3, 1)  # 20 professional hours each: no public hours to pass


def test_a_summary_corrected_or_removed_by_hand(w):
    """No workflow takes credited hours back; the triggers follow any write to year_summary all the same."""
    first = person_of(w.people[0]).id
    db.session.execute(update(YearSummary).where(YearSummary.person_id == first, YearSummary.year == YEAR)
                       .values(professional_hours=0))
    db.session.commit()
    assert check(w)[1][(w.unit.id, YEAR)] == (2, 2, 0)
    db.session.execute(text("UPDATE year_summary SET public_hours = 0 WHERE person_id = :p"), {"p": first})
    db.session.commit()
    assert check(w)[1][(w.unit.id, YEAR)] == (2, 1, 0)
    db.session.execute(delete(YearSummary).where(YearSummary.person_id == person_of(w.people[1]).id))
    db.session.commit()
    assert check(w)[1] == {(w.unit.id, YEAR): (1, 0, 0), (w.other_unit.id, YEAR): (1, 1, 1)}


def test_a_registration_approved_joins_and_a_revoked_membership_leaves(w):
    reg = register(w.unit, "新来的医生")
    check(w)
    reg_flow.approve(reg, actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit))
    assert check(w)[0][w.unit.id] == 4
    leaving = w.people[0]
    membership = db.session.scalar(select(Membership).where(Membership.user_id == leaving.id))
    with transaction():
        memberships.revoke(membership, actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit))
    heads, years = check(w)
    assert heads[w.unit.id] == 3 and years[(w.unit.id, YEAR)] == (1, 1, 0)


def test_a_transfer_moves_the_person_and_their_hours(w):
    account = w.people[0]
    item = transfer_flow.submit(pro(account, w.unit), w.other_unit.id, "家庭原因")
    transfer_flow.release(item, actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit))
    check(w)
    transfer_flow.accept(item, actor_for(w.other_unit_admin, R.UNIT_ADMIN, w.other_unit))
    heads, years = check(w)
    assert heads == {w.unit.id: 2, w.other_unit.id: 2}
    assert years[(w.other_unit.id, YEAR)] == (2, 2, 2) and years[(w.unit.id, YEAR)] == (1, 1, 0)


def test_a_persons_unit_changed_on_the_profile(w):
    person = person_of(w.people[1])
    person.unit_id = w.sub_unit.id
    db.session.commit()
    heads, years = check(w)
    assert heads[w.sub_unit.id] == 1 and years[(w.sub_unit.id, YEAR - 1)] == (1, 1, 1)


def test_a_new_and_an_edited_standard_through_the_standards_screen(w, client):
    log_in(client, w.city_admin.username, R.HR_ADMIN.value)
    row = db.session.scalar(select(AnnualStandard).where(AnnualStandard.year == YEAR,
                                                         AnnualStandard.region_id.is_(None)))

    def post(url, year, public, professional, total, region="__None"):
        token = csrf_from(client.get(url).get_data(as_text=True))
        response = client.post(url, content_type="multipart/form-data", data={
            "csrf_token": token, "year": str(year), "region": str(region), "public_min": public,
            "professional_min": professional, "total_min": total})
        assert response.status_code == 302

    post(f"/standards/edit/{row.id}", YEAR, "1", "1", "2")  # everyone with some hours of each subject passes
    assert check(w)[1][(w.unit.id, YEAR)] == (2, 2, 2)
    region = Region(code="370102", name="甲区")
    db.session.add(region)
    db.session.flush()
    db.session.execute(update(Org).where(Org.id == w.other_district.id).values(region_id=region.id))
    db.session.commit()
    post("/standards/add", YEAR, "50", "50", "100", region.id)  # the region's own, stricter standard
    assert check(w)[1][(w.other_unit.id, YEAR)] == (1, 1, 0)


def test_a_standard_of_an_earlier_year_applies_until_the_next_one(w):
    db.session.execute(delete(AnnualStandard).where(AnnualStandard.year > YEAR - 1))
    db.session.commit()  # hand-written SQL: the standards are refreshed at the next flush that touches them
    _standard(YEAR - 1, None, (5, 5, 10))  # now also this year's
    assert check(w)[1][(w.unit.id, YEAR)] == (2, 2, 2)
    row = db.session.scalar(select(AnnualStandard).where(AnnualStandard.year == YEAR - 1))
    db.session.delete(row)
    db.session.commit()  # no standard at all: nobody passes
    assert check(w)[1][(w.unit.id, YEAR)] == (2, 2, 0)


def test_a_regions_own_standard_and_its_parent_region(w):
    city_region = Region(code="370100", name="测试市")
    db.session.add(city_region)
    db.session.flush()
    region = Region(code="370102", name="甲区", parent_id=city_region.id)
    db.session.add(region)
    db.session.commit()
    _standard(YEAR, city_region.id, (40, 40, 80))  # nobody's yet: no org is of either region
    check(w)
    db.session.get(Org, w.district.id).region_id = region.id  # the district's units take it (nearest HR bureau)
    db.session.commit()
    assert check(w)[1][(w.unit.id, YEAR)] == (2, 2, 0)  # the parent region's standard, 40 + 40
    _standard(YEAR, region.id, (10, 20, 30))
    assert check(w)[1][(w.unit.id, YEAR)] == (2, 2, 1)


def test_a_unit_moved_under_another_bureau_takes_its_region(w):
    region = Region(code="370103", name="乙区")
    db.session.add(region)
    db.session.flush()
    db.session.get(Org, w.other_district.id).region_id = region.id
    db.session.commit()
    _standard(YEAR, region.id, (50, 50, 100))
    assert check(w)[1][(w.other_unit.id, YEAR)] == (1, 1, 0)
    with transaction():
        orgs.rewrite_subtree(db.session.get(Org, w.unit.id), db.session.get(Org, w.other_district.id))
    assert check(w)[1][(w.unit.id, YEAR)] == (2, 2, 0)


def test_a_standard_met_without_hours_counts_staff_without_a_summary(w):
    _standard(YEAR, None, (0, 0, 0))
    result = stats.completion(actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit), YEAR)
    own = result.rows[0]
    assert own.org is None and (own.headcount, own.took_part, own.passed) == (3, 2, 3)
    check(w)


def test_a_person_deleted_leaves_no_trace(w):
    account = factories.make_account("临时人员", [(R.PROFESSIONAL, w.unit)], person_unit=w.unit)
    credit_year(account, 10, 20)
    assert check(w)[0][w.unit.id] == 4
    person_id = person_of(account).id
    db.session.execute(text("DELETE FROM hour_record WHERE person_id = :p"), {"p": person_id})
    db.session.execute(text("DELETE FROM year_summary WHERE person_id = :p"), {"p": person_id})
    db.session.execute(text("DELETE FROM person WHERE id = :p"), {"p": person_id})
    db.session.commit()
    assert check(w)[0][w.unit.id] == 3


def test_concurrent_credits_of_shared_units_wait_instead_of_deadlocking(w, app):
    """PostgreSQL: a transaction crediting people of two units (a base report) and one crediting a person of the
    second unit in between: both take the city's row first, so the second waits and nobody is refused."""
    needs_postgres(db)
    import threading
    import time

    first, second = person_of(w.people[0]).id, person_of(w.other).id
    credit = text("UPDATE year_summary SET public_hours = public_hours + 1 WHERE person_id = :p AND year = :y")
    errors, engine = [], db.engine

    def other_transaction():
        try:
            with engine.begin() as conn:
                conn.execute(credit, {"p": second, "y": YEAR})
        except Exception as exc:  # noqa: BLE001 - the test reports whatever the database raised
            errors.append(exc)

    with engine.connect() as conn:
        with conn.begin():
            conn.execute(text("SET LOCAL deadlock_timeout = '100ms'"))
            conn.execute(credit, {"p": first, "y": YEAR})
            thread = threading.Thread(target=other_transaction)
            thread.start()
            time.sleep(0.5)  # the other transaction now waits for this one
            conn.execute(credit, {"p": second, "y": YEAR})
        thread.join(10)
    assert not errors
    assert check(w)[1][(w.other_unit.id, YEAR)] == (1, 1, 1)


# ------------------------------------------------------------------ multi-row statements
# One INSERT, UPDATE or DELETE for many people of several units under several orgs: the staff flag, the rollup and
# the staff tally equal a count made person by person (on PostgreSQL the counters follow each statement once,
# app/models/statement_triggers.py; on SQLite row by row).

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
def bulk_world(world):
    _standard(YEAR - 1, None, (10, 10, 20))
    _standard(YEAR, None, (10, 20, 30))
    world.accounts = [factories.make_account(f"批量{n}") for n in range(12)]
    return world


def test_multi_row_writes_of_people_memberships_and_summaries(bulk_world):
    w = bulk_world
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


def test_a_statement_changing_nothing_counted_writes_no_counter(bulk_world):
    w = bulk_world
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
