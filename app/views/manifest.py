"""The web app manifest (/manifest.webmanifest): the platform added to a phone's home screen opens full screen on
its login page. Public, like the static files it names; the base template links it."""
from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, url_for

THEME_COLOUR = "#1f5fa8"  # the navbar's blue (app/static/app.css)

blueprint = Blueprint("manifest", __name__)


@blueprint.route("/manifest.webmanifest")
def webmanifest() -> Response:
    name = current_app.config["APP_NAME"]
    icons = [{"src": url_for("static", filename=f"icons/icon-{size}.png"), "sizes": f"{size}x{size}",
              "type": "image/png", "purpose": "any maskable"} for size in (192, 512)]
    body = {"name": name, "short_name": name, "lang": "zh-CN", "start_url": url_for("AuthView.login"),
            "scope": "/", "display": "standalone", "orientation": "portrait", "theme_color": THEME_COLOUR,
            "background_color": "#f5f7fa", "icons": icons}
    response = Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response
