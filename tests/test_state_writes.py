"""The workflow mechanism (app/workflows/base.py, `StateMachine`) is the only code that writes a state column.

Read from the code (an AST walk over every module of app/), outside app/workflows/base.py nothing may:
  1. assign an attribute named `state` (`x.state = …`, `x.state += …`, `a, x.state = …`, `x.state: str = …`);
  2. call `setattr(x, "state", …)`; a `setattr` whose name is not a literal can write any column, so each such
     site is listed below (module, function) with the reason it never names `state`: a new one fails the test
     until it is reviewed and listed;
  3. pass a `state` key to `.values(…)` or `.update(…)` (keyword `state=`, a dict key `"state"` or `X.state`,
     also inside `**{…}`): the `UPDATE … SET state` of SQLAlchemy Core and of the ORM's bulk update;
  4. pass `state=` to the constructor of a model that has a `state` column (a row is created in a declared
     initial state by `StateMachine.open(item, actor, state=…)`, which sets the column itself);
  5. hold SQL text that sets a state (`SET state`, in any case).
A mapped model with a `state` column is found from the models themselves (every one counts: Membership, Org,
Registration, Declaration, TitleChange, Transfer, OrgChange, IdentityCorrection, BaseReport …).

One module is exempt: app/demo.py loads a made-up world for demonstrations (`flask seed-demo`, never run by a
request); like the tests' factories it writes rows straight in the state its story needs.

Reading is not writing: comparisons (`Org.state == …`), `to_state=` of an audit row and template contexts are
not state writes. The detector itself is tested on small snippets (it must find each pattern), so that this
test can fail."""
from __future__ import annotations

import ast
import pathlib
import re

import pytest

APP = pathlib.Path(__file__).resolve().parent.parent / "app"
MECHANISM = "workflows/base.py"
EXEMPT = {"demo.py": "demo data, loaded by `flask seed-demo` only"}
# setattr(obj, <name not a literal>, value) sites, reviewed: (module, enclosing function) -> where the names come from
DYNAMIC_SETATTR = {
    ("workflows/registration.py", "register_person"): "the profile fields of the registration form (Person)",
    ("workflows/declaration.py", "save"): "the column values `_validated` returns (subject, form, year, hours …)",
    ("workflows/org_change.py", "edit_profile"): "PROFILE_FIELDS of an org",
    ("workflows/org_profile.py", "edit_below"): "the profile fields an org above may edit",
    ("workflows/title_change.py", "on_enter"): "the title fields of a person (TitleChange.after)",
    ("workflows/title_change.py", "update_profile"): "the profile fields of a person",
    ("views/catalogue.py", "populate_obj"): "a form field writing its own column (LearningForm.fields_json)",
    ("views/modelview.py", "_init_forms"): "the view's add_form / edit_form classes, not a model",
}
SET_STATE_SQL = re.compile(r"\bset\s+state\b", re.IGNORECASE)


def _state_models() -> set[str]:
    import app.models  # noqa: F401 - registers every mapped class
    from flask_appbuilder import Model

    names = set()
    for mapper in Model.registry.mappers:
        if "state" in mapper.columns:
            names.add(mapper.class_.__name__)
    return names


def _is_state_key(node: ast.AST | None) -> bool:
    return (isinstance(node, ast.Constant) and node.value == "state") or \
        (isinstance(node, ast.Attribute) and node.attr == "state")


def _dict_has_state(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict) and any(_is_state_key(k) for k in node.keys)


def _targets(node: ast.AST):
    if isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _targets(elt)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)
    else:
        yield node


def find_state_writes(source: str, models: set[str]) -> list[tuple[int, str, str | None]]:
    """(line, what, enclosing function) of every state write in one module's source."""
    found: list[tuple[int, str, str | None]] = []

    def visit(node: ast.AST, func: str | None) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func = node.name
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for t in _targets(target):
                if isinstance(t, ast.Attribute) and t.attr == "state":
                    found.append((node.lineno, "assigns .state", func))
        if isinstance(node, ast.Call):
            callee = node.func
            name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", None)
            if name == "setattr" and len(node.args) >= 2:
                key = node.args[1]
                if isinstance(key, ast.Constant):
                    if key.value == "state":
                        found.append((node.lineno, 'setattr(…, "state", …)', func))
                else:
                    found.append((node.lineno, "setattr with a computed name", func))
            if name in ("values", "update") and isinstance(callee, ast.Attribute):
                if any(k.arg == "state" or (k.arg is None and _dict_has_state(k.value)) for k in node.keywords) \
                        or any(_dict_has_state(a) for a in node.args):
                    found.append((node.lineno, f".{name}(…) sets state", func))
            if name in models and any(k.arg == "state" for k in node.keywords):
                found.append((node.lineno, f"{name}(state=…)", func))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SET_STATE_SQL.search(node.value):
            found.append((node.lineno, "SQL text sets state", func))
        for child in ast.iter_child_nodes(node):
            visit(child, func)

    visit(ast.parse(source), None)
    return found


def test_only_the_workflow_mechanism_writes_a_state_column():
    models = _state_models()
    assert {"Membership", "Org", "Registration", "Declaration", "TitleChange", "Transfer", "OrgChange",
            "IdentityCorrection", "BaseReport"} <= models
    offences, dynamic = [], set()
    for path in sorted(APP.rglob("*.py")):
        module = path.relative_to(APP).as_posix()
        if module == MECHANISM or module in EXEMPT:
            continue
        for line, what, func in find_state_writes(path.read_text(encoding="utf-8"), models):
            if what == "setattr with a computed name":
                dynamic.add((module, func))
                if (module, func) in DYNAMIC_SETATTR:
                    continue
            offences.append(f"app/{module}:{line} {what} (in {func})")
    assert offences == [], "state written outside StateMachine (open / enter / apply):\n" + "\n".join(offences)
    assert dynamic == set(DYNAMIC_SETATTR), "the reviewed list of computed setattr sites is out of date"


def test_no_generated_form_edits_a_state_column(app):
    """FAB's generated add / edit forms write the columns they list: none a view allows (`can_add`, `can_edit`)
    lists `state`."""
    from app.extensions import appbuilder

    models, offences = _state_models(), []
    for view in appbuilder.baseviews:
        datamodel = getattr(view, "datamodel", None)
        if datamodel is None or datamodel.obj.__name__ not in models:
            continue
        for attr, permission in (("add_columns", "can_add"), ("edit_columns", "can_edit")):
            if permission in (view.base_permissions or []) and "state" in (getattr(view, attr, None) or []):
                offences.append(f"{type(view).__name__}.{attr}")
    assert offences == []


def test_the_mechanism_itself_writes_the_state():
    """The rule has something to protect: base.py is where the writes are (open and enter)."""
    found = find_state_writes((APP / MECHANISM).read_text(encoding="utf-8"), _state_models())
    assert {what for _, what, _ in found} >= {"assigns .state", ".values(…) sets state"}


@pytest.mark.parametrize("snippet", [
    "item.state = 'x'",
    "a, item.membership.state = 1, 2",
    "item.state += 'x'",
    "item.state: str = 'x'",
    "setattr(item, 'state', 'x')",
    "db.session.execute(update(Org).where(Org.id == 1).values(state='closed'))",
    "db.session.execute(update(Org).values({Org.state: 'closed'}))",
    "db.session.execute(update(Org).values({'state': 'closed', 'name': 'n'}))",
    "stmt.values(**{'state': 'closed'})",
    "session.query(Org).update({Org.state: 'closed'})",
    "Membership(user_id=1, state='active')",
    "models.Declaration(state='draft')",
    "db.session.execute(text('UPDATE org SET state = :s'))",
    "def f():\n    for k, v in d.items():\n        setattr(org, k, v)",
])
def test_the_detector_finds_each_kind_of_state_write(snippet):
    assert find_state_writes(snippet, {"Membership", "Org", "Declaration"}) != []


@pytest.mark.parametrize("snippet", [
    "select(Org).where(Org.state == 'active')",
    "audit(actor, 'x', from_state='a', to_state='b')",
    "render('t.html', state=state)",
    "Person(name='x', unit_id=1)",
    "update(Org).values(name='n')",
    "machine.open(Transfer(person_id=1), actor, state=S.PENDING_IN)",
    "filters = {'q': q, 'state': state}",
])
def test_the_detector_leaves_reads_alone(snippet):
    assert find_state_writes(snippet, {"Membership", "Org", "Declaration", "Transfer"}) == []
