"""/api/v1/me: the professional's own profile, title change, registration and declaration progress with the
review timeline, declarations (draft, submit, withdraw, attachments), annual completion, certificates, classes
and orders. Nothing here names another person: every row is found through the token's own person."""
from __future__ import annotations

from flask import make_response, request
from flask_appbuilder import expose
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields
from sqlalchemy import select
from werkzeug.datastructures import CombinedMultiDict

from .. import clock
from ..authz import API_PROFESSIONAL_VIEW
from ..extensions import db
from ..models import Attachment, AuditLog, Declaration, Registration, TitleChange
from ..security import current_actor
from ..views.util import send_evidence
from ..workflows import annual, certificates, class_centre, evidence, orders, title_change as title_flow
from ..workflows import declaration as decl_flow
from ..workflows.attachments import path_of
from . import schemas as s
from .base import ApiBase, ApiError, doc, endpoint, load, not_found, reply, require_view


def timeline_of(object_type: str, object_id: int) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.object_type == object_type, AuditLog.object_id == object_id).order_by(AuditLog.id)))


def _person():
    require_view(API_PROFESSIONAL_VIEW, "can_access")
    return title_flow.person_of(current_actor())  # PermissionDenied (403) for anyone but a professional


def _own_declaration(declaration_id: int) -> Declaration:
    person = _person()
    item = db.session.get(Declaration, declaration_id)
    if item is None or item.person_id != person.id:
        raise not_found()
    return item


def _declaration_detail(item: Declaration) -> dict:
    files = list(db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id)
                                    .order_by(Attachment.id)))
    data = s.DeclarationDetailSchema().dump(item)
    data.update(attachments=s.FileSchema(many=True).dump(files),
                timeline=s.TimelineSchema(many=True).dump(decl_flow.timeline(item)))
    return data


def _files(name: str) -> list[tuple[str, bytes]]:
    return [(f.filename, f.read()) for f in request.files.getlist(name) if f and f.filename]


class TitleChangeForm(Schema):
    title_series = fields.String(metadata={"description": "One of the title series of the web form"})
    title_level = fields.String()
    title_name = fields.String()
    title_date = fields.Date()
    title_cert_no = fields.String()
    attachments = fields.List(fields.Raw(metadata={"type": "string", "format": "binary"}), required=True)


class AttachmentForm(Schema):
    attachments = fields.List(fields.Raw(metadata={"type": "string", "format": "binary"}), required=True)


class DeclarationListSchema(Schema):
    items = fields.List(fields.Nested(s.DeclarationSchema), required=True)


EVIDENCE_TYPES = ("image/png", "image/jpeg", "application/pdf")
STATE_QUERY = [{"name": "state", "in": "query", "required": False, "schema": {
    "type": "string", "enum": ["draft", "pending", "approved", "rejected", "withdrawn"]}}]


class ApiMe(ApiBase):
    resource_name = "me"
    openapi_spec_tag = "professional"

    @expose("", methods=["GET"])
    @endpoint()
    @doc("My profile (my own 证件号 in full)", response=s.ProfileSchema, errors=(401, 403))
    def profile(self):
        return reply(200, s.ProfileSchema().dump(_person()))

    @expose("/title-changes", methods=["GET"])
    @endpoint()
    @doc("My title change requests, newest first, with the before / after values", errors=(401, 403),
         response=s.TitleChangeSchema(many=True))
    def title_changes(self):
        person = _person()
        return reply(200, s.TitleChangeSchema(many=True).dump(title_flow.history(person)))

    @expose("/title-change", methods=["POST"])
    @endpoint()
    @doc("Ask my unit to change my professional title (the web form's fields and checks, with evidence files)",
         multipart=TitleChangeForm, response=s.TitleChangeSchema, status=201, errors=(400, 401, 403, 409))
    def title_change(self):
        from ..views.profile import TitleChangeForm as WebForm

        _person()
        form = WebForm(formdata=CombinedMultiDict([request.form, request.files]), meta={"csrf": False})
        if not form.validate():
            raise ApiError(400, _l("Please correct the marked fields."), "invalid",
                           {k: [str(m) for m in v] for k, v in form.errors.items()})
        values = {key: form[key].data for key in ("title_series", "title_level", "title_name", "title_date",
                                                  "title_cert_no")}
        item = title_flow.submit(current_actor(), values, _files("attachments"))
        return reply(201, s.TitleChangeSchema().dump(item))

    @expose("/registrations", methods=["GET"])
    @endpoint()
    @doc("My registrations and their review timeline", response=s.RegistrationProgressSchema(many=True),
         errors=(401, 403))
    def registrations(self):
        person = _person()
        rows = db.session.scalars(select(Registration).where(Registration.user_id == person.user_id)
                                  .order_by(Registration.id.desc()).limit(50))
        out = []
        for reg in rows:
            data = s.RegistrationSchema().dump(reg)
            data["timeline"] = s.TimelineSchema(many=True).dump(timeline_of("registration", reg.id))
            out.append(data)
        return reply(200, out)

    @expose("/declarations", methods=["GET"])
    @endpoint()
    @doc("My hour declarations, newest first", response=DeclarationListSchema, query=STATE_QUERY,
         errors=(401, 403))
    def declarations(self):
        _person()
        state = request.args.get("state") or None
        if state not in (None, *STATE_QUERY[0]["schema"]["enum"]):
            raise ApiError(400, _l("The request could not be understood."), "invalid", {"state": ["?"]})
        rows = decl_flow.mine(current_actor(), state)
        return reply(200, dict(items=s.DeclarationSchema(many=True).dump(rows)))

    @expose("/declarations", methods=["POST"])
    @endpoint()
    @doc("Declare hours: a draft, or submitted at once with `submit: true` (the web's checks: caps, dates, form)",
         body=s.DeclarationInSchema, response=s.DeclarationDetailSchema, status=201, errors=(400, 401, 403))
    def declare(self):
        _person()
        data = load(s.DeclarationInSchema)
        item = decl_flow.save(current_actor(), decl_flow.DeclarationInput(
            data["subject"], data["form_id"], data["year"], data["title"], data["hours"], data["start_date"],
            data["end_date"], data["details"]), submit=data["submit"])
        return reply(201, _declaration_detail(item))

    @expose("/declarations/<int:declaration_id>", methods=["GET"])
    @endpoint()
    @doc("One of my declarations with its attachments and review timeline", response=s.DeclarationDetailSchema,
         errors=(401, 403, 404))
    def declaration(self, declaration_id):
        return reply(200, _declaration_detail(_own_declaration(declaration_id)))

    @expose("/declarations/<int:declaration_id>/submit", methods=["POST"])
    @endpoint()
    @doc("Submit a draft (or a rejected declaration) for review", response=s.DeclarationDetailSchema,
         errors=(400, 401, 403, 404, 409))
    def submit(self, declaration_id):
        item = decl_flow.submit(_own_declaration(declaration_id), current_actor())
        return reply(200, _declaration_detail(item))

    @expose("/declarations/<int:declaration_id>/withdraw", methods=["POST"])
    @endpoint()
    @doc("Withdraw a declaration still under review", response=s.DeclarationDetailSchema,
         errors=(400, 401, 403, 404, 409))
    def withdraw(self, declaration_id):
        item = decl_flow.withdraw(_own_declaration(declaration_id), current_actor())
        return reply(200, _declaration_detail(item))

    @expose("/declarations/<int:declaration_id>/attachments", methods=["POST"])
    @endpoint()
    @doc("Add evidence files to a draft or rejected declaration (PNG, JPEG or PDF; the web's size and content "
         "checks)", multipart=AttachmentForm, response=s.DeclarationDetailSchema, status=201,
         errors=(400, 401, 403, 404, 409))
    def attachments(self, declaration_id):
        item = _own_declaration(declaration_id)
        files = _files("attachments")
        if not files:
            raise ApiError(400, _l("Choose at least one file."), "invalid", {"attachments": ["?"]})
        item = decl_flow.save(current_actor(), decl_flow.DeclarationInput(
            item.subject, item.form_id, item.year, item.title, item.hours, item.start_date, item.end_date,
            item.details), item.id, attachments=files)
        return reply(201, _declaration_detail(item))

    @expose("/declarations/<int:declaration_id>/attachments/<int:file_id>", methods=["GET"])
    @endpoint()
    @doc("Download an evidence file of one of my declarations", files=EVIDENCE_TYPES, errors=(401, 403, 404))
    def attachment(self, declaration_id, file_id):
        item = _own_declaration(declaration_id)
        row = evidence.declaration_file(file_id, current_actor())
        if row is None or row.declaration_id != item.id:
            raise not_found()
        return send_evidence(row, path_of(row))

    @expose("/annual/<int:year>", methods=["GET"])
    @endpoint()
    @doc("My completion of a year against its standard, with the credited records", response=s.AnnualSchema,
         errors=(401, 403, 404))
    def annual(self, year):
        person = _person()
        if year > clock.today().year or year < 1990:
            raise not_found()
        return reply(200, dict(result=s.YearSchema().dump(annual.year_result(person, year)),
                           records=s.RecordSchema(many=True).dump(annual.records(person, year))))

    @expose("/certificates/<int:year>/<any(completion, register):kind>", methods=["POST"])
    @endpoint()
    @doc("My certificate of a year as a PDF (issued once, then the same number): `completion` (学时证明) or "
         "`register` (学时登记表). POST because the first call issues the certificate", files=("application/pdf",),
         errors=(400, 401, 403, 404))
    def certificate(self, year, kind):
        person = _person()
        if year > clock.today().year or year < 1990:
            raise not_found()
        cert = certificates.issue(person, year, kind, current_actor())
        response = make_response(certificates.render_pdf(cert))
        response.headers["Content-Type"] = "application/pdf"
        response.headers["Content-Disposition"] = f'attachment; filename="{cert.number}.pdf"'
        return response

    @expose("/classes", methods=["GET"])
    @endpoint()
    @doc("My online classes with their progress (学习中心)", response=s.EnrolmentSchema(many=True),
         errors=(401, 403))
    def classes(self):
        person = _person()
        centre = class_centre.centre(person)
        rows = {row.enrolment.id: row for row in centre.in_progress + centre.recent}
        return reply(200, s.EnrolmentSchema(many=True).dump(list(rows.values())))

    @expose("/orders", methods=["GET"])
    @endpoint()
    @doc("My orders of paid classes (我的订单)", response=s.OrderSchema(many=True), errors=(401, 403))
    def orders(self):
        _person()
        return reply(200, s.OrderSchema(many=True).dump(orders.mine(current_actor())))
