"""/api/v1/auth: log in (the web login's own check: `accounts.authenticate`, with its lockout, its one message and
its audit; no captcha, the same rate limit), choose among several roles, refresh, log out, who am I."""
from __future__ import annotations

from flask import g, request
from flask_appbuilder import expose
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from marshmallow import Schema, fields, validate

from ..models import RoleName
from ..security import current_actor
from ..views.util import limit
from ..workflows import accounts, api_tokens
from .base import ApiBase, ApiError, doc, endpoint, load, reply

ROLE_VALUES = [r.value for r in RoleName]


class LoginSchema(Schema):
    role = fields.String(validate=validate.OneOf(ROLE_VALUES), allow_none=True,
                         metadata={"description": "The role to act in; without it an account holding several roles "
                                                  "is answered 409 with the list to choose from",
                                   "example": "Professional"})
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "证件号", "example": "110101199003071234"})
    password = fields.String(required=True, validate=validate.Length(min=1, max=128),
                             metadata={"example": "Secret#2026"})
    membership_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2 ** 31 - 1),
                                   metadata={"description": "One of the `choices` of a 409 answer"})


class RefreshSchema(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=200))


class LogoutSchema(Schema):
    refresh_token = fields.String(validate=validate.Length(max=200), allow_none=True)


class MembershipSchema(Schema):
    membership_id = fields.Integer(required=True, attribute="id")
    role = fields.String(required=True, metadata={"example": "Professional"})
    role_label = fields.Function(lambda m: str(m.role_label), required=True, metadata={"example": "专业技术人员"})
    org_id = fields.Integer(allow_none=True)
    org = fields.Function(lambda m: m.org.name if m.org else None, allow_none=True)


class TokenSchema(Schema):
    access_token = fields.String(required=True, metadata={"description": "Send as `Authorization: Bearer …`"})
    refresh_token = fields.String(required=True, metadata={"description": "Kept by the client; used once"})
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds", "example": 900})
    membership = fields.Nested(MembershipSchema, required=True)


class ChoiceSchema(Schema):
    error = fields.String(required=True)
    code = fields.String(required=True, metadata={"example": "choose_role"})
    choices = fields.List(fields.Nested(MembershipSchema), required=True)


class WhoAmISchema(Schema):
    account_id = fields.Integer(required=True)
    name = fields.String(required=True)
    must_change_password = fields.Boolean(required=True)
    membership = fields.Nested(MembershipSchema, required=True)


class OkSchema(Schema):
    ok = fields.Boolean(required=True)


def _tokens(pair: api_tokens.TokenPair) -> dict:
    return TokenSchema().dump(dict(access_token=pair.access_token, refresh_token=pair.refresh_token,
                                   token_type="Bearer", expires_in=pair.expires_in, membership=pair.membership))


class ApiAuth(ApiBase):
    resource_name = "auth"
    openapi_spec_tag = "auth"

    @expose("/login", methods=["POST"])
    @limit("LOGIN_RATE_LIMIT", methods=["POST"])
    @endpoint(auth=False)
    @doc("Log in with role, 证件号 and password", body=LoginSchema, response=TokenSchema,
         errors=(400, 401, 403, 409, 429),
         description="The web login's check: 5 failures (web and API together) lock the 证件号 for 30 minutes; "
                     "unknown account, wrong password and locked all answer 401 账号或密码错误. 403 when the "
                     "password is right but the role is not registered or still under review; 409 with `choices` "
                     "when the account holds several roles (or one role in several orgs) and none was chosen.")
    def login(self):
        data = load(LoginSchema)
        result = accounts.authenticate(data["id_number"], data["password"], data.get("role"),
                                       ip=request.remote_addr)
        if result.account is None:
            raise ApiError(401, result.error, "login_failed")
        if result.error:
            raise ApiError(403, result.error, "role_unavailable")
        chosen = result.memberships
        if data.get("membership_id"):
            chosen = [m for m in chosen if m.id == data["membership_id"]]
            if not chosen:
                raise ApiError(400, _l("Choose one of the offered roles."), "invalid",
                               {"membership_id": [str(_l("Choose one of the offered roles."))]})
        if len(chosen) > 1:
            return reply(409, ChoiceSchema().dump(dict(
                error=str(_l("Choose the role and organisation to act for.")), code="choose_role",
                choices=chosen)))
        return reply(200, _tokens(api_tokens.issue(chosen[0])))

    @expose("/refresh", methods=["POST"])
    @limit("LOGIN_RATE_LIMIT", methods=["POST"])
    @endpoint(auth=False)
    @doc("Exchange a refresh token for a new pair (the old refresh token stops working)", body=RefreshSchema,
         response=TokenSchema, errors=(400, 401, 429))
    def refresh(self):
        pair = api_tokens.refresh(load(RefreshSchema)["refresh_token"])
        if pair is None:
            raise ApiError(401, _l("The refresh token is invalid, expired or revoked. Please log in again."),
                           "invalid_token")
        return reply(200, _tokens(pair))

    @expose("/logout", methods=["POST"])
    @endpoint()
    @doc("Log out: every token and web session of the account ends", body=LogoutSchema, response=OkSchema,
         errors=(400, 401))
    def logout(self):
        data = load(LogoutSchema)
        api_tokens.logout(current_user._get_current_object(), current_actor(), data.get("refresh_token"))
        return reply(200, dict(ok=True))

    @expose("/me", methods=["GET"])
    @endpoint()
    @doc("The account and the role the token acts in", response=WhoAmISchema, errors=(401,))
    def whoami(self):
        account = current_user._get_current_object()
        return reply(200, WhoAmISchema().dump(dict(
            account_id=account.id, name=account.first_name, must_change_password=bool(account.must_change_password),
            membership=g.membership)))
