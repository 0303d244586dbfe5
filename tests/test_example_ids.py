"""Example ID numbers shown to people (help texts, placeholders, their translations) are made-up numbers that pass
the GB 11643 check digit, and never the number of a person of the demo data."""
from __future__ import annotations

import pathlib
import re

from sqlalchemy import select

from app.models import Account, Person
from app.validators import ValidationError, validate_resident_id

ROOT = pathlib.Path(__file__).resolve().parent.parent
# 18 characters that look like a resident ID number, not part of a longer run of letters or digits
ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def shown_files() -> list[pathlib.Path]:
    """Everything a help text or placeholder can come from: templates, forms and views, the translations."""
    files = sorted((ROOT / "app" / "templates").rglob("*.html"))
    files += sorted((ROOT / "app" / "views").glob("*.py"))
    files += sorted((ROOT / "app" / "static").glob("*.js"))
    files += [ROOT / "translations" / "zh" / "LC_MESSAGES" / "messages.po"]
    return files


def examples() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in shown_files():
        for number in ID_LIKE.findall(path.read_text(encoding="utf-8")):
            found.setdefault(number.upper(), []).append(str(path.relative_to(ROOT)))
    return found


def demo_id_numbers(db) -> set[str]:
    """Every ID number of the demo: the demo loaded as `flask demo` loads it, the README's table, app/demo.py."""
    from app.demo import seed

    assert seed()
    db.session.expire_all()
    numbers = set(db.session.scalars(select(Account.username))) | set(db.session.scalars(select(Person.id_number)))
    numbers |= set(ID_LIKE.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    numbers |= set(ID_LIKE.findall((ROOT / "app" / "demo.py").read_text(encoding="utf-8")))
    assert len(numbers) > 200  # the demo's people were read
    return {n.upper() for n in numbers}


def test_the_scan_finds_the_example_of_the_base_report_form():
    assert "110101199003071233" in examples()  # the scan sees help texts (it could not fail otherwise)


def test_example_ids_pass_the_check_digit():
    bad = {}
    for number, places in examples().items():
        try:
            validate_resident_id(number)
        except ValidationError as exc:
            bad[number] = (str(exc), places)
    assert not bad


def test_no_example_id_is_a_demo_persons(db):
    shown = examples()
    assert not {n: shown[n] for n in shown.keys() & demo_id_numbers(db)}
