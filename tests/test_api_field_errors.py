"""The API's per-field refusals are said in Chinese: every message marshmallow can produce for the field types and
validators the schemas use is matched (real marshmallow errors, not copied wordings), and a wording unknown to the
platform becomes a general Chinese message instead of leaking English."""
from __future__ import annotations

import re

import pytest
from marshmallow import Schema, ValidationError, fields, validate

from app.api import field_errors, schemas

ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")
CJK = re.compile(r"[\u4e00-\u9fff]")


class Everything(Schema):
    """One field per type and validator the API's schemas use (and their neighbours)."""
    required = fields.String(required=True)
    nullable = fields.Integer(allow_none=False)
    integer = fields.Integer()
    number = fields.Decimal(as_string=True)
    text = fields.String()
    boolean = fields.Boolean()
    items = fields.List(fields.Integer())
    mapping = fields.Dict(keys=fields.String(validate=validate.Length(max=3)),
                          values=fields.String(validate=validate.Length(max=2)))
    when = fields.Date()
    moment = fields.DateTime()
    between = fields.Integer(validate=validate.Range(min=1990, max=2100))
    at_least = fields.Integer(validate=validate.Range(min=1))
    at_most = fields.Integer(validate=validate.Range(max=9))
    strict = fields.Integer(validate=validate.Range(min=1, max=9, min_inclusive=False, max_inclusive=False))
    length = fields.String(validate=validate.Length(min=2, max=4))
    shortest = fields.String(validate=validate.Length(min=2))
    exact = fields.String(validate=validate.Length(equal=3))
    choice = fields.String(validate=validate.OneOf(["approve", "reject"]))
    nested = fields.Nested(schemas.FileSchema)


BAD = {"nullable": None, "integer": "x", "number": "NaN", "text": 5, "boolean": "maybe", "items": ["a", 1],
       "mapping": {"long-key": "long value"}, "when": "2026-13-40", "moment": "yesterday", "between": 1800,
       "at_least": 0, "at_most": 10, "strict": 1, "length": "abcdef", "shortest": "a", "exact": "ab",
       "choice": "boss", "nested": {"id": "x"}, "surplus": 1}


def leaves(messages):
    if isinstance(messages, dict):
        for value in messages.values():
            yield from leaves(value)
    elif isinstance(messages, list):
        for value in messages:
            yield from leaves(value)
    else:
        yield messages


def test_every_marshmallow_message_of_every_field_is_chinese(app):
    with pytest.raises(ValidationError) as caught:
        Everything().load(BAD)
    raw = caught.value.normalized_messages()
    assert set(raw) == {*BAD, "required"}  # every field refused, the unknown one too
    with app.test_request_context():
        translated = field_errors.per_field(raw)
    said = list(leaves(translated))
    assert len(said) >= len(BAD)
    for message in said:  # the choices named are the API's own codes (approve, reject), the rest is Chinese
        assert CJK.search(message) and not ENGLISH_WORD.search(message.replace("approve, reject", "")), message
    assert translated["between"] == ["应在 1990 到 2100 之间。"]
    assert translated["required"] == ["此项为必填项。"]
    assert translated["choice"] == ["应为以下之一：approve, reject。"]
    assert translated["integer"] == ["应为整数。"]
    # nested messages are flattened to field paths, each a list of messages (the documented error body)
    assert {"items.0", "mapping.long-key.key", "mapping.long-key.value", "nested.id"} <= set(translated)
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in translated.values())


def test_unknown_wordings_do_not_leak_and_the_platforms_own_pass(app):
    with app.test_request_context():
        assert field_errors.translate("Something marshmallow says one day.") == "值无效。"
        assert field_errors.translate("年度应为 1990 到 2100") == "年度应为 1990 到 2100"
        assert field_errors.translate("12") == "12"


def test_an_endpoints_error_body_names_each_field_in_chinese(client):
    response = client.post("/api/v1/auth/login", json={"id_number": 1, "role": "Boss", "extra": True})
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "invalid" and CJK.search(body["error"])
    assert set(body["errors"]) >= {"id_number", "password", "role", "extra"}
    for message in leaves(body["errors"]):
        assert CJK.search(message) and not ENGLISH_WORD.search(message.split("：")[0]), message
