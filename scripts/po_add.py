"""Add translations to translations/zh/LC_MESSAGES/messages.po (missing msgids only) and compile.

Usage: .venv/bin/python scripts/po_add.py FILE   where FILE holds lines "English msgid<TAB>中文译文".
A literal \\n in either column stands for a newline. Safe to run from several shells at once (file lock)."""
import fcntl
import os
import subprocess
import sys

from babel.messages.pofile import read_po, write_po

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PO = os.path.join(ROOT, "translations", "zh", "LC_MESSAGES", "messages.po")


def main(path: str) -> None:
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            msgid, _, msgstr = line.partition("\t")
            pairs.append((msgid.replace("\\n", "\n"), msgstr.replace("\\n", "\n")))
    with open(PO + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(PO, "rb") as f:
            catalog = read_po(f, locale="zh")
        added = 0
        for msgid, msgstr in pairs:
            entry = catalog.get(msgid)
            if entry is None or not entry.string:
                catalog.add(msgid, msgstr)
                added += 1
        with open(PO, "wb") as f:
            write_po(f, catalog)
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile", "-d",
                        os.path.join(ROOT, "translations")], check=True, capture_output=True)
    print(f"{added} added")


if __name__ == "__main__":
    main(sys.argv[1])
