"""End-to-end: a change of title and a change of unit, in a real browser (issue 4).

The demo professional 刘调转 of 济南市第一人民医院 has nothing pending. Before the journey they get hours for last
year the honest way, through the declaration workflow (submitted by them, approved at each level of the review
chain by the demo admins). Then, in the browser:

1. 刘调转 requests a title change (卫生技术 / 副高级 / 副主任医师, with a date, a certificate number and a PNG as
   evidence); the change waits for review and the old title stays current.
2. The unit admin 李单位 sees the change with before / after in the personnel review queue and approves it;
   刘调转 now has the new title, and the history shows the change as approved.
3. 刘调转 notes last year's figures in 年度完成情况, applies for a transfer to 济南市中心医院 with a note and sees it
   waiting for the current unit.
4. 李单位 releases it; 何接收, admin of 济南市中心医院, accepts it.
5. 刘调转 sees 调转成功 with both reviews, the new unit on the home page and the profile, and the same hours as
   before; 何接收's staff list holds 刘调转, 李单位's no longer does.

Screenshots: test-artifacts/screenshots/4x-*.png.
"""
from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import Page, expect

from app import clock

from tests.e2e.helpers import (UNIT, UNIT_ADMIN, assert_chinese, assert_no_page_errors, login, logout,
                               pick_org, tiny_png, visible_text)

pytestmark = pytest.mark.e2e

MOVER = ("370102198811110122", "刘调转")       # CHANGE_ACCOUNTS: professional of UNIT, nothing pending
RECEIVER = ("370102197912120210", "何接收")    # CHANGE_ACCOUNTS: unit admin of NEW_UNIT
NEW_UNIT = "济南市中心医院"
LAST_YEAR = clock.today().year - 1
NEW_TITLE = {"title_series": "卫生技术", "title_level": "副高级", "title_name": "副主任医师",
             "title_date": f"{LAST_YEAR}-12-01", "title_cert_no": "ZC2025-0458"}
NOTE = "因工作需要调入济南市中心医院心内科"
EVIDENCE = "职称证书.png"


@pytest.fixture(scope="module")
def mover_setup(live_server, app):
    """Hours for 刘调转 in LAST_YEAR through the declaration workflow (submitted by them, approved by the reviewer
    of each level of the chain), and nothing pending; returns their title before the journey."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Account, Declaration, LearningForm, Membership, MembershipState, Org, Person, RoleName
    from app.workflows import declaration as decl_flow
    from app.workflows import title_change
    from app.workflows.accounts import display_name
    from app.workflows.base import Actor
    from app.workflows.pending import PENDING_DECLARATION_STATES

    def actor_of(account: Account, role: RoleName, org: Org) -> Actor:
        return Actor(account.id, display_name(account), role, org.id, org.path)

    def reviewer_of(item: Declaration) -> Actor:
        """The admin who reviews the declaration at its current level (unit, department or HR bureau)."""
        role = decl_flow.REVIEW_ROLE[decl_flow.S(item.state)]
        membership = db.session.scalar(select(Membership).where(
            Membership.org_id == item.reviewer_org_id, Membership.role == role.value,
            Membership.state == MembershipState.ACTIVE.value).order_by(Membership.id))
        assert membership is not None, f"nobody reviews declarations for {item.reviewer_org.name}"
        return actor_of(db.session.get(Account, membership.user_id), role, db.session.get(Org, membership.org_id))

    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.username == MOVER[0]))
        person = db.session.scalar(select(Person).where(Person.user_id == account.id))
        assert person.unit.name == UNIT, person.unit.name
        title_before = title_change.current_title(person)
        mover = actor_of(account, RoleName.PROFESSIONAL, person.unit)
        # The demo means 刘调转 to have nothing pending, but with few demo persons (this module seeds 40) app/demo.py
        # `_hours` hands one of its queue-filling declarations to them (its staff query skips only 王专技), and a
        # pending declaration blocks a transfer. They withdraw it while their unit has it (else it is rejected).
        for stray in db.session.scalars(select(Declaration).where(
                Declaration.person_id == person.id, Declaration.state.in_(PENDING_DECLARATION_STATES))).all():
            if stray.state == "pending_unit":
                decl_flow.withdraw(stray, mover)
            else:
                decl_flow.reject(stray, reviewer_of(stray), "与本人专业无关")
        forms = {f.code: f for f in db.session.scalars(select(LearningForm))}
        start, end = datetime.date(LAST_YEAR, 9, 1), datetime.date(LAST_YEAR, 9, 3)
        items = [
            decl_flow.save(mover, decl_flow.DeclarationInput(
                "public", forms["online"].id, LAST_YEAR, "专业技术人员职业道德与诚信建设", "12", start, end,
                {"platform": "山东省专业技术人员继续教育公共服务平台"}), submit=True),
            decl_flow.save(mover, decl_flow.DeclarationInput(
                "professional", forms["training"].id, LAST_YEAR, "急诊急救技能提升培训班", "24", start, end,
                {"organiser": "山东省卫生健康委员会", "location": "济南"}), submit=True),
        ]
        for item in items:
            for _ in range(3):  # unit → department → HR bureau: the chain of 济南市第一人民医院
                if item.state != "approved":
                    decl_flow.approve(item, reviewer_of(item))
            assert item.state == "approved", item.state
        db.session.remove()
    return title_before


def annual_figures(page: Page, year: int) -> list[str]:
    """年度完成情况 of one year: the public / professional / total cells (hours and whether met), the result."""
    page.goto("/hours/annual")
    row = page.locator(f".annual-table tbody tr.year-{year}")
    expect(row).to_have_count(1)
    return [" ".join(row.locator("td").nth(i).inner_text().split()) for i in (1, 2, 3, 4)]


def title_panel(page: Page) -> dict[str, str]:
    """The current title as the profile shows it: {label: value}."""
    rows = page.locator("#title-panel table.detail-table tr")
    return {r.locator("th").inner_text().strip(): r.locator("td").inner_text().strip() for r in rows.all()}


def login_home(page: Page, who: tuple[str, str], role: str, unit: str) -> None:
    """Log in and land on a Chinese home page acting for the given unit."""
    login(page, who[0], role)
    expect(page).to_have_url(re.compile(r"/home/"))
    expect(page.locator("h2.home-title")).to_contain_text(who[1])
    expect(page.locator("#user-menu")).to_contain_text(unit)
    assert_chinese(page)


def staff_names(page: Page, name: str) -> list[str]:
    """The staff list filtered by name (FAB's 'equal to' filter), as the admin sees it."""
    page.goto("/staff/list/?_flt_1_name=" + name)
    table = page.locator("table.table-bordered")
    assert_chinese(page)
    if table.count() == 0:  # FAB shows no table when nothing matches
        return []
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    column = headers.index("姓名") + 1
    return [t.strip() for t in table.locator(f"tbody tr td:nth-child({column})").all_inner_texts()]


def test_title_change_then_transfer(page: Page, mover_setup, shot):
    title_before = mover_setup
    png = tiny_png((200, 40, 40))

    # ---- 1. P7: 刘调转 requests a title change with evidence.
    login_home(page, MOVER, "Professional", UNIT)
    page.goto("/profile/")
    expect(page.locator("#locked-info")).to_contain_text(UNIT)
    now = title_panel(page)
    assert now["现专业技术职务资格"] == (title_before["title_name"] or "—"), now
    expect(page.locator("#title-history tbody")).to_have_text("暂无数据。")  # no title change so far
    assert_chinese(page)
    page.click("#title-change-link")
    expect(page).to_have_url(re.compile(r"/profile/title$"))
    page.select_option("#title_series", NEW_TITLE["title_series"])
    page.select_option("#title_level", NEW_TITLE["title_level"])
    page.fill("#title_name", NEW_TITLE["title_name"])
    page.fill("#title_date", NEW_TITLE["title_date"])
    page.fill("#title_cert_no", NEW_TITLE["title_cert_no"])
    page.set_input_files("#attachments", files=[{"name": EVIDENCE, "mimeType": "image/png", "buffer": png}])
    assert_chinese(page)
    shot(page, "40-title-change-form")
    page.click("#title-submit")
    expect(page).to_have_url(re.compile(r"/profile/$"))
    expect(page.locator(".alert-success")).to_contain_text("职务变更已提交单位审核")
    expect(page.locator("#title-pending")).to_contain_text(UNIT)
    expect(page.locator("#title-pending .state")).to_have_text("待审核")
    expect(page.locator("#title-change-link")).to_have_count(0)
    now = title_panel(page)  # the old title is still the current one
    assert now["现专业技术职务资格"] == (title_before["title_name"] or "—"), now
    assert now["证书编号"] != NEW_TITLE["title_cert_no"], now
    history = page.locator("#title-history tbody tr")
    expect(history).to_have_count(1)
    expect(history.locator(".state")).to_have_text("待审核")
    expect(history).to_contain_text(NEW_TITLE["title_name"])
    expect(history.locator("a.change-file")).to_have_text(EVIDENCE)
    assert_chinese(page)
    shot(page, "41-profile-title-pending")
    assert_no_page_errors(page)
    logout(page)

    # ---- 2. U6: 李单位 sees the change with before / after and approves it.
    login_home(page, UNIT_ADMIN, "UnitAdmin", UNIT)
    page.goto("/review/personnel/")
    row = page.locator(".queue-table tbody tr", has_text=MOVER[1])
    expect(row).to_have_count(1)
    cells = row.locator("td")
    headers = [h.strip() for h in page.locator(".queue-table thead th").all_inner_texts()]
    before_cell, after_cell = cells.nth(headers.index("变更前")), cells.nth(headers.index("变更后"))
    expect(after_cell).to_contain_text(f"现专业技术职务资格: {NEW_TITLE['title_name']}")
    expect(after_cell).to_contain_text(f"证书编号: {NEW_TITLE['title_cert_no']}")
    expect(before_cell).to_contain_text(f"现专业技术职务资格: {title_before['title_name'] or '—'}")
    expect(row).to_contain_text(UNIT)
    assert MOVER[0] not in visible_text(page), "the personnel review queue shows the full ID number"
    assert_chinese(page)
    row.locator("input[name=ids]").check()
    shot(page, "42-personnel-review")
    page.click("#approve-btn")
    expect(page.locator(".alert-success")).to_contain_text("已处理 1 项变更")
    expect(page.locator(".queue-table tbody tr", has_text=MOVER[1])).to_have_count(0)
    assert_chinese(page)
    assert_no_page_errors(page)
    logout(page)

    login_home(page, MOVER, "Professional", UNIT)
    page.goto("/profile/")
    now = title_panel(page)
    assert now["职称系列"] == NEW_TITLE["title_series"], now
    assert now["职称级别"] == NEW_TITLE["title_level"], now
    assert now["现专业技术职务资格"] == NEW_TITLE["title_name"], now
    assert now["公布（生效）时间"] == NEW_TITLE["title_date"], now
    assert now["证书编号"] == NEW_TITLE["title_cert_no"], now
    expect(page.locator("#title-pending")).to_have_count(0)
    expect(page.locator("#title-change-link")).to_be_visible()
    history = page.locator("#title-history tbody tr")
    expect(history).to_have_count(1)
    expect(history.locator(".state")).to_have_text("审核通过")
    expect(history.locator("td").last).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d$"))
    assert_chinese(page)
    shot(page, "43-profile-title-approved")
    assert_no_page_errors(page)

    # ---- 3. P10 then P7: last year's hours before moving, then the transfer application.
    hours_before = annual_figures(page, LAST_YEAR)
    assert hours_before[:3] == ["12 未达标", "24 未达标", "36 未达标"], hours_before
    assert_chinese(page)
    shot(page, "44-annual-before-transfer")

    page.goto("/transfer/")
    expect(page.locator("#current-unit")).to_have_text(UNIT)
    expect(page.locator("#transfer-blocked")).to_have_count(0)
    expect(page.locator("#my-transfers tbody")).to_have_text("暂无数据。")
    pick_org(page, "to_unit_id", "中心医院", NEW_UNIT)
    page.fill("#note", NOTE)
    expect(page.locator("#apply-btn")).to_have_text("提交调转申请")
    assert_chinese(page)
    page.click("#apply-btn")
    expect(page.locator(".alert-success")).to_be_visible()
    mine = page.locator("#my-transfers tbody tr")
    expect(mine).to_have_count(1)
    expect(mine.locator("td").nth(1)).to_have_text(UNIT)
    expect(mine.locator("td").nth(2)).to_have_text(NEW_UNIT)
    expect(mine.locator("td .state").first).to_have_text("待调出单位审核")
    expect(mine.locator(".review-out .state")).to_have_text("待审核")
    expect(mine.locator(".review-in")).to_contain_text("未审核")
    expect(mine).to_contain_text(NOTE)
    expect(mine.locator(".withdraw-btn")).to_be_visible()
    expect(page.locator("#transfer-form")).to_have_count(0)  # one application at a time
    assert_chinese(page)
    shot(page, "45-transfer-applied")
    assert_no_page_errors(page)
    logout(page)

    # ---- 4. U7: the current unit releases, the new unit accepts.
    login_home(page, UNIT_ADMIN, "UnitAdmin", UNIT)
    page.goto("/review/transfers/")
    assert_chinese(page)
    page.click("#tab-out")
    expect(page.locator("#tab-out").locator("xpath=..")).to_have_class(re.compile(r"\bactive\b"))
    row = page.locator(".queue-table tbody tr", has_text=MOVER[1])
    expect(row).to_have_count(1)
    expect(row).to_contain_text(NEW_UNIT)
    expect(row).to_contain_text(NOTE)
    assert MOVER[0] not in visible_text(page), "the transfer queue shows the full ID number"
    row.locator("input[name=ids]").check()
    expect(page.locator("#approve-btn")).to_have_text("同意调出所选")
    assert_chinese(page)
    shot(page, "46-transfer-release")
    page.click("#approve-btn")
    expect(page.locator(".alert-success")).to_contain_text("已处理 1 条调转")
    expect(page.locator(".queue-table tbody tr", has_text=MOVER[1])).to_have_count(0)
    assert_no_page_errors(page)
    logout(page)

    login_home(page, RECEIVER, "UnitAdmin", NEW_UNIT)
    page.goto("/review/transfers/")
    assert_chinese(page)
    page.click("#tab-in")
    expect(page).to_have_url(re.compile(r"tab=in"))
    row = page.locator(".queue-table tbody tr", has_text=MOVER[1])
    expect(row).to_have_count(1)
    expect(row).to_contain_text(UNIT)
    expect(row.locator(".review-out .state")).to_have_text("同意调出")
    expect(row.locator(".review-out")).to_contain_text(UNIT_ADMIN[1])
    row.locator("input[name=ids]").check()
    expect(page.locator("#approve-btn")).to_have_text("同意接收所选")
    assert_chinese(page)
    shot(page, "47-transfer-accept")
    page.click("#approve-btn")
    expect(page.locator(".alert-success")).to_contain_text("已处理 1 条调转")
    expect(page.locator(".queue-table tbody tr", has_text=MOVER[1])).to_have_count(0)
    assert_no_page_errors(page)

    # U10: the new unit's staff list holds 刘调转 now, with the new title.
    assert staff_names(page, MOVER[1]) == [MOVER[1]]
    page.goto("/staff/list/")
    table = page.locator("table.table-bordered")
    moved = table.locator("tbody tr", has_text=MOVER[1])
    expect(moved).to_have_count(1)
    expect(moved).to_contain_text(NEW_UNIT)
    expect(moved).to_contain_text(NEW_TITLE["title_level"])
    assert MOVER[0] not in visible_text(page), "the staff list shows a full ID number"
    assert_chinese(page)
    shot(page, "49-staff-list-new-unit")
    assert_no_page_errors(page)
    logout(page)

    # ... and the old unit's does not.
    login_home(page, UNIT_ADMIN, "UnitAdmin", UNIT)
    assert staff_names(page, MOVER[1]) == []
    page.goto("/staff/list/")
    expect(page.locator("table.table-bordered tbody tr", has_text=MOVER[1])).to_have_count(0)
    assert_chinese(page)
    page.goto("/review/transfers/?tab=history")
    row = page.locator(".queue-table tbody tr", has_text=MOVER[1])
    expect(row).to_have_count(1)
    expect(row.locator("td .state").first).to_have_text("调转成功")
    assert_chinese(page)
    assert_no_page_errors(page)
    logout(page)

    # ---- 5. P7: 刘调转 sees the transfer done, the new unit everywhere and the same hours.
    login_home(page, MOVER, "Professional", NEW_UNIT)
    home = visible_text(page)
    assert NEW_UNIT in home and UNIT not in home, f"the home page does not show the new unit only:\n{home}"
    assert_chinese(page)
    shot(page, "48b-home-after-transfer")

    page.goto("/transfer/")
    expect(page.locator("#current-unit")).to_have_text(NEW_UNIT)
    mine = page.locator("#my-transfers tbody tr")
    expect(mine).to_have_count(1)
    expect(mine.locator("td .state").first).to_have_text("调转成功")
    out_review, in_review = mine.locator(".review-out"), mine.locator(".review-in")
    expect(out_review).to_contain_text(UNIT)
    expect(out_review.locator(".state")).to_have_text("同意调出")
    expect(out_review).to_contain_text(UNIT_ADMIN[1])
    expect(in_review).to_contain_text(NEW_UNIT)
    expect(in_review.locator(".state")).to_have_text("同意接收")
    expect(in_review).to_contain_text(RECEIVER[1])
    expect(mine.locator(".withdraw-btn")).to_have_count(0)
    expect(page.locator("#transfer-form")).to_be_visible()  # free to apply again
    assert_chinese(page)
    shot(page, "48-transfer-done")

    page.goto("/profile/")
    expect(page.locator("#locked-info")).to_contain_text(NEW_UNIT)
    assert title_panel(page)["现专业技术职务资格"] == NEW_TITLE["title_name"]
    assert_chinese(page)

    hours_after = annual_figures(page, LAST_YEAR)
    assert hours_after[:3] == hours_before[:3], (hours_before, hours_after)
    assert_chinese(page)
    shot(page, "4a-annual-after-transfer")
    assert_no_page_errors(page)
