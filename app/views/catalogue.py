"""H7: the yearly standards and the learning-form catalogue, edited by the HR bureau.

The catalogue is platform-wide: only a city HR bureau edits it. A district bureau edits its own region's
standards; the city bureau edits any."""
from __future__ import annotations

import json
import re
from decimal import Decimal

from flask import abort
from flask_appbuilder import expose, has_access
from flask_appbuilder.models.sqla.filters import BaseFilter
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp, StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..extensions import db
from ..models import AnnualStandard, LearningForm, OrgKind, Region
from ..models.hours import FORM_GROUPS
from ..security import current_membership
from ..validators import ValidationError as BadNumber, parse_number
from ..workflows.base import DomainError
from ..workflows.certificates import hours_text
from ..workflows.declaration import FIELDS
from . import labels
from .admin import AppModelView, RowInterface
from .modelview import ReturnFormWidget


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


# ------------------------------------------------------------------ form fields

_DIGITS_RE = re.compile(r"[0-9]+(?:\.([0-9]+))?")
HOURS_MAX = 1000
YEARS = (2000, 2100)


class NumberField(StringField):
    """A number typed with the digits 0-9 only, with at most `places` decimals (refused, never rounded) and within
    [low, high]; `range_message` names the range. Empty is None (InputRequired / Optional decide)."""

    def __init__(self, label=None, validators=None, *, places: int = 1, low: int = 0, high: int = HOURS_MAX,
                 range_message=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.places, self.low, self.high = places, Decimal(low), Decimal(high)
        self.range_message = range_message or _l("Hours must be between 0 and 1000.")

    def process_data(self, value):
        self.data = value

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else hours_text(self.data) if self.places else str(self.data)

    def process_formdata(self, valuelist):
        self.data = None
        raw = (valuelist[0] if valuelist else "").strip()
        if not raw:
            return
        if raw.startswith("-") and _DIGITS_RE.fullmatch(raw[1:]):
            raise ValueError(str(self.range_message))
        try:
            value = parse_number(raw, self.places)
        except BadNumber as exc:
            raise ValueError(str(exc.message)) from exc
        if not self.low <= value <= self.high:
            raise ValueError(str(self.range_message))
        self.data = value if self.places else int(value)


def hours_field(label, required: bool = True, **kwargs) -> NumberField:
    return NumberField(label, [InputRequired(_l("This field is required.")) if required else Optional()], **kwargs)


class ChoiceField(SelectField):
    """A select whose refusal is in Chinese (WTForms' own "Not a valid choice." is not)."""

    def pre_validate(self, form):
        if self.data not in {value for value, _label in self.choices if value != ""}:
            raise ValidationError(gettext("Choose a value for %(field)s.", field=self.label.text))


KIND_HINTS = {"text": _l("text"), "dates": _l("a start and an end date"), "date": _l("date"), "number": _l("number"),
              "issn": _l("e.g. 1234-567X"), "isbn": _l("10 or 13 digits")}


def field_hint(key: str) -> str:
    """What a declaration field asks for, e.g. "one of 国际 / 国家级 / 省级 / 市级"."""
    _label, kind, choices = FIELDS[key]
    if choices:
        return gettext("one of: %(values)s", values=" / ".join(choices))
    return str(KIND_HINTS.get(kind, ""))


class FieldKeysField(SelectMultipleField):
    """The declaration fields a learning form asks for, ticked in a list of their names; kept underneath as the
    JSON list of field keys of LearningForm.fields_json, in the order of FIELDS (the order the declaration form
    shows them)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, choices=[(key, spec[0]) for key, spec in FIELDS.items()], **kwargs)

    def process_data(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value or "[]")
            except ValueError:
                value = []
        self.data = [key for key in value if key in FIELDS] if isinstance(value, list) else []

    def process_formdata(self, valuelist):
        self.data = list(valuelist)

    def pre_validate(self, form):
        unknown = [key for key in self.data or [] if key not in FIELDS]
        if unknown:
            raise ValidationError(gettext("Unknown field: %(keys)s. Tick fields from the list.",
                                          keys=", ".join(unknown)[:100]))

    def populate_obj(self, obj, name):
        setattr(obj, name, json.dumps([key for key in FIELDS if key in set(self.data or [])]))

    @staticmethod
    def hint(key: str) -> str:
        return field_hint(key)


class AtLeastOne:
    """At least one box of a FieldKeysField is ticked."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        if not field.data:
            raise StopValidation(gettext("Tick at least one field the declaration asks for."))


CODE_RE = r"^[a-z][a-z0-9_]{1,29}$"
CODE_HELP = _l("2 to 30 lower-case letters, digits or _, starting with a letter, e.g. lecture.")


def fields_text(value) -> str:
    """The fields of a learning form by their Chinese names (the list and show pages)."""
    try:
        keys = json.loads(value or "[]")
    except ValueError:
        return ""
    return "、".join(str(labels.field_label(key)) for key in keys) if isinstance(keys, list) else ""


def hours_or_blank(value) -> str:
    return "" if value is None else hours_text(value)


class LearningFormWidget(ReturnFormWidget):
    """The learning-form editor: the declaration fields as a list of named boxes."""

    template = "catalogue/learning_form.html"


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
    add_form_extra_fields = edit_form_extra_fields = {
        "year": NumberField(_l("Year"), [InputRequired(_l("This field is required."))], places=0, low=YEARS[0],
                            high=YEARS[1], range_message=_l("The year must be between %(a)s and %(b)s.",
                                                            a=YEARS[0], b=YEARS[1])),
        "public_min": hours_field(_l("Public subjects minimum")),
        "professional_min": hours_field(_l("Professional subjects minimum")),
        "total_min": hours_field(_l("Total minimum")),
    }
    formatters_columns = {"region": lambda r: r.name if r else str(_l("All regions (default)")),
                          "public_min": hours_or_blank, "professional_min": hours_or_blank,
                          "total_min": hours_or_blank}
    add_form_query_rel_fields = edit_form_query_rel_fields = {"region": [["id", RegionChoiceFilter, None]]}
    base_order = ("year", "desc")

    def _init_forms(self):
        super()._init_forms()
        for form in (self.add_form, self.edit_form):  # FAB shows the empty choice's value, "__None"
            form.region.kwargs["blank_text"] = _l("All regions (default)")

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


def _unused_code(form, field):
    """A learning form's code names one form (the column is unique): refused in words, not by the database."""
    with db.session.no_autoflush:
        taken = db.session.scalar(select(LearningForm.id).where(LearningForm.code == field.data,
                                                                LearningForm.id != (getattr(form, "_id", None) or 0)))
    if taken:
        raise ValidationError(gettext("Another learning form already has this code."))


def _length(most: int):
    return Length(max=most, message=_l("At most %(n)s characters.", n=most))


class LearningFormModelView(AppModelView):
    datamodel = RowInterface(LearningForm)
    class_permission_name = "LearningFormModelView"
    route_base = "/learning-forms"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    base_filters = [["id", CityOnlyFilter, lambda: None]]
    list_title = show_title = _l("Learning forms")
    add_title, edit_title = _l("Add a learning form"), _l("Edit the learning form")
    list_columns = ["name", "group", "fields_json", "hour_rule", "max_hours", "year_cap", "active"]
    show_columns = ["name", "code", "group", "fields_json", "hour_rule", "max_hours", "year_cap", "active"]
    add_columns = edit_columns = ["code", "name", "group", "active", "fields_json", "hour_rule", "max_hours",
                                  "year_cap"]
    search_columns = ["name", "group"]
    order_columns = ["name", "group", "max_hours"]
    label_columns = {"code": _l("Code"), "name": _l("Name of the form"), "group": _l("Group"),
                     "hour_rule": _l("Hour rule"),
                     "max_hours": _l("Hours per declaration at most"), "year_cap": _l("Hours per year at most"),
                     "active": _l("In use"), "fields_json": _l("Fields the declaration asks for")}
    add_widget = edit_widget = LearningFormWidget
    add_form_extra_fields = edit_form_extra_fields = {
        "code": StringField(_l("Code"), [InputRequired(_l("This field is required.")),
                                         Regexp(CODE_RE, message=CODE_HELP), _unused_code], description=CODE_HELP),
        "name": StringField(_l("Name of the form"), [InputRequired(_l("This field is required.")), _length(50)]),
        "group": ChoiceField(_l("Group"), choices=[("", _l("Please choose"))] + list(FORM_GROUPS.items()),
                             validators=[InputRequired(_l("This field is required."))]),
        # FAB makes a non-nullable column InputRequired: an unticked box could never retire a form
        "active": BooleanField(_l("In use"), default=True),
        "fields_json": FieldKeysField(_l("Fields the declaration asks for"), [AtLeastOne()], description=_l(
            "Tick what a professional fills in when declaring hours of this form.")),
        "hour_rule": StringField(_l("Hour rule"), [Optional(), _length(200)]),
        "max_hours": hours_field(_l("Hours per declaration at most")),
        "year_cap": hours_field(_l("Hours per year at most"), required=False,
                                description=_l("Leave empty when there is no yearly cap.")),
    }
    search_form_extra_fields = {
        "group": SelectField(_l("Group"), choices=list(FORM_GROUPS.items())),
    }
    formatters_columns = {"group": labels.label(FORM_GROUPS), "fields_json": fields_text,
                          "max_hours": hours_or_blank, "year_cap": hours_or_blank,
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
