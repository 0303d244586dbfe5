"""P12 班级中心 and 学习中心: the published classes a professional may browse and enrol in, a class's catalogue and
the preview of its first lesson, and the learner's dashboard (this year's target and hours, classes in progress,
recently studied, quiz attempts).

Reading only, apart from `enrol_free` (one transaction around `learning.enrol`). Every page is a fixed number of
statements, whatever the number of classes: the list is one filtered, paged statement on the index
(state, track, year, id), its total one count, and the enrolled counts of the page's cards one grouped statement.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import clock
from ..extensions import db
from ..models import (ClassCourse, ClassSection, ClassState, Enrolment, EnrolmentState, Lesson, LessonProgress,
                      OnlineClass, Org, Person, Question, QuizAttempt, SectionProgress, Subject)
from . import annual, learning
from .base import Actor, DomainError, PermissionDenied, transaction

PAGE_SIZE = 25
TRACKS = (Subject.PUBLIC.value, Subject.PROFESSIONAL.value)
RECENT = 5
NOT_FOUND = _l("This class does not exist or is not open to learners.")  # raised as PermissionDenied: 404


# ------------------------------------------------------------------ 班级中心: the list

@dataclass
class Filters:
    track: str = Subject.PUBLIC.value
    specialty: str = ""
    year: int | None = None
    q: str = ""
    page: int = 1


@dataclass
class Card:
    item: OnlineClass
    base_name: str
    enrolled: int


@dataclass
class Listing:
    cards: list[Card]
    total: int
    page: int
    pages: int
    years: list[int] = field(default_factory=list)


def _published(filters: Filters):
    """The WHERE of the class centre: published classes of one track, with the optional specialty (专业 only),
    year and title words."""
    where = [OnlineClass.state == ClassState.PUBLISHED.value, OnlineClass.track == filters.track]
    if filters.specialty and filters.track == Subject.PROFESSIONAL.value:
        where.append(OnlineClass.specialty == filters.specialty)
    if filters.year:
        where.append(OnlineClass.year == filters.year)
    if filters.q:
        where.append(OnlineClass.title.contains(filters.q, autoescape=True))
    return where


def listing(filters: Filters) -> Listing:
    """One page of the class centre, newest year first: four statements (the years offered, the total, the page
    with its bases' names, the page's enrolled counts grouped by class)."""
    where = _published(filters)
    years = list(db.session.scalars(
        select(OnlineClass.year).where(OnlineClass.state == ClassState.PUBLISHED.value,
                                       OnlineClass.track == filters.track)
        .group_by(OnlineClass.year).order_by(OnlineClass.year.desc())))
    total = db.session.scalar(select(func.count()).select_from(OnlineClass).where(*where)) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(filters.page, 1), pages)
    rows = db.session.execute(
        select(OnlineClass, Org.name).join(Org, Org.id == OnlineClass.base_id).where(*where)
        .order_by(OnlineClass.year.desc(), OnlineClass.id.desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    counts = enrolled_counts([c.id for c, _name in rows])
    return Listing([Card(c, name, counts.get(c.id, 0)) for c, name in rows], total, page, pages, years)


def enrolled_counts(class_ids: list[int]) -> dict[int, int]:
    """Learners per class, for all the given classes in one grouped statement."""
    if not class_ids:
        return {}
    return dict(db.session.execute(
        select(Enrolment.class_id, func.count()).where(Enrolment.class_id.in_(class_ids))
        .group_by(Enrolment.class_id)).all())


# ------------------------------------------------------------------ the class page

@dataclass
class ClassPage:
    item: OnlineClass
    enrolment: Enrolment | None
    enrolled: int
    quiz_counts: dict[int, int]   # section id -> number of quiz questions (the quiz marker)
    duration: float               # seconds of video in the whole class
    lesson_count: int
    first_lesson: Lesson | None
    open_error: str | None        # why the class takes no enrolment now (None: it does)


def visible_class(class_id: int, person: Person) -> OnlineClass:
    """A class a professional may open: published, or one they are enrolled in (a closed class stays visible to its
    learners). Anything else is 'not found', so that drafts and other bases' pending classes are not disclosed."""
    item = db.session.get(OnlineClass, class_id)
    if item is None:
        raise PermissionDenied(NOT_FOUND)
    if item.state != ClassState.PUBLISHED.value and learning.enrolment_of(person.id, item.id) is None:
        raise PermissionDenied(NOT_FOUND)
    return item


def class_page(class_id: int, person: Person) -> ClassPage:
    item = visible_class(class_id, person)
    item = db.session.scalar(select(OnlineClass).where(OnlineClass.id == item.id).options(
        selectinload(OnlineClass.courses).selectinload(ClassCourse.sections).selectinload(ClassSection.lessons)))
    section_ids = [s.id for c in item.courses for s in c.sections]
    quiz_counts = dict(db.session.execute(
        select(Question.section_id, func.count()).where(Question.section_id.in_(section_ids))
        .group_by(Question.section_id)).all()) if section_ids else {}
    lessons = [lesson for c in item.courses for s in c.sections for lesson in s.lessons]
    try:
        learning.check_open(item)
        open_error = None
    except DomainError as exc:
        open_error = str(exc.message)
    return ClassPage(item, learning.enrolment_of(person.id, item.id), enrolled_counts([item.id]).get(item.id, 0),
                     quiz_counts, sum(lesson.duration or 0 for lesson in lessons), len(lessons),
                     first_lesson(item), open_error)


def first_lesson(item: OnlineClass) -> Lesson | None:
    """The lesson the preview shows: the first lesson with a video, in catalogue order."""
    return db.session.scalar(
        select(Lesson).join(ClassSection, ClassSection.id == Lesson.section_id)
        .join(ClassCourse, ClassCourse.id == ClassSection.course_id)
        .where(ClassCourse.class_id == item.id, Lesson.stored_name.is_not(None))
        .order_by(ClassCourse.position, ClassCourse.id, ClassSection.position, ClassSection.id, Lesson.position,
                  Lesson.id).limit(1))


# ------------------------------------------------------------------ the preview of the first lesson

VIDEOS, COVERS, PREVIEWS = "videos", "covers", "previews"  # sub-folders of LEARNING_FOLDER: the lessons and covers
# (as the class builder stores them) and the previews cut from the lessons


def lesson_path(folder: str, lesson: Lesson) -> str:
    return os.path.join(folder, VIDEOS, os.path.basename(lesson.stored_name))


def preview_file(folder: str, lesson: Lesson, seconds: int) -> str | None:
    """The file the preview serves, never longer than `seconds` of the lesson.

    A lesson no longer than the preview is served as it is. A longer one is cut once, with ffmpeg, into
    <folder>/previews/<stored name>-<seconds>s.<ext> (`ffmpeg -t seconds -c copy`: no re-encoding, the cut falls on
    the packet boundary at `seconds`); the cut is kept and served from then on, so a learner who downloads the
    preview's URL whole gets those seconds and nothing more. Without ffmpeg a longer lesson has no preview (None):
    the server never sends more than the preview, whatever the player does."""
    source = lesson_path(folder, lesson)
    if not lesson.stored_name or not os.path.isfile(source):
        return None
    if 0 < (lesson.duration or 0) <= seconds:
        return source
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    stem, ext = os.path.splitext(os.path.basename(lesson.stored_name))
    target_dir = os.path.join(folder, PREVIEWS)
    target = os.path.join(target_dir, f"{stem}-{seconds}s{ext}")
    if os.path.isfile(target):
        return target
    os.makedirs(target_dir, exist_ok=True)
    partial = f"{target}.{os.getpid()}.part"
    fmt = "webm" if ext.lower() == ".webm" else "mp4"
    command = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", source, "-t", str(seconds), "-c", "copy",
               "-map", "0"] + (["-movflags", "+faststart"] if fmt == "mp4" else []) + ["-f", fmt, partial]
    try:
        done = subprocess.run(command, capture_output=True, timeout=120).returncode == 0
        if done and os.path.getsize(partial) > 0:
            os.replace(partial, target)  # atomic: two first viewers at once each write their own part
            return target
        return None
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def preview_of(class_id: int, person: Person, folder: str, seconds: int) -> tuple[str, str]:
    """(path, content type) of a published class's preview, for any professional; refused when there is none."""
    item = db.session.get(OnlineClass, class_id)
    if item is None or item.state != ClassState.PUBLISHED.value:
        raise PermissionDenied(NOT_FOUND)
    lesson = first_lesson(item)
    path = preview_file(folder, lesson, seconds) if lesson is not None else None
    if path is None:
        raise PermissionDenied(_l("This class has no preview."))  # 404 as well
    return path, lesson.content_type or ("video/webm" if path.endswith(".webm") else "video/mp4")


def cover_of(class_id: int, person: Person, folder: str) -> str:
    """The cover image of a class the professional may open (published, or one they are enrolled in): the class
    centre shows it on every card. The class builder stores covers in <folder>/covers."""
    item = visible_class(class_id, person)
    path = os.path.join(folder, COVERS, os.path.basename(item.cover_name)) if item.cover_name else None
    if path is None or not os.path.isfile(path):
        raise PermissionDenied(NOT_FOUND)
    return path


# ------------------------------------------------------------------ 报名 (free classes)

def enrol_free(class_id: int, person: Person, actor: Actor) -> Enrolment:
    """One click on 报名: the learner is in the (free, open) class once, whatever the number of clicks; audited by
    the enrolment machine. A paid class is refused here (it is ordered and paid for instead)."""
    item = db.session.get(OnlineClass, class_id)
    if item is None or item.state != ClassState.PUBLISHED.value:
        raise PermissionDenied(NOT_FOUND)
    try:
        with transaction():
            enrolment = learning.enrol(item, person, actor)
    except IntegrityError:  # a second click raced the first one in: it holds the enrolment
        enrolment = learning.enrolment_of(person.id, class_id)
        if enrolment is None:
            raise
    return enrolment


# ------------------------------------------------------------------ 学习中心

@dataclass
class Studying:
    enrolment: Enrolment
    item: OnlineClass
    percent: int


@dataclass
class Centre:
    year: int
    result: annual.YearResult
    online_hours: Decimal
    in_progress: list[Studying]
    recent: list[Studying]


def progress(enrolment_ids: list[int]) -> dict[int, int]:
    """Percent of each enrolment's video time watched (each lesson counted up to its length), in one statement."""
    if not enrolment_ids:
        return {}
    watched = func.coalesce(LessonProgress.watched, 0)
    capped = case((watched > Lesson.duration, Lesson.duration), else_=watched)
    rows = db.session.execute(
        select(Enrolment.id, func.sum(Lesson.duration), func.sum(capped))
        .join(ClassCourse, ClassCourse.class_id == Enrolment.class_id)
        .join(ClassSection, ClassSection.course_id == ClassCourse.id)
        .join(Lesson, Lesson.section_id == ClassSection.id)
        .outerjoin(LessonProgress, (LessonProgress.enrolment_id == Enrolment.id)
                   & (LessonProgress.lesson_id == Lesson.id))
        .where(Enrolment.id.in_(enrolment_ids)).group_by(Enrolment.id)).all()
    return {eid: int(100 * (seen or 0) / total) if total else 0 for eid, total, seen in rows}


def centre(person: Person) -> Centre:
    year = clock.today().year
    result = annual.year_result(person, year)
    base = select(Enrolment, OnlineClass).join(OnlineClass, OnlineClass.id == Enrolment.class_id) \
        .where(Enrolment.person_id == person.id)
    studying = db.session.execute(
        base.where(Enrolment.state == EnrolmentState.STUDYING.value)
        .order_by(Enrolment.last_studied_at.is_(None), Enrolment.last_studied_at.desc(), Enrolment.id.desc())
        .limit(50)).all()
    recent = db.session.execute(
        base.where(Enrolment.last_studied_at.is_not(None))
        .order_by(Enrolment.last_studied_at.desc(), Enrolment.id.desc()).limit(RECENT)).all()
    percents = progress(list({e.id for e, _c in studying + recent}))

    def rows(pairs):
        return [Studying(e, c, 100 if e.state == EnrolmentState.COMPLETED.value else percents.get(e.id, 0))
                for e, c in pairs]
    online = db.session.scalar(
        select(func.coalesce(func.sum(OnlineClass.hours), 0)).join(Enrolment, Enrolment.class_id == OnlineClass.id)
        .where(Enrolment.person_id == person.id, Enrolment.state == EnrolmentState.COMPLETED.value,
               OnlineClass.year == year))
    return Centre(year, result, Decimal(online or 0), rows(studying), rows(recent))


# ------------------------------------------------------------------ 我的考试

@dataclass
class Exam:
    attempt: QuizAttempt
    class_title: str
    section_title: str
    enrolment_id: int

    @property
    def overall_number(self) -> int:
        """The attempt's number counted over all rounds (2 attempts a round)."""
        return (self.attempt.round - 1) * 2 + self.attempt.number


def exams(person: Person, page: int = 1) -> tuple[list[Exam], int, int]:
    """The person's own quiz attempts, newest first: (rows, page, pages)."""
    where = (Enrolment.person_id == person.id,)
    joined = select(func.count()).select_from(QuizAttempt) \
        .join(SectionProgress, SectionProgress.id == QuizAttempt.progress_id) \
        .join(Enrolment, Enrolment.id == SectionProgress.enrolment_id)
    total = db.session.scalar(joined.where(*where)) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = db.session.execute(
        select(QuizAttempt, OnlineClass.title, ClassSection.title, Enrolment.id)
        .join(SectionProgress, SectionProgress.id == QuizAttempt.progress_id)
        .join(Enrolment, Enrolment.id == SectionProgress.enrolment_id)
        .join(OnlineClass, OnlineClass.id == Enrolment.class_id)
        .join(ClassSection, ClassSection.id == SectionProgress.section_id)
        .where(*where).order_by(QuizAttempt.submitted_at.desc(), QuizAttempt.id.desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return [Exam(a, ct, st, eid) for a, ct, st, eid in rows], page, pages
