"""Input validators for identity documents, organisation codes and contact data.

Pure Python (``flask_babel.lazy_gettext`` for messages, ``email_validator`` for e-mail addresses), so every
function can be used in forms, API handlers, imports and tests without an app context.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal

import email_validator
from flask_babel import lazy_gettext as _l

from . import clock

__all__ = [
    "ValidationError",
    "ID_TYPES",
    "normalize_id_number",
    "validate_resident_id",
    "validate_id_number",
    "validate_credit_code",
    "validate_temporary_code",
    "validate_org_code",
    "make_temporary_credit_code",
    "validate_password",
    "validate_mobile",
    "validate_email",
    "validate_person_name",
    "validate_org_name",
    "mask_id_number",
    "birth_date_and_gender",
    "DATE_MIN",
    "check_past_date",
    "check_study_date",
    "parse_number",
    "bad_character",
    "check_plain_text",
]


class ValidationError(ValueError):
    """A user-facing validation failure with a translatable message."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return str(self.message)


# --------------------------------------------------------------------------- helpers

# Full-width digits/letters (U+FF10-FF19, U+FF21-FF3A, U+FF41-FF5A) and the
# ideographic space (U+3000) mapped to their ASCII counterparts.
_FULLWIDTH = {cp: cp - 0xFEE0 for lo, hi in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
              for cp in range(lo, hi + 1)} | {0x3000: 0x20}


def _to_ascii(raw: str | None) -> str:
    """Translate full-width digits, letters and spaces to ASCII and strip."""
    return (raw or "").translate(_FULLWIDTH).strip()


# Hyphens and dashes people type between the groups of a code: ASCII, Unicode hyphens and dashes, minus, full-width.
_CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\uff0d]+")


def _compact(raw: str | None) -> str:
    """Full-width → ASCII, upper-case, and remove all whitespace, hyphens and dashes (GB 32100 codes are
    often written in groups: ``91 110000 600037341L``, ``91-110000-600037341L``)."""
    return _CODE_SEPARATORS.sub("", _to_ascii(raw)).upper()


# --------------------------------------------------------------------------- ID numbers

_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_GB11643_CHECK = "10X98765432"
# Province-level codes of GB/T 2260 on the mainland.
_PROVINCES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66)]
)
# GB/T 2260 lists Taiwan (710000), Hong Kong (810000) and Macao (820000) without subdivisions, and the residence
# permits of Hong Kong, Macao and Taiwan residents (港澳台居民居住证申领发放办法, art. 9) carry a GB 11643 number
# whose address code is exactly 810000, 820000 or 830000: outside the mainland only these whole codes occur.
_WHOLE_ADDRESS_CODES = frozenset(["710000", "810000", "820000", "830000"])

ID_TYPES = [
    ("resident_id", _l("Resident ID card")),
    ("passport", _l("Passport")),
    ("hk_macao_permit", _l("Mainland travel permit for Hong Kong and Macao residents")),
    ("taiwan_permit", _l("Mainland travel permit for Taiwan residents")),
    ("foreign_permanent", _l("Foreigner's permanent residence ID card")),
    ("officer", _l("Military officer ID")),
]


def normalize_id_number(raw: str | None) -> str:
    """Strip, convert full-width characters, drop inner spaces, upper-case a trailing x."""
    s = re.sub(r"\s+", "", _to_ascii(raw))
    return s[:-1] + "X" if s.endswith("x") else s


def _gb11643_check_char(body17: str) -> str:
    """Check character for the first 17 digits of a GB 11643 number."""
    return _GB11643_CHECK[sum(int(d) * w for d, w in zip(body17, _GB11643_WEIGHTS)) % 11]


def _known_region(address: str) -> bool:
    """The 6-digit address code starts with a mainland province of GB/T 2260, or is one of the whole codes of
    Taiwan, Hong Kong, Macao and their residents' permits. Counties are not checked: GB/T 2260 changes every
    year and a person keeps the number of a county that no longer exists."""
    return address in _WHOLE_ADDRESS_CODES or int(address[:2]) in _PROVINCES


def _check_gb11643(n: str, check_region: bool = True) -> None:
    """Validate length, charset, birth date, region (optionally) and check digit."""
    if len(n) != 18:
        raise ValidationError(_l("ID number must be 18 characters"))
    if not re.fullmatch(r"[0-9]{17}[0-9X]", n):
        raise ValidationError(_l("ID number must be 17 digits followed by a digit or X"))
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        born = None
    if born is None or not date(1900, 1, 1) <= born <= clock.today():
        raise ValidationError(_l("ID number contains an invalid date of birth"))
    if check_region and not _known_region(n[:6]):
        raise ValidationError(_l("ID number contains an invalid region code"))
    if _gb11643_check_char(n[:17]) != n[17]:
        raise ValidationError(_l("ID number check digit is wrong"))


def validate_resident_id(raw: str | None) -> str:
    """Validate a GB 11643-1999 resident ID number; return it normalised."""
    n = normalize_id_number(raw)
    _check_gb11643(n)
    return n


def _validate_foreign_permanent(n: str) -> str:
    """Old style: 3 letters + 12 digits; new style (2023): 18 chars starting with 9."""
    if re.fullmatch(r"[A-Z]{3}[0-9]{12}", n):
        return n
    if len(n) == 18 and n.startswith("9"):
        _check_gb11643(n, check_region=False)
        return n
    raise ValidationError(_l("Foreigner's permanent residence ID must be 3 letters followed by "
                             "12 digits, or 18 characters starting with 9"))


_ID_PATTERNS = {
    "passport": (r"[A-Z][A-Z0-9]{4,16}",
                 _l("Passport number must be 5-17 letters or digits, starting with a letter")),
    "hk_macao_permit": (r"[HM][0-9]{8}(?:[0-9]{2})?",
                        _l("Hong Kong/Macao permit number must be H or M followed by 8 or 10 digits")),
    "taiwan_permit": (r"[0-9]{8}(?:[0-9]{2})?",
                      _l("Taiwan permit number must be 8 or 10 digits")),
    "officer": (r"[A-Z0-9\u4e00-\u9fa5]{4,20}",
                _l("Military officer ID must be 4-20 Chinese characters, letters or digits")),
}


def validate_id_number(id_type: str, raw: str | None) -> str:
    """Validate ``raw`` according to ``id_type`` (a key of ``ID_TYPES``); return it normalised."""
    if id_type == "resident_id":
        return validate_resident_id(raw)
    n = normalize_id_number(raw).upper()
    if id_type == "foreign_permanent":
        return _validate_foreign_permanent(n)
    if id_type not in _ID_PATTERNS:
        raise ValidationError(_l("Unknown ID type"))
    pattern, message = _ID_PATTERNS[id_type]
    if not re.fullmatch(pattern, n):
        raise ValidationError(message)
    return n


def mask_id_number(n: str | None) -> str:
    """Mask an ID number for display: ``110105********002X``.

    Keeps the first 6 and last 4 characters only when at least 4 remain hidden
    (length ≥ 14); shorter numbers keep 1 + 1, and 1-2 character values are fully masked.
    """
    if not n:
        return ""
    if len(n) >= 14:
        return n[:6] + "*" * (len(n) - 10) + n[-4:]
    if len(n) <= 2:
        return "*" * len(n)
    return n[0] + "*" * (len(n) - 2) + n[-1]


def birth_date_and_gender(id_number: str | None) -> tuple[date, str]:
    """Birth date and ``"M"``/``"F"`` from a valid 18-digit resident ID (17th digit odd → M)."""
    n = validate_resident_id(id_number)
    born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    return born, "M" if int(n[16]) % 2 else "F"


# --------------------------------------------------------------------------- organisation codes

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I O S V Z
_USCC_WEIGHTS = tuple(3 ** i % 31 for i in range(17))  # 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28


def _uscc_check_char(body17: str) -> str:
    """GB 32100-2015 check character for the first 17 characters."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body17, _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(raw: str | None) -> str:
    """Validate a unified social credit code (统一社会信用代码); return it normalised."""
    code = _compact(raw)
    if len(code) != 18:
        raise ValidationError(_l("Unified social credit code must be 18 characters"))
    if any(c not in _USCC_ALPHABET for c in code):
        raise ValidationError(_l("Unified social credit code may only contain digits and "
                                 "upper-case letters except I, O, S, V and Z"))
    if not code[2:8].isdigit():
        raise ValidationError(_l("Unified social credit code contains an invalid "
                                 "administrative division code"))
    if _uscc_check_char(code[:17]) != code[17]:
        raise ValidationError(_l("Unified social credit code check character is wrong"))
    return code


def validate_temporary_code(raw: str | None) -> str:
    """Validate a platform-issued temporary organisation code ``LS`` + 16 digits."""
    code = _compact(raw)
    if not re.fullmatch(r"LS[0-9]{16}", code):
        raise ValidationError(_l("Temporary organization code must be LS followed by 16 digits"))
    return code


def validate_org_code(raw: str | None, temporary: bool = False) -> str:
    """Validate either a credit code or (``temporary=True``) a temporary code."""
    return validate_temporary_code(raw) if temporary else validate_credit_code(raw)


def make_temporary_credit_code(seq: int) -> str:
    """Build the temporary code for sequence number ``seq`` (0 ≤ seq < 10**16)."""
    if not 0 <= seq < 10 ** 16:
        raise ValueError("seq out of range")
    return f"LS{seq:016d}"


# --------------------------------------------------------------------------- passwords & contact

_PASSWORD_RULE = _l("Password must be at least 8 characters and contain at least 3 of: "
                    "upper-case letters, lower-case letters, digits, symbols")


def validate_password(pw: str | None, id_number: str | None = None) -> None:
    """Enforce 8-64 chars, ≥ 3 of 4 character classes, and no embedded ID number."""
    pw = pw or ""
    if len(pw) < 8:
        raise ValidationError(_PASSWORD_RULE)
    if len(pw) > 64:
        raise ValidationError(_l("Password must be at most 64 characters"))
    classes = (
        any("a" <= c <= "z" for c in pw),
        any("A" <= c <= "Z" for c in pw),
        any("0" <= c <= "9" for c in pw),
        any(not (c.isascii() and c.isalnum()) for c in pw),
    )
    if sum(classes) < 3:
        raise ValidationError(_PASSWORD_RULE)
    idn = normalize_id_number(id_number)
    if idn and idn.upper() in pw.upper():
        raise ValidationError(_l("Password must not contain your ID number"))


def validate_mobile(raw: str | None) -> str:
    """Validate a mainland China mobile number; return the 11 digits."""
    n = re.sub(r"\s+", "", _to_ascii(raw))
    if not re.fullmatch(r"1[3-9][0-9]{9}", n):
        raise ValidationError(_l("Mobile number must be 11 digits starting with 13-19"))
    return n


# Full-width ASCII (U+FF01-FF5E: a Chinese input method in full-width mode types ＠ and ．) and the
# ideographic space, mapped to ASCII before an address is read.
_FULLWIDTH_ASCII = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def validate_email(raw: str | None) -> str:
    """Validate an e-mail address with ``email_validator`` (syntax only, no DNS); return its normalised form
    (domain lower-cased, an internationalised domain in Unicode). The part before the @ must be ASCII: not every
    mail server on the way accepts SMTPUTF8."""
    s = (raw or "").translate(_FULLWIDTH_ASCII).strip()
    if len(s) > 254:
        raise ValidationError(_l("Email address is too long"))
    try:
        # strict: the RFC 5321 limit of 64 characters before the @ too
        checked = email_validator.validate_email(s, check_deliverability=False, allow_smtputf8=False, strict=True)
    except email_validator.EmailNotValidError as exc:
        raise ValidationError(_l("Email address is not valid")) from exc
    return checked.normalized


# --------------------------------------------------------------------------- names

_NAME_WORD = r"[A-Za-z\u3400-\u4dbf\u4e00-\u9fff]+"
_NAME_RE = re.compile(rf"{_NAME_WORD}(?:(?: ?[·•] ?| ){_NAME_WORD})*")


def validate_person_name(raw: str | None) -> str:
    """Validate a person's name (CJK, ASCII letters, single spaces, middle dots)."""
    s = re.sub(" {2,}", " ", (raw or "").replace("\u3000", " ").strip())
    if not 2 <= len(s) <= 30:
        raise ValidationError(_l("Name must be between 2 and 30 characters"))
    if not _NAME_RE.fullmatch(s):
        raise ValidationError(_l("Name may only contain Chinese characters, letters, spaces "
                                 "and the middle dot"))
    return s


_ORG_NAME_FORBIDDEN = set("<>\"';\\")


def validate_org_name(raw: str | None) -> str:
    """Validate an organisation name: 2-100 chars, no markup/quote/control characters."""
    s = (raw or "").strip()
    if not 2 <= len(s) <= 100:
        raise ValidationError(_l("Organization name must be between 2 and 100 characters"))
    if any(c in _ORG_NAME_FORBIDDEN or unicodedata.category(c) in ("Cc", "Cf") for c in s):
        raise ValidationError(_l("Organization name must not contain < > \" ' ; \\ "
                                 "or control characters"))
    return s


# --------------------------------------------------------------------------- dates (one sane range)

DATE_MIN = date(1900, 1, 1)
STUDY_DAYS_AHEAD = 366  # a course may be planned up to a year ahead


def _iso(day: date) -> str:
    return day.isoformat()


def check_past_date(day: date) -> date:
    """A date of something that has happened (graduation, title, birth, certificate, publication):
    1900-01-01 .. today."""
    today = clock.today()
    if not DATE_MIN <= day <= today:
        raise ValidationError(_l("The date must lie between %(a)s and today (%(b)s).", a=_iso(DATE_MIN),
                                 b=_iso(today)))
    return day


def check_study_date(day: date) -> date:
    """A date of a course or a training: 1900-01-01 .. one year from today."""
    latest = date.fromordinal(clock.today().toordinal() + STUDY_DAYS_AHEAD)
    if not DATE_MIN <= day <= latest:
        raise ValidationError(_l("The date must lie between %(a)s and %(b)s.", a=_iso(DATE_MIN), b=_iso(latest)))
    return day


# --------------------------------------------------------------------------- numbers typed by people

_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.([0-9]*))?|\.([0-9]+))")


def _non_ascii_digit(s: str) -> bool:
    """Full-width, Arabic-Indic, Devanagari … digits, superscripts: everything Python's int() might accept."""
    return any(not c.isascii() and (c.isdigit() or unicodedata.category(c) == "Nd") for c in s)


def parse_number(raw, places: int = 0, invalid=None) -> Decimal:
    """A number typed as ASCII digits with at most ``places`` decimals ("1.50" counts as one decimal);
    no exponent, no underscores, no NaN or Infinity, no other scripts' digits. Never rounds. ``invalid``: the
    message for what is no number at all."""
    if isinstance(raw, Decimal):
        raw = format(raw, "f")
    s = str(raw if raw is not None else "").strip()
    if _non_ascii_digit(s):
        raise ValidationError(_l("Numbers must be written with the digits 0-9 (no full-width or other digits)."))
    m = _NUMBER_RE.fullmatch(s)
    if not m:
        raise ValidationError(invalid or (_l("Enter a number such as 12 or 1.5.") if places
                                          else _l("Enter a whole number.")))
    decimals = (m.group(1) or m.group(2) or "").rstrip("0")
    if len(decimals) > places:
        if not places:
            raise ValidationError(_l("Enter a whole number."))
        raise ValidationError(_l("At most %(n)s decimal place(s) allowed; %(value)s has more.", n=places, value=s))
    return Decimal(s)


# --------------------------------------------------------------------------- text: control characters

_ALWAYS_BAD = ("\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 but tab / line feed / carriage return, DEL, C1
               "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
               "\ud800-\udfff"  # surrogates (a JSON body can carry a lone one)
               "\ufdd0-\ufdef" + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0, 0x110000, 0x10000)))
_BAD_MULTILINE = re.compile(f"[{_ALWAYS_BAD}]")
_BAD_SINGLE_LINE = re.compile(f"[{_ALWAYS_BAD}\t\n\r]")
_LINE_CONTROLS = frozenset("\t\n\r")


def bad_character(s: str, multiline: bool = True) -> str | None:
    """The first character no text field may hold, or None: C0 controls (tab, line feed and carriage return
    are allowed in multi-line text only), DEL, C1 controls, bidi overrides and isolates (they reorder what a
    reviewer reads), surrogates and Unicode noncharacters."""
    m = (_BAD_MULTILINE if multiline else _BAD_SINGLE_LINE).search(s)
    return m.group(0) if m else None


def check_plain_text(s: str, multiline: bool = True) -> str:
    """Refuse a text holding a character of ``bad_character``, naming it (U+0000)."""
    c = bad_character(s, multiline)
    if c is None:
        return s
    if not multiline and c in _LINE_CONTROLS:
        raise ValidationError(_l("Must be a single line without tabs or line breaks."))
    raise ValidationError(_l("Contains an invisible control character (%(code)s): remove it and try again.",
                             code=f"U+{ord(c):04X}"))
