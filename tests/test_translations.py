"""Every message the code and templates show has its Chinese translation (nothing English in the Chinese UI)."""
import os

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = [("app/**.py", "python"), ("app/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "_l": None, "N_": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}


def _catalog():
    with open(os.path.join(ROOT, "translations", "zh", "LC_MESSAGES", "messages.po"), "rb") as f:
        return read_po(f, locale="zh")


def test_every_extracted_message_is_translated():
    catalog = _catalog()
    missing, seen = set(), 0
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, METHODS, keywords=KEYWORDS):
        msgid = message if isinstance(message, str) else message[0]
        if not msgid:
            continue
        seen += 1
        entry = catalog.get(msgid)
        if entry is None or not entry.string or entry.fuzzy:
            missing.add(msgid)
    assert seen > 300, "extraction found too few messages: the file patterns are wrong"
    assert not missing, f"untranslated messages: {sorted(missing)}"


def test_catalogue_has_no_empty_or_fuzzy_entries():
    bad = [m.id for m in _catalog() if m.id and (not m.string or m.fuzzy)]
    assert not bad
