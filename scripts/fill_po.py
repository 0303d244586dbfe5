"""Fill translations/zh from a JSON map {msgid: msgstr} (used when adding new messages).

Usage: python scripts/fill_po.py MAP.json   — entries already translated in the .po are kept unless --force.
Prints the msgids that are still untranslated.
"""
import json
import sys

from babel.messages.pofile import read_po, write_po

PO = "translations/zh/LC_MESSAGES/messages.po"


def main() -> None:
    mapping = json.load(open(sys.argv[1], encoding="utf-8")) if len(sys.argv) > 1 else {}
    force = "--force" in sys.argv
    with open(PO, "rb") as f:
        catalog = read_po(f, locale="zh")
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in mapping and (force or not message.string):
            message.string = mapping[key]
        if "fuzzy" in message.flags:
            message.flags.discard("fuzzy")
    with open(PO, "wb") as f:
        write_po(f, catalog, width=120)
    missing = [m.id for m in catalog if m.id and not m.string]
    for m in missing:
        print("UNTRANSLATED:", repr(m))
    print(f"{len(missing)} untranslated")


if __name__ == "__main__":
    main()
