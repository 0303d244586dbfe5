"""Lesson videos and class covers, to those `classes.may_view_media` allows: with HTTP range requests (Flask's
send_file, conditional) on the embedded server, or handed to the proxy (X-Accel-Redirect for nginx, X-Sendfile for
Apache) when SENDFILE says so (views/util.send_protected)."""
from __future__ import annotations

from flask import abort
from flask_appbuilder import BaseView, expose, has_access

from ..extensions import db
from ..models import Lesson, OnlineClass
from ..security import current_actor
from ..workflows import classes as flow
from .util import send_protected

COVER_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


def _serve(path: str | None, mimetype: str):
    response = send_protected(path, "LEARNING_FOLDER", mimetype)
    response.headers["Accept-Ranges"] = "bytes"
    return response


class LessonMediaView(BaseView):
    route_base = "/learning/media"
    class_permission_name = "LessonMediaView"

    @expose("/lesson/<int:lesson_id>")
    @has_access
    def video(self, lesson_id):
        lesson = db.session.get(Lesson, lesson_id)
        if lesson is None or not lesson.stored_name:
            abort(404)
        if not flow.may_view_media(flow.class_of(lesson), current_actor()):
            abort(404)
        return _serve(flow.lesson_path(lesson), lesson.content_type or "video/mp4")

    @expose("/cover/<int:class_id>")
    @has_access
    def cover(self, class_id):
        online_class = db.session.get(OnlineClass, class_id)
        if online_class is None or not online_class.cover_name:
            abort(404)
        if not flow.may_view_media(online_class, current_actor()):
            abort(404)
        ext = online_class.cover_name.rsplit(".", 1)[-1]
        return _serve(flow.cover_path(online_class), COVER_TYPES.get(ext, "application/octet-stream"))
