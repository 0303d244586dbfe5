"""Small online classes for the learning tests: `make_class` built with the ORM (tests/test_learning.py,
tests/test_csrf.py), `make_short_class` built through the class workflow with real 2-second videos (the browser
journey tests/e2e/test_learning_journey.py)."""
from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path

from app import clock
from app.extensions import db
from app.models import ClassCourse, ClassSection, Lesson, OnlineClass, Question
from tests.helpers import YEAR


def make_class(world, title="公需网络课程", *, year=YEAR, hours=Decimal("12"), track="public") -> dict:
    """Course 1: section A (lessons A1 20 s with a pop-up at 10 s, A2 10 s; a quiz of two questions),
    section B (lesson B1 15 s, no quiz); course 2: section C (lesson C1 10 s; a quiz of one question)."""
    klass = OnlineClass(base_id=world.base.id, reviewer_org_id=world.city.id, title=title, track=track, year=year,
                        hours=hours, price=0, enrol_start=clock.today() - datetime.timedelta(days=30),
                        enrol_end=clock.today() + datetime.timedelta(days=30), intro="简介", state="published")
    db.session.add(klass)
    db.session.flush()
    c1 = ClassCourse(class_id=klass.id, title="第一课程", position=1)
    c2 = ClassCourse(class_id=klass.id, title="第二课程", position=2)
    db.session.add_all([c1, c2])
    db.session.flush()
    a = ClassSection(course_id=c1.id, title="第一节", position=1, pass_mark=60)
    b = ClassSection(course_id=c1.id, title="第二节", position=2)
    c = ClassSection(course_id=c2.id, title="第三节", position=1, pass_mark=100)
    db.session.add_all([a, b, c])
    db.session.flush()
    a1 = Lesson(section_id=a.id, title="课时A1", position=1, duration=20)
    a2 = Lesson(section_id=a.id, title="课时A2", position=2, duration=10)
    b1 = Lesson(section_id=b.id, title="课时B1", position=1, duration=15)
    c1l = Lesson(section_id=c.id, title="课时C1", position=1, duration=10)
    db.session.add_all([a1, a2, b1, c1l])
    db.session.flush()
    popup = Question(lesson_id=a1.id, at_second=10, kind="single", text="弹题：继续教育的主管部门是？",
                     options_json=json.dumps(["人社部门", "交通部门"]), answer_json="[0]")
    q1 = Question(section_id=a.id, kind="single", text="单选题", options_json=json.dumps(["甲", "乙", "丙"]),
                  answer_json="[2]", position=1)
    q2 = Question(section_id=a.id, kind="multiple", text="多选题", options_json=json.dumps(["甲", "乙", "丙"]),
                  answer_json="[0, 1]", position=2)
    q3 = Question(section_id=c.id, kind="true_false", text="判断题", options_json=json.dumps(["对", "错"]),
                  answer_json="[0]", position=1)
    db.session.add_all([popup, q1, q2, q3])
    db.session.commit()
    return {"class": klass, "a": a, "b": b, "c": c, "a1": a1, "a2": a2, "b1": b1, "c1": c1l, "popup": popup,
            "q1": q1, "q2": q2, "q3": q3}


# ---------------------------------------------------------------- a published class of short real videos (e2e)

DATA = Path(__file__).resolve().parent / "data"
SHORT_CLASS = {
    "title": "公需科目：职业道德与诚信建设",
    "course": "职业道德与诚信",
    # (section, lesson, video file of 2 seconds, pop-up at second 1 or None, quiz: (kind, text, options, correct))
    "sections": [
        ("职业道德的内涵", "职业道德的基本要求", "lesson.mp4",
         ("single", "专业技术人员继续教育的主管部门是？", ["人力资源社会保障部门", "交通运输部门"], [0]),
         [("single", "诚信建设的核心是什么？", ["守信践诺", "追求速度", "扩大规模"], [0]),
          ("true_false", "职业道德只在工作时间内需要遵守。", [], [1])]),
        ("诚信建设实践", "诚信建设案例分析", "lesson.webm", None,
         [("true_false", "诚信是专业技术人员的基本职业操守。", [], [0])]),
    ],
}


def make_short_class(base_admin_id: str, hr_admin_id: str, *, hours: Decimal = Decimal("3")) -> int:
    """A free 公需 class of this year built as a base builds one (the class workflow: the videos are received and
    probed like uploads) and published by the HR bureau: one course, two sections of one 2-second lesson each (the
    first with a pop-up question at second 1), each with a quiz (pass mark 60). Returns the class's id. For the
    browser journey, whose videos must really play in a few seconds (tests/e2e/test_learning_journey.py)."""
    from sqlalchemy import select

    from app.models import Account, Membership, RoleName
    from app.workflows import classes
    from app.workflows.accounts import display_name
    from app.workflows.base import Actor

    def actor(id_number: str, role: RoleName) -> Actor:
        account = db.session.scalar(select(Account).where(Account.username == id_number))
        org = db.session.scalar(select(Membership).where(Membership.user_id == account.id,
                                                         Membership.role == role.value)).org
        return Actor(account.id, display_name(account), role, org.id, org.path)

    base, hr = actor(base_admin_id, RoleName.BASE_ADMIN), actor(hr_admin_id, RoleName.HR_ADMIN)
    today = clock.today()
    item = classes.create_class(base, {
        "title": SHORT_CLASS["title"], "track": "public", "specialty": "", "year": today.year, "hours": hours,
        "price": Decimal("0"), "intro": "面向全体专业技术人员的公需科目班级：职业道德与诚信建设。",
        "enrol_start": today - datetime.timedelta(days=7), "enrol_end": today + datetime.timedelta(days=30)})
    course = classes.add_course(base, item, SHORT_CLASS["course"])
    for section_title, lesson_title, video, popup, quiz in SHORT_CLASS["sections"]:
        section = classes.add_section(base, course, section_title, 60)
        with (DATA / video).open("rb") as stream:
            lesson = classes.add_lesson(base, section, lesson_title, stream)
        if popup:
            classes.add_popup(base, lesson, 1, *popup)
        for question in quiz:
            classes.add_question(base, section, *question)
    classes.submit(base, item)
    classes.approve(hr, item)
    return item.id
