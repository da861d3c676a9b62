"""The organization hierarchy (parent and subsidiaries): it stays a tree.

Pages and the API set a parent through :func:`set_parent`; an import checks its whole
file with :func:`hierarchy_problems`, then writes under the same lock and check.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import bindparam, select, text

from core import db

from .errors import CrmError
from .models import Organization

HIERARCHY_LOCK_KEY = 0x63726D2D6F726773  # b"crm-orgs": the advisory lock of the hierarchy (PostgreSQL)
MAX_HIERARCHY_DEPTH = 100  # ancestors above an organization, at most


class HierarchyError(CrmError):
    """A parent that would not leave the organizations a tree; the message is for ``field``."""

    field = "parent_id"


def lock_hierarchy(session=None) -> None:
    """Serialize changes of the hierarchy until the end of the transaction.

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback, taken
    before the check, so that two transactions cannot each pass it and together make a
    loop (P under Q, Q under P).  SQLite serializes writers already: the check runs
    after the ``UPDATE``, which holds the write lock (a transaction whose snapshot went
    stale cannot take it: the request runs again, see ``core.database.request_transaction``).
    """
    conn = (session or db.session).connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(CAST(:key AS BIGINT))"), {"key": HIERARCHY_LOCK_KEY})


# (org, node, depth): node is org's ancestor at depth (1: the parent).  The walk stops at
# org itself (a loop), at a root, or one level past the bound: a loop written before (of
# which org is no member) cannot make it run forever.
_ANCESTOR_WALK = """
WITH RECURSIVE up(org, node, depth) AS (
    {anchor}
    UNION ALL
    SELECT up.org, o.parent_id, up.depth + 1 FROM up JOIN crm_organization o ON o.id = up.node
    WHERE o.parent_id IS NOT NULL AND up.node <> up.org AND up.depth <= :max_depth
)
SELECT org, MAX(CASE WHEN node = org THEN 1 ELSE 0 END) AS loops, MAX(depth) AS depth FROM up GROUP BY org
"""


def _walk_problems(rows) -> dict[int, str]:
    out = {}
    for org, loops, depth in rows:
        if loops:
            out[org] = "loop"
        elif depth > MAX_HIERARCHY_DEPTH:
            out[org] = "deep"
    return out


def hierarchy_loops(org_ids, session=None) -> dict[int, str]:
    """Organizations not in a tree as the database stands: ``{id: "loop" | "deep"}``.

    ``"loop"``: the organization is its own ancestor (its own parent included);
    ``"deep"``: above it the hierarchy goes more than :data:`MAX_HIERARCHY_DEPTH` levels
    up, or loops (a loop of which it is no member).  One recursive query per 5,000 ids.
    """
    session = session or db.session
    ids = sorted(set(org_ids))
    stmt = text(_ANCESTOR_WALK.format(anchor="SELECT id, parent_id, 1 FROM crm_organization "
                                             "WHERE id IN :ids AND parent_id IS NOT NULL")
                ).bindparams(bindparam("ids", expanding=True))
    out: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        out.update(_walk_problems(session.execute(
            stmt, {"ids": ids[start:start + 5000], "max_depth": MAX_HIERARCHY_DEPTH}).all()))
    return out


def hierarchy_message(problem: str, name: str) -> str:
    """The field-level message of a problem of :func:`hierarchy_loops` (``"self"`` too)."""
    if problem == "self":
        return _("An organization cannot be its own parent.")
    if problem == "loop":
        return _("This would make %(name)s its own ancestor.", name=name)
    return _("Above this parent the hierarchy loops or goes more than %(n)s levels up: choose another parent.",
             n=MAX_HIERARCHY_DEPTH)


def hierarchy_problem(org_id: int | None, parent_id: int | None, *, name: str = "") -> str | None:
    """Why ``parent_id`` cannot become the parent of ``org_id`` (None for a new one), or None.

    A read of the hierarchy as it stands, for the forms' messages: :func:`set_parent`
    checks again, under the lock.
    """
    if parent_id is None:
        return None
    if org_id is not None and parent_id == org_id:
        return hierarchy_message("self", name)
    rows = db.session.execute(text(_ANCESTOR_WALK.format(
        anchor="SELECT CAST(:org AS INTEGER), CAST(:parent AS INTEGER), 1")),
        {"org": org_id or 0, "parent": parent_id, "max_depth": MAX_HIERARCHY_DEPTH}).all()
    problem = _walk_problems(rows).get(org_id or 0)
    return hierarchy_message(problem, name or f"#{org_id or ''}") if problem else None


def hierarchy_problems(moves: dict[int, int | None], check=None) -> dict[int, str]:
    """Organizations that new parents, all given at once, leave outside a tree.

    ``moves`` is ``{organization id: new parent id or None}`` (an import's rows); the
    other organizations keep the parent the database has.  ``check`` limits the answer
    to these ids (default: all of ``moves``).  :returns: ``{id: "self" | "loop" | "deep"}``
    (see :func:`hierarchy_loops`).  The parents above are read in rounds, one query per
    level (and per 5,000 ids).
    """
    known: dict[int, int | None] = {}
    pending = {p for p in moves.values() if p is not None}
    for _level in range(MAX_HIERARCHY_DEPTH + 2):
        need = sorted(x for x in pending if x not in moves and x not in known)
        if not need:
            break
        for start in range(0, len(need), 5000):
            chunk = need[start:start + 5000]
            known.update({x: None for x in chunk})  # an id the database lacks: a root here
            known.update(db.session.execute(select(Organization.id, Organization.parent_id)
                                            .where(Organization.id.in_(chunk))).all())
        pending = {known[x] for x in need if known[x] is not None}
    problems: dict[int, str] = {}
    for org_id in (moves if check is None else check):
        node, depth = moves.get(org_id), 1
        if node == org_id:
            problems[org_id] = "self"
            continue
        while node is not None:
            if node == org_id:
                problems[org_id] = "loop"
                break
            if depth > MAX_HIERARCHY_DEPTH:
                problems[org_id] = "deep"
                break
            node = moves[node] if node in moves else known.get(node)
            depth += 1
    return problems


def set_parent(org: Organization, parent_id: int | None) -> None:
    """Give an organization a parent (or none), keeping the hierarchy a tree.

    The one place pages and the API set a parent (an import checks its whole file with
    :func:`hierarchy_problems`, then writes under the same lock and check).  An
    unchanged parent is not checked, so an organization caught in a loop written before
    stays editable; a parent that breaks the loop is taken.  Otherwise the hierarchy is
    locked, the row written, then the ancestors walked from the organization itself
    (after the write: on SQLite the write lock is held then).

    :raises HierarchyError: self-parent, a loop, too deep; the change is rolled back to
        a savepoint first (the rest of the transaction stays: the caller rolls it back).
    """
    parent_id = parent_id or None
    if org.id is not None and parent_id == org.parent_id:
        return
    if parent_id is None:  # a root: no loop can come of it
        org.parent_id = None
        return
    if org.id is not None and parent_id == org.id:
        raise HierarchyError(hierarchy_message("self", org.name))
    lock_hierarchy()
    name = org.name
    with db.session.begin_nested():  # an exception rolls the savepoint back
        org.parent_id = parent_id
        if org.id is None:
            db.session.add(org)
        db.session.flush()
        problem = hierarchy_loops([org.id]).get(org.id)
        if problem:
            raise HierarchyError(hierarchy_message(problem, name))


def descendants_of(org_id: int) -> set[int]:
    """The ids of an organization's subsidiaries, at any depth."""
    found: set[int] = set()
    frontier = {org_id}
    while frontier:
        children = set(db.session.execute(
            select(Organization.id).where(Organization.parent_id.in_(frontier))).scalars()) - found
        found |= children
        frontier = children
    return found

