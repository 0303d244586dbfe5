"""Tests for app.validators (pure functions, no app fixture needed), and at the end the same rules as a person
meets them on the registration pages (Chinese messages, what is stored).

Reference vectors:
* 11010519491231002X - the worked example of GB 11643-1999.
* 360426199101010071, 44011320141005001X, ... - from python-stdnum's cn.ric tests.
* 91350100M000100Y43 - the worked example of GB 32100-2015 (the standard shows
  that ...Y4Z is wrong and that the check character must be 3).
* 91110000600037341L, 121200004013590816, ... - published codes quoted in
  python-stdnum's cn.uscc tests.
The helpers ``_rid``/``_uscc`` below compute check characters with formulas written
independently of the module (used only to build boundary cases).
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.demo import make_credit_code
from app.models import Account, Org, Registration
from app.validators import (
    ID_TYPES,
    ValidationError,
    birth_date_and_gender,
    make_temporary_credit_code,
    mask_id_number,
    normalize_id_number,
    validate_credit_code,
    validate_email,
    validate_id_number,
    validate_mobile,
    validate_org_code,
    validate_org_name,
    validate_password,
    validate_person_name,
    validate_resident_id,
    validate_temporary_code,
)
from tests import factories
from tests.helpers import page, submit

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _rid(body17: str) -> str:
    """Append the GB 11643 check char (ISO 7064 MOD 11-2: 2^i weights == base-13 trick)."""
    c = (1 - 2 * int(body17, 13)) % 11
    return body17 + ("X" if c == 10 else str(c))


def _uscc(body17: str) -> str:
    """Append the GB 32100 check char (weights 3^(i-1) mod 31)."""
    total = sum(USCC_ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(body17))
    return body17 + USCC_ALPHABET[-total % 31]


def _fw(s: str) -> str:
    """ASCII letters/digits/spaces → full-width forms."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in s)


def rejects(fn, *args, message: str | None = None, **kwargs) -> ValidationError:
    """Assert ``fn`` raises ValidationError with a non-empty (and optionally exact) message."""
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    exc = info.value
    assert isinstance(exc, ValueError)
    assert str(exc.message).strip()
    assert str(exc) == str(exc.message)
    if message is not None:
        assert str(exc.message) == message
    return exc


# ----------------------------------------------------------------- ValidationError


def test_validation_error_carries_message_and_field():
    exc = ValidationError("boom", field="id_number")
    assert exc.message == "boom" and exc.field == "id_number"
    assert ValidationError("boom").field is None
    assert isinstance(exc, ValueError)


# ----------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  11010519491231002x ", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        (_fw(" 110105 19491231 002x "), "11010519491231002X"),
        ("\u3000110105 19491231 002X\u3000", "11010519491231002X"),
        ("ｅ１２３４５６７８", "e12345678"),  # only a trailing x is upper-cased
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_id_number(raw, expected):
    assert normalize_id_number(raw) == expected


# ----------------------------------------------------------------- resident ID (GB 11643)

VALID_RESIDENT_IDS = [
    "11010519491231002X",
    "360426199101010071",
    "44011320141005001X",
    "412723199010050012",
    "110102199101010078",
    "120110198012010073",
]


@pytest.mark.parametrize("number", VALID_RESIDENT_IDS)
def test_resident_id_valid_vectors(number):
    assert validate_resident_id(number) == number


@pytest.mark.parametrize(
    "raw",
    ["11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ", " 110105 1949 1231 002x ",
     "１１０１０５１９４９１２３１００２ｘ"],
)
def test_resident_id_normalised(raw):
    assert validate_resident_id(raw) == "11010519491231002X"


@pytest.mark.parametrize(
    "raw, message",
    [
        ("110105194912310021", "ID number check digit is wrong"),
        ("36042619910102009X", "ID number check digit is wrong"),
        ("1101051949123100X", "ID number must be 18 characters"),  # 17 chars
        ("11010519491231002", "ID number must be 18 characters"),  # 17 digits
        ("11010519491231002X1", "ID number must be 18 characters"),  # 19 chars
        ("1101051949123100211", "ID number must be 18 characters"),  # 19 digits
        ("110105194912310", "ID number must be 18 characters"),  # old 15-digit format
        ("", "ID number must be 18 characters"),
        (None, "ID number must be 18 characters"),
        ("11010519491231002A", None),
        ("1101051949123100XX", None),
        ("11O10519491231002X", None),  # letter O instead of zero
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", None),  # Arabic-Indic digits are not accepted
        ("360426199113010079", "ID number contains an invalid date of birth"),
    ],
)
def test_resident_id_rejected(raw, message):
    rejects(validate_resident_id, raw, message=message)


@pytest.mark.parametrize(
    "birth",
    ["19490230", "19000229", "20230229", "19901301", "19900001", "19900100", "19900132",
     "18991231", "20991231", "00000000"],
)
def test_resident_id_impossible_dates(birth):
    rejects(validate_resident_id, _rid("110105" + birth + "002"),
            message="ID number contains an invalid date of birth")


def test_resident_id_date_bounds():
    today = clock.today()
    assert validate_resident_id(_rid("11010519000101001"))
    assert validate_resident_id(_rid("11010520000229001"))  # leap day
    assert validate_resident_id(_rid("110105" + today.strftime("%Y%m%d") + "001"))
    tomorrow = today + timedelta(days=1)
    rejects(validate_resident_id, _rid("110105" + tomorrow.strftime("%Y%m%d") + "001"))


@pytest.mark.parametrize("region", ["00", "10", "16", "20", "24", "30", "38", "47", "55",
                                    "60", "66", "72", "80", "84", "90", "91", "92", "99"])
def test_resident_id_bad_region(region):
    rejects(validate_resident_id, _rid(region + "010519491231002"),
            message="ID number contains an invalid region code")


@pytest.mark.parametrize("region", ["11", "15", "21", "23", "31", "37", "41", "46", "50",
                                    "54", "61", "65"])
def test_resident_id_good_region(region):
    number = _rid(region + "010519491231002")
    assert validate_resident_id(number) == number


@pytest.mark.parametrize("address", ["710000", "810000", "820000", "830000"])
def test_taiwan_hong_kong_macao_and_their_residence_permits(address):
    # 港澳台居民居住证: 810000 / 820000 / 830000; a Hong Kong resident born before 1997 holds one too.
    for birth in ("19600101", "19961231", "20010701"):
        number = _rid(address + birth + "001")
        assert validate_resident_id(number) == number
        assert birth_date_and_gender(number)[0] == date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))


@pytest.mark.parametrize("address", ["710100", "810100", "810001", "820200", "830100", "839999", "830001"])
def test_taiwan_hong_kong_macao_only_as_whole_codes(address):
    # GB/T 2260 has no subdivisions for 71 / 81 / 82, and 83 is no province: only the permit's 830000 exists.
    rejects(validate_resident_id, _rid(address + "19850101001"),
            message="ID number contains an invalid region code")


def test_foreign_permanent_18_digits_start_with_9_whatever_follows():
    # The 2023 permanent residence card is no 身份证号: its 9x prefix is no region (and 91 is no province).
    number = _rid("91310119900101001")
    assert validate_id_number("foreign_permanent", number) == number
    rejects(validate_id_number, "resident_id", number, message="ID number contains an invalid region code")


@pytest.mark.parametrize("number", VALID_RESIDENT_IDS)
def test_resident_id_any_single_substitution_rejected(number):
    for pos, alt in itertools.product(range(18), "0123456789X"):
        if alt != number[pos] and (alt != "X" or pos == 17):
            rejects(validate_resident_id, number[:pos] + alt + number[pos + 1:])


# ----------------------------------------------------------------- other ID types


def test_id_types_constant():
    keys = [k for k, _ in ID_TYPES]
    assert keys == ["resident_id", "passport", "hk_macao_permit", "taiwan_permit",
                    "foreign_permanent", "officer"]
    assert all(str(label).strip() for _, label in ID_TYPES)


@pytest.mark.parametrize(
    "id_type, raw, expected",
    [
        ("resident_id", "11010519491231002x", "11010519491231002X"),
        ("passport", "E12345678", "E12345678"),
        ("passport", "g1234567", "G1234567"),
        ("passport", "A1234", "A1234"),
        ("passport", "A" + "1" * 16, "A" + "1" * 16),
        ("passport", "ＥＡ１２３４５６７", "EA1234567"),
        ("hk_macao_permit", "H12345678", "H12345678"),
        ("hk_macao_permit", "m1234567801", "M1234567801"),
        ("taiwan_permit", "12345678", "12345678"),
        ("taiwan_permit", "1234567890", "1234567890"),
        ("foreign_permanent", "USA123456789012", "USA123456789012"),
        ("foreign_permanent", "can 123456789012", "CAN123456789012"),
        ("foreign_permanent", _rid("93310119900101001"), _rid("93310119900101001")),
        ("officer", "南字第123456号", "南字第123456号"),
        ("officer", "ab1234", "AB1234"),
        ("officer", "1" * 20, "1" * 20),
    ],
)
def test_id_number_valid(id_type, raw, expected):
    assert validate_id_number(id_type, raw) == expected


@pytest.mark.parametrize(
    "id_type, raw",
    [
        ("resident_id", "110105194912310021"),
        ("passport", "1234567"),  # must start with a letter
        ("passport", "A123"),  # too short
        ("passport", "A" + "1" * 17),  # too long
        ("passport", "E1234-567"),
        ("passport", "护照123456"),
        ("passport", ""),
        ("hk_macao_permit", "H1234567"),
        ("hk_macao_permit", "H123456789"),
        ("hk_macao_permit", "C12345678"),
        ("hk_macao_permit", "12345678"),
        ("taiwan_permit", "1234567"),
        ("taiwan_permit", "123456789"),
        ("taiwan_permit", "T12345678"),
        ("foreign_permanent", "US1234567890123"),
        ("foreign_permanent", "USA12345678901"),
        ("foreign_permanent", "USA1234567890123"),
        ("foreign_permanent", _rid("83310119900101001")),  # 18 digits must start with 9
        ("foreign_permanent", _rid("93310119900101001")[:-1] + "X"),  # check digit
        ("foreign_permanent", _rid("93310119900230001")),  # date
        ("officer", "123"),
        ("officer", "1" * 21),
        ("officer", "南字-123"),
        ("officer", "<b>1234</b>"),
        ("driver_licence", "123456789"),  # unknown type
        ("", "123456789"),
    ],
)
def test_id_number_rejected(id_type, raw):
    rejects(validate_id_number, id_type, raw)


def test_unknown_id_type_message():
    rejects(validate_id_number, "nope", "123456", message="Unknown ID type")


# ----------------------------------------------------------------- credit codes (GB 32100)

VALID_CREDIT_CODES = [
    "91350100M000100Y43",
    "91110000600037341L",
    "121200004013590816",
    "91310115MA1K3BTP2B",
    "9144030071526726XG",
    "91620105L015101280",
    "92340602MA2PBMEM24",
    "91340600MA2PBMBL5H",
]


@pytest.mark.parametrize("code", VALID_CREDIT_CODES)
def test_credit_code_valid(code):
    assert validate_credit_code(code) == code
    assert validate_org_code(code) == code


@pytest.mark.parametrize("body", ["Y1110000MA0000000", "N2110000MA0000000", "A1110000600037341",
                                  "51440300MJH000000"])
def test_credit_code_any_registration_authority(body):
    assert validate_credit_code(_uscc(body)) == _uscc(body)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("91310115ma1k3btp2b", "91310115MA1K3BTP2B"),
        (" 91 110000 600037341L ", "91110000600037341L"),
        (_fw("91110000600037341L"), "91110000600037341L"),
        (_fw("91110000600037341l"), "91110000600037341L"),
        (_fw("91310115 ma1k3btp2b"), "91310115MA1K3BTP2B"),
        ("91-110000-600037341L", "91110000600037341L"),
        ("9111-0000-6000-3734-1L", "91110000600037341L"),
        ("91 - 110000 - 600037341l", "91110000600037341L"),
        ("91\u3000110000\u3000600037341L", "91110000600037341L"),
        ("９１－１１００００－６０００３７３４１Ｌ", "91110000600037341L"),  # full-width hyphens
        ("91\u2010110000\u2013600037341L\u00a0", "91110000600037341L"),  # Unicode hyphen, en dash, no-break space
        ("\t91310115\nMA1K3BTP2B ", "91310115MA1K3BTP2B"),
    ],
)
def test_credit_code_normalised(raw, expected):
    assert validate_credit_code(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("91350100M000100Y4Z", None),  # the standard's own negative example
        ("91110000600037341N", "Unified social credit code check character is wrong"),
        ("91110000600037341", "Unified social credit code must be 18 characters"),
        ("91110000600037341LL", "Unified social credit code must be 18 characters"),
        ("", "Unified social credit code must be 18 characters"),
        (None, "Unified social credit code must be 18 characters"),
        ("9111000060003IOZSV", None),
        ("91110000600037341-", "Unified social credit code must be 18 characters"),  # 17 once stripped
        ("91-110000-600037341N", "Unified social credit code check character is wrong"),
        ("91_110000_600037341L", None),  # only spaces, hyphens and dashes separate groups
        ("91.110000.600037341L", None),
        ("91/110000/600037341L", None),
        (_uscc("91A50100M000100Y4"),
         "Unified social credit code contains an invalid administrative division code"),
        (_uscc("913501M0M000100Y4"), None),
    ],
)
def test_credit_code_rejected(raw, message):
    rejects(validate_credit_code, raw, message=message)


@pytest.mark.parametrize("bad", "IOZSV")
@pytest.mark.parametrize("pos", [0, 1, 9, 12, 17])
def test_credit_code_forbidden_letters(bad, pos):
    code = "91310115MA1K3BTP2B"
    rejects(validate_credit_code, code[:pos] + bad + code[pos + 1:])
    rejects(validate_credit_code, (code[:pos] + bad + code[pos + 1:]).lower())


@pytest.mark.parametrize("code", VALID_CREDIT_CODES[:4])
def test_credit_code_any_single_substitution_rejected(code):
    for pos, alt in itertools.product(range(18), USCC_ALPHABET):
        if alt != code[pos]:
            rejects(validate_credit_code, code[:pos] + alt + code[pos + 1:])


# ----------------------------------------------------------------- temporary codes


def test_make_temporary_credit_code():
    assert make_temporary_credit_code(0) == "LS0000000000000000"
    assert make_temporary_credit_code(12345) == "LS0000000000012345"
    assert make_temporary_credit_code(10 ** 16 - 1) == "LS" + "9" * 16
    for seq in (0, 1, 987654321):
        code = make_temporary_credit_code(seq)
        assert validate_temporary_code(code) == code
        assert validate_org_code(code, temporary=True) == code


@pytest.mark.parametrize("seq", [-1, 10 ** 16])
def test_make_temporary_credit_code_out_of_range(seq):
    with pytest.raises(ValueError):
        make_temporary_credit_code(seq)


@pytest.mark.parametrize("raw, expected", [
    ("ls0000000000000001", "LS0000000000000001"),
    (" LS 0000 0000 0000 0001 ", "LS0000000000000001"),
    ("ＬＳ００００００００００００００１２", "LS0000000000000012"),
])
def test_temporary_code_normalised(raw, expected):
    assert validate_temporary_code(raw) == expected


@pytest.mark.parametrize("raw", ["LS123", "LS00000000000000001", "LT0000000000000001",
                                 "LS000000000000000A", "0000000000000000LS", "", None,
                                 "91110000600037341L"])
def test_temporary_code_rejected(raw):
    rejects(validate_temporary_code, raw)
    rejects(validate_org_code, raw, temporary=True)


def test_org_code_dispatch_does_not_mix_formats():
    rejects(validate_org_code, "LS0000000000000001")
    rejects(validate_org_code, "LS0000000000000001", temporary=False)
    rejects(validate_org_code, "91110000600037341L", temporary=True)


@pytest.mark.parametrize("code", VALID_CREDIT_CODES)
def test_org_code_dispatch_strips_separators(code):
    grouped = f"{code[:2]}-{code[2:8]} {code[8:]}"
    assert validate_org_code(grouped) == code
    rejects(validate_org_code, grouped, temporary=True)


# ----------------------------------------------------------------- passwords

CLASSES = {"lower": "abcdefgh", "upper": "ABCDEFGH", "digit": "23456789", "symbol": "!@#$%^&*"}


def _password(classes: tuple[str, ...], length: int = 12) -> str:
    pool = itertools.cycle(itertools.chain.from_iterable(zip(*(CLASSES[c] for c in classes))))
    return "".join(itertools.islice(pool, length))


@pytest.mark.parametrize(
    "classes",
    [combo for n in range(1, 5) for combo in itertools.combinations(CLASSES, n)],
    ids="+".join,
)
def test_password_class_combinations(classes):
    pw = _password(classes)
    if len(classes) >= 3:
        validate_password(pw)
    else:
        rejects(validate_password, pw)


@pytest.mark.parametrize("pw", ["Aa1!aaaa", "Passw0rd", "pass word1", "密码Password1",
                                "Aa1!" + "a" * 60])
def test_password_accepted(pw):
    assert validate_password(pw) is None


@pytest.mark.parametrize("pw", ["Aa1!aaa", "", None, "Aa1!" + "a" * 61, "password", "12345678",
                                "PASSWORD", "Password", "password1"])
def test_password_rejected(pw):
    rejects(validate_password, pw)


def test_password_length_messages():
    rejects(validate_password, "Aa1!", message=(
        "Password must be at least 8 characters and contain at least 3 of: "
        "upper-case letters, lower-case letters, digits, symbols"))
    rejects(validate_password, "Aa1!" * 17, message="Password must be at most 64 characters")


@pytest.mark.parametrize("pw, id_number", [
    ("Zz!11010519491231002X", "11010519491231002X"),
    ("Zz!11010519491231002x", "11010519491231002X"),  # case-insensitive
    ("Zz!11010519491231002X", "11010519491231002x"),
    ("Zz!11010519491231002X", "１１０１０５１９４９１２３１００２Ｘ"),
    ("Secret!e12345678", "E12345678"),
])
def test_password_must_not_contain_id(pw, id_number):
    validate_password(pw)  # fine on its own
    rejects(validate_password, pw, id_number, message="Password must not contain your ID number")


@pytest.mark.parametrize("id_number", [None, "", "   ", "22010519491231002X"])
def test_password_id_unrelated(id_number):
    validate_password("Zz!11010519491231002X", id_number)


# ----------------------------------------------------------------- mobile & e-mail


@pytest.mark.parametrize("raw, expected", [
    ("13800138000", "13800138000"),
    (" 138 0013 8000 ", "13800138000"),
    ("１３８００１３８０００", "13800138000"),
    (_fw("138 0013 8000"), "13800138000"),
    ("199\u300012345678", "19912345678"),
    ("16612345678", "16612345678"),
])
def test_mobile_valid(raw, expected):
    assert validate_mobile(raw) == expected


@pytest.mark.parametrize("raw", ["12800138000", "10800138000", "1380013800", "138001380001",
                                 "+8613800138000", "138-0013-8000", "1380013800a", "",
                                 None, "١٣٨٠٠١٣٨٠٠٠", "<script>"])
def test_mobile_rejected(raw):
    rejects(validate_mobile, raw)


@pytest.mark.parametrize("raw, expected", [
    ("user@example.com", "user@example.com"),
    ("  First.Last+tag@Example.COM ", "First.Last+tag@example.com"),  # the part before the @ keeps its case
    ("a_b-c%d@mail.sub.example.org", "a_b-c%d@mail.sub.example.org"),
    ("x@a.co", "x@a.co"),
    ("12345@QQ.COM", "12345@qq.com"),
    ("o'brien@example.cn", "o'brien@example.cn"),
    # internationalised domains: kept in Unicode, one form whichever way they were typed
    ("x@mail.xn--fiqs8s", "x@mail.中国"),
    ("x@mail.中国", "x@mail.中国"),
    ("x@MAIL.中国", "x@mail.中国"),
    ("zhang@例子.公司", "zhang@例子.公司"),
    ("x@Bücher.DE", "x@bücher.de"),
    ("x@xn--bcher-kva.de", "x@bücher.de"),
    # typed with a Chinese input method in full-width mode
    ("ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｎ", "zhang@example.cn"),
    ("zhang＠example.cn\u3000", "zhang@example.cn"),
])
def test_email_valid(raw, expected):
    assert validate_email(raw) == expected


@pytest.mark.parametrize("raw", [
    "plainaddress", "@example.com", "user@", "user@localhost", "user@@example.com", "a@b@c",
    "user@exa mple.com", "user.@example.com", ".user@example.com", "us..er@example.com",
    "user@-example.com", "user@example-.com", "user@example..com", "user@example.123",
    "<script>@x.com", 'a"b@example.com', '"a b"@example.com', "user@exam\nple.com",
    "user@[127.0.0.1]", "user@127.0.0.1", "user@example.com\x00", "user\u202e@example.com",
    "用户@example.com", "zhang@例子.公司@x.cn", "Zoë@example.com",  # no SMTPUTF8 before the @
    "user@example.local", "user@example.invalid", "user@mail.localhost",  # reserved names
    "a" * 65 + "@example.com", "a@" + "b" * 64 + ".com", "", "   ", None,
])
def test_email_rejected(raw):
    rejects(validate_email, raw, message="Email address is not valid")


def test_email_length_limit():
    ok = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
    assert len(ok) == 254 and validate_email(ok) == ok
    rejects(validate_email, ok + "m", message="Email address is too long")
    rejects(validate_email, "a@" + "b" * 250 + ".com", message="Email address is too long")


def test_email_check_is_syntax_only(monkeypatch):
    # No DNS query: a resolver that fails loudly is never asked, an unregistered domain is accepted.
    import dns.resolver

    def no_dns(*args, **kwargs):
        raise AssertionError("DNS queried")

    monkeypatch.setattr(dns.resolver.Resolver, "resolve", no_dns)
    monkeypatch.setattr(dns.resolver, "resolve", no_dns)
    assert validate_email("someone@no-such-domain-jxjy-0f3c.cn") == "someone@no-such-domain-jxjy-0f3c.cn"


@pytest.mark.parametrize("raw, chinese", [
    ("plainaddress", "电子邮箱地址格式不正确"),
    ("用户@example.com", "电子邮箱地址格式不正确"),
    ("user@localhost", "电子邮箱地址格式不正确"),
    ("a@" + "b" * 250 + ".com", "电子邮箱地址过长"),
])
def test_email_refused_in_chinese(app, raw, chinese):
    from flask_babel import force_locale

    exc = rejects(validate_email, raw)
    with app.test_request_context(), force_locale("zh"):
        assert str(exc.message) == chinese


# ----------------------------------------------------------------- names

NAME_RULE = "Name may only contain Chinese characters, letters, spaces and the middle dot"


@pytest.mark.parametrize("raw, expected", [
    ("张三", "张三"),
    ("  欧阳娜娜 ", "欧阳娜娜"),
    ("阿卜杜拉·买买提", "阿卜杜拉·买买提"),
    ("阿卜杜拉•买买提", "阿卜杜拉•买买提"),
    ("阿卜杜拉 · 买买提", "阿卜杜拉 · 买买提"),
    ("John Smith", "John Smith"),
    ("John  Smith", "John Smith"),  # runs of spaces collapsed
    ("张\u3000三", "张 三"),
    ("㐀丽", "㐀丽"),  # CJK extension A
    ("Li", "Li"),
    ("张" * 30, "张" * 30),
])
def test_person_name_valid(raw, expected):
    assert validate_person_name(raw) == expected


@pytest.mark.parametrize("raw", [
    "<script>alert(1)</script>", "Robert'); DROP TABLE",
    "张三1", "张三;", '张"三', "张'三", "张三<", "O'Brien", "张-三", "·张三", "张三·", "张··三",
    "张\t三", "张\n三", "张\x00三", "张三😀", "Zoë", "admin@", "张_三",
])
def test_person_name_bad_characters(raw):
    rejects(validate_person_name, raw, message=NAME_RULE)


def test_person_name_long_payload_rejected():
    rejects(validate_person_name, "Robert'); DROP TABLE students;--")  # 32 chars


@pytest.mark.parametrize("raw", ["张", " 张 ", "", None, "张" * 31, "a" * 31])
def test_person_name_bad_length(raw):
    rejects(validate_person_name, raw, message="Name must be between 2 and 30 characters")


@pytest.mark.parametrize("raw", [
    "北京市海淀区职业技能培训学校", "ABC (China) Co., Ltd.", "AT&T 中国有限公司",
    "中国建筑第八工程局有限公司（上海分公司）", "某某协会", "x" * 100,
])
def test_org_name_valid(raw):
    assert validate_org_name(raw) == raw.strip()


@pytest.mark.parametrize("raw", [
    "<b>公司</b>", "公司>", 'A"B公司', "A'B公司", "公司; DROP TABLE x", "A\\B公司",
    "公司\x00", "公司\n名", "公司\t名", "公司\u202e名", "公司\u200b名", "A", "", None, "x" * 101,
])
def test_org_name_rejected(raw):
    rejects(validate_org_name, raw)


# ----------------------------------------------------------------- masking & derived data


@pytest.mark.parametrize("raw, expected", [
    ("11010519491231002X", "110105********002X"),
    ("USA123456789012", "USA123*****9012"),
    ("E12345678", "E*******8"),
    ("H12345678", "H*******8"),
    ("1234567890", "1********0"),  # 6+4 would reveal everything
    ("M1234567801", "M*********1"),
    ("abc", "a*c"),
    ("ab", "**"),
    ("a", "*"),
    ("", ""),
    (None, ""),
])
def test_mask_id_number(raw, expected):
    masked = mask_id_number(raw)
    assert masked == expected
    assert len(masked) == len(raw or "")


@pytest.mark.parametrize("number, born, gender", [
    ("11010519491231002X", date(1949, 12, 31), "F"),
    ("360426199101010071", date(1991, 1, 1), "M"),
    ("44011320141005001x", date(2014, 10, 5), "M"),
    (_rid("11010520000229004"), date(2000, 2, 29), "F"),
])
def test_birth_date_and_gender(number, born, gender):
    assert birth_date_and_gender(number) == (born, gender)


@pytest.mark.parametrize("raw", ["110105194912310021", "E12345678", "", None])
def test_birth_date_and_gender_rejects_invalid(raw):
    rejects(birth_date_and_gender, raw)


# --------------------------------------------------------------------------- sane dates, typed numbers, control chars

from decimal import Decimal  # noqa: E402

from app.validators import (DATE_MIN, bad_character, check_past_date, check_plain_text,  # noqa: E402
                            check_study_date, parse_number)


@pytest.mark.parametrize("day", [DATE_MIN, date(1985, 7, 1), clock.today()])
def test_past_dates_from_1900_to_today(day):
    assert check_past_date(day) == day


@pytest.mark.parametrize("day", [date(1800, 1, 1), date(1899, 12, 31), clock.today() + timedelta(days=1),
                                 date(2999, 1, 1), date(1, 1, 1)])
def test_past_dates_outside_the_range_are_refused(day):
    with pytest.raises(ValidationError, match="1900-01-01"):
        check_past_date(day)


def test_study_dates_may_lie_a_year_ahead_not_more():
    assert check_study_date(clock.today() + timedelta(days=300))
    for day in (clock.today() + timedelta(days=367), date(2999, 6, 1), date(1899, 12, 31)):
        with pytest.raises(ValidationError, match="1900-01-01"):
            check_study_date(day)


@pytest.mark.parametrize("raw,places,value", [("12", 0, 12), (" 7 ", 0, 7), ("1.5", 1, Decimal("1.5")),
                                              ("1.50", 1, Decimal("1.5")), (".5", 1, Decimal("0.5")),
                                              ("-3", 0, -3), (Decimal("2.5"), 1, Decimal("2.5"))])
def test_ascii_numbers_are_read(raw, places, value):
    assert parse_number(raw, places) == value


@pytest.mark.parametrize("raw", ["１２", "٣", "۵", "१२", "²", "1２"])
def test_digits_of_other_scripts_are_refused_though_python_reads_them(raw):
    assert int(raw) if raw != "²" else True  # Python's int() accepts them: the reason for the rule
    with pytest.raises(ValidationError, match="0-9"):
        parse_number(raw, 1)


@pytest.mark.parametrize("raw", ["1e3", "NaN", "Infinity", "1_000", "0x10", "", "12 3", "1,5", "--1"])
def test_what_is_no_plain_number_is_refused(raw):
    with pytest.raises(ValidationError):
        parse_number(raw, 1)


@pytest.mark.parametrize("raw,places", [("1.234", 1), ("1.25", 1), ("3.5", 0), ("0.001", 2)])
def test_more_decimals_than_allowed_are_refused_not_rounded(raw, places):
    with pytest.raises(ValidationError):
        parse_number(raw, places)


def test_integers_and_the_message_of_no_number():
    assert parse_number("2026") == 2026 and parse_number(" 7 ") == 7
    with pytest.raises(ValidationError, match="Hours must"):
        parse_number("abc", 1, invalid="Hours must be a number.")


@pytest.mark.parametrize("text", ["a\x00b", "\x01", "\x1b[31m", "\x7f", "\x85", "\x9f", "abc\u202edcb",
                                  "\u2066x", "\ufdd0", "\ufffe", "\U0010ffff", "\ud800"])
def test_control_characters_are_refused_everywhere(text):
    assert bad_character(text) is not None and bad_character(text, multiline=False) is not None
    with pytest.raises(ValidationError, match=r"U\+[0-9A-F]{4}"):
        check_plain_text(text)


@pytest.mark.parametrize("text", ["a\tb", "line 1\nline 2", "line 1\r\nline 2"])
def test_tabs_and_line_breaks_only_in_multiline_text(text):
    assert check_plain_text(text, multiline=True) == text
    with pytest.raises(ValidationError, match="single line"):
        check_plain_text(text, multiline=False)


@pytest.mark.parametrize("text", ["张三", "O'Brien · 李", "心内科（一病区）", "emoji 😀", "zero\u200bwidth", "ａｂｃ"])
def test_ordinary_text_passes(text):
    assert bad_character(text, multiline=False) is None


# --------------------------------------------------------------------------- through the registration pages

def _pending(db, id_number: str):
    db.session.expire_all()
    account = db.session.scalar(select(Account).where(Account.username == id_number))
    reg = account and db.session.scalar(select(Registration).where(Registration.user_id == account.id))
    return account, reg and reg.org_id and db.session.get(Org, reg.org_id)


def test_org_registered_with_a_grouped_credit_code_and_an_idn_address(client, world, db):
    code = make_credit_code("370102", 456789)
    form = factories.org_form(world.dept, credit_code=f"{code[:2]}－{code[2:8]} {code[8:].lower()}",
                              email="ｌｉ＠邮件.中国")
    response = submit(client, "/public/register/unit", form)
    assert "注册信息已提交审核" in response.get_data(as_text=True)
    account, org = _pending(db, form["id_number"])
    assert org.credit_code == code and account.email == "li@邮件.中国"


@pytest.mark.parametrize("field, value, chinese", [
    ("id_number", _rid("91010519850101001"), "证件号码中的地区代码无效"),
    ("id_number", _rid("83010019850101001"), "证件号码中的地区代码无效"),
    ("email", "张三@example.cn", "电子邮箱地址格式不正确"),
    ("email", "li@mail.localhost", "电子邮箱地址格式不正确"),
])
def test_person_registration_refuses_in_chinese(client, world, db, field, value, chinese):
    form = factories.person_form(world.unit, **{field: value})
    html = page(submit(client, "/public/register/person", form))
    assert chinese in html and "注册信息已提交审核" not in html
    assert _pending(db, form["id_number"])[0] is None


def test_person_registered_with_a_residence_permit_number(client, world, db):
    number = _rid("81000019900101002")  # 港澳台居民居住证 of a Hong Kong resident
    form = factories.person_form(world.unit, id_number=number)
    assert "注册信息已提交审核" in submit(client, "/public/register/person", form).get_data(as_text=True)
    assert _pending(db, number)[0].username == number
