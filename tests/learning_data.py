"""A small online class built with the ORM, for the learning tests (tests/test_learning.py, tests/test_csrf.py)."""
from __future__ import annotations

import datetime
import json
from decimal import Decimal

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
