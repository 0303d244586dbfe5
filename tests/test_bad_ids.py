"""Ids beyond an INTEGER column, in URLs, query strings and forms, name nothing: never a server error.

Generated from the URL map: every route is requested by a role allowed to use it, with every id parameter (path,
`after`, posted `ids`) set to a number no row can have."""
from __future__ import annotations

from tests.access_policy import RESTRICTED, SELF_SERVICE
from tests.helpers import client_as

HUGE = "99999999999999999999"
ROLE_ORDER = ["HRAdmin", "UnitAdmin", "DeptAdmin", "Support", "SysAdmin", "Auditor", "Professional", "BaseAdmin"]


def _id_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.endswith("static") or rule.endpoint.startswith("MenuApi"):
            continue
        allowed = RESTRICTED.get(rule.endpoint)
        if allowed is None and rule.endpoint not in SELF_SERVICE:
            continue  # public pages take no row ids in their paths
        role = next((r for r in ROLE_ORDER if allowed is None or r in allowed), None)
        if role is None:
            continue
        id_args = [a for a in rule.arguments if a in ("pk",) or a.endswith("_id")]
        yield rule, role, id_args


def test_huge_ids_are_not_found_or_refused(app, matrix):
    checked = 0
    for rule, role, id_args in _id_routes(app):
        client, token = client_as(app, matrix, role)
        if id_args:
            path = rule.rule
            for arg in rule.arguments:
                value = HUGE if arg in id_args else "x"
                path = path.replace(f"<int:{arg}>", value).replace(f"<{arg}>", value) \
                           .replace(f"<string:{arg}>", value)
            if "<" in path:
                continue
        else:
            path = rule.rule
            if "<" in path:
                continue
            path += f"?after={HUGE}&back={HUGE}"
        for method in sorted(rule.methods & {"GET", "POST"}):
            if method == "GET":
                response = client.get(path)
            else:
                response = client.post(path, data={"csrf_token": token, "ids": HUGE, "action": "approve",
                                                   "reason": "x", "to_unit_id": HUGE, "person_id": HUGE,
                                                   "parent_id": HUGE, "source_id": HUGE, "target_id": HUGE})
            assert response.status_code < 500, f"{method} {path} as {role}: {response.status_code}"
            checked += 1
    assert checked > 50
