"""The package's import graph: every module imports, and no module depends on itself through others.

The graph is read from the source (``ast``), so it also sees imports made inside
functions - a cycle hidden behind a lazy import is still a cycle in the design.
Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so those count as
dependencies too, except the packages that contain the importing module (Python has
them loaded already) - unless the module imports a name defined by one of them
(``from . import helper`` where ``helper`` is no module): that is a dependency on the
package's ``__init__``, which usually imports the module back.  Imports under
``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "livebokeh"


def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package by dotted name, with its file and whether it is a package."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def _imported_names(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` except those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules that importing it runs first (see the module docstring)."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in mods.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets: list[str] = []
        deps: set[str] = set()
        for node in _imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.extend(alias.name for alias in node.names)
                continue
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:  # ``from pkg import sub`` imports the submodule
                sub = f"{module}.{alias.name}"
                targets.append(sub if sub in mods else module)
                if sub not in mods and module != name and name.startswith(module + "."):
                    deps.add(module)  # a name from a package that contains this module: its __init__
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                dep = ".".join(parts[:i])
                if dep in mods and dep != name and not name.startswith(dep + "."):
                    deps.add(dep)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 50, "the package's modules were not found"
    found = cycles(graph)
    detail = "; ".join(" -> ".join(c) for c in found)
    assert not found, f"import cycles (move the shared part into a module both can import): {detail}"


def test_the_cycle_check_finds_a_lazy_cycle() -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert cycles(graph) == [["p.a", "p.b", "p.c"]]
    assert cycles({"p.a": {"p.b"}, "p.b": set()}) == []


def _imports_for_type_checkers(node: ast.stmt) -> bool:
    """``if TYPE_CHECKING:`` holding imports only (the lazy re-exports' types)."""
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        and not node.orelse
        and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in node.body)
    )


def _lazy_binding(node: ast.stmt) -> bool:
    """``__getattr__, __dir__ = lazy_exports(...)``: the logic lives in ``livebokeh._lazy``."""
    if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
        return False
    func = node.value.func
    names = [e.id for t in node.targets if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Name)]
    return isinstance(func, ast.Name) and func.id == "lazy_exports" and names == ["__getattr__", "__dir__"]


def test_no_logic_in_package_init_files() -> None:
    """An ``__init__.py`` holds its docstring, imports and ``__all__`` (the root also ``__version__``, and its
    lazy re-exports, made by ``livebokeh._lazy``): no logic."""
    allowed_names = {"__all__", "__version__"}
    found = []
    for path, is_package in modules().values():
        if not is_package:
            continue
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for i, node in enumerate(body):
            docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            reexport = isinstance(node, (ast.Import, ast.ImportFrom)) or _imports_for_type_checkers(node)
            named = isinstance(node, ast.Assign) and all(
                isinstance(t, ast.Name) and t.id in allowed_names for t in node.targets
            )
            if not (docstring or reexport or named or _lazy_binding(node)):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {type(node).__name__}")
    assert not found, f"logic in __init__.py (move it into a module and re-export it): {', '.join(found)}"


def test_a_name_from_the_own_package_is_a_dependency() -> None:
    graph = import_graph()
    # evaluation.videos imports names from sibling modules, never from its own package's __init__
    assert "livebokeh.evaluation" not in graph["livebokeh.evaluation.videos"]
    # _cli.entry takes the version from the root package, whose __init__ defines it
    assert "livebokeh" in graph["livebokeh._cli.entry"]


def test_the_graph_sees_imports_inside_functions_and_parent_packages() -> None:
    graph = import_graph()
    # bench.composite imports sources.images inside main(): the sources package runs too
    assert {"livebokeh.sources", "livebokeh.sources.images"} <= graph["livebokeh.bench.composite"]
    # a module never depends on the packages that contain it
    assert "livebokeh.effects" not in graph["livebokeh.effects.compositor"]
    assert "livebokeh" not in graph["livebokeh.config"]


@pytest.mark.parametrize("name", sorted(m for m in modules() if not m.endswith("__main__")))  # that one runs the CLI
def test_every_module_imports(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional extra that this environment lacks
        if exc.name and not exc.name.startswith("livebokeh"):
            pytest.skip(f"{name} needs {exc.name} (optional)")
        raise


def test_the_package_and_the_command_line_parser_load_without_opencv() -> None:
    """``import livebokeh`` and building every command's parser leave OpenCV and the pipeline to the command
    that runs (``photo`` starts reading its picture first); the public names still import on first use."""
    code = (
        "import sys, livebokeh\nfrom livebokeh._cli.entry import build_parser\nbuild_parser(['photo'])\n"
        "loaded = sys.modules\n"
        "print('cv2' in loaded, 'livebokeh.runtime.photo' in loaded, 'livebokeh.runtime.live' in loaded)\n"
        "from livebokeh import Pipeline, models\n"
        "print(Pipeline is livebokeh.Pipeline, Pipeline.__module__, models.__name__, 'Pipeline' in dir(livebokeh))\n"
        "print(hasattr(livebokeh, 'nothing'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lazy = ["True", "livebokeh.runtime.live", "livebokeh.models", "True", "False"]
    assert done.stdout.split() == ["False"] * 3 + lazy
