"""Issue 10 in a real browser: the city HR admin opens 查询统计 → 完成情况统计, reads the table, sees the bar chart
drawn by ECharts served from the platform itself (no CDN, no inline script), exports it as a PNG and drills down
to a district.

Screenshot: docs/screenshots/statistics-completion.png.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import assert_chinese, assert_no_page_errors, doc_shot, login

pytestmark = pytest.mark.e2e

HR_ADMIN = ("370102196804040024", "赵人社")  # the demo city HR admin


@pytest.fixture(scope="module")
def hours_this_year(live_server, app):
    """This year's credited hours for some of the demo staff (the demo itself credits earlier years only), so the
    chart has both colours: every third person passes, every third takes part without passing."""
    from sqlalchemy import select

    from app import clock
    from app.extensions import db
    from app.models import LearningForm, Person
    from app.workflows.declaration import Subject, credit

    year = clock.today().year
    with app.app_context():
        form = db.session.scalars(select(LearningForm).order_by(LearningForm.id)).first()
        people = list(db.session.scalars(select(Person.id).where(Person.is_staff.is_(True)).order_by(Person.id)))
        for n, person_id in enumerate(people):
            if n % 3 == 2:
                continue
            public, professional = (Decimal(60), Decimal(120)) if n % 3 == 0 else (Decimal(10), Decimal(0))
            for k, (subject, hours) in enumerate((("public", public), ("professional", professional))):
                if hours:
                    credit(person_id, year, Subject(subject), hours, form_id=form.id, title="统计演示学时",
                           source="online", source_id=900000 + n * 2 + k)
        db.session.commit()
        db.session.remove()
    return year


def test_hr_admin_reads_the_completion_statistics_and_its_chart(page: Page, hours_this_year):
    login(page, HR_ADMIN[0], "HRAdmin")
    page.click("text=查询统计")
    page.locator(".dropdown-menu a", has_text="完成情况统计").click()
    expect(page).to_have_url(re.compile(r"/statistics/completion"))
    expect(page.locator("h2")).to_have_text("完成情况统计")
    expect(page.locator("#year")).to_have_value(str(hours_this_year))
    rows = page.locator("tr.completion-row")
    assert rows.count() >= 2
    expect(page.locator("thead")).to_contain_text("应参加人数")
    expect(page.locator("thead")).to_contain_text("通过率")
    total = page.locator("tr.completion-total")
    expect(total.locator("th")).to_have_text("合计")
    headcount = int(total.locator("td.headcount").inner_text())
    passed = int(total.locator("td.passed").inner_text())
    assert headcount > 0 and 0 < passed < headcount

    # the chart: drawn on a canvas by the platform's own ECharts, with both series and the PNG export
    chart = page.locator("#completion-chart")
    expect(chart).to_have_attribute("data-drawn", "1")
    canvas = chart.locator("canvas")
    expect(canvas).to_have_count(1)
    box = canvas.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 300
    painted = page.evaluate("""() => {
        const c = document.querySelector('#completion-chart canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let green = 0, red = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i] < 90 && d[i + 1] > 120 && d[i + 2] < 90) green++;
            if (d[i] > 180 && d[i + 1] < 70 && d[i + 2] < 70) red++;
        }
        return {green, red}; }""")
    assert painted["green"] > 200 and painted["red"] > 200, painted
    png = page.evaluate("() => echarts.getInstanceByDom(document.getElementById('completion-chart'))"
                        ".getDataURL({type: 'png'})")
    assert png.startswith("data:image/png;base64,")
    assert page.evaluate("() => [...document.scripts].every(s => s.src || s.type === 'application/json')")
    assert page.evaluate("() => [...document.scripts].filter(s => s.src).every(s => s.src.startsWith(location.origin))")
    assert_chinese(page)
    assert_no_page_errors(page)
    doc_shot(page, "statistics-completion")

    # drill down to the first district: its own rows, a breadcrumb back to the city
    link = rows.locator("td:first-child a").first
    name = link.inner_text()
    link.click()
    expect(page.locator(".statistics-crumbs li.active")).to_have_text(name)
    expect(page.locator(".statistics-crumbs a")).to_have_count(1)
    expect(page.locator("#completion-chart")).to_have_attribute("data-drawn", "1")
    assert_no_page_errors(page)
