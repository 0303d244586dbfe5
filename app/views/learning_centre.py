"""P12 班级中心 (the class centre and a class's page with its preview and 报名) and 学习中心 (the learner's
dashboard, 我的考试). The learner's own pages: every route names no person, the session's professional is used."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select

from .. import clock
from ..authz import CLASS_CENTRE_VIEW
from ..extensions import db
from ..models import SPECIALTIES, Person, Subject
from ..security import current_actor
from ..workflows import class_centre as centre_flow
from .forms import ButtonForm
from .util import db_id, denied_as, domain_errors, send_protected

TRACK_TABS = [(Subject.PUBLIC.value, _l("Public subjects")), (Subject.PROFESSIONAL.value, _l("Professional subjects"))]
QUERY_MAX = 50


def _person() -> Person:
    person = db.session.scalar(select(Person).where(Person.user_id == current_actor().user_id))
    if person is None:
        abort(403)
    return person


def _page_arg() -> int:
    return db_id(request.args.get("page")) or 1


def _filters() -> centre_flow.Filters:
    args = request.args
    track = args.get("track") if args.get("track") in centre_flow.TRACKS else Subject.PUBLIC.value
    specialty = args.get("specialty", "") if args.get("specialty") in SPECIALTIES else ""
    year = db_id(args.get("year"))
    this_year = clock.today().year
    year = year if year and this_year - 30 <= year <= this_year + 5 else None
    q = " ".join((args.get("q") or "").split())[:QUERY_MAX]
    return centre_flow.Filters(track, specialty, year, q, _page_arg())


def learner_class_url(enrolment_id: int) -> str:
    """The learner's own outline of a class (the learning engine's page)."""
    return url_for("LearningView.my_class", enrolment_id=enrolment_id)


def order_url(class_id: int) -> str:
    """Where 立即购买 posts: placing an order for a paid class (the orders' view)."""
    return url_for("OrderView.place", class_id=class_id)


def cover_url(class_id: int) -> str:
    return url_for("ClassCentreView.cover", class_id=class_id)


class ClassCentreView(BaseView):
    route_base = "/learning"
    default_view = "index"
    class_permission_name = CLASS_CENTRE_VIEW

    def _render(self, template: str, **context):
        return self.render_template(template, learner_class_url=learner_class_url, order_url=order_url,
                                    cover_url=cover_url, **context)

    # ------------------------------------------------------------ 班级中心
    @expose("/classes")
    @has_access
    def index(self):
        _person()
        filters = _filters()
        page = centre_flow.listing(filters)
        return self._render("class_centre/index.html", page=page, filters=filters, tabs=TRACK_TABS,
                            specialties=SPECIALTIES, title=_l("Class centre"))

    @expose("/classes/<int:class_id>")
    @has_access
    def detail(self, class_id):
        person = _person()
        with denied_as(404):
            info = centre_flow.class_page(class_id, person)
        seconds = current_app.config["PREVIEW_SECONDS"]
        length = gettext("%(n)s minutes", n=seconds // 60) if seconds % 60 == 0 else \
            gettext("%(n)s seconds", n=seconds)
        return self._render("class_centre/detail.html", info=info, form=ButtonForm(), preview_seconds=seconds,
                            preview_length=length, title=info.item.title)

    @expose("/classes/<int:class_id>/enrol", methods=["POST"])
    @has_access
    def enrol(self, class_id):
        person = _person()
        with domain_errors(denied=404):
            enrolment = centre_flow.enrol_free(class_id, person, current_actor())
            flash(gettext("You are enrolled in this class."), "success")
            return redirect(learner_class_url(enrolment.id))
        return redirect(url_for("ClassCentreView.detail", class_id=class_id))

    @expose("/preview/<int:class_id>")
    @has_access
    def preview(self, class_id):
        """The first lesson's preview, with range requests, to any professional (see class_centre.preview_file:
        the file served is cut at PREVIEW_SECONDS)."""
        person = _person()
        config = current_app.config
        with denied_as(404):
            path, mimetype = centre_flow.preview_of(class_id, person, config["LEARNING_FOLDER"],
                                                    config["PREVIEW_SECONDS"])
        return send_protected(path, "LEARNING_FOLDER", mimetype)

    @expose("/classes/<int:class_id>/cover")
    @has_access
    def cover(self, class_id):
        """A card's cover, to every professional for a published class (the media view serves covers only to the
        class's learners, its base and reviewers)."""
        person = _person()
        with denied_as(404):
            path = centre_flow.cover_of(class_id, person, current_app.config["LEARNING_FOLDER"])
        mimetype = "image/png" if path.lower().endswith(".png") else "image/jpeg"
        return send_protected(path, "LEARNING_FOLDER", mimetype, cache="private, max-age=3600")

    # ------------------------------------------------------------ 学习中心, 我的考试
    @expose("/centre")
    @has_access
    def centre(self):
        info = centre_flow.centre(_person())
        return self._render("class_centre/centre.html", info=info, title=_l("Learning centre"))

    @expose("/exams")
    @has_access
    def exams(self):
        rows, page, pages = centre_flow.exams(_person(), _page_arg())
        return self._render("class_centre/exams.html", rows=rows, page=page, pages=pages, title=_l("My exams"))
