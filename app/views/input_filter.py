"""The input filter: what no request may carry, and the checks every form field gets, in one place.

A control character (NUL, C0 but tab / line breaks, DEL, C1), a bidi override, a surrogate or a Unicode noncharacter
is refused wherever a request carries it (`refuse_bad_characters`, a before_request hook):

* in a query parameter, a URL part, a form field's name, an uploaded file's name or a JSON body: at once, with a
  400 page (JSON for API / XHR clients) naming where and which character;
* in a form field's value: every FlaskForm (ours, and FAB's generated add / edit forms, whose `DynamicForm` is a
  FlaskForm too) shows the error at the field, keeping what was typed; any other read of that value
  (`request.form.get`, `getlist`, `[...]`) raises the same 400, so no view can store it.

`install_field_checks` gives every field of every FlaskForm its check through WTForms' `Meta.bind_field`:
single-line text holds no tab or line break (nor the characters above); numbers are typed with the ASCII digits
0-9 (Python's int() and Decimal() accept full-width and other scripts' digits), without exponent, and with no more
decimals than the field allows (never rounded silently); dates use ASCII digits and lie in the one sane range of
`validators.check_past_date`, or `check_study_date` for a `StudyDateField`.
"""
from __future__ import annotations

import datetime

from flask import jsonify, request
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict
from werkzeug.exceptions import BadRequest
from wtforms import DateField, DecimalField, FloatField, IntegerField, StringField, TextAreaField
from wtforms.fields import DateTimeField
from wtforms.validators import StopValidation

from .. import validators as v
from .errors import error_page

# Every Numeric column of the schema has one decimal (hours: Numeric(7, 1)); FAB's generated DecimalField does
# not know the column's scale, so a DecimalField without an explicit `places` allows this many.
DECIMAL_PLACES = 1
FLOAT_PLACES = 6


class StudyDateField(DateField):
    """The date of a course or training: may lie up to a year ahead (`validators.check_study_date`)."""

    date_kind = "study"


# ---------------------------------------------------------------- field-level checks (every FlaskForm)

def _stop(field, message) -> None:
    field.errors[:] = []  # one clear message instead of WTForms' "Not a valid integer value." next to it
    raise StopValidation(str(message))


def _raw(field) -> str | None:
    raw = getattr(field, "raw_data", None)
    return raw[0] if raw and isinstance(raw[0], str) else None


def _text_check(form, field) -> None:
    """Last of the field's own validators: a field that already has a message of its own keeps just that one."""
    if field.errors or not isinstance(field.data, str):
        return
    try:
        v.check_plain_text(field.data, multiline=isinstance(field, TextAreaField))
    except v.ValidationError as exc:
        raise StopValidation(str(exc.message)) from None


def _number_check(places: int):
    def check(form, field) -> None:
        raw = _raw(field)
        if raw is None or not raw.strip():
            return
        try:
            v.parse_number(raw, places)
        except v.ValidationError as exc:
            _stop(field, exc.message)

    return check


def _date_check(form, field) -> None:
    raw = _raw(field)
    if raw and any(not c.isascii() for c in raw):
        _stop(field, _l("Enter the date with the digits 0-9, such as 2026-11-22."))
    day = field.data
    if day is None or field.errors:
        return
    day = day.date() if isinstance(day, datetime.datetime) else day
    try:
        (v.check_study_date if getattr(field, "date_kind", "past") == "study" else v.check_past_date)(day)
    except v.ValidationError as exc:
        _stop(field, exc.message)


def _bind_field(meta, form, unbound_field, options):
    field = unbound_field.bind(form=form, **options)  # what wtforms.meta.DefaultMeta.bind_field does
    validators = list(field.validators or ())
    if isinstance(field, (DateField, DateTimeField)):
        validators.insert(0, _date_check)
    elif isinstance(field, IntegerField) and not getattr(field, "row_id", False):
        validators.insert(0, _number_check(0))
    elif isinstance(field, DecimalField):
        places = unbound_field.kwargs.get("places")
        validators.insert(0, _number_check(DECIMAL_PLACES if places is None else places))
    elif isinstance(field, FloatField):
        validators.insert(0, _number_check(FLOAT_PLACES))
    elif isinstance(field, StringField):
        validators.append(_text_check)
    else:
        return field
    field.validators = validators
    return field


_wrap_formdata = FlaskForm.Meta.wrap_formdata


def _unguarded(formdata):
    if isinstance(formdata, GuardedForm):
        return formdata.raw
    if isinstance(formdata, CombinedMultiDict):
        return CombinedMultiDict([_unguarded(d) for d in formdata.dicts])
    return formdata


def _wrap_formdata_unguarded(meta, form, formdata):
    """A form reads the posted values as sent, to show a bad character's error at its field."""
    return _unguarded(_wrap_formdata(meta, form, formdata))


def install_field_checks() -> None:
    """Every FlaskForm (ours, and FAB's DynamicForm built by its form generator) binds its fields and reads the
    posted data through FlaskForm.Meta: the checks are added there once."""
    FlaskForm.Meta.bind_field = _bind_field
    FlaskForm.Meta.wrap_formdata = _wrap_formdata_unguarded


# ---------------------------------------------------------------- the request filter

class BadCharacters(BadRequest):
    """A request carrying a character no text may hold; its description names where."""


def _shown(name: str) -> str:
    """A field name as it can be shown: its bad characters replaced, and not too long."""
    return "".join("?" if v.bad_character(c) else c for c in name[:60])


def _code(c: str) -> str:
    return f"U+{ord(c):04X}"


def _message(kind: str, name: str, c: str) -> str:
    name, code = _shown(name), _code(c)
    if kind == "url":
        return gettext("The address contains an invisible control character (%(code)s) in “%(name)s”. Nothing "
                       "was changed.", name=name, code=code)
    if kind == "file":
        return gettext("The name of the file uploaded as “%(name)s” contains an invisible control character "
                       "(%(code)s). Nothing was saved: rename the file and send the form again.", name=name, code=code)
    return gettext("The field “%(name)s” contains an invisible control character (%(code)s). Nothing was saved: "
                   "remove the character and send the form again.", name=name, code=code)


class GuardedForm(ImmutableMultiDict):
    """request.form when a posted value holds a bad character: reading that value any way but through a FlaskForm
    raises BadCharacters (400); listings (items, to_dict …) leave it out. A FlaskForm reads `raw`."""

    def __init__(self, raw, bad: dict[str, str]):
        super().__init__([(k, x) for k, x in raw.items(multi=True) if k not in bad])
        self.raw = raw
        self.bad = bad

    def _check(self, key):
        if key in self.bad:
            raise BadCharacters(_message("field", key, self.bad[key]))

    def __getitem__(self, key):
        self._check(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        return key in self.bad or super().__contains__(key)

    def get(self, key, default=None, type=None):
        self._check(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        self._check(key)
        return super().getlist(key, type)


def _json_strings(value, path: str = ""):
    if isinstance(value, str):
        yield path or "json", value
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            yield name, str(key)
            yield from _json_strings(item, name)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _json_strings(item, f"{path}[{n}]")


def _refused_at_once():
    """(kind, name, character) of the first bad character outside form values, or None."""
    places = [("url", name, value) for name, value in (request.view_args or {}).items() if isinstance(value, str)]
    places += [("url", name, text) for name, value in request.args.items(multi=True) for text in (name, value)]
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        places += [("field", name, name) for name in [*request.form.keys(), *request.files.keys()]]
        places += [("file", name, upload.filename or "") for name, upload in request.files.items(multi=True)]
        if request.is_json:
            places += [("field", name, text) for name, text in _json_strings(request.get_json(silent=True))]
    for kind, name, text in places:
        c = v.bad_character(text)
        if c is not None:
            return kind, name, c
    return None


def refuse_bad_characters():
    """Before any view: see the module's docstring."""
    found = _refused_at_once()
    if found is not None:
        return _refuse(_message(*found))
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.form:
        bad = {}
        for name, value in request.form.items(multi=True):
            c = v.bad_character(value)
            if c is not None and name not in bad:
                bad[name] = c
        if bad:
            request.form = GuardedForm(request.form, bad)
    return None


def _refuse(message: str):
    """The site's error page (views.errors: its layout, a way back, the typed text to copy); JSON for a JSON body
    or an API / XHR client."""
    if request.is_json:
        return jsonify(error=message, code="invalid"), 400
    return error_page(400, message, keep_input=True)


def init_app(app) -> None:
    install_field_checks()
    app.before_request(refuse_bad_characters)
    app.register_error_handler(BadCharacters, lambda exc: _refuse(exc.description))
