"""Contract tests of the platform's rules, over the plugins' source (``ast``).

1. **One scoping.** Plugin code never filters on ``cluster_id`` by hand: the core scopes
   every query of a cluster-owned model to the current cluster (``core.ClusterScoped``),
   and a read across clusters says so with ``.execution_options(all_clusters=True)``.
   A comparison whose side is an attribute named ``cluster_id`` (``Event.cluster_id == x``,
   ``x.cluster_id != g.cluster.id``) or a ``filter_by(cluster_id=...)`` is a hand-written filter.
2. **One transaction per request.** Operations flush; the request (core.database's
   ``request_transaction``), the job runner or the command commits.  ``.commit()`` is
   called only in a plugin's job functions (``jobs.py``: a long job commits per chunk so
   that a retry resumes), its demo data and its benchmark (``demo.py``, ``bench.py``),
   which run outside any request, and its testing helpers (``testing.py``: test factories
   commit what they make, as a test does).

``KNOWN_*`` listed, per file, what the platform redesign had not moved yet; crm and events
are moved and both lists are empty.  A file that must keep an exception would be listed
with its count and a comment saying why: a count that grows fails, and so does one that
shrank without the list being updated.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"
OUTSIDE_REQUESTS = {"jobs.py", "demo.py", "bench.py", "testing.py"}

KNOWN_CLUSTER_FILTERS: dict[str, int] = {}
KNOWN_COMMITS: dict[str, int] = {}


def _plugin_sources():
    for path in sorted(PLUGINS.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if "/migrations/" in rel or "/tests/" in rel:
            continue
        yield rel, ast.parse(path.read_text(), filename=rel)


def _is_cluster_id(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "cluster_id"


def cluster_filters(tree) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and (
                _is_cluster_id(node.left) or any(_is_cluster_id(c) for c in node.comparators)):
            lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "filter_by" and any(k.arg == "cluster_id" for k in node.keywords)):
            lines.append(node.lineno)
    return sorted(lines)


def commits(tree) -> list[int]:
    return sorted(node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit" and not node.args)


def _report(found: dict[str, list[int]], known: dict[str, int], what: str) -> list[str]:
    problems = []
    counts = Counter({path: len(lines) for path, lines in found.items() if lines})
    for path in sorted(set(counts) | set(known)):
        have, allowed = counts.get(path, 0), known.get(path, 0)
        if have > allowed:
            problems.append(f"{path}: {have} {what} (allowed {allowed}), lines {found.get(path)}")
        elif have < allowed:
            problems.append(f"{path}: {have} {what} now, {allowed} listed: shrink the KNOWN list")
    return problems


def test_plugin_code_never_filters_on_cluster_id_by_hand():
    found = {rel: cluster_filters(tree) for rel, tree in _plugin_sources()}
    problems = _report(found, KNOWN_CLUSTER_FILTERS, "hand-written cluster filter(s)")
    assert not problems, "\n".join(problems)


def test_plugin_code_commits_only_outside_requests():
    found = {rel: commits(tree) for rel, tree in _plugin_sources() if Path(rel).name not in OUTSIDE_REQUESTS}
    problems = _report(found, KNOWN_COMMITS, "commit(s)")
    assert not problems, "\n".join(problems)


def test_the_checkers_find_what_they_look_for():
    tree = ast.parse(
        "q = select(E).where(E.cluster_id == c.id)\n"
        "if job.cluster_id != g.cluster.id: pass\n"
        "s.query(E).filter_by(cluster_id=3)\n"
        "E(cluster_id=3)\n"  # a constructor stamps, it does not filter
        "db.session.commit()\n"
        "git.commit('message')\n")
    assert cluster_filters(tree) == [1, 2, 3]
    assert commits(tree) == [5]


def test_for_cluster_scopes_a_block_to_one_cluster_and_restores_the_scope(app, factory):
    from sqlalchemy import select

    from core import db
    from core.models import Job

    one, two = factory.cluster("one"), factory.cluster("two")
    db.session.add_all([Job(cluster_id=one.id, name="x"), Job(cluster_id=two.id, name="y")])
    db.session.commit()
    db.session.info["cluster_id"] = one.id
    try:
        assert db.session.execute(select(Job.name)).scalars().all() == ["x"]
        with db.for_cluster(two.id):
            assert db.session.execute(select(Job.name)).scalars().all() == ["y"]
        with db.for_cluster(None):
            assert sorted(db.session.execute(select(Job.name)).scalars()) == ["x", "y"]
        assert db.session.execute(select(Job.name)).scalars().all() == ["x"]
    finally:
        db.session.info.pop("cluster_id", None)


def test_get_or_404_finds_only_the_current_clusters_row_matching_the_criteria(app, factory):
    import pytest
    from werkzeug.exceptions import NotFound

    from core import db, get_or_404, job_or_404
    from core.models import Job

    one, two = factory.cluster("one"), factory.cluster("two")
    mine, other_kind, theirs = (Job(cluster_id=one.id, name="crm.import"), Job(cluster_id=one.id, name="x"),
                                Job(cluster_id=two.id, name="crm.import"))
    db.session.add_all([mine, other_kind, theirs])
    db.session.commit()
    with app.test_request_context("/one/crm/import"):
        db.session.info["cluster_id"] = one.id
        try:
            assert job_or_404(mine.id, "crm.import").id == mine.id
            assert get_or_404(Job, other_kind.id).id == other_kind.id
            for job_id in (other_kind.id, theirs.id):
                with pytest.raises(NotFound):
                    job_or_404(job_id, "crm.import")
        finally:
            db.session.info.pop("cluster_id", None)
