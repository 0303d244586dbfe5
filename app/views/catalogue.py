"""H7: the yearly standards and the learning-form catalogue, edited by the HR bureau.

The catalogue is platform-wide: only a city HR bureau edits it. A district bureau edits its own region's
standards; the city bureau edits any."""
from __future__ import annotations

import json

from flask import abort
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.sqla.filters import BaseFilter
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from wtforms import BooleanField, SelectField
from wtforms.validators import DataRequired, NumberRange, ValidationError

from ..extensions import db
from ..models import AnnualStandard, LearningForm, OrgKind, Region
from ..models.hours import FORM_GROUPS
from ..security import current_membership
from ..workflows.base import DomainError
from ..workflows.declaration import FIELDS
from . import labels
from .admin import AppModelView, RowInterface


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


class RegionChoiceFilter(BaseFilter):
    """The region dropdown of the standard form: a district bureau can only pick its own region."""

    name = "own region choice"
    arg_name = None

    def apply(self, query, value):
        if _is_city():
            return query
        org = _hr_org()
        return query.filter(Region.id == (org.region_id if org and org.region_id else -1))


def _may_use_region(region_id: int | None) -> bool:
    """The city bureau sets any region's standard and the default (no region); a district only its own."""
    if _is_city():
        return True
    org = _hr_org()
    return org is not None and org.region_id is not None and region_id == org.region_id


def _refuse(message) -> None:
    """Refuse a FAB add / edit from pre_add / pre_update. FAB has already copied the form into the item and
    catches any exception there (flashing its text), so the item is rolled back before the refusal: an abort()
    would leave the changed row in the session for the next commit, and flash werkzeug's English text."""
    db.session.rollback()
    raise DomainError(message)


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
    datamodel = RowInterface(AnnualStandard)
    class_permission_name = "AnnualStandardModelView"
    route_base = "/standards"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    base_filters = [["id", OwnRegionFilter, lambda: None]]
    list_title = show_title = add_title = edit_title = _l("Yearly standards")
    list_columns = ["year", "region", "public_min", "professional_min", "total_min"]
    add_columns = edit_columns = list_columns
    label_columns = {"year": _l("Year"), "region": _l("Region"), "public_min": _l("Public subjects minimum"),
                     "professional_min": _l("Professional subjects minimum"), "total_min": _l("Total minimum")}
    validators_columns = {"year": [DataRequired()], "public_min": [HOURS_RANGE], "professional_min": [HOURS_RANGE],
                          "total_min": [HOURS_RANGE]}
    formatters_columns = {"region": lambda r: r.name if r else str(_l("All regions (default)"))}
    add_form_query_rel_fields = edit_form_query_rel_fields = {"region": [["id", RegionChoiceFilter, None]]}
    base_order = ("year", "desc")

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        """A district bureau sees the defaults (and the city's standards) but edits only its own region's."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is not None and not _may_use_region(item.region_id):
            abort(403)
        return super().edit(pk)

    def _check(self, item, old_region_id: int | None) -> None:
        # After FAB's populate_obj the relationship holds the chosen region; region_id is synced only at flush.
        region_id = item.region.id if item.region is not None else None
        if _hr_org() is None or not _may_use_region(region_id) or not _may_use_region(old_region_id):
            _refuse(gettext("You do not have permission to do this."))
        with db.session.no_autoflush:
            taken = db.session.scalar(select(AnnualStandard.id).where(
                AnnualStandard.year == item.year, AnnualStandard.id != (item.id or 0),
                AnnualStandard.region_id == region_id if region_id else AnnualStandard.region_id.is_(None)))
        if taken:  # the unique constraint does not hold for the default (a NULL region)
            _refuse(gettext("A standard for this year and region already exists."))

    def pre_add(self, item):
        if not _is_city():  # a district bureau adds standards for its own region only
            org = _hr_org()
            item.region = org.region if org else None
        self._check(item, item.region.id if item.region is not None else None)

    def pre_update(self, item):
        with db.session.no_autoflush:
            old_region_id = db.session.scalar(select(AnnualStandard.region_id).where(AnnualStandard.id == item.id))
        self._check(item, old_region_id)


class LearningFormModelView(AppModelView):
    datamodel = RowInterface(LearningForm)
    class_permission_name = "LearningFormModelView"
    route_base = "/learning-forms"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    base_filters = [["id", CityOnlyFilter, lambda: None]]
    list_title = show_title = add_title = edit_title = _l("Learning forms")
    list_columns = ["code", "name", "group", "hour_rule", "max_hours", "year_cap", "active"]
    add_columns = edit_columns = ["code", "name", "group", "fields_json", "hour_rule", "max_hours", "year_cap",
                                  "active"]
    label_columns = {"code": _l("Code"), "name": _l("Learning form"), "group": _l("Group"),
                     "hour_rule": _l("Hour rule"),
                     "max_hours": _l("Hours per declaration at most"), "year_cap": _l("Hours per year at most"),
                     "active": _l("In use"), "fields_json": _l("Fields asked (JSON list)")}
    validators_columns = {"fields_json": [_check_fields], "max_hours": [HOURS_RANGE]}
    add_form_extra_fields = edit_form_extra_fields = {
        "group": SelectField(_l("Group"), choices=list(FORM_GROUPS.items()), validators=[DataRequired()]),
        # FAB makes a non-nullable column InputRequired: an unticked box could never retire a form
        "active": BooleanField(_l("In use"), default=True),
    }
    formatters_columns = {"group": labels.label(FORM_GROUPS), "year_cap": labels.blank,
                          "active": lambda v: str(_l("Yes") if v else _l("No"))}

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        if not _is_city():  # the catalogue is platform-wide: only the city bureau edits it
            abort(403)
        return super().add()

    def pre_add(self, item):
        if not _is_city() or item.group not in FORM_GROUPS:
            _refuse(gettext("You do not have permission to do this."))

    def pre_update(self, item):
        self.pre_add(item)
