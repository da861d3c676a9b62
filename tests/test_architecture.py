"""Contract tests over the import graph, built with :mod:`ast` from the source files.

1. The core (``core/``) imports neither ``plugins`` nor ``bench``: not at module level,
   not inside a function, not through ``importlib.import_module("...")``.  What runs on
   the core (the plugins, the bench) declares itself: entry points, hook specifications
   of its own (``bench/hookspecs.py``), its own commands (``bench/cli.py``).
2. A plugin imports another plugin only through the ``api`` module of a plugin its
   manifest ``depends`` on (its own tests may use any module of a declared dependency).
3. No import cycle among the modules of the core, nor among the modules of one plugin.

   - *At import time* (``test_no_import_time_cycle``): module-level imports only, those
     under ``if TYPE_CHECKING:`` left out.  An import inside a function runs when the
     function is called, long after every module is loaded: it is allowed, and it breaks
     a cycle at import time.  No exception here, in the core or in a plugin.
   - *In the design* (``test_no_dependency_cycle_but_the_known_ones``): imports inside
     functions counted too.  A cycle that only a function-local import closes does not
     fail at import time, but the modules still need each other: the core has none; the
     plugins' existing ones are listed in ``KNOWN_CYCLES``.  The test fails on a cycle that
     is not listed (no new one appears) and on a listed one that no longer exists as
     listed (the list only shrinks: remove the entry).

Edges: ``import a.b`` and ``from a import b`` (when ``a/b.py`` exists) point at ``a.b``;
``from a.b import name`` at ``a.b``.  The parent packages Python initialises on the way
(``a``) are not counted.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
PLUGINS = ROOT / "plugins"

# to remove in the platform redesign: cycles closed by function-local imports (strongly
# connected modules), in plugins that others are reworking; this list only shrinks
KNOWN_CYCLES: list[frozenset[str]] = []


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (or a name outside the tree, as written)
    path: Path
    line: int
    local: bool  # inside a function (or a lambda): runs when called, not at import time

    def where(self, root: Path = ROOT) -> str:
        return f"{self.path.relative_to(root)}:{self.line}"


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str, root: Path) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path, root: Path = ROOT) -> list[Import]:
    """Every import of one source file, relative ones resolved, each marked local or not."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[Import] = []

    def add(target: str, node: ast.AST, local: bool) -> None:
        out.append(Import(me, target, path, node.lineno, local))

    def visit(node: ast.AST, local: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            local = True
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:  # the body never runs
                visit(child, local)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, local)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for alias in node.names:
                # "from plugins.crm import api" imports the module plugins.crm.api
                submodule = f"{module}.{alias.name}"
                add(submodule if _is_module(submodule, root) else module, node, local)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            add(node.args[0].value, node, local)
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), False)
    return out


def _sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.relative_to(folder).parts)


def _is_test_file(path: Path, folder: Path) -> bool:
    rel = path.relative_to(folder)
    return rel.parts[0] == "tests" or path.name.startswith("test_") or path.name == "conftest.py"


def graph(folder: Path, root: Path = ROOT, *, with_local: bool) -> dict[str, list[Import]]:
    """The imports between the modules of one package (its tests and migrations left out)."""
    prefix = module_name(folder / "__init__.py", root)
    edges: dict[str, list[Import]] = {}
    for path in _sources(folder):
        if _is_test_file(path, folder):
            continue
        edges.setdefault(module_name(path, root), [])
        for imp in imports(path, root):
            inside = imp.target == prefix or imp.target.startswith(prefix + ".")
            if inside and imp.target != imp.importer and (with_local or not imp.local):
                edges[imp.importer].append(imp)
    return edges


def cycles(edges: dict[str, list[Import]]) -> list[frozenset[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    succ = {m: sorted({i.target for i in imps if i.target in edges}) for m, imps in edges.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(succ):
        if start in index:
            continue
        work = [(start, iter(succ[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(frozenset(group))
    return found


def describe(group: frozenset[str], edges: dict[str, list[Import]], root: Path = ROOT) -> str:
    """The imports inside one cycle, with where they are."""
    lines = [f"  {' <-> '.join(sorted(group))}:"]
    for module in sorted(group):
        for imp in edges[module]:
            if imp.target in group:
                how = "in a function" if imp.local else "module level"
                lines.append(f"    {imp.where(root)} {imp.importer} -> {imp.target} ({how})")
    return "\n".join(dict.fromkeys(lines))


def _plugin_folders(plugins: Path = PLUGINS) -> list[Path]:
    return sorted(p for p in plugins.iterdir() if (p / "__init__.py").is_file()) if plugins.is_dir() else []


def _components(root: Path = ROOT) -> list[Path]:
    return [root / "core"] + _plugin_folders(root / "plugins")


def _manifest_depends(init: Path) -> tuple[str, tuple[str, ...]] | None:
    """(name, depends) of ``manifest = Manifest(...)`` in a plugin's __init__.py, by parsing it."""
    for node in ast.walk(ast.parse(init.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Manifest":
            kwargs = {k.arg: k.value for k in node.keywords}
            name = ast.literal_eval(kwargs["name"]) if "name" in kwargs else ast.literal_eval(node.args[0])
            depends = tuple(ast.literal_eval(kwargs["depends"])) if "depends" in kwargs else ()
            return name, depends
    return None


def test_plugin_manifests_parse():
    for folder in _plugin_folders():
        found = _manifest_depends(folder / "__init__.py")
        assert found is not None, f"{folder.relative_to(ROOT)}/__init__.py has no manifest = Manifest(...)"
        assert found[0] == folder.name, f"{folder.name}: the manifest is named {found[0]!r}"


# -- 1. the core imports neither plugins nor the bench -----------------------------------------
def core_offenders(root: Path = ROOT) -> list[str]:
    return [f"{imp.where(root)} imports {imp.target}"
            for path in _sources(root / "core") for imp in imports(path, root)
            if imp.target.split(".")[0] in ("plugins", "bench")]


def test_the_core_imports_neither_plugins_nor_the_bench():
    offenders = core_offenders()
    assert not offenders, "the core must not import plugins or bench:\n" + "\n".join(offenders)


# -- 2. plugins meet only through a declared dependency's api ----------------------------------
def plugin_offenders(folder: Path, root: Path = ROOT) -> list[str]:
    found = _manifest_depends(folder / "__init__.py")
    assert found is not None, f"{folder.relative_to(root)}/__init__.py has no manifest = Manifest(...)"
    _, depends = found
    offenders = []
    for path in _sources(folder):
        for imp in imports(path, root):
            parts = imp.target.split(".")
            if parts[0] != "plugins" or len(parts) < 2 or parts[1] == folder.name:
                continue
            other = parts[1]
            if other not in depends:
                offenders.append(f"{imp.where(root)} imports {imp.target}, but '{other}' is not in depends {depends}")
            elif parts[2:] != ["api"] and not _is_test_file(path, folder):
                offenders.append(f"{imp.where(root)} imports {imp.target}: only plugins.{other}.api is public")
    return sorted(set(offenders))


@pytest.mark.parametrize("folder", _plugin_folders(), ids=lambda p: p.name)
def test_a_plugin_imports_another_only_through_its_declared_api(folder):
    offenders = plugin_offenders(folder)
    assert not offenders, "\n".join(offenders)


# -- 3. no import cycle inside the core or a plugin --------------------------------------------
@pytest.mark.parametrize("folder", _components(), ids=lambda p: p.name)
def test_no_import_time_cycle(folder):
    edges = graph(folder, with_local=False)
    found = cycles(edges)
    assert not found, (
        "import cycles at import time (module-level imports):\n" + "\n".join(describe(c, edges) for c in found)
        + "\nmove the shared piece to the module it belongs to (or, for a genuine late binding, "
          "import inside the function)")


def cycle_report(components: list[Path], known: list[frozenset[str]], root: Path = ROOT) -> list[str]:
    """What differs between the design cycles (function-local imports counted) and ``known``."""
    problems = []
    current: list[frozenset[str]] = []
    for folder in components:
        edges = graph(folder, root, with_local=True)
        for group in cycles(edges):
            current.append(group)
            if group in known and folder.name != "core":
                continue
            why = "the core has none" if folder.name == "core" else "not in KNOWN_CYCLES: no new cycle"
            problems.append(f"new import cycle ({why}):\n{describe(group, edges, root)}")
    for group in known:
        if group not in current:
            now = [c for c in current if c & group]
            what = f"it is now {' / '.join(' <-> '.join(sorted(c)) for c in now)}" if now else "it is gone"
            problems.append(f"the known cycle {' <-> '.join(sorted(group))} no longer exists as listed ({what}): "
                            "update KNOWN_CYCLES (it only shrinks)")
    return problems


def test_no_dependency_cycle_but_the_known_ones():
    problems = cycle_report(_components(), KNOWN_CYCLES)
    assert not problems, "\n".join(problems)


# -- the checkers themselves --------------------------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checkers_catch_what_they_must(tmp_path):
    _tree(tmp_path, {
        "core/__init__.py": "",
        "core/a.py": "from . import b\n",
        "core/b.py": "from .a import thing\n",  # module level: a cycle at import time
        "core/c.py": "def f():\n    from .d import x\n",
        "core/d.py": "from . import c\n",  # closed in a function: a design cycle only
        "core/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import f\n",
        "core/f.py": "from . import e\n",  # e's import never runs: no cycle
        "core/g.py": "import importlib\ndef load():\n    importlib.import_module('bench.runner')\n",
        "plugins/__init__.py": "",
        "plugins/crm/__init__.py": 'manifest = Manifest(name="crm", version="1", label="C")\n',
        "plugins/crm/api.py": "", "plugins/crm/models.py": "",
        "plugins/billing/__init__.py": 'manifest = Manifest(name="billing", version="1", label="B", depends=("crm",))\n',
        "plugins/billing/views.py": "from ..crm import models\nfrom plugins.crm.api import is_member\n"
                                    "def f():\n    import plugins.events.api\n",
    })
    core = tmp_path / "core"
    assert cycles(graph(core, tmp_path, with_local=False)) == [frozenset({"core.a", "core.b"})]
    assert set(cycles(graph(core, tmp_path, with_local=True))) == {
        frozenset({"core.a", "core.b"}), frozenset({"core.c", "core.d"})}
    assert core_offenders(tmp_path) == ["core/g.py:3 imports bench.runner"]
    offenders = "\n".join(plugin_offenders(tmp_path / "plugins" / "billing", tmp_path))
    assert "views.py:1 imports plugins.crm.models: only plugins.crm.api is public" in offenders
    assert "views.py:4 imports plugins.events.api, but 'events' is not in depends" in offenders
    assert "is_member" not in offenders

    # the known list: a listed cycle still there passes, a new one or a vanished one fails
    (tmp_path / "core" / "b.py").write_text("")
    plugin_cycle = {"plugins/crm/api.py": "def f():\n    from . import models\n",
                    "plugins/crm/models.py": "from . import api\n"}
    _tree(tmp_path, plugin_cycle)
    listed = frozenset({"plugins.crm.api", "plugins.crm.models"})
    components = [tmp_path / "core", tmp_path / "plugins" / "crm"]
    report = cycle_report(components, [listed], tmp_path)
    assert len(report) == 1 and "core.c <-> core.d" in report[0] and "the core has none" in report[0]
    (tmp_path / "core" / "d.py").write_text("")
    assert cycle_report(components, [listed], tmp_path) == []
    assert "not in KNOWN_CYCLES" in cycle_report(components, [], tmp_path)[0]
    (tmp_path / "plugins" / "crm" / "models.py").write_text("")
    (gone,) = cycle_report(components, [listed], tmp_path)
    assert "no longer exists as listed (it is gone)" in gone


# Libraries a page needs only now and then load when first used, not when the app starts:
# each costs 30 to 150 ms of every worker's start-up (docs/performance.md).
LAZY_LIBRARIES = ("fpdf", "icalendar", "openpyxl", "hypothesis")


def test_create_app_loads_no_library_that_only_some_pages_need(tmp_path):
    import os
    import subprocess
    import sys

    code = ("import sys; from core.app import create_app; create_app(); "
            f"print(','.join(m for m in {LAZY_LIBRARIES!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "GRAPPE_INSTANCE": str(tmp_path),
                              "GRAPPE_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"
