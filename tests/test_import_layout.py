"""The import layout of app/: no module imports itself back through others, and app/authz.py stays on the
bottom floor (it imports nothing from app/ but app.models).

Read from the code with `ast`: the module-level imports of every module of app/ (relative imports resolved;
`from pkg import name` counts as an import of pkg.name when that is a module, else of pkg). The module-level
graph must be acyclic; counted with the imports inside functions too, it may loop only through the few lazy imports
listed (with their reason) in LAZY_ON_PURPOSE, so no import inside a function dodges a cycle. The helpers are
tested on small inputs so that the test can fail.
"""
from __future__ import annotations

import ast
import pathlib

APP = pathlib.Path(__file__).resolve().parent.parent / "app"


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in sorted(APP.rglob("*.py")) if "__pycache__" not in p.parts}


def module_level_imports(name: str, path: pathlib.Path, known: set[str], everywhere: bool = False) -> set[str]:
    """The app modules `name` imports at module level (top of file, or inside a module-level if/try); with
    `everywhere`, also those imported inside functions and methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    if everywhere:
        tree = ast.Module(body=[node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))],
                          type_ignores=[])
    found: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in known:
                        found.add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in known:
                        found.add(f"{target}.{alias.name}")
                    elif target in known:
                        found.add(target)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "finalbody", []))

    visit(tree.body)
    found.discard(name)
    return found


def import_graph(everywhere: bool = False) -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    return {name: module_level_imports(name, path, known, everywhere) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, …, a], or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {node: WHITE for node in graph}
    stack: list[str] = []

    def dfs(node):
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt, WHITE) == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt, WHITE) == WHITE:
                cycle = dfs(nxt)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE:
            cycle = dfs(node)
            if cycle:
                return cycle
    return None


# ------------------------------------------------------------------ the helpers can see what they must


def test_find_cycle_sees_a_cycle_and_its_absence():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_relative_imports_resolve(tmp_path):
    pkg = tmp_path / "app" / "workflows"
    pkg.mkdir(parents=True)
    source = pkg / "base.py"
    source.write_text("from ..security import X\nfrom . import attachments\nimport app.models\n"
                      "try:\n    from .notify import y\nexcept ImportError:\n    pass\n"
                      "def f():\n    from ..views import z\n")
    known = {"app", "app.security", "app.workflows", "app.workflows.attachments", "app.models",
             "app.workflows.notify", "app.views"}
    assert module_level_imports("app.workflows.base", source, known) == {
        "app.security", "app.workflows.attachments", "app.models", "app.workflows.notify"}


# ------------------------------------------------------------------ the layout of app/


def test_the_graph_is_read():
    graph = import_graph()
    assert "app.authz" in graph and "app.security" in graph and "app.workflows.base" in graph
    assert "app.authz" in graph["app.security"]
    assert "app.authz" in graph["app.workflows.base"]


def test_app_modules_import_without_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_workflow_base_and_attachments_do_not_import_each_other():
    graph = import_graph()
    assert not ("app.workflows.attachments" in graph["app.workflows.base"]
                and "app.workflows.base" in graph["app.workflows.attachments"])
    assert "app.workflows.base" not in graph["app.workflows.attachments"]


def test_authz_sits_on_the_bottom_floor():
    """app/authz.py imports nothing of app/ but the models (any place in the file, inside functions too)."""
    tree = ast.parse((APP / "authz.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = ("." * node.level) + (node.module or "")
            if node.level or target.startswith("app"):
                assert target in {".models", ".models.account", "app.models", "app.models.account"}, target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("app"), alias.name


def test_no_workflow_or_security_module_dodges_a_cycle_inside_a_function():
    """workflows and security import authz at module level; none of them reaches for security or for each other
    from inside a function any more (the cycles those imports dodged are gone)."""
    offenders = []
    for name, path in all_modules().items():
        if not (name.startswith("app.workflows") or name in {"app.security", "app.authz"}):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and id(node) not in top and node.level:
                target = node.module or ""
                if target.startswith("security") or target.startswith("workflows") or (
                        name.startswith("app.workflows") and node.level == 1):
                    offenders.append(f"{name}:{node.lineno} from {'.' * node.level}{target}")
    assert offenders == []


# Imports inside a function that close a loop, each for a reason other than load order:
LAZY_ON_PURPOSE: set[tuple[str, str]] = set()  # none left: the login view is registered with the other views, and
# the error page lives in app/views/errors.py, below both the app factory and the request filter


def test_no_import_inside_a_function_dodges_a_cycle():
    """With the imports made inside functions counted too, the only loops are those listed above: every other
    import inside a function is there for its cost (a PDF or image library), never to dodge a cycle."""
    graph = import_graph(everywhere=True)
    for source, target in LAZY_ON_PURPOSE:
        assert target in graph[source], (source, target)  # still needed; drop it from the list otherwise
        graph[source].discard(target)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle through an import inside a function: " + " -> ".join(cycle)


def test_everywhere_counts_imports_inside_functions(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("import os\n\ndef f():\n    from ..security import X\n")
    known = {"app", "app.security", "app.views", "app.views.mod"}
    assert module_level_imports("app.views.mod", source, known) == set()
    assert module_level_imports("app.views.mod", source, known, everywhere=True) == {"app.security"}
