"""Every role's home page shows what the role needs at a glance, computed by a few aggregate statements.

The expected figures are computed here independently, with plain SQL over the tables."""
from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from sqlalchemy import text

from app import clock
from app.extensions import db
from app.models import (Account, BaseReport, BaseReportLine, IdentityCorrection, LearningForm, Membership,
                        MembershipState, Person, RoleName)
from app.workflows.base import Actor, audit
from tests import factories
from tests.helpers import CJK, login, make_declaration, make_person, page, register, statements, zh

R = RoleName
YEAR = clock.today().year
MAX_STATEMENTS_AFTER_AUTH = 3
# Every page's own statements: the session's membership, the bell's unread count (X2, one indexed COUNT).
FRAME = 2
# The HR bureau's home adds this year's completion (statistics.completion: the standards, the figures of the
# subtree, the orgs below).
HR_COMPLETION_STATEMENTS = 3


def budget(role: RoleName) -> int:
    return MAX_STATEMENTS_AFTER_AUTH + (HR_COMPLETION_STATEMENTS if role == RoleName.HR_ADMIN else 0)




def scalar(sql: str, **params) -> int:
    return int(db.session.execute(text(sql), params).scalar() or 0)


def home_of(app, account: Account, role: RoleName):
    client = app.test_client()
    login(client, account.username, role=role.value)
    with statements() as seen:
        response = client.get("/home/")
    assert response.status_code == 200
    return page(response), seen


def figure(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}"[^>]*>\s*<span class="stat-number">(\d+)</span>', html)
    assert match, f"no figure #{element_id} on the page"
    return int(match.group(1))


def table(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</table>", start)]


def professional(world, name="专技人员", unit=None):
    return factories.make_account(name, [(R.PROFESSIONAL, unit or world.unit)], person_unit=unit or world.unit)


def person_of(account) -> Person:
    return db.session.query(Person).filter_by(user_id=account.id).one()


def report(base, reviewer, state, year, people, title=None):
    form = db.session.query(LearningForm).first()
    item = BaseReport(base_id=base.id, reviewer_org_id=reviewer.id, title=title or f"{state}-{year}", subject="public",
                      form_id=form.id, year=year, state=state)
    db.session.add(item)
    db.session.flush()
    for p in people:
        db.session.add(BaseReportLine(report_id=item.id, person_id=p.id, hours=Decimal("8")))
    db.session.commit()
    return item


# ---------------------------------------------------------------- training base

def test_training_base_sees_its_reports_states_and_trainees(app, world):
    a, b, c = (person_of(professional(world, f"学员{i}")) for i in range(3))
    report(world.base, world.city, "pending", YEAR, [a, b], "第一期")
    report(world.base, world.city, "pending", YEAR, [b], "第二期")
    report(world.base, world.city, "approved", YEAR, [a, c], "第三期")
    report(world.base, world.city, "rejected", YEAR, [c], "第四期")
    report(world.base, world.city, "approved", YEAR - 1, [a], "去年")
    other_base = factories.make_org(factories.OrgKind.BASE, "另一基地", world.city)
    report(other_base, world.city, "pending", YEAR, [a, b, c], "别家")

    html, seen = home_of(app, world.base_admin, R.BASE_ADMIN)
    base = world.base.id
    for state in ("pending", "approved", "rejected"):
        expected = scalar("SELECT count(*) FROM base_report WHERE base_id = :b AND state = :s", b=base, s=state)
        assert figure(html, f"base-{state}") == expected
    assert figure(html, "base-pending") == 2 and figure(html, "base-approved") == 2
    trainees = scalar("SELECT count(DISTINCT l.person_id) FROM base_report_line l JOIN base_report r "
                      "ON r.id = l.report_id WHERE r.base_id = :b AND r.year = :y", b=base, y=YEAR)
    assert figure(html, "base-trainees") == trainees == 3
    latest = table(html, "recent-reports")
    assert "第四期" in latest and "别家" not in latest
    assert latest.index("第四期") < latest.index("第三期") < latest.index("第二期")  # newest first
    assert latest.count("<tr>") - 1 == 5  # header + the 5 latest
    newest = db.session.query(BaseReport).filter_by(base_id=base).order_by(BaseReport.id.desc()).first()
    assert f'href="/base/reports/{newest.id}"' in latest
    assert zh("Rejected") in latest and zh("Pending review") in latest
    assert len(seen) - FRAME <= MAX_STATEMENTS_AFTER_AUTH, seen


# ---------------------------------------------------------------- system administrator

def test_system_admin_sees_users_roles_and_recent_logins(app, world):
    idle = professional(world, "停用的人")
    db.session.query(Account).filter_by(id=idle.id).update({"active": False})
    db.session.commit()
    client = app.test_client()
    failed = login(client, world.unit_admin.username, password="Wrong@2026x", role="UnitAdmin")
    assert failed.request.path != "/home/"
    unknown = factories.new_id_number()
    login(client, unknown, password="Wrong@2026x", role="Professional")

    html, seen = home_of(app, world.sysadmin, R.SYSADMIN)
    assert figure(html, "accounts") == scalar("SELECT count(*) FROM ab_user")
    assert figure(html, "active-accounts") == scalar("SELECT count(*) FROM ab_user WHERE active = :t", t=True)
    assert figure(html, "active-accounts") == figure(html, "accounts") - 1
    assert figure(html, "failed-logins") == scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'login' AND result = 'fail'") == 2
    roles = table(html, "roles-table")
    for role in RoleName:
        expected = scalar("SELECT count(*) FROM membership WHERE role = :r AND state = 'active'", r=role.value)
        assert f'data-role="{role.value}">{expected}</td>' in roles
    logins = table(html, "recent-logins")
    rows = logins.split("<tr")[2:]
    assert len(rows) == min(10, scalar("SELECT count(*) FROM audit_log WHERE action = 'login'"))
    assert zh("Failed") in logins and zh("Succeeded") in logins
    assert f"{unknown[:6]}********{unknown[-4:]}" in logins
    for account in (world.unit_admin, world.sysadmin):
        assert account.username not in html  # only masked ID numbers
    assert unknown not in html
    assert len(seen) - FRAME <= MAX_STATEMENTS_AFTER_AUTH, seen


# ---------------------------------------------------------------- auditor

def test_auditor_sees_recent_audit_events(app, world):
    actor = Actor(world.support.id, "客服人员(370102********0000)", R.SUPPORT, ip="127.0.0.1")
    row = audit(actor, "role.revoke", object_type="membership", object_id=1)
    db.session.commit()
    html, seen = home_of(app, world.auditor, R.AUDITOR)
    events = table(html, "recent-events")
    assert zh("Role revoked") in events
    assert f'href="/audit/show/{row.id}"' in events
    assert figure(html, "events-today") == scalar("SELECT count(*) FROM audit_log WHERE at >= :t",
                                                  t=datetime.datetime.now() - datetime.timedelta(days=1))
    assert len(events.split("<tr")) - 2 == min(10, scalar("SELECT count(*) FROM audit_log"))
    assert len(seen) - FRAME <= MAX_STATEMENTS_AFTER_AUTH, seen


# ---------------------------------------------------------------- support

def test_support_sees_pending_corrections_and_recent_account_actions(app, world):
    for i in range(3):
        someone = professional(world, f"改证件{i}")
        db.session.add(IdentityCorrection(user_id=someone.id, old_name=f"改证件{i}", old_id_number=someone.username,
                                          new_name=f"新名{i}", new_id_number=factories.new_id_number(),
                                          state="rejected" if i == 2 else "pending"))
    db.session.commit()
    actor = Actor(world.support.id, "客服人员(370102********0000)", R.SUPPORT, ip="127.0.0.1")
    audit(actor, "password.admin_reset", object_type="account", object_id=world.unit_admin.id)
    db.session.commit()

    html, seen = home_of(app, world.support, R.SUPPORT)
    assert figure(html, "pending-corrections-card") == scalar(
        "SELECT count(*) FROM identity_correction WHERE state = 'pending'") == 2
    actions = table(html, "recent-actions")
    assert zh("Password reset by an administrator") in actions
    assert zh("Log in") not in actions  # logins are not account actions
    assert len(seen) - FRAME <= MAX_STATEMENTS_AFTER_AUTH, seen


# ---------------------------------------------------------------- org administrators

@pytest.mark.parametrize("who, role, org", [("unit_admin", R.UNIT_ADMIN, "unit"), ("dept_admin", R.DEPT_ADMIN, "dept"),
                                            ("city_admin", R.HR_ADMIN, "city")])
def test_org_admins_see_their_queues_and_staff(app, world, who, role, org):
    professional(world, "本单位", world.unit)
    professional(world, "分院", world.sub_unit)
    professional(world, "乙校", world.other_unit)
    applicant = factories.make_account("申请中", [], person_unit=world.unit)
    db.session.add(Membership(user_id=applicant.id, role=R.PROFESSIONAL.value, org_id=world.unit.id,
                              state=MembershipState.PENDING.value))
    db.session.commit()
    report(world.base, world.city, "pending", YEAR, [], "待审")
    report(world.base, world.city, "approved", YEAR, [], "已审")

    html, seen = home_of(app, getattr(world, who), role)
    root = getattr(world, org)
    expected_staff = scalar(
        "SELECT count(*) FROM person p JOIN org o ON o.id = p.unit_id WHERE o.path LIKE :p AND EXISTS ("
        "SELECT 1 FROM membership m WHERE m.user_id = p.user_id AND m.role = 'Professional' AND m.state = 'active')",
        p=root.path + "%")
    assert figure(html, "staff-card") == expected_staff
    assert expected_staff == (2 if org in ("unit", "dept") else 3)
    assert 'id="pending-card"' in html and 'id="pending-declarations-card"' in html
    if role == R.HR_ADMIN:
        assert figure(html, "pending-base-reports-card") == 1
    else:
        assert 'id="pending-base-reports-card"' not in html
    assert len(seen) - FRAME <= budget(role), seen


def completion_figures(org) -> tuple[int, int, int]:
    """Headcount, took part and passed of this year in the org's subtree, counted person by person in SQL (the
    default standard of the year: the test sets no regional one)."""
    rows = db.session.execute(text(
        "SELECT coalesce(s.public_hours, 0), coalesce(s.professional_hours, 0) FROM person p "
        "JOIN org o ON o.id = p.unit_id LEFT JOIN year_summary s ON s.person_id = p.id AND s.year = :y "
        "WHERE p.is_staff AND o.path LIKE :p"), {"y": YEAR, "p": org.path + "%"}).all()
    mark = db.session.execute(text("SELECT public_min, professional_min, total_min FROM annual_standard "
                                   "WHERE year = :y AND region_id IS NULL ORDER BY id DESC"), {"y": YEAR}).first()
    took = sum(1 for pub, pro in rows if pub + pro > 0)
    passed = sum(1 for pub, pro in rows if pub >= mark[0] and pro >= mark[1] and pub + pro >= mark[2])
    return len(rows), took, passed


@pytest.mark.parametrize("who, org", [("city_admin", "city"), ("district_admin", "district"),
                                      ("other_district_admin", "other_district")])
def test_hr_home_shows_this_years_completion_of_the_whole_subtree(app, world, who, org):
    from app.models import AnnualStandard
    from tests.helpers import credit_year

    if not db.session.query(AnnualStandard).filter_by(year=YEAR, region_id=None).count():
        db.session.add(AnnualStandard(year=YEAR, region_id=None, public_min=Decimal(30),
                                      professional_min=Decimal(60), total_min=Decimal(90)))
        db.session.commit()
    for name, unit, public, specialised in (("完成甲", world.unit, 30, 60), ("完成乙", world.sub_unit, 10, 0),
                                            ("完成丙", world.unit, 0, 0), ("完成丁", world.other_unit, 40, 60),
                                            ("完成戊", world.other_unit, 0, 0)):
        account = professional(world, name, unit)
        if public or specialised:
            credit_year(account, public, specialised)
    html, seen = home_of(app, getattr(world, who), R.HR_ADMIN)
    headcount, took, passed = completion_figures(getattr(world, org))
    assert headcount > 0
    assert figure(html, "completion-headcount") == headcount
    assert figure(html, "completion-took-part") == took
    assert figure(html, "completion-passed") == passed
    rate = re.search(r'id="completion-pass-rate"[^>]*>\s*<span class="stat-number">([^<]+)</span>', html).group(1)
    assert rate == f"{100.0 * passed / headcount:.1f}%"
    assert 'href="/statistics/completion" id="completion-headcount"' in html
    assert zh("Completion %(year)s: %(org)s", year=YEAR, org=getattr(world, org).name) in html
    assert len(seen) - FRAME <= budget(R.HR_ADMIN), seen


def test_only_the_hr_home_shows_the_completion(app, world):
    for account, role in ((world.unit_admin, R.UNIT_ADMIN), (world.dept_admin, R.DEPT_ADMIN),
                          (world.support, R.SUPPORT)):
        html, _seen = home_of(app, account, role)
        assert 'id="completion-headcount"' not in html, role


def test_card_counts_match_the_queue_counts_of_the_workflows(app, world):
    """The home page's one-statement counts agree with each queue's own count function."""
    from app.workflows import dashboard
    from app.workflows import declaration, identity, org_change, registration, title_change, transfer

    report(world.base, world.city, "pending", YEAR, [])
    for account, role, org in [(world.unit_admin, R.UNIT_ADMIN, world.unit), (world.dept_admin, R.DEPT_ADMIN,
                                                                              world.dept),
                               (world.city_admin, R.HR_ADMIN, world.city), (world.support, R.SUPPORT, None)]:
        actor = factories.actor_for(account, role, org)
        got = dashboard.counts(actor, ["registrations", "declarations", "title_changes", "transfers_out",
                                       "transfers_in", "org_changes", "identity_corrections"])
        assert got == {"registrations": registration.pending_count(actor),
                       "declarations": declaration.pending_count(actor),
                       "title_changes": title_change.pending_count(actor),
                       "transfers_out": transfer.pending_count(actor, "out"),
                       "transfers_in": transfer.pending_count(actor, "in"),
                       "org_changes": org_change.todo_count(actor),
                       "identity_corrections": identity.pending_count(actor)}
    assert dashboard.counts(factories.actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit),
                            ["registrations"])["registrations"] == 0


# ---------------------------------------------------------------- every role

def test_no_role_gets_an_empty_home_page(app, world):
    accounts = [(professional(world), R.PROFESSIONAL), (world.unit_admin, R.UNIT_ADMIN),
                (world.dept_admin, R.DEPT_ADMIN), (world.city_admin, R.HR_ADMIN), (world.base_admin, R.BASE_ADMIN),
                (world.support, R.SUPPORT), (world.sysadmin, R.SYSADMIN), (world.auditor, R.AUDITOR)]
    for account, role in accounts:
        html, seen = home_of(app, account, role)
        body = html[html.index('class="home-title"'):html.index("quick-links")]
        assert body.count("stat-number") >= 1 or "panel-body" in body, role
        assert "<table" in body or body.count("stat-number") >= 2, role
        text_only = re.sub(r"<[^>]+>", " ", body)
        assert not re.search(r"\b(None|Recent|Reports|Active|Failed|Trainees|Professionals)\b", text_only), role
        assert CJK.search(text_only)
        assert len(seen) - FRAME <= budget(role), (role, seen)


def test_big_counts_stop_at_the_cap(app, world, monkeypatch):
    """A city's staff count is not a scan of a million rows on every home page: past the cap it says so."""
    from app.workflows import dashboard

    monkeypatch.setattr(dashboard, "COUNT_CAP", 2)
    for i in range(3):
        professional(world, f"城市职员{i}", world.unit)
    html, _seen = home_of(app, world.city_admin, R.HR_ADMIN)
    assert re.search(r'id="staff-card"[^>]*>\s*<span class="stat-number">' + re.escape(zh("more than %(n)s", n="2")),
                     html)
    html, _seen = home_of(app, world.sysadmin, R.SYSADMIN)
    assert zh("more than %(n)s", n="2") in html  # the accounts


def test_what_waits_in_a_city_is_counted_up_to_the_cap(app, world, monkeypatch):
    """A city reviewer's queue cards count what waits no further than the cap (50,000 pending registrations were a
    40 ms home page, 100,000 took 77 ms); under it they are exact."""
    from app.workflows import dashboard

    monkeypatch.setattr(dashboard, "COUNT_CAP", 2)
    for i in range(3):
        register(world.unit, f"待审注册{i}")
        make_declaration(world, make_person(f"待审申报{i}", world.unit), "pending_hr")
    html, _seen = home_of(app, world.city_admin, R.HR_ADMIN)
    capped = re.escape(zh("more than %(n)s", n="2"))
    for card in ("pending-card", "pending-declarations-card"):
        assert re.search(rf'id="{card}"[^>]*>\s*<span class="stat-number">{capped}', html), card
    monkeypatch.setattr(dashboard, "COUNT_CAP", 3)
    html, _seen = home_of(app, world.city_admin, R.HR_ADMIN)
    for card in ("pending-card", "pending-declarations-card"):
        assert re.search(rf'id="{card}"[^>]*>\s*<span class="stat-number">3<', html), card
