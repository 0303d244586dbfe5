"""The layout of the test suite: shared worlds and helpers have one home each.

Fixtures live in a conftest.py, plain helpers in tests/helpers.py (tests/e2e/helpers.py for the browser tests), model
factories in tests/factories.py, the access policy tables in tests/access_policy.py. No file of tests/ imports a test
module or a conftest (pytest loads those itself: importing one runs it twice and drags its fixtures along), and no
fixture name is defined in more than one file (a copy drifts from the original and shadows it)."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _sources() -> dict[str, ast.Module]:
    return {path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for path in sorted(TESTS.rglob("*.py"))}


def _module_of(rel: str) -> str:
    return rel.removesuffix(".py").replace("/", ".")


def _imported_modules(rel: str, tree: ast.Module) -> list[tuple[int, str]]:
    """(line, dotted name) of every module the file imports, `from x import y` counted as x.y as well as x."""
    package = _module_of(rel).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def _is_test_module_or_conftest(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest")


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Attribute) and target.attr == "fixture") or \
        (isinstance(target, ast.Name) and target.id == "fixture")


def _fixture_names(tree: ast.Module) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if not _is_fixture(decorator):
                    continue
                name = node.name
                if isinstance(decorator, ast.Call):
                    for keyword in decorator.keywords:
                        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                            name = keyword.value.value
                names.append((node.lineno, name))
    return names


def test_no_file_imports_a_test_module_or_a_conftest():
    offences = [f"{rel}:{line} imports {dotted}"
                for rel, tree in _sources().items()
                for line, dotted in _imported_modules(rel, tree)
                if _is_test_module_or_conftest(dotted) and dotted != _module_of(rel)]
    assert not offences, ("move what is shared to tests/helpers.py (fixtures to a conftest.py):\n"
                          + "\n".join(sorted(set(offences))))


def test_each_fixture_is_defined_once():
    where = defaultdict(list)
    for rel, tree in _sources().items():
        for line, name in _fixture_names(tree):
            where[name].append(f"{rel}:{line}")
    copies = {name: places for name, places in where.items() if len({p.rpartition(":")[0] for p in places}) > 1}
    assert not copies, "fixtures defined in more than one file (keep one, in a conftest.py):\n" + "\n".join(
        f"{name}: {', '.join(places)}" for name, places in sorted(copies.items()))


def test_the_walk_sees_the_suite():
    """The checks above read real files: the suite's own fixtures and a known cross-module helper import."""
    sources = _sources()
    assert "tests/conftest.py" in sources and "tests/test_test_layout.py" in sources
    fixtures = {name for _, name in _fixture_names(sources["tests/conftest.py"])}
    assert {"app", "db", "client", "world", "fast_world", "matrix"} <= fixtures
    assert _is_test_module_or_conftest("tests.test_access_matrix")
    assert _is_test_module_or_conftest("tests.e2e.conftest")
    assert not _is_test_module_or_conftest("tests.helpers")
    sample = ast.parse("from tests.test_admins import boss\nfrom tests import conftest\nfrom . import test_x\n")
    imported = {dotted for _, dotted in _imported_modules("tests/test_y.py", sample)}
    assert {"tests.test_admins", "tests.conftest", "tests.test_x"} <= imported
