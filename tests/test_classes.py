"""B3 and state machine 6 for classes (issue 11): a training base builds classes, the HR bureau above it reviews
them; the workflow grid, scope, bad input (T1), the lock on removing content once learners started, the media
served with range requests (and through the proxy) only to those allowed, the pages."""
from __future__ import annotations

import datetime
import io
import os
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (AuditLog, ClassCourse, ClassSection, ClassState, Enrolment, Lesson, LessonProgress,
                        OnlineClass, OrgKind, Question, RoleName)
from app.models.learning import SectionProgress
from app.workflows import classes as flow
from app.workflows.base import DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.factories import PNG, PDF, actor_for
from tests.helpers import csrf_from, log_in, make_person, page, person_of, zh

R = RoleName
DATA = Path(__file__).parent / "data"
MP4 = (DATA / "lesson.mp4").read_bytes()
WEBM = (DATA / "lesson.webm").read_bytes()
TODAY = clock.today()
YEAR = TODAY.year

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


@pytest.fixture(autouse=True)
def learning_folder(app, tmp_path):
    old = dict(app.config)
    app.config["LEARNING_FOLDER"] = str(tmp_path / "learning")
    yield tmp_path / "learning"
    for key in ("LEARNING_FOLDER", "VIDEO_MAX_BYTES", "LEARNING_SENDFILE"):
        app.config[key] = old.get(key)


def stored_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


INFO = {"title": "2026年公需科目网络培训班", "track": "public", "specialty": "", "year": YEAR, "hours": Decimal("12"),
        "price": Decimal("0"), "enrol_start": TODAY - datetime.timedelta(days=1),
        "enrol_end": TODAY + datetime.timedelta(days=60), "intro": "数字经济与创新驱动发展"}


def base_actor(world):
    return actor_for(world.base_admin, R.BASE_ADMIN, world.base)


def city_hr(world):
    return actor_for(world.city_admin, R.HR_ADMIN, world.city)


def full_class(world, **info) -> OnlineClass:
    """A draft class with one course, one section, one real video lesson (a pop-up) and one quiz question."""
    actor = base_actor(world)
    item = flow.create_class(actor, {**INFO, **info})
    course = flow.add_course(actor, item, "数字经济概论")
    section = flow.add_section(actor, course, "第一节 数字经济的内涵", 60)
    lesson = flow.add_lesson(actor, section, "第一讲", io.BytesIO(MP4))
    flow.add_popup(actor, lesson, 1, "true_false", "数字经济以数据为关键要素。", [], [0])
    flow.add_question(actor, section, "single", "数字经济的关键生产要素是？", ["土地", "数据", "资本"], [1])
    return item


def in_state(item: OnlineClass, state: ClassState, world) -> OnlineClass:
    """Bring a class to `state` through the machine."""
    base, hr = base_actor(world), city_hr(world)
    path = {ClassState.DRAFT: [], ClassState.PENDING: [("submit", base)],
            ClassState.PUBLISHED: [("submit", base), ("approve", hr)],
            ClassState.REJECTED: [("submit", base), ("reject", hr)],
            ClassState.CLOSED: [("submit", base), ("approve", hr), ("close", base)]}[state]
    for action, actor in path:
        flow.machine.apply(item, action, actor, "不符合要求" if action == "reject" else None)
    return item


def enrol(item: OnlineClass, account) -> Enrolment:
    row = Enrolment(class_id=item.id, person_id=person_of(account).id)
    db.session.add(row)
    db.session.commit()
    return row


# ---------------------------------------------------------------- state machine 6: the grid

ACTIONS = ("submit", "approve", "reject", "close")
DECLARED = {("draft", "submit"): "pending", ("rejected", "submit"): "pending", ("pending", "approve"): "published",
            ("pending", "reject"): "rejected", ("published", "close"): "closed"}


@pytest.mark.parametrize("state", list(ClassState))
@pytest.mark.parametrize("action", ACTIONS)
def test_only_declared_transitions_happen(fast_world, state, action):
    item = in_state(full_class(fast_world), state, fast_world)
    actor = base_actor(fast_world) if action in ("submit", "close") else city_hr(fast_world)
    expected = DECLARED.get((state.value, action))
    audits = db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.object_type == "online_class"))
    if expected is None:
        with pytest.raises(TransitionNotAllowed):
            flow.machine.apply(item, action, actor, "理由")
        db.session.expire_all()
        assert item.state == state.value
        assert db.session.scalar(select(func.count(AuditLog.id)).where(
            AuditLog.object_type == "online_class")) == audits
    else:
        flow.machine.apply(item, action, actor, "理由")
        assert item.state == expected
        row = db.session.scalars(select(AuditLog).where(AuditLog.object_type == "online_class")
                                 .order_by(AuditLog.id.desc())).first()
        assert (row.action, row.from_state, row.to_state, row.object_id) == (
            f"online_class.{action}", state.value, expected, item.id)


def test_roles_and_scope_are_checked_on_every_transition(fast_world):
    w = fast_world
    item = full_class(w)
    other_base = factories.make_org(OrgKind.BASE, "乙基地", w.city)
    other_admin = factories.make_account("乙基地管理员", [(R.BASE_ADMIN, other_base)])
    for actor in (city_hr(w), actor_for(other_admin, R.BASE_ADMIN, other_base)):
        with pytest.raises(PermissionDenied):
            flow.submit(actor, item)
    flow.submit(base_actor(w), item)
    # the base cannot approve its own class; an HR bureau that does not cover the base's parent cannot either
    for actor in (base_actor(w), actor_for(w.district_admin, R.HR_ADMIN, w.district),
                  actor_for(w.other_district_admin, R.HR_ADMIN, w.other_district),
                  actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit)):
        with pytest.raises(PermissionDenied):
            flow.approve(actor, item)
    with pytest.raises(DomainError) as refused:
        flow.reject(city_hr(w), item, "  ")
    assert str(refused.value) == zh("A reason is required to reject.")
    assert item.state == "pending"
    flow.reject(city_hr(w), item, "简介不完整")
    assert (item.state, item.reason) == ("rejected", "简介不完整")
    flow.update_class(base_actor(w), item, {**INFO, "intro": "补充后的简介"})
    flow.submit(base_actor(w), item)
    assert item.reason is None
    flow.approve(city_hr(w), item)
    assert item.state == "published" and item.published_at is not None


def test_an_incomplete_class_cannot_be_submitted(fast_world):
    actor = base_actor(fast_world)
    item = flow.create_class(actor, INFO)
    with pytest.raises(DomainError) as refused:
        flow.submit(actor, item)
    assert str(refused.value) == zh("Add at least one course before submitting the class.")
    course = flow.add_course(actor, item, "课程一")
    section = flow.add_section(actor, course, "小节一", 60)
    with pytest.raises(DomainError) as refused:
        flow.submit(actor, item)
    assert str(refused.value) == zh("The section “%(title)s” has no video lesson.", title="小节一")
    assert item.state == "draft"


def test_batch_decision_handles_each_class_in_scope(fast_world):
    w = fast_world
    mine, second = full_class(w), full_class(w, title="第二个公需班")
    far_base = factories.make_org(OrgKind.BASE, "乙区基地", w.other_district)
    far_admin = factories.make_account("乙区基地管理员", [(R.BASE_ADMIN, far_base)])
    far_actor = actor_for(far_admin, R.BASE_ADMIN, far_base)
    far = flow.create_class(far_actor, INFO)
    course = flow.add_course(far_actor, far, "课程")
    section = flow.add_section(far_actor, course, "小节", 60)
    flow.add_lesson(far_actor, section, "第一讲", io.BytesIO(MP4))
    flow.add_question(far_actor, section, "multiple", "哪些是数字技术？", ["云计算", "人工智能", "蒸汽机"], [0, 1])
    for item, actor in ((mine, base_actor(w)), (second, base_actor(w)), (far, far_actor)):
        flow.submit(actor, item)
    district = actor_for(w.district_admin, R.HR_ADMIN, w.district)
    assert [c.id for c in flow.queue(district)] == []  # the base is the city's, not the district's
    assert [c.id for c in flow.queue(city_hr(w))] == [mine.id, second.id, far.id]  # the city covers both
    with pytest.raises(DomainError):
        flow.decide_many([mine.id], "reject", city_hr(w), "")
    done, failed = flow.decide_many([mine.id, second.id, far.id, 999999], "approve",
                                    actor_for(w.other_district_admin, R.HR_ADMIN, w.other_district))
    assert done == 1 and {i for i, _ in failed} == {mine.id, second.id, 999999}
    done, failed = flow.decide_many([mine.id, second.id], "approve", city_hr(w))
    assert (done, failed) == (2, [])
    db.session.expire_all()
    assert {c.state for c in (mine, second, far)} == {"published"}


# ---------------------------------------------------------------- T1: bad input refused, nothing written

@pytest.mark.parametrize("change,field,message", [
    ({"price": Decimal("-1")}, "price", ("The price must be 0 (free) or more, at most %(max)s yuan, with at most two "
                                          "decimals.", {"max": flow.MAX_PRICE})),
    ({"hours": Decimal("0")}, "hours", ("The hours must be above 0 and at most %(max)s, with at most one decimal.",
                                        {"max": flow.MAX_HOURS})),
    ({"enrol_start": TODAY, "enrol_end": TODAY - datetime.timedelta(days=1)}, "enrol_end",
     ("The enrolment closes before it opens: the last day must not be before the first.", {})),
    ({"track": "professional"}, "specialty", ("Choose the specialty of a professional class.", {})),
    ({"specialty": "卫生专业"}, "specialty", ("A public-subject class has no specialty.", {})),
    ({"track": "professional", "specialty": "不存在的专业"}, "specialty",
     ("Choose the specialty of a professional class.", {})),
    ({"title": "<script>"}, "title", ("Enter a title of 2 to 100 characters without < or >.", {})),
    ({"year": YEAR - 5}, "year", ("The year must be between %(a)s and %(b)s.", {"a": YEAR - 1, "b": YEAR + 1})),
])
def test_bad_class_information_is_refused(fast_world, change, field, message):
    with pytest.raises(DomainError) as refused:
        flow.create_class(base_actor(fast_world), {**INFO, **change})
    assert (field, zh(message[0], **message[1])) in refused.value.errors
    assert db.session.scalar(select(func.count(OnlineClass.id))) == 0


@pytest.mark.parametrize("kind,options,correct,message", [
    ("single", ["甲", "乙", "丙"], [], "Mark at least one correct answer."),
    ("single", ["甲", "乙", "丙"], [0, 1], "A single-choice or true-false question has exactly one correct answer."),
    ("true_false", [], [0, 1], "A single-choice or true-false question has exactly one correct answer."),
    ("multiple", ["甲"], [0], "A choice question needs at least 2 options."),
    ("single", ["甲", "", "丙"], [0], "Fill in the options in order, without gaps."),
    ("single", ["甲", "乙"], [5], "A correct answer must be one of the options."),
    ("essay", ["甲", "乙"], [0], "Choose the kind of question."),
])
def test_bad_questions_are_refused(fast_world, kind, options, correct, message):
    item = full_class(fast_world)
    section = item.courses[0].sections[0]
    before = db.session.scalar(select(func.count(Question.id)))
    with pytest.raises(DomainError) as refused:
        flow.add_question(base_actor(fast_world), section, kind, "下列说法正确的是？", options, correct)
    assert str(refused.value) == zh(message)
    assert db.session.scalar(select(func.count(Question.id))) == before


def test_true_false_options_are_fixed(fast_world):
    item = full_class(fast_world)
    question = flow.add_question(base_actor(fast_world), item.courses[0].sections[0], "true_false", "对吗？",
                                 ["是", "否", "不知道"], [1])
    assert flow.options_of(question) == ["对", "错"] and flow.answer_of(question) == [1]


def test_a_popup_must_lie_within_the_video(fast_world):
    item = full_class(fast_world)
    lesson = item.courses[0].sections[0].lessons[0]
    with pytest.raises(DomainError) as refused:
        flow.add_popup(base_actor(fast_world), lesson, 60, "single", "问题？", ["甲", "乙"], [0])
    assert refused.value.field == "at_second"


def test_videos_are_checked_by_content_and_duration(fast_world, learning_folder):
    item = full_class(fast_world)
    section = item.courses[0].sections[0]
    files = stored_files(learning_folder)
    lessons = db.session.scalar(select(func.count(Lesson.id)))
    not_a_video = zh("The file is not a video that can be played: upload an MP4 or WebM video.")
    for data in (b"just some text, renamed lesson.mp4\n" * 20,  # a .txt renamed .mp4
                 b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500,  # the right header, nothing ffprobe can read
                 PNG, PDF, MP4[:400]):  # an image, a PDF, a truncated MP4
        with pytest.raises(DomainError) as refused:
            flow.add_lesson(base_actor(fast_world), section, "坏视频", io.BytesIO(data))
        assert str(refused.value) == not_a_video
    assert stored_files(learning_folder) == files
    assert db.session.scalar(select(func.count(Lesson.id))) == lessons
    webm = flow.add_lesson(base_actor(fast_world), section, "WebM 课", io.BytesIO(WEBM))
    assert webm.content_type == "video/webm" and 1.5 < webm.duration < 2.5 and webm.size == len(WEBM)
    mp4 = section.lessons[0]
    assert mp4.content_type == "video/mp4" and 1.5 < mp4.duration < 2.5
    assert mp4.stored_name.endswith(".mp4") and "课" not in mp4.stored_name
    assert os.path.isfile(flow.lesson_path(mp4)) and str(learning_folder) in flow.lesson_path(mp4)


def test_an_oversize_video_is_refused_while_it_is_received(app, fast_world, learning_folder):
    item = full_class(fast_world)
    files = stored_files(learning_folder)
    app.config["VIDEO_MAX_BYTES"] = len(MP4) - 1
    with pytest.raises(DomainError) as refused:
        flow.add_lesson(base_actor(fast_world), item.courses[0].sections[0], "太大", io.BytesIO(MP4))
    assert str(refused.value) == zh("The video is larger than %(mb)s MB.", mb=0)
    assert stored_files(learning_folder) == files


def test_a_cover_must_be_an_image(fast_world, learning_folder):
    for name, data in (("cover.png", b"not an image at all"), ("cover.png", PDF), ("cover.jpg", b"<html>x</html>")):
        with pytest.raises(DomainError) as refused:
            flow.create_class(base_actor(fast_world), INFO, (name, data))
        assert str(refused.value) == zh("The cover must be a PNG or JPEG image.")
    assert db.session.scalar(select(func.count(OnlineClass.id))) == 0
    assert stored_files(learning_folder) == []
    item = flow.create_class(base_actor(fast_world), INFO, ("封面.png", PNG))
    assert item.cover_name.endswith(".png") and os.path.isfile(flow.cover_path(item))


# ---------------------------------------------------------------- editing: states and the lock

def test_content_changes_follow_the_state(fast_world):
    w = fast_world
    actor = base_actor(w)
    item = in_state(full_class(w), ClassState.PENDING, w)
    with pytest.raises(DomainError):
        flow.add_course(actor, item, "审核中加课")
    with pytest.raises(DomainError):
        flow.update_class(actor, item, INFO)
    flow.approve(city_hr(w), item)
    with pytest.raises(DomainError) as refused:
        flow.update_class(actor, item, {**INFO, "price": Decimal("10")})
    assert str(refused.value) == zh("Only a draft or a rejected class can be edited.")
    # published, nobody enrolled yet: content may still be added and removed
    course = flow.add_course(actor, item, "新增课程")
    flow.remove_item(actor, item, "course", course.id)


def test_no_content_is_removed_once_learners_started(fast_world, learning_folder):
    w = fast_world
    actor = base_actor(w)
    item = in_state(full_class(w), ClassState.PUBLISHED, w)
    learner = make_person("学员甲", w.unit)
    enrol(item, learner)
    section = item.courses[0].sections[0]
    lesson = section.lessons[0]
    files = stored_files(learning_folder)
    locked = zh("Learners have started this class: its courses, sections, lessons and questions can no longer be "
                "removed or replaced; you may only add content.")
    for kind, item_id in (("lesson", lesson.id), ("section", section.id), ("course", item.courses[0].id),
                          ("question", section.questions[0].id), ("question", lesson.popups[0].id)):
        with pytest.raises(DomainError) as refused:
            flow.remove_item(actor, item, kind, item_id)
        assert str(refused.value) == locked
    assert stored_files(learning_folder) == files
    assert db.session.scalar(select(func.count(Lesson.id))) == 1
    # adding is still allowed
    flow.add_lesson(actor, section, "第二讲", io.BytesIO(WEBM))
    flow.add_question(actor, section, "true_false", "补充题", [], [0])
    assert len(section.lessons) == 2


def test_removing_a_lesson_in_a_draft_removes_its_file(fast_world, learning_folder):
    item = full_class(fast_world)
    lesson = item.courses[0].sections[0].lessons[0]
    path = flow.lesson_path(lesson)
    flow.remove_item(base_actor(fast_world), item, "lesson", lesson.id)
    assert not os.path.exists(path)
    assert db.session.scalar(select(func.count(Question.id)).where(Question.lesson_id.is_not(None))) == 0


def test_a_base_cannot_touch_another_bases_class(fast_world):
    w = fast_world
    item = full_class(w)
    other_base = factories.make_org(OrgKind.BASE, "乙基地", w.city)
    other = actor_for(factories.make_account("乙基地管理员", [(R.BASE_ADMIN, other_base)]), R.BASE_ADMIN, other_base)
    section = item.courses[0].sections[0]
    for call in (lambda: flow.get_class(other, item.id, own=True), lambda: flow.update_class(other, item, INFO),
                 lambda: flow.add_course(other, item, "偷加课程"),
                 lambda: flow.add_section(other, item.courses[0], "偷加小节", 60),
                 lambda: flow.add_lesson(other, section, "偷加", io.BytesIO(MP4)),
                 lambda: flow.add_question(other, section, "single", "偷加题？", ["甲", "乙"], [0]),
                 lambda: flow.remove_item(other, item, "lesson", section.lessons[0].id)):
        with pytest.raises(PermissionDenied):
            call()
    # an item of another class named through one's own class
    own = flow.create_class(other, INFO)
    with pytest.raises(PermissionDenied):
        flow.remove_item(other, own, "lesson", section.lessons[0].id)
    assert db.session.scalar(select(func.count(ClassCourse.id))) == 1
    assert db.session.scalar(select(func.count(ClassSection.id))) == 1


# ---------------------------------------------------------------- the pages

def post_form(client, url, data, get_url, files=None):
    token = csrf_from(client.get(get_url).get_data(as_text=True))
    payload = {"csrf_token": token, **data}
    for key, (content, name) in (files or {}).items():
        payload[key] = (io.BytesIO(content), name)
    return client.post(url, data=payload, content_type="multipart/form-data", follow_redirects=True)


def test_the_base_builds_and_submits_a_class_through_its_pages(client, fast_world, learning_folder):
    w = fast_world
    log_in(client, w.base_admin.username, R.BASE_ADMIN.value)
    response = post_form(client, "/base/classes/new", {
        "title": "专业科目网络班", "track": "professional", "specialty": "卫生专业", "year": str(YEAR), "hours": "24",
        "price": "120.50", "enrol_start": TODAY.isoformat(), "enrol_end": (TODAY + datetime.timedelta(days=30)).isoformat(),
        "intro": "面向卫生专业技术人员"}, "/base/classes/new", {"cover": (PNG, "cover.png")})
    assert response.status_code == 200
    item = db.session.scalar(select(OnlineClass))
    assert (item.track, item.specialty, item.price, item.state) == ("professional", "卫生专业", Decimal("120.50"),
                                                                    "draft")
    editor = f"/base/classes/{item.id}"
    post_form(client, f"{editor}/courses", {"course-title": "临床新进展"}, editor)
    course = db.session.scalar(select(ClassCourse))
    post_form(client, f"/base/classes/courses/{course.id}/sections",
              {"section-title": "心血管", "section-pass_mark": "80"}, editor)
    section = db.session.scalar(select(ClassSection))
    assert section.pass_mark == 80
    response = post_form(client, f"/base/classes/sections/{section.id}/lessons", {"lesson-title": "第一讲"}, editor,
                         {"lesson-video": (MP4, "第一讲.mp4")})
    assert zh("The lesson has been added.") in page(response)
    lesson = db.session.scalar(select(Lesson))
    # a question with no correct answer: a clear message, nothing stored
    response = post_form(client, f"/base/classes/sections/{section.id}/questions", {
        "question-kind": "single", "question-text": "下列正确的是？", "question-options-0": "甲",
        "question-options-1": "乙"}, editor)
    assert zh("Mark at least one correct answer.") in page(response)
    assert db.session.scalar(select(func.count(Question.id))) == 0
    post_form(client, f"/base/classes/sections/{section.id}/questions", {
        "question-kind": "multiple", "question-text": "下列正确的是？", "question-options-0": "甲",
        "question-options-1": "乙", "question-options-2": "丙", "question-correct": ["0", "2"]}, editor)
    post_form(client, f"/base/classes/lessons/{lesson.id}/popups", {
        "popup-kind": "true_false", "popup-text": "刚才讲的是心血管吗？", "popup-at_second": "1",
        "popup-correct": "0"}, editor)
    questions = db.session.scalars(select(Question).order_by(Question.id)).all()
    assert [(q.kind, flow.answer_of(q), q.at_second) for q in questions] == [("multiple", [0, 2], None),
                                                                             ("true_false", [0], 1)]
    html = page(client.get(editor))
    assert "临床新进展" in html and "心血管" in html and f"/learning/media/lesson/{lesson.id}" in html
    response = post_form(client, f"{editor}/act", {"action": "submit"}, editor)
    assert zh("The class has been submitted to %(org)s for review.", org=w.city.name) in page(response)
    db.session.expire_all()
    assert item.state == "pending"


@pytest.mark.parametrize("data,field,message", [
    ({"price": "-5"}, "price", ("The price must be 0 (free) or more, at most %(max)s yuan, with at most two decimals.",
                                {"max": flow.MAX_PRICE})),
    ({"enrol_end": (TODAY - datetime.timedelta(days=3)).isoformat()}, "enrol_end",
     ("The enrolment closes before it opens: the last day must not be before the first.", {})),
    ({"track": "professional"}, "specialty", ("Choose the specialty of a professional class.", {})),
])
def test_the_class_form_refuses_bad_input_at_its_field(client, fast_world, learning_folder, data, field, message):
    log_in(client, fast_world.base_admin.username, R.BASE_ADMIN.value)
    form = {"title": "公需科目班", "track": "public", "specialty": "", "year": str(YEAR), "hours": "12", "price": "0",
            "enrol_start": TODAY.isoformat(), "enrol_end": (TODAY + datetime.timedelta(days=30)).isoformat(),
            **data}
    response = post_form(client, "/base/classes/new", form, "/base/classes/new")
    html = page(response)
    assert response.status_code == 200 and zh(message[0], **message[1]) in html
    assert f'id="group-{field}"' in html and "has-error" in html.split(f'id="group-{field}"')[0][-80:]
    assert db.session.scalar(select(func.count(OnlineClass.id))) == 0


def test_the_class_form_refuses_a_cover_that_is_not_an_image(client, fast_world, learning_folder):
    log_in(client, fast_world.base_admin.username, R.BASE_ADMIN.value)
    form = {"title": "公需科目班", "track": "public", "year": str(YEAR), "hours": "12", "price": "0",
            "enrol_start": TODAY.isoformat(), "enrol_end": (TODAY + datetime.timedelta(days=30)).isoformat()}
    response = post_form(client, "/base/classes/new", form, "/base/classes/new",
                         {"cover": (b"GIF89a not really", "cover.png")})
    assert zh("The cover must be a PNG or JPEG image.") in page(response)
    assert db.session.scalar(select(func.count(OnlineClass.id))) == 0 and stored_files(learning_folder) == []


def test_a_video_upload_may_exceed_the_app_limit_but_not_the_video_cap(app, client, fast_world, learning_folder):
    """The lesson route takes bodies up to VIDEO_MAX_BYTES (the app's MAX_CONTENT_LENGTH is smaller); past the cap
    the workflow refuses with its message; past the route's own body limit, the 413 page names that limit."""
    item = full_class(fast_world)
    section = item.courses[0].sections[0]
    log_in(client, fast_world.base_admin.username, R.BASE_ADMIN.value)
    editor = f"/base/classes/{item.id}"
    files = stored_files(learning_folder)
    big = MP4 + b"\x00" * (app.config["MAX_CONTENT_LENGTH"] + 10)  # over the app's limit, a valid MP4 head
    app.config["VIDEO_MAX_BYTES"] = len(big) - 1
    response = post_form(client, f"/base/classes/sections/{section.id}/lessons", {"lesson-title": "大视频"}, editor,
                         {"lesson-video": (big, "big.mp4")})
    assert response.status_code == 200
    assert zh("The video is larger than %(mb)s MB.", mb=(len(big) - 1) // (1024 * 1024)) in page(response)
    app.config["VIDEO_MAX_BYTES"] = 1000
    response = post_form(client, f"/base/classes/sections/{section.id}/lessons", {"lesson-title": "大视频"}, editor,
                         {"lesson-video": (b"\x00" * (3 * 1024 * 1024), "big.mp4")})
    assert response.status_code == 413
    assert stored_files(learning_folder) == files
    assert db.session.scalar(select(func.count(Lesson.id))) == 1


def test_a_base_admin_gets_404_for_another_bases_class_pages(client, fast_world):
    w = fast_world
    item = full_class(w)
    other_base = factories.make_org(OrgKind.BASE, "乙基地", w.city)
    other_admin = factories.make_account("乙基地管理员", [(R.BASE_ADMIN, other_base)])
    from tests.helpers import cheap_passwords

    cheap_passwords()
    token = log_in(client, other_admin.username, R.BASE_ADMIN.value)
    section = item.courses[0].sections[0]
    for url in (f"/base/classes/{item.id}", f"/base/classes/{item.id}/edit", f"/base/classes/{item.id}/enrolments",
                f"/base/classes/{item.id}/enrolments/export"):
        assert client.get(url).status_code == 404, url
    for url, data in ((f"/base/classes/{item.id}/act", {"action": "submit"}),
                      (f"/base/classes/{item.id}/courses", {"course-title": "偷加课程"}),
                      (f"/base/classes/sections/{section.id}/questions", {"question-kind": "true_false",
                                                                         "question-text": "偷加？",
                                                                         "question-correct": "0"}),
                      (f"/base/classes/{item.id}/remove", {"kind": "lesson", "item_id": str(section.lessons[0].id)})):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 404, url
    assert client.get(f"/learning/media/lesson/{section.lessons[0].id}").status_code == 404
    db.session.expire_all()
    assert item.state == "draft" and len(item.courses) == 1 and len(section.questions) == 1


def test_enrolments_page_and_export(client, fast_world):
    w = fast_world
    item = in_state(full_class(w), ClassState.PUBLISHED, w)
    lesson = item.courses[0].sections[0].lessons[0]
    first, second = make_person("学员甲", w.unit), make_person("学员乙", w.unit)
    row = enrol(item, first)
    enrol(item, second)
    db.session.add(LessonProgress(enrolment_id=row.id, lesson_id=lesson.id, watched=lesson.duration / 2))
    db.session.add(SectionProgress(enrolment_id=row.id, section_id=item.courses[0].sections[0].id, state="passed"))
    db.session.commit()
    log_in(client, w.base_admin.username, R.BASE_ADMIN.value)
    html = page(client.get(f"/base/classes/{item.id}/enrolments"))
    full = person_of(first).id_number
    assert "学员甲" in html and "学员乙" in html and full not in html and full[:6] + "********" in html
    assert "50%" in html and "1 / 1" in html
    response = client.get(f"/base/classes/{item.id}/enrolments/export")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == zh("Name") and len(rows) == 3
    assert rows[1][0] == "学员甲" and rows[1][1] == full[:6] + "********" + full[-4:] and rows[1][3] == 50


def test_the_hr_review_pages(client, fast_world):
    w = fast_world
    item = in_state(full_class(w), ClassState.PENDING, w)
    enrolled_class = in_state(full_class(w, title="已发布的班"), ClassState.PUBLISHED, w)
    enrol(enrolled_class, make_person("学员甲", w.unit))
    log_in(client, w.city_admin.username, R.HR_ADMIN.value)
    html = page(client.get("/review/classes/"))
    assert item.title in html and "已发布的班" not in html
    html = page(client.get(f"/review/classes/{item.id}"))
    lesson = item.courses[0].sections[0].lessons[0]
    assert f'src="/learning/media/lesson/{lesson.id}"' in html and "数字经济的关键生产要素是？" in html
    assert client.get(f"/learning/media/lesson/{lesson.id}").status_code == 200
    html = page(client.get("/review/classes/all?state=published"))
    assert "已发布的班" in html and item.title not in html.split("region-classes")[1]
    token = csrf_from(client.get(f"/review/classes/{item.id}").get_data(as_text=True))
    response = client.post(f"/review/classes/{item.id}/decide", data={"csrf_token": token, "action": "reject",
                                                                       "reason": ""}, follow_redirects=True)
    assert zh("A reason is required to reject.") in page(response)
    response = client.post("/review/classes/decide", data={"csrf_token": token, "action": "approve",
                                                           "ids": str(item.id)}, follow_redirects=True)
    db.session.expire_all()
    assert item.state == "published"


def test_hr_outside_the_region_sees_nothing(client, fast_world):
    w = fast_world
    item = in_state(full_class(w), ClassState.PENDING, w)
    token = log_in(client, w.other_district_admin.username, R.HR_ADMIN.value)
    assert item.title not in page(client.get("/review/classes/"))
    assert item.title not in page(client.get("/review/classes/all"))
    assert client.get(f"/review/classes/{item.id}").status_code == 404
    assert client.post(f"/review/classes/{item.id}/decide",
                       data={"csrf_token": token, "action": "approve"}).status_code == 404
    client.post("/review/classes/decide", data={"csrf_token": token, "action": "approve", "ids": str(item.id)})
    db.session.expire_all()
    assert item.state == "pending"


# ---------------------------------------------------------------- media: who, ranges, the proxy

def test_media_access_matrix(app, fast_world):
    w = fast_world
    item = in_state(full_class(w), ClassState.PUBLISHED, w)
    lesson = item.courses[0].sections[0].lessons[0]
    enrolled, stranger = make_person("学员甲", w.unit), make_person("学员乙", w.unit)
    enrol(item, enrolled)
    other_base = factories.make_org(OrgKind.BASE, "乙基地", w.city)
    other_admin = factories.make_account("乙基地管理员", [(R.BASE_ADMIN, other_base)])
    from tests.helpers import cheap_passwords

    cheap_passwords()
    cases = [(enrolled, R.PROFESSIONAL, 200), (stranger, R.PROFESSIONAL, 404), (w.base_admin, R.BASE_ADMIN, 200),
             (other_admin, R.BASE_ADMIN, 404), (w.city_admin, R.HR_ADMIN, 200),
             (w.other_district_admin, R.HR_ADMIN, 404), (w.unit_admin, R.UNIT_ADMIN, 403)]
    for account, role, status in cases:
        client = app.test_client()
        log_in(client, account.username, role.value)
        response = client.get(f"/learning/media/lesson/{lesson.id}")
        assert response.status_code == status, (account.first_name, role)
        if status == 200:
            assert response.data == MP4 and response.mimetype == "video/mp4"
    assert app.test_client().get(f"/learning/media/lesson/{lesson.id}").status_code == 302  # to the login page


def test_the_cover_is_served_to_those_who_may_see_the_class(app, client, fast_world):
    w = fast_world
    item = flow.create_class(base_actor(w), INFO, ("cover.png", PNG))
    log_in(client, w.base_admin.username, R.BASE_ADMIN.value)
    response = client.get(f"/learning/media/cover/{item.id}")
    assert response.status_code == 200 and response.data == PNG and response.mimetype == "image/png"
    stranger = app.test_client()
    log_in(stranger, make_person("学员乙", w.unit).username, R.PROFESSIONAL.value)
    assert stranger.get(f"/learning/media/cover/{item.id}").status_code == 404


def test_video_answers_range_requests(client, fast_world):
    item = full_class(fast_world)
    lesson = item.courses[0].sections[0].lessons[0]
    log_in(client, fast_world.base_admin.username, R.BASE_ADMIN.value)
    response = client.get(f"/learning/media/lesson/{lesson.id}", headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response.data == MP4[:100]
    assert response.headers["Content-Range"] == f"bytes 0-99/{len(MP4)}"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    tail = client.get(f"/learning/media/lesson/{lesson.id}", headers={"Range": f"bytes={len(MP4) - 10}-"})
    assert tail.status_code == 206 and tail.data == MP4[-10:]


@pytest.mark.parametrize("mode,header", [("nginx", "X-Accel-Redirect"), ("apache", "X-Sendfile")])
def test_video_is_handed_to_the_proxy_when_configured(app, client, fast_world, mode, header):
    item = full_class(fast_world)
    lesson = item.courses[0].sections[0].lessons[0]
    log_in(client, fast_world.base_admin.username, R.BASE_ADMIN.value)
    app.config["LEARNING_SENDFILE"] = mode
    response = client.get(f"/learning/media/lesson/{lesson.id}")
    assert response.status_code == 200 and response.data == b""
    value = response.headers[header]
    if mode == "nginx":
        assert value == f"{app.config['LEARNING_ACCEL_PREFIX'].rstrip('/')}/videos/{lesson.stored_name}"
    else:
        assert value == flow.lesson_path(lesson) and os.path.isabs(value)
    assert response.mimetype == "video/mp4"
    # the proxy only ever answers for someone the platform allowed
    stranger = app.test_client()
    log_in(stranger, make_person("学员乙", fast_world.unit).username, R.PROFESSIONAL.value)
    refused = stranger.get(f"/learning/media/lesson/{lesson.id}")
    assert refused.status_code == 404 and header not in refused.headers


def test_may_view_media_is_the_one_rule(fast_world):
    w = fast_world
    item = in_state(full_class(w), ClassState.PUBLISHED, w)
    learner = make_person("学员甲", w.unit)
    as_learner = actor_for(learner, R.PROFESSIONAL, w.unit)
    assert not flow.may_view_media(item, as_learner)
    enrol(item, learner)
    assert flow.may_view_media(item, as_learner)
    assert flow.may_view_media(item, base_actor(w)) and flow.may_view_media(item, city_hr(w))
    assert not flow.may_view_media(item, actor_for(w.other_district_admin, R.HR_ADMIN, w.other_district))
    assert not flow.may_view_media(item, actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit))


def test_a_decision_racing_another_takes_one_transition(fast_world):
    """Two HR admins approve the same class at once: the second finds it no longer pending (conditional UPDATE),
    is told so, and writes no audit row."""
    from sqlalchemy import update
    from sqlalchemy.orm.attributes import set_committed_value

    from app.workflows.base import ConcurrentTransition

    item = in_state(full_class(fast_world), ClassState.PENDING, fast_world)
    db.session.execute(update(OnlineClass).where(OnlineClass.id == item.id).values(state="published")
                       .execution_options(synchronize_session=False))  # the other reviewer's approval, committed
    db.session.commit()
    set_committed_value(item, "state", "pending")  # what the second reviewer's session still holds
    with pytest.raises(ConcurrentTransition):
        flow.approve(city_hr(fast_world), item)
    db.session.expire_all()
    assert item.state == "published"
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "online_class.approve")) == 0


def test_the_lock_is_explained_on_the_page(client, fast_world):
    w = fast_world
    item = in_state(full_class(w), ClassState.PUBLISHED, w)
    enrol(item, make_person("学员甲", w.unit))
    lesson = item.courses[0].sections[0].lessons[0]
    log_in(client, w.base_admin.username, R.BASE_ADMIN.value)
    editor = f"/base/classes/{item.id}"
    html = page(client.get(editor))
    assert zh("Learners have started this class: you may add content, but nothing can be removed or replaced.") in html
    assert "remove-form" not in html  # no remove button is offered
    response = post_form(client, f"{editor}/remove", {"kind": "lesson", "item_id": str(lesson.id)}, editor)
    assert zh("Learners have started this class: its courses, sections, lessons and questions can no longer be "
              "removed or replaced; you may only add content.") in page(response)
    assert db.session.scalar(select(func.count(Lesson.id))) == 1
