"""The REST API under /api/v1 (issue 12): FAB BaseApi views with marshmallow schemas, an apispec OpenAPI
document and bearer tokens (app.workflows.api_tokens). Every handler calls the workflow functions the web pages
call, with the same scope rules: the API adds no second copy of a rule."""
from __future__ import annotations


def register_api(appbuilder, app) -> None:
    from .auth import ApiAuth
    from .base import before_api_request
    from .delegations import ApiDelegations
    from .docs import ApiDocs, swagger_blueprint
    from .me import ApiMe
    from .review import ApiReview

    app.before_request(before_api_request)
    app.register_blueprint(swagger_blueprint())
    for view in (ApiAuth, ApiMe, ApiReview, ApiDelegations, ApiDocs):
        appbuilder.add_api(view)
