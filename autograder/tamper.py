"""Static checks of the learner's code for ways of making tests pass without solving them.

The tests run in the same Python process as the learner's code, so the grader reads
that code (as text, never running it) before trusting the results, and refuses the
points of every test that runs after a cell which

* changes a module, or something imported from one, at run time (monkeypatching
  ``course``'s references, ``numpy``, the test helpers, IPython's ``showtraceback``...);
* rebinds a name the tests use (``np = ...``, ``def minimize(...)``);
* uses ``exec``/``eval``/``compile``/``__import__``, ``ctypes``, frame or tracing
  hooks, or ``builtins``, which could do any of the above out of sight.

A determined attacker can still hide such code (that is the documented limit of an
in-process grader); the checks catch the ways a learner would try, and say which.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

FORBIDDEN_CALLS = {"exec", "eval", "compile", "__import__", "setattr", "delattr"}
FORBIDDEN_MODULES = {"ctypes", "builtins", "gc", "inspect", "importlib"}
FORBIDDEN_ATTRIBUTES = {"settrace", "setprofile", "_getframe", "__dict__", "__code__", "__globals__",
                        "__builtins__", "modules", "showtraceback", "_showtraceback", "f_globals",
                        "f_locals", "f_back"}


def _root(node: ast.AST) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every expression
        return "<expression>"


def _bound_names(tree: ast.AST) -> set[str]:
    """Top-level names a cell binds (assignments, defs, classes, imports, for/with targets)."""
    names: set[str] = set()
    for node in tree.body if isinstance(tree, ast.Module) else []:
        targets: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            targets = [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names


def _imports(tree: ast.AST) -> dict[str, str]:
    """Name -> what it was imported as (``np`` -> ``numpy``, ``minimize`` -> ``course.hpo.minimize``)."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


def _parse(source: str) -> ast.Module | None:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return None  # it fails when it runs; nothing to hide


def names_loaded(sources: Iterable[str]) -> set[str]:
    """Every name the given cells read."""
    names = set()
    for source in sources:
        tree = _parse(source)
        if tree is not None:
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return names


MAX_CELL_CHARACTERS = 100_000
TOO_COMPLEX = "is too long or too deeply nested for the grader to check"


def scan(source: str, *, instructor_imports: dict[str, str], protected: set[str],
         allowed: set[str]) -> list[str]:
    """Reasons to distrust the tests that run after this learner cell (empty: none).

    A cell the checks cannot read within bounds (too long, nested deeper than the parser
    or the checks can follow) is itself a reason: it is refused, never a crash.
    """
    if len(source) > MAX_CELL_CHARACTERS:
        return [TOO_COMPLEX]
    try:
        return _scan(source, instructor_imports=instructor_imports, protected=protected, allowed=allowed)
    except (RecursionError, MemoryError):
        return [TOO_COMPLEX]


def _scan(source: str, *, instructor_imports: dict[str, str], protected: set[str],
          allowed: set[str]) -> list[str]:
    """Reasons to distrust the tests that run after this learner cell (empty: none).

    Parameters
    ----------
    source : str
        The learner's cell.
    instructor_imports : dict
        Names the instructor's cells import (``np`` -> ``numpy``).
    protected : set of str
        Names the test cells use; a learner cell must not rebind them.
    allowed : set of str
        Names the learner is asked to define (the exercises' functions).
    """
    tree = _parse(source)
    if tree is None:
        return []
    reasons: list[str] = []
    imports = {**instructor_imports, **_imports(tree)}
    ipython_handles = {"get_ipython"} | {
        t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "get_ipython" for t in node.targets if isinstance(t, ast.Name)}

    def module_like(node: ast.AST) -> bool:
        root = _root(node)
        if isinstance(root, ast.Call):
            root = root.func
        return isinstance(root, ast.Name) and (root.id in imports or root.id in ipython_handles)

    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if "rcParams" in _dotted(sub):
                    break  # plotting style, harmless
                if isinstance(sub, (ast.Attribute, ast.Subscript)) and module_like(sub):
                    reasons.append(f"changes {_dotted(sub)} at run time")
                    break
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            reasons.append(f"calls {node.func.id}()")
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            reasons.append(f"uses {_dotted(node)}")
        if isinstance(node, ast.Name) and node.id in {"__builtins__", "globals", "vars"}:
            reasons.append(f"uses {node.id}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in FORBIDDEN_MODULES:
                    reasons.append(f"imports {module}")
    rebound = (_bound_names(tree) & protected) - allowed
    for name in sorted(rebound):
        if name in _imports(tree) and _imports(tree)[name] == instructor_imports.get(name):
            continue  # importing the same thing again is harmless
        reasons.append(f"rebinds {name!r}, which the tests use")
    return sorted(set(reasons))
