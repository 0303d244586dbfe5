"""X9 for the API: the delegations naming the token's membership as deputy. A request acts for the delegator when
it carries `X-On-Behalf-Of: <id>` (app/api/base.py); the review endpoints then decide as the web's 代理审核 switch
does, through the same workflow checks (deputies.permits), and the audit log says "A on behalf of B"."""
from __future__ import annotations

from flask import g
from flask_appbuilder import expose
from marshmallow import Schema, fields

from .. import clock
from ..workflows import delegation as flow
from .base import ApiBase, doc, endpoint, reply, require_view


class DelegationSchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "The value of the X-On-Behalf-Of header"})
    delegator = fields.String(required=True, metadata={"description": "Name with a masked 证件号"})
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    status = fields.String(required=True, metadata={"enum": ["active", "scheduled"],
                                                    "description": "active: usable today"})
    note = fields.String(allow_none=True)
    acting = fields.Boolean(required=True, metadata={"description": "This request acts under it"})


class DelegationListSchema(Schema):
    items = fields.List(fields.Nested(DelegationSchema), required=True)


class ApiDelegations(ApiBase):
    resource_name = "delegations"
    openapi_spec_tag = "review"

    @expose("", methods=["GET"])
    @endpoint()
    @doc("The delegations I may act under as a deputy (not ended, not revoked); send X-On-Behalf-Of: <id> with a "
         "review request to decide for the delegator", response=DelegationListSchema, errors=(401, 403))
    def received(self):
        require_view("DelegationView")  # the web page's permission: the reviewing admins
        today = clock.today()
        acting = g.get("delegation")
        items = [dict(id=d.id, delegator=flow.deputy_display(d.delegator), start_date=d.start_date,
                      end_date=d.end_date, status=d.status(today), note=d.note,
                      acting=acting is not None and acting.id == d.id)
                 for d in flow.received(g.membership)]
        return reply(200, DelegationListSchema().dump(dict(items=items)))
