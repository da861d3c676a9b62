"""Contract tests that keep the plugin API honest (after Datasette's tests/test_docs.py).

- every hook specification of core/hookspecs.py, and of bench/hookspecs.py (the hooks the
  bench declares itself), is documented in docs/plugins.md with its exact signature, and
  the reference documents no hook that does not exist;
- every hook specification has at least one test under tests/ that names it;
- every name the facade exports (``core.__all__``) has an entry in the facade table of
  docs/plugins.md ("What a plugin may import"), and the table lists no other name;
- the worked example of docs/plugins.md is the example code, and passes its own tests.

The import rules (the core imports no plugin, a plugin imports another only through its
declared dependency's ``api``) are tests/test_architecture.py's.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from bench import hookspecs as bench_hookspecs
from core import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
TESTS = ROOT / "tests"


SPEC_MODULES = {"core/hookspecs.py": hookspecs, "bench/hookspecs.py": bench_hookspecs}


def _hookspecs() -> dict[str, object]:
    return {name: fn for module in SPEC_MODULES.values() for name, fn in vars(module).items()
            if callable(fn) and hasattr(fn, "grappe_spec")}


def _spec_file(name: str) -> str:
    return next(f for f, module in SPEC_MODULES.items() if name in vars(module))


HOOKS = sorted(_hookspecs())


def _reference_headings() -> dict[str, str]:
    """``{hook name: heading}`` for the ``### grappe_...(...)`` headings of docs/plugins.md."""
    text = DOC.read_text(encoding="utf-8")
    reference = text.split("\n## Hook reference\n", 1)
    assert len(reference) == 2, "docs/plugins.md has no '## Hook reference' section"
    return {m.group(1): m.group(0)[4:].strip()
            for m in re.finditer(r"^### (\w+)\(.*$", reference[1], flags=re.M)}


def test_hookspecs_found():
    assert "grappe_blueprints" in HOOKS and "grappe_addhooks" in HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_exact_signature(name):
    signature = f"{name}{inspect.signature(_hookspecs()[name])}"
    headings = _reference_headings()
    assert name in headings, f"docs/plugins.md: no '### {signature}' in the hook reference"
    assert headings[name] == signature, (
        f"docs/plugins.md documents '{headings[name]}' but {_spec_file(name)} says '{signature}'")


def test_hook_reference_documents_only_existing_hooks():
    stale = sorted(set(_reference_headings()) - set(HOOKS))
    assert not stale, f"docs/plugins.md documents hooks that no hookspecs module has: {stale}"


def test_every_hookspec_has_a_docstring():
    missing = [name for name, fn in _hookspecs().items() if not (fn.__doc__ or "").strip()]
    assert not missing


def _test_sources() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in TESTS.rglob("test_*.py") if p.name != "test_docs.py"}


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    users = [p.relative_to(ROOT) for p, text in _test_sources().items() if re.search(rf"\b{name}\b", text)]
    assert users, f"no test under tests/ names the hook {name}: add one to tests/test_hooks.py"


# -- the facade ----------------------------------------------------------------------------------
FACADE_SECTION = "## What a plugin may import"


def facade_table_names(text: str) -> dict[str, int]:
    """``{name: line}`` of the names the facade table documents: the backticked names of the
    first cell of each table row in the section "What a plugin may import" (``f(x)`` is ``f``)."""
    start = text.find(f"\n{FACADE_SECTION}\n")
    assert start >= 0, f"docs/plugins.md has no '{FACADE_SECTION}' section"
    first_line = text.count("\n", 0, start) + 2
    section = text[start + 1:].split("\n## ", 1)[0].split("\n")
    names: dict[str, int] = {}
    for offset, line in enumerate(section):
        cells = line.strip().split("|")
        if len(cells) < 3 or set(cells[1].strip()) <= set("-: "):
            continue
        for code in re.findall(r"`([^`]+)`", cells[1]):
            match = re.match(r"[A-Za-z_]\w*", code)
            if match:
                names.setdefault(match.group(0), first_line + offset)
    return names


def test_every_facade_name_is_documented():
    import core

    documented = facade_table_names(DOC.read_text(encoding="utf-8"))
    missing = sorted(set(core.__all__) - set(documented), key=str.lower)
    assert not missing, f"core/__init__.py exports names the facade table of docs/plugins.md does not list: {missing}"


def test_the_facade_table_lists_only_exported_names():
    import core

    documented = facade_table_names(DOC.read_text(encoding="utf-8"))
    stale = {name: line for name, line in documented.items() if name not in core.__all__}
    assert not stale, f"docs/plugins.md's facade table lists names core/__init__.py does not export: {stale}"


def test_the_facade_checker_reads_the_table():
    text = ("# Doc\n\n## What a plugin may import\n\n| name | what it is |\n|---|---|\n"
            "| `db` | the session |\n| `hookimpl`, `hookspec` | markers |\n"
            "| `export_response(fmt, rows)` | a download |\n\n## Next\n\n| `later` | not the facade |\n")
    assert set(facade_table_names(text)) == {"db", "hookimpl", "hookspec", "export_response"}


# -- the worked example --------------------------------------------------------------------------
EXAMPLE = ROOT / "docs" / "examples" / "grappe-missions"
EXAMPLE_FILES = ["pyproject.toml", "grappe_missions/__init__.py", "grappe_missions/models.py",
                 "grappe_missions/forms.py", "grappe_missions/views.py", "grappe_missions/hooks.py",
                 "grappe_missions/templates/missions/index.html", "grappe_missions/templates/missions/form.html",
                 "grappe_missions/migrations/versions/missions_0001_missions_table.py",
                 "tests/conftest.py", "tests/test_missions.py"]


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_the_worked_example_in_the_docs_is_the_example_code(name):
    code = (EXAMPLE / name).read_text(encoding="utf-8").rstrip("\n")
    assert code in DOC.read_text(encoding="utf-8"), (
        f"docs/plugins.md no longer shows docs/examples/grappe-missions/{name} as it is: copy it again")


def test_the_worked_example_passes_its_own_tests(tmp_path):
    """grappe-missions, seen as an installed distribution (its entry point), runs its tests."""
    import os
    import subprocess
    import sys

    dist = tmp_path / "grappe_missions-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: grappe-missions\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[grappe.plugins]\nmissions = grappe_missions.hooks\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GRAPPE_TEST_DATABASE_URL", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(EXAMPLE), *filter(None, [env.get("PYTHONPATH")])])
    env["GRAPPE_INSTANCE"] = str(tmp_path / "instance")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(EXAMPLE),
         "-c", str(EXAMPLE / "pyproject.toml"), "--basetemp", str(tmp_path / "basetemp"), str(EXAMPLE / "tests")],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout
