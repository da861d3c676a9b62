"""Plugins use the core through its facade (``from core import ...``) only.

Migrations are the exception: Alembic renders core column types by their module path
(``core.database.UTCDateTime``).  So is a plugin's ``testing.py`` (its helpers for tests,
e.g. ``plugins/crm/testing.py``): test code, which may use the core's internals
(docs/plugins.md, "What a plugin may import").
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _core_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("core."):
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(a.name for a in node.names if a.name.startswith("core."))
    return found


def test_plugins_import_only_the_core_facade():
    offenders = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        if "migrations" in path.parts or path.name == "testing.py":
            continue
        for module in _core_imports(path):
            offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == [], "plugins must import `from core import ...`:\n" + "\n".join(offenders)


def test_the_facade_exports_what_it_lists():
    import core

    missing = [name for name in core.__all__ if not hasattr(core, name)]
    assert missing == []
