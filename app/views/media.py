"""Lesson videos and class covers, to those `classes.may_view_media` allows: with HTTP range requests (Flask's
send_file, conditional) on the embedded server, or handed to the proxy (X-Accel-Redirect for nginx, X-Sendfile for
Apache) when LEARNING_SENDFILE says so."""
from __future__ import annotations

import os

from flask import Response, abort, current_app, send_file
from flask_appbuilder import BaseView, expose, has_access

from ..extensions import db
from ..models import Lesson, OnlineClass
from ..security import current_actor
from ..workflows import classes as flow

COVER_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


def _serve(path: str | None, kind: str, name: str, mimetype: str):
    if not path or not os.path.isfile(path):
        abort(404)
    mode = (current_app.config.get("LEARNING_SENDFILE") or "").strip().lower()
    if mode in ("nginx", "x-accel", "x-accel-redirect"):
        response = Response(status=200, mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = f"{current_app.config['LEARNING_ACCEL_PREFIX'].rstrip('/')}/{kind}/{name}"
    elif mode in ("apache", "x-sendfile"):
        response = Response(status=200, mimetype=mimetype)
        response.headers["X-Sendfile"] = os.path.abspath(path)
    else:
        response = send_file(path, mimetype=mimetype, conditional=True, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
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
        return _serve(flow.lesson_path(lesson), "videos", lesson.stored_name, lesson.content_type or "video/mp4")

    @expose("/cover/<int:class_id>")
    @has_access
    def cover(self, class_id):
        online_class = db.session.get(OnlineClass, class_id)
        if online_class is None or not online_class.cover_name:
            abort(404)
        if not flow.may_view_media(online_class, current_actor()):
            abort(404)
        ext = online_class.cover_name.rsplit(".", 1)[-1]
        return _serve(flow.cover_path(online_class), "covers", online_class.cover_name,
                      COVER_TYPES.get(ext, "application/octet-stream"))
