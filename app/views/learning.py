"""Online learning, the learner's side (P12, state machine 7): my class (outline with progress), the video player
and its heartbeats and pop-up questions, the section quizzes. The rules are in app/workflows/learning.py; these
views find the learner's own enrolment (another person's is not found) and show what the workflow says."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy.orm import joinedload

from ..authz import LEARNING_VIEW
from ..extensions import db
from ..models import ClassSection, Enrolment, Lesson, Question, QuestionKind
from ..security import current_actor
from ..workflows import learning as flow
from ..workflows.base import PermissionDenied
from .util import db_id, domain_errors


def _own_enrolment(enrolment_id) -> Enrolment | None:
    """The session's own enrolment, or None (another person's enrolment is not known to exist)."""
    enrolment_id = db_id(enrolment_id)
    enrolment = db.session.get(Enrolment, enrolment_id, options=[joinedload(Enrolment.person)]) if enrolment_id \
        else None
    if enrolment is None or enrolment.person.user_id != current_user.id:
        return None
    return enrolment


def _get(model, item_id):
    item_id = db_id(item_id)
    return db.session.get(model, item_id) if item_id else None


def _json(payload: dict, status: int = 200):
    """A JSON answer to the player, with a fresh CSRF token (a page left open longer than the token's life
    keeps working)."""
    response = jsonify({**payload, "csrf": generate_csrf()})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _player_call(act):
    """A call of the player's script: the posted JSON (or form) names the session's own enrolment; the workflow's
    answer, or its refusal, goes back as JSON."""
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else request.form.to_dict(flat=True)
    enrolment = _own_enrolment(data.get("enrolment_id"))
    if enrolment is None:
        return _json({"error": gettext("You can only study in your own enrolment.")}, 404)
    with domain_errors(quiet=True) as refused:
        return _json(act(enrolment, data))
    error = refused.error
    return _json({"error": str(error.message)}, 403 if isinstance(error, PermissionDenied) else 409)


KINDS = {kind.value: kind.label for kind in QuestionKind}


class LearningView(BaseView):
    route_base = "/learning"
    default_view = "my_class"
    class_permission_name = LEARNING_VIEW

    # ------------------------------------------------------------ my class: the outline with progress
    @expose("/class/<int:enrolment_id>")
    @has_access
    def my_class(self, enrolment_id):
        enrolment = _own_enrolment(enrolment_id)
        if enrolment is None:
            abort(404)
        outline = flow.outline(enrolment)
        return self.render_template("learning/my_class.html", outline=outline, title=outline.online_class.title)

    # ------------------------------------------------------------ the player
    @expose("/study/<int:enrolment_id>/<int:lesson_id>")
    @has_access
    def study(self, enrolment_id, lesson_id):
        enrolment = _own_enrolment(enrolment_id)
        if enrolment is None:
            abort(404)
        with domain_errors() as refused:
            page = flow.player(enrolment, _get(Lesson, lesson_id), current_actor())
        if refused.error:
            return redirect(url_for("LearningView.my_class", enrolment_id=enrolment.id))
        return self.render_template("learning/player.html", page=page, title=page.lesson.title)

    @expose("/beat", methods=["POST"])
    @has_access
    def beat(self):
        def beat(enrolment, data):
            lesson = flow.lesson_by_id(db_id(data.get("lesson_id")))
            return flow.heartbeat(enrolment, lesson, data.get("position"), current_actor()).as_json()
        return _player_call(beat)

    @expose("/popup", methods=["POST"])
    @has_access
    def popup(self):
        def answer(enrolment, data):
            choice = data.get("choice") if request.is_json else request.form.getlist("choice")
            result = flow.answer_popup(enrolment, _get(Question, data.get("question_id")), choice, current_actor())
            return {**result.beat.as_json(), "correct": result.correct, "message": result.message}
        return _player_call(answer)

    # ------------------------------------------------------------ the section quiz
    @expose("/quiz/<int:enrolment_id>/<int:section_id>", methods=["GET", "POST"])
    @has_access
    def quiz(self, enrolment_id, section_id):
        enrolment = _own_enrolment(enrolment_id)
        if enrolment is None:
            abort(404)
        section = _get(ClassSection, section_id)
        back = url_for("LearningView.my_class", enrolment_id=enrolment.id)
        actor = current_actor()
        with domain_errors() as refused:
            sheet = flow.start_quiz(enrolment, section, actor)
            if request.method == "POST":
                answers = {q["id"]: request.form.getlist(f"q{q['id']}") for q in sheet.questions}
                result = flow.submit_quiz(enrolment, section, answers, actor, request.form.get("attempt", ""))
                if result.class_completed:
                    flash(gettext("Class complete: its hours have been credited to your record."), "success")
                return self.render_template("learning/quiz.html", sheet=None, result=result, section=section,
                                            enrolment=enrolment, back=back, title=section.title, kinds=KINDS)
            return self.render_template("learning/quiz.html", sheet=sheet, result=None, section=section,
                                        enrolment=enrolment, back=back, title=section.title, kinds=KINDS)
        return redirect(back)
