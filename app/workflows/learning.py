"""Online learning (P12, state machine 7): enrolment, progress by heartbeats, pop-up questions, section quizzes,
completion and the automatic credit of a completed class's hours."""
from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from .. import clock
from ..extensions import db
from ..models import (ClassCourse, ClassOrder, ClassSection, ClassState, Enrolment, EnrolmentState, LearningForm,
                      Lesson, LessonProgress, OnlineClass, Person, Question, QuizAttempt, SectionProgress,
                      SectionState, Subject)
from .base import (APPLICANT, FOLLOWS, HANDLED, Actor, ConcurrentTransition, DomainError, PermissionDenied,
                   StateMachine, Transition, TransitionNotAllowed, transaction)
from .declaration import credit

ONLINE_FORM = "online"  # the catalogue's 网络学习 form (group "online"): what a completed class is credited as

E = EnrolmentState


class EnrolmentMachine(StateMachine):
    """A learner's enrolment: studying → completed. Completion is a step of the learning use case (the last
    section passed), never an action of its own."""

    model = Enrolment
    object_type = "enrolment"
    initial = (E.STUDYING,)
    transitions = (Transition(E.STUDYING, "complete", E.COMPLETED, frozenset({FOLLOWS})),)

    def in_scope(self, item: Enrolment, actor: Actor) -> bool:
        return False

    def is_owner(self, item: Enrolment, actor: Actor) -> bool:
        return item.person.user_id == actor.user_id


enrolment_machine = EnrolmentMachine()


def check_open(online_class: OnlineClass) -> None:
    """A class takes enrolments (free) and orders (paid) while it is published and today lies in its window."""
    if online_class.state != ClassState.PUBLISHED.value:
        raise DomainError(_l("This class is not open for enrolment."))
    today = clock.today()
    if today < online_class.enrol_start:
        raise DomainError(_l("Enrolment for this class has not started yet."))
    if today > online_class.enrol_end:
        raise DomainError(_l("Enrolment for this class has closed."))


def enrolment_of(person_id: int, class_id: int) -> Enrolment | None:
    return db.session.scalar(select(Enrolment).where(Enrolment.person_id == person_id,
                                                     Enrolment.class_id == class_id))


def enrol(online_class: OnlineClass, person: Person, actor: Actor | None, *,
          order: ClassOrder | None = None) -> Enrolment:
    """Put a person in a class, inside the caller's transaction (nothing is committed). A free class is enrolled
    directly (the class must be open); a paid class only through its paid order (`order`), whose window was
    checked when it was placed. A person already enrolled keeps their enrolment (returned as is); the unique
    (class, person) index turns a racing second enrolment into an IntegrityError for the caller's transaction."""
    existing = enrolment_of(person.id, online_class.id)
    if existing is not None:
        return existing
    if order is None:
        if not online_class.free:
            raise DomainError(_l("This class must be paid for before you can study it."))
        check_open(online_class)
    item = Enrolment(class_id=online_class.id, person_id=person.id, order_id=order.id if order else None)
    return enrolment_machine.open(item, actor, action="enrol", commit=False)


# ---------------------------------------------------------------- progress: the server is the judge (state machine 7)

TOLERANCE = 2.0          # seconds a beat may claim beyond the wall-clock time elapsed (jitter); borrowed, not kept
MAX_GAP = 75.0           # the longest pause between two beats of one sitting (a hidden tab's timers fire about
                         # once a minute): a beat after a longer pause credits nothing and starts a new sitting
COMPLETE_SLACK = 1.0     # a lesson is watched when `watched` reaches its duration less this
ATTEMPTS = 2             # quiz attempts per round
STUDY_STAMP = datetime.timedelta(minutes=10)  # how stale `Enrolment.last_studied_at` may get before a beat refreshes it

S = SectionState

NOT_YOURS = _l("You can only study in your own enrolment.")
NOT_THIS_CLASS = _l("This lesson is not part of the class you enrolled in: nothing was recorded.")
LOCKED = _l("This lesson is locked: pass the quiz of the previous section first.")
SECTION_LOCKED = _l("This section is locked: pass the quiz of the previous section first.")
BAD_POSITION = _l("The playing position sent is not valid: nothing was recorded.")
SNAPPED = _l("You played further than the time you have spent: the video goes back to the furthest point credited.")


class SectionMachine(StateMachine):
    """A learner's state in a section (state machine 7): studying → quiz once every lesson is complete (or straight
    to passed when the section has no quiz); a failed first attempt stays in quiz, a second one sends the learner
    back to re-study the lessons (progress reset, a new round of two attempts); passing unlocks the next section."""

    model = SectionProgress
    object_type = "section_progress"
    initial = (S.STUDYING,)
    transitions = (
        Transition(S.STUDYING, "lessons_done", S.QUIZ, frozenset({FOLLOWS})),
        Transition(S.RESTUDY, "lessons_done", S.QUIZ, frozenset({FOLLOWS})),
        Transition(S.STUDYING, "pass_without_quiz", S.PASSED, frozenset({FOLLOWS})),
        Transition(S.RESTUDY, "pass_without_quiz", S.PASSED, frozenset({FOLLOWS})),
        Transition(S.QUIZ, "pass", S.PASSED, frozenset({APPLICANT})),
        Transition(S.QUIZ, "fail_first", S.QUIZ, frozenset({APPLICANT})),
        Transition(S.QUIZ, "fail_second", S.RESTUDY, frozenset({APPLICANT})),
    )

    def in_scope(self, item: SectionProgress, actor: Actor) -> bool:
        return False

    def is_owner(self, item: SectionProgress, actor: Actor) -> bool:
        return item.enrolment.person.user_id == actor.user_id

    def on_enter(self, item: SectionProgress, transition: Transition, actor: Actor, comment: str | None) -> None:
        if transition.target == S.RESTUDY:  # the section's lessons are to be watched again, pop-ups answered again
            lessons = select(Lesson.id).where(Lesson.section_id == item.section_id)
            db.session.execute(update(LessonProgress)
                               .where(LessonProgress.enrolment_id == item.enrolment_id,
                                      LessonProgress.lesson_id.in_(lessons))
                               .values(watched=0, beat_at=None, answered_json="[]", completed_at=None)
                               .execution_options(synchronize_session=False))


section_machine = SectionMachine()


@dataclass
class Beat:
    """What the player learns from a heartbeat: the credited point, whether the reported position stands (else
    the player goes back to `snap_to`), the lesson's and section's state, and the class's completion."""

    watched: float
    duration: float
    accepted: bool = True
    snap_to: float | None = None
    completed: bool = False
    section_state: str | None = None
    class_completed: bool = False
    message: str | None = None

    def as_json(self) -> dict:
        return {"watched": round(self.watched, 2), "duration": self.duration, "accepted": self.accepted,
                "snap_to": None if self.snap_to is None else round(self.snap_to, 2), "completed": self.completed,
                "section_state": self.section_state, "class_completed": self.class_completed,
                "percent": percent(self.watched, self.duration, self.completed), "message": self.message}


def percent(watched: float, duration: float, completed: bool = False) -> int:
    if completed or duration <= 0:
        return 100 if completed else 0
    return min(99, int(watched * 100 // duration))


def _stamp() -> datetime.datetime:
    return clock.now().replace(microsecond=0)


def _check_owner(enrolment: Enrolment, actor: Actor | None) -> None:
    person = db.session.get(Person, enrolment.person_id)  # the identity map's, when the caller has read it
    if actor is None or actor.user_id is None or person.user_id != actor.user_id:
        raise PermissionDenied(NOT_YOURS)


def _check_lesson(enrolment: Enrolment, lesson: Lesson) -> None:
    if lesson is None or lesson.section.course.class_id != enrolment.class_id:
        raise DomainError(NOT_THIS_CLASS)


def section_locked(enrolment_id: int, section: ClassSection) -> bool:
    """A section is locked while a section before it (in the class's order of courses and sections) is not passed.
    One statement: the earlier sections without a passed progress row are counted."""
    course = section.course
    passed = (select(SectionProgress.id)
              .where(SectionProgress.enrolment_id == enrolment_id, SectionProgress.section_id == ClassSection.id,
                     SectionProgress.state == S.PASSED.value))
    earlier = (select(func.count(ClassSection.id)).join(ClassCourse, ClassSection.course_id == ClassCourse.id)
               .where(ClassCourse.class_id == course.class_id,
                      tuple_(ClassCourse.position, ClassCourse.id, ClassSection.position, ClassSection.id)
                      < tuple_(literal(course.position), literal(course.id), literal(section.position),
                               literal(section.id)),
                      ~passed.exists()))
    return bool(db.session.scalar(earlier))


def _position(value, duration: float) -> float:
    try:
        position = float(value)
    except (TypeError, ValueError):
        raise DomainError(BAD_POSITION) from None
    if not math.isfinite(position) or position < 0 or position > max(duration, 0) + MAX_GAP:
        raise DomainError(BAD_POSITION)
    return min(position, duration)


def _popups(lesson: Lesson) -> list[tuple[int, int]]:
    """(id, at_second) of the lesson's pop-up questions, in playing order."""
    return [(qid, at) for at, qid in sorted((q.at_second or 0, q.id) for q in lesson.popups)]


def _gate(popups: list[tuple[int, int]], answered: set[int]) -> float | None:
    """The second of the first pop-up not answered yet: `watched` cannot pass it."""
    return next((float(at or 0) for qid, at in popups if qid not in answered), None)


def _insert_ignore(**values) -> int:
    """INSERT the lesson's progress row unless it exists (racing first beats of two tabs insert one row)."""
    name = db.session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return db.session.execute(insert(LessonProgress).values(**values).on_conflict_do_nothing()).rowcount


def _touch(enrolment: Enrolment, now: datetime.datetime) -> None:
    if enrolment.last_studied_at is None or now - enrolment.last_studied_at > STUDY_STAMP:
        db.session.execute(update(Enrolment).where(Enrolment.id == enrolment.id).values(last_studied_at=now)
                           .execution_options(synchronize_session=False))


def _read(enrolment: Enrolment, lesson: Lesson):
    """The lesson's progress row (None before the first beat) and where the person's study clock stands on every
    other lesson row (of every class): credit is given from the latest of them on, so lessons played side by side
    in several tabs share one wall clock. One statement over the person's rows. On PostgreSQL the person's row is
    locked first (FOR NO KEY UPDATE: inserts referring to the person are not held up), so two beats of one person
    are judged one after the other; the same statement lets this transaction commit without waiting for the disk
    (synchronous_commit off, SET LOCAL): a crash may lose the last second of beats, never a completion, which
    commits durably (`_durable`)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(Person.id, func.set_config("synchronous_commit", "off", True))
                           .where(Person.id == enrolment.person_id).with_for_update(key_share=True, of=Person))
    this = and_(LessonProgress.enrolment_id == enrolment.id, LessonProgress.lesson_id == lesson.id)
    mine = lambda column: func.max(case((this, column)))  # noqa: E731 - this lesson's value (one row at most)
    found = db.session.execute(
        select(func.max(case((~this, LessonProgress.beat_at))).label("others"),
               func.count(case((this, 1))).label("exists"), mine(LessonProgress.watched).label("watched"),
               mine(LessonProgress.beat_at).label("beat_at"), mine(LessonProgress.answered_json).label("answered_json"),
               mine(LessonProgress.completed_at).label("completed_at"))
        .select_from(LessonProgress).join(Enrolment, Enrolment.id == LessonProgress.enrolment_id)
        .where(Enrolment.person_id == enrolment.person_id)).one()
    return (found if found.exists else None), found.others


def _durable() -> None:
    """This transaction completes something (a lesson, a section, the class): its commit waits for the disk."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.set_config("synchronous_commit", "on", True)))


def lesson_by_id(lesson_id: int | None) -> Lesson | None:
    """A lesson with its section, course and pop-up questions (what a heartbeat checks), in one statement."""
    if not lesson_id:
        return None
    return db.session.get(Lesson, lesson_id, options=[joinedload(Lesson.section).joinedload(ClassSection.course),
                                                      joinedload(Lesson.popups)])


def heartbeat(enrolment: Enrolment, lesson: Lesson, position, actor: Actor) -> Beat:
    """Credit what the learner has watched of a lesson since the previous heartbeat. `watched` grows by at most
    the wall-clock time since the person's study clock last moved (the row's `beat_at`, or a later `beat_at` of
    another lesson row of the person: two tabs share one clock) plus TOLERANCE, which is borrowed from the next
    beat (the clock moves on by what was credited, so many beats cannot add up tolerances); never past the
    reported position, the first unanswered pop-up or the lesson's duration. The first beat only starts the
    clock, and so does a beat after a pause longer than MAX_GAP (a new sitting: the time away is not credited,
    however far the reported position goes). A position beyond the credited point is refused (`snap_to`). One INSERT the first time, then one
    conditional UPDATE per beat (`WHERE beat_at = :previous`): of two racing beats only one claims the elapsed
    seconds, the other is read again and gets what is left."""
    _check_owner(enrolment, actor)
    _check_lesson(enrolment, lesson)
    duration = float(lesson.duration or 0)
    position = _position(position, duration)
    key = (LessonProgress.enrolment_id == enrolment.id, LessonProgress.lesson_id == lesson.id)
    if enrolment.state == E.COMPLETED.value:  # nothing left to credit: the player plays freely
        watched = db.session.scalar(select(LessonProgress.watched).where(*key)) or 0.0
        return Beat(watched, duration, completed=True, section_state=S.PASSED.value, class_completed=True)
    popups = None
    with transaction():
        now = clock.now()
        for _attempt in range(5):
            row, others = _read(enrolment, lesson)
            if row is None:  # the first beat: the lesson must be open (a section, once open, stays open)
                if section_locked(enrolment.id, lesson.section):
                    raise DomainError(LOCKED)
                if _insert_ignore(enrolment_id=enrolment.id, lesson_id=lesson.id, watched=0.0,
                                  beat_at=max(now, others or now), answered_json="[]"):
                    _touch(enrolment, now)
                    accepted = position <= TOLERANCE
                    return Beat(0.0, duration, accepted, None if accepted else 0.0,
                                message=None if accepted else str(SNAPPED))
                continue  # another tab's first beat inserted it: read it
            if row.completed_at is not None:  # re-watching a completed lesson: free, nothing to write
                return Beat(row.watched, duration, completed=True)
            popups = _popups(lesson) if popups is None else popups
            answered = set(json.loads(row.answered_json or "[]"))
            gate = _gate(popups, answered)
            cap = duration if gate is None else min(duration, gate)
            if row.beat_at is None:  # the clock was reset (re-study): this beat starts it again
                gain, next_at = 0.0, max(now, others or now)
            else:
                start = max(row.beat_at, others or row.beat_at)
                elapsed = (now - start).total_seconds()
                if elapsed > MAX_GAP:  # the player was closed longer than any beat interval: a new sitting
                    gain, next_at = 0.0, now  # starts; the time away is not video watched
                else:
                    allowed = max(0.0, min(elapsed + TOLERANCE, MAX_GAP))
                    gain = max(0.0, min(row.watched + allowed, position, cap) - row.watched)
                    next_at = max(start + datetime.timedelta(seconds=gain),
                                  now - datetime.timedelta(seconds=TOLERANCE))
            watched = row.watched + gain
            done = watched >= duration - COMPLETE_SLACK and gate is None
            clock_matches = (LessonProgress.beat_at.is_(None) if row.beat_at is None
                             else LessonProgress.beat_at == row.beat_at)
            result = db.session.execute(
                update(LessonProgress).where(*key, clock_matches, LessonProgress.watched == row.watched,
                                             LessonProgress.completed_at.is_(None))
                .values(watched=watched, beat_at=next_at, completed_at=now if done else None)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                break
        else:
            raise ConcurrentTransition(HANDLED)
        _touch(enrolment, now)
        accepted = position <= watched + TOLERANCE
        beat = Beat(watched, duration, accepted, None if accepted else watched, completed=done,
                    message=None if accepted else str(SNAPPED))
        if done:
            _durable()
            beat.section_state, beat.class_completed = _advance(enrolment, actor, lesson.section_id)
    return beat


# ---------------------------------------------------------------- pop-up questions

@dataclass
class PopupAnswer:
    correct: bool
    beat: Beat
    message: str | None = None


def _choice(value) -> list[int]:
    """A chosen set of option indexes: ints (or digit strings), sorted, no repeats."""
    if isinstance(value, (int, str)):
        value = [value]
    chosen = set()
    for item in value or []:
        if isinstance(item, bool):
            continue
        if isinstance(item, int) or (isinstance(item, str) and item.isascii() and item.isdigit() and len(item) < 4):
            chosen.add(int(item))
    return sorted(chosen)


def _correct(question: Question, chosen: list[int]) -> bool:
    answer = sorted(set(json.loads(question.answer_json or "[]")))
    return bool(answer) and chosen == answer


def answer_popup(enrolment: Enrolment, question: Question, choice, actor: Actor) -> PopupAnswer:
    """The learner answers a pop-up question of a lesson (checked here; the answer never left the server). A right
    answer is recorded in the lesson's progress (`answered_json`) and lifts the pause; a wrong one records nothing."""
    _check_owner(enrolment, actor)
    lesson = question.lesson if question is not None and question.lesson_id else None
    _check_lesson(enrolment, lesson)
    if section_locked(enrolment.id, lesson.section):
        raise DomainError(LOCKED)
    duration = float(lesson.duration or 0)
    key = (LessonProgress.enrolment_id == enrolment.id, LessonProgress.lesson_id == lesson.id)
    row = db.session.execute(select(LessonProgress.watched, LessonProgress.answered_json, LessonProgress.completed_at)
                             .where(*key)).first()
    if enrolment.state == E.COMPLETED.value or (row is not None and row.completed_at is not None):
        return PopupAnswer(_correct(question, _choice(choice)), Beat(row.watched if row else 0.0, duration,
                                                                     completed=True))
    if row is None or row.watched + TOLERANCE < (question.at_second or 0):
        raise DomainError(_l("Watch the video up to this question first."))
    if not _correct(question, _choice(choice)):
        return PopupAnswer(False, Beat(row.watched, duration), str(_l("Wrong answer, please try again.")))
    answered = set(json.loads(row.answered_json or "[]"))
    if question.id in answered:
        return PopupAnswer(True, Beat(row.watched, duration))
    answered.add(question.id)
    done = row.watched >= duration - COMPLETE_SLACK and _gate(_popups(lesson), answered) is None
    with transaction():
        result = db.session.execute(
            update(LessonProgress).where(*key, LessonProgress.answered_json == row.answered_json,
                                         LessonProgress.completed_at.is_(None))
            .values(answered_json=json.dumps(sorted(answered)), completed_at=clock.now() if done else None)
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            raise ConcurrentTransition(HANDLED)
        beat = Beat(row.watched, duration, completed=done)
        if done:
            beat.section_state, beat.class_completed = _advance(enrolment, actor, lesson.section_id)
    return PopupAnswer(True, beat)


# ---------------------------------------------------------------- sections, quizzes and completion

def _sections(class_id: int) -> list[ClassSection]:
    return list(db.session.scalars(
        select(ClassSection).join(ClassCourse, ClassSection.course_id == ClassCourse.id)
        .where(ClassCourse.class_id == class_id)
        .order_by(ClassCourse.position, ClassCourse.id, ClassSection.position, ClassSection.id)))


def _progress(enrolment: Enrolment, section: ClassSection, actor: Actor | None) -> SectionProgress:
    """The learner's row of a section, created (studying) the first time it is needed."""
    stmt = select(SectionProgress).where(SectionProgress.enrolment_id == enrolment.id,
                                         SectionProgress.section_id == section.id)
    row = db.session.scalar(stmt)
    if row is None:
        try:
            with db.session.begin_nested():
                row = section_machine.open(SectionProgress(enrolment_id=enrolment.id, section_id=section.id), actor,
                                           action="start", commit=False)
        except IntegrityError:  # created by a racing request meanwhile
            row = db.session.scalar(stmt)
    return row


def _lessons_done(enrolment: Enrolment, section: ClassSection) -> bool:
    lessons = select(Lesson.id).where(Lesson.section_id == section.id)
    total = db.session.scalar(select(func.count()).select_from(lessons.subquery()))
    done = db.session.scalar(select(func.count()).select_from(LessonProgress).where(
        LessonProgress.enrolment_id == enrolment.id, LessonProgress.lesson_id.in_(lessons),
        LessonProgress.completed_at.is_not(None)))
    return done >= total


def _has_quiz(section: ClassSection) -> bool:
    return db.session.scalar(select(func.count(Question.id)).where(Question.section_id == section.id)) > 0


def _advance(enrolment: Enrolment, actor: Actor | None, section_id: int | None = None) -> tuple[str | None, bool]:
    """Walk the class's sections in order (inside the caller's transaction): a section whose lessons are all
    complete opens its quiz (or passes, without a quiz); the walk stops at the first section not passed. When every
    section is passed, the class is complete and its hours are credited. Returns the state of section `section_id`
    (when the walk reached it) and whether this call completed the class."""
    state = None
    for section in _sections(enrolment.class_id):
        row = _progress(enrolment, section, actor)
        if row.state in (S.STUDYING.value, S.RESTUDY.value) and _lessons_done(enrolment, section):
            action = "lessons_done" if _has_quiz(section) else "pass_without_quiz"
            values = {"passed_at": _stamp()} if action == "pass_without_quiz" else None
            section_machine.enter(row, action, actor, values=values, follows=True)
        if section.id == section_id:
            state = row.state
        if row.state != S.PASSED.value:
            return state, False
    return state, _complete(enrolment, actor)


def online_form() -> LearningForm | None:
    return db.session.scalar(select(LearningForm).where(LearningForm.code == ONLINE_FORM))


def _complete(enrolment: Enrolment, actor: Actor | None) -> bool:
    """The class is complete: EnrolmentMachine "complete" (a conditional UPDATE: of two racing completions only one
    gets the row) and the class's hours credited once, for the class's year, as 网络学习. In a savepoint: the loser
    of a race keeps the rest of its transaction and credits nothing."""
    klass = enrolment.online_class
    form = online_form()
    try:
        with db.session.begin_nested():
            enrolment_machine.enter(enrolment, "complete", actor, values={"completed_at": _stamp()}, follows=True)
            record = credit(enrolment.person_id, klass.year, Subject(klass.track), Decimal(klass.hours),
                            form_id=form.id if form else None, title=klass.title, source="online",
                            source_id=enrolment.id, provider=klass.base.name)
            db.session.flush()
            db.session.execute(update(Enrolment).where(Enrolment.id == enrolment.id)
                               .values(credited_record_id=record.id).execution_options(synchronize_session=False))
        db.session.refresh(enrolment)
    except (ConcurrentTransition, TransitionNotAllowed):
        db.session.refresh(enrolment)
        return False
    return True


def complete_if_done(enrolment: Enrolment, actor: Actor | None) -> bool:
    """Complete the class if every section is passed (its own transaction); True if this call completed it."""
    with transaction():
        if enrolment.state != E.STUDYING.value:
            return False
        sections = _sections(enrolment.class_id)
        passed = set(db.session.scalars(select(SectionProgress.section_id).where(
            SectionProgress.enrolment_id == enrolment.id, SectionProgress.state == S.PASSED.value)))
        if any(s.id not in passed for s in sections):
            return False
        return _complete(enrolment, actor)


def _section_of(enrolment: Enrolment, section: ClassSection | None) -> ClassSection:
    if section is None or section.course.class_id != enrolment.class_id:
        raise DomainError(_l("This section is not part of the class you enrolled in."))
    if section_locked(enrolment.id, section):
        raise DomainError(SECTION_LOCKED)
    return section


@dataclass
class QuizSheet:
    section: ClassSection
    progress: SectionProgress
    questions: list[dict]

    @property
    def attempts_left(self) -> int:
        return max(0, ATTEMPTS - self.progress.attempts)

    @property
    def attempt(self) -> str:
        """The attempt this sheet is answered as (the form sends it back): a second post of the same sheet is
        refused, not counted as the next attempt."""
        return attempt_token(self.progress)


def attempt_token(row: SectionProgress) -> str:
    return f"{row.round}-{row.attempts + 1}"


def _public(question: Question) -> dict:
    """What the browser may see of a question before it is answered: never `answer_json`."""
    return {"id": question.id, "kind": question.kind, "text": question.text,
            "options": json.loads(question.options_json or "[]"), "points": question.points}


def _quiz_open(enrolment: Enrolment, section: ClassSection, actor: Actor) -> SectionProgress:
    """The learner's row of a section whose quiz is open (inside the caller's transaction), else a refusal."""
    _check_owner(enrolment, actor)
    _section_of(enrolment, section)
    if enrolment.state == E.STUDYING.value:
        _advance(enrolment, actor)  # a section without lessons (or finished before) opens its quiz now
    row = _progress(enrolment, section, actor)
    if row.state == S.PASSED.value:
        raise DomainError(_l("You have passed the quiz of this section."))
    if row.state == S.RESTUDY.value:
        raise DomainError(_l("Both attempts of this round are used: study the section's lessons again, then take "
                             "the quiz again."))
    if row.state != S.QUIZ.value:
        raise DomainError(_l("The quiz of this section opens when all its lessons are complete."))
    if row.attempts >= ATTEMPTS:
        raise DomainError(_l("Both attempts of this round are used."))
    return row


def start_quiz(enrolment: Enrolment, section: ClassSection, actor: Actor) -> QuizSheet:
    """The quiz of a section, its questions without their answers; refused unless the quiz is open."""
    with transaction():
        row = _quiz_open(enrolment, section, actor)
    questions = db.session.scalars(select(Question).where(Question.section_id == section.id)
                                   .order_by(Question.position, Question.id))
    return QuizSheet(section, row, [_public(q) for q in questions])


@dataclass
class QuizResult:
    score: int
    passed: bool
    number: int
    state: str
    attempts_left: int
    pass_mark: int
    questions: list[dict] = field(default_factory=list)  # with the learner's choice and the right answer
    class_completed: bool = False


def submit_quiz(enrolment: Enrolment, section: ClassSection, answers: dict, actor: Actor,
                attempt: str | None = None) -> QuizResult:
    """Score an attempt on the server (a multiple choice counts only when exactly the right set is chosen), record
    it and take the section's transition: pass → passed (the next section opens), a first failure → quiz, a second
    → re-study. `attempt` is the one the sheet was opened for (QuizSheet.attempt): the same sheet posted twice — a
    double click, two tabs — counts once, whether the second post comes after the first (refused here) or at the
    same instant (refused by the unique progress / round / number index)."""
    refused = lambda: ConcurrentTransition(_l("This attempt has already been submitted. Please refresh."))  # noqa: E731
    with transaction(conflict=refused):
        row = _quiz_open(enrolment, section, actor)
        if attempt is not None and attempt != attempt_token(row):
            raise refused()
        questions = list(db.session.scalars(select(Question).where(Question.section_id == section.id)
                                            .order_by(Question.position, Question.id)))
        total = sum(q.points for q in questions) or 1
        got, sheet, chosen_by_id = 0, [], {}
        for q in questions:
            chosen = _choice((answers or {}).get(q.id, (answers or {}).get(str(q.id))))
            right = _correct(q, chosen)
            got += q.points if right else 0
            chosen_by_id[str(q.id)] = chosen
            sheet.append({**_public(q), "chosen": chosen, "answer": sorted(json.loads(q.answer_json or "[]")),
                          "correct": right})
        score = int(got * 100 // total)
        passed = score >= section.pass_mark
        number = row.attempts + 1
        action = "pass" if passed else ("fail_first" if number < ATTEMPTS else "fail_second")
        values = {"attempts": 0, "round": row.round + 1} if action == "fail_second" else {"attempts": number}
        if passed:
            values["passed_at"] = _stamp()
        db.session.add(QuizAttempt(progress_id=row.id, round=row.round, number=number,
                                   answers_json=json.dumps(chosen_by_id), score=score, passed=passed))
        db.session.flush()
        section_machine.enter(row, action, actor, values=values, comment=f"{score}")
        completed = _advance(enrolment, actor)[1] if passed else False
    return QuizResult(score, passed, number, row.state,
                      ATTEMPTS - row.attempts if row.state == S.QUIZ.value else 0, section.pass_mark, sheet,
                      completed)


def attempts_of(enrolment: Enrolment) -> list[QuizAttempt]:
    return list(db.session.scalars(select(QuizAttempt).join(SectionProgress)
                                   .where(SectionProgress.enrolment_id == enrolment.id).order_by(QuizAttempt.id)))


# ---------------------------------------------------------------- what the pages show

@dataclass
class LessonLine:
    lesson: Lesson
    watched: float
    completed: bool
    locked: bool

    @property
    def percent(self) -> int:
        return percent(self.watched, float(self.lesson.duration or 0), self.completed)


@dataclass
class SectionLine:
    section: ClassSection
    state: str
    locked: bool
    attempts: int
    round: int
    questions: int
    lessons: list[LessonLine]

    @property
    def state_label(self):
        return SectionState(self.state).label

    @property
    def passed(self) -> bool:
        return self.state == S.PASSED.value

    @property
    def quiz_open(self) -> bool:
        return not self.locked and self.state == S.QUIZ.value

    @property
    def attempts_left(self) -> int:
        return max(0, ATTEMPTS - self.attempts) if self.state in (S.QUIZ.value, S.STUDYING.value) else 0


@dataclass
class CourseLine:
    course: ClassCourse
    sections: list[SectionLine]

    @property
    def complete(self) -> bool:
        return all(s.passed for s in self.sections)


@dataclass
class Outline:
    enrolment: Enrolment
    online_class: OnlineClass
    courses: list[CourseLine]

    @property
    def sections(self) -> list[SectionLine]:
        return [s for c in self.courses for s in c.sections]

    @property
    def lessons(self) -> list[LessonLine]:
        return [lesson for s in self.sections for lesson in s.lessons]

    @property
    def completed(self) -> bool:
        return self.enrolment.state == E.COMPLETED.value

    @property
    def percent(self) -> int:
        """Of the class's video time, the part credited (lessons complete count whole)."""
        total = sum(float(line.lesson.duration or 0) for line in self.lessons)
        if self.completed:
            return 100
        if total <= 0:
            return 0
        done = sum(float(line.lesson.duration or 0) if line.completed else min(line.watched, line.lesson.duration)
                   for line in self.lessons)
        return min(99, int(done * 100 // total))

    @property
    def next_step(self) -> LessonLine | SectionLine | None:
        """Where "continue" leads: the first unlocked lesson not complete, else the open quiz."""
        for section in self.sections:
            if section.locked:
                return None
            for line in section.lessons:
                if not line.completed:
                    return line
            if section.quiz_open:
                return section
        return None


def outline(enrolment: Enrolment) -> Outline:
    """The class as its learner sees it: courses → sections (state, locked, attempts left) → lessons (watched %,
    complete, locked). Four statements whatever the class's size."""
    klass = enrolment.online_class
    sections = _sections(klass.id)
    section_ids = [s.id for s in sections]
    lessons: dict[int, list[Lesson]] = {sid: [] for sid in section_ids}
    for lesson in db.session.scalars(select(Lesson).where(Lesson.section_id.in_(section_ids))
                                     .order_by(Lesson.position, Lesson.id)) if section_ids else []:
        lessons[lesson.section_id].append(lesson)
    progress = {r.lesson_id: r for r in db.session.execute(
        select(LessonProgress.lesson_id, LessonProgress.watched, LessonProgress.completed_at)
        .where(LessonProgress.enrolment_id == enrolment.id))}
    states = {r.section_id: r for r in db.session.scalars(
        select(SectionProgress).where(SectionProgress.enrolment_id == enrolment.id))}
    questions = dict(db.session.execute(select(Question.section_id, func.count(Question.id))
                                        .where(Question.section_id.in_(section_ids))
                                        .group_by(Question.section_id)).all()) if section_ids else {}
    courses: dict[int, CourseLine] = {}
    locked = False
    for section in sections:
        row = states.get(section.id)
        state = row.state if row else S.STUDYING.value
        lines = [LessonLine(lesson, progress[lesson.id].watched if lesson.id in progress else 0.0,
                            lesson.id in progress and progress[lesson.id].completed_at is not None, locked)
                 for lesson in lessons[section.id]]
        line = SectionLine(section, state, locked, row.attempts if row else 0, row.round if row else 1,
                           questions.get(section.id, 0), lines)
        courses.setdefault(section.course_id, CourseLine(section.course, [])).sections.append(line)
        locked = locked or state != S.PASSED.value
    ordered = [courses[c.id] for c in klass.courses if c.id in courses]
    return Outline(enrolment, klass, ordered)


@dataclass
class PlayerPage:
    enrolment: Enrolment
    lesson: Lesson
    watched: float
    completed: bool
    popups: list[dict]        # without their answers
    answered: list[int]
    outline: Outline

    @property
    def following(self) -> LessonLine | None:
        lines = self.outline.lessons
        index = next((i for i, line in enumerate(lines) if line.lesson.id == self.lesson.id), None)
        return lines[index + 1] if index is not None and index + 1 < len(lines) else None


def player(enrolment: Enrolment, lesson: Lesson | None, actor: Actor) -> PlayerPage:
    """What the player page needs: the credited point, the pop-up questions (never their answers), which are
    answered; refused for another person's enrolment, a lesson of another class or a locked section."""
    _check_owner(enrolment, actor)
    _check_lesson(enrolment, lesson)
    if enrolment.state != E.COMPLETED.value and section_locked(enrolment.id, lesson.section):
        raise DomainError(LOCKED)
    row = db.session.execute(select(LessonProgress.watched, LessonProgress.answered_json, LessonProgress.completed_at)
                             .where(LessonProgress.enrolment_id == enrolment.id,
                                    LessonProgress.lesson_id == lesson.id)).first()
    popups = [{**_public(q), "at": q.at_second or 0} for q in lesson.popups]
    return PlayerPage(enrolment, lesson, row.watched if row else 0.0, bool(row and row.completed_at),
                      popups, json.loads(row.answered_json) if row else [], outline(enrolment))
