"""Marshmallow schemas of the API's answers (they dump the rows and describe them in the OpenAPI document)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..validators import mask_id_number


class LocalStamp(fields.Field):
    """A moment as the platform keeps it: local time of the platform's zone, no offset (2026-11-22T09:30:00)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value.strftime("%Y-%m-%dT%H:%M:%S") if value is not None else None


def Stamp(**kwargs):  # noqa: N802 - a field factory, used like a field class
    return LocalStamp(metadata={"type": "string", "format": "local-date-time", "example": "2026-11-22T09:30:00",
                                "description": "Local time of the platform, without an offset"}, **kwargs)


def DecimalText(**kwargs):  # noqa: N802
    """Hours or an amount as a decimal string ("12.5"): never a binary float."""
    return fields.Decimal(as_string=True, metadata={"type": "string", "example": "12.5"}, **kwargs)


def _label(attr: str):
    return fields.Function(lambda obj: str(getattr(obj, attr)) if getattr(obj, attr, None) is not None else None,
                           allow_none=True)


class TimelineSchema(Schema):
    at = Stamp(required=True)
    actor = fields.String(allow_none=True, metadata={"description": "Name with a masked 证件号"})
    on_behalf_of = fields.String(allow_none=True)
    action = fields.String(required=True, metadata={"example": "declaration.approve"})
    from_state = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    result = fields.String(required=True)
    comment = fields.String(allow_none=True)


class FileSchema(Schema):
    id = fields.Integer(required=True)
    filename = fields.String(required=True)
    content_type = fields.String(required=True)
    size = fields.Integer(required=True)


class ProfileSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    id_number = fields.String(required=True, metadata={"description": "In full: the person's own"})
    gender = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    unit_id = fields.Integer(allow_none=True)
    unit = fields.Function(lambda p: p.unit.name if p.unit else None, allow_none=True)
    department = fields.String(allow_none=True)
    education = fields.String(allow_none=True)
    school = fields.String(allow_none=True)
    major = fields.String(allow_none=True)
    degree = fields.String(allow_none=True)
    admin_post = fields.String(allow_none=True)
    title_series = fields.String(allow_none=True)
    title_level = fields.String(allow_none=True)
    title_name = fields.String(allow_none=True)
    title_date = fields.Date(allow_none=True)
    title_cert_no = fields.String(allow_none=True)
    mobile = fields.Function(lambda p: p.user.mobile if p.user else None, allow_none=True)
    email = fields.Function(lambda p: p.user.email if p.user else None, allow_none=True)


class TitleChangeSchema(Schema):
    id = fields.Integer(required=True)
    state = fields.String(required=True)
    state_label = _label("state_label")
    before = fields.Dict(required=True, metadata={"description": "Title fields before the change"})
    after = fields.Dict(required=True, metadata={"description": "Title fields asked for"})
    reason = fields.String(allow_none=True)
    created_at = Stamp(allow_none=True)
    decided_at = Stamp(allow_none=True)


class RegistrationSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    state = fields.String(required=True)
    state_label = _label("state_label")
    applicant_name = fields.String(required=True)
    org = fields.Function(lambda r: r.org.name, allow_none=True)
    reviewer_org = fields.Function(lambda r: r.reviewer_org.name, allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = Stamp(allow_none=True)
    decided_at = Stamp(allow_none=True)


class RegistrationProgressSchema(RegistrationSchema):
    timeline = fields.List(fields.Nested(TimelineSchema), required=True)


class DeclarationSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    subject = fields.String(required=True, metadata={"example": "professional"})
    subject_label = _label("subject_label")
    form_id = fields.Integer(required=True)
    form = fields.Function(lambda d: d.form.name if d.form else None, allow_none=True)
    year = fields.Integer(required=True)
    hours = DecimalText(required=True)
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    state = fields.String(required=True, metadata={"example": "pending_unit"})
    state_label = _label("state_label")
    reason = fields.String(allow_none=True)
    created_at = Stamp(allow_none=True)
    submitted_at = Stamp(allow_none=True)


class DeclarationDetailSchema(DeclarationSchema):
    details = fields.Dict(required=True, metadata={"description": "The learning form's own fields"})
    attachments = fields.List(fields.Nested(FileSchema), required=True)
    timeline = fields.List(fields.Nested(TimelineSchema), required=True)


class DeclarationInSchema(Schema):
    subject = fields.String(required=True, validate=validate.OneOf(["public", "professional"]))
    form_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2 ** 31 - 1))
    year = fields.Integer(required=True, validate=validate.Range(min=1990, max=2100))
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    hours = fields.String(required=True, validate=validate.Length(min=1, max=12),
                          metadata={"example": "12.5", "description": "Checked by the workflow as on the web form"})
    start_date = fields.Date(allow_none=True, load_default=None)
    end_date = fields.Date(allow_none=True, load_default=None)
    details = fields.Dict(keys=fields.String(validate=validate.Length(max=40)),
                          values=fields.String(validate=validate.Length(max=500)), load_default=dict)
    submit = fields.Boolean(load_default=False, metadata={"description": "Submit at once instead of a draft"})


class YearSchema(Schema):
    year = fields.Integer(required=True)
    public = DecimalText(required=True)
    professional = DecimalText(required=True)
    total = DecimalText(required=True)
    public_min = fields.Function(lambda r: str(r.standard.public_min) if r.standard else None, allow_none=True)
    professional_min = fields.Function(lambda r: str(r.standard.professional_min) if r.standard else None,
                                       allow_none=True)
    total_min = fields.Function(lambda r: str(r.standard.total_min) if r.standard else None, allow_none=True)
    passed = fields.Boolean(required=True, metadata={"description": "The year's standard is met"})


class RecordSchema(Schema):
    year = fields.Integer(required=True)
    subject = fields.String(required=True)
    subject_label = _label("subject_label")
    hours = DecimalText(required=True)
    title = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "declaration | base | online"})
    provider = fields.String(allow_none=True)
    credited_at = Stamp(allow_none=True)


class AnnualSchema(Schema):
    result = fields.Nested(YearSchema, required=True)
    records = fields.List(fields.Nested(RecordSchema), required=True)


class EnrolmentSchema(Schema):
    id = fields.Integer(required=True, attribute="enrolment.id")
    class_id = fields.Integer(required=True, attribute="item.id")
    title = fields.String(required=True, attribute="item.title")
    hours = DecimalText(allow_none=True, attribute="item.hours")
    state = fields.String(required=True, attribute="enrolment.state")
    percent = fields.Integer(required=True, metadata={"description": "Progress, 0-100"})
    enrolled_at = Stamp(allow_none=True, attribute="enrolment.enrolled_at")
    last_studied_at = Stamp(allow_none=True, attribute="enrolment.last_studied_at")
    completed_at = Stamp(allow_none=True, attribute="enrolment.completed_at")


class OrderSchema(Schema):
    id = fields.Integer(required=True)
    number = fields.String(required=True)
    class_id = fields.Integer(required=True)
    class_title = fields.Function(lambda o: o.online_class.title, allow_none=True)
    amount = DecimalText(required=True)
    state = fields.String(required=True)
    state_label = _label("state_label")
    created_at = Stamp(allow_none=True)
    paid_at = Stamp(allow_none=True)


# ------------------------------------------------------------------ the reviewer's side

class QueueItemSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"example": "declarations"})
    state = fields.String(required=True)
    state_label = fields.String(allow_none=True)
    applicant = fields.String(required=True, metadata={"description": "Name (the 证件号 is never in a list)"})
    summary = fields.String(allow_none=True)
    org = fields.String(allow_none=True)
    created_at = Stamp(allow_none=True)
    can_decide = fields.Boolean(required=True)


class QueueSchema(Schema):
    items = fields.List(fields.Nested(QueueItemSchema), required=True)
    next_after = fields.Integer(allow_none=True, metadata={"description": "Pass as `after` for the next page"})


class ChangeSchema(Schema):
    field = fields.String(required=True)
    label = fields.String(required=True)
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    changed = fields.Boolean(required=True)


class ItemDetailSchema(QueueItemSchema):
    changes = fields.List(fields.Nested(ChangeSchema), required=True,
                          metadata={"description": "Before / after of each field (what the decision changes)"})
    evidence = fields.List(fields.Nested(FileSchema), required=True)
    timeline = fields.List(fields.Nested(TimelineSchema), required=True)
    id_number = fields.String(allow_none=True, metadata={"description": "Masked"})


class DecisionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.String(validate=validate.Length(max=500), allow_none=True, load_default=None,
                           metadata={"description": "Required to reject"})


class BatchSchema(DecisionSchema):
    ids = fields.List(fields.Integer(validate=validate.Range(min=1, max=2 ** 31 - 1)), required=True,
                      validate=validate.Length(min=1, max=200))


class FailureSchema(Schema):
    id = fields.Integer(required=True)
    error = fields.String(required=True)


class BatchResultSchema(Schema):
    done = fields.Integer(required=True)
    failed = fields.List(fields.Nested(FailureSchema), required=True)


def masked(id_number: str | None) -> str | None:
    return mask_id_number(id_number) if id_number else None
