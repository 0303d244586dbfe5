"""The API's per-field refusals in the user's language. Marshmallow words its messages in English
("Missing data for required field.", "Must be greater than or equal to 1990 and less than or equal to 2100.");
each known wording is matched here and said through a translated message with the same figures. A wording not
known here (a later marshmallow) becomes a general "invalid value" rather than leaking English; the platform's own
messages (already translated) pass unchanged."""
from __future__ import annotations

import re

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from ..views.util import N_

# marshmallow's type names (fields' "invalid" messages) in the user's language
_TYPES = {"integer": _l("an integer"), "number": _l("a number"), "string": _l("a text"), "boolean": _l("true or false"),
          "list": _l("a list"), "tuple": _l("a list"), "mapping type": _l("an object"), "datetime": _l("a date and time"),
          "date": _l("a date"), "time": _l("a time"), "UUID": _l("an identifier"), "URL": _l("a web address"),
          "email address": _l("an e-mail address")}

_PATTERNS: tuple[tuple[re.Pattern, str], ...] = tuple((re.compile(p + r"\Z"), m) for p, m in (
    (r"Missing data for required field\.", N_("This field is required.")),
    (r"Unknown field\.", N_("This field is not accepted.")),
    (r"Field may not be null\.", N_("This field may not be empty.")),
    (r"Not a valid (?P<type>[A-Za-z ]+)\.", N_("Must be %(type)s.")),
    (r"Invalid (input )?type\.", N_("This value has the wrong type.")),
    (r"Invalid (input|value)\.", N_("Invalid value.")),
    (r"Must be greater than or equal to (?P<min>\S+) and less than or equal to (?P<max>\S+)\.",
     N_("Must be from %(min)s to %(max)s.")),
    (r"Must be greater than (?P<min>\S+) and less than (?P<max>\S+)\.",
     N_("Must be more than %(min)s and less than %(max)s.")),
    (r"Must be greater than or equal to (?P<min>\S+)\.", N_("Must be at least %(min)s.")),
    (r"Must be less than or equal to (?P<max>\S+)\.", N_("Must be at most %(max)s.")),
    (r"Must be greater than (?P<min>\S+)\.", N_("Must be more than %(min)s.")),
    (r"Must be less than (?P<max>\S+)\.", N_("Must be less than %(max)s.")),
    (r"Length must be between (?P<min>\d+) and (?P<max>\d+)\.", N_("Must be %(min)s to %(max)s long.")),
    (r"Shorter than minimum length (?P<min>\d+)\.", N_("Must be at least %(min)s long.")),
    (r"Longer than maximum length (?P<max>\d+)\.", N_("Must be at most %(max)s long.")),
    (r"Length must be (?P<equal>\d+)\.", N_("Must be exactly %(equal)s long.")),
    (r"Must be one of: (?P<choices>.*)\.", N_("Must be one of: %(choices)s.")),
    (r"Special numeric values \(nan or infinity\) are not permitted\.", N_("Must be a finite number.")),
    (r"Number too large\.", N_("The number is too large.")),
    (r"String does not match expected pattern\.", N_("Invalid value.")),
))
_ENGLISH = re.compile(r"[A-Za-z]{3,}")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def translate(message) -> str:
    """One message in the user's language."""
    text = str(message)
    for pattern, translated in _PATTERNS:
        found = pattern.match(text)
        if found:
            values = found.groupdict()
            if "type" in values:
                values["type"] = str(_TYPES.get(values["type"], _l("a valid value")))
            return gettext(translated, **values)
    if _CJK.search(text) or not _ENGLISH.search(text):
        return text  # the platform's own message, already in the user's language (or no words at all)
    return gettext("Invalid value.")


def per_field(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's messages (a dict per field; nested fields, list items and dict entries nest further) as one
    flat dict: the path of each field ("details.主办单位.value", "ids.3") to its translated messages, the shape the
    API's error body documents."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for field, said in per_field(value, path).items():
                out.setdefault(field, []).extend(said)
        return out
    items = messages if isinstance(messages, (list, tuple)) else [messages]
    for message in items:
        if isinstance(message, (dict, list, tuple)):
            for field, said in per_field(message, prefix).items():
                out.setdefault(field, []).extend(said)
        else:
            out.setdefault(prefix or "_schema", []).append(translate(message))
    return out
