"""B3 and state machine 6 for classes: a training base builds online classes (course → section → video lessons, a
quiz, pop-up questions), submits them to the HR bureau above it, which publishes or sends them back; the base
closes a published class. Videos and covers are checked by their content and stored outside the web root
(LEARNING_FOLDER); `may_view_media` is the one rule of who may fetch them.

Content is edited while a class is a draft or rejected; a published class may gain content, but loses none (no
course, section, lesson or question removed, no video replaced) once a learner has enrolled."""
from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import uuid
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from .. import clock
from ..extensions import db
from ..models import (SPECIALTIES, ClassCourse, ClassSection, ClassState, Enrolment, Lesson, LessonProgress,
                      OnlineClass, Org, OrgKind, Person, Question, QuestionKind, RoleName, Subject)
from ..models.learning import EnrolmentState, SectionProgress, SectionState
from .attachments import MAX_BYTES as COVER_MAX_BYTES, check_content, sniff
from .base import Actor, DomainError, PermissionDenied, StateMachine, Transition, audit, now, transaction

S = ClassState
BASE, HR = RoleName.BASE_ADMIN, RoleName.HR_ADMIN
NOT_FOUND = _l("Record not found.")
FFPROBE_TIMEOUT = 30  # seconds
MAX_HOURS = Decimal("500")
MAX_PRICE = Decimal("99999.99")
MAX_OPTIONS = 8
TRUE_FALSE = ["对", "错"]
VIDEO_TYPES = {"mp4": "video/mp4", "webm": "video/webm"}
EDITABLE = {S.DRAFT.value, S.REJECTED.value}


class ClassMachine(StateMachine):
    """draft → submit → pending → approve → published → close → closed; pending → reject (reason) → rejected →
    submit. The base admin of the class's base submits and closes; an HR admin covering the class's reviewing
    bureau (the base's parent) decides."""

    model = OnlineClass
    object_type = "online_class"
    initial = (S.DRAFT,)
    transitions = (
        Transition(S.DRAFT, "submit", S.PENDING, frozenset({BASE})),
        Transition(S.REJECTED, "submit", S.PENDING, frozenset({BASE})),
        Transition(S.PENDING, "approve", S.PUBLISHED, frozenset({HR})),
        Transition(S.PENDING, "reject", S.REJECTED, frozenset({HR})),
        Transition(S.PUBLISHED, "close", S.CLOSED, frozenset({BASE})),
    )

    def in_scope(self, item: OnlineClass, actor: Actor) -> bool:
        if actor.role == BASE:
            return is_own(item, actor)
        if actor.role == HR:
            return actor.covers(item.reviewer_org.path)
        return False

    def is_owner(self, item: OnlineClass, actor: Actor) -> bool:
        return False

    def check(self, item, action, actor, *, follows=False):
        transition = super().check(item, action, actor, follows=follows)
        if action == "submit":
            check_complete(item)
        return transition

    def resolve(self, item: OnlineClass, transition: Transition):
        if transition.action == "approve":
            return transition.target, {"published_at": now(), "reason": None}
        if transition.action == "submit":
            return transition.target, {"reason": None}
        return transition.target, {}

    def on_enter(self, item: OnlineClass, transition: Transition, actor: Actor, comment: str | None) -> None:
        if transition.action == "reject":
            item.reason = comment


machine = ClassMachine()


# ---------------------------------------------------------------- scope

def is_own(item: OnlineClass, actor: Actor) -> bool:
    return actor.role == BASE and bool(actor.org_id) and item.base_id == actor.org_id


def can_see(item: OnlineClass, actor: Actor) -> bool:
    """The base's admins see their own classes; an HR admin every class whose base lies in its subtree."""
    if is_own(item, actor):
        return True
    return actor.role == HR and actor.covers(item.base.path)


def get_class(actor: Actor, class_id: int | None, *, own: bool = False) -> OnlineClass:
    """A class the actor may see (with `own`: a class of the actor's own base); PermissionDenied otherwise, so
    a class of another base is as unknown as one that does not exist."""
    item = db.session.get(OnlineClass, class_id) if class_id and 0 < class_id < 2 ** 31 else None
    if item is None or not (is_own(item, actor) if own else can_see(item, actor)):
        raise PermissionDenied(NOT_FOUND)
    return item


def _owned(model, item_id: int | None, actor: Actor):
    """A course, section, lesson or question of the actor's own base, with its class."""
    item = db.session.get(model, item_id) if item_id and 0 < item_id < 2 ** 31 else None
    online_class = class_of(item) if item is not None else None
    if online_class is None or not is_own(online_class, actor):
        raise PermissionDenied(NOT_FOUND)
    return item, online_class


def class_of(item) -> OnlineClass | None:
    if isinstance(item, OnlineClass):
        return item
    if isinstance(item, ClassCourse):
        return item.online_class
    if isinstance(item, ClassSection):
        return item.course.online_class
    if isinstance(item, Lesson):
        return item.section.course.online_class
    if isinstance(item, Question):
        return class_of(item.section if item.section_id else item.lesson)
    return None


def get_course(actor, course_id):
    return _owned(ClassCourse, course_id, actor)


def get_section(actor, section_id):
    return _owned(ClassSection, section_id, actor)


def get_lesson(actor, lesson_id):
    return _owned(Lesson, lesson_id, actor)


def has_learners(online_class: OnlineClass) -> bool:
    return db.session.scalar(select(Enrolment.id).where(Enrolment.class_id == online_class.id).limit(1)) is not None


def may_view_media(online_class: OnlineClass, actor: Actor) -> bool:
    """Lesson videos and the cover: the class's base admins, HR admins covering the base, and learners enrolled in
    the class (an Enrolment of the acting person). The learner side reuses this rule."""
    if actor is None or actor.user_id is None:
        return False
    if can_see(online_class, actor):
        return True
    if actor.role != RoleName.PROFESSIONAL:
        return False
    return db.session.scalar(select(Enrolment.id).join(Person, Person.id == Enrolment.person_id).where(
        Enrolment.class_id == online_class.id, Person.user_id == actor.user_id).limit(1)) is not None


# ---------------------------------------------------------------- what may change

def _may_add(online_class: OnlineClass) -> None:
    """Content is added while the class is a draft, rejected or published (not while under review or closed)."""
    if online_class.state not in EDITABLE | {S.PUBLISHED.value}:
        raise DomainError(_l("The content of a class cannot be changed while it is under review or closed."))


def _may_edit(online_class: OnlineClass) -> None:
    if online_class.state not in EDITABLE:
        raise DomainError(_l("Only a draft or a rejected class can be edited."))


def _may_remove(online_class: OnlineClass) -> None:
    """A published class keeps everything once a learner has enrolled (their progress refers to it)."""
    if online_class.state == S.PUBLISHED.value:
        if has_learners(online_class):
            raise DomainError(_l("Learners have started this class: its courses, sections, lessons and questions "
                                 "can no longer be removed or replaced; you may only add content."))
        return
    _may_edit(online_class)


def _lock(online_class: OnlineClass) -> None:
    """Hold the class row for the edit (PostgreSQL), so a submit or an enrolment racing it waits."""
    db.session.execute(select(OnlineClass.id).where(OnlineClass.id == online_class.id).with_for_update())
    db.session.refresh(online_class)


def check_complete(online_class: OnlineClass) -> None:
    """A class goes to review only whole: at least one course, each with a section, each section with a video
    lesson and at least one quiz question."""
    if not online_class.courses:
        raise DomainError(_l("Add at least one course before submitting the class."))
    for course in online_class.courses:
        if not course.sections:
            raise DomainError(gettext("The course “%(title)s” has no section.", title=course.title))
        for section in course.sections:
            if not section.lessons:
                raise DomainError(gettext("The section “%(title)s” has no video lesson.", title=section.title))
            if not section.questions:
                raise DomainError(gettext("The section “%(title)s” has no quiz question.", title=section.title))


# ---------------------------------------------------------------- the class itself

TITLE_RE = re.compile(r"[<>]")


def _title(value: str | None, field: str = "title") -> str:
    value = (value or "").strip()
    if not (2 <= len(value) <= 100) or TITLE_RE.search(value):
        raise DomainError(_l("Enter a title of 2 to 100 characters without < or >."), field=field)
    return value


def _decimal(value, field: str, message) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(message, field=field) from None


def year_choices() -> list[int]:
    this_year = clock.today().year
    return [this_year + 1, this_year, this_year - 1]


def validate_info(data: dict) -> dict:
    """The class's fields, checked: title, track, specialty (专业 only), year, hours > 0, price >= 0, enrolment window
    start <= end, intro. Every problem is reported, each at its field (the first one's field is the error's)."""
    errors: list[tuple[str, str]] = []

    def refuse(field, message):
        errors.append((field, str(message)))

    clean = {}
    try:
        clean["title"] = _title(data.get("title"))
    except DomainError as exc:
        refuse("title", exc.message)
    track = data.get("track") or ""
    if track not in {s.value for s in Subject}:
        refuse("track", _l("Choose public or professional subjects."))
    clean["track"] = track
    specialty = (data.get("specialty") or "").strip()
    if track == Subject.PROFESSIONAL.value and specialty not in SPECIALTIES:
        refuse("specialty", _l("Choose the specialty of a professional class."))
    elif track == Subject.PUBLIC.value and specialty:
        refuse("specialty", _l("A public-subject class has no specialty."))
    clean["specialty"] = specialty or None
    year = data.get("year")
    if not isinstance(year, int) or year not in year_choices():
        refuse("year", gettext("The year must be between %(a)s and %(b)s.", a=min(year_choices()),
                               b=max(year_choices())))
    clean["year"] = year
    try:
        hours = _decimal(data.get("hours"), "hours", _l("Hours must be a number."))
        if not (0 < hours <= MAX_HOURS) or hours != hours.quantize(Decimal("0.1")):
            raise DomainError(gettext("The hours must be above 0 and at most %(max)s, with at most one decimal.",
                                      max=MAX_HOURS), field="hours")
        clean["hours"] = hours
    except DomainError as exc:
        refuse("hours", exc.message)
    try:
        price = _decimal(data.get("price"), "price", _l("The price must be a number."))
        if not (0 <= price <= MAX_PRICE) or price != price.quantize(Decimal("0.01")):
            raise DomainError(gettext("The price must be 0 (free) or more, at most %(max)s yuan, with at most two "
                                      "decimals.", max=MAX_PRICE), field="price")
        clean["price"] = price
    except DomainError as exc:
        refuse("price", exc.message)
    start, end = data.get("enrol_start"), data.get("enrol_end")
    if not isinstance(start, datetime.date):
        refuse("enrol_start", _l("Enter the first day of enrolment."))
    if not isinstance(end, datetime.date):
        refuse("enrol_end", _l("Enter the last day of enrolment."))
    if isinstance(start, datetime.date) and isinstance(end, datetime.date) and end < start:
        refuse("enrol_end", _l("The enrolment closes before it opens: the last day must not be before the first."))
    clean["enrol_start"], clean["enrol_end"] = start, end
    intro = (data.get("intro") or "").strip()
    if len(intro) > 5000:
        refuse("intro", _l("The introduction is at most 5000 characters."))
    clean["intro"] = intro
    if errors:
        exc = DomainError("；".join(m for _, m in errors), field=errors[0][0])
        exc.errors = errors
        raise exc
    return clean


def _base_of(actor: Actor) -> Org:
    if actor.role != BASE or not actor.org_id:
        raise PermissionDenied(_l("You do not have permission to do this."))
    base = db.session.get(Org, actor.org_id)
    if base is None or base.kind != OrgKind.BASE.value or base.state != "active" or base.parent is None:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return base


def create_class(actor: Actor, data: dict, cover: tuple[str, bytes] | None = None) -> OnlineClass:
    """A new draft class of the actor's base, reviewed later by the HR bureau above the base."""
    base = _base_of(actor)
    clean = validate_info(data)
    checked = check_cover(cover) if cover and cover[1] else None
    written = None
    try:
        with transaction():
            item = OnlineClass(base_id=base.id, reviewer_org_id=base.parent_id, **clean)
            if checked:
                item.cover_name, written = _write_cover(checked)
            machine.open(item, actor, action="create", comment=clean["title"], commit=False)
    except BaseException:
        _remove(written)
        raise
    return item


def update_class(actor: Actor, item: OnlineClass, data: dict, cover: tuple[str, bytes] | None = None) -> OnlineClass:
    if not is_own(item, actor):
        raise PermissionDenied(NOT_FOUND)
    _may_edit(item)
    clean = validate_info(data)
    checked = check_cover(cover) if cover and cover[1] else None
    written, old = None, item.cover_name
    try:
        with transaction():
            _lock(item)
            _may_edit(item)
            item.title, item.track, item.specialty, item.year = (clean["title"], clean["track"], clean["specialty"],
                                                                 clean["year"])
            item.hours, item.price, item.intro = clean["hours"], clean["price"], clean["intro"]
            item.enrol_start, item.enrol_end = clean["enrol_start"], clean["enrol_end"]
            if checked:
                item.cover_name, written = _write_cover(checked)
            audit(actor, "online_class.edit", object_type="online_class", object_id=item.id, comment=item.title)
    except BaseException:
        _remove(written)
        raise
    if checked and old:
        _remove(cover_path_of(old))
    return item


# ---------------------------------------------------------------- files

def folder(kind: str) -> str:
    path = os.path.join(current_app.config["LEARNING_FOLDER"], kind)
    os.makedirs(path, exist_ok=True)
    return path


def lesson_path(lesson: Lesson) -> str | None:
    return os.path.join(folder("videos"), lesson.stored_name) if lesson.stored_name else None


def cover_path_of(name: str | None) -> str | None:
    return os.path.join(folder("covers"), name) if name else None


def cover_path(online_class: OnlineClass) -> str | None:
    return cover_path_of(online_class.cover_name)


def _remove(path: str | None) -> None:
    if path and os.path.exists(path):
        os.remove(path)


def check_cover(cover: tuple[str, bytes]) -> tuple[str, bytes, str]:
    """(ext, data, content type) of a cover that decodes as a PNG or JPEG of at most 5 MB."""
    name, data = cover
    if len(data) > COVER_MAX_BYTES:
        raise DomainError(_l("The cover image is larger than 5 MB."), field="cover")
    if sniff(data):
        raise DomainError(_l("The cover must be a PNG or JPEG image."), field="cover")
    try:
        ext, content_type = check_content("cover", data)
    except DomainError:
        raise DomainError(_l("The cover must be a PNG or JPEG image."), field="cover") from None
    if ext not in ("png", "jpg"):
        raise DomainError(_l("The cover must be a PNG or JPEG image."), field="cover")
    return ext, data, content_type


def _write_cover(checked) -> tuple[str, str]:
    ext, data, _type = checked
    name = f"{uuid.uuid4().hex}.{ext}"
    path = cover_path_of(name)
    with open(path, "xb") as f:
        f.write(data)
    return name, path


def video_kind(head: bytes) -> str | None:
    """'mp4' for an ISO media file (an 'ftyp' box at offset 4), 'webm' for an EBML header whose doctype is webm."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        at = head.find(b"\x42\x82", 4, 64)  # the DocType element, then its size byte and the text
        if at != -1 and head[at + 3:at + 7] == b"webm":
            return "webm"
    return None


def probe(path: str) -> dict | None:
    """ffprobe's view of a file (format and streams), None when it cannot read it in time."""
    try:
        result = subprocess.run(
            ["ffprobe", "-v", "error", "-print_format", "json", "-show_entries",
             "format=duration,format_name:stream=codec_type", path],
            capture_output=True, timeout=FFPROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout or b"{}")
    except ValueError:
        return None


NOT_A_VIDEO = _l("The file is not a video that can be played: upload an MP4 or WebM video.")


def receive_video(stream, limit: int | None = None) -> tuple[str, str, int, float]:
    """Copy an uploaded video to a temporary file in the video folder while counting its bytes, then check it:
    the size cap, the content (MP4 or WebM header) and ffprobe's reading (a video stream, a duration). Returns
    (temporary path, kind, size, duration); the caller renames or removes the file. Nothing is left behind on a
    refusal."""
    limit = limit if limit is not None else current_app.config["VIDEO_MAX_BYTES"]
    tmp = os.path.join(folder("videos"), f".upload-{uuid.uuid4().hex}")
    size = 0
    try:
        with open(tmp, "xb") as out:
            while True:
                chunk = stream.read(1024 * 1024)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise DomainError(gettext("The video is larger than %(mb)s MB.", mb=limit // (1024 * 1024)),
                                      field="video")
                out.write(chunk)
        if size == 0:
            raise DomainError(_l("Choose a video file to upload."), field="video")
        with open(tmp, "rb") as f:
            kind = video_kind(f.read(64))
        if kind is None:
            raise DomainError(NOT_A_VIDEO, field="video")
        info = probe(tmp)
        streams = [s.get("codec_type") for s in (info or {}).get("streams", [])]
        fmt = (info or {}).get("format", {})
        try:
            duration = float(fmt.get("duration") or 0)
        except (TypeError, ValueError):
            duration = 0
        if info is None or "video" not in streams or not duration > 0 or kind not in fmt.get("format_name", ""):
            raise DomainError(NOT_A_VIDEO, field="video")
        return tmp, kind, size, round(duration, 2)
    except BaseException:
        _remove(tmp)
        raise


# ---------------------------------------------------------------- the catalogue

def _next_position(rows) -> int:
    return max((r.position for r in rows), default=0) + 1


def _audit_content(actor, action, online_class, comment):
    audit(actor, f"online_class.{action}", object_type="online_class", object_id=online_class.id, comment=comment)


def add_course(actor: Actor, online_class: OnlineClass, title: str) -> ClassCourse:
    if not is_own(online_class, actor):
        raise PermissionDenied(NOT_FOUND)
    title = _title(title)
    with transaction():
        _lock(online_class)
        _may_add(online_class)
        course = ClassCourse(class_id=online_class.id, title=title, position=_next_position(online_class.courses))
        db.session.add(course)
        _audit_content(actor, "add_course", online_class, title)
    return course


def _pass_mark(value) -> int:
    if not isinstance(value, int) or not 1 <= value <= 100:
        raise DomainError(_l("The pass mark is a whole number from 1 to 100."), field="pass_mark")
    return value


def add_section(actor: Actor, course: ClassCourse, title: str, pass_mark) -> ClassSection:
    course, online_class = _owned(ClassCourse, course.id, actor)
    title, pass_mark = _title(title), _pass_mark(pass_mark)
    with transaction():
        _lock(online_class)
        _may_add(online_class)
        section = ClassSection(course_id=course.id, title=title, pass_mark=pass_mark,
                               position=_next_position(course.sections))
        db.session.add(section)
        _audit_content(actor, "add_section", online_class, title)
    return section


def add_lesson(actor: Actor, section: ClassSection, title: str, stream) -> Lesson:
    """A video lesson: the file is received and checked first (nothing written on a refusal), then moved under a
    random name into the video folder as the row is added."""
    section, online_class = _owned(ClassSection, section.id, actor)
    title = _title(title)
    _may_add(online_class)
    tmp, kind, size, duration = receive_video(stream)
    stored = f"{uuid.uuid4().hex}.{kind}"
    final = os.path.join(folder("videos"), stored)
    try:
        with transaction():
            _lock(online_class)
            _may_add(online_class)
            lesson = Lesson(section_id=section.id, title=title, position=_next_position(section.lessons),
                            stored_name=stored, content_type=VIDEO_TYPES[kind], size=size, duration=duration)
            db.session.add(lesson)
            os.replace(tmp, final)
            _audit_content(actor, "add_lesson", online_class, f"{title} ({size} B, {duration} s)")
    except BaseException:
        _remove(tmp)
        _remove(final)
        raise
    return lesson


def parse_question(kind: str, text: str, options: list[str], correct: list[int]) -> tuple[str, list[str], list[int]]:
    """A question's kind, options and sorted correct indexes, checked: single / multiple / true-false, at least 2
    options (true-false: 对 / 错), at least one correct answer, exactly one for single and true-false."""
    if kind not in {k.value for k in QuestionKind}:
        raise DomainError(_l("Choose the kind of question."), field="kind")
    text = (text or "").strip()
    if not (2 <= len(text) <= 1000):
        raise DomainError(_l("Enter the question: 2 to 1000 characters."), field="text")
    if kind == QuestionKind.TRUE_FALSE.value:
        options = list(TRUE_FALSE)
    else:
        options = [(o or "").strip() for o in options]
        while options and not options[-1]:
            options.pop()
        if any(not o for o in options):
            raise DomainError(_l("Fill in the options in order, without gaps."), field="options")
        if len(options) < 2:
            raise DomainError(_l("A choice question needs at least 2 options."), field="options")
        if len(options) > MAX_OPTIONS or any(len(o) > 200 for o in options):
            raise DomainError(gettext("At most %(n)s options of at most 200 characters each.", n=MAX_OPTIONS),
                              field="options")
        if len(set(options)) != len(options):
            raise DomainError(_l("Two options are the same."), field="options")
    correct = sorted({c for c in correct if isinstance(c, int)})
    if not correct:
        raise DomainError(_l("Mark at least one correct answer."), field="correct")
    if any(not 0 <= c < len(options) for c in correct):
        raise DomainError(_l("A correct answer must be one of the options."), field="correct")
    if kind != QuestionKind.MULTIPLE.value and len(correct) != 1:
        raise DomainError(_l("A single-choice or true-false question has exactly one correct answer."),
                          field="correct")
    return kind, options, correct


def add_question(actor: Actor, section: ClassSection, kind: str, text: str, options: list[str],
                 correct: list[int], points=1) -> Question:
    """A quiz question of a section."""
    section, online_class = _owned(ClassSection, section.id, actor)
    kind, options, correct = parse_question(kind, text, options, correct)
    if not isinstance(points, int) or not 1 <= points <= 100:
        raise DomainError(_l("The points are a whole number from 1 to 100."), field="points")
    with transaction():
        _lock(online_class)
        _may_add(online_class)
        question = Question(section_id=section.id, kind=kind, text=text.strip(), points=points,
                            options_json=json.dumps(options, ensure_ascii=False), answer_json=json.dumps(correct),
                            position=_next_position(section.questions))
        db.session.add(question)
        _audit_content(actor, "add_question", online_class, text.strip()[:100])
    return question


def add_popup(actor: Actor, lesson: Lesson, at_second, kind: str, text: str, options: list[str],
              correct: list[int]) -> Question:
    """A question that pops up at a second of the lesson's video (within the video)."""
    lesson, online_class = _owned(Lesson, lesson.id, actor)
    kind, options, correct = parse_question(kind, text, options, correct)
    if not isinstance(at_second, int) or not 0 <= at_second < max(1, int(lesson.duration)):
        raise DomainError(gettext("The second must lie within the video (0 to %(n)s).",
                                  n=max(0, int(lesson.duration) - 1)), field="at_second")
    with transaction():
        _lock(online_class)
        _may_add(online_class)
        question = Question(lesson_id=lesson.id, at_second=at_second, kind=kind, text=text.strip(),
                            options_json=json.dumps(options, ensure_ascii=False), answer_json=json.dumps(correct))
        db.session.add(question)
        _audit_content(actor, "add_popup", online_class, f"{lesson.title} @{at_second}s")
    return question


REMOVABLE = {"course": ClassCourse, "section": ClassSection, "lesson": Lesson, "question": Question}


def remove_item(actor: Actor, online_class: OnlineClass, kind: str, item_id: int | None) -> None:
    """Remove a course, section, lesson or question (with what it holds) of the class: while a draft or rejected,
    or while published with no learner yet."""
    model = REMOVABLE.get(kind)
    if model is None:
        raise DomainError(_l("Unknown action."))
    item, owner = _owned(model, item_id, actor)
    if owner.id != online_class.id:
        raise PermissionDenied(NOT_FOUND)
    videos = []
    with transaction():
        _lock(online_class)
        _may_remove(online_class)
        lessons = ([item] if isinstance(item, Lesson) else item.lessons if isinstance(item, ClassSection)
                   else [l for s in item.sections for l in s.lessons] if isinstance(item, ClassCourse) else [])
        videos = [lesson_path(l) for l in lessons]
        title = getattr(item, "title", None) or getattr(item, "text", "")[:100]
        db.session.delete(item)
        _audit_content(actor, f"remove_{kind}", online_class, title)
    for path in videos:
        _remove(path)


def rename_item(actor: Actor, online_class: OnlineClass, kind: str, item_id: int | None, title: str,
                pass_mark=None) -> None:
    """Change the title of a course, section or lesson (and a section's pass mark): a draft or rejected class."""
    model = {"course": ClassCourse, "section": ClassSection, "lesson": Lesson}.get(kind)
    if model is None:
        raise DomainError(_l("Unknown action."))
    item, owner = _owned(model, item_id, actor)
    if owner.id != online_class.id:
        raise PermissionDenied(NOT_FOUND)
    title = _title(title)
    if kind == "section":
        pass_mark = _pass_mark(pass_mark)
    with transaction():
        _lock(online_class)
        _may_edit(online_class)
        item.title = title
        if kind == "section":
            item.pass_mark = pass_mark
        _audit_content(actor, f"edit_{kind}", online_class, title)


def catalogue(online_class: OnlineClass) -> OnlineClass:
    """The class with its whole catalogue loaded in a few statements."""
    return db.session.scalars(select(OnlineClass).where(OnlineClass.id == online_class.id).options(
        selectinload(OnlineClass.courses).selectinload(ClassCourse.sections).options(
            selectinload(ClassSection.lessons).selectinload(Lesson.popups),
            selectinload(ClassSection.questions)))).one()


def options_of(question: Question) -> list[str]:
    return json.loads(question.options_json or "[]")


def answer_of(question: Question) -> list[int]:
    return json.loads(question.answer_json or "[]")


# ---------------------------------------------------------------- transitions

def submit(actor: Actor, online_class: OnlineClass) -> OnlineClass:
    return machine.apply(online_class, "submit", actor)


def close(actor: Actor, online_class: OnlineClass) -> OnlineClass:
    return machine.apply(online_class, "close", actor)


def approve(actor: Actor, online_class: OnlineClass) -> OnlineClass:
    return machine.decide(online_class, "approve", actor)


def reject(actor: Actor, online_class: OnlineClass, reason: str | None) -> OnlineClass:
    return machine.decide(online_class, "reject", actor, reason)


def decide_many(ids: list[int], action: str, actor: Actor, reason: str | None = None):
    """The HR queue's batch approve / reject: one transaction, each class in a savepoint of its own
    (StateMachine._batch); (done, [(id, error)])."""
    return machine.decide_many(ids, action, actor, reason)


def can_decide(online_class: OnlineClass, actor: Actor) -> bool:
    return machine.can_decide(online_class, actor)


def may(online_class: OnlineClass, action: str, actor: Actor) -> bool:
    """Whether the page offers `action` (submit / close): the machine's table and who acts, without the
    completeness check that submit makes when it is asked."""
    transition = machine.table.get((online_class.state, action))
    return transition is not None and actor.role in transition.allowed and machine.in_scope(online_class, actor)


# ---------------------------------------------------------------- lists

def of_base(actor: Actor) -> list[OnlineClass]:
    if actor.role != BASE or not actor.org_id:
        return []
    return list(db.session.scalars(select(OnlineClass).where(OnlineClass.base_id == actor.org_id)
                                   .order_by(OnlineClass.id.desc()).limit(500)))


def queue(actor: Actor) -> list[OnlineClass]:
    """Classes waiting for this HR admin: pending, reviewed by a bureau in its subtree."""
    if actor.role != HR or not actor.scope_path:
        return []
    return list(db.session.scalars(
        select(OnlineClass).join(Org, Org.id == OnlineClass.reviewer_org_id)
        .options(selectinload(OnlineClass.base))
        .where(OnlineClass.state == S.PENDING.value, Org.path.startswith(actor.scope_path, autoescape=True))
        .order_by(OnlineClass.id).limit(200)))


def bases_in_region(actor: Actor) -> list[Org]:
    if actor.role != HR or not actor.scope_path:
        return []
    return list(db.session.scalars(select(Org).where(Org.kind == OrgKind.BASE.value,
                                                     Org.path.startswith(actor.scope_path, autoescape=True))
                                      .order_by(Org.name)))


def region_classes(actor: Actor, *, state: str = "", track: str = "", year: int | None = None,
                   base_id: int | None = None, limit: int = 500) -> list[tuple]:
    """Every class whose base lies in the HR admin's subtree, with its enrolment and completion counts:
    (class, base name, enrolled, completed)."""
    if actor.role != HR or not actor.scope_path:
        return []
    enrolled = (select(Enrolment.class_id, func.count(Enrolment.id).label("n"),
                       func.sum(case((Enrolment.state == EnrolmentState.COMPLETED.value, 1), else_=0)).label("done"))
                .group_by(Enrolment.class_id).subquery())
    stmt = (select(OnlineClass, Org.name, func.coalesce(enrolled.c.n, 0), func.coalesce(enrolled.c.done, 0))
            .join(Org, Org.id == OnlineClass.base_id)
            .outerjoin(enrolled, enrolled.c.class_id == OnlineClass.id)
            .where(Org.path.startswith(actor.scope_path, autoescape=True)))
    if state:
        stmt = stmt.where(OnlineClass.state == state)
    if track:
        stmt = stmt.where(OnlineClass.track == track)
    if year:
        stmt = stmt.where(OnlineClass.year == year)
    if base_id:
        stmt = stmt.where(OnlineClass.base_id == base_id)
    return list(db.session.execute(stmt.order_by(OnlineClass.id.desc()).limit(limit)).all())


def enrolment_rows(online_class: OnlineClass, after: int | None = None, limit: int = 500) -> list:
    """Each learner of the class: enrolment id, name, 证件号 (the caller masks it), enrolled at, progress % (the
    seconds credited, each lesson's capped at its duration, over the class's total duration), sections passed,
    completed at. Keyset pages by enrolment id."""
    lessons = (select(Lesson.id, Lesson.duration).join(ClassSection, ClassSection.id == Lesson.section_id)
               .join(ClassCourse, ClassCourse.id == ClassSection.course_id)
               .where(ClassCourse.class_id == online_class.id).subquery())
    total = db.session.scalar(select(func.coalesce(func.sum(lessons.c.duration), 0))) or 0
    watched = (select(func.coalesce(func.sum(case((LessonProgress.watched < lessons.c.duration,
                                                   LessonProgress.watched), else_=lessons.c.duration)), 0))
               .join(lessons, lessons.c.id == LessonProgress.lesson_id)
               .where(LessonProgress.enrolment_id == Enrolment.id).scalar_subquery())
    passed = (select(func.count(SectionProgress.id)).where(SectionProgress.enrolment_id == Enrolment.id,
                                                           SectionProgress.state == SectionState.PASSED.value)
              .scalar_subquery())
    stmt = (select(Enrolment.id, Person.name, Person.id_number, Enrolment.enrolled_at, watched.label("watched"),
                   passed.label("passed"), Enrolment.completed_at)
            .join(Person, Person.id == Enrolment.person_id)
            .where(Enrolment.class_id == online_class.id))
    if after:
        stmt = stmt.where(Enrolment.id > after)
    rows = db.session.execute(stmt.order_by(Enrolment.id).limit(limit)).all()
    return [(r.id, r.name, r.id_number, r.enrolled_at,
             min(100, int(float(r.watched or 0) * 100 / float(total))) if total else 0, r.passed, r.completed_at)
            for r in rows]


def section_count(online_class: OnlineClass) -> int:
    return db.session.scalar(select(func.count(ClassSection.id)).join(ClassCourse).where(
        ClassCourse.class_id == online_class.id)) or 0
