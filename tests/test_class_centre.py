"""P12 班级中心, a class's page (preview, 报名 / 立即购买 / 继续学习), 学习中心 and 我的考试, through HTTP as a
professional sees them. Classes are made here in the state each test needs (tests write rows directly)."""
from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (AnnualStandard, AuditLog, ClassCourse, ClassSection, ClassState, Enrolment, HourRecord,
                        Lesson, LessonProgress, OnlineClass, Question, QuizAttempt, SectionProgress, YearSummary)
from app.workflows import annual
from tests.helpers import YEAR, credit_year, log_in, make_person, page, person_of, zh

pytestmark = pytest.mark.usefixtures("fresh_id_sequence")
TODAY = clock.today()
FFMPEG = shutil.which("ffmpeg")
CARD_RE = re.compile(r'data-class-id="(\d+)"')


def make_class(world, title="公需科目：数字经济", *, track="public", specialty=None, year=YEAR, price=0,
               state=ClassState.PUBLISHED, start=None, end=None, hours=10) -> OnlineClass:
    item = OnlineClass(base_id=world.base.id, reviewer_org_id=world.city.id, title=title, track=track,
                       specialty=specialty, year=year, hours=Decimal(hours), price=Decimal(price),
                       enrol_start=start or TODAY - datetime.timedelta(days=30),
                       enrol_end=end or TODAY + datetime.timedelta(days=30), intro="班级简介\n第二段",
                       state=state.value)
    db.session.add(item)
    db.session.commit()
    return item


def add_lessons(item: OnlineClass, durations=(100, 300), stored=None) -> list[Lesson]:
    course = ClassCourse(class_id=item.id, title="课程一", position=1)
    db.session.add(course)
    db.session.flush()
    section = ClassSection(course_id=course.id, title="第一节", position=1, pass_mark=60)
    db.session.add(section)
    db.session.flush()
    lessons = []
    for n, seconds in enumerate(durations):
        lesson = Lesson(section_id=section.id, title=f"视频{n + 1}", position=n, duration=seconds,
                        stored_name=(stored if n == 0 else None) if stored else None,
                        content_type="video/mp4" if stored and n == 0 else None)
        db.session.add(lesson)
        lessons.append(lesson)
    db.session.add(Question(section_id=section.id, kind="single", text="题目", options_json='["对", "错"]',
                            answer_json="[0]"))
    db.session.commit()
    return lessons


@pytest.fixture()
def learner(client, fast_world):
    account = make_person("班级学员", fast_world.unit)
    token = log_in(client, account.username, "Professional")
    return account, token


def card_ids(client, **args) -> list[int]:
    """Every class id the class centre lists for these filters, walking all its pages."""
    ids, number = [], 1
    while True:
        response = client.get("/learning/classes", query_string={**args, "page": number})
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        ids += [int(x) for x in CARD_RE.findall(body)]
        if f"page={number + 1}" not in body:
            return ids
        number += 1


# ------------------------------------------------------------------ 班级中心

def test_only_published_classes_are_listed(client, fast_world, learner):
    shown = make_class(fast_world, "已发布的班级")
    for state in (ClassState.DRAFT, ClassState.PENDING, ClassState.REJECTED, ClassState.CLOSED):
        make_class(fast_world, f"{state.value}班级", state=state)
    body = page(client.get("/learning/classes"))
    assert card_ids(client) == [shown.id]
    assert "已发布的班级" in body and "draft班级" not in body
    # a class not published is not found, by its page, its preview or its enrolment
    hidden = db.session.scalar(select(OnlineClass.id).where(OnlineClass.state == ClassState.DRAFT.value))
    assert client.get(f"/learning/classes/{hidden}").status_code == 404
    assert client.get(f"/learning/preview/{hidden}").status_code == 404
    assert client.post(f"/learning/classes/{hidden}/enrol", data={"csrf_token": learner[1]}).status_code == 404
    assert db.session.scalar(select(func.count(Enrolment.id))) == 0


def test_a_closed_class_stays_open_to_its_learners_only(client, fast_world, learner):
    closed = make_class(fast_world, "已关闭的班级", state=ClassState.CLOSED)
    assert client.get(f"/learning/classes/{closed.id}").status_code == 404
    db.session.add(Enrolment(class_id=closed.id, person_id=person_of(learner[0]).id))
    db.session.commit()
    detail = page(client.get(f"/learning/classes/{closed.id}"))
    assert 'id="continue-btn"' in detail and "已关闭的班级" in detail
    assert card_ids(client) == []  # still not in the class centre
    assert client.get(f"/learning/preview/{closed.id}").status_code == 404


def test_tabs_filters_search_and_paging_match_an_independent_count(client, fast_world, learner):
    specialties = ["卫生专业", "工程技术", "中小学教师"]
    for n in range(70):
        track = "professional" if n % 3 else "public"
        make_class(fast_world, f"{'急救' if n % 4 == 0 else '管理'}培训班{n:02d}", track=track,
                   specialty=specialties[n % 3] if track == "professional" else None, year=YEAR - n % 2,
                   price=0 if n % 5 else 120)
    make_class(fast_world, "草稿急救班", state=ClassState.DRAFT)

    def expected(track, specialty=None, year=None, q=None):
        stmt = select(OnlineClass.id).where(OnlineClass.state == "published", OnlineClass.track == track)
        if specialty:
            stmt = stmt.where(OnlineClass.specialty == specialty)
        if year:
            stmt = stmt.where(OnlineClass.year == year)
        if q:
            stmt = stmt.where(OnlineClass.title.like(f"%{q}%"))
        return list(db.session.scalars(stmt.order_by(OnlineClass.year.desc(), OnlineClass.id.desc())))

    cases = [dict(track="public"), dict(track="professional"), dict(track="professional", specialty="工程技术"),
             dict(track="professional", year=YEAR - 1), dict(track="public", q="急救"),
             dict(track="professional", specialty="卫生专业", year=YEAR, q="管理")]
    for args in cases:
        want = expected(**args)
        assert card_ids(client, **args) == want, args
        first = page(client.get("/learning/classes", query_string=args))
        assert zh("%(n)s classes", n=len(want)) in first
    professional = expected("professional")
    assert len(professional) > 25  # more than one page: the paging was walked
    first = client.get("/learning/classes", query_string={"track": "professional"}).get_data(as_text=True)
    assert len(CARD_RE.findall(first)) == 25
    # a specialty on the 公需 tab, a bad year or page, an unknown track: ignored, never an error
    assert card_ids(client, track="public", specialty="工程技术") == expected("public")
    assert client.get("/learning/classes?track=x&year=abc&page=-3&specialty=%27").status_code == 200
    assert client.get("/learning/classes?page=999").status_code == 200


def test_a_card_shows_base_hours_price_window_and_enrolled_count(client, fast_world, learner):
    free = make_class(fast_world, "免费班", hours=12)
    paid = make_class(fast_world, "收费班", price="88.5")
    others = [make_person(f"学员{n}", fast_world.unit) for n in range(3)]
    for account in others:
        db.session.add(Enrolment(class_id=free.id, person_id=person_of(account).id))
    db.session.commit()
    body = page(client.get("/learning/classes"))
    assert fast_world.base.name in body and zh("Free") in body and "¥88.50" in body
    assert zh("%(n)s enrolled", n=3) in body and zh("%(n)s enrolled", n=0) in body
    assert free.enrol_end.strftime("%Y-%m-%d") in body
    assert paid.id in [int(x) for x in CARD_RE.findall(body)]


# ------------------------------------------------------------------ the class page and 报名

def test_free_class_is_enrolled_once_however_often_the_button_is_pressed(client, fast_world, learner):
    account, token = learner
    item = make_class(fast_world)
    add_lessons(item)
    detail = page(client.get(f"/learning/classes/{item.id}"))
    assert 'id="enrol-btn"' in detail and "课程一" in detail and "第一节" in detail and "1:40" in detail
    assert zh("Section quiz: %(n)s questions, pass mark %(m)s%%", n=1, m=60) in detail
    first = client.post(f"/learning/classes/{item.id}/enrol", data={"csrf_token": token})
    second = client.post(f"/learning/classes/{item.id}/enrol", data={"csrf_token": token})
    enrolments = list(db.session.scalars(select(Enrolment).where(Enrolment.class_id == item.id)))
    assert len(enrolments) == 1 and enrolments[0].person_id == person_of(account).id
    assert first.headers["Location"].endswith(f"/learning/class/{enrolments[0].id}")
    assert second.headers["Location"].endswith(f"/learning/class/{enrolments[0].id}")
    assert client.get(first.headers["Location"]).status_code == 200  # the learner's outline of the class
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "enrolment.enrol",
                                                                   AuditLog.object_id == enrolments[0].id)) == 1
    # enrolled: the page offers 继续学习, no preview, no enrol button
    detail = page(client.get(f"/learning/classes/{item.id}"))
    assert 'id="continue-btn"' in detail and 'id="enrol-btn"' not in detail and "preview-video" not in detail


def test_a_second_click_racing_the_first_gets_the_same_enrolment(client, fast_world, learner, monkeypatch):
    from app.workflows import learning

    item = make_class(fast_world)
    first = client.post(f"/learning/classes/{item.id}/enrol", data={"csrf_token": learner[1]})
    real, calls = learning.enrolment_of, []

    def stale(person_id, class_id):  # the second request looked before the first one committed
        calls.append(class_id)
        return None if len(calls) == 1 else real(person_id, class_id)

    monkeypatch.setattr(learning, "enrolment_of", stale)
    second = client.post(f"/learning/classes/{item.id}/enrol", data={"csrf_token": learner[1]})
    assert len(calls) == 2  # the insert met the unique index and the enrolment was read again
    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]
    assert db.session.scalar(select(func.count(Enrolment.id))) == 1
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "enrolment.enrol")) == 1


def test_a_paid_class_cannot_be_enrolled_by_the_free_route(client, fast_world, learner):
    item = make_class(fast_world, "收费班", price=100)
    detail = page(client.get(f"/learning/classes/{item.id}"))
    assert 'id="buy-btn"' in detail and f'action="/learning/order/{item.id}"' in detail
    assert 'id="enrol-btn"' not in detail
    response = client.post(f"/learning/classes/{item.id}/enrol", data={"csrf_token": learner[1]},
                           follow_redirects=True)
    assert zh("This class must be paid for before you can study it.") in page(response)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 0


@pytest.mark.parametrize("start,end,message", [
    (1, 30, "Enrolment for this class has not started yet."),
    (-30, -1, "Enrolment for this class has closed."),
])
def test_the_enrolment_window_is_respected(client, fast_world, learner, start, end, message):
    item = make_class(fast_world, start=TODAY + datetime.timedelta(days=start),
                      end=TODAY + datetime.timedelta(days=end))
    detail = page(client.get(f"/learning/classes/{item.id}"))
    assert zh(message) in detail and 'id="enrol-btn"' not in detail
    response = client.post(f"/learning/classes/{item.id}/enrol", data={"csrf_token": learner[1]},
                           follow_redirects=True)
    assert zh(message) in page(response)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 0


def test_the_last_day_of_the_window_still_enrols(client, fast_world, learner):
    item = make_class(fast_world, start=TODAY, end=TODAY)
    client.post(f"/learning/classes/{item.id}/enrol", data={"csrf_token": learner[1]})
    assert db.session.scalar(select(func.count(Enrolment.id))) == 1


# ------------------------------------------------------------------ the preview

def _video(path: str, seconds: int) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=duration={seconds}:size=160x90:rate=10", "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", "-shortest", "-c:v", "libx264", "-g", "10",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", path], check=True)


def _duration(data: bytes) -> float:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", f.name],
                             capture_output=True, check=True).stdout
    return float(json.loads(out)["format"]["duration"])


@pytest.fixture()
def media(app, monkeypatch):
    folder = tempfile.mkdtemp(prefix="jxjy-learning-")
    os.makedirs(os.path.join(folder, "videos"))
    monkeypatch.setitem(app.config, "LEARNING_FOLDER", folder)
    monkeypatch.setitem(app.config, "PREVIEW_SECONDS", 2)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
def test_the_preview_serves_the_first_lesson_cut_at_the_preview_length(client, fast_world, learner, media):
    _video(os.path.join(media, "videos", "lesson1.mp4"), 6)
    item = make_class(fast_world)
    add_lessons(item, durations=(6, 6), stored="lesson1.mp4")
    detail = page(client.get(f"/learning/classes/{item.id}"))
    assert f'src="/learning/preview/{item.id}"' in detail and 'data-limit="2"' in detail
    whole = client.get(f"/learning/preview/{item.id}")
    assert whole.status_code == 200 and whole.mimetype == "video/mp4"
    assert _duration(whole.data) <= 2.5 < 6  # the server sent the cut, not the lesson
    assert len(whole.data) < os.path.getsize(os.path.join(media, "videos", "lesson1.mp4"))
    part = client.get(f"/learning/preview/{item.id}", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.data) == 100 and part.data == whole.data[:100]
    # the cut is made once and kept
    assert os.listdir(os.path.join(media, "previews")) == ["lesson1-2s.mp4"]


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
def test_a_lesson_shorter_than_the_preview_is_served_as_it_is(client, fast_world, learner, media, app,
                                                              monkeypatch):
    _video(os.path.join(media, "videos", "short.mp4"), 2)
    monkeypatch.setitem(app.config, "PREVIEW_SECONDS", 5)
    item = make_class(fast_world)
    add_lessons(item, durations=(2,), stored="short.mp4")
    response = client.get(f"/learning/preview/{item.id}")
    assert response.data == open(os.path.join(media, "videos", "short.mp4"), "rb").read()


def test_without_ffmpeg_a_long_lesson_has_no_preview(client, fast_world, learner, media, monkeypatch):
    with open(os.path.join(media, "videos", "long.mp4"), "wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 1000)
    monkeypatch.setattr("app.workflows.class_centre.shutil.which", lambda name: None)
    item = make_class(fast_world)
    add_lessons(item, durations=(600,), stored="long.mp4")
    assert client.get(f"/learning/preview/{item.id}").status_code == 404
    # a class without any video has no preview either
    bare = make_class(fast_world, "无视频班")
    assert client.get(f"/learning/preview/{bare.id}").status_code == 404


def test_a_published_class_cover_is_shown_to_every_professional(client, fast_world, learner, media):
    from tests.factories import PNG

    os.makedirs(os.path.join(media, "covers"))
    with open(os.path.join(media, "covers", "c1.png"), "wb") as f:
        f.write(PNG)
    shown = make_class(fast_world, price=50)
    draft = make_class(fast_world, "草稿班级", state=ClassState.DRAFT)
    for item in (shown, draft):
        item.cover_name = "c1.png"
    db.session.commit()
    assert f'src="/learning/classes/{shown.id}/cover"' in page(client.get("/learning/classes"))
    response = client.get(f"/learning/classes/{shown.id}/cover")
    assert response.status_code == 200 and response.mimetype == "image/png" and response.data == PNG
    assert client.get(f"/learning/classes/{draft.id}/cover").status_code == 404
    bare = make_class(fast_world, "无封面班级")
    assert client.get(f"/learning/classes/{bare.id}/cover").status_code == 404


# ------------------------------------------------------------------ 学习中心 and 我的考试

def test_learning_centre_figures_match_the_data(client, fast_world, learner):
    account, _token = learner
    person = person_of(account)
    credit_year(account, 12, 30)
    free = make_class(fast_world, "进行中的班级")
    lessons = add_lessons(free, durations=(100, 300))
    other = make_class(fast_world, "刚报名的班级")
    add_lessons(other, durations=(50,))
    studying = Enrolment(class_id=free.id, person_id=person.id,
                         last_studied_at=datetime.datetime.now() - datetime.timedelta(hours=1))
    fresh = Enrolment(class_id=other.id, person_id=person.id)
    db.session.add_all([studying, fresh])
    db.session.flush()
    db.session.add_all([LessonProgress(enrolment_id=studying.id, lesson_id=lessons[0].id, watched=140),  # capped
                        LessonProgress(enrolment_id=studying.id, lesson_id=lessons[1].id, watched=50)])
    db.session.commit()

    body = page(client.get("/learning/centre"))
    summary = db.session.get(YearSummary, (person.id, YEAR))
    sums = dict(db.session.execute(select(HourRecord.subject, func.sum(HourRecord.hours)).where(
        HourRecord.person_id == person.id, HourRecord.year == YEAR).group_by(HourRecord.subject)).all())
    assert summary.public_hours == sums["public"] == 12 and summary.professional_hours == sums["professional"] == 30
    standard = annual.year_result(person, YEAR).standard
    assert standard is not None and isinstance(standard, AnnualStandard)

    def figure(fid):
        block = re.search(rf'id="{fid}".*?</div>', body, re.S).group(0)
        earned = re.search(r'class="cc-earned">([^<]*)<', block).group(1)
        target = re.search(r'class="cc-target">([^<]*)<', block)
        return Decimal(earned), Decimal(target.group(1)) if target else None

    assert figure("fig-public") == (Decimal(12), Decimal(standard.public_min))
    assert figure("fig-professional") == (Decimal(30), Decimal(standard.professional_min))
    assert figure("fig-total") == (Decimal(42), Decimal(standard.total_min))
    in_progress = re.search(r'id="in-progress".*?</table>', body, re.S).group(0)
    rows = re.findall(r'data-enrolment-id="(\d+)".*?class="cc-percent">(\d+)%', in_progress, re.S)
    # (100 + 50) of 400 seconds, the recently studied one first; the other not started
    assert rows == [(str(studying.id), "37"), (str(fresh.id), "0")]
    recent = re.search(r'id="recent".*?</table>', body, re.S).group(0)
    assert re.findall(r'data-enrolment-id="(\d+)"', recent) == [str(studying.id)]
    assert f'href="/learning/class/{studying.id}"' in body


def _attempt(account, item, score, passed, number=1):
    enrolment = Enrolment(class_id=item.id, person_id=person_of(account).id)
    db.session.add(enrolment)
    db.session.flush()
    section = db.session.scalar(select(ClassSection).join(ClassCourse).where(ClassCourse.class_id == item.id))
    progress = SectionProgress(enrolment_id=enrolment.id, section_id=section.id, attempts=number)
    db.session.add(progress)
    db.session.flush()
    attempt = QuizAttempt(progress_id=progress.id, round=1, number=number, answers_json="{}", score=score,
                          passed=passed)
    db.session.add(attempt)
    db.session.commit()
    return attempt


def test_my_exams_lists_only_my_own_attempts(client, fast_world, learner):
    account, _token = learner
    item = make_class(fast_world, "考试班级")
    add_lessons(item)
    mine = _attempt(account, item, 80, True)
    theirs = _attempt(make_person("别人", fast_world.unit), item, 20, False)
    body = page(client.get("/learning/exams"))
    ids = re.findall(r'data-attempt-id="(\d+)"', body)
    assert ids == [str(mine.id)] and str(theirs.id) not in ids
    assert "考试班级" in body and "第一节" in body and zh("Passed") in body
    assert ">80<" in body.replace(" ", "")
