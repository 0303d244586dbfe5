"""End-to-end: hours from declaration to a verified certificate, in a real browser (issue 3).

The demo professional 王专技 has nothing approved this year (standard: 公需 30 / 专业 60 / 总 90). They declare a
公需科目 网络学习 of 40 hours and a 专业科目 培训进修 of 60 hours, each with a PNG as evidence; the unit admin, the
department admin and the city HR admin approve both in turn in their queues; 年度完成情况 turns to 通过; the
certificate PDF downloads, and its number and verification code check out on the public verification page for a
visitor who is not logged in (a wrong code does not).

Screenshots: test-artifacts/screenshots/2x-*.png.
"""
from __future__ import annotations

import datetime
import io
import re

import pytest
from playwright.sync_api import Page, expect

from app import clock
from app.workflows.certificates import CODE_ALPHABET

from tests.e2e.helpers import (PROFESSIONAL, UNIT, UNIT_ADMIN, assert_chinese, assert_no_page_errors,
                               login, logout, tiny_png, visible_text)

pytestmark = pytest.mark.e2e

DEPT_ADMIN = ("370102197003030015", "张主管")
HR_ADMIN = ("370102196804040024", "赵人社")
YEAR = clock.today().year
PUBLIC_TITLE = "数字政府建设与数据安全专题网络学习"
TRAINING_TITLE = "心血管介入诊疗技术高级研修班"


def assert_all_chinese(page: Page, *allowed: str) -> None:
    """assert_chinese, and stricter: no English word at all (3+ letters) besides file types and formats and the given
    strings (certificate numbers and codes, file names)."""
    assert_chinese(page)
    text = visible_text(page)
    for value in allowed:
        text = text.replace(value, "")
    words = sorted(set(re.findall(r"[A-Za-z]{3,}", text)) - {"PNG", "JPEG", "PDF", "Excel"})
    assert not words, f"English on {page.url}: {words}\n---\n{text[:2000]}"


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def annual_row(page: Page):
    page.goto("/hours/annual")
    row = page.locator(f".annual-table tbody tr.year-{YEAR}")
    expect(row).to_have_count(1)
    return row


def declare(page: Page, *, subject: str, form: str, title: str, hours: str, details: dict[str, str],
            hidden: tuple[str, ...], evidence: str, png: bytes, shot=None) -> int:
    """Fill the declaration form as a person does and submit it for review; returns the new declaration's id."""
    page.goto("/hours/declare")
    expect(page.locator("#declare-form")).to_be_visible()
    expect(page.locator("#detail-fields")).to_be_hidden()  # no learning form chosen yet: no detail fields
    page.select_option("#subject", subject)
    option = page.locator("#form_id option").filter(has_text=re.compile(rf"(^|· ){re.escape(form)}$"))
    expect(option).to_have_count(1)
    page.select_option("#form_id", option.get_attribute("value"))
    # app.js shows exactly this form's fields: the ones asked for visible, the others hidden.
    expect(page.locator("#detail-fields")).to_be_visible()
    for key in details:
        expect(page.locator(f"#{key}")).to_be_visible()
    for key in hidden:
        expect(page.locator(f"#{key}")).to_be_hidden()
    expect(page.locator("#form-rule")).not_to_be_empty()
    page.select_option("#year", str(YEAR))
    page.fill("#title", title)
    page.fill("#hours", hours)
    for key, value in details.items():
        page.fill(f"#{key}", value)
    page.set_input_files("#attachments", files=[{"name": evidence, "mimeType": "image/png", "buffer": png}])
    assert_all_chinese(page)
    if shot:
        shot(page, "20-declare-form")
    page.click("#submit-declaration")
    expect(page).to_have_url(re.compile(r"/hours/\d+$"))
    expect(page.locator(".alert-success")).to_contain_text("已提交审核")
    expect(page.locator("h2")).to_contain_text(title)
    expect(page.locator("h2 .state")).to_have_class(re.compile(r"\bstate-pending_unit\b"))
    expect(page.locator("ul.attachments")).to_contain_text(evidence)
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def approve_both(page: Page, who: tuple[str, str], role: str, reviewing_org: str, *, png: bytes, shot=None) -> None:
    """A reviewer logs in, finds both declarations in their queue, checks them and approves them in one go."""
    login(page, who[0], role)
    expect(page).to_have_url(re.compile(r"/home/"))
    page.goto("/review/declarations/")
    rows = {title: page.locator(".queue-table tbody tr", has_text=title) for title in (PUBLIC_TITLE, TRAINING_TITLE)}
    for title, row in rows.items():
        expect(row).to_have_count(1)
        expect(row).to_contain_text(PROFESSIONAL[1])
        expect(row).to_contain_text(UNIT)
    assert PROFESSIONAL[0] not in visible_text(page), f"{role}'s queue shows the full ID number"
    assert_all_chinese(page)

    # The declaration's fields and its evidence, as the reviewer sees them; the file is the one uploaded.
    rows[TRAINING_TITLE].locator("a[href*='/review/declarations/']").click()
    expect(page.locator(".detail-table")).to_contain_text("山东省心血管病医院")
    expect(page.locator(".detail-table")).to_contain_text(reviewing_org)
    link = page.locator("ul.attachments a", has_text="training-certificate.png")
    expect(link).to_have_count(1)
    evidence = page.request.get(link.get_attribute("href"))
    assert evidence.ok and evidence.headers["content-type"] == "image/png", evidence.headers
    assert evidence.body() == png, "the reviewer does not get the uploaded evidence file back"
    assert_all_chinese(page, "training-certificate.png")
    page.go_back()

    for row in rows.values():
        row.locator("input[name=ids]").check()
    if shot:
        shot(page, "23-review-queue")
    page.click("#approve-btn")
    expect(page.locator(".alert-success")).to_contain_text("已处理 2 条申报")
    for row in rows.values():
        expect(row).to_have_count(0)
    assert_no_page_errors(page)
    logout(page)


def test_declare_review_pass_print_and_verify(page: Page, new_page, shot):
    png = tiny_png()
    today = clock.today()
    start, end = (today - datetime.timedelta(days=6)).isoformat(), (today - datetime.timedelta(days=2)).isoformat()

    # This year is not passed yet: no certificate can be printed.
    login(page, PROFESSIONAL[0], "Professional")
    row = annual_row(page)
    expect(row.locator(".result")).to_have_text("不通过")
    expect(row.locator(".certificate-btn")).to_have_count(0)

    # P8: two declarations, each with a PNG as evidence, submitted for review.
    public_id = declare(page, subject="public", form="网络学习", title=PUBLIC_TITLE, hours="40",
                        details={"f_platform": "山东省专业技术人员继续教育公共服务平台", "start_date": start,
                                 "end_date": end},
                        hidden=("f_organiser", "f_location", "f_journal"), evidence="online-record.png", png=png,
                        shot=shot)
    declare(page, subject="professional", form="培训进修", title=TRAINING_TITLE, hours="60",
            details={"f_organiser": "山东省心血管病医院", "f_location": "济南", "start_date": start,
                     "end_date": end},
            hidden=("f_platform", "f_journal", "f_exam_name"), evidence="training-certificate.png", png=png)

    # P9: both wait for review in the professional's list.
    page.goto("/hours/?state=pending")
    for title in (PUBLIC_TITLE, TRAINING_TITLE):
        listed = page.locator(".queue-table tbody tr", has_text=title)
        expect(listed).to_have_count(1)
        expect(listed.locator(".state")).to_have_class(re.compile(r"\bstate-pending_unit\b"))
    assert_all_chinese(page)
    shot(page, "21-declaration-list")
    assert_no_page_errors(page)
    logout(page)

    # U8, D5, H4: unit → department → city HR bureau, each approving both from the queue.
    approve_both(page, UNIT_ADMIN, "UnitAdmin", UNIT, png=png, shot=shot)
    approve_both(page, DEPT_ADMIN, "DeptAdmin", "济南市卫生健康委员会", png=png)
    approve_both(page, HR_ADMIN, "HRAdmin", "济南市人力资源和社会保障局", png=png)

    # P9: the detail page shows the decision and who took it at each level.
    login(page, PROFESSIONAL[0], "Professional")
    page.goto(f"/hours/{public_id}")
    expect(page.locator("h2 .state")).to_have_text("审核通过")
    timeline = page.locator("table.timeline tbody")
    expect(timeline.locator("tr")).to_have_count(5)  # created, submitted, three approvals
    for reviewer in (UNIT_ADMIN[1], DEPT_ADMIN[1], HR_ADMIN[1]):
        expect(timeline.locator("tr", has_text=reviewer)).to_have_count(1)
    expect(timeline.locator("tr").last).to_contain_text("审核通过")
    assert_all_chinese(page, "online-record.png")
    shot(page, "22-declaration-detail")

    # P10: this year is passed now.
    row = annual_row(page)
    expect(row.locator(".result")).to_have_text("通过")
    expect(row.locator(".result")).to_have_class(re.compile(r"\bpass\b"))
    cells = row.locator("td")
    for column, hours in ((1, "40"), (2, "60"), (3, "100")):  # 公需 / 专业 / 总学时 against 30 / 60 / 90
        expect(cells.nth(column)).to_have_text(re.compile(rf"^\s*{hours}(\.0)?\s+已达标\s*$"))
    assert_all_chinese(page)
    shot(page, "24-annual-completion")

    # P11: the certificate downloads as a PDF naming the person, with its number and verification code.
    with page.expect_download() as download_info:
        row.locator(".certificate-btn").click()
    download = download_info.value
    assert re.fullmatch(r"JX\d{14}\.pdf", download.suggested_filename), download.suggested_filename
    with open(download.path(), "rb") as fh:
        data = fh.read()
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    compact = re.sub(r"\s+", "", text)
    for expected in (PROFESSIONAL[1], "结业证书", f"{YEAR}年度", "公需科目40学时", "专业科目60学时", "共计100学时"):
        assert expected in compact, f"{expected!r} is not in the certificate's text:\n{text}"
    number = re.search(r"编号[:：](JX\d{14})", compact)
    code = re.search(r"核验码[:：]([A-Z2-9]{8})", compact)
    assert number and code, f"no certificate number / verification code in the PDF text:\n{text}"
    number, code = number.group(1), code.group(1)
    assert download.suggested_filename == f"{number}.pdf"
    assert_no_page_errors(page)

    # X6: a visitor who is not logged in checks the number and the code on the public page.
    # They start from the public home page and type what is printed (the QR code holds the same link).
    visitor = new_page()
    visitor.goto("/")
    visitor.click("#verify-link")
    expect(visitor).to_have_url(re.compile(r"/verify/$"))
    expect(visitor.locator("#verify-result")).to_have_count(0)
    visitor.fill("#verify-code-form #number", number)
    visitor.fill("#verify-code-form #code", code.lower())  # case does not matter
    visitor.locator("#verify-code-form button[type=submit]").click()
    expect(visitor).to_have_url(re.compile(r"/verify/\?"))
    result = visitor.locator("#verify-result")
    expect(result).to_have_class(re.compile(r"\bpanel-success\b"))
    expect(result.locator(".panel-title")).to_have_text("证书真实有效。")
    expect(result).to_contain_text(PROFESSIONAL[1])
    expect(result).to_contain_text(number)
    expect(result).to_contain_text(str(YEAR))
    expect(result.locator(".state")).to_have_text("通过")
    assert PROFESSIONAL[0] not in visible_text(visitor), "the verification page shows the full ID number"
    expect(visitor.locator("#user-menu")).to_have_count(0)
    assert_all_chinese(visitor, number)
    shot(visitor, "25-verify")

    # A wrong code (same shape) is refused, and nothing of the certificate shows.
    wrong = next(c for c in CODE_ALPHABET if c != code[0]) + code[1:]
    visitor.goto("/verify/?" + f"number={number}&code={wrong}")
    result = visitor.locator("#verify-result")
    expect(result).to_have_class(re.compile(r"\balert-danger\b"))
    expect(result).to_have_text("未找到与该证书编号和核验码相符的证书。")
    assert PROFESSIONAL[1] not in visible_text(visitor)
    shot(visitor, "25b-verify-not-found")
    assert_all_chinese(visitor, number)
    assert_no_page_errors(visitor)
