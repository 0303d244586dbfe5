"""The OpenAPI document and its browsable page (Swagger UI from the npm package swagger-ui-dist, served by the
platform itself: no CDN)."""
from __future__ import annotations

import os

from flask import Blueprint, current_app, render_template_string
from flask_appbuilder import expose

from .base import ApiBase, reply
from .spec import build

SWAGGER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "node_modules", "swagger-ui-dist")

PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>专技继续教育平台 API</title>
<link rel="stylesheet" href="{{ url_for('swagger_ui.static', filename='swagger-ui.css') }}"></head>
<body><main id="swagger-ui"></main>
<script src="{{ url_for('swagger_ui.static', filename='swagger-ui-bundle.js') }}"></script>
<script nonce="{{ csp_nonce() }}">
window.ui = SwaggerUIBundle({url: "{{ url_for('ApiDocs.openapi') }}", dom_id: "#swagger-ui", deepLinking: true,
                             validatorUrl: null});
</script></body></html>"""


def swagger_blueprint() -> Blueprint:
    """/static/vendor/swagger-ui/…: the package's files (endpoint "swagger_ui.static")."""
    return Blueprint("swagger_ui", __name__, static_folder=SWAGGER_DIR, static_url_path="/static/vendor/swagger-ui")


class ApiDocs(ApiBase):
    resource_name = "docs"
    route_base = "/api/v1"

    @expose("/openapi.json", methods=["GET"])
    def openapi(self):
        """The OpenAPI 3 document of every /api/v1 endpoint (public, like the login)."""
        return reply(200, build(current_app.appbuilder))

    @expose("/docs", methods=["GET"])
    def ui(self):
        """The browsable documentation."""
        return render_template_string(PAGE)
