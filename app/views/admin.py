"""Generated CRUD screens (FAB ModelView), every one scoped to the caller's org subtree."""
from __future__ import annotations

import datetime
from decimal import Decimal
from functools import cache
from itertools import islice
from urllib.parse import urlencode

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.actions import action
from flask_appbuilder.models.sqla.filters import (BaseFilter, FilterEqual, FilterStartsWith, SQLAFilterConverter,
                                                   get_field_setup_query)
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import gettext, lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Integer, Text, any_, bindparam, cast, false, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import aliased, selectinload
from wtforms.validators import NumberRange

from ..extensions import db
from ..models import Account, AuditLog, Org, Person, Region
from ..authz import AUDIT_VIEW, ORG_VIEW, REGION_VIEW, STAFF_VIEW
from ..security import OrgScopeFilter, current_actor, scope_path
from ..validators import ValidationError, parse_number
from ..workflows import accounts, dashboard, distribution, export
from . import labels
from .export import is_export, xlsx_response
from .modelview import ReturnToListMixin
from .util import db_id, domain_errors

ORG_LABELS = {
    "name": _l("Organisation name"), "kind_label": _l("Kind"), "credit_code": _l("Unified social credit code"),
    "region": _l("Region"), "parent": _l("Organisation above"), "state_label": _l("State"),
    "nature": _l("Nature"), "industry": _l("Industry"), "phone": _l("Phone"), "address": _l("Address"),
    "contact": _l("Contact"), "created_at": _l("Registered at"), "kind": _l("Kind"), "state": _l("State"),
}


class StartsWith(FilterStartsWith):
    """FAB's "starts with" is ILIKE, which no index serves. A value with no letter that has a case (a Chinese
    name, a number) matches exactly the same rows with LIKE, which a varchar_pattern_ops index serves."""

    def apply(self, query, value):
        if not isinstance(value, str) or value.lower() != value.upper():
            return super().apply(query, value)
        query, field = get_field_setup_query(query, self.model, self.column_name)
        return query.filter(field.like(value + "%"))


class RowFilters(SQLAFilterConverter):
    """FAB's search filters, with an index-friendly "starts with"."""

    conversion_table = tuple((kind, [StartsWith if f is FilterStartsWith else f for f in filters])
                             for kind, filters in SQLAFilterConverter.conversion_table)


class IndexedRowFilters(SQLAFilterConverter):
    """The search of a list of a million rows: text is searched by what an index serves ("starts with", "equals");
    "contains", "ends with" and the negations read the whole scope to find nothing."""

    conversion_table = tuple((kind, [StartsWith, FilterEqual] if kind in ("is_text", "is_string") else filters)
                             for kind, filters in RowFilters.conversion_table)


class _Page:
    """The rows of one list page, read when FAB calls `.all()`."""

    def __init__(self, model: "RowInterface", ids: list):
        self.model, self.ids = model, ids

    def all(self) -> list:
        return self.model.rows_in_order(self.ids)


class RowInterface(SQLAInterface):
    """FAB's data interface, where a primary key that no INTEGER column can hold finds nothing (a 404) instead of
    a database error, and a list page costs what the page holds:

    - the count is capped at COUNT_CAP (an exact count of a city's million rows is a scan; the list says "more than
      1,000" and pages no further than that: a search narrows it down, and a page deep in a department's staff
      read a thousand rows for each twenty shown);
    - a page is chosen by its ids first (`apply_all`), then only its rows are read;
    - the related rows shown in the list (`eager`, set by AppModelView from its list_columns) are loaded for the
      page in one statement each, never one query per row."""

    COUNT_CAP = 1_000
    filter_converter_class = RowFilters
    eager: tuple[str, ...] = ()

    def _typed(self, filters):
        """Search values arrive as text, and FAB binds them as text: PostgreSQL refuses a number or a date column
        compared with text. Values of such columns become numbers and dates (AppModelView has refused any that do
        not parse with a 400)."""
        if filters is None:
            return filters
        for i, (flt, value) in enumerate(zip(filters.filters, filters.values)):
            column = getattr(flt, "column_name", None)
            if column and column in self.list_properties and not hasattr(flt, "fits"):
                filters.values[i] = ([self._typed_value(column, v) for v in value] if isinstance(value, list)
                                     else self._typed_value(column, value))
        return filters

    def _typed_value(self, column: str, value):
        if not isinstance(value, str):
            return value
        if self.is_integer(column):
            return int(value)
        if self.is_numeric(column) or self.is_float(column):
            return Decimal(value)
        if self.is_datetime(column):
            return datetime.datetime.fromisoformat(value[:19] if len(value) > 10 else value[:10])
        if self.is_date(column):
            return datetime.date.fromisoformat(value[:10])
        return value

    def query_count(self, query, filters=None, select_columns=None) -> int:
        filters = self._typed(filters)
        inner = self._apply_inner_all(query, filters, select_columns=select_columns, aliases_mapping={})
        return inner.limit(self.COUNT_CAP + 1).count()

    def query(self, filters=None, order_column="", order_direction="", page=None, page_size=None,
              select_columns=None, outer_default_load=False):
        if page and page_size and page * page_size >= self.COUNT_CAP:
            return self.COUNT_CAP + 1, []  # past the capped count: nothing to read
        return super().query(filters, order_column, order_direction, page, page_size, select_columns,
                             outer_default_load)

    def apply_all(self, query, filters=None, order_column="", order_direction="", page=None, page_size=None,
                  select_columns=None, outer_default_load=False):
        if not page_size or select_columns:
            loads = [selectinload(getattr(self.obj, name)) for name in self.eager]
            return super().apply_all(query, self._typed(filters), order_column, order_direction, page, page_size,
                                     select_columns, outer_default_load).options(*loads)
        # A page: its ids first, in the list's order (a query the indexes answer without reading the rows it
        # skips), then those rows only. Selecting whole rows made PostgreSQL walk the primary key and read every
        # row of the city to find a department's page.
        ids = [row[0] for row in self.ordered_ids(filters, order_column, order_direction, page, page_size)]
        return _Page(self, ids)

    def ordered_ids(self, filters, order_column="", order_direction="", page=None, page_size=None):
        """The query of the list's ids: its filters (typed), its order, the page if one is given."""
        key = getattr(self.obj, self.get_pk_name())
        return self._apply_inner_all(self.session.query(key), self._typed(filters), order_column, order_direction,
                                     page, page_size, aliases_mapping={})

    def rows_in_order(self, ids: list) -> list:
        """The rows of these ids in their order, with the related rows the list shows (one statement each)."""
        if not ids:
            return []
        key = getattr(self.obj, self.get_pk_name())
        loads = [selectinload(getattr(self.obj, name)) for name in self.eager]
        found = self.session.query(self.obj).filter(key.in_(ids)).options(*loads)
        rows = {getattr(row, key.key): row for row in found}
        return [rows[i] for i in ids if i in rows]

    def get(self, id, filters=None, select_columns=None, outer_default_load=False):
        if db_id(str(id)) is None:
            return None
        return super().get(id, filters, select_columns, outer_default_load)


class AppModelView(ReturnToListMixin, ModelView):
    """FAB's action endpoints answer a missing permission with a 302 and an unknown action name with a 500;
    here they refuse like every other endpoint: 404 unknown action, 403 no permission, anonymous to login.
    A saved add / edit form returns to the list it was opened from (ReturnToListMixin)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.datamodel.eager = tuple(c for c in self.list_columns if self.datamodel.is_relation(c))

    def _refuse_action(self, name: str):
        known = name in self.actions
        if known and self.appbuilder.sm.has_access(self.get_action_permission_name(name),
                                                   self.class_permission_name):
            return None
        if not current_user.is_authenticated:
            return redirect(url_for("AuthView.login", next=request.url))
        abort(403 if known else 404)

    def _check_list_args(self) -> None:
        """FAB turns page_* / psize_* arguments into int() and an _oc_ column into ORDER BY unchecked: a word, a
        negative or huge number, an unknown column is a 500 (and a huge page size reads a whole table). Such a
        request is refused as malformed."""
        name = self.__class__.__name__
        for key, value in request.args.items(multi=True):
            if "page_" in key or "psize_" in key:
                if not (value.isdigit() and len(value) <= 6):
                    abort(400)
                if "psize_" in key and not 0 < int(value) <= 100:
                    abort(400)
            elif key == f"_oc_{name}" and value not in self.order_columns:
                abort(400)
            elif key.startswith("_flt_") and not self._filter_value_fits(key, value):
                abort(400)

    def _filter_value_fits(self, key: str, value: str) -> bool:
        """A search filter `_flt_<n>_<column>` names a search column and carries a value of that column's type:
        FAB hands it to the database as it is, and PostgreSQL refuses a word compared with a number or a date
        (a server error, not an empty list)."""
        _prefix, _, rest = key.partition("_flt_")
        index, _, column = rest.partition("_")
        if not index.isdigit() or column not in self.search_columns:
            return False
        if int(index) >= len(self._filters.get_search_filters().get(column, ())):
            return False  # FAB indexes the column's filters with it unchecked (an IndexError)
        flt = self._filters.get_search_filters()[column][int(index)]
        if hasattr(flt, "fits"):  # a filter whose value is not of its column's type checks it itself
            return flt.fits(value)
        model = self.datamodel
        try:
            if model.is_relation(column):
                return db_id(value) is not None
            if model.is_integer(column):
                parse_number(value, 0)
            elif model.is_numeric(column) or model.is_float(column):
                parse_number(value, 6)
            elif model.is_date(column) or model.is_datetime(column):
                datetime.date.fromisoformat(value[:10])
            elif model.is_boolean(column):
                return value in ("y", "n", "1", "0", "true", "false", "on", "off", "")
        except (ValidationError, ValueError):
            return False
        return True

    def _list(self, **kwargs):
        self._check_list_args()
        return super()._list(export_url=self._export_url(), **kwargs)

    # ------------------------------------------------------------ X7: the list as an .xlsx file

    def _export_url(self) -> str:
        query = request.query_string.decode("latin-1")
        return f"{request.script_root}{self.route_base}/export/" + (f"?{query}" if query else "")

    @expose("/export/")
    @expose("/list/")
    @has_access
    def list(self):
        """The list page, and at /export/ the same list as an .xlsx file: one endpoint, so the export carries
        exactly the list's permission (can_list) and its place in the access policy. (FAB registers the URLs in
        the order of `_urls`, the decorator nearest the function first: url_for still builds /list/.)"""
        if is_export():
            return self._export()
        return super().list()

    def _export(self):
        """Every row of the list as the page would show them: the same base filters (the org scope), search
        filters (`_flt_*`) and order (`_oc_*` / `_od_*`), the list's columns with their labels and formatters;
        bad arguments are a 400 as on the list page. Capped at export.ROW_CAP rows (a note row says so)."""
        self._check_list_args()
        order_column, order_direction = get_order_args().get(self.__class__.__name__, ("", ""))
        if not order_column and self.base_order:
            order_column, order_direction = self.base_order
        get_filter_args(self._filters)
        filters = self._filters.get_joined_filters(self._base_filters)
        labels_ = [self.label_columns.get(column, column) for column in self.list_columns]
        title = str(self.list_title or self.__class__.__name__)
        return xlsx_response(title, labels_, self._export_rows(filters, order_column, order_direction))

    def _export_rows(self, filters, order_column: str, order_direction: str):
        """The rows in the list's order, read in batches as the list reads a page: the ids first (a cursor over
        the ordered ids, export.BATCH at a time), then only the listed columns of those rows (export.ColumnReader;
        whole rows for a list it cannot read so)."""
        model = self.datamodel
        stream = iter(model.ordered_ids(filters, order_column, order_direction).limit(export.ROW_CAP + 1)
                      .yield_per(export.BATCH))
        formatters = self.formatters_columns
        reader = export.ColumnReader.build(model.obj, self.list_columns)  # only the listed columns
        while batch := [row[0] for row in islice(stream, export.BATCH)]:
            for row in reader.read(model.session, batch) if reader else model.rows_in_order(batch):
                values = []
                for column in self.list_columns:
                    value = model._get_attr_value(row, column)
                    formatter = formatters.get(column)
                    values.append(formatter(value) if formatter else value)
                yield values

    def _show(self, pk):
        self._check_list_args()
        return super()._show(pk)

    def _rows_in_scope(self, pks) -> list:
        """The rows of an action, loaded through the view's base filters (FAB loads them without): an id of no row,
        or of a row outside the caller's scope, is no row at all (never a None handed to the action)."""
        rows = [self.datamodel.get(pk, self._base_filters) for pk in pks]
        return [row for row in rows if row is not None]

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        refused = self._refuse_action(name)
        if refused is not None:
            return refused
        if not self.is_get_mutation_allowed():
            return super().action(name, pk)  # FAB refuses a GET while CSRF protection is on
        rows = self._rows_in_scope([pk])
        if not rows:
            abort(404)
        return self.actions[name].func(rows[0])

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        name = request.form.get("action", "")
        refused = self._refuse_action(name)
        if refused is not None:
            return refused
        rows = self._rows_in_scope(request.form.getlist("rowid")[:500])
        if not rows:
            abort(404)
        return self.actions[name].func(rows)


class ActiveStaffFilter(BaseFilter):
    """Staff are people whose professional registration was approved (not applicants, not rejected ones): the
    flag the database keeps from their memberships, served by partial indexes."""

    name = "active staff"
    arg_name = None

    def apply(self, query, value):
        return query.filter(Person.is_staff)  # as the partial indexes say it (IS TRUE would not use them)


class OrgModelView(AppModelView):
    datamodel = RowInterface(Org)
    class_permission_name = ORG_VIEW
    route_base = "/orgs"
    base_permissions = ["can_list", "can_show"]
    base_filters = [["id", OrgScopeFilter, lambda: None]]
    list_title = _l("Organisations")
    show_title = _l("Organisation")
    list_columns = ["name", "kind_label", "credit_code", "parent", "state_label"]
    show_columns = ["name", "kind_label", "credit_code", "region", "parent", "state_label", "nature", "industry",
                    "phone", "address", "contact", "created_at"]
    search_columns = ["name", "credit_code", "kind", "state"]
    label_columns = ORG_LABELS
    formatters_columns = labels.formatters(show_columns)
    order_columns = ["name", "credit_code"]
    base_order = ("id", "asc")
    page_size = 20


class LargeRowInterface(RowInterface):
    """A list of a million rows (people): searches an index serves."""

    filter_converter_class = IndexedRowFilters


def _in_orgs(condition):
    """People whose unit is one of the orgs matching `condition`."""
    return Person.unit_id.in_(select(Org.id).where(condition))


class InOrgSubtree(BaseFilter):
    """The staff of an org and of every org below it (a statistics figure's people); the list's org scope still
    applies, so an org outside the caller's subtree lists nobody."""

    name = _l("In the organisation or below")
    arg_name = "sub"
    LISTED_IDS = 1_000  # a subtree of at most this many orgs is given to the database as its ids

    def apply(self, query, value):
        org = db.session.get(Org, value) if isinstance(value, int) and 0 < value < 2 ** 31 else None
        if org is None:
            return query.filter(false())
        in_subtree = Org.path.startswith(org.path, autoescape=True)
        # A department's few units as a list of ids: PostgreSQL then reads their staff by the (unit_id, id) index
        # (2 ms); with the subquery it misjudged their number and walked the primary key (40 ms). A big subtree
        # keeps the subquery, whose people are dense enough for that walk.
        ids = db.session.scalars(select(Org.id).where(in_subtree).limit(self.LISTED_IDS + 1)).all()
        if len(ids) <= self.LISTED_IDS:
            return query.filter(Person.unit_id.in_(ids))
        return query.filter(_in_orgs(in_subtree))


class UnitIndustry(BaseFilter):
    """The staff of units of an industry (empty: units without one)."""

    name = _l("Industry of the unit")
    arg_name = "ind"

    def fits(self, value: str) -> bool:
        return len(value) <= 30

    def apply(self, query, value):
        if not value:
            return query.filter(_in_orgs(or_(Org.industry.is_(None), Org.industry == "")))
        return query.filter(_in_orgs(Org.industry == value))


class EqualOrBlank(BaseFilter):
    """Equal to the value; an empty value: not filled in."""

    name = _l("Is (empty: not filled in)")
    arg_name = "eqb"

    def apply(self, query, value):
        column = getattr(self.model, self.column_name)
        return query.filter(or_(column.is_(None), column == "") if not value else column == value)


class TitleGrade(BaseFilter):
    """A level group of the statistics: junior, intermediate, senior (正高级 and 副高级) or not graded."""

    name = _l("Level group")
    arg_name = "grade"

    def fits(self, value: str) -> bool:
        return value in distribution.GRADE_VALUES.values()

    def apply(self, query, value):
        levels = {distribution.GRADE_VALUES[key]: levels for key, _label, levels in distribution.GRADES}.get(value)
        if levels is None:
            return query.filter(false())
        if levels:
            return query.filter(Person.title_level.in_(levels))
        graded = [level for _key, _label, group in distribution.GRADES for level in group]
        return query.filter(or_(Person.title_level.is_(None), Person.title_level.not_in(graded)))


def _holders(qualification: str) -> list[int]:
    """The ids of the staff of the admin's scope who hold `qualification`, read once per request from the GIN index
    of migration b7c8d9e0f1a2 and given to the list's queries as a constant array. As a condition on the list's
    rows, a rare qualification made "ORDER BY id DESC LIMIT 20" walk the primary key through a million rows (7 s);
    as an array computed inside the query, each row of a unit was compared with every holder of the city (1.5 s).
    A constant array is an index condition for the page and a hashed lookup for the count: 14–25 ms."""
    cache = g.setdefault("_qualification_holders", {})
    if qualification not in cache:
        holder = aliased(Person)
        items = func.staff_qualifications(holder.vocational_qualifications)
        holders = select(holder.id).where(items.op("@>")(cast(array([qualification]), ARRAY(Text))), holder.is_staff)
        root = scope_path()
        if root is not None:  # an admin of an org: the holders of their subtree only
            unit = aliased(Org)
            holders = holders.join(unit, unit.id == holder.unit_id).where(unit.path.startswith(root, autoescape=True))
        cache[qualification] = list(db.session.scalars(holders))
    return cache[qualification]


class HasQualification(BaseFilter):
    """Holds a 职(执)业资格: one item of the comma-separated list, as the statistics count them."""

    name = _l("Includes")
    arg_name = "item"

    def fits(self, value: str) -> bool:
        return 0 < len(value.strip()) <= 200

    def apply(self, query, value):
        if db.session.get_bind().dialect.name == "postgresql":
            return query.filter(Person.id == any_(bindparam(None, _holders(value.strip()), type_=ARRAY(Integer))))
        listed = func.coalesce(Person.vocational_qualifications, "")
        for separator in ("，", "、", ";", "；", "\n"):
            listed = func.replace(listed, separator, ",")
        return query.filter(("," + listed + ",").contains(f",{value.strip()},", autoescape=True))


class StaffRowFilters(IndexedRowFilters):
    """The staff list's searches, and the filters a statistics figure links to (an org and the orgs below it, the
    industry of the unit, a title series or blank, a level group, a qualification)."""

    EXTRA = {"unit_id": (InOrgSubtree, UnitIndustry, FilterEqual), "title_series": (EqualOrBlank,),
             "title_level": (TitleGrade,), "vocational_qualifications": (HasQualification,)}

    def convert(self, col_name):
        if col_name in ("unit_id", "vocational_qualifications"):
            return [flt(col_name, self.datamodel) for flt in self.EXTRA[col_name]]
        return (super().convert(col_name) or []) + [flt(col_name, self.datamodel)
                                                    for flt in self.EXTRA.get(col_name, ())]


class StaffRowInterface(LargeRowInterface):
    filter_converter_class = StaffRowFilters


def staff_list_url(org_id: int, own_only: bool = False, **filters) -> str:
    """The staff list of an org's subtree (`own_only`: its own staff), with more filters by column:
    title_series (blank: not filled in), title_level (a level group's key, or one level), unit_id (industry),
    vocational_qualifications (one item)."""
    kinds = {"title_series": EqualOrBlank, "unit_id": UnitIndustry, "vocational_qualifications": HasQualification}
    args = {}

    def add(column: str, kind, value) -> None:
        args[f"_flt_{_filter_index(column, kind)}_{column}"] = value

    add("unit_id", FilterEqual if own_only else InOrgSubtree, org_id)
    for column, value in filters.items():
        if value is None:
            continue
        if column == "title_level":  # a level group, or one level (正高级 …)
            grade = distribution.GRADE_VALUES.get(value)
            add(column, TitleGrade if grade else FilterEqual, grade or value)
        else:
            add(column, kinds[column], value)
    # the list's path once per request: a city's statistics page links several hundred figures
    path = g.get("staff_list_path") or g.setdefault("staff_list_path", url_for("StaffModelView.list"))
    return f"{path}?{urlencode(args)}"


@cache
def _filter_index(column: str, kind) -> int:
    """The index of a filter among the staff list's filters of the column (the `n` of `_flt_n_column`)."""
    return [type(f) for f in StaffRowFilters(StaffModelView.datamodel).convert(column)].index(kind)


class StaffModelView(AppModelView):
    """Professionals of the orgs in scope (U10 staff lookup); the full 证件号 is never shown here."""

    datamodel = StaffRowInterface(Person)
    class_permission_name = STAFF_VIEW
    route_base = "/staff"
    base_permissions = ["can_list", "can_show", "can_reset_password"]
    # FAB names an action's permission after the action ("reset_password") unless mapped here to "can_…"
    method_permission_name = {"reset_password": "reset_password"}
    base_filters = [["unit", OrgScopeFilter, lambda: None], ["id", ActiveStaffFilter, lambda: None]]
    list_title = _l("Staff")
    show_title = _l("Staff member")
    list_columns = ["name", "masked_id_number", "unit", "department", "title_series", "title_level"]
    # No birth date: it is the very part of a resident 证件号 the mask hides (110105********002X + 1990-01-01 would
    # give the full number back).
    show_columns = ["name", "masked_id_number", "gender", "ethnicity", "unit", "department",
                    "education", "school", "major", "degree", "title_series", "title_level", "title_name",
                    "title_date", "vocational_qualifications", "academic_titles"]
    search_columns = ["name", "department", "title_series", "title_level", "unit_id", "vocational_qualifications"]
    label_columns = {
        "name": _l("Name"), "unit_id": _l("Organisation"), "masked_id_number": _l("ID number"), "unit": _l("Unit"), "department": _l("Department"),
        "title_series": _l("Title series"), "title_level": _l("Title level"), "gender": _l("Gender"),
        "birth_date": _l("Birth date"), "ethnicity": _l("Ethnicity"), "education": _l("Highest education"),
        "school": _l("School"), "major": _l("Major"), "degree": _l("Degree"),
        "title_name": _l("Current professional title"), "title_date": _l("Title effective date"),
        "vocational_qualifications": _l("Vocational qualifications"), "academic_titles": _l("Academic titles"),
    }
    formatters_columns = labels.formatters(show_columns, gender=labels.label(labels.GENDERS))
    order_columns = ["name"]
    base_order = ("id", "desc")
    page_size = 20

    @action("reset_password", _l("Reset password"),
            _l("Reset the password of the selected people to the last 6 characters of their ID number?"),
            "fa-key", multiple=True, single=True)
    def reset_password(self, items):
        """FAB actions load rows without base_filters: the workflow re-checks scope for each one."""
        items = items if isinstance(items, list) else [items]
        actor = current_actor()
        done = 0
        for person in items:
            account = db.session.get(Account, person.user_id)
            with domain_errors():
                accounts.admin_reset_password(account, actor)
                done += 1
        if done:
            flash(gettext("%(n)s password(s) reset; each person must change it at the next login.", n=done),
                  "success")
        return self.back_after_action()


class AuditLogModelView(AppModelView):
    """X1: the auditor reads the trail; nobody edits it."""

    datamodel = RowInterface(AuditLog)
    class_permission_name = AUDIT_VIEW
    route_base = "/audit"
    base_permissions = ["can_list", "can_show"]
    list_title = _l("Audit log")
    show_title = _l("Audit record")
    list_columns = ["at", "actor", "on_behalf_of", "role", "action", "object_type", "object_id", "from_state",
                    "to_state", "result", "ip"]
    show_columns = list_columns + ["comment"]
    search_columns = ["action", "actor", "object_type", "result", "ip", "at"]
    label_columns = {
        "at": _l("Time"), "actor": _l("Actor"), "on_behalf_of": _l("On behalf of"), "role": _l("Role"),
        "action": _l("Action"), "object_type": _l("Object"), "object_id": _l("Object ID"), "from_state": _l("From"),
        "to_state": _l("To"),
        "result": _l("Result"), "ip": _l("IP address"), "comment": _l("Comment"),
    }
    formatters_columns = labels.formatters(
        show_columns, role=labels.label(labels.ROLES), action=labels.label(labels.AUDIT_ACTIONS),
        object_type=labels.label(labels.AUDIT_OBJECTS), from_state=labels.label(labels.STATES),
        to_state=labels.label(labels.STATES), result=labels.label(labels.AUDIT_RESULTS))
    base_order = ("id", "desc")
    page_size = 50


class RegionModelView(AppModelView):
    datamodel = RowInterface(Region)
    class_permission_name = REGION_VIEW
    route_base = "/regions"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    list_title = _l("Regions")
    list_columns = ["code", "name", "parent", "declaration_levels"]
    add_columns = edit_columns = ["code", "name", "parent", "declaration_levels"]
    search_columns = ["code", "name"]
    label_columns = {"code": _l("Region code"), "name": _l("Name"), "parent": _l("Parent region"),
                     "declaration_levels": _l("Review levels of hour declarations")}
    description_columns = {"declaration_levels": _l("3: unit, department, HR bureau; 2: unit, HR bureau; 1: unit")}
    validators_columns = {"declaration_levels": [NumberRange(min=1, max=3)]}
    formatters_columns = labels.formatters(list_columns)
