"""The OpenAPI 3 document of /api/v1, built with apispec from the marshmallow schemas and the `doc` of each
handler of our FAB API views (served at /api/v1/openapi.json, browsable at /api/v1/docs)."""
from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app

from .base import ERROR_CODES, ERROR_TEXT, ApiBase, ErrorSchema

_PARAM = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")


def _resolver(schema) -> str:
    cls = schema if isinstance(schema, type) else schema.__class__
    name = cls.__name__
    return name[:-6] if name.endswith("Schema") else name


def _parameters(url: str) -> list[dict]:
    params = []
    for converter, name in _PARAM.findall(url):
        schema = {"type": "integer", "minimum": 1, "maximum": 2 ** 31 - 1} if converter == "int" else {
            "type": "string"}
        if converter.startswith("any("):
            schema = {"type": "string", "enum": [v.strip(" \"'") for v in converter[4:-1].split(",")]}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _operation(info: dict, method: str, auth: bool, tag: str, params: list[dict]) -> dict:
    op: dict = {"summary": info["summary"], "tags": [tag], "responses": {}}
    if info.get("description"):
        op["description"] = info["description"]
    if params or info["query"]:
        op["parameters"] = params + info["query"]
    if info["body"] is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": info["body"]}}}
    elif info["multipart"]:
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": info["multipart"]}}}
    if info["files"]:
        ok = {"description": "The file", "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                                      for media in info["files"]}}
    else:
        ok = {"description": "OK"}
        if info["response"] is not None:
            ok["content"] = {"application/json": {"schema": info["response"]}}
            if info["example"] is not None:
                ok["content"]["application/json"]["example"] = info["example"]
    op["responses"][str(info["status"])] = ok
    errors = set(info["errors"]) | {400, 405, 413, 429}
    if auth:
        errors |= {401, 403}
        op["security"] = [{"bearer": []}, {"session": []}]
    else:
        op["security"] = []
    for code in sorted(errors):
        op["responses"][str(code)] = {"$ref": f"#/components/responses/E{code}"}
    return op


def build(appbuilder) -> dict:
    spec = APISpec(title="专技继续教育平台 API", version="v1", openapi_version="3.0.3",
                   info={"description": "REST API of the platform for the mobile app and scripts. Log in with "
                                        "POST /api/v1/auth/login, then send `Authorization: Bearer <access_token>`; "
                                        "every error is JSON `{\"error\": message, \"code\": code}`, the message "
                                        "in Chinese (`Accept-Language: en` for English). A deputy (代理审核) "
                                        "acts for a delegator by adding `X-On-Behalf-Of: <delegation id>` (the "
                                        "ids are listed by GET /api/v1/delegations); the decisions are recorded "
                                        "as taken on the delegator's behalf."},
                   servers=[{"url": current_app.config.get("APPLICATION_ROOT", "/").rstrip("/") or "/"}],
                   plugins=[MarshmallowPlugin(schema_name_resolver=_resolver)])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme("session", {"type": "apiKey", "in": "cookie", "name": "session",
                                                "description": "A web session; state-changing requests must "
                                                               "carry its CSRF token (X-CSRFToken)"})
    spec.components.schema("Error", schema=ErrorSchema)
    for code, text in {**ERROR_TEXT, 405: "Method not allowed"}.items():
        example = {"error": "…", "code": ERROR_CODES.get(code, str(code))}
        spec.components.response(f"E{code}", {"description": text, "content": {
            "application/json": {"schema": "Error", "example": example}}})
    for view in sorted((v for v in appbuilder.baseviews if isinstance(v, ApiBase)), key=lambda v: v.route_base):
        for name in sorted(dir(view)):
            func = getattr(view, name, None)
            if not hasattr(func, "_urls") or not hasattr(func, "_api_doc"):
                continue
            for url, methods in func._urls:
                path = view.path_helper(path=url)
                params = _parameters(url)
                operations = {m.lower(): _operation(func._api_doc, m, getattr(func, "_api_auth", True),
                                                    view.openapi_spec_tag or view.resource_name, params)
                              for m in methods}
                for op in operations.values():
                    op["operationId"] = f"{view.resource_name}_{name}"
                spec.path(path=path, operations=operations)
    return spec.to_dict()
