"""docs/reference.md follows the code (after tests/test_docs.py for the hook reference).

- every public function and class (no leading underscore, defined in the module) of
  ``plugins.crm.api``, ``plugins.events.api`` and ``plugins.crm.testing`` has an entry in
  its module's section: a heading ``### `name```, then a ``python`` code block whose first
  line is its signature exactly as :func:`inspect.signature` gives it;
- every function's entry says what it returns (a ``- Returns:`` line) and has an example
  (a second ``python`` code block);
- no entry documents a function that does not exist;
- the URL table gives, for each page a plugin links to, the path the app's ``url_map`` has.

When one fails: ``python scripts/reference.py`` rewrites the signatures and the URL table
from the code (and adds an entry, with its docstring, for a new function: complete it).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reference.md"
CONTRACTS = ("plugins.crm.api", "plugins.events.api")  # the brief of issue 9: each plugin's api.py
MODULES = (*CONTRACTS, "plugins.crm.testing")


def _script():
    spec = importlib.util.spec_from_file_location("grappe_reference_script", ROOT / "scripts" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _script()


def _section(module_name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    found = {name: text[start:end] for name, start, end in reference.sections(text)}
    assert module_name in found, f"docs/reference.md has no '## `{module_name}`' section"
    return found[module_name]


def _entries(section: str) -> dict[str, str]:
    """``{name: the entry's text}``, from its ``### `` heading to the next one."""
    heads = list(re.finditer(r"^### `?(\w+)`?[ \t]*$", section, re.M))
    return {h.group(1): section[h.start():(heads[i + 1].start() if i + 1 < len(heads) else len(section))]
            for i, h in enumerate(heads)}


def _members(module_name: str) -> list[tuple[str, str, object]]:
    return [(module_name, name, obj) for name, obj in reference.public_members(module_name).items()]


MEMBERS = [m for module_name in MODULES for m in _members(module_name)]


def test_the_contract_modules_have_public_functions():
    names = {name for module_name, name, _obj in MEMBERS if module_name in CONTRACTS}
    assert {"get_persons", "is_member", "member_ids", "billable_items", "upcoming_events"} <= names
    # imported names (select, dataclass, date...) are not the module's own
    assert not names & {"select", "dataclass", "date", "Decimal"}


@pytest.mark.parametrize(("module_name", "name", "obj"), MEMBERS, ids=[f"{m}.{n}" for m, n, _ in MEMBERS])
def test_public_function_is_documented_with_its_exact_signature(module_name, name, obj):
    signature = reference.signature(obj)
    documented = reference.documented(_section(module_name))
    assert name in documented, (
        f"docs/reference.md: {module_name}.{name} is not documented: run python scripts/reference.py "
        f"and complete its entry (### `{name}`, then ```python\n{signature}\n```)")
    assert documented[name] == signature, (
        f"docs/reference.md documents '{documented[name]}' but {module_name} says '{signature}': "
        "run python scripts/reference.py")


@pytest.mark.parametrize(("module_name", "name", "obj"), MEMBERS, ids=[f"{m}.{n}" for m, n, _ in MEMBERS])
def test_each_function_says_what_it_returns_and_has_an_example(module_name, name, obj):
    if not callable(obj) or isinstance(obj, type):
        pytest.skip("a class: its fields are its signature")
    entry = _entries(_section(module_name)).get(name)
    assert entry is not None, f"docs/reference.md: no entry for {module_name}.{name}"
    assert re.search(r"^- Returns: \S", entry, re.M), f"docs/reference.md: {name} does not say what it returns"
    assert entry.count("```python") >= 2, f"docs/reference.md: {name} has no example (a second ```python block)"


@pytest.mark.parametrize("module_name", MODULES)
def test_the_reference_documents_only_existing_functions(module_name):
    existing = set(reference.public_members(module_name))
    stale = sorted(set(_entries(_section(module_name))) - existing)
    assert not stale, f"docs/reference.md documents what {module_name} does not have: {stale}"


def test_the_url_table_gives_the_apps_paths(app):
    text = DOC.read_text(encoding="utf-8")
    assert reference.URLS_BEGIN in text and reference.URLS_END in text, "docs/reference.md: no URL table"
    table = text.split(reference.URLS_BEGIN, 1)[1].split(reference.URLS_END, 1)[0]
    documented = dict(re.findall(r"^\| [^|]+ \| `([\w.]+)` \| `([^`]+)` \|", table, re.M))
    rules = {r.endpoint: r.rule for r in app.url_map.iter_rules()}
    for _what, endpoint in reference.PAGES:
        assert endpoint in documented, f"docs/reference.md: the URL table has no {endpoint}"
        assert endpoint in rules, f"the app has no endpoint {endpoint}: change PAGES in scripts/reference.py"
        assert documented[endpoint] == rules[endpoint], (
            f"docs/reference.md gives {documented[endpoint]} for {endpoint}, the app {rules[endpoint]}: "
            "run python scripts/reference.py")
    assert reference.render(text, app=app) == text, "docs/reference.md is out of date: run python scripts/reference.py"


def test_the_script_rewrites_a_changed_signature_and_adds_a_missing_entry():
    """The script on a made-up section: a wrong signature is rewritten (the prose kept), a
    missing function gets an entry, a function that does not exist loses its entry."""
    from plugins.events import api

    section = ("## `plugins.events.api`: events\n\n### `upcoming_events`\n\n```python\n"
               "upcoming_events(cluster_id)\n```\n\nThe next events.\n\n"
               "### `gone`\n\n```python\ngone()\n```\n\nRemoved since.\n")
    assert reference.sections(section)[0][0] == "plugins.events.api"
    assert reference.documented(section) == {"upcoming_events": "upcoming_events(cluster_id)", "gone": "gone()"}
    notes: list[str] = []
    fixed = reference.update_section("plugins.events.api", section, notes)
    assert reference.documented(fixed)["upcoming_events"] == reference.signature(api.upcoming_events)
    assert "The next events." in fixed
    assert "### `billable_items`" in fixed and "gone" not in reference.documented(fixed)
    assert any("billable_items" in n for n in notes) and any("gone" in n for n in notes)
