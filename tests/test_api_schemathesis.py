"""Schemathesis (from PyPI) against the served OpenAPI document (/api/v1/openapi.json), in process through the WSGI
app: every operation, with generated requests, as a professional and as a unit admin. No answer is a server error
and every answer conforms to the document (status code, content type, body schema). The number of examples per
operation is bounded (API_FUZZ_EXAMPLES, default 15) so that the run stays under a minute."""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from tests.helpers import make_change, make_declaration, make_person

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SKIPPED = {("POST", "/api/v1/auth/logout")}  # would end the run's own token; tests/test_api.py covers it


def _token(client, account, role: str) -> str:
    from tests import factories

    response = client.post("/api/v1/auth/login", json={"role": role, "id_number": account.username,
                                                      "password": factories.PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@pytest.mark.parametrize("role", ["Professional", "UnitAdmin"])
def test_every_operation_answers_as_documented(app, fast_world, role):
    pro = make_person("模糊测试医生", fast_world.unit)
    make_declaration(fast_world, pro)
    make_change(fast_world, pro)
    account = pro if role == "Professional" else fast_world.unit_admin
    client = app.test_client()
    headers = {"Authorization": f"Bearer {_token(client, account, role)}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 22  # every route of ApiAuth, ApiMe and ApiReview
    tried = 0
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        check()
        tried += 1
    assert tried == len(operations) - len(SKIPPED)
