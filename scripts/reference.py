#!/usr/bin/env python
"""Keep docs/reference.md in step with the code: ``python scripts/reference.py [--check]``.

docs/reference.md documents the contract modules of the built-in plugins
(``plugins.crm.api``, ``plugins.events.api``), the CRM's testing helpers
(``plugins.crm.testing``) and the URLs of the pages a plugin links to.  The prose is
written by hand; this script rewrites only what the code says:

- in each section whose ``##`` heading names a module (``## `plugins.crm.api`: ...``),
  the signature under each ``### `name``` heading: the first line of the code block right
  below it, ``name(parameters) -> return`` as :func:`inspect.signature` gives it
  (annotations as written in the source);
- a public function or class (defined in the module, no leading underscore) with no
  entry gets one at the end of its section: heading, signature and its docstring, to
  complete with an example by hand (tests/test_reference.py asks for one);
- an entry whose function no longer exists is removed (the script says so);
- the URL table between ``<!-- urls:begin -->`` and ``<!-- urls:end -->``, from the
  ``url_map`` of an app with every installed plugin.

``--check`` changes nothing and exits 1 when the file is not up to date.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reference.md"

MODULES = ("plugins.crm.api", "plugins.events.api", "plugins.crm.testing")

# (what the page is, endpoint): the pages another plugin links to
PAGES = (
    ("an organization's page", "crm.organization"),
    ("a person's page", "crm.person"),
    ("an event's page", "events.event"),
    ("the audit log", "core.audit"),
    ("the jobs of a cluster", "core.jobs"),
    ("a job's page", "core.job"),
)
URLS_BEGIN, URLS_END = "<!-- urls:begin -->", "<!-- urls:end -->"

SECTION = re.compile(r"^## [^\n`]*`([\w.]+)`[^\n]*$", re.M)  # the first `dotted.name` of a ## heading
ENTRY = re.compile(r"^### `?(\w+)`?[ \t]*\n\n```python\n([^\n]*)\n", re.M)


class _Annotation:
    """An annotation kept as the source wrote it (``from __future__ import annotations``)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self) -> str:
        return self.text if isinstance(self.text, str) else inspect.formatannotation(self.text)


def signature(obj) -> str:
    """``name(parameters) -> return`` of a function, ``Name(parameters)`` of a class."""
    sig = inspect.signature(obj)
    params = [p.replace(annotation=_Annotation(p.annotation)) if p.annotation is not p.empty else p
              for p in sig.parameters.values()]
    ret = sig.return_annotation
    if inspect.isclass(obj) or ret is sig.empty:
        sig = sig.replace(parameters=params, return_annotation=sig.empty)
    else:
        sig = sig.replace(parameters=params, return_annotation=_Annotation(ret))
    return f"{obj.__name__}{sig}"


def _is_fixture(obj) -> bool:
    return type(obj).__name__ == "FixtureFunctionDefinition" or hasattr(obj, "_pytestfixturefunction")


def public_members(module_name: str) -> dict[str, object]:
    """The public functions and classes a module defines (not those it imports), in source order."""
    module = importlib.import_module(module_name)
    found = {name: obj for name, obj in vars(module).items()
             if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
             and getattr(obj, "__module__", None) == module_name and not _is_fixture(obj)}
    return dict(sorted(found.items(), key=lambda item: inspect.getsourcelines(item[1])[1]))


def sections(text: str) -> list[tuple[str, int, int]]:
    """``(module, start, end)`` of each section whose ``##`` heading names a module (end: the next ``## `` heading)."""
    heads = list(re.finditer(r"^## [^\n]*$", text, re.M))
    out = []
    for i, head in enumerate(heads):
        m = SECTION.match(head.group(0))
        if m:
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            out.append((m.group(1), head.start(), end))
    return out


def documented(section: str) -> dict[str, str]:
    """``{name: documented signature}`` of a section's entries."""
    return {m.group(1): m.group(2) for m in ENTRY.finditer(section)}


def _new_entry(name: str, obj) -> str:
    doc = inspect.getdoc(obj) or "(to describe)"
    return f"### `{name}`\n\n```python\n{signature(obj)}\n```\n\n{doc}\n\n"


def update_section(module_name: str, section: str, notes: list[str]) -> str:
    members = public_members(module_name)
    # the signatures
    def fix(m: re.Match) -> str:
        name = m.group(1)
        if name not in members:
            return m.group(0)
        return m.group(0).replace(m.group(2), signature(members[name]), 1)

    section = ENTRY.sub(fix, section)
    # entries of functions that are gone: from their heading to the next ### or the end
    for name in [n for n in documented(section) if n not in members]:
        start = re.search(rf"^### `?{name}`?[ \t]*$", section, re.M).start()
        nxt = re.compile(r"^### ", re.M).search(section, start + 1)
        section = section[:start] + (section[nxt.start():] if nxt else "")
        notes.append(f"{module_name}: removed the entry of {name} (no longer in the module)")
    # missing entries, at the end of the section
    missing = [n for n in members if n not in documented(section)]
    if missing:
        section = section.rstrip("\n") + "\n\n" + "".join(_new_entry(n, members[n]) for n in missing)
        notes += [f"{module_name}: added an entry for {n}: complete it (an example)" for n in missing]
    return section


def url_rows(app) -> list[tuple[str, str, str, str]]:
    """``(page, endpoint, rule, url_for call)`` of each page in :data:`PAGES`."""
    rules = {r.endpoint: r for r in app.url_map.iter_rules()}
    rows = []
    for what, endpoint in PAGES:
        rule = rules[endpoint]
        args = ", ".join(f"{a}={a}" for a in sorted(rule.arguments - {"cluster"}))
        call = f'url_for("{endpoint}"{", " + args if args else ""})'
        rows.append((what, endpoint, rule.rule, call))
    return rows


def url_table(app) -> str:
    lines = ["| page | endpoint | path | in a template or a view |", "|---|---|---|---|"]
    lines += [f"| {what} | `{endpoint}` | `{rule}` | `{call}` |" for what, endpoint, rule, call in url_rows(app)]
    return "\n".join(lines)


def _app():
    """An app with every installed plugin, for its url_map: no file written, no database opened."""
    from core.app import create_app

    return create_app({"READ_ONLY": True, "TESTING": True, "SECRET_KEY": "reference", "DATABASE_URL": "sqlite://"})


def render(text: str, app=None, notes: list[str] | None = None) -> str:
    """The document with its generated parts brought up to date."""
    notes = [] if notes is None else notes
    for module_name, start, end in reversed(sections(text)):
        if module_name in MODULES:
            text = text[:start] + update_section(module_name, text[start:end], notes) + text[end:]
    found = [m for m, _s, _e in sections(text)]
    for module_name in MODULES:
        if module_name not in found:
            notes.append(f"no '## `{module_name}`' section in {DOC.relative_to(ROOT)}: add one")
    if URLS_BEGIN in text and URLS_END in text:
        head, rest = text.split(URLS_BEGIN, 1)
        _old, tail = rest.split(URLS_END, 1)
        text = f"{head}{URLS_BEGIN}\n{url_table(app or _app())}\n{URLS_END}{tail}"
    else:
        notes.append(f"no {URLS_BEGIN} ... {URLS_END} in {DOC.relative_to(ROOT)}: the URL table is not generated")
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when out of date")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    before = DOC.read_text(encoding="utf-8")
    notes: list[str] = []
    after = render(before, notes=notes)
    for note in notes:
        print(note)
    if after == before:
        print(f"{DOC.relative_to(ROOT)} is up to date")
        return 0
    if args.check:
        print(f"{DOC.relative_to(ROOT)} is out of date: run python scripts/reference.py")
        return 1
    DOC.write_text(after, encoding="utf-8")
    print(f"{DOC.relative_to(ROOT)} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
