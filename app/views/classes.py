"""B3: a training base builds its online classes (info, catalogue, videos, quizzes, pop-up questions), submits
them and sees their learners; the HR bureau reviews them (state machine 6) and sees every class of its region.
The rules are in app/workflows/classes.py."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (DecimalField, FieldList, FileField, HiddenField, IntegerField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, Optional

from .. import clock
from ..models import SPECIALTIES, ClassState, QuestionKind, Subject
from ..models.hours import SUBJECT_LABELS
from ..security import current_actor
from ..validators import mask_id_number
from ..workflows import classes as flow
from .export import export_url, is_export, xlsx_response
from .forms import REQUIRED, ButtonForm, DecisionForm, _choice_int
from .input_filter import StudyDateField
from .util import N_, arg_choice, batch_decision, db_id, denied_as, domain_errors

OPTION_COUNT = 6
LETTERS = "ABCDEFGH"


class ClassForm(FlaskForm):
    title = StringField(_l("Class title"), validators=[DataRequired(REQUIRED), Length(max=100)])
    track = SelectField(_l("Track"), choices=[(s.value, SUBJECT_LABELS[s]) for s in Subject],
                        validators=[DataRequired(REQUIRED)])
    specialty = SelectField(_l("Specialty (professional classes)"),
                            choices=[("", _l("None (public subjects)"))] + [(s, s) for s in SPECIALTIES],
                            validate_choice=False)  # the workflow checks it against the track
    year = SelectField(_l("Counted in year"), coerce=_choice_int, validators=[DataRequired(REQUIRED)])
    hours = DecimalField(_l("Hours granted"), places=1, validators=[DataRequired(REQUIRED)])
    price = DecimalField(_l("Price (yuan, 0 = free)"), places=2, validators=[Optional()])
    enrol_start = StudyDateField(_l("Enrolment opens"), validators=[DataRequired(REQUIRED)])
    enrol_end = StudyDateField(_l("Enrolment closes"), validators=[DataRequired(REQUIRED)])
    intro = TextAreaField(_l("Introduction"), validators=[Optional(), Length(max=5000)])
    cover = FileField(_l("Cover image (PNG or JPEG, at most 5 MB)"))


class TitleForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(REQUIRED), Length(max=100)])


class SectionForm(TitleForm):
    pass_mark = IntegerField(_l("Pass mark (out of 100)"), default=60, validators=[DataRequired(REQUIRED)])


class LessonForm(TitleForm):
    video = FileField(_l("Video (MP4 or WebM)"))


class QuestionForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[(k.value, k.label) for k in QuestionKind],
                       validators=[DataRequired(REQUIRED)])
    text = TextAreaField(_l("Question"), validators=[DataRequired(REQUIRED), Length(max=1000)])
    options = FieldList(StringField(validators=[Optional(), Length(max=200)]), min_entries=OPTION_COUNT,
                        max_entries=OPTION_COUNT)
    correct = SelectMultipleField(_l("Correct answers"), coerce=_choice_int,
                                  choices=[(i, LETTERS[i]) for i in range(OPTION_COUNT)], validate_choice=False)
    points = IntegerField(_l("Points"), default=1, validators=[Optional()])


class PopupForm(QuestionForm):
    at_second = IntegerField(_l("Pops up at second"), validators=[DataRequired(REQUIRED)])


class ItemForm(FlaskForm):
    """Remove or rename one item of the catalogue (course, section, lesson, question)."""

    kind = HiddenField(validators=[DataRequired(REQUIRED)])
    item_id = HiddenField(validators=[DataRequired(REQUIRED)])
    title = StringField(validators=[Optional(), Length(max=100)])
    pass_mark = IntegerField(validators=[Optional()])


def _info(form: ClassForm) -> dict:
    return {"title": form.title.data, "track": form.track.data, "specialty": form.specialty.data,
            "year": form.year.data, "hours": form.hours.data,
            "price": form.price.data if form.price.data is not None else 0,
            "enrol_start": form.enrol_start.data, "enrol_end": form.enrol_end.data, "intro": form.intro.data}


def _cover():
    upload = request.files.get("cover")
    return (upload.filename or "", upload.read()) if upload and upload.filename else None


def _field_errors(form, exc) -> None:
    """Each of the workflow's field problems at its field (the flash says them all)."""
    for field, message in getattr(exc, "errors", [(exc.field, str(exc.message))]):
        target = getattr(form, field, None) if field else None
        if target is not None and message not in target.errors:
            target.errors = [*target.errors, message]


def _question_args(form: QuestionForm) -> tuple:
    return (form.kind.data, form.text.data, [o.data or "" for o in form.options],
            [c for c in (form.correct.data or []) if c is not None])


class ClassAdminView(BaseView):
    route_base = "/base/classes"
    default_view = "index"
    class_permission_name = "ClassAdminView"

    def _class(self, class_id):
        with denied_as(404):
            return flow.get_class(current_actor(), db_id(class_id), own=True)

    def _editor(self, online_class, **forms):
        actor = current_actor()
        online_class = flow.catalogue(online_class)
        return self.render_template(
            "classes/editor.html", c=online_class, button=ButtonForm(formdata=None),
            course_form=forms.get("course_form") or TitleForm(formdata=None, prefix="course"),
            section_form=SectionForm(formdata=None, prefix="section"),
            lesson_form=LessonForm(formdata=None, prefix="lesson"),
            question_form=QuestionForm(formdata=None, prefix="question"),
            popup_form=PopupForm(formdata=None, prefix="popup"),
            may_submit=flow.may(online_class, "submit", actor), may_close=flow.may(online_class, "close", actor),
            editable=online_class.state in flow.EDITABLE,
            may_add=online_class.state in flow.EDITABLE | {ClassState.PUBLISHED.value},
            learners=flow.has_learners(online_class), options_of=flow.options_of, answer_of=flow.answer_of,
            letters=LETTERS, title=online_class.title)

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("classes/index.html", rows=flow.of_base(current_actor()),
                                    title=_l("My classes"))

    def _form(self, form, online_class=None):
        form.year.choices = [(y, str(y)) for y in flow.year_choices()]
        if online_class is None and request.method == "GET":
            form.year.data = clock.today().year
        if form.validate_on_submit():
            with domain_errors() as refused:
                if online_class is None:
                    online_class = flow.create_class(current_actor(), _info(form), _cover())
                    flash(gettext("The class has been created as a draft: now add its courses."), "success")
                else:
                    flow.update_class(current_actor(), online_class, _info(form), _cover())
                    flash(gettext("The class has been saved."), "success")
                return redirect(url_for("ClassAdminView.show", class_id=online_class.id))
            _field_errors(form, refused.error)
        return self.render_template("classes/form.html", form=form, c=online_class,
                                    title=online_class.title if online_class else _l("New class"))

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def new(self):
        return self._form(ClassForm())

    @expose("/<int:class_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, class_id):
        online_class = self._class(class_id)
        form = ClassForm(obj=online_class) if request.method == "GET" else ClassForm()
        if request.method == "GET":
            form.specialty.data = online_class.specialty or ""
        return self._form(form, online_class)

    @expose("/<int:class_id>")
    @has_access
    def show(self, class_id):
        return self._editor(self._class(class_id))

    def _back(self, online_class, anchor: str = ""):
        return redirect(url_for("ClassAdminView.show", class_id=online_class.id) + anchor)

    @expose("/<int:class_id>/act", methods=["POST"])
    @has_access
    def act(self, class_id):
        online_class = self._class(class_id)
        if not ButtonForm().validate_on_submit():
            abort(400)
        action = request.form.get("action", "")
        with domain_errors(denied=404):
            if action == "submit":
                flow.submit(current_actor(), online_class)
                flash(gettext("The class has been submitted to %(org)s for review.",
                              org=online_class.reviewer_org.name), "success")
            elif action == "close":
                flow.close(current_actor(), online_class)
                flash(gettext("The class has been closed: it no longer takes enrolments."), "success")
            else:
                abort(400)
        return self._back(online_class)

    @expose("/<int:class_id>/courses", methods=["POST"])
    @has_access
    def add_course(self, class_id):
        online_class = self._class(class_id)
        form = TitleForm(prefix="course")
        if form.validate_on_submit():
            with domain_errors(form, denied=404):
                flow.add_course(current_actor(), online_class, form.title.data)
                flash(gettext("The course has been added."), "success")
        else:
            flash(gettext("Enter a title of 2 to 100 characters without < or >."), "danger")
        return self._back(online_class)

    @expose("/courses/<int:course_id>/sections", methods=["POST"])
    @has_access
    def add_section(self, course_id):
        with denied_as(404):
            course, online_class = flow.get_course(current_actor(), db_id(course_id))
        form = SectionForm(prefix="section")
        if form.validate_on_submit():
            with domain_errors(denied=404):
                flow.add_section(current_actor(), course, form.title.data, form.pass_mark.data)
                flash(gettext("The section has been added."), "success")
        else:
            _flash_invalid(form)
        return self._back(online_class, f"#course-{course.id}")

    @expose("/sections/<int:section_id>/lessons", methods=["POST"])
    @has_access
    def add_lesson(self, section_id):
        with denied_as(404):
            section, online_class = flow.get_section(current_actor(), db_id(section_id))
        form = LessonForm(prefix="lesson")
        upload = request.files.get("lesson-video")
        if form.validate_on_submit():
            with domain_errors(denied=404):
                if upload is None or not upload.filename:
                    raise flow.DomainError(_l("Choose a video file to upload."), field="video")
                flow.add_lesson(current_actor(), section, form.title.data, upload.stream)
                flash(gettext("The lesson has been added."), "success")
        else:
            _flash_invalid(form)
        return self._back(online_class, f"#section-{section.id}")

    @expose("/sections/<int:section_id>/questions", methods=["POST"])
    @has_access
    def add_question(self, section_id):
        with denied_as(404):
            section, online_class = flow.get_section(current_actor(), db_id(section_id))
        form = QuestionForm(prefix="question")
        if form.validate_on_submit():
            with domain_errors(denied=404):
                flow.add_question(current_actor(), section, *_question_args(form), points=form.points.data or 1)
                flash(gettext("The question has been added."), "success")
        else:
            _flash_invalid(form)
        return self._back(online_class, f"#section-{section.id}")

    @expose("/lessons/<int:lesson_id>/popups", methods=["POST"])
    @has_access
    def add_popup(self, lesson_id):
        with denied_as(404):
            lesson, online_class = flow.get_lesson(current_actor(), db_id(lesson_id))
        form = PopupForm(prefix="popup")
        if form.validate_on_submit():
            with domain_errors(denied=404):
                flow.add_popup(current_actor(), lesson, form.at_second.data, *_question_args(form))
                flash(gettext("The pop-up question has been added."), "success")
        else:
            _flash_invalid(form)
        return self._back(online_class, f"#lesson-{lesson.id}")

    @expose("/<int:class_id>/remove", methods=["POST"])
    @has_access
    def remove(self, class_id):
        online_class = self._class(class_id)
        form = ItemForm()
        if not form.validate_on_submit():
            abort(400)
        with domain_errors(denied=404):
            flow.remove_item(current_actor(), online_class, form.kind.data, db_id(form.item_id.data))
            flash(gettext("Removed."), "success")
        return self._back(online_class)

    @expose("/<int:class_id>/rename", methods=["POST"])
    @has_access
    def rename(self, class_id):
        online_class = self._class(class_id)
        form = ItemForm()
        if not form.validate_on_submit():
            _flash_invalid(form)
            return self._back(online_class)
        with domain_errors(denied=404):
            flow.rename_item(current_actor(), online_class, form.kind.data, db_id(form.item_id.data),
                             form.title.data, form.pass_mark.data)
            flash(gettext("The class has been saved."), "success")
        return self._back(online_class)

    @expose("/<int:class_id>/enrolments")
    @expose("/<int:class_id>/enrolments/export")
    @has_access
    def enrolments(self, class_id):
        online_class = self._class(class_id)
        labels = [_l("Name"), _l("ID number"), _l("Enrolled at"), _l("Progress (%)"), _l("Sections passed"),
                  _l("Completed at")]
        if is_export():
            from ..workflows.export import in_batches

            rows = in_batches(lambda after, n: flow.enrolment_rows(online_class, after, n), key=lambda r: r[0])
            return xlsx_response(f"{gettext('Learners')}-{online_class.title}", labels,
                                 ((r[1], mask_id_number(r[2]), r[3], r[4], r[5], r[6]) for r in rows))
        after = db_id(request.args.get("after"))
        rows = flow.enrolment_rows(online_class, after, 201)
        return self.render_template(
            "classes/enrolments.html", c=online_class, rows=rows[:200], mask=mask_id_number,
            next_after=rows[199][0] if len(rows) > 200 else None, sections=flow.section_count(online_class),
            export_url=export_url(f"/base/classes/{online_class.id}/enrolments/export"), labels=labels,
            title=_l("Learners"))


def _flash_invalid(form) -> None:
    problems = [f"{getattr(f.label, 'text', '')}: {' '.join(map(str, f.errors))}" for f in form if f.errors
                and f.name != "csrf_token"]
    if getattr(form, "csrf_token", None) is not None and form.csrf_token.errors:
        problems.insert(0, gettext("The form has expired. Please try again."))
    flash(" ".join(problems) or gettext("Invalid request."), "danger")


STATES = [(s.value, _l("Class closed") if s == ClassState.CLOSED else s.label) for s in ClassState]


class ClassReviewView(BaseView):
    route_base = "/review/classes"
    default_view = "index"
    class_permission_name = "ClassReviewView"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("classes/review.html", rows=flow.queue(current_actor()), form=DecisionForm(),
                                    title=_l("Class review"))

    @expose("/decide", methods=["POST"])
    @has_access
    def decide(self):
        batch_decision(flow.decide_many, none_selected=N_("Select at least one class."),
                       handled=N_("%(n)s class(es) handled."), failed_one=N_("Class %(id)s: %(msg)s"))
        return redirect(url_for("ClassReviewView.index"))

    def _class(self, class_id):
        with denied_as(404):
            return flow.get_class(current_actor(), db_id(class_id))

    @expose("/<int:class_id>")
    @has_access
    def show(self, class_id):
        online_class = flow.catalogue(self._class(class_id))
        return self.render_template("classes/review_show.html", c=online_class,
                                    can_decide=flow.can_decide(online_class, current_actor()),
                                    form=DecisionForm(formdata=None), options_of=flow.options_of,
                                    answer_of=flow.answer_of, letters=LETTERS, title=online_class.title)

    @expose("/<int:class_id>/decide", methods=["POST"])
    @has_access
    def decide_one(self, class_id):
        online_class = self._class(class_id)
        form = DecisionForm()
        if not form.validate_on_submit():
            abort(400)
        with domain_errors(denied=404) as refused:
            if form.action.data == "approve":
                flow.approve(current_actor(), online_class)
                flash(gettext("The class has been published."), "success")
            else:
                flow.reject(current_actor(), online_class, form.reason.data)
                flash(gettext("The class has been sent back to the base."), "success")
        if refused.error:
            return redirect(url_for("ClassReviewView.show", class_id=online_class.id))
        return redirect(url_for("ClassReviewView.index"))

    @expose("/all")
    @has_access
    def region(self):
        actor = current_actor()
        bases = flow.bases_in_region(actor)
        state = arg_choice("state", STATES)
        track = arg_choice("track", [(s.value, "") for s in Subject])
        years = flow.year_choices() + [min(flow.year_choices()) - 1]
        year = db_id(request.args.get("year"))
        year = year if year in years else None
        base_id = db_id(request.args.get("base"))
        base_id = base_id if base_id in {b.id for b in bases} else None
        rows = flow.region_classes(actor, state=state, track=track, year=year, base_id=base_id)
        return self.render_template("classes/region.html", rows=rows, bases=bases, states=STATES, state=state,
                                    track=track, tracks=[(s.value, SUBJECT_LABELS[s]) for s in Subject],
                                    years=years, year=year, base_id=base_id, title=_l("Classes in the region"))


UPLOAD_SLACK = 1024 * 1024  # the other fields of the lesson form and the multipart framing


def video_upload_limit() -> None:
    """The lesson upload's own body limit (the app's MAX_CONTENT_LENGTH is for evidence files and spreadsheets);
    the workflow refuses a video over VIDEO_MAX_BYTES with its own message while copying it."""
    if request.endpoint == "ClassAdminView.add_lesson":
        from flask import current_app

        request.max_content_length = current_app.config["VIDEO_MAX_BYTES"] + UPLOAD_SLACK
