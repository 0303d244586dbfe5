"""H7: the yearly standards and the learning-form catalogue, edited by the HR bureau.

The catalogue is platform-wide: only a city HR bureau edits it. A district bureau edits its own region's
standards; the city bureau edits any."""
from __future__ import annotations

import json

from flask import abort
from flask_appbuilder.models.sqla.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import DataRequired, NumberRange, ValidationError

from ..models import AnnualStandard, LearningForm, OrgKind
from ..models.hours import FORM_GROUPS
from ..security import current_membership
from ..workflows.declaration import FIELDS
from . import labels
from .admin import AppModelView


def _hr_org():
    membership = current_membership()
    org = membership.org if membership else None
    if org is None or org.kind not in (OrgKind.HR_CITY.value, OrgKind.HR_DISTRICT.value):
        return None
    return org


def _is_city() -> bool:
    org = _hr_org()
    return org is not None and org.kind == OrgKind.HR_CITY.value


class OwnRegionFilter(BaseFilter):
    """A district bureau sees its region's standards and the defaults; a city bureau sees all."""

    name = "own region"
    arg_name = None

    def apply(self, query, value):
        if _is_city():
            return query
        org = _hr_org()
        region = org.region_id if org else -1
        return query.filter((AnnualStandard.region_id == region) | AnnualStandard.region_id.is_(None))


class CityOnlyFilter(BaseFilter):
    name = "city only"
    arg_name = None

    def apply(self, query, value):
        return query if _is_city() else query.filter(False)


def _check_fields(form, field):
    try:
        keys = json.loads(field.data or "[]")
    except ValueError as exc:
        raise ValidationError(str(_l("Write the fields as a JSON list, e.g. [\"organiser\", \"dates\"]."))) from exc
    if not isinstance(keys, list) or any(k not in FIELDS for k in keys):
        raise ValidationError(str(_l("Unknown field. Allowed: %(keys)s", keys=", ".join(FIELDS))))


HOURS_RANGE = NumberRange(min=0, max=1000, message=_l("Hours must be between 0 and 1000."))


class AnnualStandardModelView(AppModelView):
    datamodel = SQLAInterface(AnnualStandard)
    class_permission_name = "AnnualStandardModelView"
    route_base = "/standards"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    base_filters = [["id", OwnRegionFilter, lambda: None]]
    list_title = _l("Yearly standards")
    list_columns = ["year", "region", "public_min", "professional_min", "total_min"]
    add_columns = edit_columns = list_columns
    label_columns = {"year": _l("Year"), "region": _l("Region"), "public_min": _l("Public subjects minimum"),
                     "professional_min": _l("Professional subjects minimum"), "total_min": _l("Total minimum")}
    validators_columns = {"year": [DataRequired()], "public_min": [HOURS_RANGE], "professional_min": [HOURS_RANGE],
                          "total_min": [HOURS_RANGE]}
    formatters_columns = {"region": lambda r: r.name if r else str(_l("All regions (default)"))}
    base_order = ("year", "desc")

    def _guard(self, item):
        org = _hr_org()
        if org is None or (not _is_city() and item.region_id != org.region_id):
            abort(403)

    def pre_add(self, item):
        if not _is_city():
            item.region_id = _hr_org().region_id if _hr_org() else None
        self._guard(item)

    def pre_update(self, item):
        self._guard(item)


class LearningFormModelView(AppModelView):
    datamodel = SQLAInterface(LearningForm)
    class_permission_name = "LearningFormModelView"
    route_base = "/learning-forms"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    base_filters = [["id", CityOnlyFilter, lambda: None]]
    list_title = _l("Learning forms")
    list_columns = ["code", "name", "group", "hour_rule", "max_hours", "year_cap", "active"]
    add_columns = edit_columns = ["code", "name", "group", "fields_json", "hour_rule", "max_hours", "year_cap",
                                  "active"]
    label_columns = {"code": _l("Code"), "name": _l("Name"), "group": _l("Group"), "hour_rule": _l("Hour rule"),
                     "max_hours": _l("Hours per declaration at most"), "year_cap": _l("Hours per year at most"),
                     "active": _l("In use"), "fields_json": _l("Fields asked (JSON list)")}
    validators_columns = {"fields_json": [_check_fields], "max_hours": [HOURS_RANGE]}
    add_form_extra_fields = edit_form_extra_fields = {
        "group": SelectField(_l("Group"), choices=list(FORM_GROUPS.items()), validators=[DataRequired()])}
    formatters_columns = {"group": labels.label(FORM_GROUPS), "year_cap": labels.blank,
                          "active": lambda v: str(_l("Yes") if v else _l("No"))}

    def pre_add(self, item):
        if not _is_city() or item.group not in FORM_GROUPS:
            abort(403 if not _is_city() else 400)

    def pre_update(self, item):
        self.pre_add(item)
