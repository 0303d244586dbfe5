"""Online learning (P12, B3, state machine 7): a training base's classes (班级) hold courses, a course holds
sections, a section holds video lessons and a quiz; learners enrol (free) or order and pay; progress is kept
per learner per lesson (one row, updated by heartbeats), quiz attempts per section; a completed class credits
its hours once through the same path as approved declarations (HourRecord + YearSummary)."""
from __future__ import annotations

import datetime
import enum
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, Numeric, String, Text,
                        UniqueConstraint, func)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .account import Person
from .hours import HOURS
from .org import Org

MONEY = Numeric(10, 2)

# 专业 classes by specialty: the list learners pick from on seed 003's platform (报班缴费).
SPECIALTIES = ["卫生专业", "经济专业", "新闻专业", "播音专业", "高校教师", "中小学教师", "中等职业学校教师", "实验技术",
               "工程技术", "药品技术", "农业技术", "自然科学", "社会科学", "体育教练员", "党校教师", "技校教师",
               "工艺美术", "会计专业", "统计专业", "翻译专业", "律师专业", "公证员专业", "档案专业", "文学创作",
               "文物博物", "基层卫生技术", "图书资料", "法医技术", "群众文化", "艺术专业"]


class ClassState(str, enum.Enum):
    DRAFT = "draft"          # being built by the base
    PENDING = "pending"      # submitted, waiting for the HR bureau (state machine 6)
    PUBLISHED = "published"  # approved: in the class centre
    REJECTED = "rejected"    # sent back with a reason; editable, submitted again
    CLOSED = "closed"        # taken out of the class centre; enrolled learners keep studying

    @property
    def label(self):
        return CLASS_STATE_LABELS[self]


CLASS_STATE_LABELS = {
    ClassState.DRAFT: _l("Draft"),
    ClassState.PENDING: _l("Pending HR review"),
    ClassState.PUBLISHED: _l("Published"),
    ClassState.REJECTED: _l("Rejected"),
    ClassState.CLOSED: _l("Closed"),
}


class OnlineClass(Model):
    """A class (培训班) of a training base: track 公需 / 专业 (Subject), a specialty for 专业 classes, the year it
    counts for, the hours it grants, a price (0 = free) and an enrolment window."""

    __tablename__ = "online_class"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    base: Mapped[Org] = relationship(foreign_keys=[base_id])
    reviewer_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)  # the HR bureau above
    reviewer_org: Mapped[Org] = relationship(foreign_keys=[reviewer_org_id])
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    track: Mapped[str] = mapped_column(String(20), nullable=False)  # Subject value
    specialty: Mapped[str | None] = mapped_column(String(20))
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    price: Mapped[Decimal] = mapped_column(MONEY, nullable=False, default=0)
    enrol_start: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    enrol_end: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    intro: Mapped[str] = mapped_column(Text, nullable=False, default="")
    cover_name: Mapped[str | None] = mapped_column(String(80))  # stored file name of the cover image
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=ClassState.DRAFT.value)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    published_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    courses: Mapped[list["ClassCourse"]] = relationship(back_populates="online_class",
                                                        order_by="ClassCourse.position, ClassCourse.id",
                                                        cascade="all, delete-orphan")

    __table_args__ = (Index("ix_online_class_state_track_year", "state", "track", "year", "id"),
                      Index("ix_online_class_base", "base_id", "id"),
                      Index("ix_online_class_reviewer_state", "reviewer_org_id", "state", "id"))

    @property
    def free(self) -> bool:
        return not self.price

    def __repr__(self) -> str:
        return self.title


class ClassCourse(Model):
    __tablename__ = "class_course"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("online_class.id", ondelete="CASCADE"), nullable=False)
    online_class: Mapped[OnlineClass] = relationship(back_populates="courses")
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sections: Mapped[list["ClassSection"]] = relationship(back_populates="course",
                                                          order_by="ClassSection.position, ClassSection.id",
                                                          cascade="all, delete-orphan")

    __table_args__ = (Index("ix_class_course_class", "class_id", "position"),)

    def __repr__(self) -> str:
        return self.title


class ClassSection(Model):
    """A section (小节): its video lessons, then its quiz (pass mark in percent of the quiz's points)."""

    __tablename__ = "class_section"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("class_course.id", ondelete="CASCADE"), nullable=False)
    course: Mapped[ClassCourse] = relationship(back_populates="sections")
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pass_mark: Mapped[int] = mapped_column(Integer, nullable=False, default=60)
    lessons: Mapped[list["Lesson"]] = relationship(back_populates="section",
                                                   order_by="Lesson.position, Lesson.id",
                                                   cascade="all, delete-orphan")
    questions: Mapped[list["Question"]] = relationship(back_populates="section",
                                                       order_by="Question.position, Question.id",
                                                       cascade="all, delete-orphan")

    __table_args__ = (Index("ix_class_section_course", "course_id", "position"),)

    def __repr__(self) -> str:
        return self.title


class Lesson(Model):
    """A video lesson. The file is stored outside the web root (LEARNING_FOLDER) and served with range requests
    to enrolled learners, the base and its reviewers only."""

    __tablename__ = "lesson"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("class_section.id", ondelete="CASCADE"), nullable=False)
    section: Mapped[ClassSection] = relationship(back_populates="lessons")
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    stored_name: Mapped[str | None] = mapped_column(String(80), unique=True)
    content_type: Mapped[str | None] = mapped_column(String(40))  # video/mp4 | video/webm
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duration: Mapped[float] = mapped_column(Float, nullable=False, default=0)  # seconds, read from the file
    popups: Mapped[list["Question"]] = relationship(back_populates="lesson", order_by="Question.at_second",
                                                    cascade="all, delete-orphan")

    __table_args__ = (Index("ix_lesson_section", "section_id", "position"),)

    def __repr__(self) -> str:
        return self.title


class QuestionKind(str, enum.Enum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    TRUE_FALSE = "true_false"

    @property
    def label(self):
        return QUESTION_KIND_LABELS[self]


QUESTION_KIND_LABELS = {
    QuestionKind.SINGLE: _l("Single choice"),
    QuestionKind.MULTIPLE: _l("Multiple choice"),
    QuestionKind.TRUE_FALSE: _l("True or false"),
}


class Question(Model):
    """A quiz question of a section (section_id set), or a question that pops up in a lesson's video at a second
    (lesson_id and at_second set, section_id empty). options_json: ["A text", "B text", ...]; answer_json: sorted indexes of the correct options,
    never sent to the browser before the attempt is submitted."""

    __tablename__ = "question"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int | None] = mapped_column(ForeignKey("class_section.id", ondelete="CASCADE"))
    section: Mapped[ClassSection | None] = relationship(back_populates="questions")
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"))
    lesson: Mapped[Lesson | None] = relationship(back_populates="popups")
    at_second: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default=QuestionKind.SINGLE.value)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    options_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    answer_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    points: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __table_args__ = (Index("ix_question_section", "section_id", "position"),
                      Index("ix_question_lesson", "lesson_id", "at_second"))


class OrderState(str, enum.Enum):
    PENDING = "pending"      # 待支付
    PAID = "paid"            # 已支付 (the learner is enrolled)
    CANCELLED = "cancelled"  # 已取消
    REFUNDED = "refunded"    # 已退款

    @property
    def label(self):
        return ORDER_STATE_LABELS[self]


ORDER_STATE_LABELS = {
    OrderState.PENDING: _l("Awaiting payment"),
    OrderState.PAID: _l("Paid"),
    OrderState.CANCELLED: _l("Cancelled"),
    OrderState.REFUNDED: _l("Refunded"),
}


class ClassOrder(Model):
    """An order for a paid class. `number` is the merchant order number sent to the payment provider;
    `provider_ref` the provider's transaction id, unique, so a replayed callback finds the order already paid."""

    __tablename__ = "class_order"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    person: Mapped[Person] = relationship()
    class_id: Mapped[int] = mapped_column(ForeignKey("online_class.id"), nullable=False)
    online_class: Mapped[OnlineClass] = relationship()
    amount: Mapped[Decimal] = mapped_column(MONEY, nullable=False)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    provider_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=OrderState.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    paid_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_class_order_person", "person_id", "id"),
                      Index("ix_class_order_class_state", "class_id", "state"))


class EnrolmentState(str, enum.Enum):
    STUDYING = "studying"    # enrolled, learning
    COMPLETED = "completed"  # every course complete: hours credited (credited_record_id)

    @property
    def label(self):
        return ENROLMENT_STATE_LABELS[self]


ENROLMENT_STATE_LABELS = {EnrolmentState.STUDYING: _l("Studying"), EnrolmentState.COMPLETED: _l("Completed")}


class Enrolment(Model):
    """A learner in a class: one row per person and class (unique), from a free enrolment or a paid order."""

    __tablename__ = "enrolment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("online_class.id"), nullable=False)
    online_class: Mapped[OnlineClass] = relationship()
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    person: Mapped[Person] = relationship()
    order_id: Mapped[int | None] = mapped_column(ForeignKey("class_order.id"), unique=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=EnrolmentState.STUDYING.value)
    enrolled_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                           server_default=func.now())
    last_studied_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    credited_record_id: Mapped[int | None] = mapped_column(ForeignKey("hour_record.id"), unique=True)

    __table_args__ = (UniqueConstraint("class_id", "person_id", name="uq_enrolment_class_person"),
                      Index("ix_enrolment_person", "person_id", "last_studied_at"))


class LessonProgress(Model):
    """One row per learner per lesson, updated in place by heartbeats. `watched` is the furthest point (seconds)
    the server has credited: it grows by at most the wall-clock time between two heartbeats (`beat_at`), so a
    faster playback rate, two tabs or a forged heartbeat gain nothing. Complete when watched reaches the
    lesson's duration and every pop-up question is answered."""

    __tablename__ = "lesson_progress"
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id", ondelete="CASCADE"), primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), primary_key=True)
    watched: Mapped[float] = mapped_column(Float, nullable=False, default=0)
    beat_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    answered_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # pop-up question ids answered
    completed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class SectionState(str, enum.Enum):
    STUDYING = "studying"    # lessons not all watched yet
    QUIZ = "quiz"            # lessons done: the quiz is open (attempts left)
    PASSED = "passed"        # quiz passed: the next section is unlocked
    RESTUDY = "restudy"      # two failed attempts: the lessons are to be watched again before 2 new attempts

    @property
    def label(self):
        return SECTION_STATE_LABELS[self]


SECTION_STATE_LABELS = {
    SectionState.STUDYING: _l("Studying"),
    SectionState.QUIZ: _l("Quiz open"),
    SectionState.PASSED: _l("Passed"),
    SectionState.RESTUDY: _l("Study again"),
}


class SectionProgress(Model):
    """A learner's state in a section (state machine 7); `attempts` counts the quiz attempts of the current round
    (at most 2; a re-study starts a new round)."""

    __tablename__ = "section_progress"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id", ondelete="CASCADE"), nullable=False)
    enrolment: Mapped[Enrolment] = relationship()
    section_id: Mapped[int] = mapped_column(ForeignKey("class_section.id", ondelete="CASCADE"), nullable=False)
    section: Mapped[ClassSection] = relationship()
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=SectionState.STUDYING.value)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    round: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    passed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("enrolment_id", "section_id", name="uq_section_progress"),)


class QuizAttempt(Model):
    """One submitted quiz attempt: the answers given, the score and whether it passed. Unique per section progress,
    round and number, so a double submit cannot make a third attempt."""

    __tablename__ = "quiz_attempt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    progress_id: Mapped[int] = mapped_column(ForeignKey("section_progress.id", ondelete="CASCADE"), nullable=False)
    progress: Mapped[SectionProgress] = relationship()
    round: Mapped[int] = mapped_column(Integer, nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)  # 1 or 2 within the round
    answers_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    score: Mapped[int] = mapped_column(Integer, nullable=False)  # percent
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    submitted_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                            server_default=func.now())

    __table_args__ = (UniqueConstraint("progress_id", "round", "number", name="uq_quiz_attempt"),)


class PaymentNotice(Model):
    """Every payment callback received, kept whether accepted or refused (audit of the money path). `nonce` is
    unique: a replayed callback is refused before it is looked at."""

    __tablename__ = "payment_notice"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), nullable=False)
    nonce: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    order_number: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    outcome: Mapped[str] = mapped_column(String(40), nullable=False)
    received_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                           server_default=func.now())
