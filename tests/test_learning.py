"""Online learning (issue 11, state machine 7): heartbeats judged by the server, pop-up questions, section quizzes,
completion and the hours it credits. Classes are built with the ORM; the clock is frozen and advanced (no sleep)."""
from __future__ import annotations

import datetime
import json
import re
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.models import (Enrolment, HourRecord, LearningForm, Lesson, LessonProgress, QuizAttempt, RoleName,
                        SectionProgress, YearSummary)
from app.workflows import annual, certificates
from app.workflows import learning as flow
from app.workflows.base import DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.learning_data import make_class
from tests.helpers import YEAR, csrf_from, log_in, make_person, needs_postgres, page, person_of, zh

R = RoleName
T0 = datetime.datetime(YEAR, 3, 2, 9, 0, 0)


class FrozenClock:
    """clock.now() under the test's control."""

    def __init__(self):
        self.t = T0

    def __call__(self) -> datetime.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += datetime.timedelta(seconds=seconds)


@pytest.fixture()
def tick(monkeypatch):
    frozen = FrozenClock()
    monkeypatch.setattr(clock, "now", frozen)
    return frozen


@pytest.fixture()
def setup(world, tick):
    learner = make_person("网络学员", world.unit)
    other = make_person("另一学员", world.unit)
    data = make_class(world)
    actor = factories.actor_for(learner, R.PROFESSIONAL, world.unit)
    other_actor = factories.actor_for(other, R.PROFESSIONAL, world.unit)
    enrolment = flow.enrol(data["class"], person_of(learner), actor)
    other_enrolment = flow.enrol(data["class"], person_of(other), other_actor)
    db.session.commit()
    return {**data, "world": world, "learner": learner, "other": other, "actor": actor, "other_actor": other_actor,
            "e": enrolment, "oe": other_enrolment, "tick": tick}


def progress(enrolment, lesson) -> LessonProgress | None:
    db.session.expire_all()
    return db.session.get(LessonProgress, (enrolment.id, lesson.id))


def watched(enrolment, lesson) -> float:
    row = progress(enrolment, lesson)
    return row.watched if row else 0.0


def section_row(enrolment, section) -> SectionProgress | None:
    db.session.expire_all()
    return db.session.scalar(select(SectionProgress).where(SectionProgress.enrolment_id == enrolment.id,
                                                           SectionProgress.section_id == section.id))


def play(s, lesson, seconds=None, step=5.0, enrolment=None, actor=None):
    """An honest player: a first beat at the current point, then one every `step` seconds of wall time."""
    enrolment, actor = enrolment or s["e"], actor or s["actor"]
    position = watched(enrolment, lesson)
    end = lesson.duration if seconds is None else min(lesson.duration, position + seconds)
    beat = flow.heartbeat(enrolment, lesson, position, actor)
    while position < end:
        s["tick"].advance(step)
        position = min(end, position + step)
        beat = flow.heartbeat(enrolment, lesson, position, actor)
    return beat


def finish_lesson(s, lesson, enrolment=None, actor=None):
    enrolment, actor = enrolment or s["e"], actor or s["actor"]
    play(s, lesson, enrolment=enrolment, actor=actor)
    for q in lesson.popups:
        flow.answer_popup(enrolment, q, json.loads(q.answer_json), actor)
    play(s, lesson, enrolment=enrolment, actor=actor)
    assert progress(enrolment, lesson).completed_at is not None


def finish_section_a(s, enrolment=None, actor=None):
    finish_lesson(s, s["a1"], enrolment, actor)
    finish_lesson(s, s["a2"], enrolment, actor)


def rows() -> int:
    return db.session.scalar(select(func.count()).select_from(LessonProgress))


# ---------------------------------------------------------------- heartbeats: the server is the judge

def test_the_first_beat_only_starts_the_clock(setup):
    s = setup
    beat = flow.heartbeat(s["e"], s["a1"], 0, s["actor"])
    assert beat.watched == 0 and beat.accepted
    row = progress(s["e"], s["a1"])
    assert row.watched == 0 and row.beat_at == T0
    s["tick"].advance(5)
    assert flow.heartbeat(s["e"], s["a1"], 5, s["actor"]).watched == pytest.approx(5)


def test_a_beat_claiming_more_than_the_time_elapsed_is_cut_to_it_and_snapped_back(setup):
    s = setup
    flow.heartbeat(s["e"], s["a2"], 0, s["actor"])
    s["tick"].advance(3)
    beat = flow.heartbeat(s["e"], s["a2"], 9, s["actor"])  # 9 s of video after 3 s of wall time
    assert beat.watched == pytest.approx(3 + flow.TOLERANCE)
    assert not beat.accepted and beat.snap_to == pytest.approx(beat.watched)
    assert beat.message == str(flow.SNAPPED)
    assert watched(s["e"], s["a2"]) == pytest.approx(5)


def test_coming_back_after_a_pause_starts_a_new_sitting_and_credits_nothing_for_the_time_away(setup):
    """A learner who closed the player and comes back later cannot claim the time away as video watched: the
    first beat after a pause longer than MAX_GAP only starts the clock again."""
    s = setup
    lesson = s["a2"]
    flow.heartbeat(s["e"], lesson, 0, s["actor"])
    s["tick"].advance(2)
    flow.heartbeat(s["e"], lesson, 2, s["actor"])
    s["tick"].advance(flow.MAX_GAP + 1)
    beat = flow.heartbeat(s["e"], lesson, 9, s["actor"])  # back after more than a minute, claiming 7 s more
    assert beat.watched == pytest.approx(2) and not beat.accepted and beat.snap_to == pytest.approx(2)
    s["tick"].advance(3)
    beat = flow.heartbeat(s["e"], lesson, 5, s["actor"])  # then 3 s of real playing count
    assert beat.watched == pytest.approx(5) and beat.accepted


def test_rapid_beats_cannot_add_up_their_tolerance(setup):
    """A forged client beating every 0.1 s, each claiming one more second: the tolerance is borrowed, not kept."""
    s = setup
    flow.heartbeat(s["e"], s["a2"], 0, s["actor"])
    position = 0.0
    for _ in range(60):  # 6 s of wall time
        s["tick"].advance(0.1)
        position += 1
        flow.heartbeat(s["e"], s["a2"], min(position, 10), s["actor"])
    assert watched(s["e"], s["a2"]) <= 6 + flow.TOLERANCE + 1e-6


def test_a_faster_playback_rate_gains_nothing(setup):
    s = setup
    lesson = s["a2"]
    flow.heartbeat(s["e"], lesson, 0, s["actor"])
    elapsed, position = 0.0, 0.0
    for _ in range(4):  # 2x speed: 10 s of video per 5 s of wall time, snapping back as told
        s["tick"].advance(5)
        elapsed += 5
        beat = flow.heartbeat(s["e"], lesson, min(position + 10, 10), s["actor"])
        position = beat.snap_to if beat.snap_to is not None else min(position + 10, 10)
        assert beat.watched <= elapsed + flow.TOLERANCE + 1e-6
    assert watched(s["e"], lesson) <= elapsed + flow.TOLERANCE


def test_out_of_order_beats_gain_nothing(setup):
    s = setup
    lesson = s["a2"]
    flow.heartbeat(s["e"], lesson, 0, s["actor"])
    s["tick"].advance(5)
    flow.heartbeat(s["e"], lesson, 5, s["actor"])
    s["tick"].advance(0.2)
    late = flow.heartbeat(s["e"], lesson, 2, s["actor"])  # the beat sent before arrives after
    assert late.watched == pytest.approx(5) and late.accepted
    s["tick"].advance(5)
    assert flow.heartbeat(s["e"], lesson, 10, s["actor"]).watched <= 5 + 5.2 + flow.TOLERANCE


@pytest.mark.parametrize("position", ["abc", None, -1, float("nan"), float("inf"), 10 ** 9])
def test_a_forged_position_is_refused_and_records_nothing(setup, position):
    s = setup
    flow.heartbeat(s["e"], s["a2"], 0, s["actor"])
    before = progress(s["e"], s["a2"]).beat_at
    s["tick"].advance(5)
    with pytest.raises(DomainError) as err:
        flow.heartbeat(s["e"], s["a2"], position, s["actor"])
    assert err.value.message == flow.BAD_POSITION
    row = progress(s["e"], s["a2"])
    assert row.watched == 0 and row.beat_at == before


def test_a_lesson_of_a_locked_section_records_nothing(setup):
    s = setup
    with pytest.raises(DomainError) as err:
        flow.heartbeat(s["e"], s["b1"], 0, s["actor"])
    assert err.value.message == flow.LOCKED
    with pytest.raises(DomainError):
        flow.heartbeat(s["e"], s["c1"], 0, s["actor"])  # the next course's section too
    assert rows() == 0


def test_a_lesson_of_a_class_not_enrolled_records_nothing(setup):
    s = setup
    other_class = make_class(s["world"], "另一个班级")
    with pytest.raises(DomainError) as err:
        flow.heartbeat(s["e"], other_class["a1"], 0, s["actor"])
    assert err.value.message == flow.NOT_THIS_CLASS
    assert rows() == 0


def test_another_persons_enrolment_is_refused(setup):
    s = setup
    flow.heartbeat(s["oe"], s["a2"], 0, s["other_actor"])
    s["tick"].advance(5)
    with pytest.raises(PermissionDenied):
        flow.heartbeat(s["oe"], s["a2"], 5, s["actor"])
    with pytest.raises(PermissionDenied):
        flow.answer_popup(s["oe"], s["popup"], [0], s["actor"])
    with pytest.raises(PermissionDenied):
        flow.start_quiz(s["oe"], s["a"], s["actor"])
    assert watched(s["oe"], s["a2"]) == 0


def test_two_tabs_on_one_lesson_share_the_elapsed_time(setup):
    s = setup
    lesson = s["a2"]
    flow.heartbeat(s["e"], lesson, 0, s["actor"])
    tab1 = tab2 = 0.0
    for _ in range(4):  # every 2.5 s one of the tabs beats, each claiming 5 s more than it had
        s["tick"].advance(2.5)
        tab1 = min(10, tab1 + 5)
        flow.heartbeat(s["e"], lesson, tab1, s["actor"])
        s["tick"].advance(0.01)
        tab2 = min(10, tab2 + 5)
        flow.heartbeat(s["e"], lesson, tab2, s["actor"])
    assert watched(s["e"], lesson) <= 10.04 + flow.TOLERANCE


def test_two_tabs_on_two_lessons_share_one_clock(setup):
    """Kolibri #2840: two lessons played side by side cannot both be credited for the same seconds."""
    s = setup
    flow.heartbeat(s["e"], s["a1"], 0, s["actor"])
    flow.heartbeat(s["e"], s["a2"], 0, s["actor"])
    for n in range(1, 3):  # 10 s of wall time
        s["tick"].advance(5)
        flow.heartbeat(s["e"], s["a1"], 5 * n, s["actor"])
        flow.heartbeat(s["e"], s["a2"], 5 * n, s["actor"])
    assert watched(s["e"], s["a1"]) + watched(s["e"], s["a2"]) <= 10 + flow.TOLERANCE + 1e-6


def test_the_progress_table_grows_one_row_per_learner_per_lesson(setup):
    s = setup
    play(s, s["a2"])
    play(s, s["a2"], enrolment=s["oe"], actor=s["other_actor"])
    assert rows() == 2


# ---------------------------------------------------------------- pop-up questions and lesson completion

def test_the_video_cannot_pass_an_unanswered_popup(setup):
    s = setup
    lesson, popup = s["a1"], s["popup"]
    with pytest.raises(DomainError):  # not reached yet
        flow.answer_popup(s["e"], popup, [0], s["actor"])
    beat = play(s, lesson)  # played to the end, but held at the pop-up's second
    assert watched(s["e"], lesson) == pytest.approx(10)
    assert not beat.completed and progress(s["e"], lesson).completed_at is None
    wrong = flow.answer_popup(s["e"], popup, [1], s["actor"])
    assert not wrong.correct and progress(s["e"], lesson).answered_json == "[]"
    assert flow.answer_popup(s["e"], popup, [0], s["actor"]).correct
    assert json.loads(progress(s["e"], lesson).answered_json) == [popup.id]
    s["tick"].advance(5)
    flow.heartbeat(s["e"], lesson, 15, s["actor"])
    assert watched(s["e"], lesson) == pytest.approx(15)


def test_reloading_or_beating_at_the_end_does_not_complete_a_lesson(setup):
    """Moodle videotime #119: many beats near the end (or a reload) must not mark the lesson complete."""
    s = setup
    lesson = s["a2"]
    play(s, lesson, seconds=5)
    for _ in range(30):  # the bar clicked at the end again and again, the page reloaded
        flow.heartbeat(s["e"], lesson, 10, s["actor"])
    assert progress(s["e"], lesson).completed_at is None
    assert watched(s["e"], lesson) <= 5 + flow.TOLERANCE
    s["tick"].advance(5)
    assert flow.heartbeat(s["e"], lesson, 10, s["actor"]).completed


def test_a_class_cannot_be_completed_faster_than_its_videos_last(setup):
    """Kolibri #2840: a client doing everything it can (every lesson at once, positions at the end, beats every
    0.5 s) still needs the total duration of the videos in wall-clock time."""
    s = setup
    start = clock.now()
    lessons = [s["a1"], s["a2"]]
    for lesson in lessons:
        flow.heartbeat(s["e"], lesson, 0, s["actor"])
    while any(progress(s["e"], lesson).completed_at is None for lesson in lessons):
        s["tick"].advance(0.5)
        for lesson in lessons:
            if progress(s["e"], lesson).watched >= 10 and lesson is s["a1"]:
                flow.answer_popup(s["e"], s["popup"], [0], s["actor"])
            flow.heartbeat(s["e"], lesson, lesson.duration, s["actor"])
    spent = (clock.now() - start).total_seconds()
    assert spent >= 30 - flow.COMPLETE_SLACK * 2 - flow.TOLERANCE


def test_a_completed_lesson_replays_freely_and_writes_nothing(setup):
    s = setup
    finish_lesson(s, s["a2"])
    before = progress(s["e"], s["a2"])
    stamp = (before.watched, before.beat_at, before.completed_at)
    flow.heartbeat(s["e"], s["a2"], 3, s["actor"])
    after = progress(s["e"], s["a2"])
    assert (after.watched, after.beat_at, after.completed_at) == stamp


# ---------------------------------------------------------------- state machine 7: the grid

STATES = [s.value for s in flow.SectionState]
ACTIONS = sorted({t.action for t in flow.section_machine.transitions})
DECLARED = {(t.source.value, t.action): t.target.value for t in flow.section_machine.transitions}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_section_machine_grid(setup, state, action):
    s = setup
    row = SectionProgress(enrolment_id=s["e"].id, section_id=s["a"].id, state=state)
    db.session.add(row)
    db.session.commit()
    transition = next((t for t in flow.section_machine.transitions if t.action == action), None)
    follows = flow.FOLLOWS in transition.allowed
    if (state, action) in DECLARED:
        flow.section_machine.enter(row, action, s["actor"], follows=follows)
        db.session.commit()
        assert section_row(s["e"], s["a"]).state == DECLARED[(state, action)]
    else:
        with pytest.raises(TransitionNotAllowed):
            flow.section_machine.enter(row, action, s["actor"], follows=follows)
        db.session.rollback()
        assert section_row(s["e"], s["a"]).state == state


def test_the_learners_quiz_steps_are_refused_to_someone_else(setup):
    s = setup
    row = SectionProgress(enrolment_id=s["e"].id, section_id=s["a"].id, state="quiz")
    db.session.add(row)
    db.session.commit()
    for action in ("pass", "fail_first", "fail_second"):
        with pytest.raises(PermissionDenied):
            flow.section_machine.enter(row, action, s["other_actor"])
    with pytest.raises(PermissionDenied):  # the automatic steps are no one's action of their own
        flow.section_machine.check(SectionProgress(state="studying"), "lessons_done", s["actor"])


@pytest.mark.parametrize("state", ["studying", "completed"])
def test_enrolment_machine_grid(setup, state):
    """studying → complete → completed, taken only as a step of the learning (FOLLOWS); nothing leaves completed."""
    s = setup
    e = s["e"]
    if state == "completed":
        flow.enrolment_machine.enter(e, "complete", s["actor"], follows=True)
        db.session.commit()
        with pytest.raises(TransitionNotAllowed):
            flow.enrolment_machine.enter(e, "complete", s["actor"], follows=True)
        db.session.rollback()
    else:
        flow.enrolment_machine.enter(e, "complete", s["actor"], follows=True)
        db.session.commit()
    db.session.expire_all()
    assert db.session.get(Enrolment, e.id).state == "completed"


def test_enrolment_completion_is_only_a_step_of_the_learning(setup):
    s = setup
    with pytest.raises(PermissionDenied):
        flow.enrolment_machine.enter(s["e"], "complete", s["actor"])
    assert s["e"].state == "studying"


# ---------------------------------------------------------------- quizzes

def right(s) -> dict:
    return {s["q1"].id: [2], s["q2"].id: [0, 1]}


def test_the_quiz_opens_only_when_the_lessons_are_complete(setup):
    s = setup
    with pytest.raises(DomainError) as err:
        flow.start_quiz(s["e"], s["a"], s["actor"])
    assert str(err.value.message) == zh("The quiz of this section opens when all its lessons are complete.")
    finish_lesson(s, s["a1"])
    with pytest.raises(DomainError):
        flow.start_quiz(s["e"], s["a"], s["actor"])
    finish_lesson(s, s["a2"])
    assert section_row(s["e"], s["a"]).state == "quiz"
    sheet = flow.start_quiz(s["e"], s["a"], s["actor"])
    assert [q["id"] for q in sheet.questions] == [s["q1"].id, s["q2"].id]
    assert all("answer" not in q and "answer_json" not in q for q in sheet.questions)
    assert sheet.attempts_left == 2


def test_two_failures_mean_re_study_and_two_new_attempts(setup):
    s = setup
    finish_section_a(s)
    first = flow.submit_quiz(s["e"], s["a"], {s["q1"].id: [2], s["q2"].id: [0]}, s["actor"])  # 1 of 2: 50 < 60
    assert (first.score, first.passed, first.state, first.attempts_left) == (50, False, "quiz", 1)
    second = flow.submit_quiz(s["e"], s["a"], {}, s["actor"])
    assert (second.passed, second.state) == (False, "restudy")
    row = section_row(s["e"], s["a"])
    assert (row.state, row.attempts, row.round) == ("restudy", 0, 2)
    for lesson in (s["a1"], s["a2"]):  # the section's lessons are to be watched again
        p = progress(s["e"], lesson)
        assert (p.watched, p.completed_at, p.answered_json) == (0, None, "[]")
    with pytest.raises(DomainError):  # a third attempt in the round is refused
        flow.submit_quiz(s["e"], s["a"], right(s), s["actor"])
    assert db.session.scalar(select(func.count(QuizAttempt.id))) == 2
    finish_section_a(s)
    assert section_row(s["e"], s["a"]).state == "quiz"
    result = flow.submit_quiz(s["e"], s["a"], right(s), s["actor"])
    assert result.passed and result.state == "passed"
    attempts = db.session.execute(select(QuizAttempt.round, QuizAttempt.number, QuizAttempt.passed)
                                  .order_by(QuizAttempt.id)).all()
    assert [tuple(a) for a in attempts] == [(1, 1, False), (1, 2, False), (2, 1, True)]


def test_a_multiple_choice_counts_only_with_exactly_the_right_set(setup):
    s = setup
    finish_section_a(s)
    result = flow.submit_quiz(s["e"], s["a"], {s["q1"].id: [2], s["q2"].id: [0, 1, 2]}, s["actor"])
    assert result.score == 50 and not result.passed
    assert result.questions[1]["answer"] == [0, 1]  # shown after the attempt


def test_a_third_attempt_is_refused_by_the_unique_index_too(setup):
    s = setup
    finish_section_a(s)
    flow.submit_quiz(s["e"], s["a"], {}, s["actor"])
    row = section_row(s["e"], s["a"])
    db.session.add(QuizAttempt(progress_id=row.id, round=1, number=1, answers_json="{}", score=0, passed=False))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_passing_unlocks_the_next_section(setup):
    s = setup
    finish_section_a(s)
    with pytest.raises(DomainError):
        flow.heartbeat(s["e"], s["b1"], 0, s["actor"])
    flow.submit_quiz(s["e"], s["a"], right(s), s["actor"])
    flow.heartbeat(s["e"], s["b1"], 0, s["actor"])
    assert progress(s["e"], s["b1"]) is not None
    with pytest.raises(DomainError):  # course 2 waits for section B
        flow.heartbeat(s["e"], s["c1"], 0, s["actor"])
    finish_lesson(s, s["b1"])  # no quiz: passes with its lessons
    assert section_row(s["e"], s["b"]).state == "passed"
    flow.heartbeat(s["e"], s["c1"], 0, s["actor"])


# ---------------------------------------------------------------- completion and hours

def complete_class(s, enrolment=None, actor=None):
    enrolment, actor = enrolment or s["e"], actor or s["actor"]
    finish_section_a(s, enrolment, actor)
    flow.submit_quiz(enrolment, s["a"], right(s), actor)
    finish_lesson(s, s["b1"], enrolment, actor)
    finish_lesson(s, s["c1"], enrolment, actor)
    return flow.submit_quiz(enrolment, s["c"], {s["q3"].id: [0]}, actor)


def test_completion_credits_the_class_hours_once_as_online_learning(setup):
    s = setup
    result = complete_class(s)
    assert result.class_completed
    db.session.expire_all()
    e = db.session.get(Enrolment, s["e"].id)
    assert e.state == "completed" and e.completed_at is not None
    record = db.session.get(HourRecord, e.credited_record_id)
    form = db.session.scalar(select(LearningForm).where(LearningForm.code == "online"))
    assert (record.year, record.subject, record.hours, record.form_id, record.source, record.source_id,
            record.title, record.provider) == (YEAR, "public", Decimal("12"), form.id, "online", e.id, "公需网络课程",
                                               s["world"].base.name)
    assert form.group == "online"
    assert flow.complete_if_done(e, s["actor"]) is False
    assert db.session.scalar(select(func.count(HourRecord.id))) == 1
    summary = db.session.get(YearSummary, (e.person_id, YEAR))
    assert summary.public_hours == Decimal("12")
    # a completed class: beats are a no-op
    beat = flow.heartbeat(e, s["a2"], 3, s["actor"])
    assert beat.class_completed


def test_a_class_of_last_year_finished_now_counts_for_last_year(world, tick):
    learner = make_person("跨年学员", world.unit)
    s = make_class(world, "上一年度的专业课", year=YEAR - 1, track="professional", hours=Decimal("20"))
    actor = factories.actor_for(learner, R.PROFESSIONAL, world.unit)
    enrolment = flow.enrol(s["class"], person_of(learner), actor)
    db.session.commit()
    s.update({"e": enrolment, "actor": actor, "tick": tick})
    complete_class(s)
    record = db.session.scalar(select(HourRecord).where(HourRecord.source == "online"))
    assert (record.year, record.subject, record.hours) == (YEAR - 1, "professional", Decimal("20"))


def test_the_annual_pages_and_the_register_count_the_class(setup, client):
    s = setup
    complete_class(s)
    person = person_of(s["learner"])
    assert annual.year_result(person, YEAR).public == Decimal("12")
    rows_ = certificates.register_rows(annual.records(person, YEAR))
    assert [(r.group, r.form, r.hours) for r in rows_] == [("培训类", "网络学习", Decimal("12.0"))]
    log_in(client, s["learner"].username, R.PROFESSIONAL.value)
    html = page(client.get("/hours/annual"))
    assert "12" in html
    detail = page(client.get(f"/hours/annual/{YEAR}"))
    assert "公需网络课程" in detail and "网络学习" in detail


def race(app, *calls) -> list:
    """Run each call(session) in a thread of its own, with its own connection, all released at once; the outcomes
    (a call's result, or the refusal's message) in the order the calls are given."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index, call):
        with app.app_context():
            from app.extensions import db as tdb

            prepared = call(tdb.session)  # reads what the call needs before the race
            tdb.session.commit()
            barrier.wait(timeout=30)
            try:
                outcomes[index] = prepared()
            except DomainError as exc:
                outcomes[index] = str(exc.message)
            except Exception as exc:  # noqa: BLE001 - reported by the test's assertion
                outcomes[index] = repr(exc)
            finally:
                tdb.session.remove()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_two_racing_completions_credit_once(app, setup, db):
    """T4 on PostgreSQL: two connections complete the same enrolment at the same instant."""
    needs_postgres(db)
    s = setup
    finish_section_a(s)
    flow.submit_quiz(s["e"], s["a"], right(s), s["actor"])
    finish_lesson(s, s["b1"])
    finish_lesson(s, s["c1"])
    # every section passed but the last quiz: pass it without the completion that follows, then race
    row = section_row(s["e"], s["c"])
    flow.section_machine.enter(row, "pass", s["actor"])
    db.session.commit()
    enrolment_id, actor = s["e"].id, s["actor"]

    def complete(session):
        item = session.get(Enrolment, enrolment_id)
        item.person  # noqa: B018 - loaded before the race
        return lambda: flow.complete_if_done(item, actor)

    outcomes = race(app, complete, complete)
    assert sorted(outcomes, key=str) == [False, True], outcomes
    db.session.expire_all()
    assert db.session.scalar(select(func.count(HourRecord.id))) == 1
    assert db.session.get(YearSummary, (s["e"].person_id, YEAR)).public_hours == Decimal("12")


# ---------------------------------------------------------------- the pages

def _client(client, s):
    log_in(client, s["learner"].username, R.PROFESSIONAL.value)
    html = page(client.get(f"/learning/class/{s['e'].id}"))
    return csrf_from(html) if 'name="csrf_token"' in html else None, html


def test_my_class_page_shows_the_outline_and_continue(setup, client):
    s = setup
    _, html = _client(client, s)
    assert "第一课程" in html and "课时A1" in html and 'id="continue-btn"' in html
    assert f"/learning/study/{s['e'].id}/{s['a1'].id}" in html
    assert client.get(f"/learning/class/{s['oe'].id}").status_code == 404  # another person's enrolment
    assert client.get("/learning/class/99999999999").status_code == 404


def test_the_player_sends_no_answer_and_refuses_a_locked_lesson(setup, client):
    s = setup
    _client(client, s)
    response = client.get(f"/learning/study/{s['e'].id}/{s['a1'].id}")
    html = page(response)
    block = html.split('id="popups-data"')[1].split(">", 1)[1].split("</script>")[0]
    popups = json.loads(block)["popups"]
    assert response.status_code == 200 and [p["text"] for p in popups] == ["弹题：继续教育的主管部门是？"]
    assert all(set(p) == {"id", "kind", "text", "options", "points", "at"} for p in popups)  # no answer
    assert "/learning/media/lesson/" in html and "player.js" in html
    locked = client.get(f"/learning/study/{s['e'].id}/{s['b1'].id}")
    assert locked.status_code == 302 and f"/learning/class/{s['e'].id}" in locked.headers["Location"]
    assert client.get(f"/learning/study/{s['oe'].id}/{s['a1'].id}").status_code == 404


def test_beats_and_popups_by_json_with_the_csrf_header(setup, client):
    s = setup
    _client(client, s)
    html = page(client.get(f"/learning/study/{s['e'].id}/{s['a2'].id}"))
    token = html.split('data-csrf="')[1].split('"')[0]
    headers = {"X-CSRFToken": token}
    body = {"enrolment_id": s["e"].id, "lesson_id": s["a2"].id, "position": 0}
    first = client.post("/learning/beat", json=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["watched"] == 0 and first.get_json()["csrf"]
    s["tick"].advance(5)
    second = client.post("/learning/beat", json={**body, "position": 10}, headers=headers).get_json()
    assert second["watched"] == pytest.approx(7) and second["accepted"] is False and second["snap_to"] == 7
    other = client.post("/learning/beat", json={**body, "enrolment_id": s["oe"].id}, headers=headers)
    assert other.status_code == 404 and other.get_json()["error"]
    locked = client.post("/learning/beat", json={**body, "lesson_id": s["b1"].id}, headers=headers)
    assert locked.status_code == 409 and locked.get_json()["error"] == zh(
        "This lesson is locked: pass the quiz of the previous section first.")
    bad = client.post("/learning/beat", json={**body, "position": "x"}, headers=headers)
    assert bad.status_code == 409
    no_token = client.post("/learning/beat", json=body)
    assert no_token.status_code == 400
    popup = client.post("/learning/popup", json={"enrolment_id": s["e"].id, "question_id": s["popup"].id,
                                                 "choice": [0]}, headers=headers)
    assert popup.status_code == 409  # not reached yet
    assert "answer_json" not in popup.get_data(as_text=True)


def test_the_quiz_page_shows_no_answer_before_submission(setup, client):
    s = setup
    finish_section_a(s)
    _client(client, s)
    url = f"/learning/quiz/{s['e'].id}/{s['a'].id}"
    response = client.get(url)
    html = page(response)
    assert response.status_code == 200 and "单选题" in html and "多选题" in html
    assert 'class="lr-right"' not in html  # no right answer marked before the attempt
    token = csrf_from(html)
    result = client.post(url, data={"csrf_token": token, "attempt": attempt_from(html), f"q{s['q1'].id}": "2",
                                    f"q{s['q2'].id}": ["0", "1"]})
    text = page(result)
    assert result.status_code == 200 and 'id="quiz-result"' in text and "100" in text
    assert section_row(s["e"], s["a"]).state == "passed"
    again = client.get(url)  # passed: the quiz does not open again
    assert again.status_code == 302
    assert client.get(f"/learning/quiz/{s['oe'].id}/{s['a'].id}").status_code == 404


def attempt_from(html: str) -> str:
    return re.search(r'name="attempt" value="([^"]+)"', html).group(1)


def test_the_same_quiz_sheet_posted_twice_counts_one_attempt(setup, client):
    """A double click or a second tab posting the sheet again after the first post was counted: refused with a
    message, not taken as the round's second attempt."""
    s = setup
    finish_section_a(s)
    _client(client, s)
    url = f"/learning/quiz/{s['e'].id}/{s['a'].id}"
    html = page(client.get(url))
    wrong = {"csrf_token": csrf_from(html), "attempt": attempt_from(html), f"q{s['q1'].id}": "0"}
    assert 'id="quiz-result"' in page(client.post(url, data=wrong))
    again = client.post(url, data=wrong, follow_redirects=True)
    assert zh("This attempt has already been submitted. Please refresh.") in page(again)
    assert db.session.scalar(select(func.count(QuizAttempt.id))) == 1
    assert (section_row(s["e"], s["a"]).state, section_row(s["e"], s["a"]).attempts) == ("quiz", 1)
    html = page(client.get(url))  # the page opened again is the second attempt, which counts
    second = {"csrf_token": csrf_from(html), "attempt": attempt_from(html), f"q{s['q1'].id}": "0"}
    assert second["attempt"] != wrong["attempt"]
    for forged in ("", "x", "9-9", "1-1" * 100):
        refused = client.post(url, data={**second, "attempt": forged}, follow_redirects=True)
        assert refused.status_code == 200 and db.session.scalar(select(func.count(QuizAttempt.id))) == 1
    assert 'id="quiz-result"' in page(client.post(url, data=second))
    assert section_row(s["e"], s["a"]).state == "restudy"


def test_two_tabs_beating_at_the_same_instant_share_the_seconds(app, setup, db):
    """T4 on PostgreSQL: two connections beat two lessons of one person at the same instant; the person's row lock
    makes the second see the first's credit, so the seconds are credited once."""
    needs_postgres(db)
    s = setup
    flow.heartbeat(s["e"], s["a1"], 0, s["actor"])
    flow.heartbeat(s["e"], s["a2"], 0, s["actor"])
    s["tick"].advance(5)
    enrolment_id, actor = s["e"].id, s["actor"]

    def tab(lesson_id):
        def prepare(session):
            item, lesson = session.get(Enrolment, enrolment_id), flow.lesson_by_id(lesson_id)
            item.person  # noqa: B018 - loaded before the race
            return lambda: flow.heartbeat(item, lesson, 5, actor).watched
        return prepare

    outcomes = race(app, tab(s["a1"].id), tab(s["a2"].id))
    errors = [o for o in outcomes if not isinstance(o, float)]
    assert errors == []
    assert watched(s["e"], s["a1"]) + watched(s["e"], s["a2"]) <= 5 + flow.TOLERANCE + 1e-6


def test_a_double_submitted_quiz_counts_one_attempt(app, setup, db):
    """T4 on PostgreSQL: the same attempt posted twice at the same instant (a double click, two tabs): one attempt
    is recorded, the other is refused by the unique (progress, round, number) index with a clear message."""
    needs_postgres(db)
    s = setup
    finish_section_a(s)
    enrolment_id, section_id, actor = s["e"].id, s["a"].id, s["actor"]

    def submit(session):
        from app.models import ClassSection

        item, section = session.get(Enrolment, enrolment_id), session.get(ClassSection, section_id)
        item.person, section.course  # noqa: B018 - loaded before the race
        token = flow.attempt_token(flow.start_quiz(item, section, actor).progress)  # both tabs show attempt 1
        return lambda: flow.submit_quiz(item, section, {}, actor, token).number

    outcomes = race(app, submit, submit)
    assert sorted(outcomes, key=str) == sorted([1, zh("This attempt has already been submitted. Please refresh.")],
                                               key=str), outcomes
    db.session.expire_all()
    assert db.session.scalar(select(func.count(QuizAttempt.id))) == 1
    row = section_row(s["e"], s["a"])
    assert (row.state, row.attempts) == ("quiz", 1)
